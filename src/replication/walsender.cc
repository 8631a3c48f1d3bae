// walrep: the walsender (see walsender.h).
#include "walrep/replication/walsender.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <chrono>

#include "walrep/common/logging.h"
#include "walrep/common/thread_name.h"
#include "walrep/protocol/message.h"
#include "walrep/replication/archiver.h"
#include "walrep/replication/basebackup.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::replication {

namespace {

// The most WAL one XLogData message carries: 1 MiB, where PostgreSQL 15 sends 128 kB
// (MAX_SEND_SIZE). A standby catching up then pays an eighth of the messages, wakeups and
// fsyncs per MB; it received a 740 MB backlog in 3.4 s instead of 5.9 s (docs/benchmarks.md).
// Every PostgreSQL client takes messages of any size.
constexpr uint64_t kMaxSendSize = 128 * wal::kXlogBlcksz;
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
    : env_(env), s_(std::move(session)) {
  SetThreadName("walsender");  // the session's thread serves replication from now on
}

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
        // A file that cannot be read or written fails the backup with an ERROR; if the client's
        // socket is what failed, reporting the error fails as well and ends the session.
        st = StatementError(SendBaseBackup(env_, *cmd, s_.conn, s_.check_interrupts));
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
  // is created when WAL reaches it): the archive may still serve it.
  XLogSegNo segno = wal::SegmentOf(start, wal::kDefaultSegSize);
  if (segno < wal::SegmentOf(flush, wal::kDefaultSegSize)) {
    WALREP_RETURN_IF_ERROR(OpenSegment(tli, segno));
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

  SendProtocol::Config cfg;
  cfg.timeout_ms = s_.settings->GetInt("wal_sender_timeout");
  cfg.max_chunk = kMaxSendSize;
  cfg.seg_size = wal::kDefaultSegSize;
  cfg.page_size = wal::kXlogBlcksz;
  SendProtocol proto(start, cfg, NowTimestamp());
  bool streaming = false;
  std::vector<SendAction> actions;
  while (true) {
    Status interrupted = s_.check_interrupts();
    if (!interrupted.ok()) {
      if (env_->shutting_down && env_->shutting_down()) {
        return FinishAtShutdown(proto.sent(), tli, proto);
      }
      return interrupted;
    }
    // `tli` becomes historic when this server is promoted (or, on a cascading standby, when
    // replay switches timelines): the stream then ends at the switch point.
    if (env_->timeline() != tli) {
      wal::TimelineHistory history = env_->history();
      proto.OnTimelineEnd(wal::TimelineSwitchPoint(history, tli), wal::NextTimeline(history, tli));
    }
    proto.OnSendable(sendable->value());
    int64_t timeout_ms = s_.settings->GetInt("wal_sender_timeout");
    proto.SetTimeout(timeout_ms);
    // A standby behind a dead link stops reading: a send that moves nothing for the timeout
    // ends the walsender as a missing reply does (PostgreSQL checks the timeout while it waits
    // for the socket), instead of blocking until TCP gives up minutes later.
    s_.conn->SetWriteTimeout(static_cast<int>(std::min<int64_t>(timeout_ms, INT32_MAX)));
    actions.clear();
    proto.OnTick(NowTimestamp(), &actions);
    WALREP_RETURN_IF_ERROR(TimeoutIsFatal(Perform(actions, tli)));
    if (proto.state() == SendProtocol::State::kDone) {
      return TimeoutIsFatal(Status::TimedOut("replication timeout"));
    }
    if (proto.caught_up() && !streaming) {
      streaming = true;
      env_->registry->Update(s_.pid, [](WalSndStatus& w) { w.state = "streaming"; });
      UpdateSyncRep();
    }
    // Replies: read what has arrived without waiting while there is WAL to send; otherwise
    // sleep until a message, new WAL (the eventfd) or the next keepalive deadline.
    s_.conn->SetReadTimeout(proto.WaitMs(NowTimestamp()));
    while (true) {
      auto msg = s_.conn->ReadMessage(CopyMessageLimit);
      if (!msg.ok()) {
        Status ms = msg.TakeStatus();
        if (ms.code() == Status::Code::kTimedOut || ms.code() == Status::Code::kShutdown) break;
        return ms;
      }
      actions.clear();
      WALREP_RETURN_IF_ERROR(proto.OnMessage(msg->first, msg->second, NowTimestamp(), &actions));
      WALREP_RETURN_IF_ERROR(TimeoutIsFatal(Perform(actions, tli)));
      if (proto.state() == SendProtocol::State::kDone) {
        s_.conn->SetReadTimeout(-1);
        return Status::OK();
      }
      s_.conn->SetReadTimeout(0);
    }
    s_.conn->SetReadTimeout(-1);
  }
}

Status WalSender::TimeoutIsFatal(Status st) {
  if (st.code() != Status::Code::kTimedOut) return st;
  WALREP_LOG("terminating walsender process due to replication timeout");
  return Status::IOError("replication timeout").WithSeverity(Severity::kFatal);
}

Status WalSender::Perform(const std::vector<SendAction>& actions, TimelineId tli) {
  for (const SendAction& a : actions) {
    switch (a.kind) {
      case SendAction::Kind::kSendWal:
        WALREP_RETURN_IF_ERROR(SendWal(a.from, a.to, a.wal_end, tli));
        break;
      case SendAction::Kind::kKeepalive:
        SendKeepalive(a.from, a.reply_requested);
        WALREP_RETURN_IF_ERROR(s_.conn->Flush());
        break;
      case SendAction::Kind::kReply:
        env_->registry->Update(s_.pid, [&](WalSndStatus& w) {
          w.write = a.write;
          w.flush = a.flush;
          w.replay = a.apply;
          w.reply_time = a.reply_time;
          int64_t* dst[3] = {&w.write_lag_us, &w.flush_lag_us, &w.replay_lag_us};
          for (int i = 0; i < 3; i++) {
            if (a.lag_us[i] != -1 || a.clear_lags) *dst[i] = a.lag_us[i];
          }
        });
        if (!slot_.empty() && a.flush.valid()) env_->slots->SetRestartLsn(slot_, a.flush);
        UpdateSyncRep();
        break;
      case SendAction::Kind::kFeedback:
        env_->registry->Update(s_.pid, [&](WalSndStatus& w) { w.xmin = a.xmin; });
        if (!slot_.empty()) env_->slots->SetXmin(slot_, a.xmin);
        break;
      case SendAction::Kind::kCopyDone:
        s_.conn->Write(protocol::EmptyMessage('c'));
        WALREP_RETURN_IF_ERROR(s_.conn->Flush());
        break;
      case SendAction::Kind::kEndOfTimeline:
        EndOfTimeline(a.next_tli, a.next_start);
        break;
      case SendAction::Kind::kClientDone:
        s_.conn->Write(protocol::EmptyMessage('c'));
        Tag("START_STREAMING");
        Tag("START_REPLICATION");
        break;
      case SendAction::Kind::kTimeout:
        break;  // the caller sees the protocol's kDone state
    }
  }
  return Status::OK();
}

Status WalSender::FinishAtShutdown(Lsn sent, TimelineId tli, SendProtocol& proto) {
  env_->registry->Update(s_.pid, [](WalSndStatus& w) { w.state = "stopping"; });
  // The rest of the WAL, a keepalive asking for a reply, then up to 2 s for the standby to
  // confirm (flush, or write when it reports no flush).
  std::vector<SendAction> actions;
  proto.OnSendable(env_->sendable()->value());
  while (!proto.caught_up()) {
    actions.clear();
    proto.OnTick(NowTimestamp(), &actions);
    WALREP_RETURN_IF_ERROR(Perform(actions, tli));
  }
  SendKeepalive(proto.sent(), true);
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
    actions.clear();
    if (!proto.OnMessage(msg->first, msg->second, NowTimestamp(), &actions).ok()) break;
    for (const auto& a : actions) {
      if (a.kind == SendAction::Kind::kReply) Perform({a}, tli).IgnoreError();  // best effort
    }
    if (proto.state() == SendProtocol::State::kDone) break;
    if ((proto.reply_flush().valid() ? proto.reply_flush() : proto.reply_write()) >= proto.sent()) {
      break;
    }
  }
  s_.conn->Write(protocol::CommandCompleteMessage("COPY 0"));
  s_.conn->Flush().IgnoreError();  // the standby may already be gone
  return Status::IOError("walsender finished at shutdown");
}

Status WalSender::SendWal(Lsn from, Lsn to, Lsn wal_end, TimelineId tli) {
  // One chunk the protocol cut (within one segment, at most kMaxSendSize).
  uint64_t seg_size = wal::kDefaultSegSize;
  XLogSegNo segno = wal::SegmentOf(from, seg_size);
  if (seg_no_ != segno || seg_tli_ != tli) WALREP_RETURN_IF_ERROR(OpenSegment(tli, segno));
  WALREP_ASSIGN_OR_RETURN(std::string data, seg_file_->ReadAt(from.value() % seg_size, to - from));
  if (data.size() != to - from) {
    return Status::IOError(fmt::format("could not read from WAL segment {}: read {} of {}",
                                       wal::XLogFileName(tli, segno, seg_size), data.size(),
                                       to - from));
  }
  s_.conn->Write(protocol::MessageBuilder('d')
                     .Int8('w')
                     .Int64(static_cast<int64_t>(from.value()))
                     .Int64(static_cast<int64_t>(wal_end.value()))
                     .Int64(NowTimestamp())
                     .Bytes(data)
                     .Finish());
  WALREP_RETURN_IF_ERROR(s_.conn->Flush());
  env_->registry->Update(s_.pid, [&](WalSndStatus& st) { st.sent = to; });
  return Status::OK();
}

std::string WalSender::SegmentPath(TimelineId tli, XLogSegNo segno) const {
  const std::string dir = env_->data_dir + "/pg_wal/";
  std::string own = dir + wal::XLogFileName(tli, segno, wal::kDefaultSegSize);
  if (env_->fs->Exists(own)) return own;
  // The segment in which `tli` ended lives on under a later timeline's name (the promoted
  // server kept its own copy as .partial); its bytes up to the switch point are the same.
  for (TimelineId later : wal::TimelinesForSegment(env_->history(), segno, wal::kDefaultSegSize)) {
    if (later <= tli) break;
    std::string path = dir + wal::XLogFileName(later, segno, wal::kDefaultSegSize);
    if (env_->fs->Exists(path)) return path;
  }
  return "";
}

Status WalSender::OpenSegment(TimelineId tli, XLogSegNo segno) {
  if (seg_file_ && seg_no_ == segno && seg_tli_ == tli) return Status::OK();
  const uint64_t seg_size = wal::kDefaultSegSize;
  std::string name = wal::XLogFileName(tli, segno, seg_size);
  std::string path = SegmentPath(tli, segno);
  if (!path.empty()) {
    auto f = env_->fs->OpenRandomAccess(path, false);
    if (f.ok()) {
      seg_file_ = std::move(*f);
      seg_no_ = segno;
      seg_tli_ = tli;
      return Status::OK();
    }
  }
  // Removed from pg_wal: the archive may still have it (under this timeline's name, or a later
  // one's whose history began in this segment, as restore_command looks for it).
  std::string command = s_.settings ? s_.settings->Get("restore_command").value_or("") : "";
  if (!command.empty()) {
    const std::string tmp = "pg_wal/walsender_restore." + std::to_string(s_.pid);
    const std::string full = env_->data_dir + "/" + tmp;
    std::vector<TimelineId> candidates{tli};
    for (TimelineId later : wal::TimelinesForSegment(env_->history(), segno, seg_size)) {
      if (later > tli) candidates.push_back(later);
    }
    for (TimelineId t : candidates) {
      std::string file = wal::XLogFileName(t, segno, seg_size);
      auto f = RestoreArchivedFile(env_->fs, command, env_->data_dir, file, tmp, seg_size);
      env_->fs->Remove(full).IgnoreError();  // an open file stays readable
      if (!f) continue;
      WALREP_LOG("walsender {} streams WAL segment {} from the archive (removed from pg_wal)",
                 s_.pid, file);
      seg_file_ = std::move(f);
      seg_no_ = segno;
      seg_tli_ = tli;
      return Status::OK();
    }
  }
  return Status::Sql("58P01",
                     fmt::format("requested WAL segment {} has already been removed", name));
}

void WalSender::EndOfTimeline(TimelineId next_tli, Lsn start) {
  s_.conn->Write(protocol::RowDescriptionMessage(
      {Field("next_tli", kInt8Oid, 8), Field("next_tli_startpos", kTextOid, -1)}));
  s_.conn->Write(protocol::DataRowMessage({std::to_string(next_tli), start.ToString()}));
  Tag("START_STREAMING");
  Tag("START_REPLICATION");
}

}  // namespace walrep::replication
