// walrep: archive recovery and point-in-time recovery. A base backup (PostgreSQL 15's
// pg_basebackup) plus the WAL archive plus recovery.signal stops at each kind of target — LSN,
// xid, time, restore point, immediate — with the rows before it and none after, then promotes
// (a new timeline that accepts writes), pauses (until pg_wal_replay_resume()) or shuts down as
// recovery_target_action says; without a target it replays the whole archive; an unreachable
// target, and two targets at once, stop the server with PostgreSQL's FATAL.
#include <gtest/gtest.h>

#include <filesystem>

#include "testing.h"

namespace walrep::testing {
namespace {

namespace fs = std::filesystem;

// What the primary wrote, batch by batch, and the targets between the batches.
struct History {
  std::string lsn_after_1;   // pg_current_wal_insert_lsn() after batch 1 committed
  std::string xid_2;         // batch 2's transaction
  std::string time_after_2;  // clock_timestamp() after batch 2 committed
};

class PitrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(p_.Init());
    p_.AppendConf("archive_mode = on");
    p_.AppendConf("archive_command = 'cp %p " + archive_.path() + "/%f'");
    ASSERT_NO_FATAL_FAILURE(p_.Start());
    p_.SafePsql("CREATE TABLE t (batch int, id int)");
  }

  // A base backup of the primary made an archive-recovery data directory with `conf`.
  void Restore(Node* n, const std::vector<std::string>& conf) {
    ASSERT_NO_FATAL_FAILURE(n->InitStandby(p_));
    fs::remove(n->data_dir() + "/standby.signal");
    n->WriteFile("recovery.signal", "");
    n->AppendConf("restore_command = 'cp " + archive_.path() + "/%f %p'", "postgresql.auto.conf");
    // The primary's timeline: the copies promoted before this one archive timelines that fork
    // from it before this one's target (following the latest, it would stop at their fork).
    n->AppendConf("recovery_target_timeline = 'current'", "postgresql.auto.conf");
    for (const auto& c : conf) n->AppendConf(c, "postgresql.auto.conf");
  }

  // Four batches of rows, with an LSN, an xid, a time and a restore point between them; then
  // everything is archived.
  History Write() {
    History h;
    p_.SafePsql("INSERT INTO t SELECT 1, g FROM generate_series(1, 10) g");
    h.lsn_after_1 = p_.Query("SELECT pg_current_wal_insert_lsn()");
    PGconn* c = p_.Connect();
    Exec(c, "BEGIN");
    Exec(c, "INSERT INTO t SELECT 2, g FROM generate_series(1, 10) g");
    h.xid_2 = Exec(c, "SELECT txid_current()");
    h.xid_2.pop_back();
    Exec(c, "COMMIT");
    PQfinish(c);
    h.time_after_2 = p_.Query("SELECT clock_timestamp()");
    p_.SafePsql("INSERT INTO t SELECT 3, g FROM generate_series(1, 10) g");
    p_.SafePsql("CHECKPOINT");  // a restartpoint for the copies that replay it
    p_.SafePsql("SELECT pg_create_restore_point('before_4')");
    p_.SafePsql("INSERT INTO t SELECT 4, g FROM generate_series(1, 10) g");
    std::string seg = p_.Query("SELECT pg_walfile_name(pg_switch_wal())");
    EXPECT_TRUE(WaitUntil([&] { return fs::exists(archive_.path() + "/" + seg); })) << p_.Log();
    return h;
  }

  // "1,2" when the table has all of batches 1 and 2 and nothing later, "" when it is empty.
  static std::string Batches(const Node& n) {
    std::string r =
        n.Query("SELECT count(*) * 100 + coalesce(max(batch), 0) FROM t WHERE batch < 9");
    int v = std::atoi(r.c_str());
    int last = v % 100, rows = v / 100;
    if (rows != 10 * last) return "unexpected " + r;
    std::string out;
    for (int b = 1; b <= last; b++) out += (out.empty() ? "" : ",") + std::to_string(b);
    return out;
  }

  TempDir archive_;
  Node p_{"primary"};
};

TEST_F(PitrTest, EachKindOfTargetStopsWithTheRowsBeforeIt) {
  Node lsn("lsn"), xid("xid"), xid_excl("xid_excl"), time("time"), name("name"), all("all");
  // Backups first: the rows come after them, from the archive only.
  ASSERT_NO_FATAL_FAILURE(Restore(&lsn, {"recovery_target_action = 'promote'"}));
  ASSERT_NO_FATAL_FAILURE(Restore(&xid, {"recovery_target_action = 'promote'"}));
  ASSERT_NO_FATAL_FAILURE(Restore(
      &xid_excl, {"recovery_target_action = 'promote'", "recovery_target_inclusive = off"}));
  ASSERT_NO_FATAL_FAILURE(Restore(&time, {"recovery_target_action = 'promote'"}));
  ASSERT_NO_FATAL_FAILURE(
      Restore(&name, {"recovery_target_action = 'promote'", "recovery_target_name = 'before_4'"}));
  ASSERT_NO_FATAL_FAILURE(Restore(&all, {"recovery_end_command = 'echo %r > recovery_end_ran'"}));
  History h = Write();
  lsn.AppendConf("recovery_target_lsn = '" + h.lsn_after_1 + "'", "postgresql.auto.conf");
  xid.AppendConf("recovery_target_xid = '" + h.xid_2 + "'", "postgresql.auto.conf");
  xid_excl.AppendConf("recovery_target_xid = '" + h.xid_2 + "'", "postgresql.auto.conf");
  time.AppendConf("recovery_target_time = '" + h.time_after_2 + "'", "postgresql.auto.conf");

  struct Case {
    Node* node;
    std::string batches;
    std::string log;
  } cases[] = {
      {&lsn, "1", "recovery stopping after WAL location (LSN) \"" + h.lsn_after_1 + "\""},
      {&xid, "1,2", "recovery stopping after commit of transaction " + h.xid_2},
      {&xid_excl, "1", "recovery stopping before commit of transaction " + h.xid_2},
      {&time, "1,2", "recovery stopping before commit of transaction"},
      {&name, "1,2,3", "recovery stopping at restore point \"before_4\""},
      {&all, "1,2,3,4", "archive recovery complete"},
  };
  int last_tli = 1;
  for (auto& c : cases) {
    SCOPED_TRACE(c.node->log_file());
    ASSERT_NO_FATAL_FAILURE(c.node->Start());
    ASSERT_TRUE(WaitUntil([&] { return c.node->Query("SELECT pg_is_in_recovery()") == "f"; }))
        << c.node->Log();
    EXPECT_EQ(Batches(*c.node), c.batches);
    // (The end of recovery is logged just after sessions may write.)
    EXPECT_TRUE(WaitUntil([&] { return c.node->Log().find(c.log) != std::string::npos; }, 10))
        << c.node->Log();
    // Promoted: a new timeline, writable, and the signal file is gone. The copies share the
    // archive, where each promoted one archives its history file: as PostgreSQL, each picks a
    // timeline no history file in the archive names yet.
    // pg_control names the new timeline once the checkpoint after the promotion is done.
    int tli = 0;
    EXPECT_TRUE(WaitUntil(
        [&] {
          tli = std::atoi(c.node->Query("SELECT timeline_id FROM pg_control_checkpoint()").c_str());
          return tli > last_tli;
        },
        30))
        << tli;
    last_tli = tli;
    c.node->SafePsql("INSERT INTO t VALUES (9, 9)");
    EXPECT_FALSE(fs::exists(c.node->data_dir() + "/recovery.signal"));
    c.node->Stop();
  }
  // recovery_end_command ran once recovery ended, with %r the oldest WAL file still needed.
  std::string r = ReadWholeFile(all.data_dir() + "/recovery_end_ran");
  EXPECT_EQ(r.size(), 25u) << r;
}

TEST_F(PitrTest, PauseAtTheTargetThenResumePromotes) {
  Node n("paused");
  ASSERT_NO_FATAL_FAILURE(Restore(&n, {"recovery_target = 'immediate'"}));
  Node later("later");
  // recovery_target_action defaults to pause.
  ASSERT_NO_FATAL_FAILURE(
      Restore(&later, {"archive_cleanup_command = 'echo %r > " + archive_.path() + "/cleanup'"}));
  History h = Write();
  later.AppendConf("recovery_target_name = 'before_4'", "postgresql.auto.conf");
  // 'immediate': the backup's consistency point, before any of the rows.
  ASSERT_NO_FATAL_FAILURE(n.Start());
  ASSERT_TRUE(WaitUntil([&] {
    return n.Query("SELECT pg_get_wal_replay_pause_state()") == "paused";
  })) << n.Log();
  EXPECT_NE(n.Log().find("recovery stopping after reaching consistency"), std::string::npos);
  EXPECT_EQ(Batches(n), "");
  EXPECT_EQ(n.Query("SELECT pg_is_in_recovery()"), "t");
  n.SafePsql("SELECT pg_wal_replay_resume()");
  ASSERT_TRUE(WaitUntil([&] { return n.Query("SELECT pg_is_in_recovery()") == "f"; })) << n.Log();
  EXPECT_EQ(n.Query("SELECT count(*) FROM t"), "0");  // nothing after the target was replayed
  n.Stop();

  ASSERT_NO_FATAL_FAILURE(later.Start());
  ASSERT_TRUE(WaitUntil([&] { return later.Query("SELECT pg_is_wal_replay_paused()") == "t"; }))
      << later.Log();
  EXPECT_EQ(Batches(later), "1,2,3");
  EXPECT_NE(later.Log().find("pausing at the end of recovery"), std::string::npos);
  // A restartpoint (at the replayed CHECKPOINT) runs archive_cleanup_command with %r.
  later.SafePsql("CHECKPOINT");
  std::string cleanup = ReadWholeFile(archive_.path() + "/cleanup");
  EXPECT_EQ(cleanup.size(), 25u) << cleanup;
  EXPECT_TRUE(fs::exists(archive_.path() + "/" + cleanup.substr(0, 24))) << cleanup;
  // pg_promote() ends the pause too.
  EXPECT_EQ(later.Query("SELECT pg_promote()"), "t");
  EXPECT_EQ(Batches(later), "1,2,3");
  later.SafePsql("INSERT INTO t VALUES (5, 1)");
  (void)h;
}

TEST_F(PitrTest, ShutdownAtTheTargetUnreachableTargetsAndTwoTargets) {
  Node down("down"), never("never"), two("two");
  ASSERT_NO_FATAL_FAILURE(
      Restore(&down, {"recovery_target_name = 'before_4'", "recovery_target_action = 'shutdown'"}));
  ASSERT_NO_FATAL_FAILURE(Restore(&never, {"recovery_target_xid = '4000000000'"}));
  ASSERT_NO_FATAL_FAILURE(
      Restore(&two, {"recovery_target_xid = '1000'", "recovery_target_name = 'x'"}));
  Write();
  for (Node* n : {&down, &never, &two}) {
    SCOPED_TRACE(n->log_file());
    ASSERT_NO_FATAL_FAILURE(n->StartNoWait());
    ASSERT_TRUE(WaitUntil([&] { return !n->Running(); }, 60)) << n->Log();
  }
  EXPECT_NE(down.Log().find("shutdown at recovery target"), std::string::npos) << down.Log();
  EXPECT_TRUE(fs::exists(down.data_dir() + "/recovery.signal"));  // still to be recovered
  EXPECT_NE(never.Log().find("FATAL:  recovery ended before configured recovery target was "
                             "reached"),
            std::string::npos)
      << never.Log();
  EXPECT_NE(two.Log().find("multiple recovery targets specified"), std::string::npos) << two.Log();
  // The shut-down copy starts again at the same target and can then be promoted.
  down.AppendConf("recovery_target_action = 'promote'", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(down.Start());
  ASSERT_TRUE(WaitUntil([&] { return down.Query("SELECT pg_is_in_recovery()") == "f"; }))
      << down.Log();
  EXPECT_EQ(Batches(down), "1,2,3");
}

}  // namespace
}  // namespace walrep::testing
