// walrep: pg_wal/archive_status — which WAL files wait for archive_command (<file>.ready) and
// which were archived (<file>.done), in PostgreSQL's layout.
//
// A completed segment (and a timeline history file) gets <file>.ready; the archiver renames it
// to <file>.done once archive_command succeeded; WAL removal never passes a file whose status
// is not .done. Status files are not fsynced (as PostgreSQL's): a crash may lose one, and
// CheckArchiveDone() then recreates .ready for a completed segment that has neither, so
// nothing is removed unarchived.
// Counterpart: xlogarchive.c (XLogArchiveNotify, XLogArchiveCheckDone) in PostgreSQL.
// Thread safety: free functions; status files are only created and renamed atomically.
#pragma once

#include <string>
#include <vector>

#include "walrep/common/status.h"
#include "walrep/io/file_system.h"

namespace walrep::wal {

// <file>.ready (creating archive_status/ if needed).
Status MarkArchiveReady(io::FileSystem* fs, const std::string& wal_dir, const std::string& file);
// <file>.done (from .ready, or created).
Status MarkArchiveDone(io::FileSystem* fs, const std::string& wal_dir, const std::string& file);
// True once <file> was archived; a file with no status at all is marked .ready (and false).
bool CheckArchiveDone(io::FileSystem* fs, const std::string& wal_dir, const std::string& file);
// Removes <file>'s status files (the file itself was removed or recycled).
void RemoveArchiveStatus(io::FileSystem* fs, const std::string& wal_dir, const std::string& file);
// The files waiting to be archived: timeline history files first, then in name order (the
// order PostgreSQL's archiver takes them in).
std::vector<std::string> ArchiveReadyFiles(io::FileSystem* fs, const std::string& wal_dir);

}  // namespace walrep::wal
