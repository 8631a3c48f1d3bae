// walrep: what the SQL executor needs from the session that runs it.
//
// The server layer implements SessionContext for each client session; sql never includes the
// server. RoleManager is the role store (CREATE/ALTER/DROP ROLE).
// Thread safety: a SessionContext is used only by its session's thread; RoleManager is
// thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "walrep/access/heap.h"
#include "walrep/common/guc.h"
#include "walrep/common/lsn.h"
#include "walrep/common/status.h"
#include "walrep/common/time.h"
#include "walrep/io/file_system.h"

namespace walrep::sql {

struct RoleOptions {
  std::optional<bool> login, superuser, replication, createdb, createrole, inherit;
  bool password_given = false;
  std::optional<std::string> password;  // nullopt with password_given = PASSWORD NULL
  std::optional<int> connection_limit;
};

struct RoleInfo {
  uint32_t oid = 0;  // pg_authid.oid (10 for the superuser created by init)
  std::string name;
  bool login = false, superuser = false, replication = false;
  bool createdb = false, createrole = false, inherit = true;
  int connection_limit = -1;
  std::string password;  // stored verifier; empty = none
  // ALTER ROLE ... SET: session defaults applied at login (canonical name -> value).
  std::map<std::string, std::string> settings;
};

class RoleManager {
 public:
  virtual ~RoleManager() = default;
  // Changes are part of `tx` (PostgreSQL's roles are transactional too). `encryption` is
  // password_encryption; a given password that is already a verifier is kept.
  virtual Status CreateRole(access::TxnContext& tx, const std::string& name,
                            const RoleOptions& opts, const std::string& encryption) = 0;
  virtual Status AlterRole(access::TxnContext& tx, const std::string& name, const RoleOptions& opts,
                           const std::string& encryption) = 0;
  virtual Status DropRole(access::TxnContext& tx, const std::string& name) = 0;
  // ALTER ROLE name SET setting = value (value) / RESET setting (nullopt) / RESET ALL ("").
  virtual Status SetRoleSetting(access::TxnContext& tx, const std::string& role,
                                const std::string& setting,
                                const std::optional<std::string>& value) = 0;
  // The role as `tx` sees it.
  virtual Result<std::optional<RoleInfo>> Find(access::TxnContext& tx, const std::string& name) = 0;
  // The role as last committed (logins, views).
  virtual std::optional<RoleInfo> Find(const std::string& name) const = 0;
  // Every role as `tx` sees them (pg_authid), in oid order.
  virtual Result<std::vector<RoleInfo>> List(access::TxnContext& tx) = 0;
};

class SessionContext {
 public:
  virtual ~SessionContext() = default;
  virtual SessionSettings& settings() = 0;
  virtual std::string session_user() const = 0;
  virtual std::string current_user() const = 0;
  virtual std::string database() const = 0;
  virtual bool is_superuser() const = 0;
  virtual int32_t backend_pid() const = 0;
  virtual TimestampTz postmaster_start_time() const = 0;
  virtual bool in_recovery() const = 0;
  virtual RoleManager& roles() = 0;
  // SIGHUP-equivalent: re-read configuration files.
  virtual Status ReloadConfig() = 0;
  // pg_cancel_backend / pg_terminate_backend; false when no such backend (with a WARNING).
  virtual Result<bool> SignalBackend(int32_t pid, bool terminate) = 0;
  // ALTER SYSTEM SET (value) / RESET (nullopt); `name` is canonical and the value validated.
  virtual Status AlterSystem(const std::string& name, const std::optional<std::string>& value) = 0;
  // CHECKPOINT: an immediate checkpoint, done before returning.
  virtual Status RequestCheckpoint() = 0;
  // Returns a 57014 / 57P01 error when the statement was cancelled or the session terminated.
  virtual Status CheckInterrupts() = 0;
  // pg_stat_activity.wait_event_type / wait_event of this session ("" = not waiting).
  virtual void SetWaitEvent(const std::string& type, const std::string& event) {}
  // Sleeps up to `micros`, waking early on an interrupt.
  virtual void InterruptibleSleep(int64_t micros) = 0;
  // After a commit whose record ends at `commit_end` was flushed locally: waits for the
  // synchronous standbys that synchronous_commit asks for. Warnings (a cancelled wait) go
  // through AddNotice; an error means the session must end.
  virtual Status WaitForSyncRep(Lsn commit_end) { return Status::OK(); }
  // Temporary files of sorts and hashes that outgrow work_mem: the directory they go to
  // (base/pgsql_tmp of the data directory; created on first use) and the file system.
  virtual std::string temp_file_dir() const { return "/tmp"; }
  virtual io::FileSystem* file_system() { return io::DefaultFileSystem(); }
  // A temporary file of `bytes` was removed (pg_stat_database.temp_files / temp_bytes).
  virtual void CountTempFile(uint64_t bytes) {}
  // The session's executor (pg_backend_memory_contexts); null outside a session.
  virtual const class Executor* executor() const { return nullptr; }
  // A NOTICE or WARNING for the client, sent before the statement's result.
  virtual void AddNotice(const std::string& severity, const std::string& sqlstate,
                         const std::string& message, const std::string& detail = {}) = 0;
};

}  // namespace walrep::sql
