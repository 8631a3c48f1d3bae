// walrep: `walrepctl init` — creates a data directory, like initdb.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "walrep/io/file_system.h"
#include "walrep/server/roles.h"
#include "walrep/storage/control_file.h"
#include "walrep/storage/xlog.h"
#include "walrepctl.h"

namespace walrep::tools {

namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "walrepctl: error: %s\n", msg.c_str());
  return 1;
}

std::string CurrentUser() {
  struct passwd* pw = getpwuid(geteuid());
  return pw ? pw->pw_name : "postgres";
}

std::string HbaFile(const std::string& method) {
  std::string m = method;
  std::ostringstream o;
  o << "# walrep client authentication (pg_hba.conf), PostgreSQL 15 format.\n"
    << "# TYPE  DATABASE        USER            ADDRESS                 METHOD\n\n"
    << "# \"local\" is for Unix domain socket connections only\n"
    << "local   all             all                                     " << m << "\n"
    << "# IPv4 local connections:\n"
    << "host    all             all             127.0.0.1/32            " << m << "\n"
    << "# IPv6 local connections:\n"
    << "host    all             all             ::1/128                 " << m << "\n"
    << "# Allow replication connections from localhost, by a user with the\n"
    << "# replication privilege.\n"
    << "local   replication     all                                     " << m << "\n"
    << "host    replication     all             127.0.0.1/32            " << m << "\n"
    << "host    replication     all             ::1/128                 " << m << "\n";
  return o.str();
}

// The sample with the settings initdb fills in uncommented.
std::string InitialConf() {
  std::string conf = ConfSample();
  conf +=
      "\n# Set by walrepctl init.\n"
      "max_connections = 100\n"
      "shared_buffers = 128MB\n"
      "max_wal_size = 1GB\n"
      "min_wal_size = 80MB\n"
      "log_timezone = 'Etc/UTC'\n"
      "DateStyle = 'ISO, MDY'\n"
      "TimeZone = 'Etc/UTC'\n";
  return conf;
}

}  // namespace

int Init(const Args& args) {
  std::string dir, user = CurrentUser(), auth = "trust", pwfile;
  bool checksums = false;
  if (const char* pgdata = std::getenv("PGDATA")) dir = pgdata;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (a == flag) {
        if (i + 1 < args.size()) return args[++i];
        return std::nullopt;
      }
      if (a.rfind(flag + "=", 0) == 0 && flag.rfind("--", 0) == 0) return a.substr(flag.size() + 1);
      if (a.rfind(flag, 0) == 0 && flag.size() == 2 && a.size() > 2) return a.substr(2);
      return std::nullopt;
    };
    if (auto v = value("-D"))
      dir = *v;
    else if (auto v2 = value("--pgdata"))
      dir = *v2;
    else if (auto v3 = value("-U"))
      user = *v3;
    else if (auto v4 = value("--username"))
      user = *v4;
    else if (auto v5 = value("--auth"))
      auth = *v5;
    else if (auto v6 = value("-A"))
      auth = *v6;
    else if (auto v7 = value("--pwfile"))
      pwfile = *v7;
    else if (a == "-k" || a == "--data-checksums")
      checksums = true;
    else if (a[0] != '-' && dir.empty())
      dir = a;
    else
      return Fail("invalid argument \"" + a + "\"\nTry \"walrepctl --help\" for more information.");
  }
  if (dir.empty()) {
    return Fail(
        "no data directory specified\nYou must identify the directory where the data for "
        "this database system will reside.  Do this with either the invocation option -D "
        "or the environment variable PGDATA.");
  }
  if (auth != "trust" && auth != "md5" && auth != "scram-sha-256" && auth != "password" &&
      auth != "reject") {
    return Fail("invalid authentication method \"" + auth + "\"");
  }
  std::optional<std::string> password;
  if (!pwfile.empty()) {
    std::ifstream in(pwfile);
    if (!in)
      return Fail("could not open file \"" + pwfile + "\" for reading: No such file or directory");
    std::string pw;
    std::getline(in, pw);
    if (pw.empty()) return Fail("password file \"" + pwfile + "\" is empty");
    password = pw;
  }
  if (auth != "trust" && auth != "reject" && !password) {
    return Fail("must specify a password for the superuser to enable password authentication");
  }
  std::error_code ec;
  namespace fs = std::filesystem;
  if (fs::exists(dir)) {
    if (!fs::is_directory(dir) || !fs::is_empty(dir)) {
      std::fprintf(stderr,
                   "walrepctl: error: directory \"%s\" exists but is not empty\n"
                   "If you want to create a new database system, either remove or empty the "
                   "directory \"%s\" or run walrepctl init with an argument other than \"%s\".\n",
                   dir.c_str(), dir.c_str(), dir.c_str());
      return 1;
    }
  }
  std::printf(
      "The files belonging to this database system will be owned by user \"%s\".\n"
      "This user must also own the server process.\n\n",
      CurrentUser().c_str());
  std::printf("Data page checksums are %s.\n\n", checksums ? "enabled" : "disabled");
  io::FileSystem* fsys = io::DefaultFileSystem();
  std::printf("creating directory %s ... ", dir.c_str());
  fs::create_directories(dir, ec);
  if (ec) return Fail("could not create directory \"" + dir + "\": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  std::printf("ok\ncreating subdirectories ... ");
  for (const char* sub :
       {"global", "base", "base/5", "pg_wal", "pg_wal/archive_status", "pg_xact", "pg_replslot",
        "pg_stat", "pg_tblspc", "pg_logical", "pg_snapshots", "pg_commit_ts", "pg_multixact",
        "pg_notify", "pg_serial", "pg_stat_tmp", "pg_subtrans", "pg_twophase", "pg_dynshmem"}) {
    Status st = fsys->CreateDir(dir + "/" + sub);
    if (!st.ok()) return Fail(st.message());
  }
  std::printf("ok\ncreating configuration files ... ");
  struct File {
    const char* name;
    std::string content;
  };
  File files[] = {
      {"PG_VERSION", "15\n"},
      {"postgresql.conf", InitialConf()},
      {"postgresql.auto.conf",
       "# Written by ALTER SYSTEM; edits by hand are lost at the next ALTER SYSTEM.\n"},
      {"pg_hba.conf", HbaFile(auth)},
      {"pg_ident.conf", "# MAPNAME       SYSTEM-USERNAME         PG-USERNAME\n"},
  };
  for (const auto& f : files) {
    Status st = fsys->WriteFileDurably(dir + "/" + f.name, f.content);
    if (!st.ok()) return Fail(st.message());
  }
  std::printf("ok\nwriting roles, control file and first WAL segment ... ");
  Status st = server::RoleStore::Initialize(fsys, dir + "/global/walrep_roles", user, password);
  storage::ControlFileData control = storage::NewControlFile(checksums);
  if (st.ok()) st = storage::WriteControlFile(fsys, dir, control);
  if (st.ok()) st = storage::WriteWalrepCatalogVersion(fsys, dir);
  if (st.ok()) st = storage::XLog::Bootstrap(fsys, dir, &control);
  if (st.ok()) st = fsys->SyncDir(dir);
  if (!st.ok()) return Fail(st.message());
  std::printf("ok\n\n");
  if (auth == "trust") {
    std::printf(
        "walrepctl: warning: enabling \"trust\" authentication for local connections\n"
        "walrepctl: hint: You can change this by editing pg_hba.conf or using the option "
        "--auth the next time you run walrepctl init.\n");
  }
  std::printf(
      "\nSuccess. You can now start the database server using:\n\n"
      "    %s/walrepctl start -D %s -l logfile\n\n",
      SelfDir().c_str(), dir.c_str());
  return 0;
}

}  // namespace walrep::tools
