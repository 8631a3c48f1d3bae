#include "fuzz_server.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "walrep/common/logging.h"
#include "walrep/common/thread_name.h"
#include "walrep/server/server.h"

namespace walrep::fuzz {

const char* const kFixtureSql =
    "CREATE TABLE accounts (id int PRIMARY KEY, name text UNIQUE, balance numeric(12,2) NOT NULL "
    "DEFAULT 0, opened date, tags text[], flags bool);"
    "CREATE TABLE events (id bigserial PRIMARY KEY, account int, at timestamptz DEFAULT now(), "
    "amount float8, note varchar(40));"
    "CREATE INDEX events_account ON events (account, at);"
    "CREATE SEQUENCE seq;"
    "INSERT INTO accounts SELECT g, 'n' || g, g * 1.5, date '2026-01-01' + g, ARRAY['a', 'b'], "
    "g % 2 = 0 FROM generate_series(1, 200) g;"
    "INSERT INTO events (account, amount, note) SELECT g % 200, g / 3.0, 'e' || g FROM "
    "generate_series(1, 500) g;";

namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::abort();
  }
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

server::Server* the_server = nullptr;

int StartServer() {
  ::signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/walrep-fuzz-XXXXXX";
  if (!::mkdtemp(tmpl)) std::abort();
  std::string dir = std::string(tmpl) + "/data";
  std::string init = std::string(WALREP_BIN_DIR) + "/walrepctl init -D " + dir + " >/dev/null";
  if (std::system(init.c_str()) != 0) {
    std::fprintf(stderr, "fuzz: %s failed\n", init.c_str());
    std::abort();
  }
  if (!InitLogging(dir + "/server.log").ok()) std::abort();
  int port = FreePort();
  server::ServerOptions opts;
  opts.data_dir = dir;
  opts.argv.push_back({"port", std::to_string(port), "", 0});
  opts.argv.push_back({"listen_addresses", "127.0.0.1", "", 0});
  opts.argv.push_back({"unix_socket_directories", tmpl, "", 0});
  opts.argv.push_back({"max_connections", "1000", "", 0});
  // Durability is the crash tests' subject; here a commit's fsync would only slow each input.
  opts.argv.push_back({"fsync", "off", "", 0});
  // Kept for the life of the process: sessions run on its threads.
  auto* s = new server::Server(opts);
  the_server = s;
  Status st = s->Start();
  if (!st.ok()) {
    std::fprintf(stderr, "fuzz: server start failed: %s\n", st.message().c_str());
    std::abort();
  }
  std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(port) + " dbname=postgres connect_timeout=10";
  PGconn* c = PQconnectdb(conninfo.c_str());
  PGresult* r = PQexec(c, kFixtureSql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "fuzz: fixture failed: %s\n", PQerrorMessage(c));
    std::abort();
  }
  PQclear(r);
  PQfinish(c);
  return port;
}

}  // namespace

int ServerPort() {
  static int port = StartServer();
  return port;
}

namespace {

// Session threads kept for the life of the process (the server outlives every input too).
class SessionPool {
 public:
  void Serve(int fd) {
    std::unique_lock l(mu_);
    queue_.push_back(fd);
    if (idle_ > 0) {  // an idle thread takes it (counted out now: the next input needs another)
      idle_--;
      cv_.notify_one();
      return;
    }
    l.unlock();
    NamedThread("backend", [this] { Work(); }).detach();
  }

 private:
  void Work() {
    std::unique_lock l(mu_);
    while (true) {
      idle_++;
      cv_.wait(l, [this] { return !queue_.empty(); });
      int fd = queue_.front();
      queue_.pop_front();
      l.unlock();
      sockaddr_storage peer{};
      peer.ss_family = AF_UNIX;
      the_server->ServeConnection(fd, /*local=*/true, peer);
      l.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> queue_;
  int idle_ = 0;  // threads waiting for a session that no queued one is promised to
};

}  // namespace

void ServeInProcess(int fd) {
  ServerPort();  // started before the first session
  static auto* pool = new SessionPool;
  pool->Serve(fd);
}

}  // namespace walrep::fuzz
