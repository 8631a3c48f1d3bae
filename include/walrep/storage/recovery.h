// walrep: recovery — the one state machine for every way a server replays WAL.
//
//   kCrash ──────────────────────────────► kDone    crash recovery: replay to the end of valid
//                                                    WAL, then the writer continues there
//   kStandby ──promotion──► kPromoting ──► kDone    a standby replays what its walreceiver
//                                                    fsyncs until it is promoted; then the
//                                                    end-of-recovery sequence (new timeline).
//                                                    Archive recovery (recovery.signal) is a
//                                                    standby that never streams, promoted at
//                                                    its recovery target or the archive's end.
// Recovery targets (recovery_target*, PostgreSQL's recoveryStopsBefore/After) are checked
// here for every record: StopsBefore() before it is applied, Replayed() after.
// It owns the replay position and the WAL reader, the timeline history being followed (with
// recovery_target_timeline = latest a newer timeline's history found in pg_wal is adopted when
// it branches at or after the replay position), consistency and timeline switches (through
// XLog::NoteReplayed) and the end of recovery. Callers (XLog::Open for the first pass, the
// startup thread for a standby) ask it for the next record, apply it through the engine's one
// redo table and report it replayed; they never know which file or timeline it came from.
// Counterpart: xlogrecovery.c (ReadRecord, rescanLatestTimeLine, checkTimeLineSwitch,
// FinishWalRecovery) in PostgreSQL.
// With a RecoveryPrefetcher (recovery_prefetch), ReadNext decodes records ahead of the replay
// position — never past the lookahead limit, the WAL that is durable — so their blocks can be
// prefetched; a record is still returned, and applied, strictly in order.
// Thread safety: one thread drives it at a time (XLog::Open, then the startup thread);
// state() may be read from any thread.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <limits>
#include <string>

#include "walrep/common/status.h"
#include "walrep/common/time.h"
#include "walrep/io/file_system.h"
#include "walrep/storage/recovery_prefetch.h"
#include "walrep/wal/timeline.h"
#include "walrep/wal/wal_reader.h"

namespace walrep::storage {

class XLog;

// Where archive recovery (or a standby) stops: recovery_target*, as PostgreSQL 15 reads them.
struct RecoveryTarget {
  enum class Kind { kNone, kImmediate, kLsn, kXid, kTime, kName } kind = Kind::kNone;
  Lsn lsn;
  TransactionId xid = 0;
  TimestampTz time = 0;
  std::string name;
  bool inclusive = true;
  std::string action = "pause";  // recovery_target_action: pause, promote, shutdown
  // From the settings (`get` returns a setting's value); more than one target is an error
  // with PostgreSQL's text, as is a malformed one.
  static Result<RecoveryTarget> FromSettings(const std::function<std::string(const char*)>& get);
};

class Recovery {
 public:
  enum class State { kCrash, kStandby, kPromoting, kDone };
  static const char* StateName(State s);

  // Replays from `start` (a checkpoint's REDO point) along `history`.
  Recovery(XLog* xlog, io::FileSystem* fs, std::string wal_dir, wal::TimelineHistory history,
           Lsn start, State state);

  State state() const { return state_.load(std::memory_order_acquire); }
  // The record at the replay position, if the WAL holds it now; an error is the end of the WAL
  // for now (a standby waits for more, crash recovery ends there).
  Result<wal::DecodedRecord> ReadNext();
  // The caller applied `rec` (the engine's redo): timeline switches and consistency are noted
  // and the position moves past it. Returns true when this record made the data consistent.
  Result<bool> Replayed(const wal::DecodedRecord& rec);
  // recovery_target_timeline = `target`: with "latest", a newer timeline whose history file
  // appeared in pg_wal becomes the one followed if it branched at or after the replay
  // position (PostgreSQL's rescanLatestTimeLine, with its log messages). True when it did.
  bool RescanLatestTimeline(const std::string& target);
  // Recovery targets (archive recovery and standbys; crash recovery has none).
  void SetTarget(RecoveryTarget target) { target_ = std::move(target); }
  const RecoveryTarget& target() const { return target_; }
  // Whether recovery must stop before applying `rec` (PostgreSQL's recoveryStopsBefore); logs
  // the stop and marks the target reached.
  bool StopsBefore(const wal::DecodedRecord& rec);
  // Set once the target was reached: before a record, or after one that Replayed() found to be
  // the target (recoveryStopsAfter, and 'immediate' at consistency).
  bool reached_target() const { return reached_; }
  // What the history file says of the switch ("before transaction 735", ...).
  const std::string& stop_reason() const { return stop_reason_; }
  // kStandby -> kPromoting: from now on only WAL already received is replayed.
  void BeginPromotion();
  // The end of recovery. After crash recovery (kCrash): nothing to write, the WAL continues at
  // position(). After a promotion (kPromoting): a new timeline begins at position()
  // (XLog::EndRecovery). Returns the timeline WAL is written on from now on.
  Result<TimelineId> Finish();

  // Lookahead for prefetching (null: none). Records ending past `limit` are not read ahead: a
  // standby sets it to what its walreceiver has made durable (and raises it as more arrives).
  void SetPrefetcher(RecoveryPrefetcher* p) { prefetcher_ = p; }
  void set_lookahead_limit(Lsn limit) { limit_ = limit; }

  Lsn position() const { return pos_; }  // where the next record starts
  Lsn last_record() const { return prev_; }
  Lsn last_record_end() const { return prev_end_; }  // aligned end of the last record
  uint64_t records_replayed() const { return replayed_; }

 private:
  XLog* const xlog_;
  io::FileSystem* const fs_;
  const std::string wal_dir_;
  wal::WalReader reader_;
  std::atomic<State> state_;
  Lsn pos_, prev_, prev_end_;
  uint64_t replayed_ = 0;
  TimelineId rejected_tli_ = 0;  // a history already found not to fit: logged once
  // Lookahead: records decoded after pos_, in order; each with the prefetches it started.
  struct Ahead {
    wal::DecodedRecord rec;
    int prefetched = 0;
  };
  RecoveryPrefetcher* prefetcher_ = nullptr;
  std::deque<Ahead> ahead_;
  uint64_t ahead_bytes_ = 0, ahead_blocks_ = 0;
  Lsn ahead_next_, ahead_prev_;  // where the next record to read ahead starts, and its prev-link
  Lsn limit_{std::numeric_limits<uint64_t>::max()};
  Lsn ahead_failed_, ahead_failed_limit_;  // a read ahead failed here, at this limit
  void LookAhead();
  void DropLookahead();
  // Marks the target reached after `rec` was applied (recoveryStopsAfter).
  void CheckStopsAfter(const wal::DecodedRecord& rec, bool consistent_now);
  RecoveryTarget target_;
  bool reached_ = false;
  std::string stop_reason_ = "no recovery target specified";
};

}  // namespace walrep::storage
