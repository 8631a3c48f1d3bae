// walrep: walrepctl rewind — pg_rewind's command line over replication::RewindDataDir.
#include "walrep/replication/rewind.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "walrep/io/file_system.h"
#include "walrep/storage/control_file.h"
#include "walrepctl.h"

namespace walrep::tools {
namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "walrepctl rewind: error: %s\n", msg.c_str());
  return 1;
}
void Log(const std::string& msg) { std::fprintf(stderr, "walrepctl rewind: %s\n", msg.c_str()); }

// Whether a server runs on `dir`: its postmaster.pid names a live process.
bool ServerRunning(const std::string& dir) {
  std::ifstream in(dir + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Starts the target once (crash recovery, then a shutdown checkpoint) when it was not shut
// down cleanly, as pg_rewind 13+ runs a single-user postgres. Like that one it serves no one:
// no TCP listener, and its socket in a private directory (a client reaching it would read
// commits the new timeline does not have). So a lossless primary (walrep.sync_commit_lossless)
// need not wait for the standbys it no longer has before it opens.
int RecoverTarget(const std::string& dir) {
  Log("target server was not shut down cleanly; running crash recovery");
  char socket_dir[] = "/tmp/walrep-rewind-XXXXXX";
  if (!::mkdtemp(socket_dir)) return Fail("could not create a directory for crash recovery");
  std::string ctl = SelfDir() + "/walrepctl";
  std::string start =
      ctl + " start -w -D '" + dir + "' -l '" + dir +
      "/rewind_recovery.log' -o \"-c listen_addresses='' -c unix_socket_directories='" +
      socket_dir + "' -c archive_mode=off -c walrep.sync_commit_lossless=off\"";
  std::string stop = ctl + " stop -D '" + dir + "' -m fast";
  int rc = std::system(start.c_str());
  if (rc != 0) {
    // Not left running: the caller will start it as a standby.
    rc = std::system((ctl + " stop -D '" + dir + "' -m immediate >/dev/null 2>&1").c_str());
    ::rmdir(socket_dir);
    return Fail("crash recovery of the target failed");
  }
  rc = std::system(stop.c_str());
  ::rmdir(socket_dir);
  if (rc != 0) return Fail("could not stop the target after crash recovery");
  return 0;
}

}  // namespace

int Rewind(const Args& args) {
  replication::RewindOptions o;
  bool progress = false;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    auto value = [&](const char* longname) -> std::optional<std::string> {
      std::string l = std::string(longname) + "=";
      if (a.rfind(l, 0) == 0) return a.substr(l.size());
      if (a.size() > 2 && a[0] == '-' && a[1] != '-') return a.substr(2);
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (a == "-D" || a.rfind("-D", 0) == 0 || a.rfind("--target-pgdata", 0) == 0) {
      auto v = value("--target-pgdata");
      if (!v) return Fail("option -D requires an argument");
      o.target = *v;
    } else if (a.rfind("--source-server", 0) == 0) {
      auto v = value("--source-server");
      if (!v) return Fail("option --source-server requires an argument");
      o.source_server = *v;
    } else if (a.rfind("--source-pgdata", 0) == 0) {
      auto v = value("--source-pgdata");
      if (!v) return Fail("option --source-pgdata requires an argument");
      o.source_pgdata = *v;
    } else if (a == "-R" || a == "--write-recovery-conf") {
      o.write_recovery_conf = true;
    } else if (a == "-c" || a == "--restore-target-wal") {
      o.restore_target_wal = true;
    } else if (a == "-n" || a == "--dry-run") {
      o.dry_run = true;
    } else if (a == "-P" || a == "--progress") {
      progress = true;
    } else {
      return Fail("invalid argument \"" + a + "\"");
    }
  }
  if (o.target.empty()) return Fail("no target data directory specified (--target-pgdata)");
  if (o.source_server.empty() == o.source_pgdata.empty()) {
    return Fail("exactly one of --source-pgdata or --source-server must be specified");
  }
  if (o.write_recovery_conf && o.source_server.empty()) {
    return Fail(
        "no source server information (--source-server) specified for "
        "--write-recovery-conf");
  }
  io::FileSystem* lfs = io::DefaultFileSystem();
  if (ServerRunning(o.target)) return Fail("target server must be shut down cleanly");
  if (!o.source_pgdata.empty() && ServerRunning(o.source_pgdata)) {
    return Fail("source data directory must be shut down cleanly");
  }
  auto tgt = storage::ReadControlFile(lfs, o.target);
  if (!tgt.ok()) return Fail(tgt.status().message());
  if (!replication::CleanlyShutDown(tgt->state)) {
    if (int rc = RecoverTarget(o.target); rc != 0) return rc;
  }
  o.log = Log;
  auto r = replication::RewindDataDir(o);
  if (!r.ok()) return Fail(r.status().message());
  if (progress && r->rewound) {
    Log(
        fmt::format("{} kB copied; {} blocks the target changed, {} of its commits discarded "
                    "(WAL {} to {})",
                    r->bytes_copied >> 10, r->blocks, r->commits_discarded, r->diverge.ToString(),
                    r->target_end.ToString()));
  }
  if (r->rewound) Log("Done!");
  return 0;
}

}  // namespace walrep::tools
