// walrep: `walrepctl start|stop|restart|reload|promote|status|controldata`, like pg_ctl and
// pg_controldata.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "walrep/io/file_system.h"
#include "walrep/server/pid_file.h"
#include "walrep/storage/control_file.h"
#include "walrepctl.h"

namespace walrep::tools {

namespace {

struct Options {
  std::string dir;
  std::string log_file;
  bool wait = true;
  int timeout = 60;
  std::string mode = "fast";
  std::vector<std::string> server_opts;
  bool have_server_opts = false;
};

// Splits a command line the way a shell would for simple quoting ('...' and "...").
std::vector<std::string> SplitWords(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool have = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < s.size()) {
        cur += s[++i];
      } else {
        cur += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      have = true;
    } else if (c == '\\' && i + 1 < s.size()) {
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

std::optional<Options> Parse(const Args& args, std::string* error) {
  Options o;
  if (const char* pgdata = std::getenv("PGDATA")) o.dir = pgdata;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (a.size() > 2 && a[1] != '-') return a.substr(2);
      size_t eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    auto need = [&](std::string* out) -> bool {
      auto v = value();
      if (!v) {
        *error = "option requires an argument -- '" + a + "'";
        return false;
      }
      *out = *v;
      return true;
    };
    std::string v;
    if (a.rfind("-D", 0) == 0 || a.rfind("--pgdata", 0) == 0) {
      if (!need(&o.dir)) return std::nullopt;
    } else if (a.rfind("-l", 0) == 0 || a.rfind("--log", 0) == 0) {
      if (!need(&o.log_file)) return std::nullopt;
    } else if (a == "-w" || a == "--wait") {
      o.wait = true;
    } else if (a == "-W" || a == "--no-wait") {
      o.wait = false;
    } else if (a.rfind("-t", 0) == 0 || a.rfind("--timeout", 0) == 0) {
      if (!need(&v)) return std::nullopt;
      o.timeout = std::atoi(v.c_str());
    } else if (a.rfind("-m", 0) == 0 || a.rfind("--mode", 0) == 0) {
      if (!need(&v)) return std::nullopt;
      if (v == "s" || v == "smart") {
        o.mode = "smart";
      } else if (v == "f" || v == "fast") {
        o.mode = "fast";
      } else if (v == "i" || v == "immediate") {
        o.mode = "immediate";
      } else {
        *error = "unrecognized shutdown mode \"" + v + "\"";
        return std::nullopt;
      }
    } else if (a.rfind("-o", 0) == 0 || a.rfind("--options", 0) == 0) {
      if (!need(&v)) return std::nullopt;
      for (auto& w : SplitWords(v)) o.server_opts.push_back(w);
      o.have_server_opts = true;
    } else if (a == "-s" || a == "--silent") {
      // accepted for pg_ctl compatibility
    } else {
      *error = "invalid argument \"" + a + "\"";
      return std::nullopt;
    }
  }
  if (o.dir.empty()) {
    *error = "no database directory specified and environment variable PGDATA unset";
    return std::nullopt;
  }
  return o;
}

bool IsDataDir(const std::string& dir) {
  return std::filesystem::exists(dir + "/postgresql.conf") ||
         std::filesystem::exists(dir + "/PG_VERSION");
}

std::string ReadLine(const std::string& path, int n) {
  std::ifstream in(path);
  std::string line;
  for (int i = 0; i < n && std::getline(in, line); i++) {
  }
  return line;
}

int Usage(const std::string& error) {
  std::fprintf(stderr, "walrepctl: %s\nTry \"walrepctl --help\" for more information.\n",
               error.c_str());
  return 1;
}

// Arguments of the last start, from postmaster.opts (without the program and -D).
std::vector<std::string> SavedOptions(const std::string& dir) {
  std::ifstream in(dir + "/postmaster.opts");
  std::string line;
  std::getline(in, line);
  auto words = SplitWords(line);
  std::vector<std::string> out;
  for (size_t i = 1; i < words.size(); i++) {
    if (words[i] == "-D" && i + 1 < words.size()) {
      i++;
      continue;
    }
    if (words[i].rfind("-D", 0) == 0) continue;
    out.push_back(words[i]);
  }
  return out;
}

int DoStart(const Options& o) {
  if (!IsDataDir(o.dir)) {
    std::fprintf(stderr, "walrepctl: directory \"%s\" is not a database cluster directory\n",
                 o.dir.c_str());
    return 1;
  }
  long old = server::PidFile::ReadPid(o.dir);
  if (old > 0 && server::PidFile::ProcessAlive(old)) {
    std::fprintf(stderr,
                 "walrepctl: another server might be running; trying to start server "
                 "anyway\n");
  }
  std::string exe = SelfDir() + "/walrepd";
  std::vector<std::string> argv = {exe, "-D", o.dir};
  for (const auto& w : o.server_opts) argv.push_back(w);
  pid_t child = ::fork();
  if (child < 0) {
    std::perror("walrepctl: could not start server: fork");
    return 1;
  }
  if (child == 0) {
    ::setsid();
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (!o.log_file.empty()) {
      int fd = ::open(o.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd < 0) {
        std::fprintf(stderr, "walrepctl: could not open log file \"%s\": %s\n", o.log_file.c_str(),
                     std::strerror(errno));
        _exit(1);
      }
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    ::execv(exe.c_str(), cargv.data());
    std::fprintf(stderr, "walrepctl: could not execute \"%s\": %s\n", exe.c_str(),
                 std::strerror(errno));
    _exit(127);
  }
  if (!o.wait) {
    std::printf("server starting\n");
    return 0;
  }
  std::printf("waiting for server to start...");
  std::fflush(stdout);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout);
  int ticks = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(child, &status, WNOHANG) == child) {
      std::printf(" stopped waiting\nwalrepctl: could not start server\nExamine the log output.\n");
      return 1;
    }
    std::string pidfile = o.dir + "/postmaster.pid";
    if (server::PidFile::ReadPid(o.dir) == child && ReadLine(pidfile, 8) == "ready") {
      std::printf(" done\nserver started\n");
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (++ticks % 20 == 0) {
      std::printf(".");
      std::fflush(stdout);
    }
  }
  std::printf(" stopped waiting\nwalrepctl: server did not start in time\n");
  return 1;
}

int DoStop(const Options& o, bool quiet_if_stopped) {
  long pid = server::PidFile::ReadPid(o.dir);
  if (pid <= 0) {
    if (quiet_if_stopped) return 0;
    std::fprintf(stderr,
                 "walrepctl: PID file \"%s/postmaster.pid\" does not exist\n"
                 "Is server running?\n",
                 o.dir.c_str());
    return 1;
  }
  int sig = o.mode == "smart" ? SIGTERM : o.mode == "immediate" ? SIGQUIT : SIGINT;
  if (::kill(static_cast<pid_t>(pid), sig) != 0) {
    std::fprintf(stderr, "walrepctl: could not send stop signal (PID: %ld): %s\n", pid,
                 std::strerror(errno));
    return 1;
  }
  if (!o.wait) {
    std::printf("server shutting down\n");
    return 0;
  }
  std::printf("waiting for server to shut down...");
  std::fflush(stdout);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout);
  int ticks = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (server::PidFile::ReadPid(o.dir) != pid || !server::PidFile::ProcessAlive(pid)) {
      std::printf(" done\nserver stopped\n");
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (++ticks % 20 == 0) {
      std::printf(".");
      std::fflush(stdout);
    }
  }
  std::printf(" failed\nwalrepctl: server does not shut down\n");
  return 1;
}

}  // namespace

int Start(const Args& args) {
  std::string err;
  auto o = Parse(args, &err);
  if (!o) return Usage(err);
  return DoStart(*o);
}

int Stop(const Args& args) {
  std::string err;
  auto o = Parse(args, &err);
  if (!o) return Usage(err);
  return DoStop(*o, false);
}

int Restart(const Args& args) {
  std::string err;
  auto o = Parse(args, &err);
  if (!o) return Usage(err);
  if (!o->have_server_opts) o->server_opts = SavedOptions(o->dir);
  long pid = server::PidFile::ReadPid(o->dir);
  if (pid > 0 && server::PidFile::ProcessAlive(pid)) {
    Options stop = *o;
    stop.wait = true;
    if (int rc = DoStop(stop, true); rc != 0) return rc;
  } else {
    std::fprintf(stderr,
                 "walrepctl: PID file \"%s/postmaster.pid\" does not exist\n"
                 "Is server running?\ntrying to start server anyway\n",
                 o->dir.c_str());
  }
  return DoStart(*o);
}

int Reload(const Args& args) {
  std::string err;
  auto o = Parse(args, &err);
  if (!o) return Usage(err);
  long pid = server::PidFile::ReadPid(o->dir);
  if (pid <= 0) {
    std::fprintf(stderr,
                 "walrepctl: PID file \"%s/postmaster.pid\" does not exist\n"
                 "Is server running?\n",
                 o->dir.c_str());
    return 1;
  }
  if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
    std::fprintf(stderr, "walrepctl: could not send reload signal (PID: %ld): %s\n", pid,
                 std::strerror(errno));
    return 1;
  }
  std::printf("server signaled\n");
  return 0;
}

int Promote(const Args& args) {
  // pg_ctl promote: the "promote" file and SIGUSR1, then (with -w, the default) pg_control's
  // state is watched until it says "in production".
  std::string err;
  auto o = Parse(args, &err);
  if (!o) return Usage(err);
  long pid = server::PidFile::ReadPid(o->dir);
  if (pid <= 0 || !server::PidFile::ProcessAlive(pid)) {
    std::fprintf(stderr,
                 "walrepctl: PID file \"%s/postmaster.pid\" does not exist\n"
                 "Is server running?\n",
                 o->dir.c_str());
    return 1;
  }
  io::FileSystem* fs = io::DefaultFileSystem();
  auto state = [&]() -> std::optional<storage::DbState> {
    auto c = storage::ReadControlFile(fs, o->dir);
    if (!c.ok()) return std::nullopt;
    return static_cast<storage::DbState>(c->state);
  };
  if (state() != storage::DbState::kInArchiveRecovery) {
    std::fprintf(stderr, "walrepctl: cannot promote server; server is not in standby mode\n");
    return 1;
  }
  const std::string file = o->dir + "/promote";
  if (Status st = fs->WriteFileDurably(file, ""); !st.ok()) {
    std::fprintf(stderr, "walrepctl: could not write promote signal file \"%s\": %s\n",
                 file.c_str(), st.message().c_str());
    return 1;
  }
  if (::kill(static_cast<pid_t>(pid), SIGUSR1) != 0) {
    std::fprintf(stderr, "walrepctl: could not send promote signal (PID: %ld): %s\n", pid,
                 std::strerror(errno));
    fs->Remove(file).IgnoreError();  // the server never saw it
    return 1;
  }
  if (!o->wait) {
    std::printf("server promoting\n");
    return 0;
  }
  std::printf("waiting for server to promote...");
  std::fflush(stdout);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o->timeout);
  int ticks = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (state() == storage::DbState::kInProduction) {
      std::printf(" done\nserver promoted\n");
      return 0;
    }
    if (!server::PidFile::ProcessAlive(pid)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (++ticks % 100 == 0) {
      std::printf(".");
      std::fflush(stdout);
    }
  }
  std::printf(" stopped waiting\n");
  std::fprintf(stderr, "walrepctl: server did not promote in time\n");
  return 1;
}

int ServerStatus(const Args& args) {
  std::string err;
  auto o = Parse(args, &err);
  if (!o) {
    Usage(err);
    return 4;
  }
  if (!IsDataDir(o->dir)) {
    std::fprintf(stderr, "walrepctl: directory \"%s\" is not a database cluster directory\n",
                 o->dir.c_str());
    return 4;
  }
  long pid = server::PidFile::ReadPid(o->dir);
  if (pid > 0 && server::PidFile::ProcessAlive(pid)) {
    std::printf("walrepctl: server is running (PID: %ld)\n", pid);
    std::ifstream in(o->dir + "/postmaster.opts");
    std::string line;
    if (std::getline(in, line)) std::printf("%s\n", line.c_str());
    return 0;
  }
  std::printf("walrepctl: no server running\n");
  return 3;
}

int ControlData(const Args& args) {
  std::string dir;
  if (const char* pgdata = std::getenv("PGDATA")) dir = pgdata;
  for (size_t i = 0; i < args.size(); i++) {
    if (args[i] == "-D" && i + 1 < args.size()) {
      dir = args[++i];
    } else if (args[i].rfind("-D", 0) == 0) {
      dir = args[i].substr(2);
    } else if (args[i][0] != '-') {
      dir = args[i];
    } else {
      return Usage("invalid argument \"" + args[i] + "\"");
    }
  }
  if (dir.empty()) return Usage("no data directory specified");
  auto c = storage::ReadControlFile(io::DefaultFileSystem(), dir);
  if (!c.ok()) {
    std::fprintf(stderr, "walrepctl: error: %s\n", c.status().message().c_str());
    return 1;
  }
  std::fputs(storage::FormatControlFile(*c).c_str(), stdout);
  auto v = storage::ReadWalrepCatalogVersion(io::DefaultFileSystem(), dir);
  if (!v.ok()) {
    std::fprintf(stderr, "walrepctl: error: %s\n", v.status().message().c_str());
    return 1;
  }
  std::printf("%-38s%s\n", "walrep catalog version number:",
              *v ? std::to_string(*v).c_str() : "none (rows stored as text: not supported)");
  return 0;
}

}  // namespace walrep::tools
