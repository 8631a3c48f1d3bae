// walrep: the startup (replay) thread (see startup.h).
#include "walrep/replication/startup.h"

#include <cstring>

#include "walrep/common/logging.h"
#include "walrep/wal/wal_reader.h"

namespace walrep::replication {

Startup::Startup(StartupOptions opts) : opts_(std::move(opts)) {
  MutexLock l(&rp_mu_);
  last_rp_ = std::chrono::steady_clock::now();
}

Startup::~Startup() { Stop(); }

void Startup::Start() {
  if (opts_.start.valid()) replayed_.Advance(opts_.start);
  thread_ = std::thread([this] { Loop(); });
  rp_thread_ = std::thread([this] { RestartpointLoop(); });
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

void Startup::Loop() {
  wal::WalReader reader(opts_.fs, opts_.wal_dir, opts_.timeline);
  Lsn pos = opts_.start;
  Lsn prev = opts_.prev;
  bool consistent = opts_.engine->xlog().consistent();
  if (consistent && opts_.on_consistent) opts_.on_consistent();
  while (!stop_.load()) {
    {
      MutexLock l(&mu_);
      while (paused_ && !stop_.load()) resumed_.Wait();
    }
    if (stop_.load()) break;
    auto rec = reader.ReadRecord(pos, prev);
    if (!rec.ok()) {
      // Not all of it has arrived yet: wait for the walreceiver to fsync more.
      Lsn have = opts_.received->value();
      auto w = opts_.received->WaitFor(have + 1,
                                       std::chrono::steady_clock::now() + std::chrono::seconds(5));
      if (!w.ok() && w.status().code() == Status::Code::kShutdown) break;
      continue;
    }
    if (rec->end_lsn > opts_.received->value()) {
      auto w = opts_.received->WaitFor(rec->end_lsn);
      if (!w.ok()) break;
    }
    Status st = opts_.engine->Redo(*rec);
    if (st.ok()) st = opts_.engine->xlog().NoteReplayed(*rec).status();
    if (!st.ok()) {
      WALREP_LOG_ERROR("FATAL:  redo failed at {}: {}", rec->lsn.ToString(), st.message());
      if (opts_.on_fatal) opts_.on_fatal(st);
      return;
    }
    if (rec->rmid == wal::kRmXact && rec->main_data.size() >= 8) {
      uint8_t op = rec->info & wal::kXactOpMask;
      if (op == wal::kXactCommit || op == wal::kXactAbort) {
        int64_t t;
        std::memcpy(&t, rec->main_data.data(), 8);
        last_xact_time_.store(t);
      }
    }
    prev = rec->lsn;
    pos = reader.NextRecordLsn(*rec);
    replayed_.Advance(pos);  // PostgreSQL's EndRecPtr: aligned, or the next segment
    if (!consistent && opts_.engine->xlog().consistent()) {
      consistent = true;
      WALREP_LOG("consistent recovery state reached at {}", rec->end_lsn.ToString());
      if (opts_.on_consistent) opts_.on_consistent();
    }
    // Replies with the new apply position go out after commits (remote_apply waits on them)
    // and whenever replay has caught up, not after every record.
    if (opts_.on_replayed && (rec->rmid == wal::kRmXact || pos >= opts_.received->value())) {
      opts_.on_replayed();
    }
    st = MaybeRestartpoint(*rec);
    if (!st.ok()) WALREP_LOG_ERROR("restartpoint failed: {}", st.message());
  }
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
  MutexLock l(&rp_mu_);
  if (!last_ckpt_) return Status::OK();
  auto [lsn, cp] = *last_ckpt_;
  WALREP_RETURN_IF_ERROR(opts_.engine->Restartpoint(lsn, cp));
  last_rp_ = std::chrono::steady_clock::now();
  last_rp_redo_ = Lsn(cp.redo);
  return Status::OK();
}

}  // namespace walrep::replication
