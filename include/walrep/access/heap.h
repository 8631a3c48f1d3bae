// walrep: heap relations — MVCC tuples in slotted pages, every change WAL-logged.
//
// Tuple header (24 bytes, walrep's own layout; the WAL records that carry it use the custom
// resource manager 128, documented in docs/wal-records.md):
//   +0 u32 xmin   +4 u32 xmax   +8 u32 cmin   +12 u32 cmax
//   +16 u32 ctid block  +20 u16 ctid offset  +22 u16 infomask
// then the row bytes (opaque here; upper layers encode columns).
// xmax doubles as the row lock, as in PostgreSQL: an UPDATE or DELETE that meets a row whose
// xmax is a running transaction waits for it, then (READ COMMITTED) follows the update chain
// to the newest version, or (REPEATABLE READ) fails with 40001.
// Every page change happens under the page's exclusive lock, is described by one WAL record
// (with a full-page image on the first change after a checkpoint), and stamps the page LSN.
// Thread safety: thread-safe; callers pass their transaction context.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "walrep/access/lock.h"
#include "walrep/access/xact.h"
#include "walrep/common/time.h"
#include "walrep/storage/buffer_pool.h"

namespace walrep::access {

using storage::BlockNumber;
using storage::OffsetNumber;
using wal::RelFileNode;

constexpr uint8_t kRmHeap = 128;  // walrep heap resource manager
// System relations (the catalog) have relation file numbers below the first user oid.
constexpr uint32_t kFirstUserRelFile = 16384;
// Heap record types (info high bits).
constexpr uint8_t kHeapInsert = 0x00;
constexpr uint8_t kHeapDelete = 0x10;
constexpr uint8_t kHeapUpdateSamePage = 0x20;
constexpr uint8_t kHeapSetCtid = 0x30;
constexpr uint8_t kHeapPrune = 0x40;        // line pointers made dead (before HOT; still replayed)
constexpr uint8_t kHeapPruneChains = 0x50;  // dead, unused and redirected line pointers
constexpr uint8_t kHeapMultiInsert = 0x60;  // several new tuples on one page (COPY)

constexpr uint16_t kHeapUpdated = 0x0001;      // this tuple is a new version of an updated row
constexpr uint16_t kHeapXmaxUpdate = 0x0002;   // xmax replaced the row (ctid -> new version)
constexpr uint16_t kHeapXminInvalid = 0x0004;  // rolled back to a savepoint: dead to everyone
// Heap-only tuples (PostgreSQL's HOT): an UPDATE that changes no indexed column and fits on the
// row's page adds the new version without index entries; the old version is marked HOT-updated
// and its ctid leads along the chain. Index entries point at the chain's root line pointer,
// which pruning turns into a redirect to the first version still needed; dead heap-only
// versions' line pointers become unused and are reused, so a hot row's page does not grow.
constexpr uint16_t kHeapHotUpdated = 0x0008;  // updated into a heap-only tuple (ctid: same page)
constexpr uint16_t kHeapOnly = 0x0010;        // no index entry points here

struct TupleId {
  BlockNumber block = storage::kInvalidBlock;
  OffsetNumber off = 0;
  bool valid() const { return off != 0; }
  bool operator==(const TupleId&) const = default;
  auto operator<=>(const TupleId&) const = default;
};

struct TupleHeader {
  TransactionId xmin = 0, xmax = 0;
  CommandId cmin = 0, cmax = 0;
  TupleId ctid;
  uint16_t infomask = 0;
};
constexpr size_t kTupleHeaderSize = 24;

// A relation of one database as a map key (per-relation in-memory state).
inline uint64_t RelKey(const RelFileNode& r) { return (uint64_t{r.db} << 32) | r.rel; }

// Pages of relations with room for new rows, as pruning and VACUUM leave them: inserts fill
// them before extending the relation (PostgreSQL's free space map, kept in memory: after a
// restart the next VACUUM or pruning of a page records it again). A hint: the inserter checks
// the page under its lock. Thread-safe.
class FreeSpaceMap {
 public:
  // Pages with less room than this are not worth a visit.
  static constexpr size_t kMinUseful = 512;
  void Record(const RelFileNode& rel, BlockNumber block, size_t free_bytes) EXCLUDES(mu_);
  // A page recorded with at least `need` bytes free, other than `except`.
  std::optional<BlockNumber> Find(const RelFileNode& rel, size_t need, BlockNumber except)
      EXCLUDES(mu_);
  void Forget(const RelFileNode& rel) EXCLUDES(mu_);

 private:
  Mutex mu_;
  std::map<uint64_t, std::map<BlockNumber, size_t>> pages_ GUARDED_BY(mu_);
};

// Live and dead row versions per relation (the system catalog's too), estimated as PostgreSQL's
// n_live_tup and n_dead_tup are: a transaction's changes count when it ends (committed deletes and
// updates leave dead versions, an abort leaves its inserts and new versions dead), and pruning — on
// access or by VACUUM — takes away the versions it removes. Autovacuum's trigger. Counts start
// at zero when the server starts. Thread-safe.
class TableStats {
 public:
  struct Counts {
    int64_t live = 0;
    int64_t dead = 0;
    // pg_stat_user_tables' counters (rows of aborted transactions count, as in PostgreSQL).
    int64_t inserted = 0, updated = 0, deleted = 0, hot_updated = 0, inserted_since_vacuum = 0;
    int64_t vacuum_count = 0, autovacuum_count = 0;
    TimestampTz last_vacuum = 0, last_autovacuum = 0;  // 0: never
  };
  // One transaction's changes, by relation.
  struct Change {
    int64_t inserted = 0, deleted = 0, updated = 0, hot_updated = 0;
  };
  using Pending = std::map<uint64_t, Change>;

  void TransactionEnded(const Pending& changes, bool committed) EXCLUDES(mu_);
  void Pruned(const RelFileNode& rel, int64_t removed) EXCLUDES(mu_);
  void Vacuumed(const RelFileNode& rel, bool autovacuum, TimestampTz at) EXCLUDES(mu_);
  Counts Get(const RelFileNode& rel) const EXCLUDES(mu_);
  // Kept across a clean shutdown (PostgreSQL's pg_stat/ file): one line per relation.
  std::string Serialize() const EXCLUDES(mu_);
  void Load(std::string_view text) EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::map<uint64_t, Counts> counts_ GUARDED_BY(mu_);
};

// Everything the heap needs from the engine. Pointers must outlive their users.
struct HeapEnv {
  storage::BufferPool* pool = nullptr;
  wal::WalWriter* wal = nullptr;
  TransactionManager* txm = nullptr;
  bool full_page_writes = true;
  // wal_consistency_checking: the resource managers (WalConsistencyBit) whose records carry a
  // verification image of every page they change; null: none.
  const std::atomic<uint32_t>* wal_consistency = nullptr;
  std::atomic<uint32_t>* next_oid = nullptr;  // advanced by XLOG NEXTOID records during redo
  FreeSpaceMap* fsm = nullptr;                // null: inserts go to the last page or a new one
  TableStats* stats = nullptr;                // null: changes are not counted
  // The lock B-tree scans hold; redo holds it while restoring a record's pages, so a hot
  // standby reader never sees half of a split.
  std::function<Mutex*(const RelFileNode&)> index_lock;
  // Hot standby: before replay removes row versions up to `latest_removed` (heap prune, index
  // entry removal), waits for or cancels standby queries that might still see them.
  std::function<void(TransactionId latest_removed)> resolve_conflict;
  // Redo of a commit (or abort) record that lists relation files (PostgreSQL's xl_xact_
  // relfilenodes): the engine drops them.
  std::function<void(bool commit, TransactionId xid, const std::vector<RelFileNode>&)> xact_rels;
  // Relations whose changes are not WAL-logged (unlogged and temporary tables and their
  // indexes); null: every relation is logged.
  std::function<bool(const RelFileNode&)> unlogged;
  LockManager* locks = nullptr;             // null: no heavyweight locks (tests of the heap alone)
  RecoveryLocks* recovery_locks = nullptr;  // replay of STANDBY LOCK records
};

// A change to undo at ROLLBACK TO SAVEPOINT: a tuple this transaction inserted, or the header
// of a tuple before this transaction set its xmax.
struct UndoEntry {
  RelFileNode rel;
  TupleId tid;
  bool inserted = false;
  TupleHeader before;  // !inserted
};

// The calling transaction.
struct TxnContext {
  TransactionId xid = kInvalidXid;  // assigned on first write
  CommandId cid = 0;
  Snapshot snapshot;
  bool repeatable_read = false;
  std::function<Status()> check_interrupts = [] { return Status::OK(); };
  // Assigns an xid on first use; called before every write.
  std::function<TransactionId()> ensure_xid;
  int64_t lock_timeout_ms = 0;  // a row-lock wait longer than this fails with 55P03; 0 = none
  // While a savepoint exists: every insert and xmax change is appended here.
  std::vector<UndoEntry>* undo = nullptr;
  // Relation files this transaction created (removed if it aborts) and dropped (removed once
  // it committed and no snapshot can still see them). Listed in the commit/abort record.
  std::vector<RelFileNode> created_rels, dropped_rels;
  bool catalog_written = false;  // wrote rows of a system relation (catalog caches bypassed)
  uint64_t catalog_writes = 0;   // rows of system relations changed (or undone) so far
  // Catalog::Tables' own copy of the catalog as this transaction sees it, when the shared cache
  // does not serve it (it changed the catalog, or reads at REPEATABLE READ); the catalog keeps
  // it valid for one snapshot, command id and count of catalog writes.
  std::shared_ptr<const void> catalog_view;
  // synchronous_commit = remote_apply: the commit record asks standbys to report as soon as
  // they have applied it (PostgreSQL's XACT_COMPLETION_APPLY_FEEDBACK).
  bool apply_feedback = false;
  TableStats::Pending table_changes;  // for TableStats, when the transaction ends
  // Heavyweight locks: the session's owner (null: internal work that takes none).
  LockOwner* locks = nullptr;
  int64_t deadlock_timeout_ms = 1000;
  // The session whose temporary tables this transaction sees (its backend pid; 0: none).
  int32_t temp_owner = 0;
  // While a statement is prepared: the relation locks it took (re-taken at each execution).
  std::vector<std::pair<uint32_t, LockMode>>* lock_log = nullptr;
};

// Takes a relation lock for tx, held until its end (or its savepoint's rollback). On a primary
// an AccessExclusiveLock gives the transaction an xid and is WAL-logged (STANDBY LOCK) so that
// standbys take it too; during recovery only RowExclusiveLock or weaker may be taken. NOWAIT:
// a kRetry status when the lock is taken (the caller names the relation in its 55P03).
Status LockRelation(HeapEnv& env, TxnContext& tx, uint32_t db, uint32_t rel, LockMode mode,
                    bool nowait = false);
// Waits for transaction xid to end (a row it changed), as XactLockTableWait: a ShareLock on its
// transaction lock (deadlock detection, lock_timeout, `check`), then for its end to be published.
Status WaitForTransaction(HeapEnv& env, TxnContext& tx, TransactionId xid,
                          const std::function<Status()>& check);
// The end of tx's transaction (commit or abort): its locks go.
void ReleaseLocks(HeapEnv& env, TxnContext& tx);

// Makes `tx` take an xid from `txm` on its first write (tx must not move afterwards); with a
// lock manager and tx->locks, the transaction then holds ExclusiveLock on its xid.
void AssignXidsFrom(TxnContext* tx, TransactionManager* txm, LockManager* locks = nullptr);

bool TupleVisible(const TupleHeader& h, const TxnContext& tx, const TransactionManager& txm);

// One page of a change: the exclusively locked buffer and the redo data for it.
struct PageChange {
  storage::BufferPool::Handle* buf;
  std::string data;
  bool will_init = false;  // the record initialises the page (no image needed)
};
// WAL-logs changes already made to the pages as one record of resource manager `rmid`, with a
// full-page image of each page changed for the first time since the last checkpoint, and
// stamps their LSNs. Counterpart: XLogBeginInsert/XLogRegisterBuffer/XLogInsert + PageSetLSN.
Status LogPageChanges(HeapEnv& env, uint8_t rmid, uint8_t info, TransactionId xid,
                      std::vector<PageChange>& pages, const std::string& main_data = "");

Result<TupleId> HeapInsert(HeapEnv& env, const RelFileNode& rel, TxnContext& tx,
                           std::string_view row, uint16_t infomask = 0);

// Inserts rows of tx filling one page after another, one WAL record per page (PostgreSQL's
// heap_multi_insert, which COPY uses): bulk loads write and replay far fewer records.
Result<std::vector<TupleId>> HeapMultiInsert(HeapEnv& env, const RelFileNode& rel, TxnContext& tx,
                                             const std::vector<std::string>& rows);

struct ModifyOutcome {
  enum Kind { kOk, kSelfModified, kUpdated, kDeleted } kind = kOk;
  TupleId next;  // kUpdated: the newer version to re-check (READ COMMITTED)
  TransactionId next_xmin = kInvalidXid;  // kUpdated: who made it (the updater)
  bool hot = false;                       // kOk update: the new version is heap-only
};
Result<ModifyOutcome> HeapDelete(HeapEnv& env, const RelFileNode& rel, TxnContext& tx, TupleId tid);
// `allow_hot`: no indexed column changes, so the new version may be heap-only when it fits on
// the row's page (then the outcome says hot and the caller adds no index entries).
Result<ModifyOutcome> HeapUpdate(HeapEnv& env, const RelFileNode& rel, TxnContext& tx, TupleId tid,
                                 std::string_view new_row, TupleId* new_tid,
                                 bool allow_hot = false);
// The version visible to tx of the row an index entry points at (tid: a chain root), following
// its HOT chain; *found gets that version's tid.
Result<std::optional<std::string>> HeapFetch(HeapEnv& env, const RelFileNode& rel,
                                             const TxnContext& tx, TupleId tid,
                                             TupleId* found = nullptr);

// The row at tid if its inserter committed (or is tx), whatever tx's snapshot says: READ
// COMMITTED re-checks the newest version of a row another transaction updated. `xmin` is the
// updater that made it (ModifyOutcome::next_xmin); a tuple made by anyone else is not it.
Result<std::optional<std::string>> HeapFetchLatest(HeapEnv& env, const RelFileNode& rel,
                                                   const TxnContext& tx, TupleId tid,
                                                   TransactionId xmin);

// ROLLBACK TO SAVEPOINT: undoes tx.undo's entries after `mark`, newest first — inserted tuples
// become dead to everyone (kHeapXminInvalid), xmax changes are reverted (row locks released) —
// each page change WAL-logged like any other (a DELETE-layout record that sets the header).
// Walrep's subtransactions are this undo rather than subtransaction xids: one xid per
// transaction, so standbys and the commit log see nothing new.
Status HeapUndo(HeapEnv& env, TxnContext& tx, size_t mark);

// For uniqueness checks and index cleanup: whether the row an index entry points at (the
// versions of its HOT chain) is dead, live, or being inserted or deleted by a running
// transaction other than tx (whose xid is returned in *running).
// kDeadToAll: dead for every snapshot that exists or can exist, so index entries may go.
enum class TupleState { kDeadToAll, kDead, kLive, kInProgress };
Result<TupleState> HeapTupleState(HeapEnv& env, const RelFileNode& rel, const TxnContext& tx,
                                  TupleId tid, TransactionId* running);

// A row as a list of nullable fields: u16 count, then per field u32 length (0xFFFFFFFF = NULL)
// and the bytes. The catalog and SQL rows both use it.
using Fields = std::vector<std::optional<std::string>>;
std::string EncodeFields(const Fields& f);
Result<Fields> DecodeFields(std::string_view row);
// The same fields as views into `row` (no copies; valid while `row` is).
using FieldViews = std::vector<std::optional<std::string_view>>;
Status DecodeFieldViews(std::string_view row, FieldViews* out);

// Sequential scan returning rows visible to tx.
class HeapScan {
 public:
  HeapScan(HeapEnv& env, RelFileNode rel, const TxnContext& tx) : env_(env), rel_(rel), tx_(tx) {}
  // false at the end.
  Result<bool> Next(TupleId* tid, std::string* row);

 private:
  HeapEnv& env_;
  RelFileNode rel_;
  const TxnContext& tx_;
  BlockNumber nblocks_ = storage::kInvalidBlock;
  BlockNumber block_ = 0;
  std::vector<std::pair<OffsetNumber, std::string>> page_rows_;
  size_t pos_ = 0;
};

// Calls fn for every row of rel visible to tx; stops at the first error fn returns.
Status ForEachRow(HeapEnv& env, const RelFileNode& rel, const TxnContext& tx,
                  const std::function<Status(TupleId, std::string&)>& fn);

// VACUUM: removes tuples deleted by transactions older than every snapshot, WAL-logging each
// page change with the newest removed xid (the horizon a standby needs for conflicts). The dead
// line pointers left (index entries may still point at them) are appended to *dead_items.
Result<uint64_t> HeapVacuum(HeapEnv& env, const RelFileNode& rel,
                            std::vector<TupleId>* dead_items = nullptr);
// VACUUM's second heap pass: the dead line pointers of `dead_items` — collected by HeapVacuum
// and since removed from every index of rel — become unused, free for new rows. The caller
// keeps concurrent VACUUMs of rel and uniqueness checks on its indexes out meanwhile.
Status HeapReclaimLinePointers(HeapEnv& env, const RelFileNode& rel,
                               const std::vector<TupleId>& dead_items);

// Redo of records that carry full images of every page they changed (B-tree, sequence):
// restores the images.
Status RestorePageImages(HeapEnv& env, const wal::DecodedRecord& rec);

// Redo of kRmHeap records.
Status HeapRedo(HeapEnv& env, const wal::DecodedRecord& rec);

// Applies one record through the resource-manager table (rmgr.h): every xid seen counts as
// used, then the record's rmgr redoes it. Crash recovery and standby replay both use it.
Status Redo(HeapEnv& env, const wal::DecodedRecord& rec);

}  // namespace walrep::access
