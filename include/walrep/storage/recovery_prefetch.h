// walrep: recovery prefetching (recovery_prefetch, pg_stat_recovery_prefetch).
//
// Recovery decodes records ahead of the one being applied — up to wal_decode_buffer_size bytes
// of WAL, and only WAL that is durable here — and shows each to Look(), which asks the kernel to
// start reading the data blocks the record will need that are not in the buffer pool
// (posix_fadvise WILLNEED on the relation file), so replay finds them in the page cache instead
// of waiting on each read in turn. Not prefetched, and counted apart: blocks the record restores
// from a full-page image (skip_fpw) or initialises (skip_init), blocks past the relation's end
// (skip_new), blocks one of the last few references already looked at (skip_rep), and blocks
// in the buffer pool (hit). A prefetch counts as in flight (io_depth) until its record is
// applied; no more than maintenance_io_concurrency are, so lookahead pauses at that depth.
// Counterpart: xlogprefetcher.c in PostgreSQL 15.
// Thread safety: Configure, Look, Taken and SetDistance from the replaying thread (one at a
// time); stats() and Reset() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "walrep/common/time.h"
#include "walrep/storage/buffer_pool.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::storage {

class RecoveryPrefetcher {
 public:
  struct Config {
    bool enabled = true;                  // recovery_prefetch: on or try (off: no lookahead)
    uint64_t distance_bytes = 512 << 10;  // wal_decode_buffer_size
    int max_io = 10;                      // maintenance_io_concurrency
  };
  // pg_stat_recovery_prefetch's columns.
  struct Stats {
    TimestampTz stats_reset = 0;
    uint64_t prefetch = 0, hit = 0, skip_init = 0, skip_new = 0, skip_fpw = 0, skip_rep = 0;
    int64_t wal_distance = 0, block_distance = 0, io_depth = 0;
  };

  RecoveryPrefetcher(BufferPool* pool, Smgr* smgr);
  void Configure(const Config& c);
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  uint64_t distance_bytes() const { return distance_.load(std::memory_order_relaxed); }
  // Lookahead waits while this many prefetches are in flight.
  bool io_full() const;

  // A record read ahead: prefetches what it needs; returns how many blocks it prefetched.
  int Look(const wal::DecodedRecord& rec);
  // A record Look() saw is being applied (or was dropped): its prefetches are done.
  void Taken(int prefetched);
  // How far lookahead is ahead of replay.
  void SetDistance(uint64_t wal_bytes, uint64_t blocks);

  Stats stats() const;
  void Reset();  // pg_stat_reset_shared('recovery_prefetch')

 private:
  BufferPool* const pool_;
  Smgr* const smgr_;
  std::atomic<bool> enabled_{true};
  std::atomic<uint64_t> distance_{512 << 10};
  std::atomic<int> max_io_{10};
  // The last blocks looked at (a record touching its predecessor's block again is common).
  struct Recent {
    RelFileNode rel;
    BlockNumber block = kInvalidBlock;
  };
  std::array<Recent, 8> recent_{};
  size_t recent_next_ = 0;
  std::atomic<TimestampTz> stats_reset_{0};
  std::atomic<uint64_t> prefetch_{0}, hit_{0}, skip_init_{0}, skip_new_{0}, skip_fpw_{0},
      skip_rep_{0};
  std::atomic<int64_t> wal_distance_{0}, block_distance_{0}, io_depth_{0};
};

}  // namespace walrep::storage
