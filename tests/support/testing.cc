// walrep: test support (see testing.h).
#include "testing.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef WALREP_BIN_DIR
#error "WALREP_BIN_DIR must be defined"
#endif

namespace walrep::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "walrep-test-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  if (!p) throw std::runtime_error("mkdtemp failed");
  path_ = p;
}

TempDir::~TempDir() {
  if (std::getenv("WALREP_KEEP_TMP")) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

PortLock::PortLock() {
  fs::create_directories("/tmp/walrep-test-ports");
  for (int attempt = 0; attempt < 100; attempt++) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      continue;
    }
    ::close(fd);
    int port = ntohs(a.sin_port);
    std::string lock = "/tmp/walrep-test-ports/" + std::to_string(port);
    int lfd = ::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (lfd < 0) {
      // Reclaim a lock whose owner died.
      std::ifstream in(lock);
      long owner = 0;
      in >> owner;
      if (owner > 0 && ::kill(static_cast<pid_t>(owner), 0) != 0 && errno == ESRCH) {
        ::unlink(lock.c_str());
      }
      continue;
    }
    std::string pid = std::to_string(::getpid());
    if (::write(lfd, pid.data(), pid.size()) < 0) {
      // best effort: the lock still exists
    }
    ::close(lfd);
    port_ = port;
    lock_path_ = lock;
    return;
  }
  throw std::runtime_error("no free port");
}

PortLock::~PortLock() {
  if (!lock_path_.empty()) ::unlink(lock_path_.c_str());
}

CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_secs,
                         const std::string& stdin_data,
                         const std::map<std::string, std::string>& env) {
  CommandResult r;
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe(in_pipe) || ::pipe(out_pipe) || ::pipe(err_pipe)) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      ::close(fd);
    }
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (!stdin_data.empty()) {
    signal(SIGPIPE, SIG_IGN);
    if (::write(in_pipe[1], stdin_data.data(), stdin_data.size()) < 0) {
      // the child may not read its input
    }
  }
  ::close(in_pipe[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_secs);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  bool killed = false;
  while (open_fds > 0) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(fds, 2, left) <= 0) continue;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP))) {
        ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          open_fds--;
        } else {
          (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
        }
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = killed ? -9 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string WalrepBin(const std::string& name) { return std::string(WALREP_BIN_DIR) + "/" + name; }
std::string PgBin(const std::string& name) { return "/usr/lib/postgresql/15/bin/" + name; }

Node::Node(std::string name) : name_(std::move(name)) {
  data_dir_ = base_.path() + "/" + name_;
  socket_dir_ = base_.path() + "/sock";
  log_file_ = base_.path() + "/" + name_ + ".log";
  fs::create_directories(socket_dir_);
}

Node::~Node() {
  if (pid_ > 0) {
    ::kill(pid_, SIGQUIT);
    int status;
    for (int i = 0; i < 200; i++) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  // wal_consistency_checking's oracle: a replayed page that differs from the primary's image
  // fails the test, whatever else the test checked.
  std::string log = Log();
  if (log.find("inconsistent page found") != std::string::npos) {
    ADD_FAILURE() << name_ << ": replay produced a page that differs from the primary's";
  }
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- log of %s ----\n%s\n", name_.c_str(), log.c_str());
  }
}

void Node::Init(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      WalrepBin("walrepctl"), "init", "-D", data_dir_, "-U", "postgres"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  AppendLocalConf("postgresql.conf");
  if (!subnet_.empty()) {
    AppendConf("host all all " + subnet_ + " trust", "pg_hba.conf");
    AppendConf("host replication all " + subnet_ + " trust", "pg_hba.conf");
  }
  // Settings every node of a test run gets (scripts/test.sh runs the replication tests again
  // with WALREP_TEST_SETTINGS='wal_consistency_checking = all'); lines separated by ';'.
  if (const char* extra = std::getenv("WALREP_TEST_SETTINGS")) {
    std::stringstream lines(extra);
    std::string line;
    while (std::getline(lines, line, ';')) {
      if (!line.empty()) AppendConf(line, "postgresql.conf");
    }
  }
}

void Node::AppendLocalConf(const std::string& file) {
  AppendConf("port = " + std::to_string(port()), file);
  AppendConf("unix_socket_directories = '" + socket_dir_ + "'", file);
  AppendConf("listen_addresses = '" + address_ + "'", file);
}

void Node::SetNetwork(std::string netns, std::string address, std::string subnet) {
  netns_ = std::move(netns);
  address_ = std::move(address);
  subnet_ = std::move(subnet);
}

void Node::AppendConf(const std::string& line, const std::string& file) {
  std::ofstream(data_dir_ + "/" + file, std::ios::app) << line << "\n";
}

void Node::WriteFile(const std::string& relpath, const std::string& content) {
  std::ofstream(data_dir_ + "/" + relpath, std::ios::trunc) << content;
}

std::string Node::Log() const {
  std::ifstream in(log_file_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Node::InitStandby(const Node& upstream, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {PgBin("pg_basebackup"),
                                   "-h",
                                   upstream.host(),
                                   "-p",
                                   std::to_string(upstream.port()),
                                   "-U",
                                   "postgres",
                                   "-D",
                                   data_dir_,
                                   "-X",
                                   "stream",
                                   "-R",
                                   "-c",
                                   "fast"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // postgresql.auto.conf, which pg_verifybackup ignores, as -R does.
  AppendLocalConf("postgresql.auto.conf");
  AppendConf("cluster_name = '" + name_ + "'", "postgresql.auto.conf");
  if (!upstream.netns_.empty()) {
    // -R wrote the socket the backup came through; the standby streams over the network.
    AppendConf(fmt::format("primary_conninfo = 'host={} port={} user=postgres'", upstream.address_,
                           upstream.port()),
               "postgresql.auto.conf");
  }
}

BackgroundCommit::BackgroundCommit(const Node& n, const std::string& level, const std::string& sql)
    : conn_(n.Connect()) {
  thread_ = std::thread([this, level, sql] {
    Exec(conn_, "SET synchronous_commit = " + level);
    result_ = Exec(conn_, "BEGIN; " + sql + "; COMMIT");
    done_ = true;
  });
}

BackgroundCommit::~BackgroundCommit() {
  thread_.join();
  PQfinish(conn_);
}

bool WaitUntil(const std::function<bool()>& cond, int timeout_secs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_secs);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

bool WaitForReplay(const Node& primary, const Node& standby, int timeout_secs) {
  std::string target = primary.Query("SELECT pg_current_wal_flush_lsn()");
  return WaitUntil(
      [&] {
        return standby.Query("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '" + target +
                             "') >= 0") == "t";
      },
      timeout_secs);
}

void Node::Start(const std::vector<std::string>& extra_args) {
  StartNoWait(extra_args);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string conninfo = ConnStr("connect_timeout=2");
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << "walrepd exited during start:\n" << Log();
    }
    if (PQping(conninfo.c_str()) == PQPING_OK) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "walrepd did not start in 30 s:\n" << Log();
}

void Node::StartNoWait(const std::vector<std::string>& extra_args) {
  ASSERT_LE(pid_, 0) << "already running";
  std::vector<std::string> argv = {WalrepBin("walrepd"), "-D", data_dir_};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (address_space_limit_ > 0) {
      rlimit lim{address_space_limit_, address_space_limit_};
      ::setrlimit(RLIMIT_AS, &lim);
    }
    if (!netns_.empty()) {
      int ns = ::open(("/var/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) _exit(126);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
}

void Node::Stop(const std::string& mode) {
  ASSERT_GT(pid_, 0) << "not running";
  int sig = mode == "smart" ? SIGTERM : mode == "immediate" ? SIGQUIT : SIGINT;
  ::kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "walrepd did not stop in 60 s";
}

void Node::Kill9() {
  ASSERT_GT(pid_, 0);
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool Node::Running() {
  if (pid_ <= 0) return false;
  int status;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string Node::ConnStr(const std::string& extra) const {
  return "host=" + host() + " port=" + std::to_string(port()) + " user=postgres dbname=postgres " +
         extra;
}

PGconn* Node::Connect(const std::string& extra) const {
  return PQconnectdb(ConnStr(extra).c_str());
}

CommandResult Node::Psql(const std::string& sql, const std::string& extra_conn) const {
  return RunCommand({PgBin("psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                     ConnStr(extra_conn), "-c", sql});
}

std::string Node::SafePsql(const std::string& sql, const std::string& extra_conn) const {
  CommandResult r = Psql(sql, extra_conn);
  EXPECT_EQ(r.exit_code, 0) << "psql failed for: " << sql << "\n" << r.err;
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string Node::Query(const std::string& sql, const std::string& extra_conn) const {
  PGconn* c = Connect(extra_conn);
  std::string out;
  if (PQstatus(c) != CONNECTION_OK) {
    out = std::string("CONNECT: ") + PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      out = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    } else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
      out = PQcmdStatus(r);
    } else {
      out = std::string("ERROR: ") + PQresultErrorField(r, PG_DIAG_SQLSTATE) + " " +
            PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    }
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

}  // namespace walrep::testing

namespace walrep::testing {

RawClient::RawClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RawClient::Send(const std::string& bytes) {
  signal(SIGPIPE, SIG_IGN);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void RawClient::ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

std::string RawClient::Typed(char type, const std::string& body) {
  std::string m(1, type);
  uint32_t len = static_cast<uint32_t>(body.size() + 4);
  for (int s = 24; s >= 0; s -= 8) m.push_back(static_cast<char>(len >> s));
  return m + body;
}

bool RawClient::Startup(const std::string& user, const std::string& database) {
  std::string body("\x00\x03\x00\x00", 4);
  body += "user" + std::string(1, '\0') + user + std::string(1, '\0');
  body += "database" + std::string(1, '\0') + database + std::string(1, '\0');
  body.push_back('\0');
  std::string pkt;
  uint32_t len = static_cast<uint32_t>(body.size() + 4);
  for (int s = 24; s >= 0; s -= 8) pkt.push_back(static_cast<char>(len >> s));
  Send(pkt + body);
  return ReadUntil('Z').find('Z') != std::string::npos;
}

std::pair<char, std::string> RawClient::Read(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (buf_.size() >= 5) {
      uint32_t len = 0;
      for (int i = 1; i <= 4; i++) len = (len << 8) | static_cast<uint8_t>(buf_[i]);
      if (buf_.size() >= 1 + len) {
        auto msg = std::make_pair(buf_[0], buf_.substr(5, len - 4));
        buf_.erase(0, 1 + len);
        return msg;
      }
    }
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) return {0, ""};
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) continue;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return {0, ""};
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

std::string RawClient::ReadUntil(char type, std::vector<std::pair<char, std::string>>* msgs) {
  std::string types;
  while (true) {
    auto m = Read();
    if (m.first == 0) return types;
    types.push_back(m.first);
    if (msgs) msgs->push_back(m);
    if (m.first == type) return types;
  }
}

std::vector<std::pair<char, std::string>> RawClient::ReadAll(int timeout_ms) {
  std::vector<std::pair<char, std::string>> out;
  while (true) {
    auto m = Read(timeout_ms);
    if (m.first == 0) return out;
    out.push_back(m);
  }
}

std::string RawClient::Field(const std::string& body, char code) {
  size_t i = 0;
  while (i < body.size() && body[i] != '\0') {
    char c = body[i++];
    size_t end = body.find('\0', i);
    if (end == std::string::npos) break;
    if (c == code) return body.substr(i, end - i);
    i = end + 1;
  }
  return "";
}

std::string ErrorField(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v ? v : "";
}

std::string Exec(PGconn* c, const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  // Without parameters: the simple protocol, so a string may hold several statements.
  PGresult* r = params.empty() ? PQexec(c, sql.c_str())
                               : PQexecParams(c, sql.c_str(), static_cast<int>(values.size()),
                                              nullptr, values.data(), nullptr, nullptr, 0);
  std::string out;
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    for (int i = 0; i < PQntuples(r); i++) {
      for (int j = 0; j < PQnfields(r); j++) {
        out += (j ? "|" : "") + std::string(PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j));
      }
      out += "\n";
    }
  } else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
    out = PQcmdStatus(r);
  } else {
    out = std::string("ERROR ") + (PQresultErrorField(r, PG_DIAG_SQLSTATE) ?: "?");
  }
  PQclear(r);
  return out;
}

PostgresServer::PostgresServer() {
  char tmpl[] = "/tmp/walrep-pg-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  if (!p) throw std::runtime_error("mkdtemp failed");
  dir_ = p;
}

PostgresServer::~PostgresServer() {
  if (started_) {
    RunCommand({"runuser", "-u", "postgres", "--", PgBin("pg_ctl"), "stop", "-D", dir_ + "/data",
                "-m", "immediate", "-w"},
               60);
  }
  if (std::getenv("WALREP_KEEP_TMP")) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void PostgresServer::Start() {
  ASSERT_EQ(RunCommand({"chown", "postgres", dir_}).exit_code, 0);
  auto init = RunCommand({"runuser", "-u", "postgres", "--", PgBin("initdb"), "-D", dir_ + "/data",
                          "-E", "UTF8", "--locale=C", "-A", "trust", "-U", "postgres"},
                         180);
  ASSERT_EQ(init.exit_code, 0) << init.err;
  std::string opts = fmt::format("-p {} -k {} -c listen_addresses=127.0.0.1", port(), dir_);
  auto start = RunCommand({"runuser", "-u", "postgres", "--", PgBin("pg_ctl"), "start", "-w", "-D",
                           dir_ + "/data", "-l", dir_ + "/server.log", "-o", opts},
                          120);
  ASSERT_EQ(start.exit_code, 0) << start.err << ReadWholeFile(dir_ + "/server.log");
  started_ = true;
}

std::string PostgresServer::ConnStr() const {
  return fmt::format("host=127.0.0.1 port={} user=postgres dbname=postgres", port());
}

std::string PostgresServer::SafePsql(const std::string& sql) const {
  auto r = RunCommand(
      {PgBin("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", ConnStr(), "-c", sql});
  EXPECT_EQ(r.exit_code, 0) << sql << ": " << r.err;
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace walrep::testing
