// walrep: the walsender (see walsender.h).
#include "walrep/replication/walsender.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <chrono>

#include "walrep/common/logging.h"
#include "walrep/protocol/message.h"
#include "walrep/replication/basebackup.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::replication {

namespace {

constexpr uint64_t kMaxSendSize = 16 * wal::kXlogBlcksz;  // 128 KiB, as PostgreSQL 15
constexpr int32_t kTextOid = 25, kInt4Oid = 23, kInt8Oid = 20;

size_t CopyMessageLimit(char type) { return type == 'd' ? 1 << 20 : 1 << 16; }

protocol::FieldDesc Field(const char* name, int32_t type, int16_t typlen, int32_t typmod = -1) {
  protocol::FieldDesc f;
  f.name = name;
  f.type_oid = type;
  f.typlen = typlen;
  f.typmod = typmod;
  return f;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// WalSenderRegistry

Status WalSenderRegistry::Register(const WalSndStatus& initial, int max_wal_senders) {
  MutexLock l(&mu_);
  if (static_cast<int>(senders_.size()) >= max_wal_senders) {
    return Status::Sql("53300", fmt::format("number of requested standby connections exceeds "
                                            "max_wal_senders (currently {})",
                                            max_wal_senders))
        .WithSeverity(Severity::kFatal);
  }
  senders_[initial.pid] = initial;
  return Status::OK();
}

void WalSenderRegistry::Unregister(int32_t pid) {
  MutexLock l(&mu_);
  senders_.erase(pid);
}

void WalSenderRegistry::Update(int32_t pid, const std::function<void(WalSndStatus&)>& fn) {
  MutexLock l(&mu_);
  auto it = senders_.find(pid);
  if (it != senders_.end()) fn(it->second);
}

std::vector<WalSndStatus> WalSenderRegistry::List() const {
  MutexLock l(&mu_);
  std::vector<WalSndStatus> out;
  for (const auto& [pid, s] : senders_) out.push_back(s);
  return out;
}

size_t WalSenderRegistry::Count() const {
  MutexLock l(&mu_);
  return senders_.size();
}

TransactionId WalSenderRegistry::FeedbackXmin() const {
  MutexLock l(&mu_);
  TransactionId oldest = 0;
  for (const auto& [pid, s] : senders_) {
    if (s.xmin != 0 && (oldest == 0 || s.xmin < oldest)) oldest = s.xmin;
  }
  return oldest;
}

// ---------------------------------------------------------------------------------------------
// WalSender

WalSender::WalSender(ReplicationEnv* env, SenderSession session)
    : env_(env), s_(std::move(session)) {}

WalSender::~WalSender() { env_->slots->CleanupSession(s_.pid); }

void WalSender::Tag(const char* tag) { s_.conn->Write(protocol::CommandCompleteMessage(tag)); }

Status WalSender::Execute(const std::string& text) {
  if (s_.settings->GetBool("log_replication_commands")) {
    WALREP_LOG("received replication command: {}", text);
  }
  auto cmd = ParseCommand(text);
  Status st;
  if (!cmd.ok()) {
    st = cmd.TakeStatus();
  } else {
    switch (cmd->kind) {
      case CommandKind::kIdentifySystem:
        st = IdentifySystem();
        break;
      case CommandKind::kShow:
        st = Show(cmd->name);
        break;
      case CommandKind::kTimelineHistory:
        st = TimelineHistory(cmd->tli);
        break;
      case CommandKind::kCreateSlot:
        st = CreateSlot(*cmd);
        break;
      case CommandKind::kReadSlot:
        st = ReadSlot(cmd->name);
        break;
      case CommandKind::kDropSlot:
        st = env_->slots->Drop(cmd->name, cmd->wait, s_.pid);
        if (st.ok()) Tag("DROP_REPLICATION_SLOT");
        break;
      case CommandKind::kStartReplication:
        st = StartReplication(*cmd);
        break;
      case CommandKind::kBaseBackup:
        env_->registry->Update(s_.pid, [](WalSndStatus& w) { w.state = "backup"; });
        st = SendBaseBackup(env_, *cmd, s_.conn, s_.check_interrupts);
        env_->registry->Update(s_.pid, [](WalSndStatus& w) { w.state = "startup"; });
        if (st.ok()) Tag("BASE_BACKUP");
        break;
    }
  }
  if (!st.ok()) env_->slots->CleanupSession(s_.pid);  // temporary slots end with any error
  return st;
}

Status WalSender::IdentifySystem() {
  s_.conn->Write(protocol::RowDescriptionMessage(
      {Field("systemid", kTextOid, -1), Field("timeline", kInt4Oid, 4),
       Field("xlogpos", kTextOid, -1), Field("dbname", kTextOid, -1)}));
  s_.conn->Write(protocol::DataRowMessage({std::to_string(env_->system_identifier),
                                           std::to_string(env_->timeline()),
                                           env_->sendable()->value().ToString(), std::nullopt}));
  Tag("IDENTIFY_SYSTEM");
  return Status::OK();
}

Status WalSender::Show(const std::string& name) {
  WALREP_ASSIGN_OR_RETURN(std::string canon, SessionSettings::CanonicalName(name));
  WALREP_ASSIGN_OR_RETURN(std::string value, s_.settings->Show(canon));
  protocol::FieldDesc f = Field("", kTextOid, -1);
  f.name = canon;
  s_.conn->Write(protocol::RowDescriptionMessage({f}));
  s_.conn->Write(protocol::DataRowMessage({value}));
  Tag("SHOW");
  return Status::OK();
}

Status WalSender::TimelineHistory(TimelineId tli) {
  std::string file = fmt::format("{:08X}.history", tli);
  s_.conn->Write(protocol::RowDescriptionMessage(
      {Field("filename", kTextOid, -1, 0), Field("content", kTextOid, -1, 0)}));
  std::string path = env_->data_dir + "/pg_wal/" + file;
  if (!env_->fs->Exists(path)) {
    return Status::Sql("58P01", fmt::format("could not open file \"pg_wal/{}\": No such file or "
                                            "directory",
                                            file));
  }
  WALREP_ASSIGN_OR_RETURN(std::string content, env_->fs->ReadFile(path));
  s_.conn->Write(protocol::DataRowMessage({file, content}));
  Tag("TIMELINE_HISTORY");
  return Status::OK();
}

Status WalSender::CreateSlot(const Command& c) {
  bool reserve = false;
  for (const auto& o : c.options) {
    if (o.name == "reserve_wal" && !c.logical) {
      WALREP_ASSIGN_OR_RETURN(reserve, OptionBool(o));
    } else if (!c.logical && (o.name == "two_phase" || o.name == "snapshot")) {
      return Status::Sql("42601", "conflicting or redundant options");
    } else if (!c.logical || (o.name != "two_phase" && o.name != "snapshot" &&
                              o.name != "export_snapshot" && o.name != "noexport_snapshot" &&
                              o.name != "use_snapshot" && o.name != "reserve_wal")) {
      return Status::Sql("XX000", fmt::format("unrecognized option: {}", o.name));
    }
  }
  WALREP_RETURN_IF_ERROR(SlotManager::CheckName(c.name));
  if (c.logical) return Status::Sql("55000", "logical decoding requires wal_level >= logical");
  Lsn restart = reserve ? env_->redo_pointer() : Lsn();
  WALREP_RETURN_IF_ERROR(env_->slots->Create(c.name, c.temporary, restart, s_.pid));
  s_.conn->Write(protocol::RowDescriptionMessage(
      {Field("slot_name", kTextOid, -1), Field("consistent_point", kTextOid, -1),
       Field("snapshot_name", kTextOid, -1), Field("output_plugin", kTextOid, -1)}));
  s_.conn->Write(protocol::DataRowMessage({c.name, "0/0", std::nullopt, std::nullopt}));
  Tag("CREATE_REPLICATION_SLOT");
  return Status::OK();
}

Status WalSender::ReadSlot(const std::string& name) {
  s_.conn->Write(protocol::RowDescriptionMessage({Field("slot_type", kTextOid, -1),
                                                  Field("restart_lsn", kTextOid, -1),
                                                  Field("restart_tli", kInt8Oid, 8)}));
  auto slot = env_->slots->Find(name);
  std::vector<std::optional<std::string>> row(3);
  if (slot) {
    row[0] = "physical";
    if (slot->restart_lsn.valid()) {
      row[1] = slot->restart_lsn.ToString();
      row[2] = std::to_string(env_->timeline());
    }
  }
  s_.conn->Write(protocol::DataRowMessage(row));
  Tag("READ_REPLICATION_SLOT");
  return Status::OK();
}

Status WalSender::StartReplication(const Command& c) {
  if (c.logical) return Status::Sql("55000", "logical decoding requires wal_level >= logical");
  if (!c.name.empty()) {
    WALREP_ASSIGN_OR_RETURN(SlotInfo slot, env_->slots->Acquire(c.name, s_.pid));
    slot_ = c.name;
  }
  TimelineId current = env_->timeline();
  TimelineId tli = c.tli ? c.tli : current;
  Status st;
  if (tli == current) {
    st = Stream(c.start, tli);
  } else {
    // A historic timeline: streamed up to where it ends in this server's history, then the
    // client is told which timeline follows (PostgreSQL's StartReplication checks, in order).
    wal::TimelineHistory history = env_->history();
    Lsn fork = wal::TimelineSwitchPoint(history, tli);
    if (!wal::TimelineInHistory(history, tli) || tli > current) {
      st = Status::Sql("XX000",
                       fmt::format("requested timeline {} is not in this server's history", tli));
    } else if (c.start > fork) {
      st = Status::Sql("XX000", fmt::format("requested starting point {} on timeline {} is not in "
                                            "this server's history",
                                            c.start.ToString(), tli))
               .WithDetail(fmt::format("This server's history forked from timeline {} at {}.", tli,
                                       fork.ToString()));
    } else if (c.start == fork) {
      EndOfTimeline(wal::NextTimeline(history, tli), fork);
    } else {
      st = Stream(c.start, tli);
    }
  }
  if (!slot_.empty()) {
    env_->slots->Release(slot_, s_.pid);
    slot_.clear();
  }
  env_->registry->Update(s_.pid, [](WalSndStatus& w) {
    w.state = "startup";
    w.slot.clear();
  });
  return st;
}

void WalSender::UpdateSyncRep() {
  if (!env_->sync_rep) return;
  auto rule = env_->sync_rule();
  // Without a rule (and nothing left to release) there is nothing to compute per reply.
  if (rule->method == SyncRule::Method::kNone && !env_->sync_rep->active()) return;
  env_->sync_rep->Update(*rule, env_->registry->List());
}

void WalSender::SendKeepalive(Lsn sent, bool reply_requested) {
  // CopyData whose payload is the keepalive.
  s_.conn->Write(protocol::MessageBuilder('d')
                     .Int8('k')
                     .Int64(static_cast<int64_t>(sent.value()))
                     .Int64(NowTimestamp())
                     .Int8(reply_requested ? 1 : 0)
                     .Finish());
  if (reply_requested) ping_sent_ = true;
}

Status WalSender::Stream(Lsn start, TimelineId tli) {
  s_.conn->Write(protocol::MessageBuilder('W').Int8(0).Int16(0).Finish());
  Lsn flush = env_->sendable()->value();
  if (start > flush) {
    return Status::Sql("XX000", fmt::format("requested starting point {} is ahead of the WAL "
                                            "flush position of this server {}",
                                            start.ToString(), flush.ToString()));
  }
  // A segment before the one being written that is not in pg_wal was removed (a later one
  // is created when WAL reaches it).
  XLogSegNo segno = wal::SegmentOf(start, wal::kDefaultSegSize);
  std::string seg = wal::XLogFileName(tli, segno, wal::kDefaultSegSize);
  if (segno < wal::SegmentOf(flush, wal::kDefaultSegSize) && SegmentPath(tli, segno).empty()) {
    return Status::Sql("58P01",
                       fmt::format("requested WAL segment {} has already been removed", seg));
  }
  env_->registry->Update(s_.pid, [&](WalSndStatus& w) {
    w.state = "catchup";
    w.slot = slot_;
    w.sent = start;
  });
  WALREP_RETURN_IF_ERROR(s_.conn->Flush());
  LsnWaiter* sendable = env_->sendable();
  sendable->AddListener(s_.interrupt_fd);
  struct Unlisten {
    LsnWaiter* w;
    int fd;
    ~Unlisten() { w->RemoveListener(fd); }
  } unlisten{sendable, s_.interrupt_fd};

  Lsn sent = start;
  last_reply_ = NowTimestamp();
  ping_sent_ = false;
  bool streaming = false;
  // Where `tli` ends once it is historic (this server was promoted, or a cascaded upstream
  // switched timelines): the stream stops there and names the next timeline.
  Lsn tli_end;
  TimelineId next_tli = 0;
  while (true) {
    Status interrupted = s_.check_interrupts();
    if (!interrupted.ok()) {
      if (env_->shutting_down && env_->shutting_down()) return FinishAtShutdown(sent, tli);
      return interrupted;
    }
    if (!tli_end.valid() && env_->timeline() != tli) {
      wal::TimelineHistory history = env_->history();
      tli_end = wal::TimelineSwitchPoint(history, tli);
      next_tli = wal::NextTimeline(history, tli);
    }
    Lsn limit = sendable->value();
    if (tli_end.valid()) {
      limit = tli_end;
      if (sent >= tli_end) return FinishTimeline(next_tli, tli_end);
    }
    bool more = sent < limit;
    if (more) {
      WALREP_RETURN_IF_ERROR(SendWal(&sent, limit, tli));
    } else if (!streaming) {
      streaming = true;
      env_->registry->Update(s_.pid, [](WalSndStatus& w) { w.state = "streaming"; });
      UpdateSyncRep();
    }
    // Replies: read what has arrived without waiting while there is WAL to send; otherwise
    // sleep until a message, new WAL (the eventfd) or the next keepalive deadline.
    int64_t timeout_ms = s_.settings->GetInt("wal_sender_timeout");
    int wait_ms = -1;
    if (sent < limit) {
      wait_ms = 0;
    } else if (timeout_ms > 0) {
      int64_t silent_ms = (NowTimestamp() - last_reply_) / 1000;
      int64_t due = ping_sent_ ? timeout_ms - silent_ms : timeout_ms / 2 - silent_ms;
      wait_ms = static_cast<int>(std::clamp<int64_t>(due, 0, 1000000));
    }
    s_.conn->SetReadTimeout(wait_ms);
    while (true) {
      auto msg = s_.conn->ReadMessage(CopyMessageLimit);
      if (!msg.ok()) {
        Status ms = msg.TakeStatus();
        if (ms.code() == Status::Code::kTimedOut || ms.code() == Status::Code::kShutdown) break;
        return ms;
      }
      bool done = false;
      WALREP_RETURN_IF_ERROR(HandleCopyMessage(msg->first, msg->second, sent, &done));
      if (done) {
        s_.conn->SetReadTimeout(-1);
        s_.conn->Write(protocol::EmptyMessage('c'));
        Tag("START_STREAMING");
        Tag("START_REPLICATION");
        return Status::OK();
      }
      s_.conn->SetReadTimeout(0);
    }
    s_.conn->SetReadTimeout(-1);
    if (timeout_ms > 0) {
      int64_t silent_ms = (NowTimestamp() - last_reply_) / 1000;
      if (silent_ms >= timeout_ms) {
        WALREP_LOG("terminating walsender process due to replication timeout");
        return Status::IOError("replication timeout").WithSeverity(Severity::kFatal);
      }
      if (!ping_sent_ && silent_ms >= timeout_ms / 2) {
        SendKeepalive(sent, true);
        WALREP_RETURN_IF_ERROR(s_.conn->Flush());
      }
    }
  }
}

Status WalSender::FinishAtShutdown(Lsn sent, TimelineId tli) {
  env_->registry->Update(s_.pid, [](WalSndStatus& w) { w.state = "stopping"; });
  Lsn limit = env_->sendable()->value();
  while (sent < limit) WALREP_RETURN_IF_ERROR(SendWal(&sent, limit, tli));
  SendKeepalive(sent, true);
  WALREP_RETURN_IF_ERROR(s_.conn->Flush());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    s_.conn->SetReadTimeout(static_cast<int>(std::max<int64_t>(left.count(), 1)));
    auto msg = s_.conn->ReadMessage(CopyMessageLimit);
    if (!msg.ok()) {
      if (msg.status().code() == Status::Code::kShutdown) {
        // A wake-up (the connection consumed it); we are stopping anyway.
        continue;
      }
      break;
    }
    bool done = false;
    if (!HandleCopyMessage(msg->first, msg->second, sent, &done).ok() || done) break;
    if ((reply_flush_.valid() ? reply_flush_ : reply_write_) >= sent) break;
  }
  s_.conn->Write(protocol::CommandCompleteMessage("COPY 0"));
  s_.conn->Flush().IgnoreError();  // the standby may already be gone
  return Status::IOError("walsender finished at shutdown");
}

Status WalSender::SendWal(Lsn* sent, Lsn limit, TimelineId tli) {
  uint64_t seg_size = wal::kDefaultSegSize;
  Lsn end = limit;
  if (end - *sent > kMaxSendSize) {
    end = *sent + kMaxSendSize;
    end = Lsn(end.value() - end.value() % wal::kXlogBlcksz);  // cut back to a page boundary
  }
  XLogSegNo segno = wal::SegmentOf(*sent, seg_size);
  Lsn seg_end = wal::SegmentStart(segno + 1, seg_size);
  if (end > seg_end) end = seg_end;
  if (seg_no_ != segno || seg_tli_ != tli) {
    std::string name = wal::XLogFileName(tli, segno, seg_size);
    std::string path = SegmentPath(tli, segno);
    auto f =
        path.empty()
            ? Result<std::unique_ptr<io::RandomAccessFile>>(Status::NotFound("segment missing"))
            : env_->fs->OpenRandomAccess(path, false);
    if (!f.ok()) {
      return Status::Sql("58P01",
                         fmt::format("requested WAL segment {} has already been removed", name));
    }
    seg_file_ = std::move(*f);
    seg_no_ = segno;
    seg_tli_ = tli;
  }
  WALREP_ASSIGN_OR_RETURN(std::string data,
                          seg_file_->ReadAt(sent->value() % seg_size, end - *sent));
  if (data.size() != end - *sent) {
    return Status::IOError(fmt::format("could not read from WAL segment {}: read {} of {}",
                                       wal::XLogFileName(tli, segno, seg_size), data.size(),
                                       end - *sent));
  }
  TimestampTz now = NowTimestamp();
  s_.conn->Write(protocol::MessageBuilder('d')
                     .Int8('w')
                     .Int64(static_cast<int64_t>(sent->value()))
                     .Int64(static_cast<int64_t>(limit.value()))
                     .Int64(now)
                     .Bytes(data)
                     .Finish());
  WALREP_RETURN_IF_ERROR(s_.conn->Flush());
  *sent = end;
  LagTrackerWrite(end, now);
  env_->registry->Update(s_.pid, [&](WalSndStatus& st) { st.sent = end; });
  return Status::OK();
}

std::string WalSender::SegmentPath(TimelineId tli, XLogSegNo segno) const {
  const std::string dir = env_->data_dir + "/pg_wal/";
  std::string own = dir + wal::XLogFileName(tli, segno, wal::kDefaultSegSize);
  if (env_->fs->Exists(own)) return own;
  // The segment in which `tli` ended lives on under a later timeline's name (the promoted
  // server kept its own copy as .partial); its bytes up to the switch point are the same.
  for (const auto& e : env_->history()) {
    if (e.tli <= tli) break;
    if (e.begin.valid() && wal::SegmentOf(e.begin, wal::kDefaultSegSize) > segno) continue;
    std::string path = dir + wal::XLogFileName(e.tli, segno, wal::kDefaultSegSize);
    if (env_->fs->Exists(path)) return path;
  }
  return "";
}

void WalSender::EndOfTimeline(TimelineId next_tli, Lsn start) {
  s_.conn->Write(protocol::RowDescriptionMessage(
      {Field("next_tli", kInt8Oid, 8), Field("next_tli_startpos", kTextOid, -1)}));
  s_.conn->Write(protocol::DataRowMessage({std::to_string(next_tli), start.ToString()}));
  Tag("START_STREAMING");
  Tag("START_REPLICATION");
}

Status WalSender::FinishTimeline(TimelineId next_tli, Lsn end) {
  // Everything of the timeline was sent: CopyDone, then wait for the client's (its status
  // messages may come first), then the next timeline (PostgreSQL's WalSndDone for a historic
  // timeline).
  s_.conn->SetReadTimeout(-1);
  s_.conn->Write(protocol::EmptyMessage('c'));
  WALREP_RETURN_IF_ERROR(s_.conn->Flush());
  while (true) {
    auto msg = s_.conn->ReadMessage(CopyMessageLimit);
    if (!msg.ok()) {
      Status ms = msg.TakeStatus();
      if (ms.code() == Status::Code::kShutdown || ms.code() == Status::Code::kTimedOut) {
        WALREP_RETURN_IF_ERROR(s_.check_interrupts());
        continue;
      }
      return ms;
    }
    bool done = false;
    WALREP_RETURN_IF_ERROR(HandleCopyMessage(msg->first, msg->second, end, &done));
    if (done) break;
  }
  EndOfTimeline(next_tli, end);
  return Status::OK();
}

Status WalSender::HandleCopyMessage(char type, const std::string& body, Lsn sent, bool* done) {
  if (type == 'c') {
    *done = true;
    return Status::OK();
  }
  if (type == 'X') {
    return Status::Shutdown("client terminated the stream").WithSeverity(Severity::kFatal);
  }
  if (type != 'd') {
    return Status::ProtocolViolation(fmt::format("unexpected message type \"{}\"", type))
        .WithSeverity(Severity::kFatal);
  }
  protocol::MessageReader r(body);
  char kind = static_cast<char>(r.Int8());
  TimestampTz now = NowTimestamp();
  if (kind == 'r') {
    Lsn write(static_cast<uint64_t>(r.Int64()));
    Lsn flush(static_cast<uint64_t>(r.Int64()));
    Lsn apply(static_cast<uint64_t>(r.Int64()));
    TimestampTz reply_time = r.Int64();
    bool reply_requested = r.Int8() != 0;
    if (!r.ok()) return r.status().WithSeverity(Severity::kFatal);
    last_reply_ = now;
    ping_sent_ = false;
    reply_write_ = write;
    reply_flush_ = flush;
    int64_t lags[3] = {LagTrackerRead(0, write, now), LagTrackerRead(1, flush, now),
                       LagTrackerRead(2, apply, now)};
    bool clear = false;
    if (apply == sent) {
      clear = fully_applied_;
      fully_applied_ = true;
    } else {
      fully_applied_ = false;
    }
    env_->registry->Update(s_.pid, [&](WalSndStatus& w) {
      w.write = write;
      w.flush = flush;
      w.replay = apply;
      w.reply_time = reply_time;
      int64_t* dst[3] = {&w.write_lag_us, &w.flush_lag_us, &w.replay_lag_us};
      for (int i = 0; i < 3; i++) {
        if (lags[i] != -1 || clear) *dst[i] = lags[i];
      }
    });
    if (!slot_.empty() && flush.valid()) env_->slots->SetRestartLsn(slot_, flush);
    UpdateSyncRep();
    if (reply_requested) {
      SendKeepalive(sent, false);
      WALREP_RETURN_IF_ERROR(s_.conn->Flush());
    }
    return Status::OK();
  }
  if (kind == 'h') {
    r.Int64();  // sendTime
    uint32_t xmin = static_cast<uint32_t>(r.Int32());
    r.Int32();  // epoch
    if (!r.ok()) return r.status().WithSeverity(Severity::kFatal);
    last_reply_ = now;
    ping_sent_ = false;
    env_->registry->Update(s_.pid, [&](WalSndStatus& w) { w.xmin = xmin; });
    if (!slot_.empty()) env_->slots->SetXmin(slot_, xmin);
    return Status::OK();
  }
  return Status::ProtocolViolation(
             fmt::format("unexpected message type \"{}\"", std::string(1, kind)))
      .WithSeverity(Severity::kFatal);
}

void WalSender::LagTrackerWrite(Lsn lsn, TimestampTz now) {
  if (!lag_.empty() && lag_.back().lsn >= lsn) return;
  lag_.push_back({lsn, now});
  if (lag_.size() > 8192) {
    lag_.pop_front();
    for (auto& h : lag_heads_) h = h > 0 ? h - 1 : 0;
  }
}

int64_t WalSender::LagTrackerRead(int head, Lsn lsn, TimestampTz now) {
  TimestampTz t = -1;
  size_t& h = lag_heads_[head];
  while (h < lag_.size() && lag_[h].lsn <= lsn) t = lag_[h++].time;
  size_t consumed = std::min({lag_heads_[0], lag_heads_[1], lag_heads_[2]});
  for (size_t i = 0; i < consumed; i++) lag_.pop_front();
  for (auto& x : lag_heads_) x -= consumed;
  return t < 0 ? -1 : now - t;
}

}  // namespace walrep::replication
