// walrep: global/pg_control — the cluster's control file.
//
// walrep writes PostgreSQL 15's binary layout (ControlFileData: 296 bytes at the start of an
// 8192-byte file, CRC-32C over bytes 0..287 at offset 288), so PostgreSQL's own pg_controldata
// can read it as well as `walrepctl controldata`. Updates are durable: write a temporary file,
// fsync, rename over pg_control, fsync the directory.
//   off  size  field
//     0     8  system_identifier
//     8     4  pg_control_version (1300)      12  4  catalog_version_no (202209061)
//    16     4  state (DBState)                24  8  time (Unix seconds)
//    32     8  checkPoint                     40 88  checkPointCopy (CheckPoint)
//   128     8  unloggedLSN                   136  8  minRecoveryPoint   144 4 minRecoveryPointTLI
//   152     8  backupStartPoint              160  8  backupEndPoint     168 1 backupEndRequired
//   172..251   settings and build constants  252  4  data_checksum_version
//   256    32  mock_authentication_nonce     288  4  crc
// Thread safety: a ControlFile value is not synchronised; its owner serialises updates.
#pragma once

#include <cstdint>
#include <string>

#include "walrep/common/status.h"
#include "walrep/io/file_system.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::storage {

enum class DbState : uint32_t {
  kStartup = 0,
  kShutdowned = 1,
  kShutdownedInRecovery = 2,
  kShuttingDown = 3,
  kInCrashRecovery = 4,
  kInArchiveRecovery = 5,
  kInProduction = 6,
};
const char* DbStateName(DbState s);  // pg_controldata's words, e.g. "in production"

#pragma pack(push, 1)
using CheckPointData = wal::CheckPoint;

struct ControlFileData {
  uint64_t system_identifier = 0;
  uint32_t pg_control_version = 1300;
  uint32_t catalog_version_no = 202209061;
  uint32_t state = 0;
  uint32_t pad1 = 0;
  int64_t time = 0;
  uint64_t checkpoint = 0;
  CheckPointData checkpoint_copy;
  uint64_t unlogged_lsn = 1000;
  uint64_t min_recovery_point = 0;
  uint32_t min_recovery_point_tli = 0;
  uint32_t pad2 = 0;
  uint64_t backup_start_point = 0;
  uint64_t backup_end_point = 0;
  uint8_t backup_end_required = 0;
  uint8_t pad3[3] = {};
  int32_t wal_level = 1;
  // walrep changes a page only with a WAL record that references it (it has no hint bits), so
  // every cluster has what wal_log_hints = on gives PostgreSQL, and pg_rewind can rely on it.
  uint8_t wal_log_hints = 1;
  uint8_t pad4[3] = {};
  int32_t max_connections = 100;
  int32_t max_worker_processes = 8;
  int32_t max_wal_senders = 10;
  int32_t max_prepared_xacts = 0;
  int32_t max_locks_per_xact = 64;
  uint8_t track_commit_timestamp = 0;
  uint8_t pad5[3] = {};
  uint32_t max_align = 8;
  double float_format = 1234567.0;
  uint32_t blcksz = 8192;
  uint32_t relseg_size = 131072;
  uint32_t xlog_blcksz = 8192;
  uint32_t xlog_seg_size = 16 * 1024 * 1024;
  uint32_t name_data_len = 64;
  uint32_t index_max_keys = 32;
  uint32_t toast_max_chunk_size = 1996;
  uint32_t loblksize = 2048;
  uint8_t float8_by_val = 1;
  uint8_t pad6[3] = {};
  uint32_t data_checksum_version = 0;
  uint8_t mock_authentication_nonce[32] = {};
  uint32_t crc = 0;
  uint32_t pad7 = 0;
};
#pragma pack(pop)
static_assert(offsetof(ControlFileData, checkpoint_copy) == 40);
static_assert(offsetof(ControlFileData, unlogged_lsn) == 128);
static_assert(offsetof(ControlFileData, wal_level) == 172);
static_assert(offsetof(ControlFileData, max_align) == 204);
static_assert(offsetof(ControlFileData, float_format) == 208);
static_assert(offsetof(ControlFileData, data_checksum_version) == 252);
static_assert(offsetof(ControlFileData, crc) == 288);

constexpr size_t kControlFileSize = 8192;

// A new control file for initialisation: fresh system identifier and mock nonce.
ControlFileData NewControlFile(bool data_checksums);
// Reads and CRC-checks DIR/global/pg_control.
Result<ControlFileData> ReadControlFile(io::FileSystem* fs, const std::string& data_dir);
// Recomputes the CRC and writes the file durably.
Status WriteControlFile(io::FileSystem* fs, const std::string& data_dir, ControlFileData data);
// The file's 8 KB with a fresh CRC (what WriteControlFile writes; base backups send it).
std::string EncodeControlFile(const ControlFileData& data);
// pg_controldata-style report.
std::string FormatControlFile(const ControlFileData& c);

// walrep's own catalog version: the format of its rows (sql/row_format.h), catalog and WAL
// records (a data directory's WAL is replayed at its next start), kept in
// global/walrep_catversion as one decimal line. pg_control's catalog_version_no stays
// PostgreSQL 15's, which PostgreSQL's tools (pg_rewind) require; base backups and pg_rewind
// copy this file with the rest of global/.
constexpr uint32_t kWalrepCatalogVersion = 202612061;
Status WriteWalrepCatalogVersion(io::FileSystem* fs, const std::string& data_dir);
// The version DIR was written with; 0 when it has no version file (a format from before it).
Result<uint32_t> ReadWalrepCatalogVersion(io::FileSystem* fs, const std::string& data_dir);
// OK when DIR was written in this build's format, else FATAL-level "database files are
// incompatible with server" (as PostgreSQL for a catalog version mismatch).
Status CheckWalrepCatalogVersion(io::FileSystem* fs, const std::string& data_dir);

}  // namespace walrep::storage
