// walrep: the resource managers — one table from a record's rmgr id to its name, its redo and
// its description (counterpart: rmgrlist.h / RmgrTable, and the rm_desc / rm_identify
// functions pg_waldump prints). Crash recovery, standby replay and archive recovery all apply
// records through Redo(); logs and tests describe them with Describe().
// Thread safety: the table is immutable.
#pragma once

#include <string>

#include "walrep/access/heap.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::access {

struct Rmgr {
  uint8_t id = 0;
  const char* name = "";  // pg_waldump's names for PostgreSQL's; walrep's own for 128-130
  Status (*redo)(HeapEnv& env, const wal::DecodedRecord& rec) = nullptr;
  // The record type ("COMMIT", "RUNNING_XACTS", "INSERT_LEAF", ...), as rm_identify.
  std::string (*identify)(uint8_t info) = nullptr;
  // The main data decoded, as rm_desc ("2026-12-05 ...; rels: 1663/5/16384").
  std::string (*desc)(const wal::DecodedRecord& rec) = nullptr;
};

// The resource manager of `id`, or nullptr when walrep has none.
const Rmgr* FindRmgr(uint8_t id);

// "rmgr: Transaction len (rec/tot): 34/34, tx: 735, lsn: 0/3000060, prev 0/3000028, desc: COMMIT
// 2026-12-05 04:40:46.013556 UTC" — pg_waldump's line, for logs and tests.
std::string Describe(const wal::DecodedRecord& rec);

}  // namespace walrep::access
