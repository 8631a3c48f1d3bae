// walrep: recovery state machine (see recovery.h).
#include "walrep/storage/recovery.h"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "walrep/common/logging.h"
#include "walrep/storage/xlog.h"

namespace walrep::storage {

const char* Recovery::StateName(State s) {
  switch (s) {
    case State::kCrash:
      return "crash recovery";
    case State::kStandby:
      return "standby";
    case State::kPromoting:
      return "promoting";
    case State::kDone:
      return "done";
  }
  return "?";
}

Result<RecoveryTarget> RecoveryTarget::FromSettings(
    const std::function<std::string(const char*)>& get) {
  RecoveryTarget t;
  int set = 0;
  auto invalid = [](const char* name, const std::string& v) {
    return Status::Sql("22023", fmt::format("invalid value for parameter \"{}\": \"{}\"", name, v))
        .WithSeverity(Severity::kFatal);
  };
  if (std::string v = get("recovery_target"); !v.empty()) {
    if (v != "immediate") {
      return invalid("recovery_target", v).WithDetail("The only allowed value is \"immediate\".");
    }
    t.kind = Kind::kImmediate;
    set++;
  }
  if (std::string v = get("recovery_target_lsn"); !v.empty()) {
    auto lsn = Lsn::Parse(v);
    if (!lsn) return invalid("recovery_target_lsn", v);
    t.kind = Kind::kLsn;
    t.lsn = *lsn;
    set++;
  }
  if (std::string v = get("recovery_target_xid"); !v.empty()) {
    uint64_t xid = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), xid);
    if (ec != std::errc() || end != v.data() + v.size()) return invalid("recovery_target_xid", v);
    t.kind = Kind::kXid;
    t.xid = static_cast<TransactionId>(xid);  // an epoch-qualified id: its low half
    set++;
  }
  if (std::string v = get("recovery_target_time"); !v.empty()) {
    bool had_zone = false;
    auto ts = ParseTimestamp(v, 0, &had_zone);
    if (!ts) return invalid("recovery_target_time", v);
    t.kind = Kind::kTime;
    t.time = *ts;
    set++;
  }
  if (std::string v = get("recovery_target_name"); !v.empty()) {
    if (v.size() >= 64) {
      return invalid("recovery_target_name", v)
          .WithDetail("recovery_target_name is too long (maximum 63 characters).");
    }
    t.kind = Kind::kName;
    t.name = v;
    set++;
  }
  if (set > 1) {
    return Status::Sql("22023", "multiple recovery targets specified")
        .WithDetail(
            "At most one of \"recovery_target\", \"recovery_target_lsn\", "
            "\"recovery_target_name\", \"recovery_target_time\", \"recovery_target_xid\" may "
            "be set.")
        .WithSeverity(Severity::kFatal);
  }
  t.inclusive = get("recovery_target_inclusive") != "off";
  t.action = get("recovery_target_action");
  if (t.action.empty()) t.action = "pause";
  return t;
}

namespace {

// A commit or abort record's xid and time, if `rec` is one.
bool XactEnd(const wal::DecodedRecord& rec, bool* commit, TimestampTz* time) {
  if (rec.rmid != wal::kRmXact || rec.main_data.size() < 8) return false;
  uint8_t op = rec.info & wal::kXactOpMask;
  if (op != wal::kXactCommit && op != wal::kXactAbort) return false;
  *commit = op == wal::kXactCommit;
  std::memcpy(time, rec.main_data.data(), 8);
  return true;
}

}  // namespace

bool Recovery::StopsBefore(const wal::DecodedRecord& rec) {
  if (reached_) return true;
  const RecoveryTarget& t = target_;
  if (t.kind == RecoveryTarget::Kind::kLsn && !t.inclusive && rec.lsn >= t.lsn) {
    reached_ = true;
    stop_reason_ = fmt::format("before WAL location (LSN) \"{}\"", t.lsn.ToString());
    WALREP_LOG("recovery stopping {}", stop_reason_);
    return true;
  }
  bool commit = false;
  TimestampTz time = 0;
  if (!XactEnd(rec, &commit, &time)) return false;
  bool stop = false;
  if (t.kind == RecoveryTarget::Kind::kXid) stop = !t.inclusive && rec.xid == t.xid;
  // Many transactions may share a commit time: inclusive stops after the last of them.
  if (t.kind == RecoveryTarget::Kind::kTime) stop = t.inclusive ? time > t.time : time >= t.time;
  if (!stop) return false;
  reached_ = true;
  stop_reason_ = fmt::format("before {} of transaction {}", commit ? "commit" : "abort", rec.xid);
  WALREP_LOG("recovery stopping {}, time {}", stop_reason_, FormatTimestampTz(time, 0));
  return true;
}

void Recovery::CheckStopsAfter(const wal::DecodedRecord& rec, bool consistent_now) {
  const RecoveryTarget& t = target_;
  if (reached_ || t.kind == RecoveryTarget::Kind::kNone) return;
  if (t.kind == RecoveryTarget::Kind::kImmediate && consistent_now) {
    reached_ = true;
    stop_reason_ = "reached consistency";
    WALREP_LOG("recovery stopping after reaching consistency");
    return;
  }
  if (t.kind == RecoveryTarget::Kind::kName && rec.rmid == wal::kRmXlog &&
      (rec.info & 0xF0) == wal::kXlogRestorePoint && rec.main_data.size() >= 8 + 64) {
    std::string name(rec.main_data.data() + 8, 64);
    name.resize(std::strlen(name.c_str()));
    if (name == t.name) {
      TimestampTz time;
      std::memcpy(&time, rec.main_data.data(), 8);
      reached_ = true;
      stop_reason_ = fmt::format("at restore point \"{}\"", name);
      WALREP_LOG("recovery stopping {}, time {}", stop_reason_, FormatTimestampTz(time, 0));
    }
    return;
  }
  if (t.kind == RecoveryTarget::Kind::kLsn && t.inclusive && rec.lsn >= t.lsn) {
    reached_ = true;
    stop_reason_ = fmt::format("after WAL location (LSN) \"{}\"", t.lsn.ToString());
    WALREP_LOG("recovery stopping {}", stop_reason_);
    return;
  }
  bool commit = false;
  TimestampTz time = 0;
  if (t.kind == RecoveryTarget::Kind::kXid && t.inclusive && rec.xid == t.xid &&
      XactEnd(rec, &commit, &time)) {
    reached_ = true;
    stop_reason_ = fmt::format("after {} of transaction {}", commit ? "commit" : "abort", rec.xid);
    WALREP_LOG("recovery stopping {}, time {}", stop_reason_, FormatTimestampTz(time, 0));
  }
}

Recovery::Recovery(XLog* xlog, io::FileSystem* fs, std::string wal_dir,
                   wal::TimelineHistory history, Lsn start, State state)
    : xlog_(xlog),
      fs_(fs),
      wal_dir_(std::move(wal_dir)),
      reader_(fs, wal_dir_, std::move(history)),
      state_(state),
      pos_(start) {}

Result<wal::DecodedRecord> Recovery::ReadNext() {
  if (state() == State::kDone) return Status::InvalidArgument("recovery has ended");
  if (!ahead_.empty() && ahead_.front().rec.lsn == pos_) {
    Ahead a = std::move(ahead_.front());
    ahead_.pop_front();
    ahead_bytes_ -= a.rec.end_lsn - a.rec.lsn;
    ahead_blocks_ -= a.rec.blocks.size();
    prefetcher_->Taken(a.prefetched);
    LookAhead();
    return std::move(a.rec);
  }
  // Nothing read ahead, or not this record (the caller did not apply the last one): read here.
  DropLookahead();
  // The first record read after the start only needs a prev-link before it.
  auto rec = reader_.ReadRecord(pos_, prev_);
  if (rec.ok() && prefetcher_ && prefetcher_->enabled()) {
    // Seen by the prefetcher like every record (its counters cover every block reference),
    // though it is applied now.
    prefetcher_->Taken(prefetcher_->Look(*rec));
    ahead_next_ = reader_.NextRecordLsn(*rec);
    ahead_prev_ = rec->lsn;
    LookAhead();
  }
  return rec;
}

void Recovery::LookAhead() {
  if (!prefetcher_->enabled()) return DropLookahead();
  // Reads on while the decoded records ahead hold less than wal_decode_buffer_size of WAL and
  // fewer than maintenance_io_concurrency prefetches are in flight. A failed read (the end of
  // what is durable, or of the WAL) is retried only once the limit has moved.
  while (ahead_bytes_ < prefetcher_->distance_bytes() && !prefetcher_->io_full() &&
         ahead_next_ < limit_ && !(ahead_next_ == ahead_failed_ && limit_ == ahead_failed_limit_)) {
    auto rec = reader_.ReadRecord(ahead_next_, ahead_prev_);
    if (!rec.ok() || rec->end_lsn > limit_) {
      ahead_failed_ = ahead_next_;
      ahead_failed_limit_ = limit_;
      break;
    }
    ahead_prev_ = rec->lsn;
    ahead_next_ = reader_.NextRecordLsn(*rec);
    ahead_bytes_ += rec->end_lsn - rec->lsn;
    ahead_blocks_ += rec->blocks.size();
    int prefetched = prefetcher_->Look(*rec);
    ahead_.push_back(Ahead{std::move(*rec), prefetched});
  }
  prefetcher_->SetDistance(ahead_.empty() ? 0 : ahead_next_ - pos_, ahead_blocks_);
}

void Recovery::DropLookahead() {
  if (!prefetcher_) return;
  for (const Ahead& a : ahead_) prefetcher_->Taken(a.prefetched);
  ahead_.clear();
  ahead_bytes_ = ahead_blocks_ = 0;
  ahead_failed_ = Lsn();
  prefetcher_->SetDistance(0, 0);
}

Result<bool> Recovery::Replayed(const wal::DecodedRecord& rec) {
  WALREP_ASSIGN_OR_RETURN(bool consistent_now, xlog_->NoteReplayed(rec));
  prev_ = rec.lsn;
  prev_end_ = Lsn(wal::MaxAlign(rec.end_lsn.value()));
  pos_ = reader_.NextRecordLsn(rec);  // PostgreSQL's EndRecPtr: aligned, or the next segment
  replayed_++;
  if (state() != State::kCrash) CheckStopsAfter(rec, consistent_now);
  return consistent_now;
}

bool Recovery::RescanLatestTimeline(const std::string& target) {
  if (!target.empty() && target != "latest") return false;
  TimelineId followed = reader_.history().front().tli;
  TimelineId newest = wal::FindNewestTimeline(fs_, wal_dir_, followed);
  if (newest == followed || newest == rejected_tli_) return false;
  auto h = wal::ReadTimelineHistory(fs_, wal_dir_, newest);
  if (!h.ok()) {
    WALREP_LOG_ERROR("{}", h.status().message());
    rejected_tli_ = newest;
    return false;
  }
  TimelineId replay_tli = xlog_->timeline();
  if (!wal::TimelineInHistory(*h, replay_tli)) {
    WALREP_LOG("new timeline {} is not a child of database system timeline {}", newest, replay_tli);
    rejected_tli_ = newest;
    return false;
  }
  Lsn fork = wal::TimelineSwitchPoint(*h, replay_tli);
  if (fork.valid() && pos_ > fork) {
    WALREP_LOG(
        "new timeline {} forked off current database system timeline {} before current "
        "recovery point {}",
        newest, replay_tli, pos_.ToString());
    rejected_tli_ = newest;
    return false;
  }
  WALREP_LOG("new target timeline is {}", newest);
  xlog_->SetHistory(*h);
  DropLookahead();  // read along the old history
  reader_.SetHistory(*h);
  return true;
}

void Recovery::BeginPromotion() {
  State expected = State::kStandby;
  state_.compare_exchange_strong(expected, State::kPromoting, std::memory_order_acq_rel);
}

Result<TimelineId> Recovery::Finish() {
  State s = state();
  if (s == State::kDone) return Status::InvalidArgument("recovery has already ended");
  if (s == State::kStandby) {
    return Status::InvalidArgument("a standby ends recovery only through a promotion");
  }
  TimelineId tli = xlog_->timeline();
  if (s == State::kPromoting) {
    WALREP_ASSIGN_OR_RETURN(tli, xlog_->EndRecovery(pos_, prev_));
  }
  DropLookahead();
  state_.store(State::kDone, std::memory_order_release);
  return tli;
}

}  // namespace walrep::storage
