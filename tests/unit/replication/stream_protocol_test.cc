// walrep: the replication stream state machines without sockets — chunking, keepalives and
// timeouts, replies and lags, the end of a historic timeline, and the walreceiver's flushes,
// replies, pings and feedback.
#include "walrep/replication/stream_protocol.h"

#include <gtest/gtest.h>

namespace walrep::replication {
namespace {

constexpr TimestampTz kSec = 1000000;

std::string Int64(uint64_t v) {
  std::string s;
  for (int i = 7; i >= 0; i--) s.push_back(static_cast<char>((v >> (i * 8)) & 0xFF));
  return s;
}
std::string Int32(uint32_t v) {
  std::string s;
  for (int i = 3; i >= 0; i--) s.push_back(static_cast<char>((v >> (i * 8)) & 0xFF));
  return s;
}
std::string Reply(uint64_t write, uint64_t flush, uint64_t apply, bool reply_requested = false) {
  return "r" + Int64(write) + Int64(flush) + Int64(apply) + Int64(0) +
         std::string(1, reply_requested ? 1 : 0);
}
std::string XLogData(uint64_t start, uint64_t wal_end, const std::string& data) {
  return "w" + Int64(start) + Int64(wal_end) + Int64(123) + data;
}
std::string Keepalive(uint64_t wal_end, bool reply_requested) {
  return "k" + Int64(wal_end) + Int64(456) + std::string(1, reply_requested ? 1 : 0);
}

std::vector<SendAction::Kind> Kinds(const std::vector<SendAction>& a) {
  std::vector<SendAction::Kind> k;
  for (const auto& x : a) k.push_back(x.kind);
  return k;
}
std::vector<ReceiveAction::Kind> Kinds(const std::vector<ReceiveAction>& a) {
  std::vector<ReceiveAction::Kind> k;
  for (const auto& x : a) k.push_back(x.kind);
  return k;
}

using SK = SendAction::Kind;
using RK = ReceiveAction::Kind;

TEST(SendProtocolTest, ChunksAtPageAndSegmentBoundariesOneChunkPerTick) {
  SendProtocol::Config c;
  SendProtocol p(Lsn(0x1FF0000), c, 0);
  p.OnSendable(Lsn(0x2010123));
  std::vector<SendAction> out;
  EXPECT_EQ(p.WaitMs(0), 0);  // WAL is waiting
  p.OnTick(0, &out);
  ASSERT_EQ(Kinds(out), std::vector<SK>{SK::kSendWal});
  // 128 KiB from 0/1FF0000 would cross the segment end: cut there.
  EXPECT_EQ(out[0].from, Lsn(0x1FF0000));
  EXPECT_EQ(out[0].to, Lsn(0x2000000));
  EXPECT_EQ(out[0].wal_end, Lsn(0x2010123));
  out.clear();
  p.OnTick(0, &out);
  // Up to the sendable position: not cut (it is within 128 KiB).
  EXPECT_EQ(out[0].to, Lsn(0x2010123));
  EXPECT_TRUE(p.caught_up());
  p.OnSendable(Lsn(0x2100000));
  out.clear();
  p.OnTick(0, &out);
  // More than 128 KiB: cut back to a page boundary.
  EXPECT_EQ(out[0].from, Lsn(0x2010123));
  EXPECT_EQ(out[0].to, Lsn(0x2030000));
}

TEST(SendProtocolTest, KeepaliveAtHalfTimeoutThenTimeoutAndRepliesResetIt) {
  SendProtocol::Config c;
  c.timeout_ms = 4000;
  SendProtocol p(Lsn(0x1000000), c, 0);
  std::vector<SendAction> out;
  EXPECT_EQ(p.WaitMs(0), 2000);
  p.OnTick(1 * kSec, &out);
  EXPECT_TRUE(out.empty());
  p.OnTick(2 * kSec, &out);
  ASSERT_EQ(Kinds(out), std::vector<SK>{SK::kKeepalive});
  EXPECT_TRUE(out[0].reply_requested);
  EXPECT_EQ(p.WaitMs(2 * kSec), 2000);  // the rest of the timeout
  out.clear();
  p.OnTick(3 * kSec, &out);
  EXPECT_TRUE(out.empty());  // one ping per silence
  // A reply resets the silence.
  ASSERT_TRUE(p.OnMessage('d', Reply(0x1000000, 0x1000000, 0), 3 * kSec, &out).ok());
  out.clear();
  p.OnTick(5 * kSec + 1, &out);
  ASSERT_EQ(Kinds(out), std::vector<SK>{SK::kKeepalive});
  out.clear();
  p.OnTick(7 * kSec, &out);
  EXPECT_EQ(Kinds(out), std::vector<SK>{SK::kTimeout});
  EXPECT_EQ(p.state(), SendProtocol::State::kDone);
}

TEST(SendProtocolTest, RepliesCarryLagsAndAnswerRequests) {
  SendProtocol::Config c;
  SendProtocol p(Lsn(0x1000000), c, 0);
  std::vector<SendAction> out;
  p.OnSendable(Lsn(0x1000100));
  p.OnTick(10 * kSec, &out);  // sent at t=10s
  out.clear();
  ASSERT_TRUE(
      p.OnMessage('d', Reply(0x1000100, 0x1000100, 0x1000000, true), 10 * kSec + 3000, &out).ok());
  ASSERT_EQ(Kinds(out), (std::vector<SK>{SK::kReply, SK::kKeepalive}));
  EXPECT_EQ(out[0].write, Lsn(0x1000100));
  EXPECT_EQ(out[0].lag_us[0], 3000);
  EXPECT_EQ(out[0].lag_us[1], 3000);
  EXPECT_EQ(out[0].lag_us[2], -1);  // not applied yet: no new measurement
  EXPECT_FALSE(out[1].reply_requested);
  out.clear();
  ASSERT_TRUE(
      p.OnMessage('d', Reply(0x1000100, 0x1000100, 0x1000100), 10 * kSec + 5000, &out).ok());
  EXPECT_EQ(out[0].lag_us[2], 5000);
  EXPECT_FALSE(out[0].clear_lags);
  out.clear();
  // Fully applied twice: the shown lags are cleared (NULL), as PostgreSQL does.
  ASSERT_TRUE(p.OnMessage('d', Reply(0x1000100, 0x1000100, 0x1000100), 11 * kSec, &out).ok());
  EXPECT_TRUE(out[0].clear_lags);
  out.clear();
  ASSERT_TRUE(p.OnMessage('d', "h" + Int64(0) + Int32(777) + Int32(0) + Int32(0) + Int32(0),
                          11 * kSec, &out)
                  .ok());
  ASSERT_EQ(Kinds(out), std::vector<SK>{SK::kFeedback});
  EXPECT_EQ(out[0].xmin, 777u);
  EXPECT_FALSE(p.OnMessage('d', "r123", 0, &out).ok());    // truncated reply
  EXPECT_FALSE(p.OnMessage('d', "z", 0, &out).ok());       // unknown kind
  EXPECT_FALSE(p.OnMessage('Q', "SELECT", 0, &out).ok());  // not a COPY message
}

TEST(SendProtocolTest, HistoricTimelineEndsAtSwitchPointWithCopyDoneBothWays) {
  SendProtocol::Config c;
  SendProtocol p(Lsn(0x3000000), c, 0);
  p.OnSendable(Lsn(0x3005000));
  p.OnTimelineEnd(Lsn(0x300A1D0), 2);  // promoted: the new primary's WAL goes past it
  p.OnSendable(Lsn(0x3100000));
  std::vector<SendAction> out;
  while (!p.caught_up()) p.OnTick(0, &out);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().kind, SK::kSendWal);
  EXPECT_EQ(out.back().to, Lsn(0x300A1D0));  // never past the switch point
  out.clear();
  p.OnTick(0, &out);
  ASSERT_EQ(Kinds(out), std::vector<SK>{SK::kCopyDone});
  EXPECT_EQ(p.state(), SendProtocol::State::kEndingTimeline);
  out.clear();
  p.OnTick(0, &out);
  EXPECT_TRUE(out.empty());
  // The client's status messages may still come, then its CopyDone.
  ASSERT_TRUE(p.OnMessage('d', Reply(0x300A1D0, 0x300A1D0, 0x300A1D0), 0, &out).ok());
  ASSERT_TRUE(p.OnMessage('c', "", 0, &out).ok());
  ASSERT_EQ(Kinds(out), (std::vector<SK>{SK::kReply, SK::kEndOfTimeline}));
  EXPECT_EQ(out[1].next_tli, 2u);
  EXPECT_EQ(out[1].next_start, Lsn(0x300A1D0));
  EXPECT_EQ(p.state(), SendProtocol::State::kDone);
}

TEST(SendProtocolTest, ClientCopyDoneEndsTheStream) {
  SendProtocol p(Lsn(0x1000000), SendProtocol::Config(), 0);
  std::vector<SendAction> out;
  ASSERT_TRUE(p.OnMessage('c', "", 0, &out).ok());
  EXPECT_EQ(Kinds(out), std::vector<SK>{SK::kClientDone});
  EXPECT_EQ(p.state(), SendProtocol::State::kDone);
  EXPECT_FALSE(SendProtocol(Lsn(1), SendProtocol::Config(), 0).OnMessage('X', "", 0, &out).ok());
}

TEST(ReceiveProtocolTest, WritesFlushesAndReplies) {
  ReceiveProtocol::Config c;
  c.flush_every = 100;
  ReceiveProtocol p(Lsn(0x1000000), c, 0);
  std::vector<ReceiveAction> out;
  p.OnStart(&out);
  ASSERT_EQ(Kinds(out), (std::vector<RK>{RK::kSendReply, RK::kSendFeedback}));
  EXPECT_TRUE(out[1].zero);  // feedback off: one all-zero message
  out.clear();
  std::string msg = XLogData(0x1000000, 0x1000200, std::string(60, 'a'));
  ASSERT_TRUE(p.OnCopyData(msg, 1, &out).ok());
  ASSERT_EQ(Kinds(out), std::vector<RK>{RK::kWrite});
  EXPECT_EQ(out[0].from, Lsn(0x1000000));
  EXPECT_EQ(out[0].data, std::string(60, 'a'));
  EXPECT_EQ(p.clock().latest_end_lsn, Lsn(0x1000200));
  EXPECT_EQ(p.clock().last_msg_send_time, 123);
  out.clear();
  // Past flush_every bytes unflushed: fsync and report even though more keeps coming.
  ASSERT_TRUE(p.OnCopyData(XLogData(0x100003C, 0x1000200, std::string(60, 'b')), 2, &out).ok());
  EXPECT_EQ(Kinds(out), (std::vector<RK>{RK::kWrite, RK::kFlush, RK::kSendReply}));
  EXPECT_EQ(p.flushed(), Lsn(0x1000078));
  out.clear();
  ASSERT_TRUE(p.OnCopyData(XLogData(0x1000078, 0x1000200, "c"), 3, &out).ok());
  out.clear();
  p.OnIdle(&out);  // the stream paused: flush what arrived
  EXPECT_EQ(Kinds(out), (std::vector<RK>{RK::kFlush, RK::kSendReply}));
  out.clear();
  p.OnIdle(&out);
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(p.OnCopyData(Keepalive(0x1000300, true), 4, &out).ok());
  EXPECT_EQ(Kinds(out), (std::vector<RK>{RK::kFlush, RK::kSendReply}));
  EXPECT_FALSE(out[1].reply_requested);
  EXPECT_FALSE(p.OnCopyData("x", 5, &out).ok());
}

TEST(ReceiveProtocolTest, PingsStatusIntervalFeedbackAndTimeout) {
  ReceiveProtocol::Config c;
  c.timeout_ms = 4000;
  c.status_interval_ms = 10000;
  c.feedback = true;
  ReceiveProtocol p(Lsn(0x1000000), c, 0);
  std::vector<ReceiveAction> out;
  EXPECT_EQ(p.WaitMs(0), 2000);
  p.OnTick(2 * kSec, &out);
  ASSERT_EQ(Kinds(out), std::vector<RK>{RK::kSendReply});
  EXPECT_TRUE(out[0].reply_requested);  // ping after half the timeout
  out.clear();
  ASSERT_TRUE(p.OnCopyData(Keepalive(0x1000000, false), 3 * kSec, &out).ok());
  p.OnTick(6 * kSec, &out);
  ASSERT_EQ(Kinds(out), std::vector<RK>{RK::kSendReply});
  out.clear();
  p.OnTick(7 * kSec, &out);
  EXPECT_EQ(Kinds(out), std::vector<RK>{RK::kTimeout});
  ReceiveProtocol q(Lsn(0x1000000), c, 0);
  out.clear();
  q.OnCopyData(Keepalive(0x1000000, false), 9 * kSec, &out).IgnoreError();
  q.OnTick(10 * kSec, &out);
  // The status interval: a reply and, with hot_standby_feedback, feedback.
  EXPECT_EQ(Kinds(out), (std::vector<RK>{RK::kSendReply, RK::kSendFeedback}));
  EXPECT_FALSE(out[1].zero);
  out.clear();
  q.OnReplayed(&out);
  EXPECT_EQ(Kinds(out), std::vector<RK>{RK::kSendReply});
  // hot_standby_feedback turned off by a reload: one all-zero message, then none.
  c.feedback = false;
  q.Reconfigure(c);
  out.clear();
  q.OnTick(10 * kSec + 1, &out);
  ASSERT_EQ(Kinds(out), std::vector<RK>{RK::kSendFeedback});
  EXPECT_TRUE(out[0].zero);
  ASSERT_TRUE(q.OnCopyData(Keepalive(0x1000000, false), 20 * kSec, &out).ok());
  out.clear();
  q.OnTick(20 * kSec + 2, &out);
  EXPECT_EQ(Kinds(out), std::vector<RK>{RK::kSendReply});  // the interval, without feedback
}

}  // namespace
}  // namespace walrep::replication
