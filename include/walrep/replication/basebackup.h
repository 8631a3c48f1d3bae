// walrep: BASE_BACKUP — a consistent copy of a running primary, streamed as tar.
//
// The backup starts with a checkpoint (its REDO point is the start LSN), streams backup_label,
// every file of the data directory and global/pg_control last as one ustar archive (base.tar,
// or base.tar.gz with COMPRESSION 'gzip'), optionally the WAL between start and end (WAL),
// then a backup manifest that pg_verifybackup checks (per-file CRC-32C or SHA-2 checksums and
// the WAL range). The end of the backup is an XLOG BACKUP_END record naming the start LSN,
// followed by a segment switch; a server restored from the copy is consistent once it has
// replayed that record. Pages copied while they were being written are repaired by the
// full-page images the first change after the backup checkpoint logs.
// Message flow, options and errors follow PostgreSQL 15 (replication-protocol.md §10).
// Counterpart: basebackup.c and backup_manifest.c in PostgreSQL.
// Thread safety: runs on the walsender's thread.
#pragma once

#include "walrep/protocol/connection.h"
#include "walrep/replication/command.h"
#include "walrep/replication/walsender.h"

namespace walrep::replication {

// Streams a base backup on `conn` (everything between the first result set and the last,
// without the final CommandComplete).
Status SendBaseBackup(ReplicationEnv* env, const Command& cmd, protocol::Connection* conn,
                      const std::function<Status()>& check_interrupts);

// A ustar header for `name` (directories end with '/').
std::string TarHeader(const std::string& name, uint64_t size, int64_t mtime, bool dir);

// The manifest's checksum text for `data` ("CRC32C" as PostgreSQL prints it: the CRC's bytes in
// little-endian order, hex).
std::string ManifestChecksum(const std::string& algorithm, std::string_view data);

}  // namespace walrep::replication
