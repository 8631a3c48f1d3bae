// walrep: WAL life cycle (see xlog.h).
#include "walrep/storage/xlog.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "walrep/common/logging.h"

namespace walrep::storage {

namespace {

wal::CheckPoint NewCheckPoint(const ControlFileData& c, Lsn redo, bool fpw) {
  wal::CheckPoint cp = c.checkpoint_copy;
  cp.redo = redo.value();
  cp.full_page_writes = fpw ? 1 : 0;
  cp.time = std::time(nullptr);
  return cp;
}

}  // namespace

Status XLog::Bootstrap(io::FileSystem* fs, const std::string& data_dir, ControlFileData* control) {
  wal::WalWriterOptions wo;
  wo.fs = fs;
  wo.wal_dir = data_dir + "/pg_wal";
  wo.sysid = control->system_identifier;
  // initdb starts WAL in segment 1, so the first record is 0/1000028 as in PostgreSQL.
  Lsn start = wal::SegmentStart(1, wo.seg_size);
  wal::WalWriter w(wo, start, Lsn());
  wal::CheckPoint cp = control->checkpoint_copy;
  cp.redo = start.value() + wal::kLongPageHeaderSize;
  cp.time = std::time(nullptr);
  WALREP_ASSIGN_OR_RETURN(
      auto pos, w.Insert(wal::kRmXlog, wal::kXlogCheckpointShutdown, 0,
                         wal::RecordBuilder().SetMainData(wal::EncodeCheckPoint(cp)).BuildBody()));
  WALREP_RETURN_IF_ERROR(w.Stop());
  control->checkpoint = pos.start.value();
  control->checkpoint_copy = cp;
  control->state = static_cast<uint32_t>(DbState::kShutdowned);
  return WriteControlFile(fs, data_dir, *control);
}

Result<std::unique_ptr<XLog>> XLog::Open(XLogOptions opts, const RedoFn& redo,
                                         RecoveryResult* result) {
  std::unique_ptr<XLog> x(new XLog(opts));
  WALREP_ASSIGN_OR_RETURN(ControlFileData control, ReadControlFile(opts.fs, opts.data_dir));
  x->sysid_ = control.system_identifier;
  auto state = static_cast<DbState>(control.state);
  result->crash_recovery = state != DbState::kShutdowned;
  wal::WalReader reader(opts.fs, x->wal_dir(), control.checkpoint_copy.this_timeline);
  Lsn ckpt(control.checkpoint);
  auto ckpt_rec = reader.ReadRecord(ckpt);
  if (!ckpt_rec.ok() || ckpt_rec->rmid != wal::kRmXlog ||
      ((ckpt_rec->info & 0xF0) != wal::kXlogCheckpointShutdown &&
       (ckpt_rec->info & 0xF0) != wal::kXlogCheckpointOnline)) {
    return Status::Corruption(
               fmt::format("could not locate a valid checkpoint record at {}", ckpt.ToString()))
        .WithSeverity(Severity::kPanic)
        .WithDetail(ckpt_rec.ok() ? "" : ckpt_rec.status().message());
  }
  WALREP_ASSIGN_OR_RETURN(wal::CheckPoint cp, wal::DecodeCheckPoint(ckpt_rec->main_data));
  if (result->crash_recovery) {
    WALREP_LOG("database system was not properly shut down; automatic recovery in progress");
    control.state = static_cast<uint32_t>(DbState::kInCrashRecovery);
    WALREP_RETURN_IF_ERROR(WriteControlFile(opts.fs, opts.data_dir, control));
  }
  // Replay from the REDO point. The first record read may be the checkpoint itself.
  Lsn pos(cp.redo);
  result->redo_start = pos;
  Lsn prev;
  uint64_t max_xid = static_cast<uint32_t>(cp.next_xid);
  Status stop;
  while (true) {
    auto rec = reader.ReadRecord(pos, prev);
    if (!rec.ok()) {
      stop = rec.TakeStatus();
      break;
    }
    WALREP_RETURN_IF_ERROR(redo(*rec));
    if (rec->lsn > ckpt) result->records_replayed++;
    if (rec->xid != 0 && rec->xid >= max_xid) max_xid = static_cast<uint64_t>(rec->xid) + 1;
    prev = rec->lsn;
    result->last_record = rec->lsn;
    pos = reader.NextRecordLsn(*rec);
  }
  if (!result->last_record.valid()) {
    return Status::Corruption(fmt::format("could not read the REDO record at {}: {}",
                                          Lsn(cp.redo).ToString(), stop.message()))
        .WithSeverity(Severity::kPanic);
  }
  result->end = pos;
  if (result->crash_recovery) {
    WALREP_LOG("redo starts at {}", result->redo_start.ToString());
    WALREP_LOG("redo done at {}; last stop reason: {}", result->last_record.ToString(),
               stop.message());
  }
  // Whatever follows the end of valid WAL was never acknowledged: zero the rest of this segment
  // and drop later segments, so no stale record can ever be read as part of the new WAL.
  uint64_t seg_size = wal::kDefaultSegSize;
  XLogSegNo end_seg = wal::SegmentOf(pos, seg_size);
  std::string seg_path = x->wal_dir() + "/" + wal::XLogFileName(1, end_seg, seg_size);
  if (opts.fs->Exists(seg_path)) {
    WALREP_ASSIGN_OR_RETURN(auto f, opts.fs->OpenRandomAccess(seg_path, false));
    uint64_t off = pos.value() % seg_size;
    if (off > 0) {
      WALREP_RETURN_IF_ERROR(f->WriteAt(off, std::string(seg_size - off, '\0')));
      WALREP_RETURN_IF_ERROR(f->Sync());
    }
  }
  WALREP_ASSIGN_OR_RETURN(auto names, opts.fs->ListDir(x->wal_dir()));
  for (const auto& n : names) {
    TimelineId tli;
    XLogSegNo segno;
    if (wal::ParseXLogFileName(n, seg_size, &tli, &segno) && segno > end_seg) {
      WALREP_RETURN_IF_ERROR(opts.fs->Remove(x->wal_dir() + "/" + n));
    }
  }
  control.checkpoint_copy.next_xid = std::max<uint64_t>(control.checkpoint_copy.next_xid, max_xid);

  wal::WalWriterOptions wo;
  wo.fs = opts.fs;
  wo.wal_dir = x->wal_dir();
  wo.sysid = control.system_identifier;
  wo.fsync = opts.fsync;
  wo.buffer_bytes = opts.wal_buffers;
  wo.writer_delay = opts.wal_writer_delay;
  x->writer_ = std::make_unique<wal::WalWriter>(wo, pos, result->last_record);
  x->writer_->StartBackgroundWriter();
  {
    MutexLock l(&x->mu_);
    x->control_ = control;
  }
  {
    MutexLock l(&x->mu_);
    x->control_.state = static_cast<uint32_t>(DbState::kInProduction);
    WALREP_RETURN_IF_ERROR(WriteControlFile(opts.fs, opts.data_dir, x->control_));
  }
  return x;
}

XLog::~XLog() {
  if (writer_) writer_->Stop().IgnoreError();  // Shutdown() reports errors; this is a backstop
}

Result<Lsn> XLog::Checkpoint(bool shutdown, const char* reason) {
  MutexLock l(&mu_);
  auto started = std::chrono::steady_clock::now();
  if (opts_.log_checkpoints) WALREP_LOG("checkpoint starting: {}", reason);
  // Everything changed before the REDO point is flushed below; replay starts there.
  Lsn redo = writer_->SetRedoPointer();
  wal::CheckPoint cp = NewCheckPoint(control_, redo, opts_.full_page_writes);
  if (hook_) WALREP_RETURN_IF_ERROR(hook_(&cp));
  WALREP_ASSIGN_OR_RETURN(
      auto pos,
      writer_->Insert(wal::kRmXlog,
                      shutdown ? wal::kXlogCheckpointShutdown : wal::kXlogCheckpointOnline, 0,
                      wal::RecordBuilder().SetMainData(wal::EncodeCheckPoint(cp)).BuildBody()));
  WALREP_RETURN_IF_ERROR(writer_->Flush(pos.end));
  control_.checkpoint = pos.start.value();
  control_.checkpoint_copy = cp;
  if (shutdown) control_.state = static_cast<uint32_t>(DbState::kShutdowned);
  WALREP_RETURN_IF_ERROR(WriteControlFile(opts_.fs, opts_.data_dir, control_));
  WALREP_RETURN_IF_ERROR(RemoveOldSegments(redo));
  if (opts_.log_checkpoints) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    WALREP_LOG("checkpoint complete: wrote 0 buffers (0.0%); total={:.3f} s; lsn={}, redo lsn={}",
               secs, pos.start.ToString(), redo.ToString());
  }
  return pos.start;
}

Status XLog::RemoveOldSegments(Lsn redo) {
  // Keep the segment holding the REDO point and wal_keep_size worth before it.
  uint64_t seg_size = wal::kDefaultSegSize;
  uint64_t keep_from =
      redo.value() > opts_.wal_keep_bytes ? redo.value() - opts_.wal_keep_bytes : 0;
  XLogSegNo oldest = wal::SegmentOf(Lsn(keep_from), seg_size);
  WALREP_ASSIGN_OR_RETURN(auto names, opts_.fs->ListDir(wal_dir()));
  for (const auto& n : names) {
    TimelineId tli;
    XLogSegNo segno;
    if (wal::ParseXLogFileName(n, seg_size, &tli, &segno) && segno < oldest) {
      WALREP_RETURN_IF_ERROR(opts_.fs->Remove(wal_dir() + "/" + n));
    }
  }
  return Status::OK();
}

Result<Lsn> XLog::SwitchWal() {
  MutexLock l(&mu_);
  WALREP_ASSIGN_OR_RETURN(auto pos, writer_->SwitchSegment());
  if (!pos) return writer_->insert_lsn();
  WALREP_RETURN_IF_ERROR(writer_->Flush(pos->end));
  return pos->end;
}

Status XLog::Shutdown() {
  WALREP_RETURN_IF_ERROR(Checkpoint(true, "shutdown immediate").status());
  return writer_->Stop();
}

ControlFileData XLog::control() const {
  MutexLock l(&mu_);
  return control_;
}

}  // namespace walrep::storage
