// walrep: failover — promotion by walrepctl, pg_promote() and promote_trigger_file; timeline 2's
// history file and END_OF_RECOVERY; standbys re-pointed by reload and cascades that follow
// without any change; a second promotion; kill -9 right after promotion; libpq's
// target_session_attrs before and after; pg_receivewal and pg_waldump across the switch; a
// backup taken on timeline 1 following timeline 2; lossless mode at a cluster's first start.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "testing.h"
#include "walrep/common/lsn.h"

namespace walrep::testing {
namespace {

namespace fs = std::filesystem;

std::string Contents(const Node& n) { return n.SafePsql("SELECT id, v FROM t ORDER BY id"); }

// `standby` replayed everything `upstream` has (flushed on a primary, replayed on a standby).
bool CaughtUp(const Node& upstream, const Node& standby, int timeout_secs = 60) {
  std::string target = upstream.Query(
      "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
      "ELSE pg_current_wal_flush_lsn() END");
  return WaitUntil(
      [&] {
        return standby.Query("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '" + target +
                             "') >= 0") == "t";
      },
      timeout_secs);
}

bool Promoted(const Node& n, int timeout_secs = 60) {
  return WaitUntil([&] { return n.Query("SELECT pg_is_in_recovery()") == "f"; }, timeout_secs);
}

void StartPrimary(Node* p) {
  ASSERT_NO_FATAL_FAILURE(p->Init());
  p->AppendConf("wal_receiver_status_interval = 1");
  ASSERT_NO_FATAL_FAILURE(p->Start());
  p->SafePsql("CREATE TABLE t (id int PRIMARY KEY, v text)");
  p->SafePsql("INSERT INTO t SELECT g, 'one ' || g FROM generate_series(1, 500) g");
}

void StartStandbyOf(const Node& upstream, Node* s, const std::string& conf = "") {
  ASSERT_NO_FATAL_FAILURE(s->InitStandby(upstream));
  if (!conf.empty()) s->AppendConf(conf);
  ASSERT_NO_FATAL_FAILURE(s->Start());
  ASSERT_TRUE(CaughtUp(upstream, *s)) << s->Log();
}

// A primary and its standby, the primary stopped (`mode`) and the standby promoted.
void FailOver(Node* p, Node* s, const std::string& mode = "fast") {
  ASSERT_NO_FATAL_FAILURE(StartPrimary(p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(*p, s));
  p->Stop(mode);
  ASSERT_EQ(s->Query("SELECT pg_promote()"), "t") << s->Log();
}

// 0000000N.history's lines: the parent's lines (blank-line separated), then "parent\tX/Y\t...".
void ExpectHistory(const Node& n, int tli, const std::vector<std::string>& switches) {
  char name[32];
  std::snprintf(name, sizeof(name), "%08X.history", tli);
  std::string text = ReadWholeFile(n.data_dir() + "/pg_wal/" + name);
  std::string want;
  for (size_t i = 0; i < switches.size(); i++) {
    if (i) want += "\n";
    want += std::to_string(i + 1) + "\t" + switches[i] + "\tno recovery target specified\n";
  }
  EXPECT_EQ(text, want) << name;
}

std::string SwitchPoint(const Node& n, int tli) {
  char name[32];
  std::snprintf(name, sizeof(name), "%08X.history", tli);
  std::string text = ReadWholeFile(n.data_dir() + "/pg_wal/" + name);
  std::smatch m;
  std::string last;
  std::regex line("([0-9]+)\t([0-9A-F]+/[0-9A-F]+)\t");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), line); it != std::sregex_iterator();
       ++it) {
    last = (*it)[2];
  }
  return last;
}

// Each of PostgreSQL 15's three ways to promote, on a primary with two standbys and a cascade.
class FailoverMethodTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FailoverMethodTest, PromoteRepointedStandbyAndCascadeFollow) {
  const std::string method = GetParam();
  Node p("primary"), s1("standby1"), s2("standby2"), c("cascade");
  ASSERT_NO_FATAL_FAILURE(StartPrimary(&p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s1, "promote_trigger_file = 'failover.now'"));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s2));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(s1, &c));
  EXPECT_EQ(s1.Query("SHOW in_hot_standby"), "on");
  EXPECT_EQ(s1.Query("SHOW transaction_read_only"), "on");
  EXPECT_EQ(p.Query("SHOW in_hot_standby"), "off");
  p.SafePsql("UPDATE t SET v = 'two' WHERE id <= 100");
  ASSERT_TRUE(CaughtUp(p, s1));
  ASSERT_TRUE(CaughtUp(p, s2));
  ASSERT_TRUE(CaughtUp(s1, c));
  p.Stop("fast");

  if (method == "walrepctl") {
    // A stopped server is refused first.
    CommandResult bad = RunCommand({WalrepBin("walrepctl"), "promote", "-D", p.data_dir()});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.err.find("PID file"), std::string::npos) << bad.err;
    CommandResult r = RunCommand({WalrepBin("walrepctl"), "promote", "-D", s1.data_dir()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << s1.Log();
    EXPECT_NE(r.out.find("waiting for server to promote"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("done\nserver promoted"), std::string::npos) << r.out;
  } else if (method == "pg_promote") {
    ASSERT_EQ(s1.Query("SELECT pg_promote(true, 60)"), "t") << s1.Log();
  } else {
    s1.WriteFile("failover.now", "");
    ASSERT_TRUE(Promoted(s1)) << s1.Log();
    EXPECT_FALSE(fs::exists(s1.data_dir() + "/failover.now"));
    EXPECT_NE(s1.Log().find("promote trigger file found"), std::string::npos);
  }
  EXPECT_EQ(s1.Query("SELECT pg_is_in_recovery()"), "f");
  EXPECT_EQ(s1.Query("SHOW in_hot_standby"), "off");
  EXPECT_FALSE(fs::exists(s1.data_dir() + "/standby.signal"));
  for (const char* line : {"received promote request", "selected new timeline ID: 2",
                           "archive recovery complete", "ready to accept connections"}) {
    EXPECT_TRUE(WaitUntil([&] { return s1.Log().find(line) != std::string::npos; }, 10))
        << line << "\n"
        << s1.Log();
  }
  std::string sp1 = SwitchPoint(s1, 2);
  ASSERT_FALSE(sp1.empty());
  ExpectHistory(s1, 2, {sp1});
  CommandResult again = RunCommand({WalrepBin("walrepctl"), "promote", "-D", s1.data_dir()});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("server is not in standby mode"), std::string::npos) << again.err;

  s1.SafePsql("INSERT INTO t SELECT g, 'after ' || g FROM generate_series(501, 700) g");
  EXPECT_EQ(s1.Query("SELECT pg_walfile_name(pg_current_wal_lsn())").substr(0, 8), "00000002");
  // The cascade follows its upstream's promotion unchanged.
  ASSERT_TRUE(CaughtUp(s1, c)) << c.Log();
  EXPECT_TRUE(WaitUntil([&] {
    return c.Query("SELECT received_tli FROM pg_stat_wal_receiver") == "2";
  })) << c.Log();
  // Standby 2 is re-pointed by ALTER SYSTEM and a reload (no restart).
  s2.SafePsql("ALTER SYSTEM SET primary_conninfo = '" + s1.ConnStr() + "'");
  s2.SafePsql("SELECT pg_reload_conf()");
  ASSERT_TRUE(CaughtUp(s1, s2, 90)) << s2.Log();
  EXPECT_TRUE(WaitUntil([&] {
    return s2.Query("SELECT received_tli FROM pg_stat_wal_receiver") == "2";
  })) << s2.Log();
  EXPECT_EQ(Contents(s2), Contents(s1));
  EXPECT_EQ(Contents(c), Contents(s1));

  // A second promotion: the cascade becomes timeline 3, its history names both switches.
  c.SafePsql("SELECT pg_promote()");
  ASSERT_TRUE(Promoted(c));
  ExpectHistory(c, 3, {sp1, SwitchPoint(c, 3)});
  EXPECT_EQ(Contents(c), Contents(s1));
  c.SafePsql("INSERT INTO t VALUES (1000, 'timeline 3')");
  EXPECT_EQ(c.Query("SELECT v FROM t WHERE id = 1000"), "timeline 3");
}

INSTANTIATE_TEST_SUITE_P(Methods, FailoverMethodTest,
                         ::testing::Values("walrepctl", "pg_promote", "trigger_file"));

TEST(FailoverTest, PgPromoteKeepsSessionsAndReportsParameters) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(StartPrimary(&p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s));
  EXPECT_EQ(p.Query("SELECT pg_promote()"), "ERROR: 55000 recovery is not in progress");
  PGconn* before = s.Connect();
  ASSERT_EQ(PQstatus(before), CONNECTION_OK);
  EXPECT_STREQ(PQparameterStatus(before, "in_hot_standby"), "on");
  EXPECT_STREQ(PQparameterStatus(before, "default_transaction_read_only"), "on");
  EXPECT_EQ(Exec(before, "INSERT INTO t VALUES (9999, 'x')"), "ERROR 25006");
  p.SafePsql("CREATE ROLE plain LOGIN");
  ASSERT_TRUE(CaughtUp(p, s));
  EXPECT_NE(s.Query("SELECT pg_promote()", "user=plain").find("permission denied"),
            std::string::npos);
  p.Stop("immediate");
  EXPECT_EQ(s.Query("SELECT pg_promote(true, 30)"), "t") << s.Log();
  EXPECT_EQ(s.Query("SELECT pg_is_in_recovery()"), "f");
  // The session that was connected during the promotion writes in its next transaction and
  // hears in_hot_standby change at its next ReadyForQuery, as PostgreSQL 14+ reports it.
  EXPECT_EQ(Exec(before, "SELECT 1"), "1\n");
  EXPECT_STREQ(PQparameterStatus(before, "in_hot_standby"), "off");
  EXPECT_STREQ(PQparameterStatus(before, "default_transaction_read_only"), "off");
  EXPECT_EQ(Exec(before, "INSERT INTO t VALUES (9999, 'x')"), "INSERT 0 1");
  PQfinish(before);
  EXPECT_EQ(s.Query("SELECT pg_promote()"), "ERROR: 55000 recovery is not in progress");
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "501");
}

TEST(FailoverTest, ReplicationCommandsAcrossTimelines) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(FailOver(&p, &s));
  std::string fork = SwitchPoint(s, 2);
  auto repl = [&](const std::string& cmd) {
    return RunCommand(
        {PgBin("psql"), "-X", "-A", "-t", "-d", s.ConnStr("replication=true"), "-c", cmd});
  };
  CommandResult r = repl("IDENTIFY_SYSTEM");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("|2|"), std::string::npos) << r.out;
  r = repl("TIMELINE_HISTORY 2");
  EXPECT_EQ(r.out, "00000002.history|1\t" + fork + "\tno recovery target specified\n\n") << r.err;
  r = repl("TIMELINE_HISTORY 1");
  EXPECT_NE(r.err.find("could not open file \"pg_wal/00000001.history\""), std::string::npos);
  r = repl("START_REPLICATION 0/1000000 TIMELINE 3");
  EXPECT_NE(r.err.find("requested timeline 3 is not in this server's history"), std::string::npos)
      << r.err;
  r = repl("START_REPLICATION 7/0 TIMELINE 1");
  EXPECT_NE(r.err.find("requested starting point 7/0 on timeline 1 is not in this server's "
                       "history"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("This server's history forked from timeline 1 at " + fork + "."),
            std::string::npos)
      << r.err;
  // Starting exactly at the switch point: no COPY at all, only the next timeline.
  r = repl("START_REPLICATION " + fork + " TIMELINE 1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // (psql prints the second CommandComplete's tag, START_REPLICATION, after the row.)
  EXPECT_EQ(r.out.substr(0, r.out.find('\n') + 1), "2|" + fork + "\n") << r.out;
}

TEST(FailoverTest, StandbyWhoseHistoryForkedLogsAndKeepsRunning) {
  // The old primary wrote WAL its standby never received; after the standby's promotion it
  // cannot follow timeline 2 (it replayed past the switch point): PostgreSQL's message, and
  // it stays up as a standby serving reads.
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(StartPrimary(&p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s));
  s.Stop("fast");
  p.SafePsql("INSERT INTO t VALUES (1001, 'only on the old primary')");
  p.Stop("fast");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t");
  s.SafePsql("INSERT INTO t VALUES (1002, 'only on timeline 2')");
  p.WriteFile("standby.signal", "");
  p.AppendConf("primary_conninfo = '" + s.ConnStr() + "'", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_TRUE(WaitUntil([&] {
    return p.Log().find(
               "new timeline 2 forked off current database system timeline 1 before "
               "current recovery point") != std::string::npos;
  })) << p.Log();
  EXPECT_EQ(p.Query("SELECT v FROM t WHERE id = 1001"), "only on the old primary");
  EXPECT_EQ(p.Query("SELECT count(*) FROM t WHERE id = 1002"), "0");
  EXPECT_TRUE(p.Running());
}

TEST(FailoverTest, BackupsOfAnIdleStandbyBecomeConsistent) {
  // The backup of a standby ends at its last replayed record, not at the next segment
  // boundary (which an idle primary never reaches): walrepctl's and PostgreSQL's tool alike.
  Node p("primary"), s("standby"), b1("from_walrepctl"), b2("from_pg_basebackup");
  ASSERT_NO_FATAL_FAILURE(StartPrimary(&p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s));
  p.SafePsql("SELECT pg_switch_wal()");  // the standby's last record is an XLOG_SWITCH
  ASSERT_TRUE(CaughtUp(p, s));
  CommandResult r = RunCommand({WalrepBin("walrepctl"), "basebackup", "-d", s.ConnStr(), "-D",
                                b1.data_dir(), "-R", "-X", "stream"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  b1.AppendLocalConf("postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(b1.Start());
  ASSERT_NO_FATAL_FAILURE(b2.InitStandby(s));
  ASSERT_NO_FATAL_FAILURE(b2.Start());
  EXPECT_EQ(Contents(b1), Contents(p));
  EXPECT_EQ(Contents(b2), Contents(p));
}

TEST(FailoverTest, KillNineRightAfterPromotionKeepsTimelineAndWrites) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(StartPrimary(&p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s));
  // Timeline 1 has records in the segment where timeline 2 will begin.
  p.SafePsql("INSERT INTO t VALUES (0, 'last on timeline 1')");
  ASSERT_TRUE(CaughtUp(p, s));
  p.Stop("immediate");
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t") << s.Log();
  // Pages changed right after promotion (PostgreSQL's 015_promotion_pages).
  s.SafePsql("INSERT INTO t SELECT g, 'new ' || g FROM generate_series(501, 600) g");
  s.SafePsql("UPDATE t SET v = 'changed' WHERE id <= 50");
  s.SafePsql("DELETE FROM t WHERE id BETWEEN 51 AND 60");
  std::string want = Contents(s);
  s.Kill9();
  ASSERT_NO_FATAL_FAILURE(s.Start());
  EXPECT_EQ(Contents(s), want);
  EXPECT_EQ(s.Query("SELECT pg_is_in_recovery()"), "f");
  s.SafePsql("INSERT INTO t VALUES (601, 'after restart')");
  s.SafePsql("CHECKPOINT");
  CommandResult cd = RunCommand({PgBin("pg_controldata"), "-D", s.data_dir()});
  ASSERT_EQ(cd.exit_code, 0) << cd.err;
  EXPECT_TRUE(std::regex_search(cd.out, std::regex("Latest checkpoint's TimeLineID: +2\n")))
      << cd.out;
  EXPECT_TRUE(std::regex_search(cd.out, std::regex("Database cluster state: +in production")))
      << cd.out;
  // pg_waldump reads both timelines: timeline 1 up to the switch, timeline 2 from it.
  std::string sp = SwitchPoint(s, 2);
  CommandResult d1 = RunCommand(
      {PgBin("pg_waldump"), "-p", s.data_dir() + "/pg_wal", "-t", "2", "-s", sp, "-n", "3"});
  EXPECT_EQ(d1.exit_code, 0) << d1.err;
  EXPECT_NE(d1.out.find("END_OF_RECOVERY tli 2; prev tli 1"), std::string::npos) << d1.out;
  // The switch segment as timeline 2 has it: timeline 1's records (pages with xlp_tli 1) up to
  // the switch point, then timeline 2's; pg_waldump reads across.
  Lsn fork = *Lsn::Parse(sp);
  Lsn seg_start(fork.value() - fork.value() % (16 << 20));
  ASSERT_GT(fork, seg_start);
  CommandResult d0 = RunCommand({PgBin("pg_waldump"), "-p", s.data_dir() + "/pg_wal", "-t", "2",
                                 "-s", seg_start.ToString(), "-e", fork.ToString()});
  EXPECT_EQ(d0.exit_code, 0) << d0.err;
  EXPECT_NE(d0.out.find("COMMIT"), std::string::npos) << d0.out;  // timeline 1's insert
}

TEST(FailoverTest, TargetSessionAttrsChooseLikePostgres) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(StartPrimary(&p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s));
  auto pick = [&](const std::string& attrs, const Node& first, const Node& second) {
    std::string conn = "host=127.0.0.1,127.0.0.1 port=" + std::to_string(first.port()) + "," +
                       std::to_string(second.port()) +
                       " user=postgres dbname=postgres target_session_attrs=" + attrs;
    CommandResult r = RunCommand({PgBin("psql"), "-X", "-A", "-t", "-q", "-d", conn, "-c",
                                  "SELECT current_setting('port')"});
    if (r.exit_code != 0) return std::string("none");
    std::string port = r.out.substr(0, r.out.find('\n'));
    return port == std::to_string(p.port()) ? std::string("p") : std::string("s");
  };
  for (int order = 0; order < 2; order++) {
    const Node& a = order ? s : p;
    const Node& b = order ? p : s;
    EXPECT_EQ(pick("read-write", a, b), "p");
    EXPECT_EQ(pick("primary", a, b), "p");
    EXPECT_EQ(pick("read-only", a, b), "s");
    EXPECT_EQ(pick("standby", a, b), "s");
    EXPECT_EQ(pick("prefer-standby", a, b), "s");
    EXPECT_EQ(pick("any", a, b), order ? "s" : "p");
  }
  p.Stop("fast");
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t");
  EXPECT_EQ(pick("read-write", p, s), "s");
  EXPECT_EQ(pick("primary", p, s), "s");
  EXPECT_EQ(pick("standby", p, s), "none");
  EXPECT_EQ(pick("prefer-standby", p, s), "s");
}

TEST(FailoverTest, PgReceivewalFollowsPromotion) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(StartPrimary(&p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s));
  TempDir out;
  std::vector<std::string> argv = {PgBin("pg_receivewal"),
                                   "-h",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(s.port()),
                                   "-U",
                                   "postgres",
                                   "-D",
                                   out.path(),
                                   "-s",
                                   "1",
                                   "-v"};
  std::string err_file = out.path() + "/../receivewal.err";
  pid_t pid = fork();
  if (pid == 0) {
    freopen(err_file.c_str(), "w", stderr);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGINT);
      waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  p.SafePsql("INSERT INTO t VALUES (600, 'before')");
  ASSERT_TRUE(CaughtUp(p, s));
  ASSERT_TRUE(WaitUntil([&] {
    for (auto& e : fs::directory_iterator(out.path())) {
      if (e.path().filename().string().rfind("00000001", 0) == 0) return true;
    }
    return false;
  }));
  p.Stop("fast");
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t");
  s.SafePsql("INSERT INTO t SELECT g, 'x' FROM generate_series(601, 700) g");
  s.SafePsql("SELECT pg_switch_wal()");
  // pg_receivewal fetched the history file and finished a timeline-2 segment.
  ASSERT_TRUE(WaitUntil([&] {
    if (!fs::exists(out.path() + "/00000002.history")) return false;
    for (auto& e : fs::directory_iterator(out.path())) {
      std::string n = e.path().filename().string();
      if (n.rfind("00000002", 0) == 0 && n.size() == 24) return true;
    }
    return false;
  })) << ReadWholeFile(err_file)
      << s.Log();
  EXPECT_EQ(ReadWholeFile(out.path() + "/00000002.history"),
            ReadWholeFile(s.data_dir() + "/pg_wal/00000002.history"));
  EXPECT_NE(ReadWholeFile(err_file).find("switched to timeline 2"), std::string::npos)
      << ReadWholeFile(err_file);
  CommandResult d = RunCommand(
      {PgBin("pg_waldump"), "-p", out.path(), "-t", "2", "-s", SwitchPoint(s, 2), "-n", "2"});
  EXPECT_NE(d.out.find("END_OF_RECOVERY tli 2; prev tli 1"), std::string::npos) << d.out << d.err;
}

TEST(FailoverTest, BackupFromTimelineOneFollowsTimelineTwo) {
  Node p("primary"), s("standby"), b("restored");
  ASSERT_NO_FATAL_FAILURE(StartPrimary(&p));
  ASSERT_NO_FATAL_FAILURE(StartStandbyOf(p, &s));
  ASSERT_NO_FATAL_FAILURE(b.InitStandby(p));  // taken on timeline 1, not started yet
  p.SafePsql("INSERT INTO t VALUES (501, 'last on 1')");
  ASSERT_TRUE(CaughtUp(p, s));
  p.Stop("fast");
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t");
  s.SafePsql("INSERT INTO t VALUES (502, 'first on 2')");
  b.AppendConf("primary_conninfo = '" + s.ConnStr() + "'", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(b.Start());
  ASSERT_TRUE(CaughtUp(s, b, 90)) << b.Log();
  EXPECT_EQ(b.Query("SELECT received_tli FROM pg_stat_wal_receiver"), "2");
  EXPECT_EQ(Contents(b), Contents(s));
}

TEST(FailoverTest, LosslessModeFromTheFirstStart) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("synchronous_standby_names = 'nobody'");
  p.AppendConf("walrep.sync_commit_lossless = on");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  // What init created is there whatever the replication settings: the superuser logs in and a
  // standby can be cloned.
  EXPECT_EQ(p.Query("SELECT current_user"), "postgres");
  Node s("nobody");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  ASSERT_NO_FATAL_FAILURE(s.Start());
  PGconn* c = p.Connect();
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  EXPECT_EQ(Exec(c, "CREATE TABLE t (id int)"), "CREATE TABLE");
  PQfinish(c);
  ASSERT_TRUE(CaughtUp(p, s));
}

}  // namespace
}  // namespace walrep::testing
