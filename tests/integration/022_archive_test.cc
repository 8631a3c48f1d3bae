// walrep: WAL archiving — archive_command runs for every completed segment (.ready -> .done),
// failures are retried and logged and keep the segment in pg_wal, a reload changes the
// command, .ready files survive kill -9, pg_stat_archiver counts (kept across a clean restart,
// reset by pg_stat_reset_shared), and a standby with archive_mode = on archives nothing until
// it is promoted, then its history file and new segments.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing.h"

namespace walrep::testing {
namespace {

namespace fs = std::filesystem;

// The segment pg_switch_wal() completes: the one holding the byte before its result.
std::string SwitchWal(const Node& n) { return n.Query("SELECT pg_walfile_name(pg_switch_wal())"); }

TEST(ArchiveTest, ArchivesCompletedSegmentsRetriesFailuresAndKeepsCounts) {
  TempDir archive;
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("archive_mode = on");
  p.AppendConf("archive_command = 'cp %p " + archive.path() + "/%f'");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  p.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 1000) g");
  std::string seg = SwitchWal(p);
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(archive.path() + "/" + seg); })) << p.Log();
  EXPECT_TRUE(WaitUntil(
      [&] { return fs::exists(p.data_dir() + "/pg_wal/archive_status/" + seg + ".done"); }));
  EXPECT_EQ(ReadWholeFile(archive.path() + "/" + seg),
            ReadWholeFile(p.data_dir() + "/pg_wal/" + seg));
  EXPECT_EQ(p.Query("SELECT last_archived_wal FROM pg_stat_archiver"), seg);
  // A base backup's history file (<segment>.<offset>.backup) is archived too.
  Node b("backup");
  ASSERT_NO_FATAL_FAILURE(b.InitStandby(p));
  std::string backup_file;
  ASSERT_TRUE(WaitUntil([&] {
    for (auto& e : fs::directory_iterator(archive.path())) {
      if (e.path().extension() == ".backup") backup_file = e.path().string();
    }
    return !backup_file.empty();
  })) << p.Log();
  EXPECT_NE(ReadWholeFile(backup_file).find("STOP WAL LOCATION: "), std::string::npos);
  EXPECT_NE(ReadWholeFile(backup_file).find("LABEL: pg_basebackup base backup"), std::string::npos);
  EXPECT_EQ(p.Query("SELECT archived_count >= 1 AND failed_count = 0 AND "
                    "last_archived_time IS NOT NULL FROM pg_stat_archiver"),
            "t");

  // A failing command: logged with its exit status, retried, the segment stays.
  p.SafePsql("ALTER SYSTEM SET archive_command = 'exit 3'");
  p.SafePsql("SELECT pg_reload_conf()");
  p.SafePsql("INSERT INTO t VALUES (1)");
  std::string stuck = SwitchWal(p);
  ASSERT_TRUE(WaitUntil([&] {
    return p.Query("SELECT failed_count >= 3 FROM pg_stat_archiver") == "t";
  })) << p.Log();
  EXPECT_EQ(p.Query("SELECT last_failed_wal FROM pg_stat_archiver"), stuck);
  EXPECT_NE(p.Log().find("archive command failed with exit code 3"), std::string::npos);
  EXPECT_NE(p.Log().find("The failed archive command was: exit 3"), std::string::npos);
  for (int i = 0; i < 3; i++) {
    p.SafePsql("INSERT INTO t VALUES (2)");
    SwitchWal(p);
    p.SafePsql("CHECKPOINT");
  }
  EXPECT_TRUE(fs::exists(p.data_dir() + "/pg_wal/" + stuck));
  EXPECT_TRUE(fs::exists(p.data_dir() + "/pg_wal/archive_status/" + stuck + ".ready"));

  // kill -9: the .ready files survive and are archived after recovery, with the right command.
  p.Kill9();
  p.AppendConf("archive_command = 'cp %p " + archive.path() + "/%f'", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(archive.path() + "/" + stuck); })) << p.Log();
  EXPECT_EQ(ReadWholeFile(archive.path() + "/" + stuck),
            ReadWholeFile(p.data_dir() + "/pg_wal/" + stuck));

  // Counters survive a clean restart; pg_stat_reset_shared('archiver') clears them.
  ASSERT_TRUE(WaitUntil([&] {
    for (auto& e : fs::directory_iterator(p.data_dir() + "/pg_wal/archive_status")) {
      if (e.path().extension() == ".ready") return false;
    }
    return true;
  }));
  std::string count = p.Query("SELECT archived_count FROM pg_stat_archiver");
  p.Stop("fast");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  EXPECT_EQ(p.Query("SELECT archived_count FROM pg_stat_archiver"), count);
  p.SafePsql("SELECT pg_stat_reset_shared('archiver')");
  EXPECT_EQ(p.Query("SELECT archived_count = 0 AND failed_count = 0 AND last_archived_wal IS "
                    "NULL AND stats_reset IS NOT NULL FROM pg_stat_archiver"),
            "t");
  EXPECT_EQ(p.Query("SELECT pg_stat_reset_shared('nonsense')"),
            "ERROR: 22023 unrecognized reset target: \"nonsense\"");
}

TEST(ArchiveTest, ArchiveTimeoutSwitchesASegmentWithWal) {
  TempDir archive;
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("archive_mode = on");
  p.AppendConf("archive_timeout = 1");
  p.AppendConf("archive_command = 'cp %p " + archive.path() + "/%f'");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  std::string seg = p.Query("SELECT pg_walfile_name(pg_current_wal_lsn())");
  p.SafePsql("INSERT INTO t VALUES (1)");  // no pg_switch_wal(): archive_timeout does it
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(archive.path() + "/" + seg); }, 30)) << p.Log();
}

TEST(ArchiveTest, StandbyArchivesOnlyOncePromoted) {
  TempDir primary_archive, standby_archive;
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("archive_mode = on");
  p.AppendConf("archive_command = 'cp %p " + primary_archive.path() + "/%f'");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("archive_command = 'cp %p " + standby_archive.path() + "/%f'",
               "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  p.SafePsql("INSERT INTO t VALUES (1)");
  std::string seg = SwitchWal(p);
  p.SafePsql("INSERT INTO t VALUES (2)");
  ASSERT_TRUE(WaitForReplay(p, s));
  // Received segments are marked .done on a standby with archive_mode = on, not archived.
  ASSERT_TRUE(WaitUntil([&] {
    return fs::exists(s.data_dir() + "/pg_wal/archive_status/" + seg + ".done");
  })) << s.Log();
  EXPECT_FALSE(fs::exists(standby_archive.path() + "/" + seg));
  p.Stop("fast");
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t");
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(standby_archive.path() + "/00000002.history"); }))
      << s.Log();
  s.SafePsql("INSERT INTO t VALUES (3)");
  std::string next = SwitchWal(s);
  EXPECT_EQ(next.substr(0, 8), "00000002");
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(standby_archive.path() + "/" + next); }))
      << s.Log();
  EXPECT_FALSE(fs::exists(standby_archive.path() + "/" + seg));
}

TEST(ArchiveTest, StandbyWithArchiveModeAlwaysArchivesWhatItReceives) {
  TempDir standby_archive;
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("archive_mode = always", "postgresql.auto.conf");
  s.AppendConf("archive_command = 'cp %p " + standby_archive.path() + "/%f'",
               "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  p.SafePsql("INSERT INTO t VALUES (1)");
  std::string seg = SwitchWal(p);
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(standby_archive.path() + "/" + seg); })) << s.Log();
  EXPECT_EQ(ReadWholeFile(standby_archive.path() + "/" + seg),
            ReadWholeFile(p.data_dir() + "/pg_wal/" + seg));
  EXPECT_EQ(s.Query("SELECT last_archived_wal FROM pg_stat_archiver"), seg);
}

TEST(ArchiveTest, StandbyWithOnlyRestoreCommandFollowsTheArchive) {
  TempDir archive;
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("archive_mode = on");
  p.AppendConf("archive_command = 'cp %p " + archive.path() + "/%f'");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("primary_conninfo = ''", "postgresql.auto.conf");  // no streaming at all
  s.AppendConf("restore_command = 'cp " + archive.path() + "/%f %p'", "postgresql.auto.conf");
  s.AppendConf("wal_retrieve_retry_interval = '200ms'", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  p.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 100) g");
  std::string seg = SwitchWal(p);
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(archive.path() + "/" + seg); }));
  // Archived WAL is replayed; what is not archived yet is not.
  p.SafePsql("INSERT INTO t SELECT g FROM generate_series(101, 150) g");
  ASSERT_TRUE(WaitUntil([&] { return s.Query("SELECT count(*) FROM t") == "100"; }, 30)) << s.Log();
  EXPECT_NE(s.Log().find("restored log file \"" + seg + "\" from archive"), std::string::npos);
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "100");
  SwitchWal(p);
  ASSERT_TRUE(WaitUntil([&] { return s.Query("SELECT count(*) FROM t") == "150"; }, 30)) << s.Log();
}

TEST(ArchiveTest, ArchiveOnlyStandbyFollowsAPromotionThroughTheArchive) {
  // One archive for the whole cluster: the primary archives into it, and so does its standby
  // once promoted. A standby fed by the archive alone fetches 00000002.history from it and
  // follows timeline 2.
  TempDir archive;
  std::string cmd = "archive_command = 'cp %p " + archive.path() + "/%f'";
  Node p("primary"), s1("standby1"), s2("archive_only");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("archive_mode = on");
  p.AppendConf(cmd);
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  ASSERT_NO_FATAL_FAILURE(s1.InitStandby(p));
  ASSERT_NO_FATAL_FAILURE(s1.Start());
  ASSERT_NO_FATAL_FAILURE(s2.InitStandby(p));
  s2.AppendConf("primary_conninfo = ''", "postgresql.auto.conf");
  s2.AppendConf("restore_command = 'cp " + archive.path() + "/%f %p'", "postgresql.auto.conf");
  s2.AppendConf("wal_retrieve_retry_interval = '200ms'", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s2.Start());
  p.SafePsql("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(WaitForReplay(p, s1));
  SwitchWal(p);
  ASSERT_TRUE(WaitUntil([&] { return s2.Query("SELECT count(*) FROM t") == "1"; }, 30)) << s2.Log();
  p.Stop("fast");
  ASSERT_EQ(s1.Query("SELECT pg_promote()"), "t");
  s1.SafePsql("INSERT INTO t VALUES (2)");
  std::string seg = SwitchWal(s1);
  ASSERT_EQ(seg.substr(0, 8), "00000002");
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(archive.path() + "/" + seg); })) << s1.Log();
  ASSERT_TRUE(WaitUntil([&] { return s2.Query("SELECT count(*) FROM t") == "2"; }, 30)) << s2.Log();
  EXPECT_NE(s2.Log().find("restored log file \"00000002.history\" from archive"),
            std::string::npos);
  EXPECT_NE(s2.Log().find("new target timeline is 2"), std::string::npos);
}

TEST(ArchiveTest, StandbyCatchesUpFromTheArchiveThenStreams) {
  // The primary removed WAL a stopped standby needs; the standby replays it from the archive
  // and then streams the rest.
  TempDir archive;
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("archive_mode = on");
  p.AppendConf("archive_command = 'cp %p " + archive.path() + "/%f'");
  p.AppendConf("wal_keep_size = 0");
  p.AppendConf("min_wal_size = 32MB");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("restore_command = 'cp " + archive.path() + "/%f %p'", "postgresql.auto.conf");
  s.AppendConf("wal_retrieve_retry_interval = '200ms'", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitForReplay(p, s));
  s.Stop("fast");
  std::string first = p.Query("SELECT pg_walfile_name(pg_current_wal_lsn())");
  for (int i = 0; i < 4; i++) {
    p.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 100) g");
    SwitchWal(p);
    p.SafePsql("CHECKPOINT");
  }
  ASSERT_TRUE(WaitUntil([&] {
    return p.Query("SELECT last_archived_wal >= '" + first + "' FROM pg_stat_archiver") == "t";
  }));
  p.SafePsql("CHECKPOINT");
  ASSERT_FALSE(fs::exists(p.data_dir() + "/pg_wal/" + first));  // gone from the primary
  ASSERT_NO_FATAL_FAILURE(s.Start());
  p.SafePsql("INSERT INTO t VALUES (0)");  // only in the primary's pg_wal: streamed
  ASSERT_TRUE(WaitForReplay(p, s, 60)) << s.Log();
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "401");
  EXPECT_NE(s.Log().find("from archive"), std::string::npos) << s.Log();
  EXPECT_TRUE(
      WaitUntil([&] { return s.Query("SELECT status FROM pg_stat_wal_receiver") == "streaming"; }));
}

// Beyond PostgreSQL: a walsender asked for WAL that pg_wal no longer has streams it from the
// archive (through the primary's own restore_command), so neither a standby that was down too
// long nor pg_receivewal needs a re-clone.
TEST(ArchiveTest, WalsenderStreamsRemovedWalFromTheArchive) {
  TempDir archive;
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("archive_mode = on");
  p.AppendConf("archive_command = 'cp %p " + archive.path() + "/%f'");
  p.AppendConf("restore_command = 'cp " + archive.path() + "/%f %p'");
  p.AppendConf("max_wal_size = 32MB");
  p.AppendConf("min_wal_size = 32MB");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  Node s("standby");  // no slot, no restore_command (the copied one is cleared): streaming only
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("restore_command = ''", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitForReplay(p, s));
  s.Stop("fast");
  std::string first = p.Query("SELECT pg_walfile_name(pg_current_wal_lsn())");
  // Many segments written, archived and removed from the primary's pg_wal.
  for (int i = 0; i < 6; i++) {
    p.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 1000) g");
    std::string seg = SwitchWal(p);
    ASSERT_TRUE(WaitUntil([&] { return fs::exists(archive.path() + "/" + seg); })) << p.Log();
  }
  p.SafePsql("CHECKPOINT");
  p.SafePsql("CHECKPOINT");
  ASSERT_FALSE(fs::exists(p.data_dir() + "/pg_wal/" + first)) << "nothing was removed";
  // The standby comes back and catches up by streaming alone.
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitForReplay(p, s)) << s.Log() << p.Log();
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "6000");
  EXPECT_NE(p.Log().find("from the archive (removed from pg_wal)"), std::string::npos) << p.Log();
  EXPECT_EQ(s.Log().find("has already been removed"), std::string::npos) << s.Log();
  EXPECT_EQ(s.Log().find("from archive"), std::string::npos) << s.Log();

  // pg_receivewal, whose directory ends with `first`, asks for the segment after it: removed
  // from pg_wal, streamed from the archive, byte-identical.
  TempDir recv;
  fs::copy_file(archive.path() + "/" + first, recv.path() + "/" + first);
  std::string next = first.substr(0, 16) + [&] {
    char buf[9];
    std::snprintf(buf, sizeof(buf), "%08X",
                  static_cast<unsigned>(std::stoul(first.substr(16), nullptr, 16) + 1));
    return std::string(buf);
  }();
  ASSERT_FALSE(fs::exists(p.data_dir() + "/pg_wal/" + next));
  uint64_t segno = std::stoull(first.substr(8, 8), nullptr, 16) * 256 +
                   std::stoull(first.substr(16), nullptr, 16) + 2;
  char endpos[32];
  std::snprintf(endpos, sizeof(endpos), "%X/%X", static_cast<unsigned>(segno >> 8),
                static_cast<unsigned>((segno & 0xFF) << 24));
  CommandResult r =
      RunCommand({PgBin("pg_receivewal"), "-h", "127.0.0.1", "-p", std::to_string(p.port()), "-U",
                  "postgres", "-D", recv.path(), "--no-loop", "-E", endpos});
  ASSERT_TRUE(fs::exists(recv.path() + "/" + next)) << r.out << r.err;
  EXPECT_EQ(ReadWholeFile(recv.path() + "/" + next), ReadWholeFile(archive.path() + "/" + next));
}

}  // namespace
}  // namespace walrep::testing
