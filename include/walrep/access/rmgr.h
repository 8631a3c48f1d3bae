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
  // Blanks what may differ between a page the primary changed and the same page replay
  // produced (PostgreSQL's rm_mask): null for resource managers that change no pages.
  void (*mask)(char* page) = nullptr;
};

// The resource manager of `id`, or nullptr when walrep has none.
const Rmgr* FindRmgr(uint8_t id);

// wal_consistency_checking (PostgreSQL's developer setting): the resource managers whose
// records the primary logs with a verification image of each page after the change
// (BKPIMAGE_APPLY unset), and that replay compares, masked, with the page it produced.
// Bit (rmid - kRmHeap) for walrep's page-changing resource managers.
constexpr uint32_t WalConsistencyBit(uint8_t rmid) {
  return rmid >= 128 && rmid < 160 ? 1u << (rmid - 128) : 0;
}
// The set a setting's stored value names ("all", or names from the table; others ignored).
uint32_t WalConsistencyRmgrs(const std::string& setting);
// Replay, after a record's redo: each verification image against the page in the buffer pool;
// a difference is "inconsistent page found" (FATAL: replay must stop, as in PostgreSQL).
Status CheckPageImages(HeapEnv& env, const wal::DecodedRecord& rec);

// "rmgr: Transaction len (rec/tot): 34/34, tx: 735, lsn: 0/3000060, prev 0/3000028, desc: COMMIT
// 2026-12-05 04:40:46.013556 UTC" — pg_waldump's line, for logs and tests.
std::string Describe(const wal::DecodedRecord& rec);

}  // namespace walrep::access
