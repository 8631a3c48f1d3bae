// walrep: recovery prefetching (see recovery_prefetch.h).
#include "walrep/storage/recovery_prefetch.h"

namespace walrep::storage {

RecoveryPrefetcher::RecoveryPrefetcher(BufferPool* pool, Smgr* smgr) : pool_(pool), smgr_(smgr) {
  stats_reset_.store(NowTimestamp());
}

void RecoveryPrefetcher::Configure(const Config& c) {
  enabled_.store(c.enabled, std::memory_order_relaxed);
  distance_.store(c.distance_bytes, std::memory_order_relaxed);
  max_io_.store(c.max_io, std::memory_order_relaxed);
}

bool RecoveryPrefetcher::io_full() const {
  return io_depth_.load(std::memory_order_relaxed) >= max_io_.load(std::memory_order_relaxed);
}

int RecoveryPrefetcher::Look(const wal::DecodedRecord& rec) {
  int prefetched = 0;
  for (const wal::BlockRef& b : rec.blocks) {
    if (b.fork != 0) continue;  // walrep keeps no other forks' pages
    if (b.has_image && b.apply_image) {
      skip_fpw_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (b.will_init) {
      skip_init_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    bool recent = false;
    for (const Recent& r : recent_) recent = recent || (r.block == b.block && r.rel == b.rnode);
    if (recent) {
      skip_rep_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    recent_[recent_next_] = Recent{b.rnode, b.block};
    recent_next_ = (recent_next_ + 1) % recent_.size();
    if (pool_->Contains(b.rnode, b.block)) {
      hit_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    auto n = pool_->NBlocks(b.rnode);
    if (!n.ok() || b.block >= *n || !smgr_->Prefetch(b.rnode, b.block)) {
      skip_new_.fetch_add(1, std::memory_order_relaxed);  // created or extended by replay
      continue;
    }
    prefetch_.fetch_add(1, std::memory_order_relaxed);
    prefetched++;
  }
  io_depth_.fetch_add(prefetched, std::memory_order_relaxed);
  return prefetched;
}

void RecoveryPrefetcher::Taken(int prefetched) {
  io_depth_.fetch_sub(prefetched, std::memory_order_relaxed);
}

void RecoveryPrefetcher::SetDistance(uint64_t wal_bytes, uint64_t blocks) {
  wal_distance_.store(static_cast<int64_t>(wal_bytes), std::memory_order_relaxed);
  block_distance_.store(static_cast<int64_t>(blocks), std::memory_order_relaxed);
}

RecoveryPrefetcher::Stats RecoveryPrefetcher::stats() const {
  Stats s;
  s.stats_reset = stats_reset_.load();
  s.prefetch = prefetch_.load(std::memory_order_relaxed);
  s.hit = hit_.load(std::memory_order_relaxed);
  s.skip_init = skip_init_.load(std::memory_order_relaxed);
  s.skip_new = skip_new_.load(std::memory_order_relaxed);
  s.skip_fpw = skip_fpw_.load(std::memory_order_relaxed);
  s.skip_rep = skip_rep_.load(std::memory_order_relaxed);
  s.wal_distance = wal_distance_.load(std::memory_order_relaxed);
  s.block_distance = block_distance_.load(std::memory_order_relaxed);
  s.io_depth = io_depth_.load(std::memory_order_relaxed);
  return s;
}

void RecoveryPrefetcher::Reset() {
  // The counters only; how far ahead lookahead is now stays true.
  for (auto* c : {&prefetch_, &hit_, &skip_init_, &skip_new_, &skip_fpw_, &skip_rep_}) {
    c->store(0, std::memory_order_relaxed);
  }
  stats_reset_.store(NowTimestamp());
}

}  // namespace walrep::storage
