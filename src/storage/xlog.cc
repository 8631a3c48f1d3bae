// walrep: WAL life cycle (see xlog.h).
#include "walrep/storage/xlog.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>

#include "walrep/common/logging.h"
#include "walrep/common/time.h"
#include "walrep/wal/archive_status.h"

namespace walrep::storage {

namespace {

wal::CheckPoint NewCheckPoint(const ControlFileData& c, Lsn redo, bool fpw) {
  wal::CheckPoint cp = c.checkpoint_copy;
  cp.redo = redo.value();
  cp.full_page_writes = fpw ? 1 : 0;
  cp.time = std::time(nullptr);
  return cp;
}

Result<std::optional<BackupLabel>> ReadBackupLabel(io::FileSystem* fs, const std::string& dir) {
  std::string path = dir + "/backup_label";
  if (!fs->Exists(path)) return std::optional<BackupLabel>();
  WALREP_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path));
  WALREP_ASSIGN_OR_RETURN(BackupLabel b, ParseBackupLabel(text, path));
  return std::optional<BackupLabel>(b);
}

}  // namespace

Result<BackupLabel> ParseBackupLabel(std::string_view text, const std::string& path) {
  BackupLabel b;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    auto value = [&](std::string_view key) -> std::optional<Lsn> {
      if (line.substr(0, key.size()) != key) return std::nullopt;
      std::string_view rest = line.substr(key.size());
      return Lsn::Parse(std::string(rest.substr(0, rest.find(' '))));
    };
    if (auto v = value("START WAL LOCATION: ")) b.start = *v;
    if (auto v = value("CHECKPOINT LOCATION: ")) b.checkpoint = *v;
    if (line == "BACKUP FROM: standby") b.from_standby = true;
  }
  if (!b.start.valid() || !b.checkpoint.valid()) {
    return Status::Corruption(fmt::format("invalid data in file \"{}\"", path))
        .WithSeverity(Severity::kFatal);
  }
  return b;
}

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
  Lsn ckpt(control.checkpoint);
  // A base backup: replay starts at the checkpoint its backup_label names (pg_control was
  // copied last and may point later), and the data is consistent only once the backup's
  // BACKUP_END record has been replayed.
  WALREP_ASSIGN_OR_RETURN(auto label, ReadBackupLabel(opts.fs, opts.data_dir));
  if (label) {
    WALREP_LOG("starting backup recovery with redo LSN {}, checkpoint LSN {}",
               label->start.ToString(), label->checkpoint.ToString());
    ckpt = label->checkpoint;
    result->crash_recovery = true;
    control.checkpoint = ckpt.value();
    control.backup_start_point = label->start.value();
    control.backup_end_required = 1;
    // As PostgreSQL: taken from a standby (or written by pg_rewind), the backup is consistent
    // at the minimum recovery point pg_control was given.
    if (label->from_standby && control.min_recovery_point != 0) {
      control.backup_end_point = control.min_recovery_point;
    }
  }
  WALREP_ASSIGN_OR_RETURN(wal::TimelineHistory history, x->RecoveryHistory(control, ckpt));
  {
    MutexLock l(&x->mu_);
    x->history_ = history;
  }
  x->tli_.store(std::max<TimelineId>(control.checkpoint_copy.this_timeline, 1));
  wal::WalReader reader(opts.fs, x->wal_dir(), history);
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
  if (label) {
    // pg_control may be a newer server's (pg_rewind copies the source's): replay starts on the
    // timeline of the label's checkpoint.
    control.checkpoint_copy = cp;
    x->tli_.store(std::max<TimelineId>(cp.this_timeline, 1));
  }
  if (opts.standby) {
    WALREP_LOG("{}", opts.archive_recovery ? "starting archive recovery" : "entering standby mode");
    control.state = static_cast<uint32_t>(DbState::kInArchiveRecovery);
    WALREP_RETURN_IF_ERROR(WriteControlFile(opts.fs, opts.data_dir, control));
  } else if (result->crash_recovery) {
    WALREP_LOG("database system was not properly shut down; automatic recovery in progress");
    control.state = static_cast<uint32_t>(DbState::kInCrashRecovery);
    WALREP_RETURN_IF_ERROR(WriteControlFile(opts.fs, opts.data_dir, control));
  }
  if (label) {
    // pg_control now carries the backup's start; the label is not needed again.
    WALREP_RETURN_IF_ERROR(
        opts.fs->Rename(opts.data_dir + "/backup_label", opts.data_dir + "/backup_label.old"));
    WALREP_RETURN_IF_ERROR(opts.fs->SyncDir(opts.data_dir));
  }
  {
    MutexLock l(&x->mu_);
    x->control_ = control;
  }
  x->min_recovery_written_.store(control.min_recovery_point);
  if (opts.before_redo) opts.before_redo(x.get(), cp);
  // Replay from the REDO point. The first record read may be the checkpoint itself.
  auto recovery = std::make_unique<Recovery>(
      x.get(), opts.fs, x->wal_dir(), history, Lsn(cp.redo),
      opts.standby ? Recovery::State::kStandby : Recovery::State::kCrash);
  result->redo_start = Lsn(cp.redo);
  uint64_t max_xid = static_cast<uint32_t>(cp.next_xid);
  if (opts.standby) recovery->SetTarget(opts.recovery_target);
  recovery->SetPrefetcher(opts.prefetcher);
  Status stop;
  while (!recovery->reached_target()) {
    auto rec = recovery->ReadNext();
    if (!rec.ok()) {
      stop = rec.TakeStatus();
      break;
    }
    if (recovery->StopsBefore(*rec)) break;
    WALREP_RETURN_IF_ERROR(redo(&*rec));
    WALREP_RETURN_IF_ERROR(recovery->Replayed(*rec).status());
    if (rec->lsn > ckpt) result->records_replayed++;
    if (rec->xid != 0 && rec->xid >= max_xid) max_xid = static_cast<uint64_t>(rec->xid) + 1;
    // A standby opens for reads as soon as it is consistent; its startup thread replays the
    // rest of pg_wal (it may be gigabytes) while it serves them.
    if (opts.standby && x->consistent()) {
      WALREP_LOG("consistent recovery state reached at {}", rec->end_lsn.ToString());
      break;
    }
  }
  result->last_record = recovery->last_record();
  result->last_record_end = recovery->last_record_end();
  Lsn pos = recovery->position();
  if (!result->last_record.valid()) {
    return Status::Corruption(fmt::format("could not read the REDO record at {}: {}",
                                          Lsn(cp.redo).ToString(), stop.message()))
        .WithSeverity(Severity::kPanic);
  }
  result->end = pos;
  if (opts.standby) {
    // The rest arrives from the primary; the startup thread continues the same recovery.
    WALREP_LOG("redo starts at {}", result->redo_start.ToString());
    result->recovery = std::move(recovery);
    MutexLock l(&x->mu_);
    x->control_.checkpoint_copy.next_xid =
        std::max<uint64_t>(x->control_.checkpoint_copy.next_xid, max_xid);
    return x;
  }
  if (x->control().backup_end_required) {
    return Status::Corruption("WAL ends before end of online backup")
        .WithSeverity(Severity::kFatal)
        .WithHint(
            "All WAL generated while online backup was taken must be available at "
            "recovery.");
  }
  if (result->crash_recovery) {
    WALREP_LOG("redo starts at {}", result->redo_start.ToString());
    WALREP_LOG("redo done at {}; last stop reason: {}", result->last_record.ToString(),
               stop.message());
  }
  // Whatever follows the end of valid WAL was never acknowledged: zero the rest of this segment
  // and drop later segments, so no stale record can ever be read as part of the new WAL.
  uint64_t seg_size = wal::kDefaultSegSize;
  XLogSegNo end_seg = wal::SegmentOf(pos, seg_size);
  std::string seg_path = x->wal_dir() + "/" + wal::XLogFileName(x->timeline(), end_seg, seg_size);
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
  control = x->control();
  control.checkpoint_copy.next_xid = std::max<uint64_t>(control.checkpoint_copy.next_xid, max_xid);

  WALREP_RETURN_IF_ERROR(recovery->Finish().status());
  x->StartWriter(pos, result->last_record);
  {
    MutexLock l(&x->mu_);
    x->control_ = control;
    x->control_.state = static_cast<uint32_t>(DbState::kInProduction);
    WALREP_RETURN_IF_ERROR(WriteControlFile(opts.fs, opts.data_dir, x->control_));
  }
  return x;
}

Result<wal::TimelineHistory> XLog::RecoveryHistory(const ControlFileData& control, Lsn ckpt) const {
  TimelineId ckpt_tli = std::max<TimelineId>(control.checkpoint_copy.this_timeline, 1);
  const std::string& want = opts_.recovery_target_timeline;
  TimelineId target = ckpt_tli;
  bool explicit_target = false;
  if (!opts_.standby || want.empty() || want == "latest") {
    target = wal::FindNewestTimeline(opts_.fs, wal_dir(), ckpt_tli);
  } else if (want != "current") {
    char* end = nullptr;
    errno = 0;
    unsigned long n = std::strtoul(want.c_str(), &end, 10);
    if (want.empty() || *end != '\0' || errno != 0 || n == 0 || n > 0xFFFFFFFFul) {
      return Status::InvalidArgument(
                 fmt::format("invalid value for parameter \"recovery_target_timeline\": \"{}\"",
                             want))
          .WithDetail("recovery_target_timeline is not a valid number.")
          .WithSeverity(Severity::kFatal);
    }
    target = static_cast<TimelineId>(n);
    explicit_target = true;
  }
  WALREP_ASSIGN_OR_RETURN(wal::TimelineHistory h,
                          wal::ReadTimelineHistory(opts_.fs, wal_dir(), target));
  if (target != ckpt_tli && wal::TimelineOfPoint(h, ckpt) != ckpt_tli) {
    if (!opts_.standby && !explicit_target) {
      // A history file of a timeline that forked before our checkpoint (or a stray one): crash
      // recovery stays on the checkpoint's timeline.
      return wal::ReadTimelineHistory(opts_.fs, wal_dir(), ckpt_tli);
    }
    return Status::Sql("XX000", fmt::format("requested timeline {} is not a child of this "
                                            "server's history",
                                            target))
        .WithSeverity(Severity::kFatal)
        .WithDetail(fmt::format(
            "Latest checkpoint is at {} on timeline {}, but in the history of the requested "
            "timeline, the server forked off from that timeline at {}.",
            ckpt.ToString(), ckpt_tli, wal::TimelineSwitchPoint(h, ckpt_tli).ToString()));
  }
  if (target != ckpt_tli) WALREP_LOG("recovery target timeline is {}", target);
  return h;
}

bool XLog::ArchivingActive() const {
  return opts_.archive_mode == "always" || (opts_.archive_mode == "on" && writer_ != nullptr);
}

void XLog::NotifyArchive(const std::string& file) {
  if (!ArchivingActive()) return;
  Status st = wal::MarkArchiveReady(opts_.fs, wal_dir(), file);
  // A lost status file is recreated before the segment could be removed (CheckArchiveDone).
  if (!st.ok())
    WALREP_LOG_ERROR("could not create archive status file for \"{}\": {}", file, st.message());
  if (opts_.archive_notify) opts_.archive_notify();
}

void XLog::StartWriter(Lsn pos, Lsn last_record) {
  wal::WalWriterOptions wo;
  wo.segment_done = [this](XLogSegNo segno) {
    NotifyArchive(wal::XLogFileName(timeline(), segno, wal::kDefaultSegSize));
  };
  wo.fs = opts_.fs;
  wo.wal_dir = wal_dir();
  wo.sysid = sysid_;
  wo.tli = timeline();
  wo.fsync = opts_.fsync;
  wo.buffer_bytes = opts_.wal_buffers;
  wo.writer_delay = opts_.wal_writer_delay;
  wo.init_zero = &init_zero_;
  writer_ = std::make_unique<wal::WalWriter>(wo, pos, last_record);
  writer_->StartBackgroundWriter();
}

wal::TimelineHistory XLog::history() const {
  MutexLock l(&mu_);
  return history_;
}

void XLog::SetHistory(wal::TimelineHistory h) {
  MutexLock l(&mu_);
  history_ = std::move(h);
}

Result<TimelineId> XLog::EndRecovery(Lsn end, Lsn last_record) {
  MutexLock serial(&checkpoint_mu_);
  MutexLock l(&mu_);
  const uint64_t seg_size = wal::kDefaultSegSize;
  TimelineId old_tli = timeline();
  TimelineId newest = std::max(wal::FindNewestTimeline(opts_.fs, wal_dir(), old_tli),
                               history_.empty() ? old_tli : history_.front().tli);
  TimelineId new_tli = newest + 1;
  WALREP_LOG("selected new timeline ID: {}", new_tli);
  // The new timeline's first segment: the old one's bytes up to the switch point, then zeros
  // (created under a temporary name, so a crash leaves it whole or absent).
  XLogSegNo segno = wal::SegmentOf(end, seg_size);
  uint64_t off = end.value() % seg_size;
  std::string old_name = wal::XLogFileName(old_tli, segno, seg_size);
  if (off > 0) {
    std::string src;
    for (TimelineId tli : wal::TimelinesForSegment(history_, segno, seg_size)) {
      std::string path = wal_dir() + "/" + wal::XLogFileName(tli, segno, seg_size);
      if (opts_.fs->Exists(path)) {
        src = path;
        break;
      }
    }
    if (src.empty()) {
      return Status::IOError(fmt::format("could not open file \"{}/{}\": No such file or directory",
                                         wal_dir(), old_name));
    }
    WALREP_ASSIGN_OR_RETURN(auto in, opts_.fs->OpenRandomAccess(src, false));
    WALREP_ASSIGN_OR_RETURN(std::string head, in->ReadAt(0, off));
    if (head.size() != off) {
      return Status::IOError(
          fmt::format("could not read file \"{}\": read {} of {}", src, head.size(), off));
    }
    std::string tmp = wal_dir() + "/xlogtemp.eor." + std::to_string(::getpid());
    // The walreceiver preallocated the next segment, zero-filled and untouched: taking it
    // writes only the copied head, not 16 MB (promotion time is failover time).
    std::string spare = wal_dir() + "/" + wal::XLogFileName(old_tli, segno + 1, seg_size);
    bool reused = false;
    if (opts_.fs->Exists(spare)) {
      auto f = opts_.fs->OpenRandomAccess(spare, false);
      auto size = f.ok() ? (*f)->Size() : Result<uint64_t>(Status::IOError("unreadable"));
      auto first = f.ok() ? (*f)->ReadAt(0, wal::kXlogBlcksz) : Result<std::string>(Status::OK());
      if (size.ok() && *size == seg_size && first.ok() &&
          *first == std::string(wal::kXlogBlcksz, '\0')) {
        f->reset();
        WALREP_RETURN_IF_ERROR(opts_.fs->Rename(spare, tmp));
        WALREP_ASSIGN_OR_RETURN(auto out, opts_.fs->OpenRandomAccess(tmp, false));
        WALREP_RETURN_IF_ERROR(out->WriteAt(0, head));
        WALREP_RETURN_IF_ERROR(out->Sync());
        reused = true;
      }
    }
    if (!reused) {
      WALREP_ASSIGN_OR_RETURN(auto out, opts_.fs->NewWritableFile(tmp));
      WALREP_RETURN_IF_ERROR(out->Append(head));
      WALREP_RETURN_IF_ERROR(out->Append(std::string(seg_size - off, '\0')));
      WALREP_RETURN_IF_ERROR(out->Sync());
      WALREP_RETURN_IF_ERROR(out->Close());
    }
    WALREP_RETURN_IF_ERROR(
        opts_.fs->Rename(tmp, wal_dir() + "/" + wal::XLogFileName(new_tli, segno, seg_size)));
    WALREP_RETURN_IF_ERROR(opts_.fs->SyncDir(wal_dir()));
  }
  WALREP_RETURN_IF_ERROR(wal::WriteTimelineHistory(opts_.fs, wal_dir(), new_tli, old_tli, end,
                                                   "no recovery target specified"));
  // The old timeline's last segment is incomplete: kept as .partial (the new timeline's copy
  // serves its bytes from now on).
  if (off > 0 && opts_.fs->Exists(wal_dir() + "/" + old_name)) {
    WALREP_RETURN_IF_ERROR(
        opts_.fs->Rename(wal_dir() + "/" + old_name, wal_dir() + "/" + old_name + ".partial"));
    WALREP_RETURN_IF_ERROR(opts_.fs->SyncDir(wal_dir()));
  }
  WALREP_ASSIGN_OR_RETURN(history_, wal::ReadTimelineHistory(opts_.fs, wal_dir(), new_tli));
  tli_.store(new_tli, std::memory_order_release);
  StartWriter(end, last_record);
  NotifyArchive(wal::HistoryFileName(new_tli));
  if (off > 0 && opts_.fs->Exists(wal_dir() + "/" + old_name + ".partial")) {
    NotifyArchive(old_name + ".partial");  // archived too, as PostgreSQL does
  }
  // xl_end_of_recovery: end_time, ThisTimeLineID, PrevTimeLineID.
  std::string eor(16, '\0');
  int64_t now = NowTimestamp();
  std::memcpy(eor.data(), &now, 8);
  std::memcpy(eor.data() + 8, &new_tli, 4);
  std::memcpy(eor.data() + 12, &old_tli, 4);
  WALREP_ASSIGN_OR_RETURN(auto pos,
                          writer_->Insert(wal::kRmXlog, wal::kXlogEndOfRecovery, 0,
                                          wal::RecordBuilder().SetMainData(eor).BuildBody()));
  WALREP_RETURN_IF_ERROR(writer_->Flush(pos.end));
  return new_tli;
}

Status XLog::SetInProduction() {
  MutexLock l(&mu_);
  control_.state = static_cast<uint32_t>(DbState::kInProduction);
  control_.min_recovery_point = 0;
  control_.min_recovery_point_tli = 0;
  control_.backup_start_point = 0;
  control_.backup_end_point = 0;
  control_.backup_end_required = 0;
  return WriteControlFile(opts_.fs, opts_.data_dir, control_);
}

XLog::~XLog() {
  if (writer_) writer_->Stop().IgnoreError();  // Shutdown() reports errors; this is a backstop
}

Result<Lsn> XLog::Checkpoint(bool shutdown, const char* reason, Lsn* redo_out) {
  MutexLock serial(&checkpoint_mu_);
  auto started = std::chrono::steady_clock::now();
  if (opts_.log_checkpoints) WALREP_LOG("checkpoint starting: {}", reason);
  // Everything changed before the REDO point is flushed below; replay starts there.
  Lsn redo = writer_->SetRedoPointer();
  wal::CheckPoint cp;
  CheckpointHook hook;
  {
    MutexLock l(&mu_);
    cp = NewCheckPoint(control_, redo, opts_.full_page_writes);
    // The first checkpoint of a new timeline names its parent (PrevTimeLineID).
    cp.prev_timeline = control_.checkpoint_copy.this_timeline;
    hook = hook_;
  }
  cp.this_timeline = timeline();
  uint64_t buffers = 0;
  if (hook) WALREP_RETURN_IF_ERROR(hook(&cp, &buffers));
  WALREP_ASSIGN_OR_RETURN(
      auto pos,
      writer_->Insert(wal::kRmXlog,
                      shutdown ? wal::kXlogCheckpointShutdown : wal::kXlogCheckpointOnline, 0,
                      wal::RecordBuilder().SetMainData(wal::EncodeCheckPoint(cp)).BuildBody()));
  WALREP_RETURN_IF_ERROR(writer_->Flush(pos.end));
  {
    MutexLock l(&mu_);
    Lsn prev_redo(control_.checkpoint_copy.redo);
    // pg_control is replaced atomically (WriteFileDurably): when that fails the previous
    // checkpoint stays in force, on disk and here, and nothing is removed — the checkpoint
    // failed, not the server.
    ControlFileData next = control_;
    next.checkpoint = pos.start.value();
    next.checkpoint_copy = cp;
    if (shutdown) next.state = static_cast<uint32_t>(DbState::kShutdowned);
    WALREP_RETURN_IF_ERROR(WriteControlFile(opts_.fs, opts_.data_dir, next));
    control_ = next;
    if (redo > prev_redo) checkpoint_distance_ = redo.value() - prev_redo.value();
  }
  int removed = 0, recycled = 0;
  WALREP_RETURN_IF_ERROR(RemoveOldSegments(redo, &removed, &recycled));
  if (opts_.log_checkpoints) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    WALREP_LOG(
        "checkpoint complete: wrote {} buffers ({:.1f}%); {} WAL file(s) removed, {} "
        "recycled; total={:.3f} s; lsn={}, redo lsn={}",
        buffers,
        opts_.shared_buffers
            ? 100.0 * static_cast<double>(buffers) / static_cast<double>(opts_.shared_buffers)
            : 0.0,
        removed, recycled, secs, pos.start.ToString(), redo.ToString());
  }
  if (redo_out) *redo_out = redo;
  return pos.start;
}

void XLog::SetWalSizes(uint64_t keep, uint64_t min, uint64_t max, double completion_target) {
  MutexLock l(&mu_);
  opts_.wal_keep_bytes = keep;
  opts_.min_wal_bytes = min;
  opts_.max_wal_bytes = max;
  opts_.checkpoint_completion_target = completion_target;
}

Status XLog::RemoveOldSegments(Lsn redo, int* removed, int* recycled) {
  // Keep the segment holding the REDO point and wal_keep_size worth before it.
  uint64_t seg_size = wal::kDefaultSegSize;
  uint64_t keep_bytes, min_wal_bytes, max_wal_bytes, checkpoint_distance;
  double completion_target;
  KeepHook keep_hook;
  {
    MutexLock l(&mu_);
    keep_bytes = opts_.wal_keep_bytes;
    min_wal_bytes = opts_.min_wal_bytes;
    max_wal_bytes = opts_.max_wal_bytes;
    completion_target = opts_.checkpoint_completion_target;
    checkpoint_distance = checkpoint_distance_;
    keep_hook = keep_hook_;
  }
  uint64_t keep_from = redo.value() > keep_bytes ? redo.value() - keep_bytes : 0;
  if (keep_hook) {
    Lsn keep = keep_hook(redo);
    if (keep.valid() && keep.value() < keep_from) keep_from = keep.value();
  }
  XLogSegNo oldest = wal::SegmentOf(Lsn(keep_from), seg_size);
  // Recycle up to the segment the next checkpoint cycle is expected to reach (the last cycle's
  // distance, spread by the completion target, plus 10%), within [min_wal_size, max_wal_size]
  // from the REDO point: PostgreSQL's XLOGfileslop().
  XLogSegNo redo_seg = wal::SegmentOf(redo, seg_size);
  XLogSegNo min_seg = redo_seg + std::max<uint64_t>(min_wal_bytes / seg_size, 2) - 1;
  XLogSegNo max_seg = redo_seg + std::max<uint64_t>(max_wal_bytes / seg_size, 2) - 1;
  double distance = (1.0 + completion_target) * static_cast<double>(checkpoint_distance) * 1.10;
  auto recycle_to = static_cast<XLogSegNo>(
      std::ceil((static_cast<double>(redo.value()) + distance) / static_cast<double>(seg_size)));
  recycle_to = std::clamp(recycle_to, min_seg, max_seg);
  // Future segments start after the one being written; existing ones (preallocated or
  // recycled earlier) are skipped.
  XLogSegNo next_free = wal::SegmentOf(writer_ ? writer_->insert_lsn() : redo, seg_size) + 1;
  WALREP_ASSIGN_OR_RETURN(auto names, opts_.fs->ListDir(wal_dir()));
  std::sort(names.begin(), names.end());
  TimelineId tli = timeline();
  bool renamed = false;
  const std::string own_temp = "xlogtemp." + std::to_string(::getpid()) + ".";
  for (const auto& n : names) {
    // Left by a preallocation of an earlier server process that a crash interrupted.
    if (n.rfind("xlogtemp.", 0) == 0 && n.rfind(own_temp, 0) != 0) {
      WALREP_RETURN_IF_ERROR(opts_.fs->Remove(wal_dir() + "/" + n));
      continue;
    }
    TimelineId seg_tli;
    XLogSegNo segno;
    if (!wal::ParseXLogFileName(n, seg_size, &seg_tli, &segno) || segno >= oldest) continue;
    // Never remove or recycle a segment that was not archived yet.
    if (ArchivingActive() && !wal::CheckArchiveDone(opts_.fs, wal_dir(), n)) continue;
    wal::RemoveArchiveStatus(opts_.fs, wal_dir(), n);
    if (segno > last_removed_.load()) last_removed_.store(segno, std::memory_order_release);
    while (opts_.fs->Exists(wal_dir() + "/" + wal::XLogFileName(tli, next_free, seg_size))) {
      next_free++;
    }
    if (writer_ && next_free <= recycle_to) {
      // The old bytes stay until overwritten: readers stop at the first page or record that
      // does not belong (page address, prev-link), as with PostgreSQL's recycled segments.
      WALREP_RETURN_IF_ERROR(opts_.fs->Rename(
          wal_dir() + "/" + n, wal_dir() + "/" + wal::XLogFileName(tli, next_free, seg_size)));
      next_free++;
      (*recycled)++;
      renamed = true;
    } else {
      WALREP_RETURN_IF_ERROR(opts_.fs->Remove(wal_dir() + "/" + n));
      (*removed)++;
    }
  }
  if (renamed) WALREP_RETURN_IF_ERROR(opts_.fs->SyncDir(wal_dir()));
  return Status::OK();
}

Result<bool> XLog::NoteReplayed(const wal::DecodedRecord& rec) {
  bool end_record = rec.rmid == wal::kRmXlog && (rec.info & 0xF0) == wal::kXlogBackupEnd &&
                    rec.main_data.size() >= 8;
  MutexLock l(&mu_);
  if (rec.rmid == wal::kRmXlog) WALREP_RETURN_IF_ERROR(NoteTimelineSwitch(rec));
  bool was_consistent = ConsistentLocked();
  replay_end_ = std::max(replay_end_, rec.end_lsn.value());
  if (!control_.backup_end_required) return !was_consistent && ConsistentLocked();
  if (control_.backup_end_point != 0) {
    // A standby's backup: consistent once replay passed the end recorded in pg_control.
    if (wal::MaxAlign(rec.end_lsn.value()) < control_.backup_end_point) return false;
  } else {
    uint64_t start = 0;
    if (end_record) std::memcpy(&start, rec.main_data.data(), 8);
    if (!end_record || start != control_.backup_start_point) return false;
  }
  WALREP_LOG("backup end reached at {}", rec.end_lsn.ToString());
  control_.backup_end_required = 0;
  control_.backup_start_point = 0;
  control_.backup_end_point = 0;
  control_.min_recovery_point = rec.end_lsn.value();
  control_.min_recovery_point_tli = timeline();
  WALREP_RETURN_IF_ERROR(WriteControlFile(opts_.fs, opts_.data_dir, control_));
  min_recovery_written_.store(control_.min_recovery_point, std::memory_order_release);
  return ConsistentLocked();
}

Status XLog::UpdateMinRecoveryPoint(Lsn lsn) {
  if (lsn.value() <= min_recovery_written_.load(std::memory_order_acquire)) return Status::OK();
  MutexLock l(&mu_);
  if (control_.state != static_cast<uint32_t>(DbState::kInArchiveRecovery) ||
      lsn.value() <= control_.min_recovery_point) {
    return Status::OK();
  }
  // Written before it is believed: if pg_control cannot be replaced, the caller's page is not
  // written either (it stays dirty) and the old point stays in force.
  ControlFileData next = control_;
  next.min_recovery_point = std::max(lsn.value(), replay_end_);
  next.min_recovery_point_tli = timeline();
  WALREP_RETURN_IF_ERROR(WriteControlFile(opts_.fs, opts_.data_dir, next));
  control_ = next;
  min_recovery_written_.store(control_.min_recovery_point, std::memory_order_release);
  return Status::OK();
}

Lsn XLog::replay_end() const {
  MutexLock l(&mu_);
  return Lsn(replay_end_);
}

Status XLog::NoteTimelineSwitch(const wal::DecodedRecord& rec) {
  // END_OF_RECOVERY and checkpoint records carry the timeline they were written on; one that
  // differs from the replayed timeline is a switch (PostgreSQL's checkTimeLineSwitch).
  uint8_t info = rec.info & 0xF0;
  TimelineId next = 0, prev = 0;
  if (info == wal::kXlogEndOfRecovery && rec.main_data.size() >= 16) {
    std::memcpy(&next, rec.main_data.data() + 8, 4);
    std::memcpy(&prev, rec.main_data.data() + 12, 4);
  } else if (info == wal::kXlogCheckpointOnline || info == wal::kXlogCheckpointShutdown) {
    WALREP_ASSIGN_OR_RETURN(wal::CheckPoint cp, wal::DecodeCheckPoint(rec.main_data));
    next = cp.this_timeline;
    prev = cp.prev_timeline;
  }
  TimelineId current = timeline();
  if (next == 0 || next == current) return Status::OK();
  const char* what = info == wal::kXlogEndOfRecovery ? "end-of-recovery" : "checkpoint";
  if (prev != current) {
    return Status::Corruption(fmt::format("unexpected previous timeline ID {} (current timeline "
                                          "ID {}) in {} record",
                                          prev, current, what))
        .WithSeverity(Severity::kPanic);
  }
  if (next < current || !wal::TimelineInHistory(history_, next)) {
    return Status::Corruption(fmt::format("unexpected timeline ID {} (after {}) in {} record", next,
                                          current, what))
        .WithSeverity(Severity::kPanic);
  }
  tli_.store(next, std::memory_order_release);
  return Status::OK();
}

bool XLog::consistent() const {
  MutexLock l(&mu_);
  return ConsistentLocked();
}

Status XLog::Restartpoint(Lsn ckpt, const wal::CheckPoint& cp) {
  MutexLock serial(&checkpoint_mu_);
  {
    MutexLock l(&mu_);
    if (ckpt.value() <= control_.checkpoint) return Status::OK();
    control_.checkpoint = ckpt.value();
    control_.checkpoint_copy = cp;
    WALREP_RETURN_IF_ERROR(WriteControlFile(opts_.fs, opts_.data_dir, control_));
  }
  if (opts_.log_checkpoints) {
    WALREP_LOG("restartpoint complete: recovery restart point at {}", Lsn(cp.redo).ToString());
  }
  int removed = 0, recycled = 0;
  return RemoveOldSegments(Lsn(cp.redo), &removed, &recycled);
}

Status XLog::ShutdownInRecovery() {
  MutexLock l(&mu_);
  control_.state = static_cast<uint32_t>(DbState::kShutdownedInRecovery);
  return WriteControlFile(opts_.fs, opts_.data_dir, control_);
}

Result<Lsn> XLog::SwitchWal() {
  MutexLock l(&mu_);
  WALREP_ASSIGN_OR_RETURN(auto pos, writer_->SwitchSegment());
  if (!pos) return writer_->insert_lsn();
  WALREP_RETURN_IF_ERROR(writer_->Flush(pos->end));
  return pos->end;
}

Result<Lsn> XLog::CreateRestorePoint(const std::string& name) {
  std::string body(8 + 64, '\0');
  TimestampTz now = NowTimestamp();
  std::memcpy(body.data(), &now, 8);
  std::memcpy(body.data() + 8, name.data(), std::min<size_t>(name.size(), 63));
  WALREP_ASSIGN_OR_RETURN(auto pos,
                          writer_->Insert(wal::kRmXlog, wal::kXlogRestorePoint, 0,
                                          wal::RecordBuilder().SetMainData(body).BuildBody()));
  WALREP_RETURN_IF_ERROR(writer_->Flush(pos.end));
  WALREP_LOG("restore point \"{}\" created at {}", name, pos.end.ToString());
  return pos.end;
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
