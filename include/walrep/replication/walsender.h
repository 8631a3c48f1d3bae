// walrep: the walsender — one per replication connection.
//
// A replication connection (startup parameter replication=true) runs the replication command
// language (command.h) instead of SQL. START_REPLICATION switches to CopyBoth and streams WAL
// from pg_wal as soon as it is safe to send (flushed on a primary, received and flushed on a
// cascading standby): XLogData messages of at most 128 KiB cut at page boundaries, keepalives
// asking for a reply after wal_sender_timeout/2 of silence, and the end of the connection after
// a full wal_sender_timeout. Standby replies ('r') and hot-standby feedback ('h') are recorded
// in the WalSenderRegistry (pg_stat_replication, with lags measured as PostgreSQL does: from the
// time WAL was sent to the time the standby reports having written, flushed and applied it) and
// in the slot the stream uses. The sender waits for new WAL on an eventfd that the WAL flush
// position (LsnWaiter) signals, so idle senders sleep until there is something to send.
// Counterpart: walsender.c in PostgreSQL.
// Thread safety: a WalSender belongs to its session thread; the registry is thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "walrep/common/guc.h"
#include "walrep/common/lsn_waiter.h"
#include "walrep/common/mutex.h"
#include "walrep/common/time.h"
#include "walrep/io/file_system.h"
#include "walrep/protocol/connection.h"
#include "walrep/replication/command.h"
#include "walrep/replication/slots.h"
#include "walrep/replication/stream_protocol.h"
#include "walrep/replication/syncrep.h"
#include "walrep/wal/timeline.h"

namespace walrep::storage {
class RecoveryPrefetcher;
}  // namespace walrep::storage

namespace walrep::sql {
class Registry;
}

namespace walrep::replication {

// What pg_stat_replication shows about one walsender.
struct WalSndStatus {
  int32_t pid = 0;
  std::string user, application_name, client_addr;
  int client_port = -1;
  TimestampTz backend_start = 0;
  std::string state = "startup";  // startup, catchup, streaming, backup, stopping
  std::string slot;
  Lsn sent, write, flush, replay;
  int64_t write_lag_us = -1, flush_lag_us = -1, replay_lag_us = -1;  // -1: NULL
  TimestampTz reply_time = 0;
  TransactionId xmin = 0;  // hot-standby feedback
};

// Every walsender of the server (for max_wal_senders and pg_stat_replication).
class WalSenderRegistry {
 public:
  // 53300 when max_wal_senders are already running.
  Status Register(const WalSndStatus& initial, int max_wal_senders) EXCLUDES(mu_);
  void Unregister(int32_t pid) EXCLUDES(mu_);
  void Update(int32_t pid, const std::function<void(WalSndStatus&)>& fn) EXCLUDES(mu_);
  std::vector<WalSndStatus> List() const EXCLUDES(mu_);
  size_t Count() const EXCLUDES(mu_);
  // Oldest xmin any standby reported through hot-standby feedback (0: none).
  TransactionId FeedbackXmin() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::map<int32_t, WalSndStatus> senders_ GUARDED_BY(mu_);
};

class WalReceiver;
class Startup;
class Archiver;

// The server's replication state, shared by every walsender and by the views.
struct ReplicationEnv {
  io::FileSystem* fs = nullptr;
  std::string data_dir;
  uint64_t system_identifier = 0;
  std::function<TimelineId()> timeline;
  // The current timeline's history (newest first): where each older timeline ended.
  std::function<wal::TimelineHistory()> history;
  // True on a standby until it is promoted.
  std::function<bool()> in_recovery;
  // WAL up to value() may be sent; waiters are woken when it grows.
  std::function<LsnWaiter*()> sendable;
  // REDO pointer of the latest checkpoint (CREATE_REPLICATION_SLOT ... RESERVE_WAL).
  std::function<Lsn()> redo_pointer;
  SlotManager* slots = nullptr;
  // pg_replication_slots.wal_status / safe_wal_size of a slot, from the current WAL position.
  std::function<SlotWalStatus(const SlotInfo&)> slot_wal_status;
  WalSenderRegistry* registry = nullptr;
  // True once the server's last WAL is written (shutdown): a terminated walsender then sends
  // what is left and waits briefly for its standby's confirmation before it ends.
  std::function<bool()> shutting_down;
  // Synchronous replication: the waiters and the current synchronous_standby_names rule.
  SyncRep* sync_rep = nullptr;
  std::function<std::shared_ptr<const SyncRule>()> sync_rule;
  // archive_mode != off (pg_stat_archiver); null otherwise.
  Archiver* archiver = nullptr;
  // Marks a new file in pg_wal (a backup history file) for archiving when archiving is active.
  std::function<void(const std::string& file)> archive_notify;
  // Standby only (null on a primary).
  WalReceiver* receiver = nullptr;
  Startup* startup = nullptr;
  // Recovery prefetching's counters (pg_stat_recovery_prefetch); they outlive recovery.
  storage::RecoveryPrefetcher* prefetcher = nullptr;
  // BASE_BACKUP: a checkpoint to start from (fast: immediate) and the end record; null on a
  // server that cannot take backups.
  struct BackupStart {
    Lsn checkpoint;  // the checkpoint record
    Lsn redo;        // its REDO point: the backup's start
    TimelineId timeline = 1;
    // A standby's backup: no WAL is written; the end is the replay position, recorded in the
    // copied pg_control (backup_end_point) instead of a BACKUP_END record.
    bool from_standby = false;
  };
  std::function<Result<BackupStart>(bool fast)> backup_start;
  // Primary: writes XLOG BACKUP_END(start) and switches segments. Standby: the replay
  // position. Returns the backup's end LSN.
  std::function<Result<Lsn>(Lsn start)> backup_stop;
};

// One connection's session with the walsender.
struct SenderSession {
  protocol::Connection* conn = nullptr;
  SessionSettings* settings = nullptr;
  int32_t pid = 0;
  int interrupt_fd = -1;  // the session's eventfd; becomes readable when WAL can be sent
  // Cancel (57014) or terminate (FATAL 57P01) requests; drains the eventfd.
  std::function<Status()> check_interrupts;
};

class WalSender {
 public:
  WalSender(ReplicationEnv* env, SenderSession session);
  ~WalSender();

  // Runs one replication command, writing its result set and CommandComplete (not
  // ReadyForQuery). An error is returned for the caller to report; temporary slots of this
  // session are dropped then, as in PostgreSQL.
  Status Execute(const std::string& text);

 private:
  Status IdentifySystem();
  Status Show(const std::string& name);
  Status TimelineHistory(TimelineId tli);
  Status CreateSlot(const Command& c);
  Status ReadSlot(const std::string& name);
  Status StartReplication(const Command& c);
  // The CopyBoth loop, driving a SendProtocol; returns OK after the client's CopyDone (or the
  // end of a historic timeline).
  Status Stream(Lsn start, TimelineId tli);
  // Carries out what the protocol decided (socket writes, registry and slot updates).
  Status Perform(const std::vector<SendAction>& actions, TimelineId tli);
  // A replication timeout (no reply, or a send that moved nothing, for wal_sender_timeout) is
  // logged and ends the walsender; other statuses pass through.
  static Status TimeoutIsFatal(Status st);
  // XLogData for the WAL [from, to), read from pg_wal.
  Status SendWal(Lsn from, Lsn to, Lsn wal_end, TimelineId tli);
  void SendKeepalive(Lsn sent, bool reply_requested);
  // A reply or a state change moved this standby: recompute the synchronous positions.
  void UpdateSyncRep();
  // Shutdown: the rest of the WAL, a keepalive asking for a reply, up to 2 s for the standby
  // to confirm, then CommandComplete "COPY 0" and the end of the connection (WalSndDone).
  Status FinishAtShutdown(Lsn sent, TimelineId tli, SendProtocol& proto);
  // The file holding `segno` of timeline `tli` ("" when removed): its own, or that of a later
  // timeline of the history that began in that segment.
  std::string SegmentPath(TimelineId tli, XLogSegNo segno) const;
  // Opens `segno` of `tli` for reading (kept in seg_file_): from pg_wal, or — beyond
  // PostgreSQL — when pg_wal no longer has it, from the archive through this server's own
  // restore_command (into a temporary file, unlinked once open). 58P01 when neither has it.
  Status OpenSegment(TimelineId tli, XLogSegNo segno);
  // The result set that ends a historic timeline: the next timeline and where it starts,
  // then START_STREAMING and START_REPLICATION.
  void EndOfTimeline(TimelineId next_tli, Lsn start);
  void Tag(const char* tag);

  ReplicationEnv* const env_;
  SenderSession s_;
  std::string slot_;  // slot used by the current stream
  std::unique_ptr<io::RandomAccessFile> seg_file_;
  XLogSegNo seg_no_ = ~0ull;
  TimelineId seg_tli_ = 0;
};

// pg_stat_replication, pg_replication_slots, pg_stat_wal_receiver, the slot functions and the
// recovery functions (pg_last_wal_replay_lsn(), pg_wal_replay_pause(), ...).
void RegisterReplicationViews(sql::Registry* r, ReplicationEnv* env);

}  // namespace walrep::replication
