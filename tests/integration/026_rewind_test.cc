// walrep: walrepctl rewind. After a failover the old primary, which went on writing on the old
// timeline, is rewound from the new primary (over libpq, or from its stopped data directory)
// and rejoins as its standby: its tables become identical to the new primary's and the
// diverged changes are gone. Also after kill -9 of the old primary (crash recovery first),
// with --dry-run (nothing changes), and when no rewind is needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "testing.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::testing {
namespace {

namespace fs = std::filesystem;

// A primary and a standby with the same table; the standby is promoted and both write.
void Diverge(Node* p, Node* s, const std::vector<std::string>& conf = {"wal_keep_size = 256MB"}) {
  ASSERT_NO_FATAL_FAILURE(p->Init());
  // The rewind reads the old primary's WAL back to the last checkpoint before the divergence:
  // its own later checkpoints must not have removed it (as with pg_rewind), or -c fetches it.
  for (const auto& c : conf) p->AppendConf(c);
  ASSERT_NO_FATAL_FAILURE(p->Start());
  p->SafePsql("CREATE TABLE t (id int PRIMARY KEY, v int)");
  p->SafePsql("INSERT INTO t SELECT g, g FROM generate_series(1, 2000) g");
  ASSERT_NO_FATAL_FAILURE(s->InitStandby(*p));
  ASSERT_NO_FATAL_FAILURE(s->Start());
  ASSERT_TRUE(WaitForReplay(*p, *s));
  ASSERT_EQ(s->Query("SELECT pg_promote()"), "t");
  // The old primary goes on: changes the new timeline never sees.
  p->SafePsql("INSERT INTO t SELECT g, g FROM generate_series(2001, 2500) g");
  p->SafePsql("UPDATE t SET v = -1 WHERE id <= 100");
  p->SafePsql("DELETE FROM t WHERE id BETWEEN 900 AND 1000");
  p->SafePsql("CREATE TABLE only_old (x int)");
  p->SafePsql("INSERT INTO only_old VALUES (1)");
  // And into a segment of the old timeline the new primary never had.
  p->SafePsql("SELECT pg_switch_wal()");
  p->SafePsql("INSERT INTO only_old VALUES (2)");
  // The new primary writes its own.
  s->SafePsql("INSERT INTO t SELECT g, g FROM generate_series(3001, 3100) g");
  s->SafePsql("UPDATE t SET v = v + 100000 WHERE id BETWEEN 200 AND 300");
  s->SafePsql("CREATE TABLE only_new (y int)");
  s->SafePsql("INSERT INTO only_new SELECT g FROM generate_series(1, 5) g");
}

CommandResult Rewind(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {WalrepBin("walrepctl"), "rewind"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunCommand(argv);
}

const char* kSummary = "SELECT count(*) || ' ' || sum(v) || ' ' || max(id) FROM t";

// The rewound old primary started as a standby of `s`: identical tables, following timeline 2.
void ExpectRejoined(Node* p, Node* s) {
  ASSERT_TRUE(WaitForReplay(*s, *p)) << p->Log();
  EXPECT_EQ(p->Query("SELECT pg_is_in_recovery()"), "t");
  EXPECT_EQ(p->Query(kSummary), s->Query(kSummary));
  EXPECT_EQ(p->Query("SELECT count(*) FROM t WHERE v = -1"), "0");  // the diverged update
  EXPECT_EQ(p->Query("SELECT count(*) FROM t WHERE id > 2000 AND id <= 2500"), "0");
  EXPECT_EQ(p->Query("SELECT count(*) FROM only_new"), "5");
  EXPECT_NE(p->Query("SELECT count(*) FROM only_old").find("ERROR"), std::string::npos);
  // And it follows what the new primary writes next.
  s->SafePsql("INSERT INTO t VALUES (5000, 5000)");
  ASSERT_TRUE(WaitForReplay(*s, *p)) << p->Log();
  EXPECT_EQ(p->Query("SELECT v FROM t WHERE id = 5000"), "5000");
  EXPECT_EQ(p->Query("SELECT received_tli FROM pg_stat_wal_receiver"), "2");
}

TEST(RewindTest, OldPrimaryRejoinsFromTheRunningNewPrimary) {
  Node p("old_primary"), s("new_primary");
  ASSERT_NO_FATAL_FAILURE(Diverge(&p, &s));
  p.Kill9();  // not even shut down cleanly: the rewind runs crash recovery first
  std::string source = "--source-server=" + s.ConnStr();
  // A dry run changes nothing.
  CommandResult dry = Rewind({"-D", p.data_dir(), source, "-n"});
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_NE(dry.err.find("servers diverged at WAL location"), std::string::npos) << dry.err;
  EXPECT_NE(dry.err.find("dry run"), std::string::npos) << dry.err;
  EXPECT_FALSE(fs::exists(p.data_dir() + "/backup_label"));
  EXPECT_FALSE(fs::exists(p.data_dir() + "/standby.signal"));
  CommandResult r = Rewind({"-D", p.data_dir(), source, "-R", "-P"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("rewinding from last common checkpoint"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Done!"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(p.data_dir() + "/standby.signal"));
  // As pg_rewind: no segment of the old timeline that begins at or past the point timeline 2
  // branched off (its history file says where) is left.
  std::ifstream history(p.data_dir() + "/pg_wal/00000002.history");
  std::string parent, switch_lsn;
  ASSERT_TRUE(history >> parent >> switch_lsn);
  std::optional<Lsn> switch_at = Lsn::Parse(switch_lsn);
  ASSERT_TRUE(switch_at.has_value()) << switch_lsn;
  for (const auto& e : fs::directory_iterator(p.data_dir() + "/pg_wal")) {
    std::string name = e.path().filename().string();
    TimelineId tli;
    XLogSegNo segno;
    if (!wal::ParseXLogFileName(name, wal::kDefaultSegSize, &tli, &segno) || tli != 1) continue;
    EXPECT_LT(wal::SegmentStart(segno, wal::kDefaultSegSize), *switch_at)
        << name << " is past the switch at " << switch_lsn;
  }
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_NO_FATAL_FAILURE(ExpectRejoined(&p, &s));
  // Rewinding it again: it is on the source's timeline now.
  p.Stop();
  CommandResult again = Rewind({"-D", p.data_dir(), source});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("source and target cluster are on the same timeline"), std::string::npos)
      << again.err;
}

// A lossless primary (walrep.sync_commit_lossless) killed while it had synchronous standbys
// would, restarted, refuse sessions until they confirm its WAL: the rewind's crash recovery
// must not wait for that (it did, and gave up after a minute, leaving the server running).
TEST(RewindTest, KilledLosslessPrimaryIsRecoveredAndRewound) {
  Node p("old_primary"), s("new_primary");
  ASSERT_NO_FATAL_FAILURE(Diverge(&p, &s));
  p.SafePsql("ALTER SYSTEM SET synchronous_standby_names = 'new_primary'");
  p.SafePsql("ALTER SYSTEM SET walrep.sync_commit_lossless = on");
  p.Kill9();
  std::string source = "--source-server=" + s.ConnStr();
  // A dry run (which keeps the recovery's log: a real rewind removes files the source lacks).
  CommandResult dry = Rewind({"-D", p.data_dir(), source, "-n"});
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_NE(dry.err.find("running crash recovery"), std::string::npos) << dry.err;
  // Recovered where no client could reach it (and read commits the new timeline lacks).
  std::string recovery = ReadWholeFile(p.data_dir() + "/rewind_recovery.log");
  EXPECT_NE(recovery.find("listening on Unix socket \"/tmp/walrep-rewind-"), std::string::npos)
      << recovery;
  EXPECT_EQ(recovery.find("listening on IPv4"), std::string::npos) << recovery;
  CommandResult r = Rewind({"-D", p.data_dir(), source, "-R"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_NO_FATAL_FAILURE(ExpectRejoined(&p, &s));
}

// The old primary removed the WAL the rewind needs (archived): -c fetches it with its
// restore_command; without -c the rewind fails and changes nothing.
TEST(RewindTest, RestoreTargetWalFetchesRemovedWalFromTheArchive) {
  TempDir archive;
  Node p("old_primary"), s("new_primary");
  ASSERT_NO_FATAL_FAILURE(
      Diverge(&p, &s,
              {"archive_mode = on", "archive_command = 'cp %p " + archive.path() + "/%f'",
               "restore_command = 'cp " + archive.path() + "/%f %p'", "max_wal_size = 32MB",
               "min_wal_size = 32MB"}));
  // The old primary writes on and checkpoints: its WAL from before the divergence goes.
  for (int i = 0; i < 4; i++) {
    p.SafePsql("INSERT INTO t SELECT g, g FROM generate_series(10001 + 100 * " + std::to_string(i) +
               ", 10100 + 100 * " + std::to_string(i) + ") g");
    p.SafePsql("SELECT pg_switch_wal()");
  }
  ASSERT_TRUE(WaitUntil([&] {
    return p.Query(
               "SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') WHERE pg_ls_dir LIKE "
               "'%.ready'") == "0";
  }));
  p.SafePsql("CHECKPOINT");
  p.SafePsql("CHECKPOINT");
  p.Stop();
  std::string source = "--source-server=" + s.ConnStr();
  CommandResult without = Rewind({"-D", p.data_dir(), source});
  ASSERT_NE(without.exit_code, 0) << without.err;
  EXPECT_FALSE(fs::exists(p.data_dir() + "/backup_label"));
  CommandResult r = Rewind({"-D", p.data_dir(), source, "-c", "-R"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("from archive"), std::string::npos) << r.err;
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_NO_FATAL_FAILURE(ExpectRejoined(&p, &s));
}

TEST(RewindTest, FromAStoppedSourceDataDirectory) {
  Node p("old_primary"), s("new_primary");
  ASSERT_NO_FATAL_FAILURE(Diverge(&p, &s));
  p.Stop();
  s.Stop();
  CommandResult r = Rewind({"-D", p.data_dir(), "--source-pgdata=" + s.data_dir()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_NO_FATAL_FAILURE(s.Start());
  p.WriteFile("standby.signal", "");
  p.AppendConf("primary_conninfo = '" + s.ConnStr() + "'", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_NO_FATAL_FAILURE(ExpectRejoined(&p, &s));
}

// Beyond PostgreSQL: with walrep.auto_rewind = on, the old primary started as a standby of the
// new one rewinds itself first and logs what it discarded.
TEST(RewindTest, AutoRewindRejoinsAnOldPrimaryStartedAsAStandby) {
  Node p("old_primary"), s("new_primary");
  ASSERT_NO_FATAL_FAILURE(Diverge(&p, &s));
  p.Stop();
  p.WriteFile("standby.signal", "");
  p.AppendConf("primary_conninfo = '" + s.ConnStr() + "'", "postgresql.auto.conf");
  p.AppendConf("walrep.auto_rewind = on", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_NO_FATAL_FAILURE(ExpectRejoined(&p, &s));
  EXPECT_NE(p.Log().find("walrep.auto_rewind: rewound from the upstream: discarded this server's "
                         "WAL from"),
            std::string::npos)
      << p.Log();
  // Restarted, it is on its upstream's timeline: nothing to rewind, nothing logged as an error.
  p.Stop();
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_TRUE(WaitForReplay(s, p));
  EXPECT_EQ(p.Query(kSummary), s.Query(kSummary));
}

// Beyond PostgreSQL: PostgreSQL 15's own pg_rewind rewinds a walrep old primary from the running
// new primary (its file-list query, pg_read_binary_file fetches in binary format, walrep's
// pg_control with wal_log_hints, and the block references of walrep's WAL records), copying only
// the blocks the old primary changed; the old primary then rejoins as a standby.
TEST(RewindTest, PostgreSQL15sPgRewindRejoinsTheOldPrimary) {
  Node p("old_primary"), s("new_primary");
  ASSERT_NO_FATAL_FAILURE(Diverge(&p, &s));
  p.Stop();
  std::string relfile = "base/5/" + s.Query("SELECT relfilenode FROM pg_class WHERE relname = 't'");
  // pg_rewind copies the source's configuration files too (as against PostgreSQL): keep the old
  // primary's own, as a DBA does.
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  std::string conf = read(p.data_dir() + "/postgresql.conf");
  std::string auto_conf = read(p.data_dir() + "/postgresql.auto.conf");
  // pg_rewind refuses to run as root: the data directory is the postgres user's while it runs.
  ASSERT_EQ(RunCommand({"chown", "-R", "postgres", p.data_dir()}).exit_code, 0);
  fs::permissions(fs::path(p.data_dir()).parent_path(), fs::perms::others_exec,
                  fs::perm_options::add);
  CommandResult r =
      RunCommand({"runuser", "-u", "postgres", "--", PgBin("pg_rewind"), "-D", p.data_dir(),
                  "--source-server=" + s.ConnStr(), "-R", "-P", "--debug"});
  ASSERT_EQ(RunCommand({"chown", "-R", "root", p.data_dir()}).exit_code, 0);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("servers diverged at WAL location"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Done!"), std::string::npos) << r.err;
  // The table's file is not copied whole: only the blocks the old primary's WAL touched.
  size_t at = r.err.find("pg_rewind: " + relfile + " (");
  ASSERT_NE(at, std::string::npos) << r.err;
  std::string entry = r.err.substr(at, r.err.find('\n', at) - at);
  EXPECT_EQ(entry.find("(COPY)"), std::string::npos) << entry;
  EXPECT_NE(r.err.find("pg_rewind: block ", at), std::string::npos) << r.err;
  std::string conninfo = read(p.data_dir() + "/postgresql.auto.conf");
  conninfo = conninfo.substr(conninfo.rfind("primary_conninfo"));
  p.WriteFile("postgresql.conf", conf);
  p.WriteFile("postgresql.auto.conf", auto_conf + conninfo);
  EXPECT_TRUE(fs::exists(p.data_dir() + "/standby.signal"));
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_NO_FATAL_FAILURE(ExpectRejoined(&p, &s));
}

TEST(RewindTest, AStandbyThatNeverWrotePastTheDivergenceNeedsNoRewind) {
  Node p("primary"), s("standby"), s2("second_standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_NO_FATAL_FAILURE(s2.InitStandby(p));
  ASSERT_NO_FATAL_FAILURE(s2.Start());
  p.SafePsql("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(WaitForReplay(p, s));
  ASSERT_TRUE(WaitForReplay(p, s2));
  p.Stop();
  s2.Stop();
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t");
  s.SafePsql("INSERT INTO t VALUES (2)");
  CommandResult r = Rewind({"-D", s2.data_dir(), "--source-server=" + s.ConnStr()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("no rewind required"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(s2.data_dir() + "/backup_label"));
}

}  // namespace
}  // namespace walrep::testing
