// walrep: the resource-manager table (see rmgr.h): XLOG, Transaction and Standby (PostgreSQL's
// ids and layouts, with their redo here), and walrep's heap, B-tree and sequence (redo next to
// their access methods).
#include "walrep/access/rmgr.h"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <optional>

#include "bytes.h"
#include "walrep/access/btree.h"
#include "walrep/access/sequence.h"
#include "walrep/common/strings.h"
#include "walrep/common/time.h"

namespace walrep::access {
namespace {

std::string Unknown(uint8_t info) { return fmt::format("UNKNOWN ({:x})", info); }
std::string NoDesc(const wal::DecodedRecord&) { return ""; }

// XLOG ------------------------------------------------------------------------------------------

Status XlogRedo(HeapEnv& env, const wal::DecodedRecord& rec) {
  if ((rec.info & 0xF0) == wal::kXlogNextOid && rec.main_data.size() == 4 && env.next_oid) {
    uint32_t oid = Get<uint32_t>(rec.main_data, 0);
    if (oid > env.next_oid->load()) env.next_oid->store(oid);
  }
  // A shutdown checkpoint: no transaction of the primary is running any more.
  if ((rec.info & 0xF0) == wal::kXlogCheckpointShutdown && env.recovery_locks) {
    env.recovery_locks->ReleaseAll();
  }
  return Status::OK();
}

std::string XlogIdentify(uint8_t info) {
  switch (info & 0xF0) {
    case wal::kXlogCheckpointShutdown:
      return "CHECKPOINT_SHUTDOWN";
    case wal::kXlogCheckpointOnline:
      return "CHECKPOINT_ONLINE";
    case wal::kXlogNoop:
      return "NOOP";
    case wal::kXlogNextOid:
      return "NEXTOID";
    case wal::kXlogSwitch:
      return "SWITCH";
    case wal::kXlogBackupEnd:
      return "BACKUP_END";
    case wal::kXlogParameterChange:
      return "PARAMETER_CHANGE";
    case wal::kXlogRestorePoint:
      return "RESTORE_POINT";
    case wal::kXlogEndOfRecovery:
      return "END_OF_RECOVERY";
    case wal::kXlogFpi:
      return "FPI";
  }
  return Unknown(info);
}

std::string XlogDesc(const wal::DecodedRecord& rec) {
  const std::string& d = rec.main_data;
  switch (rec.info & 0xF0) {
    case wal::kXlogCheckpointShutdown:
    case wal::kXlogCheckpointOnline: {
      auto cp = wal::DecodeCheckPoint(d);
      if (!cp.ok()) return "";
      return fmt::format("redo {}; tli {}; prev tli {}; xid {}; oid {}; oldest running xid {}; {}",
                         Lsn(cp->redo).ToString(), cp->this_timeline, cp->prev_timeline,
                         static_cast<uint32_t>(cp->next_xid), cp->next_oid, cp->oldest_active_xid,
                         (rec.info & 0xF0) == wal::kXlogCheckpointShutdown ? "shutdown" : "online");
    }
    case wal::kXlogNextOid:
      return std::to_string(Get<uint32_t>(d, 0));
    case wal::kXlogBackupEnd:
      return Lsn(Get<uint64_t>(d, 0)).ToString();
    case wal::kXlogRestorePoint: {
      if (d.size() < 8 + 64) return "";
      std::string name(d.data() + 8, 64);
      name.resize(std::strlen(name.c_str()));
      return name;
    }
  }
  return "";
}

// Transaction -----------------------------------------------------------------------------------

Status XactRedo(HeapEnv& env, const wal::DecodedRecord& rec) {
  uint8_t op = rec.info & wal::kXactOpMask;
  if (op == wal::kXactCommit) env.txm->RedoCommit(rec.xid);
  if (op == wal::kXactAbort) env.txm->RedoAbort(rec.xid);
  if ((op == wal::kXactCommit || op == wal::kXactAbort) && env.xact_rels) {
    std::vector<RelFileNode> rels = XactRecordRels(rec.info, rec.main_data);
    if (!rels.empty()) env.xact_rels(op == wal::kXactCommit, rec.xid, rels);
  }
  // After its files went: a standby query waiting for the table finds it gone.
  if ((op == wal::kXactCommit || op == wal::kXactAbort) && env.recovery_locks) {
    env.recovery_locks->ReleaseXid(rec.xid);
  }
  return Status::OK();
}

std::string XactIdentify(uint8_t info) {
  switch (info & wal::kXactOpMask) {
    case wal::kXactCommit:
      return "COMMIT";
    case wal::kXactAbort:
      return "ABORT";
  }
  return Unknown(info);
}

std::string XactDesc(const wal::DecodedRecord& rec) {
  if (rec.main_data.size() < 8) return "";
  std::string out = FormatTimestampTz(Get<int64_t>(rec.main_data, 0), 0);
  std::vector<RelFileNode> rels = XactRecordRels(rec.info, rec.main_data);
  if (!rels.empty()) {
    out += "; rels:";
    for (const auto& r : rels) out += fmt::format(" {}/{}/{}", r.spc, r.db, r.rel);
  }
  return out;
}

// Standby ---------------------------------------------------------------------------------------

// xl_running_xacts: xcnt, subxcnt, overflow, nextXid, oldestRunningXid, latestCompletedXid,
// then the running xids.
struct RunningXacts {
  TransactionId next_xid, oldest_running, latest_completed;
  std::vector<TransactionId> xids;
};
std::optional<RunningXacts> DecodeRunningXacts(const std::string& d) {
  if (d.size() < 24) return std::nullopt;
  RunningXacts r{Get<uint32_t>(d, 12), Get<uint32_t>(d, 16), Get<uint32_t>(d, 20), {}};
  uint32_t xcnt = Get<uint32_t>(d, 0);
  for (uint32_t i = 0; i < xcnt && 24 + 4 * (i + 1) <= d.size(); i++) {
    r.xids.push_back(Get<uint32_t>(d, 24 + 4 * i));
  }
  return r;
}

Status StandbyRedo(HeapEnv& env, const wal::DecodedRecord& rec) {
  const std::string& d = rec.main_data;
  if ((rec.info & 0xF0) == wal::kStandbyRunningXacts) {
    if (auto r = DecodeRunningXacts(d)) {
      env.txm->RedoRunningXacts(r->next_xid, r->xids);
      if (env.recovery_locks) env.recovery_locks->ReleaseEnded(r->next_xid, r->xids);
    }
  }
  if ((rec.info & 0xF0) == wal::kStandbyLock && env.recovery_locks) {
    for (const StandbyLock& l : DecodeStandbyLocks(d)) {
      // A lock listed before a RUNNING_XACTS record may belong to a transaction that ended
      // before replay began.
      if (env.txm->StatusOf(l.xid) != XidStatus::kInProgress) continue;
      WALREP_RETURN_IF_ERROR(env.recovery_locks->Acquire(l.xid, LockTag::Relation(l.db, l.rel)));
    }
  }
  return Status::OK();
}

std::string StandbyIdentify(uint8_t info) {
  switch (info & 0xF0) {
    case wal::kStandbyLock:
      return "LOCK";
    case wal::kStandbyRunningXacts:
      return "RUNNING_XACTS";
  }
  return Unknown(info);
}

std::string StandbyDesc(const wal::DecodedRecord& rec) {
  const std::string& d = rec.main_data;
  if ((rec.info & 0xF0) == wal::kStandbyLock) {
    std::string out;
    for (const StandbyLock& l : DecodeStandbyLocks(d)) {
      out += fmt::format("{}xid {} db {} rel {}", out.empty() ? "" : " ", l.xid, l.db, l.rel);
    }
    return out;
  }
  if ((rec.info & 0xF0) == wal::kStandbyRunningXacts) {
    auto r = DecodeRunningXacts(d);
    if (!r) return "";
    std::string out = fmt::format("nextXid {} latestCompletedXid {} oldestRunningXid {}",
                                  r->next_xid, r->latest_completed, r->oldest_running);
    if (!r->xids.empty()) out += fmt::format("; {} xacts:", r->xids.size());
    for (TransactionId x : r->xids) out += fmt::format(" {}", x);
    return out;
  }
  return "";
}

// walrep's own ------------------------------------------------------------------------------------

std::string HeapIdentify(uint8_t info) {
  switch (info & 0xF0) {
    case kHeapInsert:
      return "INSERT";
    case kHeapDelete:
      return "DELETE";
    case kHeapUpdateSamePage:
      return "UPDATE";
    case kHeapSetCtid:
      return "SET_CTID";
    case kHeapPrune:
      return "PRUNE";
    case kHeapPruneChains:
      return "PRUNE_CHAINS";
    case kHeapMultiInsert:
      return "MULTI_INSERT";
  }
  return Unknown(info);
}

std::string BtreeIdentify(uint8_t info) {
  switch (info & 0xF0) {
    case kBtreePages:
      return "PAGES";
    case kBtreeInsertLeaf:
      return "INSERT_LEAF";
    case kBtreeDeleteItems:
      return "DELETE_ITEMS";
  }
  return Unknown(info);
}

std::string SequenceIdentify(uint8_t) { return "LOG"; }

// What every walrep page may legitimately differ in after replay (PostgreSQL's
// mask_page_lsn_and_checksum, mask_page_hint_bits and mask_unused_space): the LSN (replay
// stamps the record's end, the image was taken before the insert), the checksum (computed at
// write-out), the flag bits that are hints (free line pointers) and prune_xid, and the bytes
// between the line pointers and the tuples, which hold whatever earlier contents left there.
void MaskPage(char* page) {
  std::memset(page, 0, 12);      // pd_lsn, pd_checksum, pd_flags
  std::memset(page + 20, 0, 4);  // pd_prune_xid
  storage::Page p(page);
  uint16_t lower = p.lower(), upper = p.upper();
  if (lower >= storage::kPageHeaderSize && lower <= upper && upper <= storage::kPageSize) {
    std::memset(page + lower, 0, upper - lower);
  }
}

const std::array<Rmgr, 6> kRmgrs = {{
    {wal::kRmXlog, "XLOG", XlogRedo, XlogIdentify, XlogDesc, nullptr},
    {wal::kRmXact, "Transaction", XactRedo, XactIdentify, XactDesc, nullptr},
    {wal::kRmStandby, "Standby", StandbyRedo, StandbyIdentify, StandbyDesc, nullptr},
    {kRmHeap, "walrep_heap", HeapRedo, HeapIdentify, NoDesc, MaskPage},
    {kRmBtree, "walrep_btree", BtreeRedo, BtreeIdentify, NoDesc, MaskPage},
    {kRmSequence, "walrep_sequence", RestorePageImages, SequenceIdentify, NoDesc, MaskPage},
}};

}  // namespace

const Rmgr* FindRmgr(uint8_t id) {
  for (const Rmgr& r : kRmgrs) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

std::string Describe(const wal::DecodedRecord& rec) {
  const Rmgr* r = FindRmgr(rec.rmid);
  std::string name = r ? r->name : fmt::format("custom{}", rec.rmid);
  std::string what = r ? r->identify(rec.info) : Unknown(rec.info);
  std::string desc = r ? r->desc(rec) : "";
  std::string out =
      fmt::format("rmgr: {} len (rec/tot): {}/{}, tx: {}, lsn: {}, prev {}, desc: {}", name,
                  rec.tot_len, rec.tot_len, rec.xid, rec.lsn.ToString(), rec.prev.ToString(), what);
  if (!desc.empty()) out += " " + desc;
  for (const auto& b : rec.blocks) {
    out += fmt::format(", blkref #{}: rel {}/{}/{} blk {}{}", b.id, b.rnode.spc, b.rnode.db,
                       b.rnode.rel, b.block,
                       !b.has_image    ? ""
                       : b.apply_image ? " FPW"
                                       : " FPW for WAL verification");
  }
  return out;
}

Status Redo(HeapEnv& env, const wal::DecodedRecord& rec) {
  // Every xid seen in WAL is used, committed or not: new transactions must never reuse one,
  // or rows of a crashed transaction would come back to life under the new one.
  if (rec.xid != kInvalidXid) env.txm->AdvanceNextXid(rec.xid + 1);
  const Rmgr* r = FindRmgr(rec.rmid);
  if (!r) {
    return Status::Corruption(fmt::format(
        "resource manager with ID {} not registered (record at {})", rec.rmid, rec.lsn.ToString()));
  }
  WALREP_RETURN_IF_ERROR(r->redo(env, rec));
  return CheckPageImages(env, rec);
}

uint32_t WalConsistencyRmgrs(const std::string& setting) {
  uint32_t bits = 0;
  for (const auto& name : SplitTrim(setting, ',')) {
    for (const Rmgr& r : kRmgrs) {
      if (r.mask && (EqualsIgnoreCase(name, "all") || EqualsIgnoreCase(name, r.name))) {
        bits |= WalConsistencyBit(r.id);
      }
    }
  }
  return bits;
}

Status CheckPageImages(HeapEnv& env, const wal::DecodedRecord& rec) {
  const Rmgr* r = nullptr;
  for (const auto& blk : rec.blocks) {
    if (!blk.has_image || blk.apply_image) continue;  // most records: nothing to compare
    if (!r) r = FindRmgr(rec.rmid);
    if (!r || !r->mask) continue;
    alignas(8) char replayed[storage::kPageSize];
    alignas(8) char primary[storage::kPageSize];
    {
      WALREP_ASSIGN_OR_RETURN(storage::BufferPool::Handle h, env.pool->Read(blk.rnode, blk.block));
      h.LockShared();
      std::memcpy(replayed, h.data(), storage::kPageSize);
    }
    // A page already past this record (recovery restarted after the page was written out,
    // so redo skipped it) cannot be expected to match; PostgreSQL skips it too.
    if (storage::Page(replayed).lsn() > rec.end_lsn) continue;
    std::memcpy(primary, blk.image.data(), storage::kPageSize);
    r->mask(replayed);
    r->mask(primary);
    if (std::memcmp(replayed, primary, storage::kPageSize) != 0) {
      size_t at = 0;
      while (replayed[at] == primary[at]) at++;
      return Status::Corruption(fmt::format("inconsistent page found, rel {}/{}/{}, forknum {}, "
                                            "blkno {}",
                                            blk.rnode.spc, blk.rnode.db, blk.rnode.rel, blk.fork,
                                            blk.block))
          .WithDetail(fmt::format("The page replay produced differs from the primary's image "
                                  "first at byte {} (record at {}).",
                                  at, rec.lsn.ToString()))
          .WithSeverity(Severity::kFatal);
    }
  }
  return Status::OK();
}

}  // namespace walrep::access
