// walrep: global/pg_control (see control_file.h).
#include "walrep/storage/control_file.h"

#include <fmt/format.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <random>

#include "walrep/common/crc32c.h"

namespace walrep::storage {

namespace {
constexpr size_t kCrcOffset = offsetof(ControlFileData, crc);

std::string Lsn(uint64_t v) {
  return fmt::format("{:X}/{:X}", static_cast<uint32_t>(v >> 32), static_cast<uint32_t>(v));
}
std::string TimeText(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a %d %b %Y %I:%M:%S %p UTC", &tm);
  return buf;
}
std::string WalFileName(uint32_t tli, uint64_t lsn) {
  uint64_t seg = lsn / (16 * 1024 * 1024);
  return fmt::format("{:08X}{:08X}{:08X}", tli, static_cast<uint32_t>(seg / 256),
                     static_cast<uint32_t>(seg % 256));
}
}  // namespace

const char* DbStateName(DbState s) {
  switch (s) {
    case DbState::kStartup:
      return "starting up";
    case DbState::kShutdowned:
      return "shut down";
    case DbState::kShutdownedInRecovery:
      return "shut down in recovery";
    case DbState::kShuttingDown:
      return "shutting down";
    case DbState::kInCrashRecovery:
      return "in crash recovery";
    case DbState::kInArchiveRecovery:
      return "in archive recovery";
    case DbState::kInProduction:
      return "in production";
  }
  return "unrecognized status code";
}

ControlFileData NewControlFile(bool data_checksums) {
  ControlFileData c;
  timeval tv;
  gettimeofday(&tv, nullptr);
  c.system_identifier = (static_cast<uint64_t>(tv.tv_sec) << 32) |
                        (static_cast<uint64_t>(tv.tv_usec) << 12) | (::getpid() & 0xFFF);
  c.state = static_cast<uint32_t>(DbState::kShutdowned);
  c.time = tv.tv_sec;
  c.checkpoint_copy.time = tv.tv_sec;
  c.checkpoint_copy.next_xid = 3;
  c.checkpoint_copy.next_oid = 16384;
  c.checkpoint_copy.oldest_xid = 3;
  c.data_checksum_version = data_checksums ? 1 : 0;
  std::random_device rd;
  for (auto& b : c.mock_authentication_nonce) b = static_cast<uint8_t>(rd());
  return c;
}

Result<ControlFileData> ReadControlFile(io::FileSystem* fs, const std::string& data_dir) {
  std::string path = data_dir + "/global/pg_control";
  WALREP_ASSIGN_OR_RETURN(std::string bytes, fs->ReadFile(path));
  if (bytes.size() < sizeof(ControlFileData)) {
    return Status::Corruption(fmt::format("could not read file \"{}\": read {} of {}", path,
                                          bytes.size(), sizeof(ControlFileData)));
  }
  ControlFileData c;
  std::memcpy(&c, bytes.data(), sizeof(c));
  if (crc32c::Value(bytes.data(), kCrcOffset) != c.crc) {
    return Status::Corruption("incorrect checksum in control file");
  }
  if (c.pg_control_version != 1300) {
    return Status::Corruption(fmt::format(
        "database files are incompatible with server: PG_CONTROL_VERSION {} (expected 1300)",
        c.pg_control_version));
  }
  return c;
}

std::string EncodeControlFile(const ControlFileData& data) {
  std::string bytes(kControlFileSize, '\0');
  std::memcpy(bytes.data(), &data, sizeof(data));
  uint32_t crc = crc32c::Value(bytes.data(), kCrcOffset);
  std::memcpy(bytes.data() + kCrcOffset, &crc, sizeof(crc));
  return bytes;
}

Status WriteControlFile(io::FileSystem* fs, const std::string& data_dir, ControlFileData data) {
  data.time = std::time(nullptr);
  return fs->WriteFileDurably(data_dir + "/global/pg_control", EncodeControlFile(data));
}

namespace {
std::string CatalogVersionPath(const std::string& data_dir) {
  return data_dir + "/global/walrep_catversion";
}
}  // namespace

Status WriteWalrepCatalogVersion(io::FileSystem* fs, const std::string& data_dir) {
  return fs->WriteFileDurably(CatalogVersionPath(data_dir),
                              fmt::format("{}\n", kWalrepCatalogVersion));
}

Result<uint32_t> ReadWalrepCatalogVersion(io::FileSystem* fs, const std::string& data_dir) {
  std::string path = CatalogVersionPath(data_dir);
  if (!fs->Exists(path)) return 0u;
  WALREP_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path));
  uint32_t v = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && v < 1000000000u; i++) {
    v = v * 10 + static_cast<uint32_t>(text[i] - '0');
  }
  if (i == 0 || (i < text.size() && text.substr(i) != "\n")) {
    return Status::Corruption(fmt::format("invalid contents of file \"{}\"", path));
  }
  return v;
}

Status CheckWalrepCatalogVersion(io::FileSystem* fs, const std::string& data_dir) {
  WALREP_ASSIGN_OR_RETURN(uint32_t v, ReadWalrepCatalogVersion(fs, data_dir));
  if (v == kWalrepCatalogVersion) return Status::OK();
  std::string was = v == 0 ? std::string("before walrep catalog versions (rows stored as text)")
                           : fmt::format("with walrep catalog version {}", v);
  return Status::Sql("XX000", "database files are incompatible with server")
      .WithDetail(fmt::format("The database cluster was initialized {}, but the server was "
                              "compiled with walrep catalog version {}.",
                              was, kWalrepCatalogVersion))
      .WithHint(
          "It looks like you need to initialize a new data directory (walrepctl init) "
          "and load the data into it.");
}

std::string FormatControlFile(const ControlFileData& c) {
  const CheckPointData& cp = c.checkpoint_copy;
  static const char* kWalLevels[] = {"minimal", "replica", "logical"};
  std::string out;
  auto line = [&](const char* label, const std::string& value) {
    out += fmt::format("{:<38}{}\n", std::string(label) + ":", value);
  };
  line("pg_control version number", std::to_string(c.pg_control_version));
  line("Catalog version number", std::to_string(c.catalog_version_no));
  line("Database system identifier", std::to_string(c.system_identifier));
  line("Database cluster state", DbStateName(static_cast<DbState>(c.state)));
  line("pg_control last modified", TimeText(c.time));
  line("Latest checkpoint location", Lsn(c.checkpoint));
  line("Latest checkpoint's REDO location", Lsn(cp.redo));
  line("Latest checkpoint's REDO WAL file", WalFileName(cp.this_timeline, cp.redo));
  line("Latest checkpoint's TimeLineID", std::to_string(cp.this_timeline));
  line("Latest checkpoint's PrevTimeLineID", std::to_string(cp.prev_timeline));
  line("Latest checkpoint's full_page_writes", cp.full_page_writes ? "on" : "off");
  line("Latest checkpoint's NextXID",
       fmt::format("{}:{}", cp.next_xid >> 32, static_cast<uint32_t>(cp.next_xid)));
  line("Latest checkpoint's NextOID", std::to_string(cp.next_oid));
  line("Latest checkpoint's NextMultiXactId", std::to_string(cp.next_multi));
  line("Latest checkpoint's NextMultiOffset", std::to_string(cp.next_multi_offset));
  line("Latest checkpoint's oldestXID", std::to_string(cp.oldest_xid));
  line("Latest checkpoint's oldestXID's DB", std::to_string(cp.oldest_xid_db));
  line("Latest checkpoint's oldestActiveXID", std::to_string(cp.oldest_active_xid));
  line("Latest checkpoint's oldestMultiXid", std::to_string(cp.oldest_multi));
  line("Latest checkpoint's oldestMulti's DB", std::to_string(cp.oldest_multi_db));
  line("Latest checkpoint's oldestCommitTsXid", std::to_string(cp.oldest_commit_ts_xid));
  line("Latest checkpoint's newestCommitTsXid", std::to_string(cp.newest_commit_ts_xid));
  line("Time of latest checkpoint", TimeText(cp.time));
  line("Fake LSN counter for unlogged rels", Lsn(c.unlogged_lsn));
  line("Minimum recovery ending location", Lsn(c.min_recovery_point));
  line("Min recovery ending loc's timeline", std::to_string(c.min_recovery_point_tli));
  line("Backup start location", Lsn(c.backup_start_point));
  line("Backup end location", Lsn(c.backup_end_point));
  line("End-of-backup record required", c.backup_end_required ? "yes" : "no");
  line("wal_level setting",
       c.wal_level >= 0 && c.wal_level <= 2 ? kWalLevels[c.wal_level] : "unknown");
  line("wal_log_hints setting", c.wal_log_hints ? "on" : "off");
  line("max_connections setting", std::to_string(c.max_connections));
  line("max_worker_processes setting", std::to_string(c.max_worker_processes));
  line("max_wal_senders setting", std::to_string(c.max_wal_senders));
  line("max_prepared_xacts setting", std::to_string(c.max_prepared_xacts));
  line("max_locks_per_xact setting", std::to_string(c.max_locks_per_xact));
  line("track_commit_timestamp setting", c.track_commit_timestamp ? "on" : "off");
  line("Maximum data alignment", std::to_string(c.max_align));
  line("Database block size", std::to_string(c.blcksz));
  line("Blocks per segment of large relation", std::to_string(c.relseg_size));
  line("WAL block size", std::to_string(c.xlog_blcksz));
  line("Bytes per WAL segment", std::to_string(c.xlog_seg_size));
  line("Maximum length of identifiers", std::to_string(c.name_data_len));
  line("Maximum columns in an index", std::to_string(c.index_max_keys));
  line("Maximum size of a TOAST chunk", std::to_string(c.toast_max_chunk_size));
  line("Size of a large-object chunk", std::to_string(c.loblksize));
  line("Date/time type storage", "64-bit integers");
  line("Float8 argument passing", c.float8_by_val ? "by value" : "by reference");
  line("Data page checksum version", std::to_string(c.data_checksum_version));
  std::string nonce;
  for (uint8_t b : c.mock_authentication_nonce) nonce += fmt::format("{:02x}", b);
  line("Mock authentication nonce", nonce);
  return out;
}

}  // namespace walrep::storage
