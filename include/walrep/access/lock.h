// walrep: the lock manager — PostgreSQL's heavyweight locks on relations and transactions.
//
// Counterpart: lock.c, lmgr.c and deadlock.c. Eight table lock modes with PostgreSQL's conflict
// table; a lock is held by a LockOwner (a session's transaction, or the startup thread on behalf
// of replayed transactions) until it releases it, normally at transaction end.
//  - Relation locks (database oid, relation oid): AccessShareLock for reads, RowExclusiveLock
//    for DML, ShareLock for CREATE INDEX, AccessExclusiveLock for DROP/TRUNCATE/ALTER TABLE.
//  - Transaction locks (xid): a transaction holds ExclusiveLock on its own xid from the moment it
//    has one; waiting for a row another transaction changed is a ShareLock on that xid (as
//    XactLockTableWait), so the wait-for graph spans table and row locks.
// A request is granted when it conflicts with no other owner's granted lock and, unless the
// owner already holds a lock on the object, with no earlier waiter's request (waiters are
// served in order, so a stream of readers cannot starve a DROP). A waiter that has waited
// deadlock_timeout searches the wait-for graph once; a cycle through itself fails its request
// with 40P01 and PostgreSQL's DETAIL. Waits end early through the caller's check (cancel,
// statement timeout, recovery conflict), after lock_timeout (55P03), or at once with NOWAIT.
// Each owner keeps its own table of what it holds, so re-acquiring a held lock (every statement
// of a transaction reading the same table) does not touch the shared table.
// Thread safety: LockManager is thread-safe; a LockOwner is used by one thread at a time
// (its own), while the manager reads the fields it guards.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/mutex.h"
#include "walrep/common/status.h"

namespace walrep::access {

// PostgreSQL's numbering (lockdefs.h), which libpg_query's LockStmt mode also uses.
enum class LockMode : uint8_t {
  kNoLock = 0,
  kAccessShare = 1,
  kRowShare = 2,
  kRowExclusive = 3,
  kShareUpdateExclusive = 4,
  kShare = 5,
  kShareRowExclusive = 6,
  kExclusive = 7,
  kAccessExclusive = 8,
};
constexpr int kNumLockModes = 9;
// "AccessShareLock", ... (pg_locks.mode and error texts).
const char* LockModeName(LockMode mode);
bool LockModesConflict(LockMode a, LockMode b);

struct LockTag {
  enum class Type : uint8_t { kRelation, kTransaction };
  Type type = Type::kRelation;
  uint32_t db = 0;  // relation: database oid
  uint32_t id = 0;  // relation: its oid; transaction: the xid
  static LockTag Relation(uint32_t db, uint32_t rel) { return {Type::kRelation, db, rel}; }
  static LockTag Transaction(TransactionId xid) { return {Type::kTransaction, 0, xid}; }
  bool operator==(const LockTag& o) const { return type == o.type && db == o.db && id == o.id; }
  bool operator<(const LockTag& o) const {
    return std::tie(type, db, id) < std::tie(o.type, o.db, o.id);
  }
  // "relation 16384 of database 5" / "transaction 735" (deadlock reports).
  std::string Describe() const;
};
struct LockTagHash {
  size_t operator()(const LockTag& t) const {
    return (static_cast<size_t>(t.db) * 0x9E3779B1u) ^ (static_cast<size_t>(t.id) << 1) ^
           static_cast<size_t>(t.type);
  }
};

class LockManager;

// Who holds locks: one per session (reused by each of its transactions) and one for the
// startup thread's replayed locks.
class LockOwner {
 public:
  explicit LockOwner(int32_t pid) : pid_(pid) {}
  LockOwner(const LockOwner&) = delete;
  LockOwner& operator=(const LockOwner&) = delete;
  int32_t pid() const { return pid_; }
  // A new transaction of this owner (pg_locks.virtualtransaction "<pid>/<number>").
  void NewTransaction() { local_xact_.fetch_add(1, std::memory_order_relaxed); }
  // The transaction's xid once it has one (pg_locks, STANDBY LOCK lists).
  TransactionId xid() const { return xid_.load(std::memory_order_acquire); }
  void set_xid(TransactionId x) { xid_.store(x, std::memory_order_release); }
  bool Holds(const LockTag& tag, LockMode mode) const;
  // Savepoints: a mark, and the locks taken after it (released at ROLLBACK TO / a failed
  // subtransaction).
  size_t Mark() const { return order_.size(); }
  // Reports a lock wait ("Lock", "relation" / "transactionid") and its end (nullptrs).
  std::function<void(const char* type, const char* event)> report_wait;

 private:
  friend class LockManager;
  const int32_t pid_;
  std::atomic<uint32_t> local_xact_{0};
  std::atomic<TransactionId> xid_{0};
  // Owner-local (LOCALLOCK): what it holds, in the order first taken.
  std::set<std::pair<LockTag, LockMode>> held_;
  std::vector<std::pair<LockTag, LockMode>> order_;
};

struct LockRequest {
  bool nowait = false;
  int64_t timeout_ms = 0;              // lock_timeout; 0 = none
  int64_t deadlock_timeout_ms = 1000;  // when to search for a deadlock; <= 0 = never
  std::function<Status()> check;       // run while waiting; an error ends the wait with it
};

// One row of pg_locks.
struct LockInfo {
  LockTag tag;
  LockMode mode = LockMode::kNoLock;
  int32_t pid = 0;
  std::string virtual_xid;
  bool granted = false;
  int64_t wait_start = 0;  // TimestampTz; waiters only
};

// One AccessExclusiveLock of a STANDBY LOCK record (PostgreSQL's xl_standby_lock).
struct StandbyLock {
  TransactionId xid = 0;
  uint32_t db = 0, rel = 0;
  bool operator==(const StandbyLock&) const = default;
};
// STANDBY LOCK main data (xl_standby_locks): int32 nlocks, then {xid, db oid, relation oid}.
std::string EncodeStandbyLocks(const std::vector<StandbyLock>& locks);
std::vector<StandbyLock> DecodeStandbyLocks(std::string_view data);

class LockManager {
 public:
  LockManager() = default;
  // Ok when granted; kRetry status "lock not available" when NOWAIT found it taken (the caller
  // words the 55P03); 55P03 after lock_timeout; 40P01 on a deadlock; the check's error.
  Status Acquire(LockOwner* owner, const LockTag& tag, LockMode mode, const LockRequest& req)
      EXCLUDES(mu_);
  // Releases (tag, mode) held by owner.
  void Release(LockOwner* owner, const LockTag& tag, LockMode mode) EXCLUDES(mu_);
  // Releases what owner took after `mark` (all at mark 0: transaction end).
  void ReleaseSince(LockOwner* owner, size_t mark) EXCLUDES(mu_);
  void ReleaseAll(LockOwner* owner) EXCLUDES(mu_) { ReleaseSince(owner, 0); }
  // The pids of other owners whose granted locks conflict with (tag, mode).
  std::vector<int32_t> Blockers(const LockOwner* owner, const LockTag& tag, LockMode mode) const
      EXCLUDES(mu_);
  // Makes every waiter run its check now.
  void WakeAll() EXCLUDES(mu_);
  // Every granted and awaited lock (pg_locks).
  std::vector<LockInfo> List() const EXCLUDES(mu_);
  // AccessExclusiveLocks on relations held by owners with an xid (the lock list a
  // RUNNING_XACTS record is preceded by).
  std::vector<StandbyLock> ExclusiveRelationLocks() const EXCLUDES(mu_);
  // Whether any lock is granted or awaited (tests).
  bool Empty() const EXCLUDES(mu_);

 private:
  struct Waiter {
    LockOwner* owner;
    LockMode mode;
    int64_t start;  // TimestampTz
  };
  struct Lock {
    std::array<uint32_t, kNumLockModes> granted{};  // all owners
    std::map<LockOwner*, std::array<uint32_t, kNumLockModes>> holders;
    std::list<Waiter> waiters;
  };
  bool Grantable(const Lock& lock, const LockOwner* owner, LockMode mode, const Waiter* self) const
      REQUIRES(mu_);
  void Grant(Lock& lock, LockOwner* owner, LockMode mode) REQUIRES(mu_);
  void ReleaseLocked(LockOwner* owner, const LockTag& tag, LockMode mode) REQUIRES(mu_);
  // A cycle of waits through `me`: its description (empty when none).
  std::string FindDeadlock(const LockOwner* me) const REQUIRES(mu_);
  // Owners `owner` waits for, with the lock it waits on.
  std::vector<const LockOwner*> WaitsFor(const LockOwner* owner) const REQUIRES(mu_);

  mutable Mutex mu_;
  CondVar changed_{&mu_};  // a lock was released, or WakeAll
  std::unordered_map<LockTag, Lock, LockTagHash> locks_ GUARDED_BY(mu_);
  // What each waiting owner waits for.
  std::map<const LockOwner*, std::pair<LockTag, LockMode>> waiting_ GUARDED_BY(mu_);
};

// Hot standby (counterpart: standby.c's RecoveryLockLists): the AccessExclusiveLocks of the
// primary's transactions, taken by the startup thread when it replays their STANDBY LOCK
// records, so standby queries holding AccessShareLock on a table keep it until replay's conflict
// resolution cancels them; released at the transaction's commit or abort record, when a
// RUNNING_XACTS record shows it gone, at a shutdown checkpoint and at promotion.
class RecoveryLocks {
 public:
  // `pid`: shown in pg_locks for these locks.
  RecoveryLocks(LockManager* locks, int32_t pid) : locks_(locks), owner_(pid) {}
  // How replay waits for a conflicting lock (the server's conflict resolution); unset: waits.
  void SetRequest(std::function<LockRequest(const LockTag&)> f) { request_ = std::move(f); }
  Status Acquire(TransactionId xid, const LockTag& tag);
  void ReleaseXid(TransactionId xid);
  // Releases the locks of transactions below next_xid that are not in `running`.
  void ReleaseEnded(TransactionId next_xid, const std::vector<TransactionId>& running);
  void ReleaseAll();
  const LockOwner* owner() const { return &owner_; }

 private:
  void ReleaseTag(const LockTag& tag);
  LockManager* const locks_;
  LockOwner owner_;
  std::function<LockRequest(const LockTag&)> request_;
  // Used by the startup thread only.
  std::map<TransactionId, std::vector<LockTag>> by_xid_;
  std::map<LockTag, int> count_;  // the same relation locked by several listed transactions
};

}  // namespace walrep::access
