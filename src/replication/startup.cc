// walrep: the startup (replay) thread (see startup.h).
#include "walrep/replication/startup.h"

#include <cstring>
#include <limits>

#include "walrep/access/rmgr.h"
#include "walrep/common/logging.h"
#include "walrep/common/thread_name.h"
#include "walrep/replication/archiver.h"
#include "walrep/wal/archive_status.h"

namespace walrep::replication {

Startup::Startup(StartupOptions opts) : opts_(std::move(opts)) {
  MutexLock l(&rp_mu_);
  last_rp_ = std::chrono::steady_clock::now();
}

Startup::~Startup() { Stop(); }

void Startup::Start() {
  replayed_.Advance(opts_.recovery->position());
  last_end_.store(opts_.recovery->last_record_end().value());
  thread_ = NamedThread("startup", [this] { Loop(); });
  rp_thread_ = NamedThread("restartpoint", [this] { RestartpointLoop(); });
}

void Startup::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  opts_.received->Shutdown();
  {
    MutexLock l(&mu_);
    resumed_.SignalAll();
    rp_wanted_.SignalAll();
  }
  thread_.join();
  rp_thread_.join();
}

void Startup::RestartpointLoop() {
  while (true) {
    {
      MutexLock l(&mu_);
      while (!rp_requested_ && !stop_.load()) rp_wanted_.Wait();
      if (stop_.load()) return;
      rp_requested_ = false;
    }
    Status st = Restartpoint();
    if (!st.ok()) WALREP_LOG_ERROR("restartpoint failed: {}", st.message());
  }
}

void Startup::RequestPromote() {
  promote_.store(true, std::memory_order_release);
  {
    MutexLock l(&mu_);
    paused_ = false;  // promotion ends a pause, as in PostgreSQL
    resumed_.SignalAll();
  }
  opts_.received->Kick();  // a startup thread waiting for WAL looks at once
}

void Startup::Wake() {
  MutexLock l(&mu_);
  resumed_.SignalAll();
}

bool Startup::ApplyDelay(const wal::DecodedRecord& rec) {
  if (rec.rmid != wal::kRmXact || (rec.info & wal::kXactOpMask) != wal::kXactCommit ||
      rec.main_data.size() < 8 || !consistent_) {
    return true;
  }
  int64_t commit_time;
  std::memcpy(&commit_time, rec.main_data.data(), 8);
  bool logged = false;
  MutexLock l(&mu_);
  while (!stop_.load() && !promote_.load()) {
    int64_t delay_ms = opts_.settings()->GetInt("recovery_min_apply_delay");
    TimestampTz until = commit_time + delay_ms * 1000;
    TimestampTz now = NowTimestamp();
    if (delay_ms <= 0 || now >= until) break;
    if (!logged) {
      WALREP_LOG("recovery apply delay: waiting until {} to apply the commit at {}",
                 FormatTimestampTz(until, 0), rec.lsn.ToString());
      logged = true;
    }
    // Woken by a reload (Wake), a promotion or a stop; bounded so a clock change is noticed.
    resumed_.WaitUntil(std::chrono::steady_clock::now() +
                       std::chrono::microseconds(std::min<int64_t>(until - now, 1000000)));
  }
  return !stop_.load();
}

void Startup::Pause() {
  MutexLock l(&mu_);
  paused_ = true;
}

void Startup::Resume() {
  MutexLock l(&mu_);
  paused_ = false;
  resumed_.SignalAll();
}

bool Startup::paused() const {
  MutexLock l(&mu_);
  return paused_;
}

void Startup::CheckTriggerFile() {
  auto now = std::chrono::steady_clock::now();
  if (now - trigger_checked_ < std::chrono::milliseconds(100)) return;
  trigger_checked_ = now;
  std::string file = opts_.settings()->GetString("promote_trigger_file");
  if (file.empty()) return;
  if (file[0] != '/') file = opts_.data_dir + "/" + file;  // relative to the data directory
  if (!opts_.fs->Exists(file)) return;
  WALREP_LOG("promote trigger file found: {}", file);
  opts_.fs->Remove(file).IgnoreError();  // PostgreSQL ignores a failed unlink too
  promote_.store(true, std::memory_order_release);
}

void Startup::RedoFailed(const Status& st, const wal::DecodedRecord& rec) {
  // A worker's failure names the record it failed on.
  auto [lsn, what] = opts_.engine->parallel_redo().failed_record();
  if (!lsn.valid()) {
    lsn = rec.lsn;
    what = access::Describe(rec);
  }
  WALREP_LOG_ERROR("FATAL:  redo failed at {}: {}", lsn.ToString(), st.message());
  WALREP_LOG_ERROR("CONTEXT:  WAL redo at {} for {}", lsn.ToString(), what);
  if (opts_.on_fatal) opts_.on_fatal(st);
}

void Startup::MarkReplayed() {
  last_end_.store(opts_.recovery->last_record_end().value(), std::memory_order_release);
  replayed_.Advance(opts_.recovery->position());
  auto now = std::chrono::steady_clock::now();
  MutexLock l(&stats_mu_);
  if (!samples_.empty() && now - samples_.back().at < std::chrono::seconds(1)) return;
  auto r = opts_.engine->parallel_redo().stats();
  samples_.push_back({now, replayed_.value().value(), r.dispatched + r.barriers - r.queued});
  while (now - samples_.front().at > std::chrono::seconds(10)) samples_.pop_front();
}

Startup::ReplayStats Startup::replay_stats() const {
  ReplayStats s;
  const access::ParallelRedo& redo = opts_.engine->parallel_redo();
  auto r = redo.stats();
  s.replayed = replayed_.value();
  s.workers = std::max(redo.workers(), 1);
  s.queued = r.queued;
  s.records = r.dispatched + r.barriers - r.queued;
  s.worker_records = r.dispatched - r.queued;
  auto now = std::chrono::steady_clock::now();
  MutexLock l(&stats_mu_);
  for (const RateSample& o : samples_) {
    double secs = std::chrono::duration<double>(now - o.at).count();
    if (secs > 10) continue;
    if (secs >= 0.5) {  // the oldest sample of the window; a younger one says too little
      s.bytes_per_second = static_cast<double>(s.replayed.value() - o.lsn) / secs;
      s.records_per_second = static_cast<double>(s.records - o.records) / secs;
    }
    break;
  }
  return s;
}

bool Startup::DrainRedo() {
  Status st = opts_.engine->DrainRedo();
  if (!st.ok()) {
    RedoFailed(st, wal::DecodedRecord{});
    return false;
  }
  MarkReplayed();
  return true;
}

bool Startup::Apply(wal::DecodedRecord& rec) {
  auto in_order = opts_.engine->Redo(&rec);
  Status st = in_order.status();
  if (st.ok()) st = opts_.recovery->Replayed(rec).status();
  if (!st.ok()) {
    RedoFailed(st, rec);
    return false;
  }
  // A record a worker took keeps its header fields only; commits and aborts are applied here.
  if (rec.rmid == wal::kRmXact && rec.main_data.size() >= 8) {
    uint8_t op = rec.info & wal::kXactOpMask;
    if (op == wal::kXactCommit || op == wal::kXactAbort) {
      int64_t t;
      std::memcpy(&t, rec.main_data.data(), 8);
      last_xact_time_.store(t);
    }
  }
  if (*in_order) MarkReplayed();
  if (!consistent_ && opts_.engine->xlog().consistent()) {
    if (!DrainRedo()) return false;
    consistent_ = true;
    WALREP_LOG("consistent recovery state reached at {}", rec.end_lsn.ToString());
    if (opts_.on_consistent) opts_.on_consistent();
  }
  return true;
}

void Startup::Promote(bool requested) {
  if (requested) WALREP_LOG("received promote request");
  storage::Recovery& recovery = *opts_.recovery;
  recovery.BeginPromotion();
  if (opts_.stop_receiver) opts_.stop_receiver();
  // Everything the walreceiver fsynced is replayed (unless the recovery target stopped replay);
  // what follows was never durable here.
  Lsn received = opts_.received->value();
  while (!recovery.reached_target()) {
    auto rec = recovery.ReadNext();
    if (!rec.ok() || recovery.StopsBefore(*rec)) break;
    if (local_wal_) {
      opts_.received->Advance(rec->end_lsn);
    } else if (rec->end_lsn > received) {
      break;
    }
    if (!Apply(*rec)) return;
  }
  if (!DrainRedo()) return;
  WALREP_LOG("redo done at {}", recovery.last_record().ToString());
  if (TimestampTz t = last_xact_time_.load()) {
    WALREP_LOG("last completed transaction was at log time {}", FormatTimestampTz(t, 0));
  }
  Status st = opts_.on_promote();
  if (!st.ok()) {
    WALREP_LOG_ERROR("FATAL:  could not end recovery: {}", st.message());
    if (opts_.on_fatal) opts_.on_fatal(st);
    return;
  }
  RunRecoveryCommand("recovery_end_command");
}

void Startup::RunRecoveryCommand(const char* setting) {
  std::string command = opts_.settings()->GetString(setting);
  if (command.empty()) return;
  // %r: the oldest file a restart of this server would still need (its last REDO point's).
  storage::ControlFileData control = opts_.engine->xlog().control();
  std::string keep =
      wal::XLogFileName(control.checkpoint_copy.this_timeline,
                        wal::SegmentOf(Lsn(control.checkpoint_copy.redo), wal::kDefaultSegSize),
                        wal::kDefaultSegSize);
  std::string expanded;
  int rc = RunShellCommand(command, opts_.data_dir, "", "", keep, &expanded);
  if (rc != 0) {
    // As PostgreSQL: a warning; recovery is not undone by a failed cleanup command.
    WALREP_LOG("WARNING:  {} \"{}\": child process exited with exit code {}", setting, expanded,
               rc);
  }
}

bool Startup::RestoreFile(const std::string& file, uint64_t expect_size) {
  auto settings = opts_.settings();
  std::string command = settings->GetString("restore_command");
  auto now = std::chrono::steady_clock::now();
  if (file == restore_failed_ &&
      now - restore_failed_at_ <
          std::chrono::milliseconds(settings->GetInt("wal_retrieve_retry_interval"))) {
    return false;
  }
  const std::string wal_dir = opts_.data_dir + "/pg_wal";
  const std::string tmp = "pg_wal/RECOVERYXLOG";
  storage::ControlFileData control = opts_.engine->xlog().control();
  // %r: the oldest file a restart would need (the last restartpoint's REDO segment).
  std::string keep =
      wal::XLogFileName(opts_.engine->xlog().timeline(),
                        wal::SegmentOf(Lsn(control.checkpoint_copy.redo), wal::kDefaultSegSize),
                        wal::kDefaultSegSize);
  auto f = RestoreArchivedFile(opts_.fs, command, opts_.data_dir, file, tmp, expect_size, keep);
  auto fail = [&] {
    restore_failed_ = file;
    restore_failed_at_ = now;
    opts_.fs->Remove(opts_.data_dir + "/" + tmp).IgnoreError();  // may not exist
    return false;
  };
  if (!f) return fail();
  if (!f->Sync().ok() || !opts_.fs->Rename(opts_.data_dir + "/" + tmp, wal_dir + "/" + file).ok() ||
      !opts_.fs->SyncDir(wal_dir).ok()) {
    return fail();
  }
  wal::MarkArchiveDone(opts_.fs, wal_dir, file).IgnoreError();  // it came from the archive
  WALREP_LOG("restored log file \"{}\" from archive", file);
  return true;
}

bool Startup::RestoreFromArchive(Lsn pos) {
  if (opts_.settings()->GetString("restore_command").empty()) return false;
  if (opts_.streaming && opts_.streaming()) return false;  // the stream brings it
  storage::XLog& xlog = opts_.engine->xlog();
  // A newer timeline's history file first (recovery_target_timeline = latest).
  TimelineId newest =
      wal::FindNewestTimeline(opts_.fs, opts_.data_dir + "/pg_wal", xlog.history().front().tli);
  if (RestoreFile(wal::HistoryFileName(newest + 1), 0)) return true;
  // The segment the WAL stops in: the replay position's, or — when a record runs on past what
  // is durable here — the one after what the stream or an earlier restore delivered.
  Lsn want = std::max(pos, opts_.received->value());
  XLogSegNo segno = wal::SegmentOf(want, wal::kDefaultSegSize);
  // As the reader does (PostgreSQL's XLogFileReadAnyTLI): the newest timeline of the history
  // that began at or before this segment first — the switch segment under the new timeline's
  // name holds the old timeline's WAL up to the switch point too.
  bool restored = false;
  for (TimelineId tli : wal::TimelinesForSegment(xlog.history(), segno, wal::kDefaultSegSize)) {
    if (RestoreFile(wal::XLogFileName(tli, segno, wal::kDefaultSegSize), wal::kDefaultSegSize)) {
      restored = true;
      break;
    }
  }
  if (!restored) return false;
  // Durable now: replay may apply it (the walreceiver resumes after it).
  opts_.received->Advance(wal::SegmentStart(segno + 1, wal::kDefaultSegSize));
  return true;
}

bool Startup::WaitReceived(Lsn target) {
  // Replay has caught up with what arrived: what the workers hold is published first.
  Lsn before = replayed_.value();
  if (!DrainRedo()) return false;
  if (opts_.on_replayed && replayed_.value() > before) opts_.on_replayed();
  // Woken by the walreceiver's flushes and by a promotion request (Kick); the timeout bounds
  // how late promote_trigger_file is noticed.
  auto interval = opts_.settings()->GetString("promote_trigger_file").empty()
                      ? std::chrono::milliseconds(1000)
                      : std::chrono::milliseconds(100);
  auto w = opts_.received->WaitUntil(
      target, [this] { return stop_.load() || promote_.load(); },
      std::chrono::steady_clock::now() + interval);
  return w.ok() || w.status().code() != Status::Code::kShutdown || !stop_.load();
}

void Startup::EndAtTarget() {
  if (!DrainRedo()) return;
  if (!consistent_) {
    Status st = Status::Sql("XX000",
                            "requested recovery stop point is before consistent recovery "
                            "point")
                    .WithSeverity(Severity::kFatal);
    WALREP_LOG_ERROR("FATAL:  {}", st.message());
    if (opts_.on_fatal) opts_.on_fatal(st);
    return;
  }
  std::string action = opts_.recovery->target().action;
  // Pausing needs readers to decide; without hot standby PostgreSQL shuts down instead.
  if (action == "pause" && !opts_.settings()->GetBool("hot_standby")) action = "shutdown";
  if (action == "shutdown") {
    WALREP_LOG("shutdown at recovery target");
    if (opts_.on_shutdown) opts_.on_shutdown();
    return;
  }
  if (action == "pause" && !promote_.load()) {
    WALREP_LOG("pausing at the end of recovery");
    WALREP_LOG("HINT:  Execute pg_wal_replay_resume() to promote.");
    MutexLock l(&mu_);
    paused_ = true;
    while (paused_ && !stop_.load() && !promote_.load()) resumed_.Wait();
    paused_ = false;
    if (stop_.load()) return;
  }
  Promote(promote_.load());
}

void Startup::EndOfArchive() {
  if (!DrainRedo()) return;
  if (opts_.recovery->target().kind != storage::RecoveryTarget::Kind::kNone) {
    Status st = Status::Sql("XX000", "recovery ended before configured recovery target was reached")
                    .WithSeverity(Severity::kFatal);
    WALREP_LOG_ERROR("FATAL:  {}", st.message());
    if (opts_.on_fatal) opts_.on_fatal(st);
    return;
  }
  if (!consistent_) {
    Status st = Status::Sql("XX000", "WAL ends before consistent recovery point")
                    .WithSeverity(Severity::kFatal);
    WALREP_LOG_ERROR("FATAL:  {}", st.message());
    if (opts_.on_fatal) opts_.on_fatal(st);
    return;
  }
  Promote(false);
}

void Startup::Loop() {
  storage::Recovery& recovery = *opts_.recovery;
  consistent_ = opts_.engine->xlog().consistent();
  if (consistent_ && opts_.on_consistent) opts_.on_consistent();
  while (!stop_.load()) {
    // Paused (pg_wal_replay_pause): what the workers hold is applied and reported first.
    if (paused() && !DrainRedo()) return;
    {
      MutexLock l(&mu_);
      while (paused_ && !stop_.load() && !promote_.load()) resumed_.Wait();
    }
    if (stop_.load()) break;
    CheckTriggerFile();
    if (promote_.load()) {
      if (consistent_) return Promote();
      WALREP_LOG("cannot promote before a consistent recovery state is reached; ignored");
      promote_.store(false);
    }
    if (recovery.reached_target()) return EndAtTarget();
    // Prefetching reads ahead only what is durable here: all of pg_wal at the start and in
    // archive recovery, then what the walreceiver has fsynced.
    recovery.set_lookahead_limit(opts_.archive_recovery || local_wal_
                                     ? Lsn(std::numeric_limits<uint64_t>::max())
                                     : opts_.received->value());
    auto rec = recovery.ReadNext();
    if (!rec.ok()) {
      if (recovery.RescanLatestTimeline(opts_.settings()->GetString("recovery_target_timeline"))) {
        continue;
      }
      if (RestoreFromArchive(recovery.position())) continue;
      if (opts_.archive_recovery) return EndOfArchive();
      if (local_wal_) {
        local_wal_ = false;
        if (opts_.start_streaming) {
          opts_.start_streaming(recovery.position(), opts_.engine->xlog().timeline());
        }
        continue;
      }
      // Not all of it has arrived yet: wait for the walreceiver to fsync more.
      if (!WaitReceived(opts_.received->value() + 1)) break;
      continue;
    }
    // Archive recovery and a standby's start: what pg_wal holds is durable (restored files
    // are fsynced first).
    if (opts_.archive_recovery || local_wal_) opts_.received->Advance(rec->end_lsn);
    if (recovery.StopsBefore(*rec)) continue;  // EndAtTarget at the top of the loop
    if (rec->end_lsn > opts_.received->value()) {
      // Not fsynced yet: wait, look for a promotion, then read it again.
      if (!WaitReceived(rec->end_lsn)) break;
      continue;
    }
    if (!ApplyDelay(*rec)) break;
    if (promote_.load()) continue;  // promotion ends the delay: Promote() applies the rest
    if (!Apply(*rec)) return;
    // Replies with the new apply position go out after commits whose session waits for them
    // (remote_apply) and whenever replay has caught up, not after every record: waking the
    // walreceiver for every commit cost a catching-up standby a context switch and a message
    // per transaction. (What the redo workers still hold is published, and replied, before
    // the next wait.)
    if (opts_.on_replayed && ((rec->rmid == wal::kRmXact && access::XactRecordRequestsApplyFeedback(
                                                                rec->info, rec->main_data)) ||
                              recovery.position() >= opts_.received->value())) {
      opts_.on_replayed();
    }
    Status st = MaybeRestartpoint(*rec);
    if (!st.ok()) WALREP_LOG_ERROR("restartpoint failed: {}", st.message());
  }
  DrainRedo();
}

Status Startup::MaybeRestartpoint(const wal::DecodedRecord& rec) {
  if (rec.rmid != wal::kRmXlog) return Status::OK();
  uint8_t info = rec.info & 0xF0;
  if (info != wal::kXlogCheckpointOnline && info != wal::kXlogCheckpointShutdown) {
    return Status::OK();
  }
  WALREP_ASSIGN_OR_RETURN(wal::CheckPoint cp, wal::DecodeCheckPoint(rec.main_data));
  bool due;
  {
    MutexLock l(&rp_mu_);
    last_ckpt_ = std::make_pair(rec.lsn, cp);
    auto s = opts_.settings();
    auto timeout = std::chrono::seconds(s->GetInt("checkpoint_timeout"));
    uint64_t max_wal = static_cast<uint64_t>(s->GetInt("max_wal_size")) * 1024 * 1024;
    due = std::chrono::steady_clock::now() - last_rp_ >= timeout ||
          (last_rp_redo_.valid() && cp.redo - last_rp_redo_.value() >= max_wal / 2);
    if (!last_rp_redo_.valid()) last_rp_redo_ = Lsn(cp.redo);
  }
  if (due) {
    MutexLock l(&mu_);
    rp_requested_ = true;
    rp_wanted_.SignalAll();
  }
  return Status::OK();
}

Status Startup::Restartpoint() {
  MutexLock serial(&rp_serial_mu_);
  std::optional<std::pair<Lsn, wal::CheckPoint>> ckpt;
  {
    MutexLock l(&rp_mu_);
    ckpt = last_ckpt_;
  }
  if (!ckpt) return Status::OK();
  WALREP_RETURN_IF_ERROR(opts_.engine->Restartpoint(ckpt->first, ckpt->second));
  {
    MutexLock l(&rp_mu_);
    last_rp_ = std::chrono::steady_clock::now();
    last_rp_redo_ = Lsn(ckpt->second.redo);
  }
  // The archive may drop what precedes this restartpoint's REDO segment.
  RunRecoveryCommand("archive_cleanup_command");
  return Status::OK();
}

}  // namespace walrep::replication
