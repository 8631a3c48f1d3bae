// walrep: the two ends of a physical replication stream (CopyBoth mode) as state machines —
// events in (WAL available, a message from the peer, the clock, the end of a timeline), actions
// out (send WAL, a keepalive, a reply, CopyDone, the next timeline, give up). They do no I/O:
// the walsender's and the walreceiver's socket loops perform the actions. So end-of-timeline,
// keepalives, replies, lag tracking and timeouts are unit-tested without sockets (as Neon's
// safekeeper separates its protocol from its I/O).
// Message layouts: shared/reference/replication-protocol.md section 9.2.
// Counterpart: the WalSndLoop/XLogSendPhysical/ProcessStandbyMessage logic of walsender.c and
// the WalReceiverMain/XLogWalRcvProcessMsg/XLogWalRcvSendReply logic of walreceiver.c.
// Thread safety: none; each belongs to one stream's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/status.h"
#include "walrep/common/time.h"

namespace walrep::replication {

// ---------------------------------------------------------------------------------------------
// The walsender's side.

struct SendAction {
  enum class Kind {
    kSendWal,        // XLogData 'w' with the WAL [from, to); wal_end = the sendable position
    kKeepalive,      // 'k' with sent(); reply_requested
    kReply,          // the standby reported positions (and lags measured from them)
    kFeedback,       // hot-standby feedback: the standby's xmin
    kCopyDone,       // the timeline is fully sent: CopyDone, then wait for the client's
    kEndOfTimeline,  // after both CopyDones: the next-timeline result set and the tags
    kClientDone,     // the client ended the stream: CopyDone, START_STREAMING, START_REPLICATION
    kTimeout,        // nothing heard for wal_sender_timeout: end the connection
  };
  explicit SendAction(Kind k) : kind(k) {}
  Kind kind;
  Lsn from, to, wal_end;
  bool reply_requested = false;
  // kReply: positions (0 = not reported), the standby's clock and lags in microseconds (-1:
  // no new measurement; a measurement replaces the shown lag unless `clear_lags`).
  Lsn write, flush, apply;
  TimestampTz reply_time = 0;
  int64_t lag_us[3] = {-1, -1, -1};
  bool clear_lags = false;
  uint32_t xmin = 0;  // kFeedback
  TimelineId next_tli = 0;
  Lsn next_start;  // kEndOfTimeline
};

class SendProtocol {
 public:
  enum class State { kStreaming, kEndingTimeline, kDone };
  struct Config {
    int64_t timeout_ms = 60000;  // wal_sender_timeout; 0 disables
    uint64_t max_chunk = 16 * 8192;
    uint64_t seg_size = 16 * 1024 * 1024;
    uint64_t page_size = 8192;
  };
  SendProtocol(Lsn start, Config config, TimestampTz now);

  // Events.
  // WAL up to `limit` may be sent (the flush position, or what the walreceiver fsynced).
  void OnSendable(Lsn limit) { sendable_ = limit; }
  // The streamed timeline ended at `end` (a promotion): stream up to it, then name `next`.
  void OnTimelineEnd(Lsn end, TimelineId next);
  // A message from the client in COPY mode: CopyData ('d'), CopyDone ('c'), Terminate ('X').
  Status OnMessage(char type, std::string_view body, TimestampTz now, std::vector<SendAction>* out);
  // The clock, or the loop's turn: at most one WAL chunk (so replies are read between chunks),
  // the end of a timeline, keepalives and the timeout.
  void OnTick(TimestampTz now, std::vector<SendAction>* out);
  // Wake the loop's wait from a reconfigured wal_sender_timeout.
  void SetTimeout(int64_t timeout_ms) { config_.timeout_ms = timeout_ms; }

  // How long the loop may wait for a message: 0 while WAL is waiting to be sent, -1 forever.
  int WaitMs(TimestampTz now) const;
  State state() const { return state_; }
  Lsn sent() const { return sent_; }
  bool caught_up() const { return sent_ >= Limit(); }
  Lsn reply_write() const { return reply_write_; }
  Lsn reply_flush() const { return reply_flush_; }

 private:
  Lsn Limit() const { return tli_end_.valid() && tli_end_ < sendable_ ? tli_end_ : sendable_; }
  void LagWrite(Lsn lsn, TimestampTz now);
  int64_t LagRead(int head, Lsn lsn, TimestampTz now);

  Config config_;
  State state_ = State::kStreaming;
  Lsn sent_, sendable_;
  Lsn tli_end_;
  TimelineId next_tli_ = 0;
  TimestampTz last_heard_;
  bool ping_sent_ = false;
  bool fully_applied_ = false;  // the last reply had applied everything sent
  Lsn reply_write_, reply_flush_;
  struct LagSample {
    Lsn lsn;
    TimestampTz time;
  };
  std::deque<LagSample> lag_;
  size_t lag_heads_[3] = {0, 0, 0};  // samples consumed by write, flush, apply
};

// ---------------------------------------------------------------------------------------------
// The walreceiver's side.

struct ReceiveAction {
  enum class Kind {
    kWrite,         // write `data` at `from` into pg_wal (data points into the message)
    kFlush,         // fsync what was written; publish the flush position
    kSendReply,     // 'r' with write/flush/apply; reply_requested
    kSendFeedback,  // 'h' with the oldest standby xmin (zeros: `zero`)
    kTimeout,       // nothing heard for wal_receiver_timeout: end the connection
  };
  explicit ReceiveAction(Kind k) : kind(k) {}
  Kind kind;
  Lsn from;
  std::string_view data;
  Lsn wal_end;  // kWrite: the upstream's end of WAL when it sent `data`
  bool reply_requested = false;
  bool zero = false;
};

// What pg_stat_wal_receiver shows of the upstream's messages.
struct UpstreamClock {
  TimestampTz last_msg_send_time = 0, last_msg_receipt_time = 0;
  Lsn latest_end_lsn;
  TimestampTz latest_end_time = 0;
};

class ReceiveProtocol {
 public:
  struct Config {
    int64_t timeout_ms = 60000;          // wal_receiver_timeout; 0 disables
    int64_t status_interval_ms = 10000;  // wal_receiver_status_interval; 0 disables
    bool feedback = false;               // hot_standby_feedback
    // A stream that never pauses is still made durable this often (and at each segment's end);
    // one that pauses, at every pause.
    uint64_t flush_every = 1024 * 1024;
  };
  ReceiveProtocol(Lsn start, Config config, TimestampTz now);

  // The stream began: the first reply (write = start), and feedback (zeros when it is off).
  void OnStart(std::vector<ReceiveAction>* out);
  // One CopyData payload: 'w' XLogData or 'k' keepalive; anything else is a protocol error.
  Status OnCopyData(std::string_view msg, TimestampTz now, std::vector<ReceiveAction>* out);
  // Nothing more is buffered: make what arrived durable and tell the upstream.
  void OnIdle(std::vector<ReceiveAction>* out);
  // Replay advanced (remote_apply waits for the reply).
  void OnReplayed(std::vector<ReceiveAction>* out);
  // The clock: pings after half the timeout, the timeout, the status interval.
  void OnTick(TimestampTz now, std::vector<ReceiveAction>* out);
  // A reload. Turning hot_standby_feedback off sends one all-zero feedback message at the next
  // tick, so the upstream stops holding back its horizon for this standby (as PostgreSQL).
  void Reconfigure(Config config) {
    if (config_.feedback && !config.feedback) zero_feedback_due_ = true;
    if (config.feedback) zero_feedback_due_ = false;
    config_ = config;
  }

  int WaitMs(TimestampTz now) const;
  Lsn written() const { return written_; }
  Lsn flushed() const { return flushed_; }
  const UpstreamClock& clock() const { return clock_; }

 private:
  void Flush(std::vector<ReceiveAction>* out);

  Config config_;
  Lsn written_, flushed_;
  TimestampTz last_recv_, last_status_;
  bool ping_sent_ = false;
  bool zero_feedback_due_ = false;
  UpstreamClock clock_;
};

}  // namespace walrep::replication
