// walrep: test support — temporary directories, free ports, running commands, and a Node
// fixture that runs a real walrepd process (modelled on PostgreSQL::Test::Cluster).
// Thread safety: none; each test owns its objects.
#pragma once

#include <libpq-fe.h>
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace walrep::testing {

// A directory removed at destruction (kept when WALREP_KEEP_TMP is set, for debugging).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 free now and reserved for this process by a lock file.
class PortLock {
 public:
  PortLock();
  ~PortLock();
  int port() const { return port_; }

 private:
  int port_ = 0;
  std::string lock_path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] (a path or a name on PATH) with a time limit; kills it when the limit passes.
CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_secs = 120,
                         const std::string& stdin_data = "",
                         const std::map<std::string, std::string>& env = {});

std::string WalrepBin(const std::string& name);      // build/bin/<name>
std::string ReadWholeFile(const std::string& path);  // "" when it cannot be read
std::string PgBin(const std::string& name);          // /usr/lib/postgresql/15/bin/<name>

// A PostgreSQL 15 server (Debian's packages), run as user postgres on a free port, for tests
// that compare walrep's output with PostgreSQL's. Stopped (immediate) at destruction.
class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  // initdb (-E UTF8 --locale=C, trust authentication) and pg_ctl start; fails the test on error.
  void Start();
  int port() const { return port_.port(); }
  std::string ConnStr() const;
  // Runs SQL through psql (ON_ERROR_STOP); the output, unaligned and tuples only.
  std::string SafePsql(const std::string& sql) const;

 private:
  PortLock port_;
  std::string dir_;
  bool started_ = false;
};

// A walrepd under test.
class Node {
 public:
  explicit Node(std::string name = "node");
  ~Node();  // stops the server (immediate) if still running

  // walrepctl init -D <dir> -U postgres plus `args`.
  void Init(const std::vector<std::string>& args = {});
  void AppendConf(const std::string& line, const std::string& file = "postgresql.conf");
  // This node's port, socket directory and listen address, appended to `file`.
  void AppendLocalConf(const std::string& file);
  void WriteFile(const std::string& relpath, const std::string& content);
  // A standby of `upstream`: PostgreSQL 15's pg_basebackup -X stream -R -c fast into this
  // node's directory (plus `args`), then this node's port and sockets, and
  // cluster_name = <name> (the walreceiver's application_name), in postgresql.auto.conf.
  void InitStandby(const Node& upstream, const std::vector<std::string>& args = {});
  // Starts walrepd directly and waits until it accepts connections.
  void Start(const std::vector<std::string>& extra_args = {});
  // Starts walrepd without waiting for it to accept connections.
  void StartNoWait(const std::vector<std::string>& extra_args = {});
  // The next starts run the server with its address space capped (setrlimit RLIMIT_AS).
  void SetAddressSpaceLimit(size_t bytes) { address_space_limit_ = bytes; }
  // Runs the server in network namespace `netns`, listening on `address` and trusting the hosts
  // of `subnet` (VirtualNetwork in network.h calls this; before Init or InitStandby). The test
  // reaches it through its Unix socket; a standby of it streams from `address`.
  void SetNetwork(std::string netns, std::string address, std::string subnet);
  // Where other servers reach this one ("127.0.0.1" unless on a VirtualNetwork), and where a
  // client of the test's own namespace does (that address, or the socket directory).
  const std::string& address() const { return address_; }
  std::string host() const { return netns_.empty() ? address_ : socket_dir_; }
  // Sends the mode's signal and waits for the process to exit.
  void Stop(const std::string& mode = "fast");
  void Kill9();
  bool Running();

  int port() const { return port_.port(); }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& socket_dir() const { return socket_dir_; }
  const std::string& log_file() const { return log_file_; }
  pid_t pid() const { return pid_; }
  std::string Log() const;

  // "host=<host()> port=N user=postgres dbname=postgres" plus extra.
  std::string ConnStr(const std::string& extra = "") const;
  // libpq connection; the test owns it (PQfinish).
  PGconn* Connect(const std::string& extra = "") const;
  // Runs SQL through real psql (-X -A -t -q); returns stdout, fails the test on error.
  std::string SafePsql(const std::string& sql, const std::string& extra_conn = "") const;
  CommandResult Psql(const std::string& sql, const std::string& extra_conn = "") const;
  // First column of the first row via libpq, or the error text prefixed with "ERROR: ".
  std::string Query(const std::string& sql, const std::string& extra_conn = "") const;

 private:
  std::string name_;
  TempDir base_;
  PortLock port_;
  std::string data_dir_, socket_dir_, log_file_;
  pid_t pid_ = -1;
  size_t address_space_limit_ = 0;  // RLIMIT_AS of the server; 0 = none
  std::string netns_;               // empty: the test's namespace
  std::string address_ = "127.0.0.1";
  std::string subnet_;
};

// Polls `cond` every 20 ms until it holds or `timeout_secs` pass; returns whether it held.
bool WaitUntil(const std::function<bool()>& cond, int timeout_secs = 60);
// Waits until `standby` has replayed everything `primary` has flushed (at the time of the call).
bool WaitForReplay(const Node& primary, const Node& standby, int timeout_secs = 60);

// Runs SQL on a libpq connection (simple protocol; extended with text parameters $1..$n when
// given). Rows come back as "a|b\n" lines (NULL as "NULL"), commands as their tag
// ("UPDATE 1"), errors as "ERROR <sqlstate>".
std::string Exec(PGconn* c, const std::string& sql, const std::vector<std::string>& params = {});
// A field of an error result (PG_DIAG_SQLSTATE, ...); "" when it has none.
std::string ErrorField(const PGresult* r, int code);

// A transaction (`sql`, then COMMIT at synchronous_commit = `level`) running in its own thread
// on its own connection, so the test can watch it block. The destructor waits for it to end
// (stop the server first if it never will).
class BackgroundCommit {
 public:
  BackgroundCommit(const Node& n, const std::string& level, const std::string& sql);
  ~BackgroundCommit();
  bool done() const { return done_.load(); }
  bool WaitDone(int secs) {
    return WaitUntil([&] { return done(); }, secs);
  }
  int pid() const { return PQbackendPID(conn_); }
  // Exec's result of "BEGIN; sql; COMMIT" once done.
  const std::string& result() const { return result_; }

 private:
  PGconn* conn_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::string result_;
};

}  // namespace walrep::testing

namespace walrep::testing {

// A minimal protocol-v3 client over a raw TCP socket, for tests that send what libpq never
// would (malformed messages, row limits).
class RawClient {
 public:
  explicit RawClient(int port);
  ~RawClient();
  bool connected() const { return fd_ >= 0; }
  void Send(const std::string& bytes);
  void ShutdownWrite();
  // Startup with trust authentication; reads up to the first ReadyForQuery.
  bool Startup(const std::string& user = "postgres", const std::string& database = "postgres");
  // Next message (type, body); type 0 on EOF or timeout.
  std::pair<char, std::string> Read(int timeout_ms = 10000);
  // Reads messages until `type` (inclusive) or EOF; returns their types in order.
  std::string ReadUntil(char type, std::vector<std::pair<char, std::string>>* msgs = nullptr);
  // Drains to EOF; returns every message.
  std::vector<std::pair<char, std::string>> ReadAll(int timeout_ms = 10000);

  // Field `code` (e.g. 'C' for SQLSTATE) of an ErrorResponse/NoticeResponse body.
  static std::string Field(const std::string& body, char code);
  static std::string Typed(char type, const std::string& body);  // builds a typed message

 private:
  int fd_ = -1;
  std::string buf_;
};

}  // namespace walrep::testing
