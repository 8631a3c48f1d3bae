// walrep: WAL insertion, buffering and flushing (group commit).
//
// Insert() serialises records into the WAL byte stream (page headers included) under one
// short mutex; the bytes wait in memory until written. Flush(lsn) makes everything up to lsn
// durable: the first caller becomes the leader, writes every buffered byte and fsyncs once; the
// committers that arrive meanwhile sleep until it ends and then find their LSN already flushed,
// or one of them leads the next flush for all that remain — one fsync serves the whole group
// (LevelDB's DBImpl::Write). The insert mutex is never held during file I/O.
// A background WAL writer thread flushes every wal_writer_delay for asynchronous commits, and
// a full buffer (wal_buffers) is written out by the inserter that filled it.
//
// Invariant: flush_lsn <= write_lsn <= insert_lsn, and each only grows.
// Counterpart: XLogInsertRecord(), XLogFlush(), XLogWrite() and walwriter.c in PostgreSQL.
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "walrep/common/futex.h"
#include "walrep/common/lsn.h"
#include "walrep/common/lsn_waiter.h"
#include "walrep/common/mutex.h"
#include "walrep/io/file_system.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::wal {

class SegmentPreallocator;

// How a new segment file gets its 16 MB before WAL is written into it.
enum class SegmentInit {
  // Written with zeros and synced (wal_init_zero = on): the fdatasyncs that commits wait on
  // later never have to update the file's metadata.
  kZeroFill,
  // Reserved with fallocate, not written (wal_init_zero = off): half the I/O of zero-filling.
  // PostgreSQL writes one byte at the end instead, leaving a sparse file that can run out of
  // space halfway.
  kAllocate,
};

struct WalWriterOptions {
  io::FileSystem* fs = nullptr;  // must outlive the writer
  std::string wal_dir;           // pg_wal
  uint64_t seg_size = kDefaultSegSize;
  TimelineId tli = 1;
  uint64_t sysid = 0;
  bool fsync = true;
  size_t buffer_bytes = 4 * 1024 * 1024;  // wal_buffers
  std::chrono::milliseconds writer_delay{200};
  // wal_init_zero, read for each new segment (it can change at a reload); null means on.
  const std::atomic<bool>* init_zero = nullptr;
  // Called (on the flushing thread, with the writer's lock held: keep it short) for each
  // segment once it is complete and fsynced — archiving marks it .ready.
  std::function<void(XLogSegNo)> segment_done;
};

class WalWriter {
 public:
  struct Position {
    Lsn start;  // the record's LSN
    Lsn end;    // where the next record starts (8-aligned); flush up to here
  };

  // Continues WAL at `insert_pos` (a record start); `prev_record` is the last record's LSN.
  WalWriter(WalWriterOptions opts, Lsn insert_pos, Lsn prev_record);
  ~WalWriter();

  // `fpi_redo`: the REDO pointer the caller used to decide which full-page images to include;
  // when a checkpoint has moved it since, nothing is inserted and kRetry is returned, so the
  // caller rebuilds the record (counterpart: the RedoRecPtr recheck in XLogInsertRecord).
  Result<Position> Insert(uint8_t rmid, uint8_t info, TransactionId xid, std::string_view body,
                          Lsn fpi_redo = Lsn()) EXCLUDES(insert_mu_, write_mu_);
  // Checkpoint start: the REDO pointer becomes the current insert position (a record start).
  Lsn SetRedoPointer() EXCLUDES(insert_mu_);
  Lsn redo_pointer() const EXCLUDES(insert_mu_);
  // Ends the current segment with XLOG_SWITCH; the next record starts in a new segment.
  // Returns the switch record (end = just after it), or nullopt when the segment holds no
  // record yet.
  Result<std::optional<Position>> SwitchSegment() EXCLUDES(insert_mu_, write_mu_);

  // Writes and fsyncs everything up to `upto` (group commit).
  Status Flush(Lsn upto) EXCLUDES(insert_mu_, write_mu_);
  Status FlushAll() { return Flush(insert_lsn()); }

  Lsn insert_lsn() const EXCLUDES(insert_mu_);
  Lsn last_record() const EXCLUDES(insert_mu_);
  Lsn flush_lsn() const { return flushed_.value(); }
  Lsn write_lsn() const { return written_.value(); }
  // Waiters on the flush position (walsenders, tests).
  LsnWaiter& flushed() { return flushed_; }
  const WalWriterOptions& options() const { return opts_; }

  void StartBackgroundWriter();
  // Stops the background writer; buffered WAL is flushed first.
  Status Stop();
  // Simulated crash: stops the background writer and drops buffered WAL unwritten.
  void AbandonForTest();

 private:
  struct Chunk {
    Lsn start;
    std::string bytes;
  };
  // Appends record bytes at cur_ with page headers. REQUIRES: insert_mu_.
  void PlaceLocked(std::string_view rec) REQUIRES(insert_mu_);
  void AppendLocked(std::string_view bytes) REQUIRES(insert_mu_);
  Status WriteOut(bool sync) REQUIRES(write_mu_) EXCLUDES(insert_mu_);
  Status WriteChunk(const Chunk& c) REQUIRES(write_mu_);
  Result<io::RandomAccessFile*> SegmentFile(XLogSegNo segno) REQUIRES(write_mu_);
  void BackgroundLoop();

  const WalWriterOptions opts_;

  mutable Mutex insert_mu_;
  Lsn cur_ GUARDED_BY(insert_mu_);          // next byte to place
  Lsn prev_record_ GUARDED_BY(insert_mu_);  // LSN of the last record inserted
  Lsn redo_ptr_ GUARDED_BY(insert_mu_);     // REDO point of the latest checkpoint
  std::vector<Chunk> pending_ GUARDED_BY(insert_mu_);
  size_t pending_bytes_ GUARDED_BY(insert_mu_) = 0;

  // Group commit: one committer at a time leads a flush (flushing_); the others sleep on
  // flush_ends_ until it ends instead of queueing on write_mu_ (Flush()).
  std::atomic<bool> flushing_{false};
  FutexCounter flush_ends_;

  Mutex write_mu_;  // one writer at a time; held across file I/O by design
  XLogSegNo open_segno_ GUARDED_BY(write_mu_) = ~0ull;
  std::unique_ptr<SegmentPreallocator> prealloc_ GUARDED_BY(write_mu_);
  std::unique_ptr<io::RandomAccessFile> open_file_ GUARDED_BY(write_mu_);
  std::vector<XLogSegNo> unsynced_ GUARDED_BY(write_mu_);  // closed segments awaiting fsync

  LsnWaiter written_;
  LsnWaiter flushed_;

  Mutex bg_mu_;
  CondVar bg_cv_{&bg_mu_};
  bool bg_stop_ GUARDED_BY(bg_mu_) = false;
  std::thread bg_;
};

// Creates a full-size segment file durably (tmp file, fsync, rename, fsync dir) unless it
// exists. Counterpart: XLogFileInit() with wal_init_zero.
// `paced`: zeros written and synced 1 MB at a time with short pauses (background
// preallocation).
Status CreateSegment(io::FileSystem* fs, const std::string& wal_dir, TimelineId tli,
                     XLogSegNo segno, uint64_t seg_size, SegmentInit init, bool paced = false);

// Creates the segment after the one being written in the background, so a writer that crosses
// a segment boundary (the WAL writer, a walreceiver) finds the file ready instead of
// zero-filling 16 MB on the commit path. Counterpart: PreallocXlogFiles() in PostgreSQL.
// Thread safety: used by one writer thread at a time.
class SegmentPreallocator {
 public:
  SegmentPreallocator(io::FileSystem* fs, std::string wal_dir, TimelineId tli, uint64_t seg_size);
  ~SegmentPreallocator();  // waits for a creation in progress
  // Returns once `segno` exists (waiting for its background creation if one is running), then,
  // with `ahead`, starts creating segno + 1. A writer that will fill segments as fast as it can
  // write them (a walreceiver catching up) gains nothing from creating them ahead.
  Status Ensure(XLogSegNo segno, SegmentInit init, bool ahead = true);

 private:
  io::FileSystem* const fs_;
  const std::string wal_dir_;
  const TimelineId tli_;
  const uint64_t seg_size_;
  std::future<Status> pending_;
  XLogSegNo pending_segno_ = ~0ull;
};

}  // namespace walrep::wal
