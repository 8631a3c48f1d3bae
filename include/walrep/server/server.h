// walrep: the Server object — owns every thread and all shared state of one walrepd.
//
// Start() reads the configuration (postgresql.conf with its includes, postgresql.auto.conf,
// then -c options), pg_hba.conf and the roles, writes postmaster.pid, opens the TCP and Unix
// sockets and starts the listener thread. The listener starts one session thread per client.
// Signals reach the server through Reload() and Shutdown() (walrepd's signal thread calls them):
//   SIGHUP  -> Reload()                  re-read configuration and pg_hba.conf
//   SIGTERM -> Shutdown(kSmart)          refuse new sessions, wait for the current ones
//   SIGINT  -> Shutdown(kFast)           end every session (57P01), then stop
//   SIGQUIT -> Shutdown(kImmediate)      stop at once
// There is no global mutable state: several Servers can run in one process (tests do).
// Thread safety: every public method is thread-safe.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "walrep/access/engine.h"
#include "walrep/catalog/catalog.h"
#include "walrep/common/guc.h"
#include "walrep/common/mutex.h"
#include "walrep/common/time.h"
#include "walrep/io/file_system.h"
#include "walrep/protocol/hba.h"
#include "walrep/replication/archiver.h"
#include "walrep/replication/slots.h"
#include "walrep/replication/startup.h"
#include "walrep/replication/walreceiver.h"
#include "walrep/replication/walsender.h"
#include "walrep/server/pid_file.h"
#include "walrep/server/roles.h"
#include "walrep/sql/executor.h"
#include "walrep/sql/registry.h"
#include "walrep/storage/control_file.h"
#include "walrep/storage/xlog.h"

namespace walrep::server {

class Listener;

struct ServerOptions {
  std::string data_dir;
  std::vector<GucAssignment> argv;  // from -p and -c
  io::FileSystem* fs = nullptr;     // null: the real file system
};

enum class ShutdownMode { kNone, kSmart, kFast, kImmediate };

// Why replay cancels a standby session (PostgreSQL's PROCSIG_RECOVERY_CONFLICT_*).
enum class RecoveryConflict : int { kNone = 0, kLock, kSnapshot };
// PostgreSQL's DETAIL for each reason.
const char* RecoveryConflictDetail(RecoveryConflict reason);

// What other sessions may see of one backend (pg_stat_activity, cancel, terminate).
struct BackendInfo {
  int32_t pid = 0;         // const after registration: the session thread's id
  int32_t cancel_key = 0;  // const after registration
  int interrupt_fd = -1;   // eventfd, const; written by anyone who wants the session's attention
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> terminate_requested{false};
  // Hot standby: replay needs this session's lock or snapshot gone (a RecoveryConflict).
  std::atomic<int> recovery_conflict{0};

  mutable Mutex mu;
  std::string database GUARDED_BY(mu);
  std::string user GUARDED_BY(mu);
  std::string application_name GUARDED_BY(mu);
  std::string client_addr GUARDED_BY(mu);  // empty for Unix sockets
  int client_port GUARDED_BY(mu) = -1;
  std::string backend_type GUARDED_BY(mu) = "client backend";
  std::string state GUARDED_BY(mu);
  std::string query GUARDED_BY(mu);
  std::string wait_event_type GUARDED_BY(mu);
  std::string wait_event GUARDED_BY(mu);
  uint32_t backend_xid GUARDED_BY(mu) = 0;
  uint32_t backend_xmin GUARDED_BY(mu) = 0;
  TimestampTz backend_start GUARDED_BY(mu) = 0;
  TimestampTz xact_start GUARDED_BY(mu) = 0;
  TimestampTz query_start GUARDED_BY(mu) = 0;
  TimestampTz state_change GUARDED_BY(mu) = 0;
  bool superuser GUARDED_BY(mu) = false;
  bool authenticated GUARDED_BY(mu) = false;

  // Wakes the session's reads and sleeps. The eventfd is only a wake-up: whoever a poll wakes
  // drains it (protocol::Connection, InterruptibleSleep), and checks read the atomic flags
  // above, so checking for interrupts on the statement path costs no system call.
  void Interrupt();
  void ClearInterrupt();
};

class Server {
 public:
  explicit Server(ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status Start();
  // Blocks until a shutdown has finished.
  void WaitForShutdown();
  void Shutdown(ShutdownMode mode);
  ShutdownMode shutdown_mode() const { return shutdown_.load(std::memory_order_acquire); }
  // True until crash recovery has finished; sessions are refused with 57P03 meanwhile.
  bool starting_up() const { return starting_up_.load(std::memory_order_acquire); }
  // Why a session is refused while starting_up(): 57P03 with PostgreSQL's texts.
  Status NotAcceptingConnections() const;
  // A standby (standby.signal) until it is promoted; only read-only queries run meanwhile.
  bool in_recovery() const { return standby_.load(std::memory_order_acquire); }
  // pg_promote(), walrepctl promote (SIGUSR1 + the "promote" file), promote_trigger_file: the
  // startup thread ends recovery on a new timeline and the server opens for writes.
  // 55000 "recovery is not in progress" on a primary.
  Status RequestPromote();
  // walrepd's SIGUSR1: a promotion when DATADIR/promote exists (it is removed), as PostgreSQL's
  // postmaster does for pg_ctl promote.
  void CheckPromoteSignal();
  bool lossless() const { return lossless_.load(std::memory_order_acquire); }
  // Replication connections are accepted while a lossless restart waits for its standbys.
  bool accepting_replication() const { return awaiting_sync_.load(); }
  // CHECKPOINT: a checkpoint on a primary, a restartpoint on a standby.
  Status RequestCheckpoint();
  storage::XLog& xlog() { return engine_->xlog(); }
  sql::Database* database() { return &db_; }
  // Re-reads configuration files and pg_hba.conf; logs what could not change.
  Status Reload();
  // ALTER SYSTEM: rewrites postgresql.auto.conf durably. name "" with no value = RESET ALL.
  Status AlterSystem(const std::string& name, const std::optional<std::string>& value);

  std::shared_ptr<const ServerSettings> settings() const EXCLUDES(mu_);
  // Increases at every reload; sessions compare it before taking mu_.
  uint64_t settings_generation() const {
    return settings_generation_.load(std::memory_order_acquire);
  }
  std::shared_ptr<const protocol::HbaConfig> hba() const EXCLUDES(mu_);
  std::shared_ptr<SSL_CTX> ssl_ctx() const EXCLUDES(mu_);
  RoleStore& roles() { return *roles_; }
  const sql::Registry& registry() const { return registry_; }
  TimestampTz start_time() const { return start_time_; }
  const std::string& data_dir() const { return opts_.data_dir; }
  int port() const { return port_; }
  // Seed for SCRAM's mock exchange (the control file's mock_authentication_nonce).
  const std::string& mock_nonce() const { return mock_nonce_; }

  // Session bookkeeping. Register fails with 53300 when max_connections is reached.
  Result<std::shared_ptr<BackendInfo>> RegisterBackend() EXCLUDES(mu_);
  void UnregisterBackend(int32_t pid) EXCLUDES(mu_);
  std::vector<std::shared_ptr<BackendInfo>> Backends() const EXCLUDES(mu_);
  size_t BackendCount() const EXCLUDES(mu_);
  // CancelRequest: true when pid and key matched.
  bool Cancel(int32_t pid, int32_t key) EXCLUDES(mu_);
  // pg_cancel_backend / pg_terminate_backend on behalf of `requester`.
  Result<bool> SignalBackend(int32_t pid, bool terminate, const std::string& requester,
                             bool requester_superuser, std::string* warning) EXCLUDES(mu_);

  replication::WalSenderRegistry& wal_senders() { return wal_senders_; }
  replication::SyncRep& sync_rep() { return sync_rep_; }
  // Recomputes the synchronous positions (a walsender came or went, the rule changed).
  void RefreshSyncRep() EXCLUDES(sync_mu_);
  replication::ReplicationEnv* repl_env() { return &repl_env_; }
  replication::SlotManager& slots() { return *slots_; }

  // Called by the listener for each accepted socket; starts a session thread that runs
  // ServeConnection.
  void StartSession(int fd, bool local, const sockaddr_storage& peer);
  // Runs one client's session on `fd` on the calling thread until it ends (the fuzz harness
  // calls it on threads of its own, without a listener or a thread per connection).
  void ServeConnection(int fd, bool local, const sockaddr_storage& peer) EXCLUDES(mu_);

  // Temporary files of sorts and hashes: base/pgsql_tmp, emptied at startup (files left by a
  // crash), and what pg_stat_database counts of them.
  std::string TempFileDir() const { return opts_.data_dir + "/base/pgsql_tmp"; }
  void RemoveTempFiles();
  void CountTempFile(uint64_t bytes) {
    temp_files_++;
    temp_bytes_ += static_cast<int64_t>(bytes);
  }
  io::FileSystem* fs() const { return fs_; }

 private:
  // One session on `fd`, counted in running_sessions_ by the caller; uncounts it at the end.
  void RunSession(int fd, bool local, const sockaddr_storage& peer) EXCLUDES(mu_);
  Status LoadConfig(std::shared_ptr<const ServerSettings>* out) const;
  Status LoadHba(std::shared_ptr<const protocol::HbaConfig>* out) const;
  Status LoadSsl(const ServerSettings& s, std::shared_ptr<SSL_CTX>* out) const;
  void RegisterViews();
  void RegisterWalFunctions();
  // Creates the walreceiver and startup threads of a standby (started by Start()).
  void StartStandby(storage::RecoveryResult& rr);
  // What a primary runs beside its sessions (publish limit, checkpointer, autovacuum); at
  // Start() or at the end of a promotion.
  void StartPrimary(bool checkpoint_now);
  // The startup thread's end of a promotion: recovery ends on a new timeline.
  Status FinishPromotion();
  // Replaces the server's settings with a copy whose internal `name` is `value` (sessions
  // report the change at their next ReadyForQuery).
  void SetInternalSetting(const std::string& name, const std::string& value) EXCLUDES(mu_);
  // Hot-standby snapshot conflict: waits up to max_standby_streaming_delay for standby
  // snapshots with xmin <= latest_removed to go, then cancels their queries (40001).
  void ResolveSnapshotConflict(TransactionId latest_removed);
  // How replay waits for a table lock that standby sessions hold (then cancels them).
  access::LockRequest RecoveryLockRequest(const access::LockTag& tag);
  // The delay replay grants conflicting queries for the WAL it is replaying now.
  int64_t MaxStandbyDelayMs();
  // Cancels the sessions `pids` for `reason`, counting each once per conflict in `counted`.
  void CancelForRecovery(const std::vector<int32_t>& pids, RecoveryConflict reason,
                         std::set<int32_t>* counted);
  void RegisterLocksView();
  // max_slot_wal_keep_size, wal_keep_size and max_wal_size, as set now.
  replication::WalKeepLimits WalKeepLimits() const;
  // walrep.auto_rewind: before a standby opens its data directory, a rewind from its upstream
  // when their histories forked (errors are logged; the standby then starts as it is).
  void AutoRewind(const ServerSettings& settings);
  // A path given to pg_ls_dir/pg_stat_file/pg_read_binary_file, inside the data directory.
  Result<std::string> DataDirPath(const std::string& path) const;
  std::atomic<int64_t> conflicts_snapshot_{0};          // pg_stat_database_conflicts.confl_snapshot
  std::atomic<int64_t> conflicts_lock_{0};              // pg_stat_database_conflicts.confl_lock
  std::atomic<int64_t> temp_files_{0}, temp_bytes_{0};  // pg_stat_database.temp_files/_bytes
  std::atomic<bool> startup_stopping_{false};
  Status RequireNotInRecovery(const char* fn);
  // The checkpointer: a checkpoint every checkpoint_timeout, or sooner when the WAL written
  // since the last REDO point nears max_wal_size. Waits on the WAL flush position (LsnWaiter).
  void CheckpointerLoop(bool checkpoint_now);
  void RegisterTableStatsView();
  void FinishShutdown();
  // After the shutdown checkpoint: walsenders send the rest of the WAL and end.
  void StopWalSenders() EXCLUDES(mu_);
  std::atomic<bool> senders_finishing_{false};
  std::string ConfigPath(const std::string& name) const;

  // Constant after construction / Start().
  const ServerOptions opts_;
  io::FileSystem* const fs_;
  sql::Registry registry_;
  std::unique_ptr<RoleStore> roles_;
  std::unique_ptr<PidFile> pid_file_;
  std::unique_ptr<Listener> listener_;
  TimestampTz start_time_ = 0;
  int port_ = 0;
  std::string mock_nonce_;
  std::unique_ptr<access::Engine> engine_;  // set once recovery is done
  std::unique_ptr<catalog::Catalog> catalog_;
  sql::Database db_;
  std::unique_ptr<replication::SlotManager> slots_;
  std::atomic<bool> standby_{false};  // set by Start(); cleared once by a promotion
  bool archive_recovery_ = false;     // recovery.signal without standby.signal (set by Start())
  std::atomic<bool> consistent_{false};
  std::unique_ptr<replication::Archiver> archiver_;  // archive_mode != off; before the engine
  // archive_timeout (the archiver's thread calls it): switches a segment holding WAL once it
  // has been the current one for archive_timeout.
  void CheckArchiveTimeout();
  std::atomic<XLogSegNo> archive_timeout_seg_{~0ull};
  std::atomic<TimestampTz> archive_timeout_since_{0};
  std::unique_ptr<replication::WalReceiver> receiver_;
  std::unique_ptr<storage::Recovery> recovery_;  // a standby's, continued by the startup thread
  std::unique_ptr<replication::Startup> startup_;
  replication::WalSenderRegistry wal_senders_;
  replication::SyncRep sync_rep_;
  Mutex sync_mu_;
  std::shared_ptr<const replication::SyncRule> sync_rule_ GUARDED_BY(sync_mu_) =
      std::make_shared<replication::SyncRule>();
  // Parses synchronous_standby_names (an invalid value is logged and counts as empty).
  void LoadSyncRule(const ServerSettings& s) EXCLUDES(sync_mu_);
  // walrep.sync_commit_lossless: commits become visible only once the synchronous standbys
  // confirmed them; after a crash, sessions wait until they confirmed the recovered WAL.
  std::atomic<bool> lossless_{false};
  std::atomic<bool> awaiting_sync_{false};  // crash restart in lossless mode, not yet confirmed
  std::thread sync_gate_;                   // waits for that confirmation, then opens
  void StartLosslessGate(Lsn end) EXCLUDES(sync_mu_);
  replication::ReplicationEnv repl_env_;  // filled by Start()
  std::atomic<bool> starting_up_{true};
  std::thread checkpointer_;
  std::atomic<bool> checkpointer_stop_{false};
  // Autovacuum (primary only): every autovacuum_naptime, VACUUM of each table whose dead row
  // versions exceed autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor * live rows.
  void AutovacuumLoop() EXCLUDES(autovacuum_mu_);
  Status AutovacuumOnce();
  std::thread autovacuum_;
  Mutex autovacuum_mu_;
  CondVar autovacuum_cv_{&autovacuum_mu_};
  bool autovacuum_stop_ GUARDED_BY(autovacuum_mu_) = false;

  std::atomic<ShutdownMode> shutdown_{ShutdownMode::kNone};
  std::atomic<uint64_t> settings_generation_{0};  // written under mu_ after settings_ changes

  mutable Mutex mu_;
  CondVar sessions_cv_{&mu_};  // signalled when a session ends or shutdown starts
  std::shared_ptr<const ServerSettings> settings_ GUARDED_BY(mu_);
  std::shared_ptr<const protocol::HbaConfig> hba_ GUARDED_BY(mu_);
  std::shared_ptr<SSL_CTX> ssl_ctx_ GUARDED_BY(mu_);
  std::map<int32_t, std::shared_ptr<BackendInfo>> backends_ GUARDED_BY(mu_);
  int running_sessions_ GUARDED_BY(mu_) = 0;  // threads started and not yet finished
  bool finished_ GUARDED_BY(mu_) = false;

  Mutex auto_conf_mu_;  // serialises ALTER SYSTEM writers
};

}  // namespace walrep::server
