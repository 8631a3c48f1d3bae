// walrep: the walreceiver (see walreceiver.h).
#include "walrep/replication/walreceiver.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "walrep/common/logging.h"
#include "walrep/common/thread_name.h"
#include "walrep/replication/stream_protocol.h"
#include "walrep/wal/timeline.h"
#include "walrep/wal/wal_writer.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::replication {

namespace {

void PutInt64(std::string* s, uint64_t v) {
  for (int i = 7; i >= 0; i--) s->push_back(static_cast<char>((v >> (i * 8)) & 0xFF));
}
void PutInt32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; i--) s->push_back(static_cast<char>((v >> (i * 8)) & 0xFF));
}
std::string TrimError(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Options as "k=v" words, secrets (dispchar '*') as asterisks, debug options left out.
std::string FormatOptions(PQconninfoOption* opts) {
  std::string out;
  for (PQconninfoOption* o = opts; o && o->keyword; o++) {
    if (!o->val || !*o->val || (o->dispchar && *o->dispchar == 'D')) continue;
    std::string v = o->dispchar && *o->dispchar == '*' ? "********" : o->val;
    if (!out.empty()) out += ' ';
    out += fmt::format("{}={}", o->keyword, v);
  }
  return out;
}

// The connection string as pg_stat_wal_receiver shows it: every option set, the password
// replaced by asterisks.
std::string ObfuscatedConninfo(PGconn* conn) {
  PQconninfoOption* opts = PQconninfo(conn);
  std::string out = FormatOptions(opts);
  PQconninfoFree(opts);
  return out;
}

}  // namespace

WalReceiver::WalReceiver(ReceiverOptions opts) : opts_(std::move(opts)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

WalReceiver::~WalReceiver() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void WalReceiver::Start(Lsn start, TimelineId tli) {
  MutexLock l(&lifecycle_mu_);
  if (stop_.load() || thread_.joinable()) return;
  receive_tli_ = tli;
  start_ = wal::SegmentStart(wal::SegmentOf(start, wal::kDefaultSegSize), wal::kDefaultSegSize);
  flushed_.Advance(start_);
  written_ = start_;
  thread_ = NamedThread("walreceiver", [this] { Loop(); });
}

void WalReceiver::Stop() {
  std::thread t;
  {
    MutexLock l(&lifecycle_mu_);
    stop_.store(true);
    t = std::move(thread_);
  }
  if (!t.joinable()) return;
  RequestReply();
  t.join();
}

void WalReceiver::RequestReply() {
  uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof(one)) < 0) {
    // The counter is already non-zero: the receiver will wake anyway.
  }
}

std::optional<int64_t> WalReceiver::ReplicationLag(Lsn replayed, TimestampTz now) {
  MutexLock l(&mu_);
  if (!status_.connected) return std::nullopt;
  while (!sent_times_.empty() && sent_times_.front().first <= replayed) sent_times_.pop_front();
  if (replayed >= status_.latest_end_lsn || sent_times_.empty()) return 0;
  return std::max<int64_t>(0, now - sent_times_.front().second);
}

WalReceiverStatus WalReceiver::status() const {
  MutexLock l(&mu_);
  return status_;
}

void WalReceiver::SetStatus(const std::function<void(WalReceiverStatus&)>& fn) {
  MutexLock l(&mu_);
  fn(status_);
}

void WalReceiver::InterruptibleSleep(int64_t millis) {
  pollfd p{wake_fd_, POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(std::min<int64_t>(millis, 1 << 30)));
  uint64_t v;
  while (::read(wake_fd_, &v, sizeof(v)) > 0) {
  }
}

WalReceiver::WaitResult WalReceiver::WaitSocket(PGconn* conn, bool for_write, Deadline deadline) {
  pollfd fds[2] = {{PQsocket(conn), static_cast<short>(for_write ? POLLOUT : POLLIN), 0},
                   {wake_fd_, POLLIN, 0}};
  while (!stop_.load()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return WaitResult::kTimedOut;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    int rc = ::poll(fds, 2, static_cast<int>(std::clamp<int64_t>(left, 1, 1000)));
    if (rc < 0 && errno != EINTR) return WaitResult::kStopping;
    if (fds[0].revents) return WaitResult::kReady;
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      while (::read(wake_fd_, &v, sizeof(v)) > 0) {
      }
    }
  }
  return WaitResult::kStopping;
}

WalReceiver::Deadline WalReceiver::ExchangeDeadline() const {
  int64_t ms = opts_.settings()->GetInt("wal_receiver_timeout");
  if (ms <= 0) return Deadline::max();
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
}

PGconn* WalReceiver::Connect(const char* const* keys, const char* const* vals) {
  // Asynchronous, so that a stop request never waits for an unresponsive upstream. libpq applies
  // connect_timeout only to its blocking calls; here it is applied the same way (at least 2 s).
  PGconn* conn = PQconnectStartParams(keys, vals, 1);
  if (!conn || PQstatus(conn) == CONNECTION_BAD) return conn;
  Deadline deadline = ExchangeDeadline();
  if (PQconninfoOption* opts = PQconninfo(conn)) {
    for (PQconninfoOption* o = opts; o->keyword; o++) {
      if (std::string_view(o->keyword) == "connect_timeout" && o->val && std::atoi(o->val) > 0) {
        deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(std::max(2, std::atoi(o->val)));
      }
    }
    PQconninfoFree(opts);
  }
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    WaitResult w = WaitSocket(conn, st == PGRES_POLLING_WRITING, deadline);
    if (w != WaitResult::kReady) {
      if (w == WaitResult::kTimedOut) {
        WALREP_LOG_ERROR("could not connect to the primary server: timeout expired");
      }
      PQfinish(conn);
      return nullptr;
    }
    st = PQconnectPoll(conn);
  }
  return conn;
}

PGresult* WalReceiver::Exec(PGconn* conn, const std::string& sql) {
  if (!PQsendQuery(conn, sql.c_str())) return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
  Deadline deadline = ExchangeDeadline();
  // Reads until a result is complete: true when one is; false on a stop request or timeout.
  auto await = [&](PGresult** timed_out) {
    while (PQisBusy(conn)) {
      WaitResult w = WaitSocket(conn, false, deadline);
      if (w == WaitResult::kTimedOut) {
        WALREP_LOG_ERROR("terminating walreceiver due to timeout");
        *timed_out = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
      }
      if (w != WaitResult::kReady) return false;
      if (!PQconsumeInput(conn)) break;
    }
    return true;
  };
  PGresult* timed_out = nullptr;
  if (!await(&timed_out)) return timed_out;
  PGresult* first = PQgetResult(conn);
  if (first && PQresultStatus(first) != PGRES_COPY_BOTH) {
    // Drain the rest so the connection is ready for the next command.
    while (await(&timed_out)) {
      PGresult* more = PQgetResult(conn);
      if (!more) break;
      PQclear(more);
    }
    if (timed_out) PQclear(timed_out);
  }
  return first;
}

void WalReceiver::Loop() {
  SetStatus([](WalReceiverStatus& s) { s.pid = static_cast<int32_t>(::syscall(SYS_gettid)); });
  Lsn start = start_;
  while (!stop_.load()) {
    auto settings = opts_.settings();
    int64_t retry_ms = settings->GetInt("wal_retrieve_retry_interval");
    std::string conninfo = settings->GetString("primary_conninfo");
    if (conninfo.empty()) {
      SetStatus([](WalReceiverStatus& s) { s.status = "waiting"; });
      InterruptibleSleep(retry_ms);
      continue;
    }
    std::string app = settings->GetString("cluster_name");
    if (app.empty()) app = "walreceiver";
    const char* keys[] = {"dbname", "replication", "dbname", "fallback_application_name", nullptr};
    const char* vals[] = {conninfo.c_str(), "true", "replication", app.c_str(), nullptr};
    PGconn* conn = Connect(keys, vals);
    if (!conn) {
      if (stop_.load()) break;
      InterruptibleSleep(retry_ms);  // timed out (logged)
      continue;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
      WALREP_LOG_ERROR("could not connect to the primary server: {}",
                       TrimError(PQerrorMessage(conn)));
      PQfinish(conn);
      InterruptibleSleep(retry_ms);
      continue;
    }
    // A timeline that ends upstream is followed on the same connection (PostgreSQL's
    // walreceiver does the same after walrcv_endstreaming reports the next timeline).
    temp_slot_.clear();
    while (auto next = Stream(conn, start)) {
      if (!FlushWal().ok()) break;
      if (file_) file_.reset();
      file_segno_ = ~0ull;
      prealloc_.reset();
      receive_tli_ = next->first;
      start = wal::SegmentStart(wal::SegmentOf(next->second, wal::kDefaultSegSize),
                                wal::kDefaultSegSize);
    }
    PQfinish(conn);
    FlushWal().IgnoreError();  // errors are reported by the next write; nothing more to do here
    SetStatus([](WalReceiverStatus& s) {
      s.connected = false;
      s.status = "waiting";
    });
    if (!stop_.load()) InterruptibleSleep(retry_ms);
    // Resume from the segment holding everything durable so far (fsynced here, or restored
    // from the archive by the startup thread meanwhile).
    start = wal::SegmentStart(wal::SegmentOf(flushed_.value(), wal::kDefaultSegSize),
                              wal::kDefaultSegSize);
  }
  SetStatus([](WalReceiverStatus& s) { s.status = "stopping"; });
}

Status WalReceiver::FetchHistories(PGconn* conn, TimelineId upstream_tli) {
  std::string wal_dir = opts_.data_dir + "/pg_wal";
  for (TimelineId t = std::max<TimelineId>(receive_tli_, 2); t <= upstream_tli; t++) {
    std::string name = wal::HistoryFileName(t);
    if (opts_.fs->Exists(wal_dir + "/" + name)) continue;
    WALREP_LOG("fetching timeline history file for timeline {} from primary server", t);
    PGresult* res = Exec(conn, fmt::format("TIMELINE_HISTORY {}", t));
    if (!res) return Status::Shutdown("stopping");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 2;
    if (!ok) {
      std::string why = TrimError(PQerrorMessage(conn));
      PQclear(res);
      return Status::IOError(
          fmt::format("could not receive timeline history file from the "
                      "primary server: {}",
                      why));
    }
    std::string got = PQgetvalue(res, 0, 0);
    std::string content(PQgetvalue(res, 0, 1), static_cast<size_t>(PQgetlength(res, 0, 1)));
    PQclear(res);
    if (got != name) {
      return Status::IOError(fmt::format(
          "primary reported unexpected file name for timeline history file of timeline {}", t));
    }
    WALREP_RETURN_IF_ERROR(opts_.fs->WriteFileDurably(wal_dir + "/" + name, content));
  }
  return Status::OK();
}

std::optional<std::pair<TimelineId, Lsn>> WalReceiver::EndStreaming(PGconn* conn) {
  // The upstream ended the timeline with CopyDone: answer with ours, then read the next
  // timeline's result set and the two CommandCompletes.
  if (PQputCopyEnd(conn, nullptr) <= 0 || PQflush(conn) != 0) return std::nullopt;
  std::optional<std::pair<TimelineId, Lsn>> next;
  PGresult* res;
  while ((res = PQgetResult(conn)) != nullptr) {
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) >= 2) {
      auto tli = static_cast<TimelineId>(std::strtoul(PQgetvalue(res, 0, 0), nullptr, 10));
      auto pos = Lsn::Parse(PQgetvalue(res, 0, 1));
      if (tli > receive_tli_ && pos) next = std::make_pair(tli, *pos);
    } else if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
      WALREP_LOG_ERROR("error reading result of streaming command: {}",
                       TrimError(PQresultErrorMessage(res)));
      next.reset();
    }
    PQclear(res);
  }
  return next;
}

std::optional<std::pair<TimelineId, Lsn>> WalReceiver::Stream(PGconn* conn, Lsn start) {
  PGresult* res = Exec(conn, "IDENTIFY_SYSTEM");
  if (!res) return std::nullopt;  // stopping
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 3) {
    WALREP_LOG_ERROR(
        "could not receive database system identifier and timeline ID from the "
        "primary server: {}",
        TrimError(PQerrorMessage(conn)));
    PQclear(res);
    return std::nullopt;
  }
  std::string sysid = PQgetvalue(res, 0, 0);
  TimelineId upstream_tli =
      static_cast<TimelineId>(std::strtoul(PQgetvalue(res, 0, 1), nullptr, 10));
  PQclear(res);
  if (sysid != std::to_string(opts_.system_identifier)) {
    WALREP_LOG_ERROR(
        "database system identifier differs between the primary and standby (DETAIL: The "
        "primary's identifier is {}, the standby's identifier is {}.)",
        sysid, opts_.system_identifier);
    return std::nullopt;
  }
  if (upstream_tli < receive_tli_) {
    WALREP_LOG_ERROR("highest timeline {} of the primary is behind recovery timeline {}",
                     upstream_tli, receive_tli_);
    return std::nullopt;
  }
  if (Status st = FetchHistories(conn, upstream_tli); !st.ok()) {
    if (st.code() != Status::Code::kShutdown) WALREP_LOG_ERROR("{}", st.message());
    return std::nullopt;
  }
  auto settings = opts_.settings();
  const std::string conninfo = settings->GetString("primary_conninfo");
  std::string slot = settings->GetString("primary_slot_name");
  const std::string configured_slot = slot;
  if (slot.empty() && !temp_slot_.empty()) {
    slot = temp_slot_;  // created earlier on this connection (before a timeline switch)
  } else if (slot.empty() && settings->GetBool("wal_receiver_create_temp_slot")) {
    // A slot that lives as long as this connection keeps the upstream's WAL meanwhile.
    slot = fmt::format("pg_walreceiver_{}", status().pid);
    std::string create = fmt::format(
        "CREATE_REPLICATION_SLOT \"{}\" TEMPORARY PHYSICAL "
        "(RESERVE_WAL)",
        slot);
    res = Exec(conn, create);
    if (!res) return std::nullopt;
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    if (!ok) {
      WALREP_LOG_ERROR("could not create replication slot \"{}\": {}", slot,
                       TrimError(PQerrorMessage(conn)));
      return std::nullopt;
    }
    temp_slot_ = slot;
  }
  std::string cmd = "START_REPLICATION ";
  if (!slot.empty()) cmd += fmt::format("SLOT \"{}\" ", slot);
  cmd += fmt::format("{} TIMELINE {}", start.ToString(), receive_tli_);
  res = Exec(conn, cmd);
  if (!res) return std::nullopt;
  if (PQresultStatus(res) != PGRES_COPY_BOTH) {
    WALREP_LOG_ERROR("could not start WAL streaming: {}", TrimError(PQerrorMessage(conn)));
    PQclear(res);
    return std::nullopt;
  }
  PQclear(res);
  WALREP_LOG("started streaming WAL from primary at {} on timeline {}", start.ToString(),
             receive_tli_);
  written_ = start;
  SetStatus([&](WalReceiverStatus& s) {
    s.status = "streaming";
    s.connected = true;
    s.receive_start_lsn = start;
    s.receive_start_tli = receive_tli_;
    s.received_tli = receive_tli_;
    s.slot_name = slot;
    s.sender_host = PQhost(conn) ? PQhost(conn) : "";
    s.sender_port = PQport(conn) ? std::atoi(PQport(conn)) : 0;
    s.conninfo = ObfuscatedConninfo(conn);
  });
  auto config = [](const ServerSettings& st) {
    ReceiveProtocol::Config c;
    c.timeout_ms = st.GetInt("wal_receiver_timeout");
    c.status_interval_ms = st.GetInt("wal_receiver_status_interval") * 1000;
    c.feedback = st.GetBool("hot_standby_feedback");
    return c;
  };
  ReceiveProtocol proto(start, config(*settings), NowTimestamp());
  std::vector<ReceiveAction> actions;
  proto.OnStart(&actions);
  if (!Perform(conn, actions)) return std::nullopt;
  while (!stop_.load()) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn, &buf, 1);
    if (n > 0) {
      actions.clear();
      Status st =
          proto.OnCopyData(std::string_view(buf, static_cast<size_t>(n)), NowTimestamp(), &actions);
      bool ok = st.ok() && Perform(conn, actions);
      PQfreemem(buf);
      if (!st.ok()) WALREP_LOG_ERROR("{}", st.message());
      if (!ok) return std::nullopt;
      const UpstreamClock& clock = proto.clock();
      {
        MutexLock l(&mu_);
        if (sent_times_.empty() || sent_times_.back().first < written_) {
          sent_times_.emplace_back(written_, clock.last_msg_send_time);
          if (sent_times_.size() > 65536) sent_times_.pop_front();
        }
      }
      SetStatus([&](WalReceiverStatus& s) {
        s.written = written_;
        s.last_msg_send_time = clock.last_msg_send_time;
        s.last_msg_receipt_time = clock.last_msg_receipt_time;
        s.latest_end_lsn = clock.latest_end_lsn;
        s.latest_end_time = clock.latest_end_time;
      });
      continue;
    }
    if (n == -1) {
      FlushWal().IgnoreError();  // reported by the next attempt if the disk is failing
      std::string why;
      res = PQgetResult(conn);
      if (res && PQresultStatus(res) == PGRES_COPY_IN) {
        // The upstream ended this timeline (it was promoted, or its upstream was).
        PQclear(res);
        WALREP_LOG(
            "replication terminated by primary server (End of WAL reached on timeline {} at "
            "{}.)",
            receive_tli_, written_.ToString());
        auto next = EndStreaming(conn);
        if (next) {
          WALREP_LOG("new timeline {} starts at {}", next->first, next->second.ToString());
        }
        return next;
      }
      if (res && PQresultStatus(res) == PGRES_FATAL_ERROR) {
        why = TrimError(PQresultErrorMessage(res));
      }
      if (res) PQclear(res);
      while ((res = PQgetResult(conn)) != nullptr) {
        if (PQresultStatus(res) == PGRES_FATAL_ERROR) why = TrimError(PQresultErrorMessage(res));
        PQclear(res);
      }
      if (!why.empty()) {
        WALREP_LOG_ERROR("could not receive data from WAL stream: {}", why);
      } else {
        WALREP_LOG(
            "replication terminated by primary server (End of WAL reached on timeline "
            "{} at {}.)",
            receive_tli_, written_.ToString());
      }
      return std::nullopt;
    }
    if (n == -2) {
      WALREP_LOG_ERROR("could not receive data from WAL stream: {}",
                       TrimError(PQerrorMessage(conn)));
      return std::nullopt;
    }
    // Nothing buffered: make what arrived durable and tell the upstream, then sleep.
    actions.clear();
    proto.OnIdle(&actions);
    if (!Perform(conn, actions)) return std::nullopt;
    settings = opts_.settings();
    if (settings->GetString("primary_conninfo") != conninfo ||
        settings->GetString("primary_slot_name") != configured_slot) {
      // Re-pointed by a reload (PostgreSQL 13+ restarts its walreceiver the same way).
      WALREP_LOG("FATAL:  terminating walreceiver process due to administrator command");
      return std::nullopt;
    }
    proto.Reconfigure(config(*settings));
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    ::poll(fds, 2, proto.WaitMs(NowTimestamp()));
    actions.clear();
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      while (::read(wake_fd_, &v, sizeof(v)) > 0) {
      }
      if (stop_.load()) break;
      proto.OnReplayed(&actions);  // replay advanced
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !PQconsumeInput(conn)) {
      WALREP_LOG_ERROR("could not receive data from WAL stream: {}",
                       TrimError(PQerrorMessage(conn)));
      return std::nullopt;
    }
    proto.OnTick(NowTimestamp(), &actions);
    if (!Perform(conn, actions)) return std::nullopt;
  }
  return std::nullopt;  // stopping
}

bool WalReceiver::Perform(PGconn* conn, const std::vector<ReceiveAction>& actions) {
  for (const ReceiveAction& a : actions) {
    Status st;
    switch (a.kind) {
      case ReceiveAction::Kind::kWrite:
        st = WriteWal(a.from, a.data, a.wal_end);
        break;
      case ReceiveAction::Kind::kFlush:
        st = FlushWal();
        break;
      case ReceiveAction::Kind::kSendReply:
        if (!SendReply(conn, a.reply_requested)) return false;
        break;
      case ReceiveAction::Kind::kSendFeedback:
        if (!SendFeedback(conn, a.zero)) return false;
        break;
      case ReceiveAction::Kind::kTimeout:
        WALREP_LOG_ERROR("terminating walreceiver due to timeout");
        return false;
    }
    if (!st.ok()) {
      WALREP_LOG_ERROR("{}", st.message());
      return false;
    }
  }
  return true;
}

Status WalReceiver::WriteWal(Lsn start, std::string_view data, Lsn wal_end) {
  uint64_t seg_size = wal::kDefaultSegSize;
  std::string wal_dir = opts_.data_dir + "/pg_wal";
  while (!data.empty()) {
    XLogSegNo segno = wal::SegmentOf(start, seg_size);
    uint64_t off = start.value() % seg_size;
    size_t n = std::min<size_t>(data.size(), seg_size - off);
    if (segno != file_segno_) {
      if (file_ && unsynced_) closed_unsynced_.push_back(std::move(file_));
      file_.reset();
      unsynced_ = false;
      if (!prealloc_) {
        prealloc_ =
            std::make_unique<wal::SegmentPreallocator>(opts_.fs, wal_dir, receive_tli_, seg_size);
      }
      // A segment the upstream has already written past will be received in full at once:
      // zeros written first would double the I/O of catching up, to spare metadata updates to
      // fsyncs that each cover a large batch anyway. Otherwise wal_init_zero applies, and the
      // next segment is prepared in the background as on a primary.
      if (wal_end.value() >= (segno + 1) * seg_size) {
        WALREP_RETURN_IF_ERROR(prealloc_->Ensure(segno, wal::SegmentInit::kAllocate, false));
      } else {
        bool zero = opts_.settings()->GetBool("wal_init_zero");
        WALREP_RETURN_IF_ERROR(prealloc_->Ensure(
            segno, zero ? wal::SegmentInit::kZeroFill : wal::SegmentInit::kAllocate));
      }
      WALREP_ASSIGN_OR_RETURN(
          file_, opts_.fs->OpenRandomAccess(
                     wal_dir + "/" + wal::XLogFileName(receive_tli_, segno, seg_size), false));
      file_segno_ = segno;
    }
    WALREP_RETURN_IF_ERROR(file_->WriteAt(off, data.substr(0, n)));
    unsynced_ = true;
    // Received to its last byte (an XLOG_SWITCH's zero rest included): complete.
    if (off + n == seg_size) {
      completed_.push_back(wal::XLogFileName(receive_tli_, segno, seg_size));
    }
    data.remove_prefix(n);
    start = start + n;
  }
  written_ = std::max(written_, start);
  if (!completed_.empty()) WALREP_RETURN_IF_ERROR(FlushWal());  // a segment is complete
  return Status::OK();
}

Status WalReceiver::FlushWal() {
  for (auto& f : closed_unsynced_) WALREP_RETURN_IF_ERROR(f->Sync());
  closed_unsynced_.clear();
  if (file_ && unsynced_) WALREP_RETURN_IF_ERROR(file_->Sync());
  unsynced_ = false;
  // Completed and durable: archive_status (.done, or .ready with archive_mode = always).
  if (opts_.segment_done) {
    for (const auto& name : completed_) opts_.segment_done(name);
  }
  completed_.clear();
  flushed_.Advance(written_);
  SetStatus([&](WalReceiverStatus& s) { s.flushed = flushed_.value(); });
  return Status::OK();
}

bool WalReceiver::SendReply(PGconn* conn, bool request_reply) {
  std::string m(1, 'r');
  Lsn flushed = flushed_.value();
  PutInt64(&m, written_.value());
  PutInt64(&m, flushed.value());
  PutInt64(&m, std::min(opts_.applied(), flushed).value());
  PutInt64(&m, static_cast<uint64_t>(NowTimestamp()));
  m.push_back(request_reply ? 1 : 0);
  return Send(conn, m);
}

bool WalReceiver::SendFeedback(PGconn* conn, bool force_zero) {
  std::string m(1, 'h');
  PutInt64(&m, static_cast<uint64_t>(NowTimestamp()));
  TransactionId xmin = force_zero ? 0 : opts_.feedback_xmin();
  PutInt32(&m, xmin);
  PutInt32(&m, 0);
  PutInt32(&m, 0);
  PutInt32(&m, 0);
  return Send(conn, m);
}

bool WalReceiver::Send(PGconn* conn, const std::string& msg) {
  if (PQputCopyData(conn, msg.data(), static_cast<int>(msg.size())) <= 0 || PQflush(conn) != 0) {
    WALREP_LOG_ERROR("could not send data to WAL stream: {}", TrimError(PQerrorMessage(conn)));
    return false;
  }
  return true;
}

std::string MaskConninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    PQfreemem(err);
    return conninfo.empty() ? conninfo : "********";
  }
  std::string out = FormatOptions(opts);
  PQconninfoFree(opts);
  return out;
}

}  // namespace walrep::replication
