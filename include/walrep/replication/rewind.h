// walrep: rewind — pg_rewind's method for walrep data directories (walrepctl rewind, and a
// standby's walrep.auto_rewind).
//
// A former primary whose history forked from its promoted standby's is made a copy of the new
// primary again without a full base backup:
//  1. the divergence point is where the target's timeline ends in the source's history (the
//     source's timeline is its newest history file: a pg_control written before the checkpoint
//     after a promotion cannot mislead it);
//  2. the target's WAL is read back from there (prev-links) to the last checkpoint before it,
//     and forward from that checkpoint's REDO point to its end, collecting every block a record
//     references: the blocks the target changed since the histories were one;
//  3. those blocks are copied from the source, relation files are created, removed, extended
//     or truncated to the source's, and every other file (pg_xact, WAL from the REDO segment
//     on, history files, ...) is copied whole, except pg_rewind's exclusions and the target's
//     own configuration;
//  4. a backup_label makes the target replay the source's WAL from that checkpoint, and
//     pg_control (the source's) says it is consistent only once it reached the source's WAL
//     position at the time of the rewind; with write_recovery_conf it starts as a standby.
// The source is a running server (read with pg_ls_dir / pg_stat_file / pg_read_binary_file)
// or a stopped data directory.
// Thread safety: one call at a time per target directory.
#pragma once

#include <functional>
#include <string>

#include "walrep/common/lsn.h"
#include "walrep/common/status.h"

namespace walrep::replication {

struct RewindOptions {
  std::string target;                // the stopped (cleanly shut down) data directory to rewind
  std::string source_server;         // libpq connection string, or
  std::string source_pgdata;         // a cleanly stopped source data directory
  bool write_recovery_conf = false;  // standby.signal + primary_conninfo (source_server)
  bool dry_run = false;
  // -c: target WAL missing from its pg_wal is fetched with the target's restore_command.
  bool restore_target_wal = false;
  std::function<void(const std::string&)> log;  // progress lines, pg_rewind's wording
};

struct RewindResult {
  bool rewound = false;
  std::string reason;   // why not: "no rewind required", "dry run"
  Lsn diverge;          // where the histories forked
  Lsn target_end;       // the end of the target's WAL (what was discarded: diverge..target_end)
  uint64_t blocks = 0;  // blocks the target changed since the last common checkpoint
  uint64_t commits_discarded = 0;  // the target's commits after the divergence point
  uint64_t bytes_to_copy = 0, bytes_copied = 0;
};

// The target's state in pg_control allows a rewind (shut down, in production or in recovery).
bool CleanlyShutDown(uint32_t db_state);
Result<RewindResult> RewindDataDir(const RewindOptions& opts);

}  // namespace walrep::replication
