// walrep: `walrepctl basebackup`, like pg_basebackup in plain format.
//
// One libpq replication connection runs BASE_BACKUP and unpacks the tar stream into the target
// directory (backup_manifest written through a temporary file and renamed); with -X stream a
// walreceiver (the standby's own class) streams the WAL from the backup's start into pg_wal/
// until it passes the backup's end. -R makes the copy a standby: standby.signal and
// primary_conninfo (+ primary_slot_name) in postgresql.auto.conf.
#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "walrep/common/guc.h"
#include "walrep/common/lsn.h"
#include "walrep/io/file_system.h"
#include "walrep/replication/walreceiver.h"
#include "walrepctl.h"

namespace walrep::tools {

namespace {

namespace fs = std::filesystem;

struct BackupOptions {
  std::string conninfo;
  std::string dir;
  bool write_recovery_conf = false;
  std::string wal_method = "stream";
  std::string slot;
  bool create_slot = false;
  bool progress = false;
  std::string checkpoint = "fast";
  std::string label = "walrepctl base backup";
};

int Fail(const std::string& msg) {
  std::fprintf(stderr, "walrepctl: error: %s\n", msg.c_str());
  return 1;
}

std::string Trim(const char* s) {
  std::string t = s ? s : "";
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

uint64_t ParseOctal(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && p[i]; i++) {
    if (p[i] >= '0' && p[i] <= '7') v = v * 8 + static_cast<uint64_t>(p[i] - '0');
  }
  return v;
}

// Unpacks a ustar stream fed in arbitrary pieces.
class TarExtractor {
 public:
  explicit TarExtractor(std::string root) : root_(std::move(root)) {}

  bool Feed(const char* data, size_t n, std::string* error) {
    while (n > 0) {
      if (left_ > 0) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(left_, n));
        if (out_.is_open()) out_.write(data, static_cast<std::streamsize>(take));
        left_ -= take;
        data += take;
        n -= take;
        if (left_ == 0) {
          if (out_.is_open()) out_.close();
          left_ = pad_;
          pad_ = 0;
        }
        continue;
      }
      size_t take = std::min(n, 512 - header_.size());
      header_.append(data, take);
      data += take;
      n -= take;
      if (header_.size() < 512) continue;
      if (!Header(error)) return false;
      header_.clear();
    }
    return true;
  }

 private:
  bool Header(std::string* error) {
    const char* h = header_.data();
    if (h[0] == '\0') return true;  // end-of-archive blocks
    std::string name(h, strnlen(h, 100));
    std::string prefix(h + 345, strnlen(h + 345, 155));
    if (!prefix.empty()) name = prefix + "/" + name;
    if (name.rfind("./", 0) == 0) name = name.substr(2);
    if (name.find("..") != std::string::npos) {
      *error = "invalid file name in archive: " + name;
      return false;
    }
    uint64_t size = ParseOctal(h + 124, 12);
    std::string path = root_ + "/" + name;
    std::error_code ec;
    if (h[156] == '5') {
      fs::create_directories(path, ec);
      fs::permissions(path, fs::perms::owner_all, ec);
    } else {
      fs::create_directories(fs::path(path).parent_path(), ec);
      out_.open(path, std::ios::binary | std::ios::trunc);
      if (!out_) {
        *error = "could not create file \"" + path + "\"";
        return false;
      }
      ::chmod(path.c_str(), 0600);
      left_ = size;
      pad_ = (512 - size % 512) % 512;
      if (size == 0) {
        out_.close();
        left_ = pad_;
        pad_ = 0;
      }
    }
    return true;
  }

  std::string root_;
  std::string header_;
  uint64_t left_ = 0, pad_ = 0;
  std::ofstream out_;
};

void SyncTree(const std::string& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    int fd = ::open(it->path().c_str(), O_RDONLY);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
  int fd = ::open(dir.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

PGconn* Connect(const std::string& conninfo) {
  const char* keys[] = {"dbname", "replication", "fallback_application_name", nullptr};
  const char* vals[] = {conninfo.c_str(), "true", "walrepctl", nullptr};
  return PQconnectdbParams(keys, vals, 1);
}

// The connection string a standby uses to reach the server this backup came from.
std::string ConninfoFor(PGconn* conn) {
  PQconninfoOption* opts = PQconninfo(conn);
  std::string out;
  for (PQconninfoOption* o = opts; o && o->keyword; o++) {
    std::string k = o->keyword;
    if (!o->val || !*o->val || k == "dbname" || k == "replication" ||
        k == "fallback_application_name" || (o->dispchar && *o->dispchar == 'D')) {
      continue;
    }
    if (!out.empty()) out += ' ';
    std::string v = o->val;
    bool plain = !v.empty() && v.find_first_of(" '\\") == std::string::npos;
    if (plain) {
      out += k + "=" + v;
    } else {
      std::string q;
      for (char c : v) q += (c == '\'' || c == '\\') ? std::string("\\") + c : std::string(1, c);
      out += k + "='" + q + "'";
    }
  }
  PQconninfoFree(opts);
  return out;
}

std::optional<BackupOptions> ParseArgs(const Args& args, std::string* error) {
  BackupOptions o;
  std::string host, port, user;
  for (size_t i = 0; i < args.size(); i++) {
    std::string a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      size_t eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos) return a.substr(eq + 1);
      if (a.rfind("--", 0) != 0 && a.size() > 2) return a.substr(2);
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    auto is = [&](const char* s, const char* l) {
      return a == s || a == l || (a.rfind(s, 0) == 0 && a.size() > 2 && a[1] != '-') ||
             a.rfind(std::string(l) + "=", 0) == 0;
    };
    std::optional<std::string> v;
    if (is("-d", "--dbname")) {
      v = value();
      if (v) o.conninfo = *v;
    } else if (is("-D", "--pgdata")) {
      v = value();
      if (v) o.dir = *v;
    } else if (is("-h", "--host")) {
      v = value();
      if (v) host = *v;
    } else if (is("-p", "--port")) {
      v = value();
      if (v) port = *v;
    } else if (is("-U", "--username")) {
      v = value();
      if (v) user = *v;
    } else if (is("-X", "--wal-method")) {
      v = value();
      if (v) o.wal_method = *v;
      if (o.wal_method == "s") o.wal_method = "stream";
      if (o.wal_method == "f") o.wal_method = "fetch";
      if (o.wal_method == "n") o.wal_method = "none";
      if (o.wal_method != "stream" && o.wal_method != "fetch" && o.wal_method != "none") {
        *error = "invalid wal-method option \"" + o.wal_method +
                 "\", must be \"fetch\", "
                 "\"stream\", or \"none\"";
        return std::nullopt;
      }
    } else if (is("-S", "--slot")) {
      v = value();
      if (v) o.slot = *v;
    } else if (is("-c", "--checkpoint")) {
      v = value();
      if (v) o.checkpoint = *v;
      if (o.checkpoint != "fast" && o.checkpoint != "spread") {
        *error = "invalid checkpoint argument \"" + o.checkpoint +
                 "\", must be \"fast\" or "
                 "\"spread\"";
        return std::nullopt;
      }
    } else if (is("-l", "--label")) {
      v = value();
      if (v) o.label = *v;
    } else if (a == "-R" || a == "--write-recovery-conf") {
      o.write_recovery_conf = true;
      v = "";
    } else if (a == "-C" || a == "--create-slot") {
      o.create_slot = true;
      v = "";
    } else if (a == "-P" || a == "--progress") {
      o.progress = true;
      v = "";
    } else {
      *error = "invalid option \"" + a + "\"";
      return std::nullopt;
    }
    if (!v) {
      *error = "option \"" + a + "\" requires an argument";
      return std::nullopt;
    }
  }
  if (o.dir.empty()) {
    *error = "no target directory specified";
    return std::nullopt;
  }
  if (o.create_slot && o.slot.empty()) {
    *error = "--create-slot needs a slot to be specified using --slot";
    return std::nullopt;
  }
  for (const auto& [k, val] :
       {std::pair<const char*, std::string>{"host", host}, {"port", port}, {"user", user}}) {
    if (!val.empty()) o.conninfo += std::string(o.conninfo.empty() ? "" : " ") + k + "=" + val;
  }
  return o;
}

}  // namespace

int BaseBackup(const Args& args) {
  std::string error;
  auto parsed = ParseArgs(args, &error);
  if (!parsed) {
    std::fprintf(stderr, "walrepctl: error: %s\nTry \"walrepctl --help\" for more information.\n",
                 error.c_str());
    return 1;
  }
  BackupOptions o = *parsed;
  std::error_code ec;
  if (fs::exists(o.dir, ec) && !fs::is_empty(o.dir, ec)) {
    return Fail("directory \"" + o.dir + "\" exists but is not empty");
  }
  fs::create_directories(o.dir, ec);
  fs::permissions(o.dir, fs::perms::owner_all, ec);
  PGconn* conn = Connect(o.conninfo);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string m = Trim(PQerrorMessage(conn));
    PQfinish(conn);
    return Fail(m);
  }
  std::unique_ptr<PGconn, decltype(&PQfinish)> guard(conn, PQfinish);
  PGresult* res = PQexec(conn, "IDENTIFY_SYSTEM");
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 3) {
    PQclear(res);
    return Fail("could not identify system: " + Trim(PQerrorMessage(conn)));
  }
  uint64_t sysid = std::stoull(PQgetvalue(res, 0, 0));
  TimelineId tli = static_cast<TimelineId>(std::stoul(PQgetvalue(res, 0, 1)));
  PQclear(res);
  if (o.create_slot) {
    std::string q = "CREATE_REPLICATION_SLOT \"" + o.slot + "\" PHYSICAL (RESERVE_WAL)";
    res = PQexec(conn, q.c_str());
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    if (!ok) return Fail("could not create replication slot: " + Trim(PQerrorMessage(conn)));
  }
  std::string cmd = "BASE_BACKUP (LABEL " + Quote(o.label) + ", PROGRESS, CHECKPOINT " +
                    Quote(o.checkpoint) + ", WAIT 0, MANIFEST 'yes'" +
                    (o.wal_method == "fetch" ? ", WAL" : "") + ")";
  if (o.checkpoint == "spread") std::fprintf(stderr, "waiting for checkpoint\n");
  if (!PQsendQuery(conn, cmd.c_str())) return Fail(Trim(PQerrorMessage(conn)));
  res = PQgetResult(conn);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    std::string m = Trim(PQerrorMessage(conn));
    PQclear(res);
    return Fail("could not initiate base backup: " + m);
  }
  auto start = Lsn::Parse(PQgetvalue(res, 0, 0));
  PQclear(res);
  res = PQgetResult(conn);  // tablespaces: the total size in KiB
  uint64_t total_kb =
      PQntuples(res) > 0 && !PQgetisnull(res, 0, 2) ? std::stoull(PQgetvalue(res, 0, 2)) : 0;
  PQclear(res);

  // -X stream: a walreceiver fills pg_wal/ from the backup's start meanwhile.
  std::unique_ptr<replication::WalReceiver> receiver;
  if (o.wal_method == "stream" && start) {
    fs::create_directories(o.dir + "/pg_wal", ec);
    std::vector<GucAssignment> gucs = {
        {"primary_conninfo", o.conninfo, "", 0},
        {"primary_slot_name", o.slot, "", 0},
        {"wal_receiver_create_temp_slot", o.slot.empty() ? "on" : "off", "", 0},
        {"wal_retrieve_retry_interval", "1000", "", 0},
        {"cluster_name", "walrepctl", "", 0}};
    auto settings = ServerSettings::Build({}, gucs);
    if (!settings.ok()) return Fail(settings.status().message());
    replication::ReceiverOptions ro;
    ro.fs = io::DefaultFileSystem();
    ro.data_dir = o.dir;
    ro.system_identifier = sysid;
    auto s = *settings;
    ro.settings = [s] { return s; };
    ro.applied = [] { return Lsn(); };
    ro.feedback_xmin = [] { return TransactionId{0}; };
    receiver = std::make_unique<replication::WalReceiver>(ro);
    receiver->Start(*start, tli);
  }

  res = PQgetResult(conn);
  if (PQresultStatus(res) != PGRES_COPY_OUT) {
    std::string m = Trim(PQerrorMessage(conn));
    PQclear(res);
    return Fail("could not get COPY data stream: " + m);
  }
  PQclear(res);
  TarExtractor tar(o.dir);
  std::ofstream manifest;
  bool in_manifest = false;
  uint64_t done = 0;
  while (true) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn, &buf, 0);
    if (n == -1) break;
    if (n < 0) return Fail("could not read COPY data: " + Trim(PQerrorMessage(conn)));
    std::unique_ptr<char, decltype(&PQfreemem)> b(buf, PQfreemem);
    if (n < 1) continue;
    char type = buf[0];
    if (type == 'n') {
      in_manifest = false;
    } else if (type == 'd') {
      if (in_manifest) {
        manifest.write(buf + 1, n - 1);
      } else if (!tar.Feed(buf + 1, static_cast<size_t>(n - 1), &error)) {
        return Fail(error);
      }
    } else if (type == 'p' && n >= 9) {
      done = 0;
      for (int i = 1; i <= 8; i++) done = (done << 8) | static_cast<uint8_t>(buf[i]);
      if (o.progress) {
        uint64_t kb = done / 1024;
        int pct = total_kb ? static_cast<int>(std::min<uint64_t>(100, kb * 100 / total_kb)) : 0;
        std::fprintf(stderr, "\r%llu/%llu kB (%d%%), 1/1 tablespace",
                     static_cast<unsigned long long>(kb),
                     static_cast<unsigned long long>(std::max(total_kb, kb)), pct);
      }
    } else if (type == 'm') {
      in_manifest = true;
      manifest.open(o.dir + "/backup_manifest.tmp", std::ios::binary | std::ios::trunc);
    }
  }
  if (o.progress) std::fprintf(stderr, "\n");
  if (manifest.is_open()) {
    manifest.close();
    fs::rename(o.dir + "/backup_manifest.tmp", o.dir + "/backup_manifest", ec);
  }
  res = PQgetResult(conn);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    std::string m = Trim(PQerrorMessage(conn));
    PQclear(res);
    return Fail("backup failed: " + m);
  }
  auto end = Lsn::Parse(PQgetvalue(res, 0, 0));
  PQclear(res);
  while ((res = PQgetResult(conn)) != nullptr) {
    bool bad = PQresultStatus(res) == PGRES_FATAL_ERROR;
    PQclear(res);
    if (bad) return Fail("backup failed: " + Trim(PQerrorMessage(conn)));
  }
  if (receiver && end) {
    auto got = receiver->flushed().WaitFor(
        *end, std::chrono::steady_clock::now() + std::chrono::minutes(10));
    receiver->Stop();
    if (!got.ok()) return Fail("could not receive the WAL up to " + end->ToString());
  }
  if (o.write_recovery_conf) {
    std::ofstream(o.dir + "/standby.signal", std::ios::trunc).flush();
    std::ofstream auto_conf(o.dir + "/postgresql.auto.conf", std::ios::app);
    auto_conf << "primary_conninfo = " << Quote(ConninfoFor(conn)) << "\n";
    if (!o.slot.empty()) auto_conf << "primary_slot_name = " << Quote(o.slot) << "\n";
  }
  SyncTree(o.dir);
  std::fprintf(stderr, "walrepctl: base backup completed (start %s, end %s)\n",
               start ? start->ToString().c_str() : "?", end ? end->ToString().c_str() : "?");
  return 0;
}

}  // namespace walrep::tools
