// walrep: replication slots hold WAL for a stopped standby across checkpoints and restarts and
// release it once the standby has caught up; without a slot, a standby that asks for removed
// WAL gets PostgreSQL's error and the primary stays up.
#include <gtest/gtest.h>

#include <filesystem>

#include "testing.h"

namespace walrep::testing {
namespace {

void MakeWal(const Node& p, int segments) {
  for (int i = 0; i < segments; i++) {
    p.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 200) g");
    p.SafePsql("SELECT pg_switch_wal()");
  }
}

// The segment holding `lsn` (X/X) on timeline 1.
std::string SegmentOf(const std::string& lsn) {
  size_t slash = lsn.find('/');
  uint64_t v = (std::stoull(lsn.substr(0, slash), nullptr, 16) << 32) |
               std::stoull(lsn.substr(slash + 1), nullptr, 16);
  uint64_t seg = v / (16u << 20);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08X%08X%08X", 1u, static_cast<unsigned>(seg / 256),
                static_cast<unsigned>(seg % 256));
  return buf;
}

bool WalFileExists(const Node& p, const std::string& name) {
  return std::filesystem::exists(p.data_dir() + "/pg_wal/" + name);
}

TEST(SlotsTest, SlotKeepsWalForStoppedStandbyThenReleasesIt) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int)");
  ASSERT_EQ(primary.Query("SELECT slot_name FROM pg_create_physical_replication_slot('sb1', true)"),
            "sb1");
  Node standby("standby");
  standby.InitStandby(primary, {"-S", "sb1"});
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_TRUE(WaitUntil([&] {
    return primary.Query("SELECT active FROM pg_replication_slots WHERE slot_name = 'sb1'") == "t";
  }));
  standby.Stop("fast");
  EXPECT_TRUE(WaitUntil([&] {
    return primary.Query("SELECT active FROM pg_replication_slots WHERE slot_name = 'sb1'") == "f";
  }));
  std::string held = SegmentOf(primary.Query("SELECT restart_lsn FROM pg_replication_slots"));
  MakeWal(primary, 4);
  primary.SafePsql("CHECKPOINT");
  primary.Stop("fast");
  primary.Start();
  primary.SafePsql("CHECKPOINT");
  EXPECT_TRUE(WalFileExists(primary, held)) << held << " was removed while the slot needs it";
  // The standby comes back and catches up from the retained WAL.
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby)) << standby.Log();
  EXPECT_EQ(standby.Query("SELECT count(*) FROM t"), "800");
  // Its flush reports move the slot on; the next checkpoint releases the old WAL.
  std::string now_seg = SegmentOf(primary.Query("SELECT pg_current_wal_lsn()"));
  EXPECT_TRUE(WaitUntil([&] {
    return SegmentOf(primary.Query("SELECT restart_lsn FROM pg_replication_slots")) >= now_seg;
  }));
  primary.SafePsql("CHECKPOINT");
  EXPECT_FALSE(WalFileExists(primary, held)) << held << " is still kept";
}

TEST(SlotsTest, StandbyAskingForRemovedWalGetsAnError) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int)");
  Node standby("standby");
  standby.InitStandby(primary);
  standby.AppendConf("wal_retrieve_retry_interval = 100ms", "postgresql.auto.conf");
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby));
  standby.Stop("fast");
  MakeWal(primary, 4);
  primary.SafePsql("CHECKPOINT");
  standby.Start();
  EXPECT_TRUE(WaitUntil(
      [&] { return standby.Log().find("has already been removed") != std::string::npos; }, 30))
      << standby.Log();
  EXPECT_EQ(primary.Query("SELECT count(*) FROM t"), "800");
}

TEST(SlotsTest, MaxSlotWalKeepSizeInvalidatesASlotThatFallsTooFarBehind) {
  Node primary("primary");
  ASSERT_NO_FATAL_FAILURE(primary.Init());
  primary.AppendConf("max_wal_size = 32MB");
  primary.AppendConf("min_wal_size = 32MB");
  primary.AppendConf("max_slot_wal_keep_size = 64MB");
  ASSERT_NO_FATAL_FAILURE(primary.Start());
  primary.SafePsql("CREATE TABLE t (id int)");
  primary.SafePsql("SELECT pg_create_physical_replication_slot('sb1', true)");
  Node standby("standby");
  ASSERT_NO_FATAL_FAILURE(standby.InitStandby(primary, {"-S", "sb1"}));
  ASSERT_NO_FATAL_FAILURE(standby.Start());
  ASSERT_TRUE(WaitForReplay(primary, standby));
  standby.Stop("fast");
  auto status = [&] {
    return primary.Query("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'sb1'");
  };
  EXPECT_EQ(status(), "reserved");
  EXPECT_EQ(primary.Query("SELECT safe_wal_size > 0 AND inactive_since IS NOT NULL FROM "
                          "pg_replication_slots WHERE slot_name = 'sb1'"),
            "t");
  std::string held = SegmentOf(primary.Query("SELECT restart_lsn FROM pg_replication_slots"));
  // Past max_wal_size the slot still keeps its WAL: extended.
  ASSERT_TRUE(WaitUntil(
      [&] {
        MakeWal(primary, 1);
        return status() == "extended";
      },
      60))
      << status();
  EXPECT_TRUE(WalFileExists(primary, held));
  // Past max_slot_wal_keep_size it no longer does (unreserved until a checkpoint removes it),
  // and the next checkpoint invalidates it.
  ASSERT_TRUE(WaitUntil(
      [&] {
        MakeWal(primary, 1);
        return status() != "extended";
      },
      60))
      << status();
  primary.SafePsql("CHECKPOINT");
  EXPECT_EQ(status(), "lost");
  EXPECT_EQ(primary.Query("SELECT restart_lsn IS NULL AND safe_wal_size IS NULL FROM "
                          "pg_replication_slots WHERE slot_name = 'sb1'"),
            "t");
  EXPECT_EQ(primary.Query("SELECT invalidation_reason FROM pg_replication_slots"), "wal_removed");
  EXPECT_FALSE(WalFileExists(primary, held));
  EXPECT_NE(primary.Log().find("invalidating obsolete replication slot \"sb1\""),
            std::string::npos);
  // It stays invalidated across a restart, and the standby is told why it cannot stream.
  primary.Stop("fast");
  ASSERT_NO_FATAL_FAILURE(primary.Start());
  EXPECT_EQ(status(), "lost");
  ASSERT_NO_FATAL_FAILURE(standby.StartNoWait());
  EXPECT_TRUE(WaitUntil(
      [&] {
        return standby.Log().find("can no longer get changes from replication slot \"sb1\"") !=
               std::string::npos;
      },
      30))
      << standby.Log();
  standby.Stop("immediate");
}

TEST(SlotsTest, IdleReplicationSlotTimeoutInvalidatesAnIdleSlot) {
  Node primary("primary");
  ASSERT_NO_FATAL_FAILURE(primary.Init());
  ASSERT_NO_FATAL_FAILURE(primary.Start());
  primary.SafePsql("SELECT pg_create_physical_replication_slot('idle', true)");
  primary.SafePsql("CHECKPOINT");
  EXPECT_EQ(primary.Query("SELECT wal_status FROM pg_replication_slots"), "reserved");
  primary.SafePsql("ALTER SYSTEM SET idle_replication_slot_timeout = 1");
  primary.SafePsql("SELECT pg_reload_conf()");
  ASSERT_TRUE(WaitUntil(
      [&] {
        primary.SafePsql("CHECKPOINT");
        return primary.Query("SELECT invalidation_reason FROM pg_replication_slots") ==
               "idle_timeout";
      },
      30));
  EXPECT_EQ(primary.Query("SELECT wal_status FROM pg_replication_slots"), "lost");
}

}  // namespace
}  // namespace walrep::testing
