// walrep: a transaction's heavyweight locks (counterpart: lmgr.c, and LogAccessExclusiveLock in
// standby.c). See LockRelation() and WaitForTransaction() in heap.h.
#include <fmt/format.h>

#include "walrep/access/heap.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::access {
namespace {

LockRequest RequestFor(const TxnContext& tx, bool nowait, std::function<Status()> check) {
  LockRequest req;
  req.nowait = nowait;
  req.timeout_ms = tx.lock_timeout_ms;
  req.deadlock_timeout_ms = tx.deadlock_timeout_ms;
  req.check = std::move(check);
  return req;
}

}  // namespace

Status LockRelation(HeapEnv& env, TxnContext& tx, uint32_t db, uint32_t rel, LockMode mode,
                    bool nowait) {
  if (!env.locks || !tx.locks || mode == LockMode::kNoLock) return Status::OK();
  const LockTag tag = LockTag::Relation(db, rel);
  if (tx.locks->Holds(tag, mode)) return Status::OK();
  if (!env.wal && mode > LockMode::kRowExclusive) {
    // Replay holds the locks that matter during recovery; a stronger one could never be logged.
    return Status::Sql("0A000", fmt::format("cannot acquire lock mode {} on database objects while "
                                            "recovery is in progress",
                                            LockModeName(mode)))
        .WithHint(
            "Only RowExclusiveLock or less can be acquired on database objects during "
            "recovery.");
  }
  WALREP_RETURN_IF_ERROR(
      env.locks->Acquire(tx.locks, tag, mode, RequestFor(tx, nowait, tx.check_interrupts)));
  if (tx.lock_log) tx.lock_log->emplace_back(rel, mode);
  if (mode != LockMode::kAccessExclusive || !env.wal) return Status::OK();
  // Standbys take it when they replay this record, before anything the lock protects.
  TransactionId xid = tx.ensure_xid();
  return env.wal
      ->Insert(wal::kRmStandby, wal::kStandbyLock, xid,
               wal::RecordBuilder()
                   .SetMainData(EncodeStandbyLocks({StandbyLock{xid, db, rel}}))
                   .BuildBody())
      .status();
}

Status WaitForTransaction(HeapEnv& env, TxnContext& tx, TransactionId xid,
                          const std::function<Status()>& check) {
  if (env.locks && tx.locks) {
    const LockTag tag = LockTag::Transaction(xid);
    WALREP_RETURN_IF_ERROR(
        env.locks->Acquire(tx.locks, tag, LockMode::kShare, RequestFor(tx, false, check)));
    env.locks->Release(tx.locks, tag, LockMode::kShare);
  }
  // Its locks are gone; its end may still wait to be published (commit order, sync standbys).
  TransactionId me = tx.ensure_xid ? tx.ensure_xid() : tx.xid;
  return env.txm->WaitFor(me, xid, check);
}

void ReleaseLocks(HeapEnv& env, TxnContext& tx) {
  if (!env.locks || !tx.locks) return;
  env.locks->ReleaseAll(tx.locks);
  tx.locks->set_xid(kInvalidXid);
  tx.locks->NewTransaction();
}

}  // namespace walrep::access
