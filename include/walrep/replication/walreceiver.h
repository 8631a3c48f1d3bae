// walrep: the walreceiver — a standby's libpq client of its upstream's walsender.
//
// Connects with primary_conninfo exactly as PostgreSQL's walreceiver does (the conninfo
// expanded, then replication=true dbname=replication and fallback_application_name), checks
// IDENTIFY_SYSTEM's system identifier, and sends START_REPLICATION [SLOT primary_slot_name]
// from the start of the segment that holds the position replay needs (with
// wal_receiver_create_temp_slot and no primary_slot_name, through a temporary slot created on
// the same connection). Received XLogData is
// written into pg_wal segments (created zero-filled, durably), fsynced whenever the incoming
// stream pauses, and the flush position is published through an LsnWaiter that the startup
// thread and cascading walsenders wait on. Replies ('r': write, flush and apply positions) go
// out after each flush, when the upstream asks, when replay advances, and every
// wal_receiver_status_interval; hot-standby feedback ('h') every interval when
// hot_standby_feedback is on (one all-zero message when it is off) — decided by a
// ReceiveProtocol (stream_protocol.h), which this thread's loop drives. A lost connection or an
// upstream restart leads to a reconnect after wal_retrieve_retry_interval; silence longer than
// wal_receiver_timeout ends the connection.
// Counterpart: walreceiver.c and libpqwalreceiver.c in PostgreSQL.
// Thread safety: Start/Stop from the owner; status() and RequestReply() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "walrep/common/guc.h"
#include "walrep/common/lsn_waiter.h"
#include "walrep/common/mutex.h"
#include "walrep/common/time.h"
#include "walrep/io/file_system.h"
#include "walrep/replication/stream_protocol.h"
#include "walrep/wal/wal_writer.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace walrep::replication {

// pg_stat_wal_receiver.
// A libpq connection string with its password (and any other secret option) replaced by
// asterisks, for logs: "host=p user=repl password=********". Unparsable strings are masked
// whole.
std::string MaskConninfo(const std::string& conninfo);

struct WalReceiverStatus {
  int32_t pid = 0;
  std::string status = "starting";  // starting, streaming, waiting, stopping
  Lsn receive_start_lsn;
  TimelineId receive_start_tli = 0;
  Lsn written, flushed;
  TimelineId received_tli = 0;
  TimestampTz last_msg_send_time = 0, last_msg_receipt_time = 0;
  Lsn latest_end_lsn;
  TimestampTz latest_end_time = 0;
  std::string slot_name, sender_host, conninfo;
  int sender_port = 0;
  bool connected = false;
};

struct ReceiverOptions {
  io::FileSystem* fs = nullptr;
  std::string data_dir;
  uint64_t system_identifier = 0;
  // Current settings (primary_conninfo, primary_slot_name, wal_receiver_*, ...), re-read on
  // every connection attempt and status interval.
  std::function<std::shared_ptr<const ServerSettings>()> settings;
  std::function<Lsn()> applied;                  // replay position, for replies
  std::function<TransactionId()> feedback_xmin;  // oldest xmin of standby queries
  // A received segment is complete and fsynced (PostgreSQL's walreceiver marks it .done, or
  // .ready with archive_mode = always).
  std::function<void(const std::string& file)> segment_done;
};

class WalReceiver {
 public:
  explicit WalReceiver(ReceiverOptions opts);
  ~WalReceiver();

  // Starts streaming timeline `tli` from the segment that holds `start`. Does nothing once
  // stopped (a startup thread that finishes reading pg_wal during a shutdown).
  void Start(Lsn start, TimelineId tli) EXCLUDES(lifecycle_mu_);
  void Stop() EXCLUDES(lifecycle_mu_);
  // WAL received and fsynced into pg_wal.
  LsnWaiter& flushed() { return flushed_; }
  // Replay advanced: send a reply soon (remote_apply waits on it).
  void RequestReply();
  WalReceiverStatus status() const EXCLUDES(mu_);
  // walrep_replication_lag(): 0 when `replayed` covers everything the upstream reported having
  // (its flush position from the last XLogData or keepalive), otherwise the age (µs, by this
  // server's clock) of the oldest WAL not yet replayed, from the upstream's send time of the
  // message that carried it. nullopt when not streaming (the upstream's position is unknown).
  std::optional<int64_t> ReplicationLag(Lsn replayed, TimestampTz now) EXCLUDES(mu_);

 private:
  void Loop();
  // libpq without blocking a stop request, and without waiting forever for an upstream that
  // went silent (a partition drops packets; TCP alone would wait minutes).
  using Deadline = std::chrono::steady_clock::time_point;
  enum class WaitResult { kReady, kTimedOut, kStopping };
  // A connection, given up at the conninfo's connect_timeout, or else after
  // wal_receiver_timeout (PostgreSQL's walreceiver waits for TCP to give up). Null when it
  // failed that way (logged) or on a stop request.
  PGconn* Connect(const char* const* keys, const char* const* vals);
  // The first result of one command, given up after wal_receiver_timeout (a FATAL_ERROR
  // result); null on a stop request.
  PGresult* Exec(PGconn* conn, const std::string& sql);
  WaitResult WaitSocket(PGconn* conn, bool for_write, Deadline deadline);
  // Now plus wal_receiver_timeout (none when it is 0).
  Deadline ExchangeDeadline() const;
  // One stream: returns when it ends (error, upstream end, stop); with the next timeline and
  // its start when the upstream ended the timeline being received.
  std::optional<std::pair<TimelineId, Lsn>> Stream(PGconn* conn, Lsn start);
  // TIMELINE_HISTORY for every timeline above the one received up to the upstream's, written
  // into pg_wal when missing (PostgreSQL's WalRcvFetchTimeLineHistoryFiles).
  Status FetchHistories(PGconn* conn, TimelineId upstream_tli);
  // After the upstream's CopyDone at the end of a timeline: the next timeline and its start.
  std::optional<std::pair<TimelineId, Lsn>> EndStreaming(PGconn* conn);
  // Carries out a ReceiveProtocol's actions; false when the stream must end.
  bool Perform(PGconn* conn, const std::vector<ReceiveAction>& actions);
  // `wal_end`: how far the upstream's WAL reached when it sent `data`.
  Status WriteWal(Lsn start, std::string_view data, Lsn wal_end);
  Status FlushWal();
  bool SendReply(PGconn* conn, bool request_reply);
  bool SendFeedback(PGconn* conn, bool force_zero);
  bool Send(PGconn* conn, const std::string& msg);  // one CopyData message, flushed
  void SetStatus(const std::function<void(WalReceiverStatus&)>& fn) EXCLUDES(mu_);
  void InterruptibleSleep(int64_t millis);

  const ReceiverOptions opts_;
  Mutex lifecycle_mu_;  // Start and Stop: from the startup thread and the server's shutdown
  std::thread thread_ GUARDED_BY(lifecycle_mu_);
  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;  // eventfd: stop or reply requests
  LsnWaiter flushed_;
  Lsn start_;

  // Owned by the receiver thread.
  std::string temp_slot_;       // this connection's temporary slot, once created
  TimelineId receive_tli_ = 1;  // the timeline being received (file names, START_REPLICATION)
  Lsn written_;
  std::unique_ptr<io::RandomAccessFile> file_;
  XLogSegNo file_segno_ = ~0ull;
  bool unsynced_ = false;
  std::unique_ptr<wal::SegmentPreallocator> prealloc_;
  std::vector<std::unique_ptr<io::RandomAccessFile>> closed_unsynced_;
  std::vector<std::string> completed_;  // segments received to their end, not yet reported

  mutable Mutex mu_;
  WalReceiverStatus status_ GUARDED_BY(mu_);
  // (end of the WAL a message carried, the upstream's send time), oldest first; pruned as
  // replay passes them (bounded).
  std::deque<std::pair<Lsn, TimestampTz>> sent_times_ GUARDED_BY(mu_);
};

}  // namespace walrep::replication
