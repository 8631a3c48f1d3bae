// walrep: WAL insertion and group flush (see wal_writer.h).
#include "walrep/wal/wal_writer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "walrep/common/logging.h"
#include "walrep/common/thread_name.h"

namespace walrep::wal {

Status CreateSegment(io::FileSystem* fs, const std::string& wal_dir, TimelineId tli,
                     XLogSegNo segno, uint64_t seg_size, SegmentInit init, bool paced) {
  std::string path = wal_dir + "/" + XLogFileName(tli, segno, seg_size);
  if (fs->Exists(path)) return Status::OK();
  std::string tmp =
      wal_dir + "/xlogtemp." + std::to_string(::getpid()) + "." + std::to_string(segno);
  {
    WALREP_ASSIGN_OR_RETURN(auto f, fs->NewWritableFile(tmp));
    if (init == SegmentInit::kAllocate) {
      WALREP_RETURN_IF_ERROR(f->Allocate(seg_size));
    } else {
      const std::string zeros(1 << 20, '\0');
      for (uint64_t done = 0; done < seg_size; done += zeros.size()) {
        WALREP_RETURN_IF_ERROR(f->Append(std::string_view(zeros).substr(0, seg_size - done)));
        if (paced) {
          // In the background, 1 MB at a time: 16 MB of dirty pages flushed at once would stall
          // the commit fsyncs queued behind them on the same device.
          WALREP_RETURN_IF_ERROR(f->Sync());
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      }
    }
    WALREP_RETURN_IF_ERROR(f->Sync());
    WALREP_RETURN_IF_ERROR(f->Close());
  }
  WALREP_RETURN_IF_ERROR(fs->Rename(tmp, path));
  return fs->SyncDir(wal_dir);
}

SegmentPreallocator::SegmentPreallocator(io::FileSystem* fs, std::string wal_dir, TimelineId tli,
                                         uint64_t seg_size)
    : fs_(fs), wal_dir_(std::move(wal_dir)), tli_(tli), seg_size_(seg_size) {}

SegmentPreallocator::~SegmentPreallocator() {
  if (pending_.valid()) pending_.get().IgnoreError();  // only an optimisation
}

Status SegmentPreallocator::Ensure(XLogSegNo segno, SegmentInit init, bool ahead) {
  Status st;
  if (pending_.valid()) {
    bool mine = pending_segno_ == segno;
    Status bg = pending_.get();
    if (mine) st = bg;  // a failed background creation is retried below
  }
  if (!st.ok() || !fs_->Exists(wal_dir_ + "/" + XLogFileName(tli_, segno, seg_size_))) {
    WALREP_RETURN_IF_ERROR(CreateSegment(fs_, wal_dir_, tli_, segno, seg_size_, init));
  }
  if (!ahead) return Status::OK();
  pending_segno_ = segno + 1;
  pending_ = std::async(std::launch::async, [this, next = segno + 1, init] {
    return CreateSegment(fs_, wal_dir_, tli_, next, seg_size_, init, /*paced=*/true);
  });
  return Status::OK();
}

WalWriter::WalWriter(WalWriterOptions opts, Lsn insert_pos, Lsn prev_record)
    : opts_(std::move(opts)), written_(insert_pos), flushed_(insert_pos) {
  MutexLock l(&insert_mu_);
  cur_ = insert_pos;
  prev_record_ = prev_record;
  redo_ptr_ = insert_pos;
}

WalWriter::~WalWriter() { Stop().IgnoreError(); }  // callers that care call Stop() themselves

Lsn WalWriter::insert_lsn() const {
  MutexLock l(&insert_mu_);
  return cur_;
}

Lsn WalWriter::last_record() const {
  MutexLock l(&insert_mu_);
  return prev_record_;
}

void WalWriter::AppendLocked(std::string_view bytes) {
  if (!pending_.empty()) {
    Chunk& last = pending_.back();
    if (last.start + last.bytes.size() == cur_) {
      last.bytes.append(bytes);
      cur_ = cur_ + bytes.size();
      pending_bytes_ += bytes.size();
      return;
    }
  }
  pending_.push_back(Chunk{cur_, std::string(bytes)});
  cur_ = cur_ + bytes.size();
  pending_bytes_ += bytes.size();
}

void WalWriter::PlaceLocked(std::string_view rec) {
  bool first = true;
  while (!rec.empty()) {
    uint64_t page_off = cur_.value() % kXlogBlcksz;
    if (page_off == 0) {
      PageHeader h;
      h.tli = opts_.tli;
      h.pageaddr = cur_.value();
      bool seg_start = cur_.value() % opts_.seg_size == 0;
      h.info = kXlpBkpRemovable;
      if (seg_start) {
        h.info |= kXlpLongHeader;
        h.sysid = opts_.sysid;
        h.seg_size = static_cast<uint32_t>(opts_.seg_size);
        h.blcksz = kXlogBlcksz;
      }
      if (!first) {
        h.info |= kXlpFirstIsContrecord;
        h.rem_len = static_cast<uint32_t>(rec.size());
      }
      AppendLocked(EncodePageHeader(h));
      page_off = cur_.value() % kXlogBlcksz;
    }
    size_t n = std::min<size_t>(rec.size(), kXlogBlcksz - page_off);
    AppendLocked(rec.substr(0, n));
    rec.remove_prefix(n);
    first = false;
  }
  // The next record starts 8-aligned; the gap is zero.
  uint64_t pad = MaxAlign(cur_.value()) - cur_.value();
  if (pad) AppendLocked(std::string(pad, '\0'));
}

Lsn WalWriter::SetRedoPointer() {
  MutexLock l(&insert_mu_);
  Lsn redo = cur_;
  if (redo.value() % kXlogBlcksz == 0) {
    redo = redo + (redo.value() % opts_.seg_size == 0 ? kLongPageHeaderSize : kShortPageHeaderSize);
  }
  redo_ptr_ = redo;
  return redo;
}

Lsn WalWriter::redo_pointer() const {
  MutexLock l(&insert_mu_);
  return redo_ptr_;
}

Result<WalWriter::Position> WalWriter::Insert(uint8_t rmid, uint8_t info, TransactionId xid,
                                              std::string_view body, Lsn fpi_redo) {
  Position pos;
  bool write_out = false;
  {
    MutexLock l(&insert_mu_);
    if (fpi_redo.valid() && fpi_redo != redo_ptr_) {
      return Status::Retry("the REDO pointer moved");
    }
    std::string rec = AssembleRecord(xid, prev_record_, info, rmid, body);
    // A record never starts inside a page header.
    uint64_t page_off = cur_.value() % kXlogBlcksz;
    pos.start = cur_;
    if (page_off == 0) {
      bool seg_start = cur_.value() % opts_.seg_size == 0;
      pos.start = cur_ + (seg_start ? kLongPageHeaderSize : kShortPageHeaderSize);
    }
    PlaceLocked(rec);
    prev_record_ = pos.start;
    pos.end = cur_;
    write_out = pending_bytes_ >= opts_.buffer_bytes;
  }
  if (write_out) {
    // The buffer is full: write it (without fsync) so memory stays bounded.
    MutexLock w(&write_mu_);
    WALREP_RETURN_IF_ERROR(WriteOut(false));
  }
  return pos;
}

Result<std::optional<WalWriter::Position>> WalWriter::SwitchSegment() {
  Position pos;
  {
    MutexLock l(&insert_mu_);
    uint64_t seg_off = cur_.value() % opts_.seg_size;
    // Nothing in this segment yet: no switch needed (PostgreSQL does the same).
    if (seg_off == 0 || seg_off == kLongPageHeaderSize) return std::optional<Position>();
    std::string rec = AssembleRecord(0, prev_record_, kXlogSwitch, kRmXlog, "");
    pos.start = cur_;
    if (cur_.value() % kXlogBlcksz == 0) pos.start = cur_ + kShortPageHeaderSize;
    PlaceLocked(rec);
    prev_record_ = pos.start;
    pos.end = cur_;  // just after the switch record, as pg_switch_wal() reports it
    // The rest of the segment stays zero, page headers included (PostgreSQL 15 does this).
    uint64_t next = (SegmentOf(cur_, opts_.seg_size) + (cur_.value() % opts_.seg_size ? 1 : 0)) *
                    opts_.seg_size;
    cur_ = Lsn(next);
  }
  return std::optional<Position>(pos);
}

Result<io::RandomAccessFile*> WalWriter::SegmentFile(XLogSegNo segno) {
  if (open_segno_ == segno && open_file_) return open_file_.get();
  if (open_file_) {
    unsynced_.push_back(open_segno_);
    open_file_.reset();
  }
  if (!prealloc_) {
    prealloc_ =
        std::make_unique<SegmentPreallocator>(opts_.fs, opts_.wal_dir, opts_.tli, opts_.seg_size);
  }
  bool zero = opts_.init_zero == nullptr || opts_.init_zero->load(std::memory_order_relaxed);
  WALREP_RETURN_IF_ERROR(
      prealloc_->Ensure(segno, zero ? SegmentInit::kZeroFill : SegmentInit::kAllocate));
  std::string path = opts_.wal_dir + "/" + XLogFileName(opts_.tli, segno, opts_.seg_size);
  WALREP_ASSIGN_OR_RETURN(open_file_, opts_.fs->OpenRandomAccess(path, false));
  open_segno_ = segno;
  return open_file_.get();
}

Status WalWriter::WriteChunk(const Chunk& c) {
  std::string_view bytes = c.bytes;
  Lsn pos = c.start;
  while (!bytes.empty()) {
    XLogSegNo segno = SegmentOf(pos, opts_.seg_size);
    uint64_t off = pos.value() % opts_.seg_size;
    size_t n = std::min<size_t>(bytes.size(), opts_.seg_size - off);
    WALREP_ASSIGN_OR_RETURN(io::RandomAccessFile * f, SegmentFile(segno));
    WALREP_RETURN_IF_ERROR(f->WriteAt(off, bytes.substr(0, n)));
    bytes.remove_prefix(n);
    pos = pos + n;
  }
  return Status::OK();
}

Status WalWriter::WriteOut(bool sync) {
  std::vector<Chunk> chunks;
  Lsn upto;
  {
    MutexLock l(&insert_mu_);
    chunks.swap(pending_);
    pending_bytes_ = 0;
    upto = cur_;
  }
  for (const auto& c : chunks) {
    Status st = WriteChunk(c);
    if (!st.ok()) {
      // A failed WAL write leaves the on-disk state unknown; PostgreSQL PANICs here.
      WALREP_FATAL("PANIC: could not write to WAL: {}", st.message());
      std::abort();
    }
  }
  if (open_file_ && SegmentOf(upto, opts_.seg_size) > open_segno_) {
    // The insert position left the open segment (its last byte, or an XLOG_SWITCH): it is
    // complete now, not when the next segment is first written.
    unsynced_.push_back(open_segno_);
    open_file_.reset();
    open_segno_ = ~0ull;
  }
  written_.Advance(upto);
  if (!sync) return Status::OK();
  if (opts_.fsync) {
    for (XLogSegNo segno : unsynced_) {
      std::string path = opts_.wal_dir + "/" + XLogFileName(opts_.tli, segno, opts_.seg_size);
      auto f = opts_.fs->OpenRandomAccess(path, false);
      Status st = f.ok() ? (*f)->Sync() : f.status();
      if (!st.ok()) {
        WALREP_FATAL("PANIC: could not fsync WAL file \"{}\": {}", path, st.message());
        std::abort();  // never retry an fsync
      }
    }
    if (open_file_) {
      Status st = open_file_->Sync();
      if (!st.ok()) {
        WALREP_FATAL("PANIC: could not fsync WAL: {}", st.message());
        std::abort();
      }
    }
  }
  if (opts_.segment_done) {
    for (XLogSegNo segno : unsynced_) opts_.segment_done(segno);
  }
  unsynced_.clear();
  flushed_.Advance(upto);
  return Status::OK();
}

Status WalWriter::Flush(Lsn upto) {
  // One committer at a time leads a flush (flushing_). The others sleep until it ends, then
  // all look at the flush position at once: whoever it covers returns (that is the group
  // commit), and one of the rest leads the next flush, which takes everything inserted
  // meanwhile (PostgreSQL's LWLockAcquireOrWait on WALWriteLock). Queueing on write_mu_
  // instead handed the lock from waiter to waiter, a context switch each, before the next
  // fsync could start; sleeping on a condition variable made every woken waiter re-take its
  // mutex, a second switch for those that collided.
  while (flushed_.value() < upto) {
    uint32_t seen = flush_ends_.value();
    bool idle = false;
    if (!flushing_.compare_exchange_strong(idle, true, std::memory_order_acq_rel)) {
      // A flush is under way: sleep until it ends (or, if it ended since `seen` was read,
      // not at all), then look again.
      flush_ends_.WaitWhile(seen);
      continue;
    }
    Status st;
    {
      MutexLock w(&write_mu_);
      if (flushed_.value() < upto) st = WriteOut(true);
    }
    flushing_.store(false, std::memory_order_release);
    flush_ends_.BumpAndWakeAll();
    return st;
  }
  return Status::OK();
}

void WalWriter::StartBackgroundWriter() {
  bg_ = NamedThread("walwriter", [this] { BackgroundLoop(); });
}

void WalWriter::BackgroundLoop() {
  MutexLock l(&bg_mu_);
  while (!bg_stop_) {
    bg_cv_.WaitUntil(std::chrono::steady_clock::now() + opts_.writer_delay);
    if (bg_stop_) break;
    bg_mu_.Unlock();
    if (insert_lsn() > flushed_.value()) {
      Status st = FlushAll();
      if (!st.ok()) WALREP_LOG_ERROR("WAL writer: {}", st.message());
    }
    bg_mu_.Lock();
  }
}

void WalWriter::AbandonForTest() {
  {
    MutexLock l(&bg_mu_);
    bg_stop_ = true;
    bg_cv_.SignalAll();
  }
  if (bg_.joinable()) bg_.join();
  MutexLock l(&insert_mu_);
  pending_.clear();
  pending_bytes_ = 0;
  flushed_.Advance(cur_);  // nothing is left to flush: the "crash" took it
}

Status WalWriter::Stop() {
  {
    MutexLock l(&bg_mu_);
    bg_stop_ = true;
    bg_cv_.SignalAll();
  }
  if (bg_.joinable()) bg_.join();
  return FlushAll();
}

}  // namespace walrep::wal
