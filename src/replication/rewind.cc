// walrep: rewind (see rewind.h).
#include "walrep/replication/rewind.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "walrep/common/config_file.h"
#include "walrep/common/logging.h"
#include "walrep/common/time.h"
#include "walrep/io/file_system.h"
#include "walrep/replication/archiver.h"
#include "walrep/storage/control_file.h"
#include "walrep/wal/timeline.h"
#include "walrep/wal/wal_reader.h"

namespace walrep::replication {
namespace {
namespace fs = std::filesystem;
constexpr uint64_t kBlock = 8192;

struct SourceFile {
  std::string path;  // relative to the data directory
  uint64_t size = 0;
  bool isdir = false;
};

// Where the new primary's files come from.
class Source {
 public:
  virtual ~Source() = default;
  virtual Result<std::vector<SourceFile>> List() = 0;
  // Up to `len` bytes at `off` (fewer at the end of the file).
  virtual Result<std::string> Read(const std::string& path, uint64_t off, uint64_t len) = 0;
  // The source's WAL position now: the target is consistent once it replayed this far.
  virtual Result<Lsn> EndLsn(const storage::ControlFileData& control) = 0;
};

class LocalSource : public Source {
 public:
  explicit LocalSource(std::string dir) : dir_(std::move(dir)) {}
  Result<std::vector<SourceFile>> List() override {
    std::vector<SourceFile> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      SourceFile f;
      f.path = fs::relative(it->path(), dir_).string();
      f.isdir = it->is_directory();
      f.size = f.isdir ? 0 : it->file_size();
      out.push_back(f);
    }
    if (ec) return Status::IOError("could not read directory \"" + dir_ + "\": " + ec.message());
    return out;
  }
  Result<std::string> Read(const std::string& path, uint64_t off, uint64_t len) override {
    std::ifstream in(dir_ + "/" + path, std::ios::binary);
    if (!in) return Status::IOError("could not open file \"" + dir_ + "/" + path + "\"");
    in.seekg(static_cast<std::streamoff>(off));
    std::string data(len, '\0');
    in.read(data.data(), static_cast<std::streamsize>(len));
    data.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    return data;
  }
  Result<Lsn> EndLsn(const storage::ControlFileData& control) override {
    // A stopped source: it ended with its shutdown checkpoint.
    if (control.state != static_cast<uint32_t>(storage::DbState::kShutdowned)) {
      return Status::InvalidArgument("source data directory must be shut down cleanly");
    }
    return Lsn(control.checkpoint);
  }

 private:
  std::string dir_;
};

// A string literal for SQL text.
std::string Literal(const std::string& s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  return out + "'";
}

class ServerSource : public Source {
 public:
  explicit ServerSource(PGconn* c) : c_(c) {}
  ~ServerSource() override { PQfinish(c_); }
  Result<std::string> Value(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> v;
    for (const auto& p : params) v.push_back(p.c_str());
    PGresult* r = PQexecParams(c_, sql.c_str(), static_cast<int>(v.size()), nullptr, v.data(),
                               nullptr, nullptr, 0);
    std::unique_ptr<PGresult, decltype(&PQclear)> guard(r, PQclear);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      return Status::IOError("error running query (" + sql +
                             ") on source server: " + PQresultErrorMessage(r));
    }
    if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0)) return std::string();
    return std::string(PQgetvalue(r, 0, 0));
  }
  Result<std::vector<SourceFile>> List() override {
    std::vector<SourceFile> out;
    std::vector<std::string> dirs{"."};
    while (!dirs.empty()) {
      std::string dir = dirs.back();
      dirs.pop_back();
      PGresult* r = PQexec(
          c_, ("SELECT pg_ls_dir FROM pg_ls_dir(" + Literal(dir) + ", true, false)").c_str());
      std::unique_ptr<PGresult, decltype(&PQclear)> guard(r, PQclear);
      if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        return Status::IOError(std::string("could not list source directory: ") +
                               PQresultErrorMessage(r));
      }
      for (int i = 0; i < PQntuples(r); i++) {
        std::string name = PQgetvalue(r, i, 0);
        std::string path = dir == "." ? name : dir + "/" + name;
        PGresult* s = PQexec(
            c_, ("SELECT size, isdir FROM pg_stat_file(" + Literal(path) + ", true)").c_str());
        std::unique_ptr<PGresult, decltype(&PQclear)> sguard(s, PQclear);
        if (PQresultStatus(s) != PGRES_TUPLES_OK || PQntuples(s) != 1 || PQgetisnull(s, 0, 0)) {
          continue;  // gone meanwhile
        }
        SourceFile f;
        f.path = path;
        f.isdir = std::string(PQgetvalue(s, 0, 1)) == "t";
        f.size = f.isdir ? 0 : std::stoull(PQgetvalue(s, 0, 0));
        if (f.isdir) dirs.push_back(path);
        out.push_back(f);
      }
    }
    return out;
  }
  Result<std::string> Read(const std::string& path, uint64_t off, uint64_t len) override {
    WALREP_ASSIGN_OR_RETURN(std::string hex,
                            Value("SELECT pg_read_binary_file($1, $2, $3, true)",
                                  {path, std::to_string(off), std::to_string(len)}));
    if (hex.size() < 2 || hex[0] != '\\' || hex[1] != 'x') {
      return Status::IOError("could not read source file \"" + path + "\"");
    }
    std::string out;
    out.reserve((hex.size() - 2) / 2);
    auto nibble = [](char ch) { return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10; };
    for (size_t i = 2; i + 1 < hex.size(); i += 2) {
      out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
    }
    return out;
  }
  Result<Lsn> EndLsn(const storage::ControlFileData&) override {
    WALREP_ASSIGN_OR_RETURN(std::string v, Value("SELECT pg_current_wal_insert_lsn()"));
    auto lsn = Lsn::Parse(v);
    if (!lsn) return Status::IOError("unexpected result from pg_current_wal_insert_lsn(): " + v);
    return *lsn;
  }

 private:
  PGconn* c_;
};

bool IsRelationFile(const std::string& p) {
  auto digits = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  size_t slash = p.rfind('/');
  if (slash == std::string::npos || !digits(p.substr(slash + 1))) return false;
  std::string dir = p.substr(0, slash);
  if (dir == "global") return true;
  return dir.rfind("base/", 0) == 0 && digits(dir.substr(5));
}

// pg_rewind's exclusions, plus the target's own configuration and signal files.
bool Excluded(const std::string& p) {
  static const std::set<std::string> files = {
      "postgresql.conf",  "postgresql.auto.conf", "pg_hba.conf",     "pg_ident.conf",
      "postmaster.pid",   "postmaster.opts",      "backup_label",    "backup_label.old",
      "tablespace_map",   "standby.signal",       "recovery.signal", "current_logfiles",
      "global/pg_control"};
  static const std::vector<std::string> dirs = {
      "pg_replslot", "pg_wal/archive_status", "pg_stat_tmp", "pg_dynshmem", "pg_notify",
      "pg_serial",   "pg_snapshots",          "pg_subtrans"};
  if (files.count(p)) return true;
  if (p.find("pgsql_tmp") != std::string::npos) return true;
  for (const auto& d : dirs) {
    if (p == d || p.rfind(d + "/", 0) == 0) return true;
  }
  return false;
}

}  // namespace

bool CleanlyShutDown(uint32_t s) {
  return s == static_cast<uint32_t>(storage::DbState::kShutdowned) ||
         s == static_cast<uint32_t>(storage::DbState::kShutdownedInRecovery);
}

Result<RewindResult> RewindDataDir(const RewindOptions& o) {
  io::FileSystem* lfs = io::DefaultFileSystem();
  auto log = [&](const std::string& msg) {
    if (o.log) o.log(msg);
  };
  RewindResult result;
  // The source.
  std::unique_ptr<Source> source;
  storage::ControlFileData src_control;
  if (!o.source_pgdata.empty()) {
    auto c = storage::ReadControlFile(lfs, o.source_pgdata);
    if (!c.ok()) return Status::InvalidArgument(c.status().message());
    src_control = *c;
    source = std::make_unique<LocalSource>(o.source_pgdata);
  } else {
    PGconn* conn = PQconnectdb(o.source_server.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string e = PQerrorMessage(conn);
      PQfinish(conn);
      return Status::InvalidArgument("could not connect to server: " + e);
    }
    auto server = std::make_unique<ServerSource>(conn);
    auto rec = server->Value("SELECT pg_is_in_recovery()");
    if (!rec.ok()) return Status::InvalidArgument(rec.status().message());
    if (*rec == "t") return Status::InvalidArgument("source server must not be in recovery mode");
    auto fpw = server->Value("SHOW full_page_writes");
    if (fpw.ok() && *fpw != "on")
      return Status::InvalidArgument("full_page_writes must be enabled in the source server");
    auto bytes = server->Read("global/pg_control", 0, kBlock);
    if (!bytes.ok() || bytes->size() < sizeof(storage::ControlFileData)) {
      return Status::InvalidArgument("could not read the source's pg_control");
    }
    std::memcpy(&src_control, bytes->data(), sizeof(src_control));
    source = std::move(server);
  }
  auto tgt = storage::ReadControlFile(lfs, o.target);
  if (!tgt.ok()) return Status::InvalidArgument(tgt.status().message());
  if (tgt->system_identifier != src_control.system_identifier) {
    return Status::InvalidArgument("source and target clusters are from different systems");
  }
  if (!CleanlyShutDown(tgt->state)) {
    return Status::InvalidArgument("target server must be shut down cleanly");
  }

  // The source's timeline: its newest history file (a pg_control read right after a promotion
  // may still name the old one; PostgreSQL 16 fixed that race in pg_rewind the same way).
  TimelineId src_tli = std::max<TimelineId>(src_control.checkpoint_copy.this_timeline, 1);
  while (true) {
    auto next = source->Read("pg_wal/" + wal::HistoryFileName(src_tli + 1), 0, 1);
    if (!next.ok() || next->empty()) break;
    src_tli++;
  }
  // A target that was a standby may have replayed into a later timeline than its last
  // restartpoint's (as pg_rewind: the later of the two).
  TimelineId tgt_tli =
      std::max<TimelineId>({tgt->checkpoint_copy.this_timeline, tgt->min_recovery_point_tli, 1});
  if (src_tli == tgt_tli)
    return Status::InvalidArgument("source and target cluster are on the same timeline");
  auto hist_text = source->Read("pg_wal/" + wal::HistoryFileName(src_tli), 0, 1 << 20);
  if (!hist_text.ok() || hist_text->empty()) {
    return Status::InvalidArgument("could not read history file " + wal::HistoryFileName(src_tli) +
                                   " of the source");
  }
  auto src_history = wal::ParseTimelineHistory(*hist_text, src_tli);
  log("reading source file list");
  auto files = source->List();
  if (!files.ok()) return Status::InvalidArgument(files.status().message());
  std::map<std::string, SourceFile> src_files;
  for (const auto& f : *files) src_files[f.path] = f;
  if (!src_history.ok()) return Status::InvalidArgument(src_history.status().message());
  if (!wal::TimelineInHistory(*src_history, tgt_tli)) {
    return Status::InvalidArgument(
        "could not find common ancestor of the source and target cluster's timelines");
  }
  Lsn diverge = wal::TimelineSwitchPoint(*src_history, tgt_tli);
  log(fmt::format("servers diverged at WAL location {} on timeline {}", diverge.ToString(),
                  tgt_tli));

  // The target's WAL: does it go past the divergence point?
  result.target_end = diverge;
  wal::TimelineHistory tgt_history;
  if (tgt_tli > 1) {
    auto h = wal::ReadTimelineHistory(lfs, o.target + "/pg_wal", tgt_tli);
    if (!h.ok()) return Status::InvalidArgument(h.status().message());
    tgt_history = *h;
  } else {
    tgt_history = wal::TimelineHistory{wal::TimelineEntry{1, Lsn(), Lsn()}};
  }
  wal::WalReader reader(lfs, o.target + "/pg_wal", tgt_history);
  // -c: a target segment missing from pg_wal comes from the target's restore_command.
  std::string restore_command;
  if (o.restore_target_wal) {
    for (const char* f : {"postgresql.conf", "postgresql.auto.conf"}) {
      auto items = ParseConfigFile(o.target + "/" + f, /*missing_ok=*/true);
      if (!items.ok()) return Status::InvalidArgument(items.status().message());
      for (const auto& a : *items) {
        if (a.name == "restore_command") restore_command = a.value;
      }
    }
    if (restore_command.empty()) {
      return Status::InvalidArgument(
          "restore_command is not set in the target cluster (needed by --restore-target-wal)");
    }
  }
  auto read = [&](Lsn at) -> Result<wal::DecodedRecord> {
    auto r = reader.ReadRecord(at);
    if (r.ok() || restore_command.empty()) return r;
    // The record's segment, or the next one it runs into, may be missing.
    bool restored = false;
    for (XLogSegNo seg :
         {wal::SegmentOf(at, wal::kDefaultSegSize), wal::SegmentOf(at, wal::kDefaultSegSize) + 1}) {
      TimelineId t =
          wal::TimelineOfPoint(tgt_history, wal::SegmentStart(seg, wal::kDefaultSegSize));
      std::string file = wal::XLogFileName(t, seg, wal::kDefaultSegSize);
      if (lfs->Exists(o.target + "/pg_wal/" + file)) continue;
      if (RestoreArchivedFile(lfs, restore_command, o.target, file, "pg_wal/" + file,
                              wal::kDefaultSegSize)) {
        log("restored log file \"" + file + "\" from archive");
        restored = true;
      }
    }
    return restored ? reader.ReadRecord(at) : r;
  };
  auto first_diverged = read(diverge);
  if (!first_diverged.ok() && Lsn(tgt->checkpoint) < diverge) {
    log("no rewind required");
    result.reason = "no rewind required";
    return result;
  }
  if (!first_diverged.ok()) {
    return Status::InvalidArgument("could not read the target's WAL at " + diverge.ToString() +
                                   ": " + first_diverged.status().message());
  }
  // The last checkpoint before the divergence: back along the prev-links.
  Lsn ckpt_lsn;
  wal::CheckPoint common;
  for (Lsn p = first_diverged->prev; p.valid();) {
    auto r = read(p);
    if (!r.ok())
      return Status::InvalidArgument("could not find previous WAL record at " + p.ToString());
    uint8_t info = r->info & 0xF0;
    if (r->rmid == wal::kRmXlog &&
        (info == wal::kXlogCheckpointOnline || info == wal::kXlogCheckpointShutdown)) {
      auto cp = wal::DecodeCheckPoint(r->main_data);
      if (!cp.ok()) return Status::InvalidArgument(cp.status().message());
      ckpt_lsn = r->lsn;
      common = *cp;
      break;
    }
    p = r->prev;
  }
  if (!ckpt_lsn.valid())
    return Status::InvalidArgument("could not find a checkpoint before the divergence point");
  log(fmt::format("rewinding from last common checkpoint at {} on timeline {}", ckpt_lsn.ToString(),
                  common.this_timeline));

  // Every block the target's WAL touched from that checkpoint's REDO point on.
  log("reading WAL in target");
  std::map<std::string, std::set<uint32_t>> changed;  // relation file -> blocks
  uint64_t records = 0;
  for (Lsn p(common.redo);;) {
    auto r = read(p);
    if (!r.ok()) break;
    records++;
    if (r->lsn >= diverge && r->rmid == wal::kRmXact &&
        (r->info & wal::kXactOpMask) == wal::kXactCommit) {
      result.commits_discarded++;
    }
    result.target_end = r->end_lsn;
    for (const auto& b : r->blocks) {
      std::string path = b.rnode.spc == 1664 ? fmt::format("global/{}", b.rnode.rel)
                                             : fmt::format("base/{}/{}", b.rnode.db, b.rnode.rel);
      changed[path].insert(b.block);
    }
    p = reader.NextRecordLsn(*r);
  }

  // The plan: what to copy, truncate and remove.
  XLogSegNo redo_seg = wal::SegmentOf(Lsn(common.redo), wal::kDefaultSegSize);
  struct Copy {
    std::string path;
    uint64_t off, len;
  };
  std::vector<Copy> copies;
  std::vector<std::pair<std::string, uint64_t>> truncates;
  std::vector<std::string> removes, mkdirs;
  uint64_t total_source = 0;
  for (const auto& [p, f] : src_files) {
    if (Excluded(p)) continue;
    total_source += f.size;
    std::string tpath = o.target + "/" + p;
    if (f.isdir) {
      if (!fs::exists(tpath)) mkdirs.push_back(p);
      continue;
    }
    if (p.rfind("pg_wal/", 0) == 0) {
      // History files, and the source's WAL from the REDO segment on (to replay).
      TimelineId t;
      XLogSegNo segno;
      bool segment = wal::ParseXLogFileName(p.substr(7), wal::kDefaultSegSize, &t, &segno);
      bool history = p.size() > 8 && p.compare(p.size() - 8, 8, ".history") == 0;
      if (history || (segment && segno >= redo_seg)) copies.push_back({p, 0, f.size});
      continue;
    }
    if (!IsRelationFile(p) || !fs::exists(tpath)) {
      copies.push_back({p, 0, f.size});
      continue;
    }
    uint64_t tsize = fs::file_size(tpath);
    if (tsize > f.size) truncates.emplace_back(p, f.size);
    if (f.size > tsize) copies.push_back({p, tsize, f.size - tsize});
    auto it = changed.find(p);
    if (it == changed.end()) continue;
    for (uint32_t blk : it->second) {
      uint64_t off = static_cast<uint64_t>(blk) * kBlock;
      if (off >= std::min(tsize, f.size)) continue;  // covered by the tail copy or truncation
      copies.push_back({p, off, kBlock});
    }
  }
  // Target files the source does not have (tables created on the old timeline, ...), WAL
  // included as pg_rewind does: the old timeline's segments past the divergence must not stay
  // where a reader could take them for the new timeline's, and their archive status goes too.
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(o.target, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string p = fs::relative(it->path(), o.target).string();
    if (it->is_directory() || Excluded(p) || src_files.count(p)) continue;
    removes.push_back(p);
    if (p.rfind("pg_wal/", 0) == 0) {
      for (const char* status : {".ready", ".done"}) {
        std::string s = "pg_wal/archive_status/" + p.substr(7) + status;
        if (fs::exists(o.target + "/" + s)) removes.push_back(s);
      }
    }
  }
  uint64_t to_copy = 0;
  for (const auto& c : copies) to_copy += c.len;
  log(
      fmt::format("need to copy {} MB (total source directory size is {} MB); {} WAL records "
                  "read, {} relation files changed, {} files to remove, {} to truncate",
                  to_copy >> 20, total_source >> 20, records, changed.size(), removes.size(),
                  truncates.size()));
  result.diverge = diverge;
  result.blocks = 0;
  for (const auto& [p, blocks] : changed) result.blocks += blocks.size();
  result.bytes_to_copy = to_copy;
  if (o.dry_run) {
    log("dry run: nothing changed");
    result.reason = "dry run";
    return result;
  }

  // Execute.
  for (const auto& d : mkdirs) fs::create_directories(o.target + "/" + d, ec);
  for (const auto& p : removes) fs::remove(o.target + "/" + p, ec);
  for (const auto& [p, size] : truncates) fs::resize_file(o.target + "/" + p, size, ec);
  uint64_t done = 0;
  std::set<std::string> whole;  // files copied from offset 0 in full are rewritten
  for (const auto& c : copies) {
    std::string tpath = o.target + "/" + c.path;
    bool rewrite = c.off == 0 && src_files[c.path].size == c.len && !IsRelationFile(c.path);
    std::fstream out;
    if (rewrite || !fs::exists(tpath)) {
      out.open(tpath, std::ios::binary | std::ios::out | std::ios::trunc);
    } else {
      out.open(tpath, std::ios::binary | std::ios::in | std::ios::out);
    }
    if (!out) return Status::InvalidArgument("could not open target file \"" + tpath + "\"");
    for (uint64_t off = c.off; off < c.off + c.len;) {
      uint64_t n = std::min<uint64_t>(c.off + c.len - off, 1 << 20);
      auto data = source->Read(c.path, off, n);
      if (!data.ok()) return Status::InvalidArgument(data.status().message());
      if (data->empty()) break;  // the source file shrank meanwhile
      out.seekp(static_cast<std::streamoff>(off));
      out.write(data->data(), static_cast<std::streamsize>(data->size()));
      off += data->size();
      done += data->size();
    }
    if (!out) return Status::InvalidArgument("could not write target file \"" + tpath + "\"");
  }
  result.bytes_copied = done;

  // backup_label and pg_control: replay the source's WAL from the common checkpoint, consistent
  // at the source's position now.
  auto end = source->EndLsn(src_control);
  if (!end.ok()) return Status::InvalidArgument(end.status().message());
  log("creating backup label and updating control file");
  std::string label = fmt::format(
      "START WAL LOCATION: {} (file {})\nCHECKPOINT LOCATION: {}\nBACKUP METHOD: pg_rewind\n"
      "BACKUP FROM: standby\nSTART TIME: {}\nLABEL: walrepctl rewind\nSTART TIMELINE: {}\n",
      Lsn(common.redo).ToString(),
      wal::XLogFileName(common.this_timeline, redo_seg, wal::kDefaultSegSize), ckpt_lsn.ToString(),
      FormatTimestampTz(NowTimestamp(), 0), common.this_timeline);
  if (!lfs->WriteFileDurably(o.target + "/backup_label", label).ok()) {
    return Status::InvalidArgument("could not write backup_label");
  }
  storage::ControlFileData c = src_control;
  c.state = static_cast<uint32_t>(storage::DbState::kInArchiveRecovery);
  c.checkpoint = ckpt_lsn.value();
  c.checkpoint_copy = common;
  c.min_recovery_point = end->value();
  c.min_recovery_point_tli = src_tli;
  c.backup_start_point = common.redo;
  c.backup_end_point = end->value();
  c.backup_end_required = 1;
  if (!storage::WriteControlFile(lfs, o.target, c).ok())
    return Status::InvalidArgument("could not write pg_control");
  if (o.write_recovery_conf) {
    std::ofstream sig(o.target + "/standby.signal");
    std::ofstream conf(o.target + "/postgresql.auto.conf", std::ios::app);
    std::string escaped;
    for (char ch : o.source_server) {
      if (ch == '\'') escaped += '\'';
      escaped += ch;
    }
    conf << "primary_conninfo = '" << escaped << "'\n";
  }
  ::sync();
  result.rewound = true;
  return result;
}

}  // namespace walrep::replication
