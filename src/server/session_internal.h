// walrep: one client session — the thread body that speaks protocol v3 to a client.
//
// Lifecycle: untyped packets (SSLRequest / GSSENCRequest / CancelRequest / StartupMessage),
// pg_hba.conf, authentication, ParameterStatus + BackendKeyData + ReadyForQuery, then the
// simple and extended query loop until Terminate, EOF, a FATAL error or a terminate request.
// The Session implements sql::SessionContext for the executor.
// Thread safety: a Session is owned by its thread; other threads reach it only through its
// BackendInfo (flags plus the interrupt eventfd).
#pragma once

#include <sys/socket.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "walrep/protocol/connection.h"
#include "walrep/replication/walsender.h"
#include "walrep/server/server.h"
#include "walrep/sql/executor.h"

namespace walrep::server {

class Session : public sql::SessionContext {
 public:
  Session(Server* server, int fd, bool local, const sockaddr_storage& peer);
  ~Session() override;
  void Run();

  // sql::SessionContext
  SessionSettings& settings() override { return *settings_; }
  std::string session_user() const override { return user_; }
  std::string current_user() const override { return user_; }
  std::string database() const override { return database_; }
  bool is_superuser() const override { return superuser_; }
  int32_t backend_pid() const override { return backend_->pid; }
  TimestampTz postmaster_start_time() const override { return server_->start_time(); }
  bool in_recovery() const override { return server_->in_recovery(); }
  std::string temp_file_dir() const override { return server_->TempFileDir(); }
  io::FileSystem* file_system() override { return server_->fs(); }
  void CountTempFile(uint64_t bytes) override { server_->CountTempFile(bytes); }
  const sql::Executor* executor() const override { return executor_.get(); }
  sql::RoleManager& roles() override { return server_->roles(); }
  Status ReloadConfig() override;
  Result<bool> SignalBackend(int32_t pid, bool terminate) override;
  Status AlterSystem(const std::string& name, const std::optional<std::string>& value) override;
  Status RequestCheckpoint() override;
  Status CheckInterrupts() override;
  Status WaitForSyncRep(Lsn commit_end) override;
  void InterruptibleSleep(int64_t micros) override;
  void SetWaitEvent(const std::string& type, const std::string& event) override;
  void AddNotice(const std::string& severity, const std::string& sqlstate,
                 const std::string& message, const std::string& detail = {}) override;

 private:
  struct Portal {
    std::shared_ptr<sql::PreparedStatement> stmt;
    std::shared_ptr<sql::ParsedStatement> parsed;
    std::vector<sql::Value> params;
    std::vector<int16_t> result_formats;
    bool executed = false;
    sql::ExecResult result;
    bool done = false;  // every row was sent
  };
  struct Prepared {
    std::shared_ptr<sql::ParsedStatement> parsed;
    std::shared_ptr<sql::PreparedStatement> stmt;
  };

  Status Startup();  // up to and including ReadyForQuery
  Status Authenticate(const protocol::HbaLine& line);
  Status QueryLoop();
  Status HandleSimpleQuery(const std::string& body);
  // The end of a simple Query message: the implicit transaction ends, then ReadyForQuery.
  Status EndSimpleQuery();
  // COPY FROM STDIN: CopyInResponse, then CopyData until CopyDone or CopyFail.
  Result<std::string> RunCopyIn(sql::CopyIn& sink);
  Status HandleParse(const std::string& body);
  Status HandleBind(const std::string& body);
  Status HandleDescribe(const std::string& body);
  Status HandleExecute(const std::string& body);
  Status HandleClose(const std::string& body);
  Status HandleSync();
  // Commits an implicit transaction; a FATAL commit failure discards the statement's output.
  Status EndImplicitTransaction();
  // Sends one statement's rows (all, or up to max_rows) and its completion.
  Status SendRows(Portal& portal, int32_t max_rows, bool from_execute);
  // COPY TO STDOUT: CopyOutResponse, a CopyData per line as the scan produces it, CopyDone.
  Status SendCopyOut(sql::ExecResult& r);
  static constexpr size_t kStreamFlushBytes = 64 * 1024;
  // Rows sent between two checks for cancel, statement_timeout and termination while a result
  // streams to the client.
  static constexpr size_t kRowsPerInterruptCheck = 1024;
  std::string RowDescription(const std::vector<sql::ColumnDesc>& cols,
                             const std::vector<int16_t>& formats);
  // Sends an error; FATAL errors end the session (returns the error then).
  Status ReportError(const Status& st);
  void FlushNotices();
  void SendParameterChanges();
  char TransactionStatusByte() const;
  void SetState(const std::string& state, const std::string* query);
  Result<std::string> ReadPassword();  // reads a 'p' message
  void RefreshSettings();

  Server* const server_;
  std::unique_ptr<protocol::Connection> conn_;
  const bool local_;
  const sockaddr_storage peer_;
  std::shared_ptr<BackendInfo> backend_;
  std::unique_ptr<SessionSettings> settings_;
  std::shared_ptr<const ServerSettings> server_settings_;
  std::unique_ptr<sql::Executor> executor_;

  std::string user_, database_, application_name_;
  bool superuser_ = false;
  bool replication_ = false;           // physical walsender: replication commands only
  bool replication_database_ = false;  // replication=database: both commands and SQL
  bool registered_sender_ = false;
  // Replication connections (replication=true or database) run their commands here.
  std::unique_ptr<replication::WalSender> walsender_;
  bool skip_until_sync_ = false;
  int64_t statement_deadline_ = 0;  // TimestampTz; 0 = none
  int64_t last_client_check_ = 0;   // TimestampTz of the last check for a closed socket
  static constexpr int64_t kClientCheckIntervalUs = 100 * 1000;
  uint64_t settings_generation_ = 0;  // of server_settings_
  // Settings read on every statement, re-read only when the session's settings change.
  struct HotSettings {
    uint64_t version = ~0ull;
    int64_t statement_timeout_ms = 0;
    bool log_all_statements = false;
  };
  const HotSettings& Hot();
  HotSettings hot_;
  void StartStatementTimer();
  std::map<std::string, Prepared> prepared_;
  std::map<std::string, Portal> portals_;
  std::vector<std::string> pending_notices_;  // encoded NoticeResponse messages
};

}  // namespace walrep::server
