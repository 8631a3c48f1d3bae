// walrep: replication stream state machines (see stream_protocol.h).
#include "walrep/replication/stream_protocol.h"

#include <fmt/format.h>

#include <algorithm>

namespace walrep::replication {

namespace {

uint64_t GetInt64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint32_t GetInt32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

Status Malformed(char kind) {
  return Status::ProtocolViolation(
             fmt::format("invalid standby message type \"{}\" or length", std::string(1, kind)))
      .WithSeverity(Severity::kFatal);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SendProtocol

SendProtocol::SendProtocol(Lsn start, Config config, TimestampTz now)
    : config_(config), sent_(start), sendable_(start), last_heard_(now) {}

void SendProtocol::OnTimelineEnd(Lsn end, TimelineId next) {
  if (tli_end_.valid()) return;
  tli_end_ = end;
  next_tli_ = next;
}

void SendProtocol::OnTick(TimestampTz now, std::vector<SendAction>* out) {
  if (state_ != State::kStreaming) {
    // Waiting for the client's CopyDone still times out like streaming does.
  } else if (sent_ < Limit()) {
    Lsn end = Limit();
    if (end - sent_ > config_.max_chunk) {
      end = sent_ + config_.max_chunk;
      end = Lsn(end.value() - end.value() % config_.page_size);  // back to a page boundary
    }
    Lsn seg_end((sent_.value() / config_.seg_size + 1) * config_.seg_size);
    if (end > seg_end) end = seg_end;
    SendAction a{SendAction::Kind::kSendWal};
    a.from = sent_;
    a.to = end;
    a.wal_end = sendable_;
    out->push_back(a);
    sent_ = end;
    LagWrite(end, now);
    return;
  } else if (tli_end_.valid() && sent_ >= tli_end_) {
    // Everything of a historic timeline was sent (PostgreSQL's WalSndDone for it).
    state_ = State::kEndingTimeline;
    out->push_back(SendAction{SendAction::Kind::kCopyDone});
    return;
  }
  if (config_.timeout_ms <= 0) return;
  int64_t silent_ms = (now - last_heard_) / 1000;
  if (silent_ms >= config_.timeout_ms) {
    out->push_back(SendAction{SendAction::Kind::kTimeout});
    state_ = State::kDone;
  } else if (!ping_sent_ && silent_ms >= config_.timeout_ms / 2) {
    SendAction a{SendAction::Kind::kKeepalive};
    a.from = sent_;
    a.reply_requested = true;
    out->push_back(a);
    ping_sent_ = true;
  }
}

int SendProtocol::WaitMs(TimestampTz now) const {
  if (state_ == State::kStreaming && sent_ < Limit()) return 0;
  if (state_ == State::kStreaming && tli_end_.valid() && sent_ >= tli_end_) return 0;
  if (config_.timeout_ms <= 0) return -1;
  int64_t silent_ms = (now - last_heard_) / 1000;
  int64_t due = ping_sent_ ? config_.timeout_ms - silent_ms : config_.timeout_ms / 2 - silent_ms;
  return static_cast<int>(std::clamp<int64_t>(due, 0, 1000000));
}

Status SendProtocol::OnMessage(char type, std::string_view body, TimestampTz now,
                               std::vector<SendAction>* out) {
  if (type == 'c') {
    if (state_ == State::kEndingTimeline) {
      SendAction a{SendAction::Kind::kEndOfTimeline};
      a.next_tli = next_tli_;
      a.next_start = tli_end_;
      out->push_back(a);
    } else {
      out->push_back(SendAction{SendAction::Kind::kClientDone});
    }
    state_ = State::kDone;
    return Status::OK();
  }
  if (type == 'X') {
    return Status::Shutdown("client terminated the stream").WithSeverity(Severity::kFatal);
  }
  if (type != 'd') {
    return Status::ProtocolViolation(
               fmt::format("unexpected message type \"{}\"", std::string(1, type)))
        .WithSeverity(Severity::kFatal);
  }
  if (body.empty()) return Malformed('?');
  char kind = body[0];
  const char* p = body.data() + 1;
  if (kind == 'r') {
    if (body.size() < 34) return Malformed(kind);
    SendAction a{SendAction::Kind::kReply};
    a.write = Lsn(GetInt64(p));
    a.flush = Lsn(GetInt64(p + 8));
    a.apply = Lsn(GetInt64(p + 16));
    a.reply_time = static_cast<TimestampTz>(GetInt64(p + 24));
    bool reply_requested = p[32] != 0;
    last_heard_ = now;
    ping_sent_ = false;
    reply_write_ = a.write;
    reply_flush_ = a.flush;
    a.lag_us[0] = LagRead(0, a.write, now);
    a.lag_us[1] = LagRead(1, a.flush, now);
    a.lag_us[2] = LagRead(2, a.apply, now);
    // Once the standby has applied everything and says so twice, the lags shown go to NULL
    // (PostgreSQL's "fully caught up" rule).
    if (a.apply == sent_) {
      a.clear_lags = fully_applied_;
      fully_applied_ = true;
    } else {
      fully_applied_ = false;
    }
    out->push_back(a);
    if (reply_requested) {
      SendAction k{SendAction::Kind::kKeepalive};
      k.from = sent_;
      out->push_back(k);
    }
    return Status::OK();
  }
  if (kind == 'h') {
    if (body.size() < 25) return Malformed(kind);
    SendAction a{SendAction::Kind::kFeedback};
    a.xmin = GetInt32(p + 8);
    last_heard_ = now;
    ping_sent_ = false;
    out->push_back(a);
    return Status::OK();
  }
  return Status::ProtocolViolation(
             fmt::format("unexpected message type \"{}\"", std::string(1, kind)))
      .WithSeverity(Severity::kFatal);
}

void SendProtocol::LagWrite(Lsn lsn, TimestampTz now) {
  if (!lag_.empty() && lag_.back().lsn >= lsn) return;
  lag_.push_back({lsn, now});
  if (lag_.size() > 8192) {
    lag_.pop_front();
    for (auto& h : lag_heads_) h = h > 0 ? h - 1 : 0;
  }
}

int64_t SendProtocol::LagRead(int head, Lsn lsn, TimestampTz now) {
  TimestampTz t = -1;
  size_t& h = lag_heads_[head];
  while (h < lag_.size() && lag_[h].lsn <= lsn) t = lag_[h++].time;
  size_t consumed = std::min({lag_heads_[0], lag_heads_[1], lag_heads_[2]});
  for (size_t i = 0; i < consumed; i++) lag_.pop_front();
  for (auto& x : lag_heads_) x -= consumed;
  return t < 0 ? -1 : now - t;
}

// ---------------------------------------------------------------------------------------------
// ReceiveProtocol

ReceiveProtocol::ReceiveProtocol(Lsn start, Config config, TimestampTz now)
    : config_(config), written_(start), flushed_(start), last_recv_(now), last_status_(now) {}

void ReceiveProtocol::OnStart(std::vector<ReceiveAction>* out) {
  out->push_back(ReceiveAction{ReceiveAction::Kind::kSendReply});
  ReceiveAction f{ReceiveAction::Kind::kSendFeedback};
  f.zero = !config_.feedback;
  out->push_back(f);
}

void ReceiveProtocol::Flush(std::vector<ReceiveAction>* out) {
  out->push_back(ReceiveAction{ReceiveAction::Kind::kFlush});
  flushed_ = written_;
  out->push_back(ReceiveAction{ReceiveAction::Kind::kSendReply});
}

Status ReceiveProtocol::OnCopyData(std::string_view msg, TimestampTz now,
                                   std::vector<ReceiveAction>* out) {
  last_recv_ = now;
  ping_sent_ = false;
  clock_.last_msg_receipt_time = now;
  auto note_end = [&](Lsn wal_end, TimestampTz send_time) {
    clock_.last_msg_send_time = send_time;
    if (wal_end != clock_.latest_end_lsn) {
      clock_.latest_end_lsn = wal_end;
      clock_.latest_end_time = send_time;
    }
  };
  if (!msg.empty() && msg[0] == 'w' && msg.size() >= 25) {
    Lsn start(GetInt64(msg.data() + 1));
    Lsn wal_end(GetInt64(msg.data() + 9));
    note_end(wal_end, static_cast<TimestampTz>(GetInt64(msg.data() + 17)));
    ReceiveAction w{ReceiveAction::Kind::kWrite};
    w.from = start;
    w.wal_end = wal_end;
    w.data = msg.substr(25);
    out->push_back(w);
    written_ = std::max(written_, start + w.data.size());
    if (written_ - flushed_ >= config_.flush_every) Flush(out);
    return Status::OK();
  }
  if (!msg.empty() && msg[0] == 'k' && msg.size() >= 18) {
    note_end(Lsn(GetInt64(msg.data() + 1)), static_cast<TimestampTz>(GetInt64(msg.data() + 9)));
    if (msg[17] != 0) Flush(out);  // the upstream asks for a reply now
    return Status::OK();
  }
  return Status::ProtocolViolation(
      fmt::format("unexpected message type \"{}\" in WAL stream",
                  msg.empty() ? std::string() : std::string(1, msg[0])));
}

void ReceiveProtocol::OnIdle(std::vector<ReceiveAction>* out) {
  if (written_ > flushed_) Flush(out);
}

void ReceiveProtocol::OnReplayed(std::vector<ReceiveAction>* out) {
  out->push_back(ReceiveAction{ReceiveAction::Kind::kSendReply});
}

void ReceiveProtocol::OnTick(TimestampTz now, std::vector<ReceiveAction>* out) {
  int64_t silent_ms = (now - last_recv_) / 1000;
  if (config_.timeout_ms > 0 && silent_ms >= config_.timeout_ms) {
    out->push_back(ReceiveAction{ReceiveAction::Kind::kTimeout});
    return;
  }
  if (config_.timeout_ms > 0 && !ping_sent_ && silent_ms >= config_.timeout_ms / 2) {
    ReceiveAction r{ReceiveAction::Kind::kSendReply};
    r.reply_requested = true;
    out->push_back(r);
    ping_sent_ = true;
  }
  if (zero_feedback_due_) {
    ReceiveAction f(ReceiveAction::Kind::kSendFeedback);
    f.zero = true;
    out->push_back(f);
    zero_feedback_due_ = false;
  }
  if (config_.status_interval_ms > 0 && (now - last_status_) / 1000 >= config_.status_interval_ms) {
    out->push_back(ReceiveAction{ReceiveAction::Kind::kSendReply});
    if (config_.feedback) out->push_back(ReceiveAction{ReceiveAction::Kind::kSendFeedback});
    last_status_ = now;
  }
}

int ReceiveProtocol::WaitMs(TimestampTz now) const {
  int64_t wait_ms = 60000;
  if (config_.status_interval_ms > 0) {
    wait_ms = std::min(wait_ms, (last_status_ - now) / 1000 + config_.status_interval_ms);
  }
  if (config_.timeout_ms > 0) {
    int64_t due =
        (last_recv_ - now) / 1000 + (ping_sent_ ? config_.timeout_ms : config_.timeout_ms / 2);
    wait_ms = std::min(wait_ms, due);
  }
  return static_cast<int>(std::max<int64_t>(wait_ms, 0));
}

}  // namespace walrep::replication
