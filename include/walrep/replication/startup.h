// walrep: the startup (replay) thread of a standby.
//
// Continues the standby's storage::Recovery where XLog::Open left it: asks it for the next record,
// waits until the walreceiver has fsynced all of it (so no page can get ahead of durable WAL),
// applies it through the engine's one redo dispatch table, and publishes the replay position
// (end of the last applied record) and the time of the last replayed commit or abort. At
// replayed checkpoints it asks its restartpoint thread for a restartpoint every
// checkpoint_timeout (pages and commit log flushed, pg_control advanced, older WAL removed),
// so a restarted standby resumes from recent WAL. A base backup becomes consistent at its
// BACKUP_END record; until then the standby refuses connections. Replay can be paused
// (pg_wal_replay_pause) and resumed, and held back by recovery_min_apply_delay. Counterpart: the
// startup process (xlogrecovery.c) in PostgreSQL. Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "walrep/access/engine.h"
#include "walrep/common/guc.h"
#include "walrep/common/lsn_waiter.h"
#include "walrep/common/mutex.h"
#include "walrep/common/time.h"
#include "walrep/storage/recovery.h"

namespace walrep::replication {

struct StartupOptions {
  access::Engine* engine = nullptr;
  io::FileSystem* fs = nullptr;
  std::string data_dir;           // promote_trigger_file is relative to it
  LsnWaiter* received = nullptr;  // WAL fsynced by the walreceiver
  // The recovery XLog::Open began (state kStandby); this thread continues it.
  storage::Recovery* recovery = nullptr;
  std::function<std::shared_ptr<const ServerSettings>()> settings;
  std::function<void()> on_consistent;  // called once, when reads may start
  std::function<void()> on_replayed;    // after a commit/abort and when caught up (replies)
  // Replay cannot go on (a record fails to apply): the server must stop, as PostgreSQL's
  // startup process FATALs, rather than serve a copy that silently stopped following.
  std::function<void(const Status&)> on_fatal;
  // Promotion: stops the walreceiver (so pg_wal stops growing), then — once everything
  // received is replayed — ends the recovery (Recovery::Finish through the engine).
  std::function<void()> stop_receiver;
  std::function<Status()> on_promote;
  // True while the walreceiver streams: restore_command is used only when it does not.
  std::function<bool()> streaming;
  // A standby has replayed what pg_wal held when it started (and what the archive had): the
  // walreceiver starts streaming `tli` at `pos` (PostgreSQL's order: pg_wal, archive, stream).
  std::function<void(Lsn pos, TimelineId tli)> start_streaming;
  // Archive recovery (recovery.signal, no standby.signal): no streaming; the end of the WAL in
  // pg_wal and the archive ends recovery (a new timeline, as at a promotion).
  bool archive_recovery = false;
  // recovery_target_action = shutdown at the target: the server stops.
  std::function<void()> on_shutdown;
};

class Startup {
 public:
  explicit Startup(StartupOptions opts);
  ~Startup();

  void Start();
  void Stop();
  // Replay position: where the record after the last replayed one starts.
  LsnWaiter& replayed() { return replayed_; }
  TimestampTz last_xact_replay_time() const { return last_xact_time_.load(); }
  // What replay has done since this server started, and how fast it goes (walrep_stat_replay).
  struct ReplayStats {
    Lsn replayed;                 // applied up to here (pg_last_wal_replay_lsn)
    int workers = 1;              // threads applying redo
    uint64_t records = 0;         // records applied
    uint64_t worker_records = 0;  // of which by the redo workers
    uint64_t queued = 0;          // records handed to the workers, not applied yet
    double bytes_per_second = 0;  // over the last 10 s (0 when replay was idle)
    double records_per_second = 0;
  };
  ReplayStats replay_stats() const EXCLUDES(stats_mu_);
  // The (aligned) end of the last replayed record: where a backup of this standby ends, so a
  // server restored from it is consistent once it replayed that record — even when it was an
  // XLOG_SWITCH after which the primary went idle.
  Lsn last_record_end() const { return Lsn(last_end_.load(std::memory_order_acquire)); }
  // pg_promote(), walrepctl promote, promote_trigger_file: replay what was received, then end
  // recovery on a new timeline (on the startup thread, which then ends).
  void RequestPromote() EXCLUDES(mu_);
  bool promote_requested() const { return promote_.load(std::memory_order_acquire); }
  // A reload: re-read recovery_min_apply_delay now (a shorter delay applies at once).
  void Wake() EXCLUDES(mu_);
  void Pause() EXCLUDES(mu_);
  void Resume() EXCLUDES(mu_);
  bool paused() const EXCLUDES(mu_);
  // A restartpoint at the last replayed checkpoint record (CHECKPOINT on a standby).
  Status Restartpoint() EXCLUDES(rp_serial_mu_, rp_mu_);

 private:
  void Loop();
  // Applies one record (or hands it to a redo worker, which may take its data) and publishes
  // its effects; false when replay must stop (on_fatal called).
  bool Apply(wal::DecodedRecord& rec);
  // Waits for the redo workers, then publishes everything handed to them as replayed
  // (pg_last_wal_replay_lsn reports only what is applied); false as Apply.
  bool DrainRedo();
  void MarkReplayed();
  // A failed redo or replay step: FATAL with the record it failed on.
  void RedoFailed(const Status& st, const wal::DecodedRecord& rec);
  // Ends recovery (on_promote), after replaying every record already received and fsynced
  // unless the recovery target stopped replay. `requested`: a promotion request (logged).
  void Promote(bool requested = true);
  // The recovery target was reached: recovery_target_action (pause until resumed or promoted,
  // promote, shut down); FATAL when it lies before the consistency point.
  void EndAtTarget() EXCLUDES(mu_);
  // Archive recovery found no more WAL: it ends (FATAL when a target was set and not reached).
  void EndOfArchive();
  // recovery_end_command (at the end of recovery) / archive_cleanup_command (after each
  // restartpoint), with %r the oldest WAL file still needed; a failure is a WARNING.
  void RunRecoveryCommand(const char* setting);
  // recovery_min_apply_delay: a commit record is applied only once its commit time plus the
  // delay has passed (PostgreSQL's recoveryApplyDelay). False when the thread must stop.
  bool ApplyDelay(const wal::DecodedRecord& rec) EXCLUDES(mu_);
  // restore_command: when WAL at `pos` is not in pg_wal and streaming does not bring it, the
  // segment holding it (and newer timeline history files) are fetched from the archive, at
  // most once per wal_retrieve_retry_interval each. True when something was restored.
  bool RestoreFromArchive(Lsn pos);
  // Runs restore_command for `file` into pg_wal (through a temporary name, fsynced, marked
  // .done); false when the archive does not have it.
  bool RestoreFile(const std::string& file, uint64_t expect_size);
  // Waits for the walreceiver to have fsynced `target`, a promotion request or a timeout;
  // false when the thread must stop.
  bool WaitReceived(Lsn target);
  // promote_trigger_file, checked every 100 ms at most.
  void CheckTriggerFile();
  Status MaybeRestartpoint(const wal::DecodedRecord& rec) EXCLUDES(rp_mu_);
  // The restartpoint thread: flushing the buffer pool takes a while, and replay goes on
  // meanwhile (as PostgreSQL's checkpointer makes restartpoints beside the startup process).
  void RestartpointLoop() EXCLUDES(mu_);

  const StartupOptions opts_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  LsnWaiter replayed_;
  std::atomic<TimestampTz> last_xact_time_{0};
  std::atomic<bool> promote_{false};
  std::atomic<uint64_t> last_end_{0};
  bool consistent_ = false;  // startup thread only
  // Replaying what pg_wal held at start (trusted as durable, as PostgreSQL does), before the
  // walreceiver starts.
  bool local_wal_ = true;                                  // startup thread only
  std::chrono::steady_clock::time_point trigger_checked_;  // startup thread only
  std::string restore_failed_;  // startup thread only: the file the archive did not have
  std::chrono::steady_clock::time_point restore_failed_at_;

  // Rate samples (time, applied LSN, applied records), one a second at most, the last 10 s.
  struct RateSample {
    std::chrono::steady_clock::time_point at;
    uint64_t lsn, records;
  };
  mutable Mutex stats_mu_;
  std::deque<RateSample> samples_ GUARDED_BY(stats_mu_);

  mutable Mutex mu_;
  CondVar resumed_{&mu_};
  bool paused_ GUARDED_BY(mu_) = false;
  CondVar rp_wanted_{&mu_};
  bool rp_requested_ GUARDED_BY(mu_) = false;
  std::thread rp_thread_;

  // One restartpoint at a time, held across its buffer flush; rp_mu_ guards only the fields
  // below (replay takes it at every checkpoint record, so it is never held across I/O).
  Mutex rp_serial_mu_;
  Mutex rp_mu_;
  std::optional<std::pair<Lsn, wal::CheckPoint>> last_ckpt_ GUARDED_BY(rp_mu_);
  std::chrono::steady_clock::time_point last_rp_ GUARDED_BY(rp_mu_);
  Lsn last_rp_redo_ GUARDED_BY(rp_mu_);
};

}  // namespace walrep::replication
