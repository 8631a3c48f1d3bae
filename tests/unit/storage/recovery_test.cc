// walrep: the recovery state machine — crash recovery ends where the WAL ends; a standby's
// recovery only ends through a promotion, which starts a new timeline (history file, switch
// segment, END_OF_RECOVERY) that a later crash recovery follows; a newer timeline is adopted
// only when it branched at or after the replay position.
#include "walrep/storage/recovery.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "testing.h"
#include "walrep/storage/xlog.h"

namespace walrep::storage {
namespace {

constexpr uint8_t kTestRmgr = 200;

struct Cluster {
  testing::TempDir dir;
  io::FileSystem* fs = io::DefaultFileSystem();
  Cluster() {
    std::filesystem::create_directories(dir.path() + "/global");
    std::filesystem::create_directories(dir.path() + "/pg_wal");
    ControlFileData c = NewControlFile(false);
    EXPECT_TRUE(WriteControlFile(fs, dir.path(), c).ok());
    EXPECT_TRUE(XLog::Bootstrap(fs, dir.path(), &c).ok());
  }
  XLogOptions Options(bool standby) {
    XLogOptions o;
    o.fs = fs;
    o.data_dir = dir.path();
    o.log_checkpoints = false;
    o.standby = standby;
    return o;
  }
  // Opens, counting the test records replayed.
  std::unique_ptr<XLog> Open(bool standby, RecoveryResult* rr, int* replayed) {
    auto x = XLog::Open(
        Options(standby),
        [replayed](wal::DecodedRecord* r) -> Status {
          if (r->rmid == kTestRmgr) (*replayed)++;
          return Status::OK();
        },
        rr);
    EXPECT_TRUE(x.ok()) << x.status().ToString();
    return x.ok() ? std::move(*x) : nullptr;
  }
  void Write(XLog* x, int n) {
    for (int i = 0; i < n; i++) {
      auto pos = x->writer().Insert(
          kTestRmgr, 0, 0, wal::RecordBuilder().SetMainData(std::to_string(i)).BuildBody());
      ASSERT_TRUE(pos.ok());
    }
    ASSERT_TRUE(x->writer().FlushAll().ok());
  }
  std::string Read(const std::string& rel) { return *fs->ReadFile(dir.path() + "/" + rel); }
};

TEST(RecoveryTest, RecoveryTargetXidOutOfRangeIsAnErrorNotACrash) {
  auto target = [](std::string xid) {
    return RecoveryTarget::FromSettings(
        [xid](const char* name) { return std::string(name) == "recovery_target_xid" ? xid : ""; });
  };
  auto ok = target("18446744073709551615");  // the largest epoch-qualified xid: its low half
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->xid, 0xFFFFFFFFu);
  // Twenty digits past 2^64 made std::stoull throw, and the exception ended the server.
  for (const char* bad : {"99999999999999999999", "123456789012345678901", "12x", "-1"}) {
    auto r = target(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(RecoveryTest, StandbyEndsOnlyThroughPromotionOnANewTimeline) {
  Cluster c;
  {
    RecoveryResult rr;
    int n = 0;
    auto x = c.Open(false, &rr, &n);
    ASSERT_TRUE(x);
    EXPECT_EQ(rr.recovery, nullptr);  // crash recovery ended inside Open
    c.Write(x.get(), 10);
    ASSERT_TRUE(x->Shutdown().ok());
  }
  RecoveryResult rr;
  int n = 0;
  auto x = c.Open(true, &rr, &n);
  ASSERT_TRUE(x);
  ASSERT_NE(rr.recovery, nullptr);
  Recovery& r = *rr.recovery;
  EXPECT_EQ(r.state(), Recovery::State::kStandby);
  EXPECT_EQ(r.position(), rr.end);
  EXPECT_FALSE(r.ReadNext().ok());  // the end of the WAL, for now
  EXPECT_FALSE(r.Finish().ok());    // a standby ends only through a promotion
  // A timeline that forked before the replay position is not followed.
  ASSERT_TRUE(wal::WriteTimelineHistory(c.fs, c.dir.path() + "/pg_wal", 2, 1,
                                        Lsn(r.position().value() - 8), "elsewhere")
                  .ok());
  EXPECT_FALSE(r.RescanLatestTimeline("latest"));
  EXPECT_EQ(x->history().front().tli, 1u);
  r.BeginPromotion();
  EXPECT_EQ(r.state(), Recovery::State::kPromoting);
  Lsn end = r.position();
  auto tli = r.Finish();
  ASSERT_TRUE(tli.ok()) << tli.status().ToString();
  EXPECT_EQ(*tli, 3u);  // one above the highest timeline pg_wal knows of
  EXPECT_EQ(r.state(), Recovery::State::kDone);
  EXPECT_EQ(c.Read("pg_wal/00000003.history"),
            "1\t" + end.ToString() + "\tno recovery target specified\n");
  EXPECT_EQ(x->timeline(), 3u);
  ASSERT_TRUE(x->SetInProduction().ok());
  c.Write(x.get(), 5);
  x->AbandonForTest();  // a crash right after the promotion
  x.reset();
  // Crash recovery follows timeline 3 through its END_OF_RECOVERY record and keeps writing on it.
  RecoveryResult rr2;
  int n2 = 0;
  auto y = c.Open(false, &rr2, &n2);
  ASSERT_TRUE(y);
  EXPECT_EQ(y->timeline(), 3u);
  EXPECT_EQ(y->writer().options().tli, 3u);
  EXPECT_EQ(n2, 5);
}

TEST(RecoveryTest, StandbyAdoptsATimelineThatBranchesAtOrAfterItsPosition) {
  Cluster c;
  {
    RecoveryResult rr;
    int n = 0;
    auto x = c.Open(false, &rr, &n);
    ASSERT_TRUE(x);
    ASSERT_TRUE(x->Shutdown().ok());
  }
  RecoveryResult rr;
  int n = 0;
  auto x = c.Open(true, &rr, &n);
  ASSERT_TRUE(x);
  Recovery& r = *rr.recovery;
  EXPECT_FALSE(r.RescanLatestTimeline("latest"));  // nothing newer
  ASSERT_TRUE(wal::WriteTimelineHistory(c.fs, c.dir.path() + "/pg_wal", 2, 1, r.position(),
                                        "no recovery target specified")
                  .ok());
  EXPECT_FALSE(r.RescanLatestTimeline("current"));
  EXPECT_TRUE(r.RescanLatestTimeline("latest"));
  EXPECT_EQ(x->history().front().tli, 2u);
}

// A checkpoint's buffer flush (its hook) runs without XLog's state mutex: pg_control's copy,
// the timeline history and a restartpoint-free read path stay available meanwhile (before,
// XLog::mu_ was held for the whole checkpoint).
TEST(RecoveryTest, CheckpointFlushHoldsNoStateLock) {
  Cluster c;
  RecoveryResult rr;
  int n = 0;
  auto x = c.Open(false, &rr, &n);
  ASSERT_TRUE(x);
  std::atomic<bool> in_flush{false};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  x->SetCheckpointHook([&](wal::CheckPoint*, uint64_t*) -> Status {
    in_flush = true;
    released.wait();  // the flush "takes" until the test has checked what it must not block
    return Status::OK();
  });
  std::thread checkpoint([&] { EXPECT_TRUE(x->Checkpoint(false, "test").ok()); });
  ASSERT_TRUE(testing::WaitUntil([&] { return in_flush.load(); }, 10));
  std::atomic<bool> done{false};
  std::thread reader([&] {
    ControlFileData cf = x->control();
    EXPECT_NE(cf.checkpoint, 0u);
    EXPECT_TRUE(x->consistent());
    (void)x->history();
    done = true;
  });
  bool proceeded = testing::WaitUntil([&] { return done.load(); }, 10);
  release.set_value();
  checkpoint.join();
  reader.join();
  EXPECT_TRUE(proceeded) << "pg_control's state waited for the checkpoint's buffer flush";
  ASSERT_TRUE(x->Shutdown().ok());
}

}  // namespace
}  // namespace walrep::storage
