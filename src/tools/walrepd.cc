// walrep: walrepd, the server daemon.
//
//   walrepd -D DIR [-p PORT] [-c name=value]... [--name=value]... [-l LOGFILE]
//
// Blocks SIGHUP/SIGTERM/SIGINT/SIGQUIT in every thread and handles them on one signal thread:
// SIGHUP reloads the configuration, SIGTERM is a smart shutdown, SIGINT fast, SIGQUIT immediate,
// SIGUSR1 with DATADIR/promote present promotes a standby.
// Exit status: 0 after a clean shutdown, 1 when the server could not start.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "walrep/common/logging.h"
#include "walrep/common/thread_name.h"
#include "walrep/io/error_injection_file_system.h"
#include "walrep/server/server.h"

namespace {

void Usage() {
  std::printf(
      "walrepd is the walrep server, a PostgreSQL 15 compatible replication server.\n\n"
      "Usage:\n  walrepd -D DATADIR [OPTION]...\n\n"
      "Options:\n"
      "  -D DATADIR         database directory (default: $PGDATA)\n"
      "  -p PORT            port number to listen on\n"
      "  -c NAME=VALUE      set run-time parameter\n"
      "  --NAME=VALUE       set run-time parameter\n"
      "  -l FILENAME        write the server log to FILENAME\n"
      "  -V, --version      output version information, then exit\n"
      "  -?, --help         show this help, then exit\n");
}

}  // namespace

int main(int argc, char** argv) {
  walrep::server::ServerOptions opts;
  std::string log_file;
  if (const char* pgdata = std::getenv("PGDATA")) opts.data_dir = pgdata;
  std::string cmdline;
  for (int i = 0; i < argc; i++) cmdline += (i ? " " : "") + std::string("\"") + argv[i] + "\"";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&](const char* flag) -> std::string {
      if (a.size() > 2) return a.substr(2);
      if (i + 1 >= argc) {
        std::fprintf(stderr, "walrepd: option requires an argument -- '%s'\n", flag);
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-?") {
      Usage();
      return 0;
    } else if (a == "--version" || a == "-V") {
      std::printf("walrepd (walrep) 0.1.0, PostgreSQL 15 compatible\n");
      return 0;
    } else if (a.rfind("-D", 0) == 0) {
      opts.data_dir = next("D");
    } else if (a.rfind("-p", 0) == 0) {
      opts.argv.push_back({"port", next("p"), "", 0});
    } else if (a.rfind("-l", 0) == 0) {
      log_file = next("l");
    } else if (a.rfind("-c", 0) == 0 || a.rfind("--", 0) == 0) {
      std::string assign = a.rfind("--", 0) == 0 ? a.substr(2) : next("c");
      size_t eq = assign.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "walrepd: --%s requires a value\n", assign.c_str());
        return 1;
      }
      std::string name = assign.substr(0, eq);
      for (auto& ch : name) {
        if (ch == '-') ch = '_';
      }
      opts.argv.push_back({name, assign.substr(eq + 1), "", 0});
    } else {
      std::fprintf(
          stderr,
          "walrepd: invalid argument: \"%s\"\nTry \"walrepd --help\" for more information.\n",
          a.c_str());
      return 1;
    }
  }
  if (opts.data_dir.empty()) {
    std::fprintf(stderr,
                 "walrepd does not know where to find the database system data.\n"
                 "You must specify the -D invocation option or set the PGDATA environment "
                 "variable.\n");
    return 2;
  }
  walrep::Status st = walrep::InitLogging(log_file);
  if (!st.ok()) {
    std::fprintf(stderr, "walrepd: %s\n", st.message().c_str());
    return 1;
  }

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Testing hook (docs/reliability.md): I/O errors injected by the rules in this file.
  std::unique_ptr<walrep::io::ErrorInjectionFileSystem> faulty;
  if (const char* rules = std::getenv("WALREP_IO_FAULTS"); rules && *rules) {
    faulty = std::make_unique<walrep::io::ErrorInjectionFileSystem>(walrep::io::DefaultFileSystem(),
                                                                    rules);
    opts.fs = faulty.get();
    WALREP_LOG("I/O faults are injected from \"{}\" (WALREP_IO_FAULTS)", rules);
  }
  walrep::server::Server server(opts);
  st = server.Start();
  if (!st.ok()) {
    WALREP_FATAL("{}", st.message());
    if (!st.detail().empty()) walrep::LogAt(walrep::LogLevel::kLog, "DETAIL:  {}", st.detail());
    if (!st.hint().empty()) walrep::LogAt(walrep::LogLevel::kLog, "HINT:  {}", st.hint());
    spdlog::shutdown();
    return 1;
  }
  // postmaster.opts: the command line, for `walrepctl restart` and `status`.
  std::ofstream(opts.data_dir + "/postmaster.opts") << cmdline << "\n";

  std::atomic<bool> exiting{false};
  std::thread signals([&server, &exiting, set] {
    walrep::SetThreadName("signal");
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      switch (sig) {
        case SIGHUP:
          server.Reload().IgnoreError();
          break;  // errors are logged by Reload
        case SIGTERM:
          server.Shutdown(walrep::server::ShutdownMode::kSmart);
          break;
        case SIGINT:
          server.Shutdown(walrep::server::ShutdownMode::kFast);
          break;
        case SIGQUIT:
          server.Shutdown(walrep::server::ShutdownMode::kImmediate);
          break;
        case SIGUSR1:
          if (exiting.load()) return;
          server.CheckPromoteSignal();  // walrepctl promote (pg_ctl's protocol)
          break;
      }
    }
  });
  server.WaitForShutdown();
  exiting.store(true);
  pthread_kill(signals.native_handle(), SIGUSR1);
  signals.join();
  spdlog::shutdown();
  // Session threads are detached and may still be unwinding after a fast or immediate
  // shutdown; leave without running destructors under them.
  std::fflush(nullptr);
  _exit(0);
}
