// walrep: parallel redo (see parallel_redo.h).
#include "walrep/access/parallel_redo.h"

#include <fmt/format.h>

#include <cstring>
#include <functional>

#include "walrep/access/btree.h"
#include "walrep/access/rmgr.h"
#include "walrep/common/thread_name.h"

namespace walrep::access {
namespace {

// Records a worker may have waiting: bounds the memory (a record may carry page images) and how
// far the caller runs ahead of what is applied.
constexpr size_t kMaxQueue = 1024;

size_t Mix(size_t h, uint64_t v) {
  return h ^ (std::hash<uint64_t>{}(v) + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2));
}

}  // namespace

ParallelRedo::ParallelRedo(HeapEnv* env, int workers) : env_(env) {
  if (workers <= 1) return;
  for (int i = 0; i < workers; i++) workers_.push_back(std::make_unique<Worker>());
  for (auto& w : workers_) w->thread = NamedThread("redo worker", [this, w = w.get()] { Run(w); });
}

ParallelRedo::~ParallelRedo() {
  for (auto& w : workers_) {
    MutexLock l(&w->mu);
    w->stop = true;
    w->cv.SignalAll();
  }
  for (auto& w : workers_) w->thread.join();
}

int ParallelRedo::WorkerFor(const wal::DecodedRecord& rec) const {
  if (rec.blocks.empty()) return -1;
  // Recovery conflicts are resolved before the record is applied, in WAL order.
  bool resolves_conflict = false;
  if (rec.rmid == kRmHeap) {
    uint8_t info = rec.info & 0xF0;
    resolves_conflict = info == kHeapPrune || info == kHeapPruneChains;
  } else if (rec.rmid == kRmBtree) {
    resolves_conflict = rec.main_data.size() == 4;
  } else {
    return -1;
  }
  if (resolves_conflict && env_->resolve_conflict) return -1;
  int owner = -1;
  for (const auto& b : rec.blocks) {
    // Catalog changes invalidate the catalog caches readers use: in order.
    if (b.rnode.rel < kFirstUserRelFile) return -1;
    size_t h = Mix(Mix(Mix(0, b.rnode.db), b.rnode.rel), b.fork);
    if (rec.rmid == kRmHeap) h = Mix(h, b.block);
    int i = static_cast<int>(h % workers_.size());
    if (owner >= 0 && i != owner) return -1;
    owner = i;
  }
  return owner;
}

Result<bool> ParallelRedo::Apply(wal::DecodedRecord* rec) {
  int i = workers_.empty() ? -1 : WorkerFor(*rec);
  if (i < 0) {
    WALREP_RETURN_IF_ERROR(Drain());
    Status st = Redo(*env_, *rec);
    if (!st.ok()) return Fail(*rec, std::move(st));
    barriers_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  if (failed_.load(std::memory_order_acquire)) return FirstError();
  // The transaction's xid is known to snapshots in WAL order, as when one thread replays.
  if (rec->xid != kInvalidXid) env_->txm->AdvanceNextXid(rec->xid + 1);
  Worker* w = workers_[static_cast<size_t>(i)].get();
  {
    MutexLock l(&w->mu);
    while (w->queue.size() >= kMaxQueue) w->cv.Wait();
    w->queue.push_back(std::move(*rec));
    w->cv.SignalAll();
  }
  dispatched_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

Status ParallelRedo::Drain() {
  for (auto& w : workers_) {
    MutexLock l(&w->mu);
    while (!w->queue.empty() || w->busy) w->cv.Wait();
  }
  return FirstError();
}

Status ParallelRedo::FirstError() const {
  MutexLock l(&error_mu_);
  return error_;
}

Status ParallelRedo::Fail(const wal::DecodedRecord& rec, Status st) {
  MutexLock l(&error_mu_);
  if (error_.ok()) {
    error_ = std::move(st);
    failed_at_ = rec.lsn;
    failed_record_ = Describe(rec);
  }
  failed_.store(true, std::memory_order_release);
  return error_;
}

std::pair<Lsn, std::string> ParallelRedo::failed_record() const {
  MutexLock l(&error_mu_);
  return {failed_at_, failed_record_};
}

void ParallelRedo::Run(Worker* w) {
  wal::DecodedRecord rec;
  while (true) {
    {
      MutexLock l(&w->mu);
      w->busy = false;
      w->cv.SignalAll();  // the queue shrank, or it is empty: a waiting caller goes on
      while (w->queue.empty() && !w->stop) w->cv.Wait();
      if (w->queue.empty()) return;
      rec = std::move(w->queue.front());
      w->queue.pop_front();
      w->busy = true;
    }
    if (failed_.load(std::memory_order_acquire)) continue;  // nothing is applied after a failure
    Status st = Redo(*env_, rec);
    if (!st.ok()) Fail(rec, std::move(st)).IgnoreError();
  }
}

ParallelRedo::Stats ParallelRedo::stats() const {
  Stats s;
  for (const auto& w : workers_) {
    MutexLock l(&w->mu);
    s.queued += w->queue.size() + (w->busy ? 1 : 0);
  }
  // Counted after the queues, so that dispatched - queued never underflows (a record handed
  // over meanwhile counts as applied a moment early).
  s.dispatched = dispatched_.load(std::memory_order_acquire);
  s.barriers = barriers_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace walrep::access
