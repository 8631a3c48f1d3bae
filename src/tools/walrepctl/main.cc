// walrep: walrepctl, the control program (initdb + pg_ctl + pg_controldata in one).
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "walrepctl.h"

namespace walrep::tools {

std::string SelfDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : p.parent_path().string();
}

}  // namespace walrep::tools

namespace {
void Usage() {
  std::printf(
      "walrepctl initializes, starts, stops, or controls a walrep server.\n\n"
      "Usage:\n"
      "  walrepctl init        -D DATADIR [-U SUPERUSER] [--auth=METHOD] [--pwfile=FILE] [-k]\n"
      "  walrepctl start       -D DATADIR [-l FILENAME] [-W] [-t SECS] [-o \"OPTIONS\"]\n"
      "  walrepctl stop        -D DATADIR [-m SHUTDOWN-MODE] [-W] [-t SECS]\n"
      "  walrepctl restart     -D DATADIR [-m SHUTDOWN-MODE] [-W] [-t SECS] [-o \"OPTIONS\"]\n"
      "  walrepctl reload      -D DATADIR\n"
      "  walrepctl promote     -D DATADIR [-W] [-t SECS]\n"
      "  walrepctl status      -D DATADIR\n"
      "  walrepctl controldata -D DATADIR\n"
      "  walrepctl basebackup  -d CONNSTR -D DIR [-R] [-X stream|fetch|none] [-S SLOT] [-C]\n"
      "                        [-P] [-c fast|spread] [-l LABEL]\n"
      "  walrepctl rewind      -D TARGETDIR {--source-server=CONNSTR | --source-pgdata=DIR}\n"
      "                        [-R] [-n] [-P] [-c]\n"
      "  walrepctl waldump     -D DATADIR [-s STARTLSN] [-e ENDLSN] [-n LIMIT]\n\n"
      "Shutdown modes are: smart, fast (default), immediate.\n");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "walrepctl: no operation specified\n"
                 "Try \"walrepctl --help\" for more information.\n");
    return 1;
  }
  std::string cmd = argv[1];
  walrep::tools::Args args(argv + 2, argv + argc);
  if (cmd == "--help" || cmd == "-?" || cmd == "help") {
    Usage();
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") {
    std::printf("walrepctl (walrep) 0.1.0, PostgreSQL 15 compatible\n");
    return 0;
  }
  if (cmd == "init") return walrep::tools::Init(args);
  if (cmd == "start") return walrep::tools::Start(args);
  if (cmd == "stop") return walrep::tools::Stop(args);
  if (cmd == "restart") return walrep::tools::Restart(args);
  if (cmd == "reload") return walrep::tools::Reload(args);
  if (cmd == "promote") return walrep::tools::Promote(args);
  if (cmd == "status") return walrep::tools::ServerStatus(args);
  if (cmd == "controldata") return walrep::tools::ControlData(args);
  if (cmd == "basebackup") return walrep::tools::BaseBackup(args);
  if (cmd == "rewind") return walrep::tools::Rewind(args);
  if (cmd == "waldump") return walrep::tools::WalDump(args);
  std::fprintf(stderr,
               "walrepctl: unrecognized operation mode \"%s\"\n"
               "Try \"walrepctl --help\" for more information.\n",
               cmd.c_str());
  return 1;
}
