// walrep: heap MVCC, row locks and waits, and crash recovery of table data through WAL replay.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "data_dir.h"
#include "fault_injection_fs.h"
#include "testing.h"
#include "walrep/access/engine.h"
#include "walrep/access/rmgr.h"
#include "walrep/access/sequence.h"

namespace walrep::access {
namespace {

const RelFileNode kRel{1663, 5, 16384};

class EngineFixture {
 public:
  explicit EngineFixture(io::FileSystem* fs = nullptr) : fs_(fs ? fs : io::DefaultFileSystem()) {
    testing::BootstrapDataDir(fs_, dir_.path());
  }
  std::unique_ptr<Engine> Open(storage::RecoveryResult* rr = nullptr) {
    EngineOptions o;
    o.xlog.fs = fs_;
    o.xlog.data_dir = dir_.path();
    o.xlog.log_checkpoints = false;
    o.xlog.wal_writer_delay = std::chrono::milliseconds(5);
    o.shared_buffers = 64;
    o.prefetch = prefetch_;
    storage::RecoveryResult local;
    auto e = Engine::Open(o, rr ? rr : &local);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok()) return nullptr;
    if (!(*e)->smgr().Exists(kRel)) {
      EXPECT_TRUE((*e)->smgr().Create(kRel).ok());
    }
    return std::move(*e);
  }
  io::FileSystem* fs_;
  testing::TempDir dir_;
  storage::RecoveryPrefetcher::Config prefetch_;
};

// A transaction in the style the executor will use.
struct Txn {
  Engine* e;
  TxnContext ctx;
  explicit Txn(Engine* eng, bool rr = false) : e(eng) {
    ctx.snapshot = e->txm().TakeSnapshot();
    ctx.repeatable_read = rr;
    ctx.ensure_xid = [this] {
      if (ctx.xid == kInvalidXid) ctx.xid = e->txm().Assign();
      return ctx.xid;
    };
  }
  void NextCommand() {
    ctx.cid++;
    if (!ctx.repeatable_read) ctx.snapshot = e->txm().TakeSnapshot();
  }
  Status Commit() { return ctx.xid ? e->txm().Commit(ctx.xid, true).status() : Status::OK(); }
  Status Abort() { return ctx.xid ? e->txm().Abort(ctx.xid) : Status::OK(); }
  std::map<std::string, TupleId> Rows() {
    std::map<std::string, TupleId> out;
    HeapScan scan(e->env(), kRel, ctx);
    TupleId tid;
    std::string row;
    while (*scan.Next(&tid, &row)) out[row] = tid;
    return out;
  }
};

TEST(HeapTest, SnapshotsSeeCommittedRowsOnly) {
  EngineFixture f;
  auto e = f.Open();
  Txn a(e.get());
  ASSERT_TRUE(HeapInsert(e->env(), kRel, a.ctx, "a1").ok());
  EXPECT_EQ(a.Rows().size(), 0u) << "a statement does not see its own inserts";
  a.NextCommand();
  EXPECT_EQ(a.Rows().size(), 1u) << "a later command does";
  Txn b(e.get());
  EXPECT_EQ(b.Rows().size(), 0u) << "uncommitted";
  ASSERT_TRUE(a.Commit().ok());
  EXPECT_EQ(b.Rows().size(), 0u) << "b's snapshot predates the commit";
  b.NextCommand();
  EXPECT_EQ(b.Rows().size(), 1u);
  Txn c(e.get());
  ASSERT_TRUE(HeapInsert(e->env(), kRel, c.ctx, "c1").ok());
  ASSERT_TRUE(c.Abort().ok());
  Txn d(e.get());
  EXPECT_EQ(d.Rows().size(), 1u) << "aborted insert invisible";
  ASSERT_TRUE(e->Shutdown().ok());
}

// Lossless synchronous replication: a commit becomes visible only once the standbys confirm its
// whole record. A confirmed position at the record's start (everything before it) is not enough:
// the Jepsen-style test saw a primary cut off from its standbys show such a commit, which the
// failover then lost.
TEST(HeapTest, PublishLimitCoversTheWholeCommitRecord) {
  EngineFixture f;
  auto e = f.Open();
  ASSERT_TRUE(e);
  TransactionManager& txm = e->txm();
  std::atomic<uint64_t> confirmed{~uint64_t{0}};
  txm.SetPublishLimit([&] { return Lsn(confirmed.load()); });
  TransactionId xid = txm.Assign();
  Lsn before = e->xlog().writer().insert_lsn();
  confirmed = before.value();  // the standbys have everything up to the commit record
  auto end = txm.Commit(xid, /*flush=*/true);
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  ASSERT_GT(*end, before);
  EXPECT_TRUE(txm.IsRunning(xid)) << "visible before a standby has its commit record";
  confirmed = end->value() - 1;
  txm.PublishDurable();
  EXPECT_TRUE(txm.IsRunning(xid));
  confirmed = end->value();
  txm.PublishDurable();
  EXPECT_FALSE(txm.IsRunning(xid));
  EXPECT_EQ(txm.StatusOf(xid), XidStatus::kCommitted);
}

TEST(HeapTest, UpdateWaitsThenFollowsTheNewVersion) {
  EngineFixture f;
  auto e = f.Open();
  {
    Txn t(e.get());
    ASSERT_TRUE(HeapInsert(e->env(), kRel, t.ctx, "v0").ok());
    ASSERT_TRUE(t.Commit().ok());
  }
  Txn a(e.get()), b(e.get());
  TupleId old = a.Rows().at("v0");
  TupleId na;
  ASSERT_EQ(HeapUpdate(e->env(), kRel, a.ctx, old, "v1", &na)->kind, ModifyOutcome::kOk);
  // b (READ COMMITTED) blocks on a's row lock; after a commits it is pointed at the new version.
  auto fut = std::async(std::launch::async, [&] {
    TupleId nb;
    return HeapUpdate(e->env(), kRel, b.ctx, old, "v2", &nb);
  });
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  ASSERT_TRUE(a.Commit().ok());
  auto r = fut.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ModifyOutcome::kUpdated);
  EXPECT_EQ(r->next, na);
  b.NextCommand();
  TupleId nb;
  ASSERT_EQ(HeapUpdate(e->env(), kRel, b.ctx, r->next, "v2", &nb)->kind, ModifyOutcome::kOk);
  ASSERT_TRUE(b.Commit().ok());
  Txn c(e.get());
  auto rows = c.Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.begin()->first, "v2");

  // REPEATABLE READ gets 40001 instead.
  Txn rr(e.get(), /*rr=*/true);
  Txn w(e.get());
  TupleId cur = w.Rows().at("v2");
  TupleId n2;
  ASSERT_EQ(HeapUpdate(e->env(), kRel, w.ctx, cur, "v3", &n2)->kind, ModifyOutcome::kOk);
  ASSERT_TRUE(w.Commit().ok());
  TupleId n3;
  auto conflict = HeapUpdate(e->env(), kRel, rr.ctx, cur, "v4", &n3);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.status().sqlstate(), "40001");
  ASSERT_TRUE(rr.Abort().ok());
}

TEST(HeapTest, DeadlockIsDetected) {
  EngineFixture f;
  auto e = f.Open();
  TupleId r1, r2;
  {
    Txn t(e.get());
    r1 = *HeapInsert(e->env(), kRel, t.ctx, "r1");
    r2 = *HeapInsert(e->env(), kRel, t.ctx, "r2");
    ASSERT_TRUE(t.Commit().ok());
  }
  Txn a(e.get()), b(e.get());
  ASSERT_TRUE(HeapDelete(e->env(), kRel, a.ctx, r1).ok());
  ASSERT_TRUE(HeapDelete(e->env(), kRel, b.ctx, r2).ok());
  auto fa = std::async(std::launch::async, [&] { return HeapDelete(e->env(), kRel, a.ctx, r2); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto rb = HeapDelete(e->env(), kRel, b.ctx, r1);  // closes the cycle
  ASSERT_FALSE(rb.ok());
  EXPECT_EQ(rb.status().sqlstate(), "40P01");
  ASSERT_TRUE(b.Abort().ok());
  auto ra = fa.get();
  ASSERT_TRUE(ra.ok());
  EXPECT_EQ(ra->kind, ModifyOutcome::kOk);
  ASSERT_TRUE(a.Commit().ok());
}

TEST(HeapTest, VacuumRemovesDeadRows) {
  EngineFixture f;
  auto e = f.Open();
  {
    Txn t(e.get());
    for (int i = 0; i < 100; i++) {
      ASSERT_TRUE(HeapInsert(e->env(), kRel, t.ctx, "row" + std::to_string(i)).ok());
    }
    ASSERT_TRUE(t.Commit().ok());
  }
  {
    Txn t(e.get());
    for (auto& [row, tid] : t.Rows()) {
      if (row.back() % 2 == 0) {
        ASSERT_TRUE(HeapDelete(e->env(), kRel, t.ctx, tid).ok());
      }
    }
    ASSERT_TRUE(t.Commit().ok());
  }
  auto removed = HeapVacuum(e->env(), kRel);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 50u);
  Txn t(e.get());
  EXPECT_EQ(t.Rows().size(), 50u);
}

// Committed rows survive kill -9 style power loss at random points; uncommitted ones vanish.
TEST(HeapTest, CrashRecoveryKeepsCommittedRowsOnly) {
  testing::FaultInjectionFileSystem fi(io::DefaultFileSystem());
  EngineFixture f(&fi);
  std::mt19937 rng(99);
  std::map<std::string, bool> committed;  // row -> present after commit
  for (int round = 0; round < 12; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto e = f.Open();
    ASSERT_NE(e, nullptr);
    {
      Txn check(e.get());
      auto rows = check.Rows();
      for (const auto& [row, present] : committed) {
        EXPECT_EQ(rows.count(row) == 1, present) << row;
      }
      for (const auto& [row, tid] : rows) EXPECT_TRUE(committed.count(row)) << "phantom " << row;
    }
    int txns = 5 + static_cast<int>(rng() % 20);
    for (int t = 0; t < txns; t++) {
      Txn tx(e.get());
      std::vector<std::string> added;
      for (int i = 0; i < 1 + static_cast<int>(rng() % 30); i++) {
        std::string row = fmt::format("r{}-{}-{}-{}", round, t, i, std::string(rng() % 200, 'p'));
        ASSERT_TRUE(HeapInsert(e->env(), kRel, tx.ctx, row).ok());
        added.push_back(row);
      }
      // Delete or update a few committed rows.
      auto rows = tx.Rows();
      int k = 0;
      std::vector<std::string> deleted;
      for (auto& [row, tid] : rows) {
        if (!committed.count(row) || rng() % 10 != 0 || k++ > 3) continue;
        ASSERT_TRUE(HeapDelete(e->env(), kRel, tx.ctx, tid).ok());
        deleted.push_back(row);
      }
      if (rng() % 4 == 0) {
        ASSERT_TRUE(tx.Abort().ok());
        continue;
      }
      if (rng() % 10 == 0) {
        ASSERT_TRUE(e->xlog().Checkpoint(false, "test").ok());
      }
      if (rng() % 3 == 0) {
        // Crash before the commit record is durable: the transaction must vanish.
        break;
      }
      ASSERT_TRUE(tx.Commit().ok());
      for (const auto& r : added) committed[r] = true;
      for (const auto& r : deleted) committed[r] = false;
    }
    e->AbandonForTest();
    e.reset();
    fi.DropUnsyncedData(rng() % 2 == 0, static_cast<uint32_t>(rng()));
  }
}

// nextval logs 32 values ahead; whatever is lost in a crash, a value handed out to a committed
// transaction is never handed out again, and values still come in increasing order.
// The version of the row rooted at `root` that tx sees, or "" when none.
std::string FetchRow(Engine* e, const TxnContext& tx, TupleId root, TupleId* found = nullptr) {
  auto r = HeapFetch(e->env(), kRel, tx, root, found);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() && *r ? **r : "";
}

// Updates the row version at tid (heap-only when it fits) and commits; returns the new tid.
TupleId HotUpdate(Engine* e, TupleId tid, const std::string& row, Txn* tx = nullptr) {
  Txn own(e);
  Txn& t = tx ? *tx : own;
  TupleId new_tid;
  auto out = HeapUpdate(e->env(), kRel, t.ctx, tid, row, &new_tid, true);
  EXPECT_TRUE(out.ok() && out->kind == ModifyOutcome::kOk);
  EXPECT_TRUE(out->hot);
  if (!tx) {
    EXPECT_TRUE(t.Commit().ok());
  }
  return new_tid;
}

TupleId InsertCommitted(Engine* e, const std::string& row) {
  Txn ins(e);
  auto tid = HeapInsert(e->env(), kRel, ins.ctx, row);
  EXPECT_TRUE(tid.ok() && ins.Commit().ok());
  return tid.ok() ? *tid : TupleId{};
}

// wal_consistency_checking: records carry the page as the primary left it, and replay compares
// it (masked) with the page it produced.
TEST(HeapTest, WalConsistencyCheckingComparesReplayedPages) {
  EngineFixture f;
  std::map<std::string, TupleId> before;
  {
    auto e = f.Open();
    ASSERT_NE(e, nullptr);
    e->SetWalConsistencyChecking("walrep_heap");
    std::vector<TupleId> tids;
    for (int i = 0; i < 40; i++) tids.push_back(InsertCommitted(e.get(), fmt::format("row {}", i)));
    for (int i = 0; i < 10; i++)
      HotUpdate(e.get(), tids[static_cast<size_t>(i)], fmt::format("new {}", i));
    {
      Txn del(e.get());
      ASSERT_TRUE(HeapDelete(e->env(), kRel, del.ctx, tids[20]).ok());
      ASSERT_TRUE(del.Commit().ok());
    }
    before = Txn(e.get()).Rows();

    // The checker itself: the page as it is matches; masked differences (LSN, checksum, free
    // space) are ignored; a changed tuple byte is FATAL.
    wal::DecodedRecord rec;
    rec.rmid = kRmHeap;
    rec.lsn = Lsn(0x1000000);
    wal::BlockRef b;
    b.rnode = kRel;
    b.block = 0;
    b.has_image = true;
    {
      auto h = e->pool().Read(kRel, 0);
      ASSERT_TRUE(h.ok());
      h->LockShared();
      b.image.assign(h->data(), storage::kPageSize);
    }
    storage::Page page(b.image.data());
    rec.end_lsn = page.lsn();  // the record that last changed the page
    uint16_t lower = page.lower(), upper = page.upper();
    ASSERT_LT(lower + 8, upper);
    rec.blocks.push_back(b);
    EXPECT_TRUE(CheckPageImages(e->env(), rec).ok());
    rec.blocks[0].image[0] ^= 1;          // LSN
    rec.blocks[0].image[9] ^= 1;          // checksum
    rec.blocks[0].image[lower + 4] ^= 1;  // free space
    EXPECT_TRUE(CheckPageImages(e->env(), rec).ok());
    rec.blocks[0].image[upper + 30] ^= 1;  // a tuple's bytes
    Status st = CheckPageImages(e->env(), rec);
    EXPECT_EQ(st.message(), "inconsistent page found, rel 1663/5/16384, forknum 0, blkno 0");
    EXPECT_EQ(st.severity(), Severity::kFatal);
    // A record whose image is to be applied (a full-page write) is not compared, nor one the
    // page is already past (recovery restarted after the page was written out).
    rec.blocks[0].apply_image = true;
    EXPECT_TRUE(CheckPageImages(e->env(), rec).ok());
    rec.blocks[0].apply_image = false;
    rec.end_lsn = Lsn(page.lsn().value() - 1);
    EXPECT_TRUE(CheckPageImages(e->env(), rec).ok());
    // COPY's multi-row records: into the line pointers VACUUM freed (offsets that do not count
    // on from the first), then onto fresh pages (offsets from 1), in a later command.
    {
      Txn del(e.get());
      for (size_t i = 21; i < 30; i += 2) {
        ASSERT_TRUE(HeapDelete(e->env(), kRel, del.ctx, tids[i]).ok());
      }
      ASSERT_TRUE(del.Commit().ok());
      std::vector<TupleId> dead;
      ASSERT_TRUE(HeapVacuum(e->env(), kRel, &dead).ok());
      ASSERT_TRUE(HeapReclaimLinePointers(e->env(), kRel, dead).ok());
      Txn copy(e.get());
      copy.NextCommand();
      std::vector<std::string> rows;
      for (int i = 0; i < 400; i++)
        rows.push_back(fmt::format("copied {} {}", i, std::string(40, 'c')));
      auto copied = HeapMultiInsert(e->env(), kRel, copy.ctx, rows);
      ASSERT_TRUE(copied.ok());
      EXPECT_EQ(copied->front().block, 0u);
      EXPECT_NE((*copied)[1].off, (*copied)[0].off + 1);  // freed slots, not consecutive
      EXPECT_GT(copied->back().block, 0u);
      ASSERT_TRUE(copy.Commit().ok());
    }
    before = Txn(e.get()).Rows();
    ASSERT_EQ(before.size(), 40u - 6u + 400u);
    e->AbandonForTest();
  }
  // Crash recovery replays every record with its verification images and finds them equal.
  auto e = f.Open();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(Txn(e.get()).Rows(), before);
}

// Records the prefetches and block reads of relation files, in order.
class PrefetchTracingFs : public io::FileSystemWrapper {
 public:
  PrefetchTracingFs() : io::FileSystemWrapper(io::DefaultFileSystem()) {}
  Result<std::unique_ptr<io::RandomAccessFile>> OpenRandomAccess(const std::string& path,
                                                                 bool create) override {
    auto f = io::FileSystemWrapper::OpenRandomAccess(path, create);
    if (!f.ok() || path.find("/base/") == std::string::npos) return f;
    return std::unique_ptr<io::RandomAccessFile>(new File(this, std::move(*f)));
  }
  // The most blocks prefetched and not yet read at any moment: 1 when every prefetch is of the
  // record about to be applied, more when records ahead were looked at.
  int MaxAhead() {
    MutexLock l(&mu_);
    std::set<uint64_t> pending;
    size_t most = 0;
    for (auto [prefetch, offset] : events_) {
      if (prefetch) {
        pending.insert(offset);
      } else {
        pending.erase(offset);
      }
      most = std::max(most, pending.size());
    }
    return static_cast<int>(most);
  }
  void Clear() {
    MutexLock l(&mu_);
    events_.clear();
  }

 private:
  class File : public io::RandomAccessFile {
   public:
    File(PrefetchTracingFs* fs, std::unique_ptr<io::RandomAccessFile> base)
        : fs_(fs), base_(std::move(base)) {}
    Result<std::string> ReadAt(uint64_t offset, size_t n) override {
      fs_->Note(false, offset);
      return base_->ReadAt(offset, n);
    }
    Status WriteAt(uint64_t offset, std::string_view data) override {
      return base_->WriteAt(offset, data);
    }
    Status Sync() override { return base_->Sync(); }
    Result<uint64_t> Size() override { return base_->Size(); }
    void Prefetch(uint64_t offset, size_t n) override {
      fs_->Note(true, offset);
      base_->Prefetch(offset, n);
    }

   private:
    PrefetchTracingFs* fs_;
    std::unique_ptr<io::RandomAccessFile> base_;
  };
  void Note(bool prefetch, uint64_t offset) {
    MutexLock l(&mu_);
    events_.emplace_back(prefetch, offset);
  }
  Mutex mu_;
  std::vector<std::pair<bool, uint64_t>> events_ GUARDED_BY(mu_);
};

// recovery_prefetch: crash recovery reads records ahead and prefetches the blocks they will
// read that are on disk and not in the buffer pool; full-page images are not prefetched. The
// recovered rows are the same with and without it.
TEST(HeapTest, CrashRecoveryPrefetchesTheBlocksAhead) {
  int max_ahead = 0;
  auto run = [&max_ahead](bool enabled, storage::RecoveryPrefetcher::Stats* stats) {
    PrefetchTracingFs fs;
    EngineFixture f(&fs);
    f.prefetch_.enabled = enabled;
    std::map<std::string, TupleId> before;
    {
      auto e = f.Open();
      EXPECT_NE(e, nullptr);
      if (!e) return before;
      std::vector<TupleId> tids;
      Txn ins(e.get());
      for (int i = 0; i < 4000; i++) {
        auto tid =
            HeapInsert(e->env(), kRel, ins.ctx, fmt::format("{:04} {}", i, std::string(200, 'x')));
        EXPECT_TRUE(tid.ok());
        tids.push_back(*tid);
      }
      EXPECT_TRUE(ins.Commit().ok());
      EXPECT_TRUE(e->xlog().Checkpoint(false, "test").ok());  // ~118 pages on disk
      // Two deletes on every page: the first logs the page's image, the second only the change
      // (a page the 64-buffer pool no longer holds by the time replay gets there).
      for (size_t first : {size_t{0}, size_t{1}}) {
        Txn del(e.get());
        for (size_t i = first; i < tids.size(); i += 30) {
          EXPECT_TRUE(HeapDelete(e->env(), kRel, del.ctx, tids[i]).ok());
        }
        EXPECT_TRUE(del.Commit().ok());
      }
      before = Txn(e.get()).Rows();
      e->AbandonForTest();
    }
    fs.Clear();
    auto e = f.Open();
    EXPECT_NE(e, nullptr);
    if (!e) return before;
    *stats = e->prefetcher().stats();
    if (enabled) max_ahead = fs.MaxAhead();
    EXPECT_EQ(Txn(e.get()).Rows(), before);
    return before;
  };
  storage::RecoveryPrefetcher::Stats on, off;
  auto rows_on = run(true, &on);
  auto rows_off = run(false, &off);
  EXPECT_EQ(rows_on.size(), 4000u - 2 * 134u);
  EXPECT_EQ(rows_on, rows_off);
  EXPECT_GT(on.prefetch, 10u) << on.hit << " hits";
  EXPECT_GE(on.skip_fpw, 100u);  // ~118 pages, each logged whole once
  EXPECT_EQ(on.io_depth, 0);     // every prefetch's record was applied
  // Blocks of records ahead were prefetched before the blocks of the record being applied were
  // read (a record here touches one block).
  EXPECT_GT(max_ahead, 3);
  EXPECT_EQ(off.prefetch + off.hit + off.skip_fpw + off.skip_init + off.skip_new + off.skip_rep,
            0u);
}

TEST(HeapTest, HotChainsServeEverySnapshotAndDoNotGrowThePage) {
  EngineFixture f;
  auto e = f.Open();
  std::optional<TupleId> root = InsertCommitted(e.get(), "v0");
  TupleId tid = *root;
  TransactionId running = 0;
  {
    Txn old_reader(e.get());  // keeps "v0" needed
    for (int i = 1; i <= 5; i++) tid = HotUpdate(e.get(), tid, "v" + std::to_string(i));
    Txn reader(e.get());
    TupleId found;
    EXPECT_EQ(FetchRow(e.get(), old_reader.ctx, *root, &found), "v0");
    EXPECT_EQ(found, *root);
    EXPECT_EQ(FetchRow(e.get(), reader.ctx, *root, &found), "v5");
    EXPECT_EQ(found, tid);
    // The chain is one row for uniqueness: live.
    EXPECT_EQ(*HeapTupleState(e->env(), kRel, reader.ctx, *root, &running), TupleState::kLive);
  }
  // With no snapshot left that needs them, on-access pruning frees the old versions' line
  // pointers for the new ones: thousands of updates stay on a few line pointers.
  for (int i = 6; i <= 3000; i++) tid = HotUpdate(e.get(), tid, "v" + std::to_string(i));
  EXPECT_EQ(tid.block, root->block);
  {
    auto buf = e->pool().Read(kRel, root->block);
    ASSERT_TRUE(buf.ok());
    buf->LockShared();
    EXPECT_LT(buf->page().max_offset(), 400) << "line pointers were not reused";
    EXPECT_EQ(buf->page().state(root->off), storage::ItemState::kRedirect);
  }
  {
    Txn after(e.get());
    EXPECT_EQ(FetchRow(e.get(), after.ctx, *root), "v3000");
    EXPECT_EQ(after.Rows().size(), 1u);
  }
  // VACUUM with nothing running leaves the newest version only, reached through the redirect.
  ASSERT_TRUE(HeapVacuum(e->env(), kRel).ok());
  {
    Txn last(e.get());
    EXPECT_EQ(FetchRow(e.get(), last.ctx, *root), "v3000");
  }
  // Deleting it makes the whole chain dead to all: the root's line pointer stays (dead) for
  // the index entries that point at it.
  {
    Txn del(e.get());
    ASSERT_TRUE(HeapDelete(e->env(), kRel, del.ctx, tid).ok());
    ASSERT_TRUE(del.Commit().ok());
  }
  {
    Txn last(e.get());
    EXPECT_EQ(*HeapTupleState(e->env(), kRel, last.ctx, *root, &running), TupleState::kDeadToAll);
  }
  ASSERT_TRUE(HeapVacuum(e->env(), kRel).ok());
  auto buf = e->pool().Read(kRel, root->block);
  ASSERT_TRUE(buf.ok());
  buf->LockShared();
  EXPECT_EQ(buf->page().state(root->off), storage::ItemState::kDead);
}

// Updaters need not commit in xid order: here the version deleted by the newer xid comes first
// in the chain. Pruning while an xid between them runs must still keep the chain whole.
TEST(HeapTest, PruningKeepsChainsWhoseUpdatersCommittedOutOfXidOrder) {
  EngineFixture f;
  auto e = f.Open();
  std::optional<TupleId> root = InsertCommitted(e.get(), "v0");
  Txn y(e.get()), z(e.get()), x(e.get());
  y.ctx.ensure_xid();
  z.ctx.ensure_xid();
  x.ctx.ensure_xid();
  ASSERT_LT(y.ctx.xid, z.ctx.xid);
  ASSERT_LT(z.ctx.xid, x.ctx.xid);
  TupleId v1 = HotUpdate(e.get(), *root, "v1", &x);  // the newest xid updates first
  ASSERT_TRUE(x.Commit().ok());
  y.NextCommand();
  TupleId v2 = HotUpdate(e.get(), v1, "v2", &y);
  ASSERT_TRUE(y.Commit().ok());
  // z still runs: v0 (deleted by x, newer than z) looks recently dead, v1 (deleted by y, older
  // than z) dead to all. Removing v1 alone would cut v2 off its root.
  ASSERT_TRUE(HeapVacuum(e->env(), kRel).ok());
  Txn reader(e.get());
  TupleId found;
  EXPECT_EQ(FetchRow(e.get(), reader.ctx, *root, &found), "v2");
  EXPECT_EQ(found, v2);
  ASSERT_TRUE(z.Abort().ok());
}

// Heap-only versions and pruning replay on a standby or after a crash: the recovered page
// serves the same rows.
TEST(HeapTest, HotChainsSurviveCrashRecovery) {
  testing::FaultInjectionFileSystem fi(io::DefaultFileSystem());
  EngineFixture f(&fi);
  TupleId root, tid;
  {
    auto e = f.Open();
    root = InsertCommitted(e.get(), "v0");
    tid = root;
    for (int i = 1; i <= 500; i++) tid = HotUpdate(e.get(), tid, "v" + std::to_string(i));
    {
      Txn aborted(e.get());  // an updater that rolls back leaves an unreachable version
      TupleId dropped;
      ASSERT_TRUE(HeapUpdate(e->env(), kRel, aborted.ctx, tid, "lost", &dropped, true).ok());
      ASSERT_TRUE(aborted.Abort().ok());
    }
    tid = HotUpdate(e.get(), tid, "v501");
    e->AbandonForTest();
    e.reset();
    fi.DropUnsyncedData(false, 0);
  }
  auto e = f.Open();
  Txn reader(e.get());
  TupleId found;
  EXPECT_EQ(FetchRow(e.get(), reader.ctx, root, &found), "v501");
  EXPECT_EQ(found, tid);
  EXPECT_EQ(reader.Rows().size(), 1u);
}

TEST(SequenceTest, CommittedValuesNeverComeBackAfterACrash) {
  testing::FaultInjectionFileSystem fi(io::DefaultFileSystem());
  EngineFixture f(&fi);
  const RelFileNode seq{1663, 5, 16390};
  SequenceOptions o;
  o.max = 1000000;
  std::mt19937 rng(7);
  int64_t committed_max = 0;
  for (int round = 0; round < 10; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto e = f.Open();
    ASSERT_NE(e, nullptr);
    if (round == 0) {
      ASSERT_TRUE(e->smgr().Create(seq).ok());
      ASSERT_TRUE(SequenceInit(e->env(), seq, 1).ok());
      ASSERT_TRUE(e->xlog().Checkpoint(false, "test").ok());
    }
    int64_t prev = 0;
    for (int t = 0; t < 20; t++) {
      Txn tx(e.get());
      int n = 1 + static_cast<int>(rng() % 40);
      int64_t v = 0;
      for (int i = 0; i < n; i++) {
        auto r = SequenceNext(e->env(), seq, o, tx.ctx, "s");
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        v = *r;
        EXPECT_GT(v, committed_max);
        EXPECT_GT(v, prev);
        prev = v;
      }
      if (rng() % 8 == 0) {
        ASSERT_TRUE(e->xlog().Checkpoint(false, "test").ok());
      }
      if (rng() % 5 == 0) {
        ASSERT_TRUE(tx.Abort().ok());  // the values stay used: nextval is not transactional
        continue;
      }
      ASSERT_TRUE(tx.Commit().ok());
      committed_max = v;
    }
    e->AbandonForTest();
    e.reset();
    fi.DropUnsyncedData(rng() % 2 == 0, static_cast<uint32_t>(rng()));
  }
}

}  // namespace
}  // namespace walrep::access
