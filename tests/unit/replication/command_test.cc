// walrep: unit tests of the replication command parser, slots, and the base backup's tar
// headers and manifest checksums.
#include "walrep/replication/command.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "stalling_fs.h"
#include "testing.h"
#include "walrep/replication/basebackup.h"
#include "walrep/replication/slots.h"

namespace walrep::replication {
namespace {

TEST(CommandTest, RecognisesUpperCaseKeywordsOnly) {
  EXPECT_TRUE(IsReplicationCommand("IDENTIFY_SYSTEM"));
  EXPECT_TRUE(IsReplicationCommand("  IDENTIFY_SYSTEM ; "));
  EXPECT_FALSE(IsReplicationCommand("identify_system"));
  EXPECT_FALSE(IsReplicationCommand("SELECT 1"));
  EXPECT_FALSE(IsReplicationCommand(""));
}

TEST(CommandTest, ParsesWhatPostgresClientsSend) {
  auto c = ParseCommand("START_REPLICATION SLOT \"rwslot\" 0/8000000 TIMELINE 1");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kind, CommandKind::kStartReplication);
  EXPECT_EQ(c->name, "rwslot");
  EXPECT_EQ(c->start, Lsn(0x8000000));
  EXPECT_EQ(c->tli, 1u);
  c = ParseCommand("START_REPLICATION PHYSICAL 16/B374D848");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->start, Lsn((0x16ull << 32) | 0xB374D848));
  EXPECT_EQ(c->tli, 0u);
  c = ParseCommand(
      "CREATE_REPLICATION_SLOT \"pg_basebackup_29285\" TEMPORARY PHYSICAL ( "
      "RESERVE_WAL)");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->temporary);
  ASSERT_EQ(c->options.size(), 1u);
  EXPECT_EQ(c->options[0].name, "reserve_wal");
  c = ParseCommand("CREATE_REPLICATION_SLOT s PHYSICAL RESERVE_WAL");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->options.size(), 1u);
  c = ParseCommand(
      "BASE_BACKUP ( LABEL 'pg_basebackup base backup',  PROGRESS,  CHECKPOINT "
      "'fast',  WAIT 0,  MANIFEST 'yes',  TARGET 'client')");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->options.size(), 6u);
  EXPECT_EQ(c->options[0].value.value_or(""), "pg_basebackup base backup");
  EXPECT_FALSE(c->options[1].value.has_value());
  EXPECT_EQ(c->options[3].value.value_or(""), "0");
  c = ParseCommand("DROP_REPLICATION_SLOT S_Unquoted WAIT");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "s_unquoted");
  EXPECT_TRUE(c->wait);
  c = ParseCommand("SHOW \"wal_segment_size\";");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "wal_segment_size");
  c = ParseCommand("BASE_BACKUP (LABEL 'it''s')");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->options[0].value.value_or(""), "it's");
}

TEST(CommandTest, GrammarErrors) {
  for (const char* bad :
       {"START_REPLICATION", "START_REPLICATION 0/0 TIMELINE", "BASE_BACKUP LABEL 'x'",
        "CREATE_REPLICATION_SLOT bad-name PHYSICAL", "IDENTIFY_SYSTEM extra", "TIMELINE_HISTORY",
        "SHOW", "BASE_BACKUP (LABEL 'x'"}) {
    auto c = ParseCommand(bad);
    EXPECT_FALSE(c.ok()) << bad;
    if (!c.ok()) {
      EXPECT_EQ(c.status().sqlstate(), "42601") << bad;
    }
  }
  auto c = ParseCommand("TIMELINE_HISTORY 0");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "invalid timeline 0");
}

TEST(SlotsTest, PersistAcrossReload) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/pg_replslot");
  {
    SlotManager m(io::DefaultFileSystem(), dir.path(), 2);
    ASSERT_TRUE(m.Load().ok());
    ASSERT_TRUE(m.Create("keep", false, Lsn(0x1000028), 0).ok());
    ASSERT_TRUE(m.Create("tmp", true, Lsn(), 42).ok());
    EXPECT_EQ(m.Create("third", false, Lsn(), 0).sqlstate(), "53400");
    EXPECT_EQ(m.Create("keep", false, Lsn(), 0).sqlstate(), "42710");
    EXPECT_EQ(m.Create("Bad", false, Lsn(), 0).sqlstate(), "42602");
    EXPECT_EQ(m.Acquire("tmp", 7).status().sqlstate(), "55006");
    ASSERT_TRUE(m.Acquire("keep", 7).ok());
    EXPECT_EQ(m.Drop("keep", false, 8).sqlstate(), "55006");
    m.SetRestartLsn("keep", Lsn(0x3000000));
    EXPECT_EQ(m.MinRestartLsn(), Lsn(0x3000000));
    ASSERT_TRUE(m.SaveDirty().ok());
    m.CleanupSession(42);  // the temporary slot goes
    EXPECT_FALSE(m.Find("tmp").has_value());
    m.CleanupSession(7);
    EXPECT_EQ(m.Find("keep")->active_pid, 0);
  }
  SlotManager again(io::DefaultFileSystem(), dir.path(), 2);
  ASSERT_TRUE(again.Load().ok());
  auto s = again.Find("keep");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->restart_lsn, Lsn(0x3000000));
  EXPECT_FALSE(again.Find("tmp").has_value());
  ASSERT_TRUE(again.Drop("keep", false, 1).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/pg_replslot/keep"));
}

TEST(BaseBackupTest, ManifestChecksumsAsPostgresPrintsThem) {
  // CRC32C("15\n") = 0x2247748a, printed in little-endian byte order.
  EXPECT_EQ(ManifestChecksum("CRC32C", "15\n"), "8a744722");
  EXPECT_EQ(ManifestChecksum("CRC32C", ""), "00000000");
  EXPECT_EQ(ManifestChecksum("SHA256", ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(BaseBackupTest, TarHeaderIsValidUstar) {
  std::string h = TarHeader("base/5/16384", 8192, 1700000000, false);
  ASSERT_EQ(h.size(), 512u);
  EXPECT_EQ(h.substr(0, 12), "base/5/16384");
  EXPECT_EQ(h.substr(257, 6), std::string("ustar\0", 6));
  EXPECT_EQ(h[156], '0');
  EXPECT_EQ(h.substr(124, 12), "00000020000 ");
  // The checksum covers the header with its own field as spaces.
  std::string copy = h;
  std::fill(copy.begin() + 148, copy.begin() + 156, ' ');
  unsigned sum = 0;
  for (unsigned char c : copy) sum += c;
  EXPECT_EQ(std::stoul(h.substr(148, 6), nullptr, 8), sum);
  std::string d = TarHeader("pg_wal/", 0, 0, true);
  EXPECT_EQ(d[156], '5');
}

// Slot files are written outside the slot manager's mutex: walsenders advancing their slots
// (every standby reply) do not wait for a checkpoint's slot fsyncs.
TEST(SlotsTest, SlotUpdatesDoNotWaitForSlotFileFsyncs) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/pg_replslot");
  testing::StallingFileSystem fs(io::DefaultFileSystem());
  SlotManager m(&fs, dir.path(), 4);
  ASSERT_TRUE(m.Load().ok());
  ASSERT_TRUE(m.Create("a", false, Lsn(0x1000000), 0).ok());
  m.SetRestartLsn("a", Lsn(0x2000000));
  fs.Stall();
  std::thread checkpoint([&] { EXPECT_TRUE(m.SaveDirty().ok()); });
  ASSERT_TRUE(testing::WaitUntil([&] { return fs.waiting() > 0; }, 10));
  std::atomic<bool> done{false};
  std::thread walsender([&] {
    ASSERT_TRUE(m.Acquire("a", 7).ok());
    m.SetRestartLsn("a", Lsn(0x3000000));
    EXPECT_EQ(m.MinRestartLsn(), Lsn(0x3000000));
    m.Release("a", 7);
    done = true;
  });
  bool proceeded = testing::WaitUntil([&] { return done.load(); }, 10);
  fs.Release();
  checkpoint.join();
  walsender.join();
  EXPECT_TRUE(proceeded) << "a slot update waited for a slot file's fsync";
  // The update made meanwhile is saved by the next SaveDirty.
  ASSERT_TRUE(m.SaveDirty().ok());
  SlotManager again(io::DefaultFileSystem(), dir.path(), 4);
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.Find("a")->restart_lsn, Lsn(0x3000000));
  // A slot dropped while its file is being saved does not come back.
  m.SetRestartLsn("a", Lsn(0x4000000));
  fs.Stall();
  std::thread save([&] { EXPECT_TRUE(m.SaveDirty().ok()); });
  ASSERT_TRUE(testing::WaitUntil([&] { return fs.waiting() > 0; }, 10));
  std::thread drop([&] { EXPECT_TRUE(m.Drop("a", false, 1).ok()); });
  ASSERT_TRUE(testing::WaitUntil([&] { return !m.Find("a").has_value(); }, 10));
  fs.Release();
  save.join();
  drop.join();
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/pg_replslot/a"));
}

}  // namespace
}  // namespace walrep::replication
