// walrep: one client session (see session_internal.h).
// Counterpart: ProcessStartupPacket() / ClientAuthentication() / PostgresMain() in PostgreSQL.
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <new>

#include "session_internal.h"
#include "walrep/common/logging.h"
#include "walrep/common/strings.h"
#include "walrep/protocol/auth.h"
#include "walrep/protocol/message.h"

namespace walrep::server {

namespace {

constexpr int32_t kSslRequest = 80877103;
constexpr int32_t kGssEncRequest = 80877104;
constexpr int32_t kCancelRequest = 80877102;
constexpr size_t kLargeMessageLimit = (1u << 30) - 1;  // PQ_LARGE_MESSAGE_LIMIT
constexpr size_t kSmallMessageLimit = 10000;           // PQ_SMALL_MESSAGE_LIMIT

size_t MessageLimit(char type) {
  switch (type) {
    case 'Q':
    case 'P':
    case 'B':
    case 'd':
    case 'F':
    case 'p':
    case 'f':
      return kLargeMessageLimit;
    default:
      return kSmallMessageLimit;
  }
}

int PeerPort(const sockaddr_storage& peer) {
  return peer.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&peer)->sin_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_port);
}

Status Fatal(std::string sqlstate, std::string msg) {
  return Status::Sql(std::move(sqlstate), std::move(msg)).WithSeverity(Severity::kFatal);
}

// The safety net for an exception nothing below caught (PostgreSQL's elog(ERROR) longjmp to
// the top of its loop): the error the client gets, logged with what was thrown.
Status UnexpectedException(std::exception_ptr e) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::bad_alloc&) {
    return Status::Sql("53200", "out of memory");
  } catch (const std::exception& ex) {
    WALREP_LOG_ERROR("internal error: {}", ex.what());
    return Status::Sql("XX000", fmt::format("internal error: {}", ex.what()));
  } catch (...) {
    WALREP_LOG_ERROR("internal error: an exception of unknown type");
    return Status::Sql("XX000", "internal error: an exception of unknown type");
  }
}

int SeverityRank(const std::string& s) {
  std::string l = ToLower(s);
  if (l.rfind("debug", 0) == 0) return 0;
  if (l == "log") return 1;
  if (l == "info") return 2;
  if (l == "notice") return 3;
  if (l == "warning") return 4;
  return 5;
}

// Splits the startup "options" value into words; a backslash escapes the next character.
std::vector<std::string> SplitOptions(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool have = false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      cur += s[++i];
      have = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(cur);
  return out;
}

}  // namespace

Session::Session(Server* server, int fd, bool local, const sockaddr_storage& peer)
    : server_(server),
      conn_(std::make_unique<protocol::Connection>(fd)),
      local_(local),
      peer_(peer) {}

Session::~Session() {
  walsender_.reset();  // drops this session's temporary slots
  if (registered_sender_) {
    server_->wal_senders().Unregister(backend_->pid);
    server_->RefreshSyncRep();
  }
  if (backend_) server_->UnregisterBackend(backend_->pid);
}

void Session::Run() {
  Status st;
  try {
    st = Startup();
    if (st.ok()) st = QueryLoop();
  } catch (...) {
    // Outside any statement (startup, authentication, the loop itself): the session ends, the
    // server does not.
    st = UnexpectedException(std::current_exception()).WithSeverity(Severity::kFatal);
  }
  if (!st.ok() && st.code() != Status::Code::kIOError) {
    if (st.severity() == Severity::kFatal || st.code() == Status::Code::kProtocolViolation) {
      Status fatal = st;
      if (fatal.severity() != Severity::kFatal)
        fatal = std::move(fatal).WithSeverity(Severity::kFatal);
      conn_->Write(protocol::ErrorMessage(fatal));
      conn_->Flush().IgnoreError();  // the client may already be gone
      if (fatal.sqlstate() != "57P01") WALREP_LOG("{}", fatal.ToString());
    }
  }
  if (executor_) {
    Status dropped = executor_->DropTemporaryTables();
    if (!dropped.ok()) WALREP_LOG("could not drop temporary tables: {}", dropped.message());
  }
  if (server_settings_ && server_settings_->GetBool("log_disconnections") && backend_) {
    WALREP_LOG("disconnection: user={} database={}", user_, database_);
  }
}

Result<std::string> Session::ReadPassword() {
  WALREP_ASSIGN_OR_RETURN(auto msg, conn_->ReadMessage(MessageLimit));
  if (msg.first != 'p') {
    return Fatal("08P01", fmt::format("expected password response, got message type {}",
                                      static_cast<int>(msg.first)));
  }
  return std::move(msg.second);
}

Status Session::Startup() {
  settings_generation_ = server_->settings_generation();
  server_settings_ = server_->settings();
  conn_->SetReadTimeout(
      static_cast<int>(server_settings_->GetInt("authentication_timeout") * 1000));
  std::string body;
  bool ssl_done = false, gss_done = false;
  while (true) {
    auto pkt = conn_->ReadStartupPacket();
    if (!pkt.ok()) {
      Status st = pkt.TakeStatus();
      if (st.code() == Status::Code::kProtocolViolation) return Fatal("08P01", st.message());
      return st;
    }
    protocol::MessageReader r(*pkt);
    int32_t code = r.Int32();
    if (code == kSslRequest && !ssl_done) {
      ssl_done = true;
      auto ctx = server_->ssl_ctx();
      if (ctx && !conn_->tls()) {
        conn_->Write("S");
        WALREP_RETURN_IF_ERROR(conn_->Flush());
        Status st = conn_->StartTls(ctx.get());
        if (!st.ok()) {
          WALREP_LOG("{}", st.message());
          return Status::IOError(st.message());  // nothing may be sent in plain text now
        }
      } else {
        conn_->Write("N");
        WALREP_RETURN_IF_ERROR(conn_->Flush());
      }
      continue;
    }
    if (code == kGssEncRequest && !gss_done) {
      gss_done = true;
      conn_->Write("N");
      WALREP_RETURN_IF_ERROR(conn_->Flush());
      continue;
    }
    if (code == kCancelRequest) {
      int32_t pid = r.Int32(), key = r.Int32();
      if (r.ok()) server_->Cancel(pid, key);
      return Status::IOError("cancel request processed");  // closes without a reply
    }
    if (code == kSslRequest || code == kGssEncRequest) {
      return Fatal("08P01", "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0");
    }
    body = std::move(*pkt);
    break;
  }
  protocol::MessageReader r(body);
  uint32_t version = static_cast<uint32_t>(r.Int32());
  uint32_t major = version >> 16, minor = version & 0xffff;
  if (major != 3) {
    return Fatal("0A000", fmt::format("unsupported frontend protocol {}.{}: server supports 3.0 to "
                                      "3.0",
                                      major, minor));
  }
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> unrecognized;
  while (true) {
    std::string name = r.String();
    if (!r.ok())
      return Fatal("08P01", "invalid startup packet layout: expected terminator as last byte");
    if (name.empty()) break;
    std::string value = r.String();
    if (!r.ok())
      return Fatal("08P01", "invalid startup packet layout: expected terminator as last byte");
    if (name.rfind("_pq_.", 0) == 0) {
      unrecognized.push_back(name);
    } else {
      params.emplace_back(name, value);
    }
  }
  if (minor > 0 || !unrecognized.empty()) {
    protocol::MessageBuilder b('v');
    b.Int32(0x00030000).Int32(static_cast<int32_t>(unrecognized.size()));
    for (const auto& u : unrecognized) b.String(u);
    conn_->Write(b.Finish());
  }
  std::string replication;
  std::vector<std::pair<std::string, std::string>> gucs;
  for (const auto& [k, v] : params) {
    if (k == "user") {
      user_ = v;
    } else if (k == "database") {
      database_ = v;
    } else if (k == "replication") {
      replication = v;
    } else if (k == "options") {
      auto words = SplitOptions(v);
      for (size_t i = 0; i < words.size(); i++) {
        std::string w = words[i];
        std::string assign;
        if (w == "-c" && i + 1 < words.size()) {
          assign = words[++i];
        } else if (w.rfind("-c", 0) == 0 && w.size() > 2) {
          assign = w.substr(2);
        } else if (w.rfind("--", 0) == 0) {
          assign = w.substr(2);
        } else {
          return Fatal("22023",
                       fmt::format("invalid command-line argument for server process: {}", w))
              .WithHint("Try \"walrepd --help\" for more information.");
        }
        size_t eq = assign.find('=');
        if (eq == std::string::npos) {
          return Fatal("42601", fmt::format("--{} requires a value", assign));
        }
        std::string name = assign.substr(0, eq);
        for (auto& ch : name) {
          if (ch == '-') ch = '_';
        }
        gucs.emplace_back(name, assign.substr(eq + 1));
      }
    } else {
      gucs.emplace_back(k, v);
    }
  }
  if (user_.empty()) return Fatal("28000", "no PostgreSQL user name specified in startup packet");
  if (database_.empty()) database_ = user_;
  if (!replication.empty()) {
    std::string l = ToLower(replication);
    if (l == "database") {
      replication_database_ = true;  // logical walsender: replication commands and SQL
    } else if (auto b = ParseBool(l)) {
      replication_ = *b;
    } else {
      return Fatal("22023",
                   fmt::format("invalid value for parameter \"replication\": \"{}\"", replication))
          .WithHint("Valid values are: \"false\", 0, \"true\", 1, \"database\".");
    }
  }
  if (server_->shutdown_mode() != ShutdownMode::kNone) {
    return Fatal("57P03", "the database system is shutting down");
  }
  if (server_->starting_up() && !(replication_ && server_->accepting_replication())) {
    return server_->NotAcceptingConnections();
  }
  WALREP_ASSIGN_OR_RETURN(backend_, server_->RegisterBackend());
  conn_->SetInterruptFd(backend_->interrupt_fd);

  protocol::HbaRequest req;
  req.local = local_;
  req.ssl = conn_->tls();
  req.client = peer_;
  req.database = database_;
  req.user = user_;
  req.physical_replication = replication_;
  auto hba = server_->hba();
  const protocol::HbaLine* line = hba->Match(req);
  if (!line) return Fatal("28000", protocol::DescribeNoHbaEntry(req));
  WALREP_RETURN_IF_ERROR(Authenticate(*line));
  conn_->Write(protocol::AuthenticationMessage(0));

  auto role = server_->roles().Find(user_);
  if (!role) return Fatal("28000", fmt::format("role \"{}\" does not exist", user_));
  if (!role->login) {
    return Fatal("28000", fmt::format("role \"{}\" is not permitted to log in", user_));
  }
  superuser_ = role->superuser;
  if (replication_ && !superuser_ && !role->replication) {
    return Fatal("42501", "must be superuser or replication role to start walsender");
  }
  static const char* kDatabases[] = {"postgres", "template1", "template0"};
  bool db_ok = replication_;  // a physical walsender is not bound to a database
  for (const char* d : kDatabases) db_ok |= database_ == d;
  if (!db_ok) return Fatal("3D000", fmt::format("database \"{}\" does not exist", database_));
  if (database_ == "template0" && !replication_) {
    return Fatal("55000", "database \"template0\" is not currently accepting connections");
  }
  int64_t max_conn = server_settings_->GetInt("max_connections");
  int64_t reserved = server_settings_->GetInt("superuser_reserved_connections");
  if (!superuser_ && static_cast<int64_t>(server_->BackendCount()) > max_conn - reserved) {
    return Fatal(
        "53300",
        "remaining connection slots are reserved for non-replication superuser connections");
  }
  if (role->connection_limit >= 0 && !superuser_) {
    int64_t mine = 0;
    for (const auto& b : server_->Backends()) {
      MutexLock l(&b->mu);
      mine += b->authenticated && b->user == user_;
    }
    if (mine >= role->connection_limit) {
      return Fatal("53300", fmt::format("too many connections for role \"{}\"", user_));
    }
  }

  settings_ = std::make_unique<SessionSettings>(server_settings_, superuser_);
  settings_->SetInternalForSession("is_superuser", superuser_ ? "on" : "off");
  settings_->SetInternalForSession("session_authorization", user_);
  // ALTER ROLE ... SET defaults first; the startup packet's settings override them.
  for (const auto& [name, value] : role->settings) {
    Status st = settings_->SetClientDefault(name, value);
    if (!st.ok()) WALREP_LOG("WARNING:  {} (set for role \"{}\")", st.message(), user_);
  }
  for (const auto& [name, value] : gucs) {
    Status st = settings_->SetClientDefault(name, value);
    if (!st.ok()) return std::move(st).WithSeverity(Severity::kFatal);
  }
  application_name_ = settings_->Get("application_name").value_or("");
  if (replication_) {
    // A physical walsender speaks SQL_ASCII, like PostgreSQL's.
    settings_->SetInternalForSession("server_encoding", "SQL_ASCII");
    settings_->SetInternalForSession("client_encoding", "SQL_ASCII");
  }
  if (replication_ || replication_database_) {
    replication::WalSndStatus ws;
    ws.pid = backend_->pid;
    ws.user = user_;
    ws.application_name = application_name_;
    if (!local_) {
      ws.client_addr = protocol::FormatAddress(peer_);
      ws.client_port = PeerPort(peer_);
    }
    {
      MutexLock l(&backend_->mu);
      ws.backend_start = backend_->backend_start;
      backend_->backend_type = "walsender";
    }
    Status st = server_->wal_senders().Register(
        ws, static_cast<int>(server_settings_->GetInt("max_wal_senders")));
    if (!st.ok()) return st;
    registered_sender_ = true;
    replication::SenderSession rs;
    rs.conn = conn_.get();
    rs.settings = settings_.get();
    rs.pid = backend_->pid;
    rs.interrupt_fd = backend_->interrupt_fd;
    rs.check_interrupts = [this] { return CheckInterrupts(); };
    walsender_ = std::make_unique<replication::WalSender>(server_->repl_env(), rs);
  }
  executor_ = std::make_unique<sql::Executor>(&server_->registry(), this, server_->database());
  for (const auto& [name, value] : settings_->ReportedValues()) {
    conn_->Write(protocol::ParameterStatusMessage(name, value));
  }
  settings_->TakeReportChanges();
  conn_->Write(protocol::BackendKeyDataMessage(backend_->pid, backend_->cancel_key));
  {
    MutexLock l(&backend_->mu);
    backend_->database = database_;
    backend_->user = user_;
    backend_->application_name = application_name_;
    backend_->superuser = superuser_;
    if (!local_) {
      backend_->client_addr = protocol::FormatAddress(peer_);
      backend_->client_port = PeerPort(peer_);
    }
    backend_->authenticated = true;
  }
  if (server_settings_->GetBool("log_connections")) {
    WALREP_LOG("connection authorized: user={} database={}{}{}", user_, database_,
               application_name_.empty() ? "" : " application_name=", application_name_);
  }
  conn_->SetReadTimeout(-1);
  return Status::OK();
}

Status Session::Authenticate(const protocol::HbaLine& line) {
  auto failed = [&] {
    return Fatal("28P01", fmt::format("password authentication failed for user \"{}\"", user_));
  };
  auto role = server_->roles().Find(user_);
  std::string verifier = role ? role->password : "";
  switch (line.method) {
    case protocol::AuthMethod::kTrust:
      return Status::OK();
    case protocol::AuthMethod::kReject: {
      std::string desc = local_ ? "[local]" : protocol::FormatAddress(peer_);
      const char* enc = conn_->tls() ? "SSL encryption" : "no encryption";
      if (replication_) {  // a physical replication connection names no database
        return Fatal("28000", fmt::format("pg_hba.conf rejects replication connection for host "
                                          "\"{}\", user \"{}\", {}",
                                          desc, user_, enc));
      }
      return Fatal("28000", fmt::format("pg_hba.conf rejects connection for host \"{}\", user "
                                        "\"{}\", database \"{}\", {}",
                                        desc, user_, database_, enc));
    }
    case protocol::AuthMethod::kPassword: {
      conn_->Write(protocol::AuthenticationMessage(3));
      WALREP_RETURN_IF_ERROR(conn_->Flush());
      WALREP_ASSIGN_OR_RETURN(std::string body, ReadPassword());
      protocol::MessageReader r(body);
      std::string pw = r.String();
      if (!r.ok()) return Fatal("08P01", "invalid password packet size");
      if (verifier.empty() || !protocol::CheckPassword(user_, pw, verifier)) return failed();
      return Status::OK();
    }
    case protocol::AuthMethod::kMd5:
      if (protocol::IsMd5Verifier(verifier)) {
        std::string salt = protocol::RandomBytes(4);
        conn_->Write(protocol::AuthenticationMessage(5, salt));
        WALREP_RETURN_IF_ERROR(conn_->Flush());
        WALREP_ASSIGN_OR_RETURN(std::string body, ReadPassword());
        protocol::MessageReader r(body);
        std::string resp = r.String();
        if (!r.ok()) return Fatal("08P01", "invalid password packet size");
        if (!protocol::CheckMd5Response(verifier, salt, resp)) return failed();
        return Status::OK();
      }
      [[fallthrough]];  // md5 with a SCRAM secret (or none) runs SCRAM, as in PostgreSQL
    case protocol::AuthMethod::kScramSha256: {
      protocol::ScramExchange scram(verifier, user_ + server_->mock_nonce());
      conn_->Write(protocol::AuthenticationMessage(10, std::string("SCRAM-SHA-256\0\0", 15)));
      WALREP_RETURN_IF_ERROR(conn_->Flush());
      WALREP_ASSIGN_OR_RETURN(std::string body, ReadPassword());
      protocol::MessageReader r(body);
      std::string mech = r.String();
      int32_t len = r.Int32();
      if (!r.ok()) return Fatal("08P01", "malformed SASL message");
      if (mech != "SCRAM-SHA-256") {
        return Fatal("08P01", "client selected an invalid SASL authentication mechanism");
      }
      if (len < 0 || static_cast<size_t>(len) != r.remaining()) {
        return Fatal("08P01", "malformed SASL message");
      }
      std::string first(r.Bytes(static_cast<size_t>(len)));
      auto server_first = scram.ClientFirst(first);
      if (!server_first.ok()) return server_first.TakeStatus().WithSeverity(Severity::kFatal);
      conn_->Write(protocol::AuthenticationMessage(11, *server_first));
      WALREP_RETURN_IF_ERROR(conn_->Flush());
      WALREP_ASSIGN_OR_RETURN(std::string final_msg, ReadPassword());
      auto server_final = scram.ClientFinal(final_msg);
      if (!server_final.ok()) {
        Status st = server_final.TakeStatus();
        if (st.sqlstate() == "28P01") return failed();
        return std::move(st).WithSeverity(Severity::kFatal);
      }
      conn_->Write(protocol::AuthenticationMessage(12, *server_final));
      return Status::OK();
    }
  }
  return failed();
}

char Session::TransactionStatusByte() const {
  switch (executor_->txn_status()) {
    case sql::TxnStatus::kIdle:
      return 'I';
    case sql::TxnStatus::kInBlock:
      return 'T';
    case sql::TxnStatus::kFailed:
      return 'E';
  }
  return 'I';
}

void Session::SetState(const std::string& state, const std::string* query) {
  MutexLock l(&backend_->mu);
  if (!query && backend_->state == state) return;
  if (backend_->state != state) backend_->state_change = NowTimestamp();
  backend_->state = state;
  if (query) {
    backend_->query = *query;
    backend_->query_start = NowTimestamp();
  }
  backend_->backend_xid = executor_->in_transaction() ? executor_->xid() : 0;
  backend_->backend_xmin = executor_->in_transaction() && server_->database()->engine
                               ? executor_->txn().snapshot.xmin
                               : 0;
  if (executor_->in_transaction()) {
    backend_->xact_start = executor_->transaction_start();
  } else {
    // A statement about to run starts its own transaction now.
    backend_->xact_start = state == "active" ? backend_->query_start : 0;
  }
}

void Session::RefreshSettings() {
  uint64_t gen = server_->settings_generation();
  if (gen == settings_generation_) return;
  settings_generation_ = gen;
  auto current = server_->settings();
  if (current != server_settings_) {
    server_settings_ = current;
    settings_->SetServer(current);
  }
}

Status Session::QueryLoop() {
  conn_->Write(protocol::ReadyForQueryMessage('I'));
  while (true) {
    // Like PostgreSQL, the session reports itself idle only when it is about to wait for the
    // client, not between the messages of one pipeline.
    if (!conn_->HasBufferedInput()) {
      const char* state = executor_->txn_status() == sql::TxnStatus::kIdle ? "idle"
                          : executor_->txn_status() == sql::TxnStatus::kInBlock
                              ? "idle in transaction"
                              : "idle in transaction (aborted)";
      SetState(state, nullptr);
      backend_->cancel_requested.store(false);  // a cancel that finds no statement is dropped
      WALREP_RETURN_IF_ERROR(conn_->Flush());
      if (backend_->terminate_requested.load(std::memory_order_acquire)) {
        return Fatal("57P01", "terminating connection due to administrator command");
      }
    }
    auto msg = conn_->ReadMessage(MessageLimit);
    if (!msg.ok()) {
      Status st = msg.TakeStatus();
      if (st.code() == Status::Code::kShutdown) {  // interrupted while idle
        if (backend_->terminate_requested.load(std::memory_order_acquire)) {
          return Fatal("57P01", "terminating connection due to administrator command");
        }
        backend_->cancel_requested.store(false);  // a cancel while idle does nothing
        auto reason = static_cast<RecoveryConflict>(backend_->recovery_conflict.exchange(0));
        if (reason != RecoveryConflict::kNone && executor_->in_transaction()) {
          // Idle in a transaction whose lock or snapshot replay needs gone: as PostgreSQL.
          return Fatal("40001", "terminating connection due to conflict with recovery")
              .WithDetail(RecoveryConflictDetail(reason))
              .WithHint(
                  "In a moment you should be able to reconnect to the database and repeat "
                  "your command.");
        }
        continue;
      }
      if (st.code() == Status::Code::kProtocolViolation) return Fatal("08P01", st.message());
      return st;
    }
    if (backend_->terminate_requested.load(std::memory_order_acquire)) {
      return Fatal("57P01", "terminating connection due to administrator command");
    }
    RefreshSettings();
    auto& [type, body] = *msg;
    if (skip_until_sync_ && type != 'S' && type != 'X') continue;
    Status st;
    bool unexpected = false;
    try {
      switch (type) {
        case 'Q':
          st = HandleSimpleQuery(body);
          break;
        case 'P':
          st = HandleParse(body);
          break;
        case 'B':
          st = HandleBind(body);
          break;
        case 'D':
          st = HandleDescribe(body);
          break;
        case 'E':
          st = HandleExecute(body);
          break;
        case 'C':
          st = HandleClose(body);
          break;
        case 'S':
          st = HandleSync();
          break;
        case 'H':
          st = conn_->Flush();
          break;
        case 'X':
          return Status::OK();
        case 'd':
        case 'c':
        case 'f':
          break;  // stray COPY messages are ignored, as in PostgreSQL
        default:
          return Fatal("08P01", fmt::format("invalid frontend message type {}",
                                            static_cast<int>(static_cast<uint8_t>(type))));
      }
    } catch (...) {
      // An error nothing below turned into a Status ends the statement and its transaction,
      // as any other error does; what unwound released its locks and buffers on the way.
      st = UnexpectedException(std::current_exception());
      unexpected = true;
    }
    if (!st.ok()) {
      if (st.severity() == Severity::kFatal || st.code() == Status::Code::kIOError) return st;
      if (st.code() == Status::Code::kProtocolViolation) return Fatal("08P01", st.message());
      WALREP_RETURN_IF_ERROR(ReportError(st));
      if (type != 'Q') skip_until_sync_ = true;
      if (type == 'Q' && unexpected) WALREP_RETURN_IF_ERROR(EndSimpleQuery());
    }
  }
}

Status Session::ReportError(const Status& st) {
  executor_->OnError();
  FlushNotices();
  conn_->Write(protocol::ErrorMessage(st));
  if (st.severity() == Severity::kFatal) return st;
  return Status::OK();
}

void Session::FlushNotices() {
  for (const auto& n : pending_notices_) conn_->Write(n);
  pending_notices_.clear();
}

void Session::SendParameterChanges() {
  for (const auto& [name, value] : settings_->TakeReportChanges()) {
    conn_->Write(protocol::ParameterStatusMessage(name, value));
  }
}

void Session::AddNotice(const std::string& severity, const std::string& sqlstate,
                        const std::string& message, const std::string& detail) {
  std::string min = settings_->Get("client_min_messages").value_or("notice");
  if (SeverityRank(severity) < SeverityRank(min) && SeverityRank(severity) < 4) return;
  protocol::NoticeSeverity sev = severity == "WARNING" ? protocol::NoticeSeverity::kWarning
                                 : severity == "INFO"  ? protocol::NoticeSeverity::kInfo
                                 : severity == "LOG"   ? protocol::NoticeSeverity::kLog
                                                       : protocol::NoticeSeverity::kNotice;
  pending_notices_.push_back(protocol::NoticeMessage(sev, sqlstate, message, detail));
}

std::string Session::RowDescription(const std::vector<sql::ColumnDesc>& cols,
                                    const std::vector<int16_t>& formats) {
  std::vector<protocol::FieldDesc> fields;
  for (size_t i = 0; i < cols.size(); i++) {
    protocol::FieldDesc f;
    f.name = cols[i].name;
    f.table_oid = cols[i].table_oid;
    f.column = cols[i].attnum;
    f.type_oid = cols[i].type;
    f.typlen = sql::TypeLen(cols[i].type);
    f.typmod = cols[i].typmod;
    f.format = formats.empty() ? 0 : formats.size() == 1 ? formats[0] : formats[i];
    fields.push_back(f);
  }
  return protocol::RowDescriptionMessage(fields);
}

Status Session::SendRows(Portal& portal, int32_t max_rows, bool from_execute) {
  sql::ExecResult& r = portal.result;
  if (!r.returns_rows) {
    conn_->Write(protocol::CommandCompleteMessage(r.tag));
    return Status::OK();
  }
  const sql::FormatOptions& fo = executor_->format_options();
  const auto& f = portal.result_formats;
  size_t sent = 0;
  sql::Row row;
  std::vector<std::optional<std::string>> vals;
  // Rows go out as the plan produces them: neither the server nor the client waits for the
  // whole result (an Execute with a row count stops after that many: PortalSuspended).
  while (!portal.done && (max_rows <= 0 || sent < static_cast<size_t>(max_rows))) {
    auto next = r.rows->Next(&row);
    if (!next.ok()) return StatementError(next.TakeStatus());
    bool more = *next;
    if (!more) {
      portal.done = true;
      break;
    }
    vals.clear();
    for (size_t i = 0; i < row.size(); i++) {
      const sql::Value& v = row[i];
      if (v.is_null()) {
        vals.emplace_back(std::nullopt);
        continue;
      }
      int16_t fmt = f.empty() ? 0 : f.size() == 1 ? f[0] : f[i];
      if (fmt == 1) {
        WALREP_ASSIGN_OR_RETURN(std::string b, sql::ToBinary(v));
        vals.emplace_back(std::move(b));
      } else {
        vals.emplace_back(sql::ToText(v, fo));
      }
    }
    conn_->Write(protocol::DataRowMessage(vals));
    sent++;
    if (conn_->buffered() >= kStreamFlushBytes) WALREP_RETURN_IF_ERROR(conn_->Flush());
    // A plan whose nodes never check (a function scan streamed as it is) is stopped here.
    if (sent % kRowsPerInterruptCheck == 0) WALREP_RETURN_IF_ERROR(CheckInterrupts());
  }
  if (from_execute && !portal.done) {
    conn_->Write(protocol::EmptyMessage('s'));  // PortalSuspended
    return Status::OK();
  }
  std::string tag =
      r.tag == "SELECT" || r.tag == "FETCH" ? fmt::format("{} {}", r.tag, sent) : r.tag;
  conn_->Write(protocol::CommandCompleteMessage(tag));
  return Status::OK();
}

Status Session::SendCopyOut(sql::ExecResult& r) {
  protocol::MessageBuilder h('H');
  h.Int8(0).Int16(static_cast<int16_t>(r.copy_columns));
  for (int i = 0; i < r.copy_columns; i++) h.Int16(0);
  conn_->Write(h.Finish());
  uint64_t n = 0;
  sql::Row line;
  while (true) {
    WALREP_ASSIGN_OR_RETURN(bool more, r.copy_out->Next(&line));
    if (!more) break;
    conn_->Write(protocol::MessageBuilder('d').Bytes(line[0].as_string()).Finish());
    n++;
    if (conn_->buffered() >= kStreamFlushBytes) WALREP_RETURN_IF_ERROR(conn_->Flush());
    if (n % kRowsPerInterruptCheck == 0) WALREP_RETURN_IF_ERROR(CheckInterrupts());
  }
  if (r.copy_header && n > 0) n--;
  conn_->Write(protocol::EmptyMessage('c'));
  conn_->Write(protocol::CommandCompleteMessage(fmt::format("COPY {}", n)));
  return Status::OK();
}

Status Session::HandleSimpleQuery(const std::string& body) {
  protocol::MessageReader r(body);
  std::string query = r.String();
  WALREP_RETURN_IF_ERROR(r.status());
  if (walsender_ && (replication_ || replication::IsReplicationCommand(query))) {
    SetState("active", &query);
    Status st = replication::IsReplicationCommand(query)
                    ? walsender_->Execute(query)
                    : Status::Sql("0A000",
                                  "cannot execute SQL commands in WAL sender for physical "
                                  "replication");
    if (!st.ok()) {
      if (st.severity() == Severity::kFatal || st.code() == Status::Code::kIOError) return st;
      WALREP_RETURN_IF_ERROR(ReportError(st));
    }
    FlushNotices();
    conn_->Write(protocol::ReadyForQueryMessage('I'));
    return Status::OK();
  }
  auto parsed = sql::ParseSql(query);
  if (!parsed.ok()) {
    WALREP_RETURN_IF_ERROR(ReportError(parsed.status()));
    return EndSimpleQuery();
  }
  if (parsed->empty()) {
    conn_->Write(protocol::EmptyMessage('I'));
    return EndSimpleQuery();
  }
  for (const auto& stmt : *parsed) {
    std::string text = sql::StatementText(*stmt);
    // Each statement of a multi-statement string gets its own timeout (PostgreSQL 13+).
    StartStatementTimer();
    SetState("active", &query);
    if (Hot().log_all_statements) WALREP_LOG("statement: {}", text);
    Status err;
    auto prepared = executor_->Prepare(stmt, {});
    if (!prepared.ok()) {
      err = prepared.TakeStatus();
    } else {
      auto res = executor_->Execute(**prepared, {});
      if (!res.ok()) {
        err = StatementError(res.TakeStatus());
      } else {
        FlushNotices();
        Portal p;
        p.result = std::move(*res);
        if (p.result.copy_in) {
          auto tag = RunCopyIn(*p.result.copy_in);
          if (!tag.ok()) {
            err = tag.TakeStatus();
            if (err.severity() == Severity::kFatal) return err;
          } else {
            conn_->Write(protocol::CommandCompleteMessage(*tag));
          }
        } else if (p.result.copy_columns >= 0) {
          err = SendCopyOut(p.result);
        } else {
          if (p.result.returns_rows) conn_->Write(RowDescription(p.result.columns, {}));
          err = SendRows(p, 0, false);
        }
        if (err.code() == Status::Code::kIOError) return err;  // the client is gone
      }
    }
    if (err.ok()) err = CheckInterrupts();
    if (!err.ok()) {
      if (err.severity() == Severity::kFatal) return err;
      WALREP_RETURN_IF_ERROR(ReportError(err));
      break;
    }
  }
  return EndSimpleQuery();
}

Status Session::EndSimpleQuery() {
  statement_deadline_ = 0;
  WALREP_RETURN_IF_ERROR(EndImplicitTransaction());
  // Portals (and their row streams) live until their transaction ends.
  if (executor_->txn_status() == sql::TxnStatus::kIdle) portals_.clear();
  FlushNotices();
  SendParameterChanges();
  conn_->Write(protocol::ReadyForQueryMessage(TransactionStatusByte()));
  return Status::OK();
}

Result<std::string> Session::RunCopyIn(sql::CopyIn& sink) {
  protocol::MessageBuilder g('G');
  g.Int8(0).Int16(static_cast<int16_t>(sink.columns()));
  for (int i = 0; i < sink.columns(); i++) g.Int16(0);
  conn_->Write(g.Finish());
  WALREP_RETURN_IF_ERROR(conn_->Flush());
  while (true) {
    auto msg = conn_->ReadMessage(MessageLimit);
    if (!msg.ok()) {
      Status st = msg.TakeStatus();
      if (st.code() == Status::Code::kShutdown) {
        if (backend_->terminate_requested.load()) {
          return Fatal("57P01", "terminating connection due to administrator command");
        }
        if (backend_->cancel_requested.exchange(false)) {
          return Status::Sql("57014", "canceling statement due to user request");
        }
        continue;
      }
      if (st.code() == Status::Code::kProtocolViolation) return Fatal("08P01", st.message());
      return st;
    }
    auto& [type, body] = *msg;
    switch (type) {
      case 'd':
        WALREP_RETURN_IF_ERROR(sink.Feed(body));
        break;
      case 'c': {
        WALREP_ASSIGN_OR_RETURN(uint64_t n, sink.Finish());
        return fmt::format("COPY {}", n);
      }
      case 'f': {
        protocol::MessageReader r(body);
        return Status::Sql("57014", "COPY from stdin failed: " + r.String());
      }
      case 'H':
      case 'S':
        break;  // ignored during COPY, as in PostgreSQL
      default:
        return Fatal("08P01", fmt::format("unexpected message type 0x{:02X} during COPY from stdin",
                                          static_cast<int>(static_cast<uint8_t>(type))))
            .WithDetail("terminating connection because protocol synchronization was lost");
    }
  }
}

Status Session::HandleParse(const std::string& body) {
  protocol::MessageReader r(body);
  std::string name = r.String();
  std::string query = r.String();
  int16_t n = r.Int16();
  std::vector<int32_t> types;
  for (int i = 0; i < n && r.ok(); i++) types.push_back(r.Int32());
  WALREP_RETURN_IF_ERROR(r.status());
  SetState("active", &query);
  if (!name.empty() && prepared_.count(name)) {
    return Status::Sql("42P05", fmt::format("prepared statement \"{}\" already exists", name));
  }
  WALREP_ASSIGN_OR_RETURN(auto parsed, sql::ParseSql(query));
  if (parsed.size() > 1) {
    return Status::Sql("42601", "cannot insert multiple commands into a prepared statement");
  }
  std::shared_ptr<sql::ParsedStatement> stmt;
  if (parsed.empty()) {
    // An empty query: remember it so Execute answers EmptyQueryResponse.
    prepared_[name] = Prepared{nullptr, nullptr};
    conn_->Write(protocol::EmptyMessage('1'));
    return Status::OK();
  }
  stmt = parsed[0];
  WALREP_ASSIGN_OR_RETURN(auto prep, executor_->Prepare(stmt, types));
  prepared_[name] = Prepared{stmt, prep};
  conn_->Write(protocol::EmptyMessage('1'));
  return Status::OK();
}

Status Session::HandleBind(const std::string& body) {
  protocol::MessageReader r(body);
  std::string portal_name = r.String();
  std::string stmt_name = r.String();
  int16_t nfmt = r.Int16();
  std::vector<int16_t> formats;
  for (int i = 0; i < nfmt && r.ok(); i++) formats.push_back(r.Int16());
  int16_t nparams = r.Int16();
  std::vector<std::optional<std::string>> raw;
  for (int i = 0; i < nparams && r.ok(); i++) {
    int32_t len = r.Int32();
    if (len == -1) {
      raw.emplace_back(std::nullopt);
    } else if (len < 0) {
      return Status::ProtocolViolation("invalid parameter length in Bind message");
    } else {
      raw.emplace_back(std::string(r.Bytes(static_cast<size_t>(len))));
    }
  }
  int16_t nres = r.Int16();
  std::vector<int16_t> result_formats;
  for (int i = 0; i < nres && r.ok(); i++) result_formats.push_back(r.Int16());
  WALREP_RETURN_IF_ERROR(r.status());
  auto it = prepared_.find(stmt_name);
  if (it == prepared_.end()) {
    if (stmt_name.empty()) return Status::Sql("26000", "unnamed prepared statement does not exist");
    return Status::Sql("26000", fmt::format("prepared statement \"{}\" does not exist", stmt_name));
  }
  Portal portal;
  portal.parsed = it->second.parsed;
  portal.stmt = it->second.stmt;
  portal.result_formats = result_formats;
  size_t want = portal.stmt ? portal.stmt->param_types().size() : 0;
  if (raw.size() != want) {
    return Status::ProtocolViolation(fmt::format(
        "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
        raw.size(), stmt_name, want));
  }
  if (nfmt > 1 && static_cast<size_t>(nfmt) != raw.size()) {
    return Status::ProtocolViolation(
        fmt::format("bind message has {} parameter formats but {} parameters", nfmt, raw.size()));
  }
  const sql::FormatOptions& fo = executor_->format_options();
  for (size_t i = 0; i < raw.size(); i++) {
    int32_t type = portal.stmt->param_types()[i];
    int16_t f = formats.empty() ? 0 : formats.size() == 1 ? formats[0] : formats[i];
    if (!raw[i]) {
      portal.params.push_back(sql::Value::Null(type));
      continue;
    }
    auto v = f == 1 ? sql::FromBinary(type, *raw[i]) : sql::FromText(type, *raw[i], fo);
    if (!v.ok()) return v.TakeStatus();
    portal.params.push_back(std::move(*v));
  }
  if (!portal_name.empty() && portals_.count(portal_name)) {
    return Status::Sql("42P03", fmt::format("cursor \"{}\" already exists", portal_name));
  }
  portals_[portal_name] = std::move(portal);
  conn_->Write(protocol::EmptyMessage('2'));
  return Status::OK();
}

Status Session::HandleDescribe(const std::string& body) {
  protocol::MessageReader r(body);
  uint8_t kind = r.Int8();
  std::string name = r.String();
  WALREP_RETURN_IF_ERROR(r.status());
  if (kind == 'S') {
    auto it = prepared_.find(name);
    if (it == prepared_.end()) {
      if (name.empty()) return Status::Sql("26000", "unnamed prepared statement does not exist");
      return Status::Sql("26000", fmt::format("prepared statement \"{}\" does not exist", name));
    }
    protocol::MessageBuilder b('t');
    const auto* st = it->second.stmt.get();
    b.Int16(static_cast<int16_t>(st ? st->param_types().size() : 0));
    if (st) {
      for (int32_t t : st->param_types()) b.Int32(t);
    }
    conn_->Write(b.Finish());
    if (st && st->returns_rows()) {
      conn_->Write(RowDescription(st->columns(), {}));
    } else {
      conn_->Write(protocol::EmptyMessage('n'));
    }
    return Status::OK();
  }
  if (kind == 'P') {
    auto it = portals_.find(name);
    if (it == portals_.end()) {
      return Status::Sql("34000", fmt::format("portal \"{}\" does not exist", name));
    }
    const auto* st = it->second.stmt.get();
    if (st && st->returns_rows()) {
      conn_->Write(RowDescription(st->columns(), it->second.result_formats));
    } else {
      conn_->Write(protocol::EmptyMessage('n'));
    }
    return Status::OK();
  }
  return Status::ProtocolViolation(
      fmt::format("invalid DESCRIBE message subtype {}", static_cast<int>(kind)));
}

Status Session::HandleExecute(const std::string& body) {
  protocol::MessageReader r(body);
  std::string name = r.String();
  int32_t max_rows = r.Int32();
  WALREP_RETURN_IF_ERROR(r.status());
  auto it = portals_.find(name);
  if (it == portals_.end()) {
    return Status::Sql("34000", fmt::format("portal \"{}\" does not exist", name));
  }
  Portal& portal = it->second;
  if (!portal.stmt) {
    conn_->Write(protocol::EmptyMessage('I'));
    return Status::OK();
  }
  if (!portal.executed) {
    std::string text = portal.parsed ? sql::StatementText(*portal.parsed) : "";
    StartStatementTimer();
    SetState("active", &text);
    if (Hot().log_all_statements) WALREP_LOG("execute: {}", text);
    auto res = executor_->Execute(*portal.stmt, portal.params);
    if (!res.ok()) res = StatementError(res.TakeStatus());
    if (!res.ok()) {
      statement_deadline_ = 0;
      return res.TakeStatus();
    }
    portal.result = std::move(*res);
    portal.executed = true;
    FlushNotices();
  } else if (portal.done && portal.result.returns_rows) {
    conn_->Write(protocol::CommandCompleteMessage("SELECT 0"));
    return Status::OK();
  } else {
    StartStatementTimer();  // fetching more rows of a suspended portal is a statement too
  }
  Status st = portal.result.copy_columns >= 0 ? SendCopyOut(portal.result)
                                              : SendRows(portal, max_rows, true);
  statement_deadline_ = 0;
  return st;
}

Status Session::HandleClose(const std::string& body) {
  protocol::MessageReader r(body);
  uint8_t kind = r.Int8();
  std::string name = r.String();
  WALREP_RETURN_IF_ERROR(r.status());
  if (kind == 'S') {
    prepared_.erase(name);
  } else if (kind == 'P') {
    portals_.erase(name);
  } else {
    return Status::ProtocolViolation(
        fmt::format("invalid CLOSE message subtype {}", static_cast<int>(kind)));
  }
  conn_->Write(protocol::EmptyMessage('3'));
  return Status::OK();
}

Status Session::EndImplicitTransaction() {
  Status st = executor_->EndImplicitTransaction();
  if (st.ok() || st.severity() != Severity::kFatal) return Status::OK();
  // The commit could not be acknowledged (lossless synchronous replication, connection
  // terminated): nothing buffered for this statement may suggest it succeeded.
  conn_->DiscardOutput();
  return st;
}

Status Session::HandleSync() {
  skip_until_sync_ = false;
  WALREP_RETURN_IF_ERROR(EndImplicitTransaction());
  // Portals live until their transaction ends.
  if (executor_->txn_status() == sql::TxnStatus::kIdle) portals_.clear();
  FlushNotices();
  SendParameterChanges();
  conn_->Write(protocol::ReadyForQueryMessage(TransactionStatusByte()));
  return Status::OK();
}

const Session::HotSettings& Session::Hot() {
  if (hot_.version != settings_->version()) {
    hot_.statement_timeout_ms = settings_->GetInt("statement_timeout");
    hot_.log_all_statements = settings_->Get("log_statement").value_or("") == "all";
    hot_.version = settings_->version();
  }
  return hot_;
}

void Session::StartStatementTimer() {
  int64_t ms = Hot().statement_timeout_ms;
  statement_deadline_ = ms > 0 ? NowTimestamp() + ms * 1000 : 0;
}

Status Session::ReloadConfig() {
  Status st = server_->Reload();
  RefreshSettings();
  return st;
}

Result<bool> Session::SignalBackend(int32_t pid, bool terminate) {
  std::string warning;
  WALREP_ASSIGN_OR_RETURN(bool ok,
                          server_->SignalBackend(pid, terminate, user_, superuser_, &warning));
  if (!warning.empty()) AddNotice("WARNING", "01000", warning);
  return ok;
}

Status Session::AlterSystem(const std::string& name, const std::optional<std::string>& value) {
  return server_->AlterSystem(name, value);
}

Status Session::RequestCheckpoint() { return server_->RequestCheckpoint(); }

Status Session::WaitForSyncRep(Lsn commit_end) {
  std::string level = settings_->Get("synchronous_commit").value_or("on");
  replication::SyncRep::Level wait_level;
  if (level == "remote_write") {
    wait_level = replication::SyncRep::kWrite;
  } else if (level == "remote_apply") {
    wait_level = replication::SyncRep::kApply;
  } else if (level == "on" || server_->lossless()) {
    wait_level = replication::SyncRep::kFlush;  // lossless: every commit waits to be visible
  } else {
    return Status::OK();  // local: the local flush was enough
  }
  bool lossless = server_->lossless();
  replication::SyncRep& sr = server_->sync_rep();
  if (!sr.active() || sr.position(wait_level) >= commit_end) return Status::OK();
  {
    MutexLock l(&backend_->mu);
    backend_->wait_event_type = "IPC";
    backend_->wait_event = "SyncRep";
  }
  const char* detail =
      "The transaction has already committed locally, but might not have been replicated to "
      "the standby.";
  bool terminated = false;
  Status st = sr.Wait(commit_end, wait_level, [&]() -> Status {
    backend_->ClearInterrupt();
    if (backend_->terminate_requested.load(std::memory_order_acquire)) {
      terminated = true;
      return Status::Shutdown("terminate");
    }
    if (backend_->cancel_requested.exchange(false)) {
      if (!lossless) return Status::Shutdown("cancel");
      // Lossless: the commit must not be reported before the standbys have it.
      AddNotice("NOTICE", "00000",
                "canceling wait for synchronous replication requested, but cancelation is not "
                "allowed",
                "The transaction has already committed locally and becomes visible once the "
                "synchronous standbys confirm it (walrep.sync_commit_lossless is on).");
      FlushNotices();
      conn_->Flush().IgnoreError();  // the client may be gone; the wait goes on regardless
    }
    return Status::OK();
  });
  {
    MutexLock l(&backend_->mu);
    backend_->wait_event_type.clear();
    backend_->wait_event.clear();
  }
  // Lossless: the commit becomes visible before COMMIT returns (the walsender that woke us may
  // not have published it yet).
  if (st.ok() && lossless) server_->database()->engine->txm().PublishDurable();
  if (st.ok()) return st;
  if (terminated && lossless) {
    // No success is reported for a commit the standbys have not confirmed.
    return Fatal("57P01", "terminating connection due to administrator command");
  }
  if (terminated) {
    AddNotice("WARNING", "01000",
              "canceling the wait for synchronous replication and terminating connection due to "
              "administrator command",
              detail);
    return Status::OK();  // the query loop ends the session before reading more
  }
  AddNotice("WARNING", "01000", "canceling wait for synchronous replication due to user request",
            detail);
  return Status::OK();
}

Status Session::CheckInterrupts() {
  if (backend_->terminate_requested.load(std::memory_order_acquire)) {
    return Fatal("57P01", "terminating connection due to administrator command");
  }
  if (auto reason = static_cast<RecoveryConflict>(backend_->recovery_conflict.exchange(0));
      reason != RecoveryConflict::kNone) {
    return Status::Sql("40001", "canceling statement due to conflict with recovery")
        .WithDetail(RecoveryConflictDetail(reason));
  }
  if (backend_->cancel_requested.exchange(false)) {
    return Status::Sql("57014", "canceling statement due to user request");
  }
  TimestampTz now = NowTimestamp();
  if (statement_deadline_ != 0 && now >= statement_deadline_) {
    return Status::Sql("57014", "canceling statement due to statement timeout");
  }
  // A long statement notices a client that went away (PostgreSQL's
  // client_connection_check_interval, here always on, every 100 ms): nobody will read its result.
  if (now - last_client_check_ >= kClientCheckIntervalUs) {
    last_client_check_ = now;
    pollfd p{conn_->fd(), POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
      return Fatal("08006", "connection to client lost");
    }
  }
  return Status::OK();
}

void Session::SetWaitEvent(const std::string& type, const std::string& event) {
  MutexLock l(&backend_->mu);
  backend_->wait_event_type = type;
  backend_->wait_event = event;
}

void Session::InterruptibleSleep(int64_t micros) {
  if (statement_deadline_ != 0) {
    micros = std::min<int64_t>(micros, std::max<int64_t>(0, statement_deadline_ - NowTimestamp()));
  }
  pollfd p{backend_->interrupt_fd, POLLIN, 0};
  int ms = static_cast<int>(std::min<int64_t>((micros + 999) / 1000, 1000000));
  if (::poll(&p, 1, ms) > 0 && (p.revents & POLLIN)) backend_->ClearInterrupt();
}

}  // namespace walrep::server
