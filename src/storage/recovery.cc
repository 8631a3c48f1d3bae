// walrep: recovery state machine (see recovery.h).
#include "walrep/storage/recovery.h"

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
  // The first record read after the start only needs a prev-link before it.
  return reader_.ReadRecord(pos_, prev_);
}

Result<bool> Recovery::Replayed(const wal::DecodedRecord& rec) {
  WALREP_ASSIGN_OR_RETURN(bool consistent_now, xlog_->NoteReplayed(rec));
  prev_ = rec.lsn;
  prev_end_ = Lsn(wal::MaxAlign(rec.end_lsn.value()));
  pos_ = reader_.NextRecordLsn(rec);  // PostgreSQL's EndRecPtr: aligned, or the next segment
  replayed_++;
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
  state_.store(State::kDone, std::memory_order_release);
  return tli;
}

}  // namespace walrep::storage
