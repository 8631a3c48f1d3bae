// walrep: slotted pages and the buffer pool — eviction, WAL before data, checksums.
#include "walrep/storage/buffer_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "stalling_fs.h"
#include "testing.h"
#include "walrep/io/error_injection_file_system.h"

namespace walrep::storage {
namespace {

TEST(PageTest, AddReadCompact) {
  alignas(8) char buf[kPageSize];
  Page::Init(buf);
  Page p(buf);
  EXPECT_FALSE(p.IsNew());
  EXPECT_EQ(p.max_offset(), 0);
  OffsetNumber a = p.AddItem("hello");
  OffsetNumber b = p.AddItem(std::string(100, 'b'));
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(p.Item(1), "hello");
  size_t before = p.FreeSpace();
  p.SetState(1, ItemState::kDead);
  p.Compact();
  EXPECT_GT(p.FreeSpace(), before);
  EXPECT_EQ(p.Item(2), std::string(100, 'b'));
  EXPECT_EQ(p.state(1), ItemState::kDead);
  // Redo can place an item at a given offset.
  EXPECT_EQ(p.AddItem("x", 5), 5);
  EXPECT_EQ(p.state(4), ItemState::kUnused);
  EXPECT_EQ(p.Item(5), "x");
  int n = 0;
  while (p.AddItem(std::string(500, 'z'))) n++;
  EXPECT_GT(n, 10);
  EXPECT_LT(p.FreeSpace(), 508u);
  p.SetChecksum(7);
  EXPECT_TRUE(p.VerifyChecksum(7));
  EXPECT_FALSE(p.VerifyChecksum(8));  // the block number is part of the checksum
  buf[4000] ^= 1;
  EXPECT_FALSE(p.VerifyChecksum(7));
}

TEST(PageTest, DeleteItemsMovesLaterItemsDownAndFreesTheirSpace) {
  // An index page: a special area, items in key order.
  alignas(8) char buf[kPageSize];
  Page::Init(buf, 16);
  Page p(buf);
  std::vector<std::string> items;
  for (int i = 0; i < 40; i++)
    items.push_back(std::string(10 + i * 7, static_cast<char>('a' + i % 26)));
  for (const auto& it : items) ASSERT_NE(p.AddItem(it), 0);
  std::memcpy(buf + kPageSize - 16, "special-16-bytes", 16);
  p.DeleteItems({1, 2, 17, 40});
  ASSERT_EQ(p.max_offset(), 36);
  std::vector<std::string> kept;
  for (size_t i = 0; i < items.size(); i++) {
    if (i != 0 && i != 1 && i != 16 && i != 39) kept.push_back(items[i]);
  }
  for (OffsetNumber o = 1; o <= p.max_offset(); o++) {
    EXPECT_EQ(p.Item(o), kept[o - 1]) << o;
    EXPECT_EQ(p.state(o), ItemState::kNormal);
  }
  // Byte for byte the page built from the kept items: no space is lost to the removed ones.
  alignas(8) char fresh[kPageSize];
  Page::Init(fresh, 16);
  Page f(fresh);
  for (const auto& it : kept) ASSERT_NE(f.AddItem(it), 0);
  std::memcpy(fresh + kPageSize - 16, "special-16-bytes", 16);
  EXPECT_EQ(std::memcmp(buf, fresh, kPageSize), 0);
  p.DeleteItems({});
  EXPECT_EQ(std::memcmp(buf, fresh, kPageSize), 0);
}

TEST(BufferPoolTest, EvictionWritesBackAndRereads) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/base");
  Smgr smgr(io::DefaultFileSystem(), dir.path());
  RelFileNode rel{1663, 5, 16384};
  ASSERT_TRUE(smgr.Create(rel).ok());
  BufferPool pool(8, &smgr, nullptr, /*checksums=*/true);
  for (int i = 0; i < 40; i++) {
    auto h = pool.Extend(rel);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    h->LockExclusive();
    ASSERT_EQ(h->page().AddItem("block " + std::to_string(h->block())), 1);
    h->MarkDirty();
  }
  EXPECT_EQ(*pool.NBlocks(rel), 40u);
  EXPECT_GT(pool.writes(), 0u) << "8 frames for 40 pages: some were evicted";
  for (BlockNumber b = 0; b < 40; b++) {
    auto h = pool.Read(rel, b);
    ASSERT_TRUE(h.ok());
    h->LockShared();
    EXPECT_EQ(h->page().Item(1), "block " + std::to_string(b));
  }
  ASSERT_TRUE(pool.FlushAll().ok());
  // A flipped byte on disk is a checksum failure, not data.
  std::fstream f(smgr.Path(rel), std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(3 * kPageSize + 5000);
  f.put('\x42');
  f.close();
  BufferPool fresh(8, &smgr, nullptr, true);
  auto bad = fresh.Read(rel, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().sqlstate(), "XX001");
  EXPECT_EQ(bad.status().message(), "invalid page in block 3 of relation " + smgr.Path(rel));
  EXPECT_TRUE(fresh.Read(rel, 4).ok());
}

// Two pages written out, for the tests of errors while reading them back.
void WriteTwoPages(const std::string& dir, const RelFileNode& rel) {
  std::filesystem::create_directories(dir + "/base");
  Smgr smgr(io::DefaultFileSystem(), dir);
  ASSERT_TRUE(smgr.Create(rel).ok());
  BufferPool pool(8, &smgr, nullptr, /*checksums=*/true);
  for (int i = 0; i < 2; i++) {
    auto h = pool.Extend(rel);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    h->LockExclusive();
    ASSERT_EQ(h->page().AddItem("block " + std::to_string(h->block())), 1);
    h->MarkDirty();
  }
  ASSERT_TRUE(pool.FlushAll().ok());
}

// An exception thrown while a page is read in gives the frame up: the next read of the block
// reads it (it does not wait forever on the frame's read-in).
TEST(BufferPoolTest, AnExceptionDuringReadInLeavesTheFrameUsable) {
  testing::TempDir dir;
  RelFileNode rel{1663, 5, 16384};
  ASSERT_NO_FATAL_FAILURE(WriteTwoPages(dir.path(), rel));
  std::ofstream(dir.path() + "/rules") << "read base/5/16384 exception times 1\n";
  io::ErrorInjectionFileSystem fs(io::DefaultFileSystem(), dir.path() + "/rules");
  Smgr smgr(&fs, dir.path());
  BufferPool pool(8, &smgr, nullptr, true);
  EXPECT_THROW(pool.Read(rel, 1).status().IgnoreError(), std::runtime_error);
  auto h = pool.Read(rel, 1);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  h->LockShared();
  EXPECT_EQ(h->page().Item(1), "block 1");
}

// An exception that unwinds through an exclusively locked page may leave it half-changed and
// not WAL-logged: a PANIC, as an error in PostgreSQL's critical section. A reader's shared lock
// is released as usual.
TEST(BufferPoolDeathTest, AnExceptionThroughAPageLockedForChangeIsAPanic) {
  testing::TempDir dir;
  RelFileNode rel{1663, 5, 16384};
  ASSERT_NO_FATAL_FAILURE(WriteTwoPages(dir.path(), rel));
  Smgr smgr(io::DefaultFileSystem(), dir.path());
  BufferPool pool(8, &smgr, nullptr, true);
  auto interrupted = [&](bool exclusive) {
    try {
      auto h = pool.Read(rel, 1);
      ASSERT_TRUE(h.ok());
      exclusive ? h->LockExclusive() : h->LockShared();
      throw std::runtime_error("interrupted");
    } catch (const std::runtime_error&) {
    }
  };
  interrupted(false);
  auto h = pool.Read(rel, 1);
  ASSERT_TRUE(h.ok());
  h->LockExclusive();  // the reader's lock is gone
  h->Unlock();
  EXPECT_DEATH(
      {
        ::dup2(2, 1);  // the server log (stdout) is what the death test reads
        interrupted(true);
      },
      "PANIC: an internal error interrupted a change to block 1 of relation 1663/5/16384");
}

TEST(BufferPoolTest, WalIsFlushedBeforeThePage) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/pg_wal");
  wal::WalWriterOptions wo;
  wo.fs = io::DefaultFileSystem();
  wo.wal_dir = dir.path() + "/pg_wal";
  wo.fsync = false;
  wal::WalWriter w(wo, Lsn(0x1000000), Lsn());
  Smgr smgr(io::DefaultFileSystem(), dir.path());
  RelFileNode rel{1663, 5, 1};
  std::filesystem::create_directories(dir.path() + "/base");
  ASSERT_TRUE(smgr.Create(rel).ok());
  BufferPool pool(2, &smgr, &w, false);
  auto h = pool.Extend(rel);
  ASSERT_TRUE(h.ok());
  auto pos = w.Insert(200, 0, 0, wal::RecordBuilder().SetMainData("change").BuildBody());
  h->LockExclusive();
  h->page().set_lsn(pos->end);
  h->MarkDirty();
  h->Unlock();
  *h = BufferPool::Handle();
  EXPECT_LT(w.flush_lsn(), pos->end);
  ASSERT_TRUE(pool.FlushAll().ok());
  EXPECT_GE(w.flush_lsn(), pos->end);
}

// Recovery has no WAL writer: the hook (a standby's minimum recovery point) sees every page's
// LSN before the page is written, and a failing hook keeps the page in memory.
TEST(BufferPoolTest, RecoveryHookRunsBeforeThePageIsWritten) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/base");
  Smgr smgr(io::DefaultFileSystem(), dir.path());
  RelFileNode rel{1663, 5, 1};
  ASSERT_TRUE(smgr.Create(rel).ok());
  BufferPool pool(2, &smgr, nullptr, false);
  std::vector<uint64_t> seen;
  bool fail = true;
  pool.set_before_write([&](Lsn lsn) {
    seen.push_back(lsn.value());
    return fail ? Status::IOError("no pg_control") : Status::OK();
  });
  {
    auto h = pool.Extend(rel);
    ASSERT_TRUE(h.ok());
    h->LockExclusive();
    h->page().set_lsn(Lsn(0x3000028));
    h->MarkDirty();
    h->Unlock();
  }
  EXPECT_FALSE(pool.FlushAll().ok());
  EXPECT_EQ(seen, std::vector<uint64_t>{0x3000028});
  EXPECT_EQ(pool.writes(), 0u);
  fail = false;
  ASSERT_TRUE(pool.FlushAll().ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{0x3000028, 0x3000028}));
  EXPECT_EQ(pool.writes(), 1u);
}

TEST(BufferPoolTest, ConcurrentReaders) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/base");
  Smgr smgr(io::DefaultFileSystem(), dir.path());
  RelFileNode rel{1663, 5, 2};
  ASSERT_TRUE(smgr.Create(rel).ok());
  BufferPool pool(16, &smgr, nullptr, false);
  for (int i = 0; i < 64; i++) {
    auto h = pool.Extend(rel);
    h->LockExclusive();
    h->page().AddItem(std::to_string(i));
    h->MarkDirty();
  }
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 500; i++) {
        BlockNumber b = static_cast<BlockNumber>((i * 7 + t) % 64);
        auto h = pool.Read(rel, b);
        if (!h.ok()) continue;
        h->LockShared();
        if (h->page().Item(1) == std::to_string(b)) ok++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 2000);
}

// A checkpoint's fsync must not hold up buffer misses and writes of other backends (issue:
// Smgr's mutex was held for every pread, pwrite and fsync).
TEST(SmgrTest, ReadsAndWritesDoNotWaitForAnFsync) {
  testing::TempDir dir;
  testing::StallingFileSystem fs(io::DefaultFileSystem());
  std::filesystem::create_directories(dir.path() + "/base");
  Smgr smgr(&fs, dir.path());
  RelFileNode a{1663, 5, 16384}, b{1663, 5, 16385};
  ASSERT_TRUE(smgr.Create(a).ok());
  ASSERT_TRUE(smgr.Create(b).ok());
  alignas(8) char page[kPageSize];
  std::memset(page, 'x', kPageSize);
  ASSERT_TRUE(smgr.Write(a, 0, page).ok());
  ASSERT_TRUE(smgr.Write(b, 0, page).ok());

  fs.Stall();
  std::thread checkpoint([&] { EXPECT_TRUE(smgr.SyncAll().ok()); });
  ASSERT_TRUE(testing::WaitUntil([&] { return fs.waiting() > 0; }, 10));
  std::atomic<bool> done{false};
  std::thread backend([&] {
    alignas(8) char buf[kPageSize];
    EXPECT_TRUE(smgr.Read(b, 0, buf).ok());
    EXPECT_EQ(buf[100], 'x');
    EXPECT_TRUE(smgr.Write(b, 1, page).ok());
    EXPECT_EQ(*smgr.NBlocks(b), 2u);
    EXPECT_TRUE(smgr.Read(a, 0, buf).ok());
    done = true;
  });
  bool proceeded = testing::WaitUntil([&] { return done.load(); }, 10);
  fs.Release();
  checkpoint.join();
  backend.join();
  EXPECT_TRUE(proceeded) << "reads and writes waited for the checkpoint's fsync";
  // The write made during the fsync is in the next checkpoint's set.
  fs.Stall();
  std::thread next([&] { EXPECT_TRUE(smgr.SyncAll().ok()); });
  EXPECT_TRUE(testing::WaitUntil([&] { return fs.waiting() > 0; }, 10));
  fs.Release();
  next.join();
}

}  // namespace
}  // namespace walrep::storage
