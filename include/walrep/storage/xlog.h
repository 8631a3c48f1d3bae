// walrep: the cluster's WAL life cycle — bootstrap, crash recovery, checkpoints, shutdown.
//
// Open() is PostgreSQL's StartupXLOG(): read global/pg_control, read the checkpoint record it
// names, replay every record from the checkpoint's REDO point to the end of valid WAL through the
// caller's redo function, wipe whatever lies after the end (so a torn tail can never be read as
// WAL later), write an end-of-recovery checkpoint when the last shutdown was not clean, and hand
// back a WalWriter positioned at the end. Checkpoint() writes a checkpoint record, flushes it,
// updates pg_control durably and removes segments no longer needed.
// Thread safety: Checkpoint/SwitchWal/Shutdown are serialised by an internal mutex; the writer is
// thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "walrep/common/mutex.h"
#include "walrep/io/file_system.h"
#include "walrep/storage/control_file.h"
#include "walrep/storage/recovery.h"
#include "walrep/wal/timeline.h"
#include "walrep/wal/wal_reader.h"
#include "walrep/wal/wal_writer.h"

namespace walrep::storage {

// backup_label as pg_basebackup and pg_rewind write it: START WAL LOCATION, CHECKPOINT
// LOCATION, and BACKUP FROM (a standby's backup, or a rewind, ends at pg_control's
// minRecoveryPoint instead of a BACKUP_END record).
struct BackupLabel {
  Lsn start;
  Lsn checkpoint;
  bool from_standby = false;
};
// The label's text; a FATAL "invalid data in file" naming `path` when a location is missing.
Result<BackupLabel> ParseBackupLabel(std::string_view text, const std::string& path);

struct XLogOptions {
  io::FileSystem* fs = nullptr;  // must outlive the XLog
  std::string data_dir;
  bool fsync = true;
  size_t wal_buffers = 4 * 1024 * 1024;
  std::chrono::milliseconds wal_writer_delay{200};
  bool wal_init_zero = true;
  bool full_page_writes = true;
  uint64_t wal_keep_bytes = 0;  // wal_keep_size
  // min_wal_size / max_wal_size: how many old segments a checkpoint recycles (renames into
  // future segments instead of removing), as PostgreSQL's XLOGfileslop().
  uint64_t min_wal_bytes = 80ull << 20;
  uint64_t max_wal_bytes = 1024ull << 20;
  double checkpoint_completion_target = 0.9;
  size_t shared_buffers = 0;  // for the percentage log_checkpoints prints
  bool log_checkpoints = true;
  // Standby: replay what is in pg_wal until the data is consistent, then stay in recovery (no
  // writer; the startup thread replays the rest of pg_wal, then what arrives). The tail after the
  // last valid record is kept, since the walreceiver will complete it.
  bool standby = false;
  // archive_mode ("off", "on", "always"): completed segments and history files get
  // archive_status/<file>.ready while archiving is active (a primary with on, any server with
  // always), and removal never passes a file that is not archived. `archive_notify` wakes the
  // archiver.
  std::string archive_mode = "off";
  std::function<void()> archive_notify;
  // recovery_target_timeline of a standby: "latest", "current" or a number. Crash recovery
  // follows the newest timeline whose history contains the checkpoint's (a crash right after a
  // promotion finds the new timeline's END_OF_RECOVERY that way).
  std::string recovery_target_timeline = "latest";
  bool archive_recovery = false;  // recovery.signal: logged as archive recovery, not standby
  // Where a standby's or archive recovery's replay stops (recovery_target*).
  RecoveryTarget recovery_target;
  // Called once before replay with the log and the checkpoint replay starts from (hot standby
  // initialises its running-transaction set from it; pages written from then on move the
  // minimum recovery point).
  std::function<void(XLog*, const wal::CheckPoint&)> before_redo;
  // Recovery prefetching (recovery_prefetch); null for none. Must outlive the recovery.
  RecoveryPrefetcher* prefetcher = nullptr;
};

// Applies one record (it may take the record's data and blocks: access::ParallelRedo::Apply).
using RedoFn = std::function<Status(wal::DecodedRecord*)>;

struct RecoveryResult {
  // A standby's recovery, continued by its startup thread (null once recovery has ended).
  std::unique_ptr<Recovery> recovery;
  bool crash_recovery = false;
  Lsn redo_start;
  Lsn last_record;
  Lsn last_record_end;  // the (aligned) end of the last record replayed
  Lsn end;
  uint64_t records_replayed = 0;
};

class XLog {
 public:
  // Writes the first WAL segment of a new cluster with a shutdown checkpoint and points
  // pg_control at it. Counterpart: BootStrapXLOG().
  static Status Bootstrap(io::FileSystem* fs, const std::string& data_dir,
                          ControlFileData* control);

  static Result<std::unique_ptr<XLog>> Open(XLogOptions opts, const RedoFn& redo,
                                            RecoveryResult* result);
  ~XLog();

  // REQUIRES: !in_recovery().
  wal::WalWriter& writer() { return *writer_; }
  bool in_recovery() const { return writer_ == nullptr; }
  // Recovery: a record was replayed (an XLOG BACKUP_END matching the backup being restored
  // ends the backup). Returns true when this record made the data consistent.
  Result<bool> NoteReplayed(const wal::DecodedRecord& rec) EXCLUDES(mu_);
  // False while a base backup's WAL has not been replayed to its end, or replay has not yet
  // reached the minimum recovery point (what pages, the commit log or dropped files on disk may
  // already reflect).
  bool consistent() const EXCLUDES(mu_);
  // Archive recovery (a standby): something that reflects replay up to `lsn` is about to reach
  // disk — a page with that LSN, or the commit log and file removals of a restartpoint. The
  // minimum recovery point moves past it first (to all that was replayed, so this is rare) and
  // pg_control is written: a restart is consistent only once replay has caught up with what
  // the disk holds (PostgreSQL's UpdateMinRecoveryPoint). An error leaves the old point in
  // force (the caller must not write). A no-op in crash recovery, which replays all WAL before
  // anyone reads, and in production.
  Status UpdateMinRecoveryPoint(Lsn lsn) EXCLUDES(mu_);
  // The end of the last replayed record.
  Lsn replay_end() const EXCLUDES(mu_);
  // Standby restartpoint: the caller has flushed every page and the commit log up to the
  // replayed checkpoint record `ckpt`; pg_control now points at it and older WAL is removed.
  Status Restartpoint(Lsn ckpt, const wal::CheckPoint& cp) EXCLUDES(checkpoint_mu_, mu_);
  // Standby shutdown: pg_control says "shut down in recovery".
  Status ShutdownInRecovery() EXCLUDES(mu_);
  // The end of recovery at promotion (PostgreSQL's XLogInitNewTimeline and what follows it in
  // StartupXLOG): picks the next free timeline ID, copies the segment holding `end` under the
  // new timeline's name (up to `end`), writes the history file, keeps the old segment as
  // .partial, and starts the WAL writer on the new timeline at `end` with an END_OF_RECOVERY
  // record (flushed). The caller then opens for writes, marks pg_control "in production"
  // (SetInProduction), removes the signal files and requests a checkpoint.
  // REQUIRES: in_recovery(); replay has stopped at `end`.
  Result<TimelineId> EndRecovery(Lsn end, Lsn last_record) EXCLUDES(checkpoint_mu_, mu_);
  // pg_control says "in production" (durably): what `walrepctl promote` waits for.
  Status SetInProduction() EXCLUDES(mu_);
  std::string wal_dir() const { return opts_.data_dir + "/pg_wal"; }
  // Archiving is active: archive_mode = always, or on and this server writes WAL.
  bool ArchivingActive() const;
  // Marks a completed WAL file (segment, history or backup history file) for the archiver
  // when archiving is active.
  void NotifyArchive(const std::string& file);
  // The timeline WAL is written on (a primary) or replayed on (recovery).
  TimelineId timeline() const { return tli_.load(std::memory_order_acquire); }
  // The history recovery follows (newest first); a primary's is its own timeline's history.
  wal::TimelineHistory history() const EXCLUDES(mu_);
  // Standby: a newer timeline's history was found (recovery_target_timeline = latest).
  void SetHistory(wal::TimelineHistory h) EXCLUDES(mu_);
  uint64_t system_identifier() const { return sysid_; }

  // Called by Checkpoint() after the REDO pointer is set and before the record is written:
  // flushes dirty pages and commit status, and fills next_xid / next_oid.
  // Sets *buffers_written to the number of pages it wrote (for log_checkpoints).
  using CheckpointHook = std::function<Status(wal::CheckPoint*, uint64_t* buffers_written)>;
  void SetCheckpointHook(CheckpointHook hook) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    hook_ = std::move(hook);
  }
  // Called by Checkpoint() before old segments are removed: WAL from the returned LSN on must
  // be kept (replication slots); an invalid LSN keeps nothing extra.
  // At each checkpoint/restartpoint, given its REDO point: the oldest WAL to keep for
  // replication (slots, wal_keep_size, max_slot_wal_keep_size); invalid for no constraint.
  using KeepHook = std::function<Lsn(Lsn redo)>;
  void SetKeepHook(KeepHook hook) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    keep_hook_ = std::move(hook);
  }
  // SIGHUP: wal_keep_size, min_wal_size, max_wal_size, checkpoint_completion_target.
  void SetWalSizes(uint64_t keep, uint64_t min, uint64_t max, double completion_target)
      EXCLUDES(mu_);
  // SIGHUP: wal_init_zero, for the segments created from now on.
  void SetWalInitZero(bool on) { init_zero_.store(on, std::memory_order_relaxed); }
  // Writes a checkpoint record and updates pg_control; returns the record's LSN.
  // `redo_out`, when given, receives the checkpoint's REDO point.
  // Holds checkpoint_mu_ throughout and mu_ only to read and update pg_control's copy, so the
  // buffer flush and fsyncs of the hook block nobody but another checkpoint.
  Result<Lsn> Checkpoint(bool shutdown, const char* reason, Lsn* redo_out = nullptr)
      EXCLUDES(checkpoint_mu_, mu_);
  // pg_switch_wal(): the switch record's end, or the current position when nothing to switch.
  Result<Lsn> SwitchWal() EXCLUDES(mu_);
  // The newest segment removed or recycled so far (0: none since startup).
  XLogSegNo last_removed_segno() const { return last_removed_.load(std::memory_order_acquire); }
  // pg_create_restore_point(): a RESTORE_POINT record named `name` (recovery_target_name stops
  // after it), flushed; returns its end.
  Result<Lsn> CreateRestorePoint(const std::string& name) EXCLUDES(mu_);
  // Shutdown checkpoint and "shut down" state.
  Status Shutdown() EXCLUDES(checkpoint_mu_, mu_);
  ControlFileData control() const EXCLUDES(mu_);
  // Simulated crash: buffered WAL is lost and nothing more is written.
  void AbandonForTest() { writer_->AbandonForTest(); }

 private:
  explicit XLog(XLogOptions opts) : opts_(std::move(opts)), init_zero_(opts_.wal_init_zero) {}
  // The history recovery follows, from pg_control's checkpoint timeline and the target.
  Result<wal::TimelineHistory> RecoveryHistory(const ControlFileData& control, Lsn ckpt) const;
  // A replayed XLOG record that starts a new timeline switches timeline() to it.
  Status NoteTimelineSwitch(const wal::DecodedRecord& rec) REQUIRES(mu_);
  bool ConsistentLocked() const REQUIRES(mu_) {
    return control_.backup_end_required == 0 && replay_end_ >= control_.min_recovery_point;
  }
  // Starts the WAL writer on timeline() at `pos` (a record start).
  void StartWriter(Lsn pos, Lsn last_record);
  // Removes or recycles the segments before the one `redo` needs (and before wal_keep_size
  // and the slots' needs); counts them. File operations run under checkpoint_mu_ only.
  Status RemoveOldSegments(Lsn redo, int* removed, int* recycled) REQUIRES(checkpoint_mu_)
      EXCLUDES(mu_);

  XLogOptions opts_;                                  // the WAL sizes change at reload (under mu_)
  uint64_t checkpoint_distance_ GUARDED_BY(mu_) = 0;  // bytes between the last two REDO points
  uint64_t sysid_ = 0;
  std::atomic<bool> init_zero_;  // wal_init_zero; the writer reads it for each new segment
  std::unique_ptr<wal::WalWriter> writer_;
  std::atomic<TimelineId> tli_{1};
  // Serialises checkpoints, restartpoints and the end of recovery, across their file I/O;
  // taken before mu_. mu_ guards the fields below and is never held across a buffer flush.
  Mutex checkpoint_mu_;
  mutable Mutex mu_;
  wal::TimelineHistory history_ GUARDED_BY(mu_);
  ControlFileData control_ GUARDED_BY(mu_);
  uint64_t replay_end_ GUARDED_BY(mu_) = 0;
  // control_.min_recovery_point as last written: pages at or below it need no lock.
  std::atomic<uint64_t> min_recovery_written_{0};
  CheckpointHook hook_ GUARDED_BY(mu_);
  KeepHook keep_hook_ GUARDED_BY(mu_);
  std::atomic<XLogSegNo> last_removed_{0};
};

}  // namespace walrep::storage
