// walrep: WAL framing, insertion, group flush and reading back — including PostgreSQL 15's
// pg_waldump as the judge of the bytes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "testing.h"
#include "walrep/common/crc32c.h"
#include "walrep/wal/wal_reader.h"
#include "walrep/wal/wal_writer.h"

namespace walrep::wal {
namespace {

std::string Hex(std::string_view s) {
  std::string o;
  for (unsigned char c : s) o += "0123456789abcdef"[c >> 4], o += "0123456789abcdef"[c & 15];
  return o;
}

TEST(XlogFormatTest, MatchesReferenceBytes) {
  // shared/reference/wal-format.md section 9: "hello world" in rmid 128 at 0/10000A0.
  RecordBuilder b;
  b.SetMainData("hello world");
  std::string rec = AssembleRecord(0, Lsn(0x1000028), 0, 128, b.BuildBody());
  EXPECT_EQ(Hex(rec), "2500000000000000280000010000000000800000f0f30793ff0b68656c6c6f20776f726c64");
  // XLOG_SWITCH at 0/1005310 with prev 0/10052E0.
  EXPECT_EQ(Hex(AssembleRecord(0, Lsn(0x10052E0), kXlogSwitch, kRmXlog, "")),
            "1800000000000000e05200010000000040000000f6432ebc");
  EXPECT_EQ(XLogFileName(1, 10, kDefaultSegSize), "00000001000000000000000A");
  EXPECT_EQ(XLogFileName(1, 0x16B3, kDefaultSegSize), "0000000100000016000000B3");
  TimelineId tli;
  XLogSegNo segno;
  ASSERT_TRUE(ParseXLogFileName("0000000100000016000000B3", kDefaultSegSize, &tli, &segno));
  EXPECT_EQ(segno, 0x16B3u);
  EXPECT_FALSE(ParseXLogFileName("00000001000000000000000a", kDefaultSegSize, &tli, &segno));
}

TEST(XlogFormatTest, BlockReferencesRoundTrip) {
  std::string page(kBlcksz, '\0');
  uint16_t lower = 40, upper = 8000;
  std::memcpy(page.data() + 12, &lower, 2);
  std::memcpy(page.data() + 14, &upper, 2);
  for (size_t i = 16; i < 40; i++) page[i] = static_cast<char>(i + 1);
  for (size_t i = 8000; i < kBlcksz; i++) page[i] = static_cast<char>(i);
  BlockRef a;
  a.id = 0;
  a.rnode = {1663, 5, 16384};
  a.block = 7;
  a.has_image = true;
  a.apply_image = true;
  a.image = page;
  a.data = "abc";
  BlockRef c;
  c.id = 1;
  c.rnode = {1663, 5, 16384};
  c.block = 9;
  c.data = "xyz";
  RecordBuilder b;
  b.AddBlock(a).AddBlock(c).SetMainData(std::string(300, 'm'));
  std::string rec = AssembleRecord(42, Lsn(0x1000028), 0x10, 130, b.BuildBody());
  // The hole is not stored.
  EXPECT_LT(rec.size(), 24u + 40 + 192 + 300 + 60);
  auto d = DecodeRecord(rec, Lsn(0x1000100));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->xid, 42u);
  ASSERT_EQ(d->blocks.size(), 2u);
  EXPECT_EQ(d->blocks[0].image, page);
  EXPECT_TRUE(d->blocks[0].apply_image);
  EXPECT_EQ(d->blocks[0].data, "abc");
  EXPECT_EQ(d->blocks[1].rnode.rel, 16384u);  // BKPBLOCK_SAME_REL
  EXPECT_EQ(d->blocks[1].block, 9u);
  EXPECT_EQ(d->main_data, std::string(300, 'm'));
  // One flipped bit anywhere fails the CRC.
  for (size_t i : {0ul, 17ul, 30ul, rec.size() - 1}) {
    std::string bad = rec;
    bad[i] ^= 1;
    EXPECT_FALSE(DecodeRecord(bad, Lsn(0x1000100)).ok()) << i;
  }
}

class WalTest : public ::testing::Test {
 protected:
  WalWriterOptions Options() {
    WalWriterOptions o;
    o.fs = io::DefaultFileSystem();
    o.wal_dir = dir_.path();
    o.sysid = 7300000000000000001ULL;
    o.fsync = false;
    o.buffer_bytes = 64 * 1024;
    return o;
  }
  static constexpr uint64_t kSegStart = 0x1000000;                     // 0/1000000
  static constexpr uint64_t kStart = kSegStart + kLongPageHeaderSize;  // first record
  testing::TempDir dir_;
};

TEST_F(WalTest, RecordsOfEverySizeReadBack) {
  WalWriter w(Options(), Lsn(kSegStart), Lsn());
  std::mt19937 rng(1);
  std::vector<std::pair<Lsn, std::string>> written;
  for (int i = 0; i < 400; i++) {
    size_t len = i % 50 == 0 ? 20000 + rng() % 40000 : rng() % 300;
    if (i == 399) len = 17 * 1024 * 1024;  // bigger than a segment
    std::string data(len, static_cast<char>('a' + i % 26));
    auto p = w.Insert(130, 0x10, static_cast<TransactionId>(i),
                      RecordBuilder().SetMainData(data).BuildBody());
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->start.value() % 8, 0u);
    written.emplace_back(p->start, data);
  }
  ASSERT_TRUE(w.FlushAll().ok());
  EXPECT_EQ(w.flush_lsn(), w.insert_lsn());
  WalReader r(io::DefaultFileSystem(), dir_.path(), 1);
  Lsn prev;
  for (size_t i = 0; i < written.size(); i++) {
    auto rec = r.ReadRecord(written[i].first, prev);
    ASSERT_TRUE(rec.ok()) << i << ": " << rec.status().ToString();
    EXPECT_EQ(rec->main_data, written[i].second);
    EXPECT_EQ(rec->xid, i);
    prev = rec->lsn;
  }
  auto end = r.FindEnd(Lsn(kStart));
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->last_record, written.back().first);
  EXPECT_EQ(end->end, w.insert_lsn());
  EXPECT_NE(end->reason.message().find("wanted 24, got 0"), std::string::npos);
}

// A reader that reached the end of WAL finds records written after it read ahead (a standby's
// startup thread reads while the receiver appends).
TEST_F(WalTest, ReaderSeesRecordsWrittenAfterItReadAhead) {
  WalWriter w(Options(), Lsn(kSegStart), Lsn());
  WalReader r(io::DefaultFileSystem(), dir_.path(), 1);
  Lsn prev, next(kStart);
  for (int round = 0; round < 20; round++) {
    std::vector<Lsn> starts;
    for (int i = 0; i < 5; i++) {
      auto p =
          w.Insert(130, 0x10, static_cast<TransactionId>(round * 10 + i),
                   RecordBuilder().SetMainData(std::string(100 + round * 37, 'x')).BuildBody());
      ASSERT_TRUE(p.ok());
      starts.push_back(p->start);
    }
    ASSERT_TRUE(w.FlushAll().ok());
    for (Lsn start : starts) {
      auto rec = r.ReadRecord(next, prev);
      ASSERT_TRUE(rec.ok()) << round << ": " << rec.status().ToString();
      EXPECT_EQ(rec->lsn, start);
      prev = rec->lsn;
      next = r.NextRecordLsn(*rec);
    }
    EXPECT_FALSE(r.ReadRecord(next, prev).ok()) << "nothing more was written yet";
  }
}

TEST_F(WalTest, ConcurrentInsertersAndGroupCommit) {
  auto o = Options();
  o.fsync = true;
  WalWriter w(o, Lsn(kSegStart), Lsn());
  w.StartBackgroundWriter();
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  constexpr int kThreads = 8, kPerThread = 200;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        std::string body =
            RecordBuilder().SetMainData(std::to_string(t) + ":" + std::to_string(i)).BuildBody();
        auto p = w.Insert(130, 0, t + 1, body);
        ASSERT_TRUE(p.ok());
        ASSERT_TRUE(w.Flush(p->end).ok());
        ASSERT_GE(w.flush_lsn(), p->end);  // acknowledged means flushed
        done++;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(w.Stop().ok());
  WalReader r(io::DefaultFileSystem(), dir_.path(), 1);
  std::set<std::string> seen;
  Lsn pos(kStart), prev;
  for (int i = 0; i < kThreads * kPerThread; i++) {
    auto rec = r.ReadRecord(pos, prev);
    ASSERT_TRUE(rec.ok()) << rec.status().ToString();
    seen.insert(rec->main_data);
    prev = rec->lsn;
    pos = r.NextRecordLsn(*rec);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_FALSE(r.ReadRecord(pos, prev).ok());
}

TEST_F(WalTest, TornTailEndsWalAtLastGoodRecord) {
  WalWriter w(Options(), Lsn(kSegStart), Lsn());
  std::vector<Lsn> starts;
  for (int i = 0; i < 50; i++) {
    auto p = w.Insert(130, 0, 0, RecordBuilder().SetMainData(std::string(500, 'x')).BuildBody());
    starts.push_back(p->start);
  }
  ASSERT_TRUE(w.FlushAll().ok());
  // Corrupt one byte inside record 30, as a torn write would.
  std::string seg = dir_.path() + "/" + XLogFileName(1, 1, kDefaultSegSize);
  std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(starts[30].value() % kDefaultSegSize + 100));
  f.put('\x55');
  f.close();
  WalReader r(io::DefaultFileSystem(), dir_.path(), 1);
  auto end = r.FindEnd(Lsn(kStart));
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->last_record, starts[29]);
  EXPECT_EQ(end->end, starts[30]);
  EXPECT_NE(end->reason.message().find("incorrect resource manager data checksum"),
            std::string::npos);
}

// A server's pg_wal may keep an older timeline's files past that timeline's switch point (a
// rewound old primary's own discarded writes). The reader follows the history: it never
// returns a record at or past the switch point from the older file, nor a page the older
// timeline wrote where the history has the newer one, even while the newer timeline's file
// for that segment has not arrived; once it has, that file is read.
TEST_F(WalTest, OldTimelineFilesAreNotReadPastTheirSwitchPoint) {
  auto insert = [](WalWriter& w, TransactionId xid, const std::string& data) {
    auto p = w.Insert(130, 0x10, xid, RecordBuilder().SetMainData(data).BuildBody());
    EXPECT_TRUE(p.ok());
    return p.ok() ? p->start : Lsn();
  };
  Lsn common, diverged_same_page, diverged_next_segment;
  Lsn switch_point;
  {
    WalWriter w(Options(), Lsn(kSegStart), Lsn());
    common = insert(w, 1, "common");
    switch_point = Lsn(MaxAlign(w.insert_lsn().value()));
    diverged_same_page = insert(w, 2, "discarded, same page");
    ASSERT_TRUE(w.SwitchSegment().ok());
    diverged_next_segment = insert(w, 3, "discarded, next segment");
    ASSERT_TRUE(w.FlushAll().ok());
  }
  ASSERT_EQ(diverged_same_page, switch_point);
  ASSERT_EQ(diverged_next_segment.value(), 2 * kSegStart + kLongPageHeaderSize);
  TimelineHistory history{TimelineEntry{2, switch_point, Lsn()},
                          TimelineEntry{1, Lsn(), switch_point}};
  WalReader r(io::DefaultFileSystem(), dir_.path(), history);
  auto rec = r.ReadRecord(common);
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_EQ(rec->main_data, "common");
  EXPECT_FALSE(r.ReadRecord(diverged_same_page).ok());
  auto next = r.ReadRecord(diverged_next_segment);
  ASSERT_FALSE(next.ok()) << next->main_data;
  EXPECT_NE(next.status().message().find("out-of-sequence timeline ID 1 (after 2)"),
            std::string::npos)
      << next.status().ToString();
  // Timeline 2's file of the next segment arrives: it is read, not the cached older one.
  WalWriterOptions o = Options();
  o.tli = 2;
  {
    WalWriter w2(o, Lsn(2 * kSegStart), Lsn());
    insert(w2, 4, "timeline 2");
    ASSERT_TRUE(w2.FlushAll().ok());
  }
  auto mine = r.ReadRecord(diverged_next_segment);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  EXPECT_EQ(mine->main_data, "timeline 2");
  EXPECT_EQ(r.file_timeline(), 2u);
}

TEST_F(WalTest, SwitchAndPgWaldumpAcceptsEverySegment) {
  WalWriter w(Options(), Lsn(kSegStart), Lsn());
  CheckPoint cp;
  cp.redo = kStart;
  cp.next_xid = 3;
  cp.next_oid = 16384;
  ASSERT_TRUE(w.Insert(kRmXlog, kXlogCheckpointShutdown, 0,
                       RecordBuilder().SetMainData(EncodeCheckPoint(cp)).BuildBody())
                  .ok());
  for (int i = 0; i < 3000; i++) {
    std::string xact_time(8, '\0');
    ASSERT_TRUE(
        w.Insert(kRmXact, kXactCommit, 1000 + i, RecordBuilder().SetMainData(xact_time).BuildBody())
            .ok());
    ASSERT_TRUE(w.Insert(131, 0x20, 1000 + i,
                         RecordBuilder().SetMainData(std::string(i % 7000, 'p')).BuildBody())
                    .ok());
  }
  {
    // Block references without main data, one with a full-page image that has a hole.
    std::string page(kBlcksz, '\0');
    uint16_t lower = 28, upper = 8000;
    std::memcpy(page.data() + 12, &lower, 2);
    std::memcpy(page.data() + 14, &upper, 2);
    BlockRef img;
    img.rnode = {1663, 5, 16385};
    img.block = 0;
    img.has_image = img.apply_image = true;
    img.image = page;
    img.data = "after-image";
    BlockRef plain;
    plain.id = 1;
    plain.rnode = {1663, 5, 16385};
    plain.block = 9;
    plain.data = "redo-data";
    std::string body = RecordBuilder().AddBlock(img).AddBlock(plain).BuildBody();
    auto pos = w.Insert(128, 0x10, 77, body);
    ASSERT_TRUE(pos.ok());
    auto back = DecodeRecord(AssembleRecord(77, Lsn(1), 0x10, 128, body), Lsn(2));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_EQ(back->blocks.size(), 2u);
    EXPECT_EQ(back->blocks[1].data, "redo-data");
    EXPECT_TRUE(back->main_data.empty());
  }
  auto sw = w.SwitchSegment();
  ASSERT_TRUE(sw.ok() && sw->has_value());
  auto after = w.Insert(kRmXlog, kXlogNoop, 0, RecordBuilder().SetMainData("x").BuildBody());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->start.value() % kDefaultSegSize, kLongPageHeaderSize);
  auto sw2 = w.SwitchSegment();
  ASSERT_TRUE(sw2.ok() && sw2->has_value());
  ASSERT_TRUE(w.FlushAll().ok());
  // Every segment written (the next one may already be preallocated, all zeros).
  std::vector<std::string> segs;
  XLogSegNo last = SegmentOf(Lsn(w.flush_lsn().value() - 1), kDefaultSegSize);
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    TimelineId tli;
    XLogSegNo segno;
    std::string name = e.path().filename().string();
    if (ParseXLogFileName(name, kDefaultSegSize, &tli, &segno) && segno <= last) {
      segs.push_back(name);
    }
  }
  std::sort(segs.begin(), segs.end());
  ASSERT_GE(segs.size(), 2u);
  testing::CommandResult r = testing::RunCommand(
      {testing::PgBin("pg_waldump"), "-p", dir_.path(), segs.front(), segs.back()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("desc: CHECKPOINT_SHUTDOWN redo 0/1000028"), std::string::npos);
  EXPECT_NE(r.out.find("desc: COMMIT 2000-01-01 00:00:00.000000 UTC"), std::string::npos);
  EXPECT_NE(r.out.find("desc: SWITCH"), std::string::npos);
  EXPECT_NE(r.out.find("rmgr: custom131"), std::string::npos);
  EXPECT_NE(r.out.find("blkref #0: rel 1663/5/16385 blk 0 FPW, blkref #1: rel 1663/5/16385 blk 9"),
            std::string::npos)
      << r.out;
  testing::CommandResult stats = testing::RunCommand(
      {testing::PgBin("pg_waldump"), "--stats", "-p", dir_.path(), segs.front(), segs.back()});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
}

// Counts the bytes appended to new files and the files allocated instead.
class CountingFs : public io::FileSystemWrapper {
 public:
  CountingFs() : io::FileSystemWrapper(io::DefaultFileSystem()) {}
  Result<std::unique_ptr<io::WritableFile>> NewWritableFile(const std::string& path) override {
    WALREP_ASSIGN_OR_RETURN(auto f, io::FileSystemWrapper::NewWritableFile(path));
    return std::unique_ptr<io::WritableFile>(new File(this, std::move(f)));
  }
  std::atomic<uint64_t> appended{0};
  std::atomic<int> allocated{0};

 private:
  class File : public io::WritableFile {
   public:
    File(CountingFs* fs, std::unique_ptr<io::WritableFile> base)
        : fs_(fs), base_(std::move(base)) {}
    Status Append(std::string_view data) override {
      fs_->appended += data.size();
      return base_->Append(data);
    }
    Status Allocate(uint64_t size) override {
      fs_->allocated++;
      return base_->Allocate(size);
    }
    Status Sync() override { return base_->Sync(); }
    Status Close() override { return base_->Close(); }

   private:
    CountingFs* fs_;
    std::unique_ptr<io::WritableFile> base_;
  };
};

// wal_init_zero = on writes every new segment with zeros; off reserves it with fallocate, and
// the WAL written into such a segment reads back the same.
TEST_F(WalTest, WalInitZeroDecidesHowSegmentsAreCreated) {
  for (bool zero : {true, false}) {
    SCOPED_TRACE(zero ? "wal_init_zero = on" : "wal_init_zero = off");
    testing::TempDir dir;
    CountingFs fs;
    std::atomic<bool> init_zero{zero};
    WalWriterOptions o = Options();
    o.fs = &fs;
    o.wal_dir = dir.path();
    o.init_zero = &init_zero;
    Lsn first, last;
    {
      WalWriter w(o, Lsn(kSegStart), Lsn());
      std::string row(1000, 'r');
      for (int i = 0; i < 20000; i++) {  // 20 MB: into the second segment
        auto p = w.Insert(130, 0x10, 1, RecordBuilder().SetMainData(row).BuildBody());
        ASSERT_TRUE(p.ok());
        if (i == 0) first = p->start;
        last = p->start;
      }
      ASSERT_TRUE(w.FlushAll().ok());
      ASSERT_TRUE(w.Stop().ok());
    }
    // Segments 1 and 2 were written, 3 was prepared ahead.
    for (XLogSegNo segno : {1, 2, 3}) {
      std::string path = dir.path() + "/" + XLogFileName(1, segno, kDefaultSegSize);
      ASSERT_TRUE(std::filesystem::exists(path)) << path;
      EXPECT_EQ(std::filesystem::file_size(path), kDefaultSegSize);
    }
    if (zero) {
      EXPECT_EQ(fs.allocated.load(), 0);
      EXPECT_GE(fs.appended.load(), 3 * kDefaultSegSize);
    } else {
      EXPECT_EQ(fs.allocated.load(), 3);
      EXPECT_EQ(fs.appended.load(), 0u);
    }
    WalReader r(io::DefaultFileSystem(), dir.path(), 1);
    auto end = r.FindEnd(first);
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(end->last_record, last);
  }
}

// A writer that will fill the segment at once (a walreceiver catching up) gets it allocated,
// without a zero-filled one prepared after it.
TEST_F(WalTest, SegmentsFilledAtOnceAreAllocatedWithoutOneAhead) {
  CountingFs fs;
  auto exists = [&](XLogSegNo segno) {
    return std::filesystem::exists(dir_.path() + "/" + XLogFileName(1, segno, kDefaultSegSize));
  };
  {
    SegmentPreallocator pre(&fs, dir_.path(), 1, kDefaultSegSize);
    ASSERT_TRUE(pre.Ensure(5, SegmentInit::kAllocate, /*ahead=*/false).ok());
    EXPECT_TRUE(exists(5));
    EXPECT_FALSE(exists(6));
    EXPECT_EQ(fs.allocated.load(), 1);
    EXPECT_EQ(fs.appended.load(), 0u);
    // In step with its upstream it zero-fills, and prepares the next segment the same way.
    ASSERT_TRUE(pre.Ensure(6, SegmentInit::kZeroFill).ok());
  }  // waits for the background creation
  EXPECT_TRUE(exists(7));
  EXPECT_FALSE(exists(8));
  EXPECT_EQ(fs.allocated.load(), 1);
  EXPECT_EQ(fs.appended.load(), 2 * kDefaultSegSize);
}

TEST(LsnWaiterTest, WaitsTimesOutAndShutsDown) {
  LsnWaiter w(Lsn(10));
  EXPECT_EQ(*w.WaitFor(Lsn(5)), Lsn(10));
  auto t = w.WaitFor(Lsn(20), std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
  EXPECT_EQ(t.status().code(), Status::Code::kTimedOut);
  std::thread adv([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    w.Advance(Lsn(25));
  });
  EXPECT_EQ(*w.WaitFor(Lsn(20)), Lsn(25));
  adv.join();
  w.Advance(Lsn(3));  // never goes back
  EXPECT_EQ(w.value(), Lsn(25));
  std::thread stop([&] { w.Shutdown(); });
  EXPECT_EQ(w.WaitFor(Lsn(100)).status().code(), Status::Code::kShutdown);
  stop.join();
  EXPECT_EQ(Lsn::Parse("16/B374D848")->value(), 0x16B374D848ull);
  EXPECT_EQ(Lsn(0x16B3748).ToString(), "0/16B3748");
}

}  // namespace
}  // namespace walrep::wal
