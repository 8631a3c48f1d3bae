// walrep: acknowledged means durable. WAL is written through a FaultInjectionFileSystem, a power
// loss is simulated at many random points (dropping all or a random part of what was never
// fsynced), and recovery must replay every acknowledged record — and nothing that is not a
// prefix of what was written.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "fault_injection_fs.h"
#include "testing.h"
#include "walrep/storage/xlog.h"

namespace walrep::storage {
namespace {

constexpr uint8_t kTestRmgr = 200;

struct Cluster {
  testing::TempDir dir;
  testing::FaultInjectionFileSystem fs{io::DefaultFileSystem()};
  Cluster() {
    std::filesystem::create_directories(dir.path() + "/global");
    std::filesystem::create_directories(dir.path() + "/pg_wal");
    ControlFileData c = NewControlFile(false);
    EXPECT_TRUE(WriteControlFile(&fs, dir.path(), c).ok());
    EXPECT_TRUE(XLog::Bootstrap(&fs, dir.path(), &c).ok());
  }
  XLogOptions Options() {
    XLogOptions o;
    o.fs = &fs;
    o.data_dir = dir.path();
    o.log_checkpoints = false;
    o.wal_buffers = 32 * 1024;  // small, so inserters also write out full buffers
    o.wal_writer_delay = std::chrono::milliseconds(1);
    return o;
  }
};

TEST(XLogCrashTest, AcknowledgedRecordsSurviveRandomPowerLoss) {
  std::mt19937 rng(20261122);
  for (int round = 0; round < 40; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    Cluster cluster;
    std::vector<int> inserted;  // record ids in WAL order, across incarnations
    std::set<int> acknowledged;
    int next_id = 0;
    for (int incarnation = 0; incarnation < 3; incarnation++) {
      std::vector<int> replayed;
      RecoveryResult rr;
      auto x = XLog::Open(
          cluster.Options(),
          [&](wal::DecodedRecord* r) -> Status {
            if (r->rmid == kTestRmgr) replayed.push_back(std::stoi(r->main_data));
            return Status::OK();
          },
          &rr);
      ASSERT_TRUE(x.ok()) << x.status().ToString();
      ASSERT_TRUE((*x)->Checkpoint(false, "end-of-recovery").ok());
      // Replay covers everything since the last checkpoint's REDO point, so compare against the
      // ids inserted since then: a contiguous run ending somewhere after the last acked id.
      if (!replayed.empty()) {
        auto first = std::find(inserted.begin(), inserted.end(), replayed.front());
        ASSERT_NE(first, inserted.end());
        for (size_t i = 0; i < replayed.size(); i++) {
          ASSERT_LT(first + i, inserted.end()) << "replayed a record that was never written";
          ASSERT_EQ(*(first + i), replayed[i]) << "replay is not a prefix of the written WAL";
        }
        // Nothing after the replayed run was acknowledged.
        for (auto it = first + replayed.size(); it != inserted.end(); ++it) {
          ASSERT_FALSE(acknowledged.count(*it)) << "acknowledged record " << *it << " lost";
        }
      } else {
        ASSERT_TRUE(acknowledged.empty())
            << "acknowledged record " << *acknowledged.begin() << " lost";
      }
      // Recovery ended with a checkpoint: the next incarnation replays only newer records.
      inserted.clear();
      acknowledged.clear();
      // A workload: records of random sizes, some acknowledged, the odd checkpoint or switch.
      int ops = 50 + static_cast<int>(rng() % 400);
      for (int i = 0; i < ops; i++) {
        int id = next_id++;
        std::string body = wal::RecordBuilder()
                               .SetMainData(std::to_string(id) + std::string(rng() % 3000, 'x'))
                               .BuildBody();
        // Keep the payload parseable by stoi: digits first, then filler.
        auto pos = (*x)->writer().Insert(kTestRmgr, 0, 0, body);
        ASSERT_TRUE(pos.ok());
        inserted.push_back(id);
        uint32_t dice = rng() % 100;
        if (dice < 30) {
          ASSERT_TRUE((*x)->writer().Flush(pos->end).ok());
          acknowledged.insert(id);
        } else if (dice == 30) {
          ASSERT_TRUE((*x)->Checkpoint(false, "test").ok());
          // Records before the checkpoint are durable and no longer replayed.
          for (int done : inserted) acknowledged.erase(done);
          inserted.clear();
        } else if (dice == 31) {
          ASSERT_TRUE((*x)->SwitchWal().ok());
        }
      }
      (*x)->AbandonForTest();
      x->reset();
      cluster.fs.DropUnsyncedData(/*keep_random_prefix=*/rng() % 2 == 0,
                                  static_cast<uint32_t>(rng()));
    }
  }
}

}  // namespace
}  // namespace walrep::storage
