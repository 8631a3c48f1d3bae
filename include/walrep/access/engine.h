// walrep: the storage engine assembled — WAL life cycle, buffer pool, commit log and
// transactions — with crash recovery through the one redo dispatch table.
//
// Open(): loads pg_xact, opens the buffer pool without WAL (replayed WAL is already durable),
// lets XLog replay every record from the last checkpoint through access::Redo, then attaches
// the live WAL writer. Checkpoints flush dirty pages and the commit log after the REDO point is
// set, so replay from that point reproduces everything.
// Thread safety: thread-safe; owned by the Server.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "walrep/access/btree.h"
#include "walrep/access/heap.h"
#include "walrep/access/parallel_redo.h"
#include "walrep/access/rmgr.h"
#include "walrep/access/xact.h"
#include "walrep/storage/buffer_pool.h"
#include "walrep/storage/xlog.h"

namespace walrep::access {

struct EngineOptions {
  storage::XLogOptions xlog;  // fs and data_dir live here
  size_t shared_buffers = 16384;
  bool checksums = false;
  // Standby: stay in recovery after replaying pg_wal (xlog.standby is set from this).
  bool standby = false;
  // wal_consistency_checking (the setting's stored form).
  std::string wal_consistency_checking;
  // walrep.recovery_workers: threads that apply redo (1: the replaying thread alone).
  int recovery_workers = 1;
  // recovery_prefetch, wal_decode_buffer_size, maintenance_io_concurrency.
  storage::RecoveryPrefetcher::Config prefetch;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Open(EngineOptions opts, storage::RecoveryResult* rr);
  ~Engine();

  HeapEnv& env() { return env_; }
  // wal_consistency_checking changed (SIGHUP): the records written from now on follow it.
  void SetWalConsistencyChecking(const std::string& setting) {
    wal_consistency_.store(WalConsistencyRmgrs(setting), std::memory_order_relaxed);
  }
  storage::XLog& xlog() { return *xlog_; }
  TransactionManager& txm() { return *txm_; }
  storage::BufferPool& pool() { return *pool_; }
  storage::Smgr& smgr() { return *smgr_; }
  LockManager& locks() { return locks_; }
  // Hot standby: the locks replay holds for the primary's transactions.
  RecoveryLocks& recovery_locks() { return *recovery_locks_; }
  BtreeIndex* index(const RelFileNode& rel) { return indexes_->Get(rel); }
  TableStats& stats() { return stats_; }

  // A new object id (tables, relation files). Ids are handed out from ranges reserved with an
  // XLOG NEXTOID record, so an id is never reused after a crash, as in PostgreSQL.
  Result<uint32_t> NewOid() EXCLUDES(oid_mu_);

  // Unlogged and temporary relations: their changes are not WAL-logged (HeapEnv::unlogged).
  void MarkUnlogged(const RelFileNode& rel) EXCLUDES(unlogged_mu_);
  bool IsUnlogged(const RelFileNode& rel) const EXCLUDES(unlogged_mu_);

  // Removes relation files now: their pages are forgotten, the files unlinked (files a
  // transaction created and then aborted).
  void DropRelationFiles(const std::vector<RelFileNode>& rels);
  // Files a committed transaction dropped: removed at the first checkpoint (or restartpoint)
  // after no snapshot can still see them (a REPEATABLE READ transaction that began before the
  // DROP but had not locked the table yet still reads the catalog as of its snapshot).
  void ScheduleDrop(TransactionId xid, const std::vector<RelFileNode>& rels) EXCLUDES(drop_mu_);

  // One index entry of a new row version: its index, its key (access::key's format), and
  // whether uniqueness is checked (a unique index, and no NULL in the key).
  struct IndexEntry {
    RelFileNode index;
    std::string key;
    bool check_unique = false;
  };
  // Adds the index entries of heap tuple `tid` of `heap`, just written by tx. Uniqueness is
  // checked after the heap write, as PostgreSQL does, so that waits for row locks in the heap
  // never happen under an index's uniqueness lock: an entry whose key a live tuple already has
  // fails with duplicate(i) (the caller words the 23505); one a running transaction is
  // inserting or deleting is waited for (without the lock), then checked again. The heap tuple
  // of a failed check dies with the transaction.
  Status InsertIndexEntries(TxnContext& tx, const RelFileNode& heap, TupleId tid,
                            const std::vector<IndexEntry>& entries,
                            const std::function<Status(size_t)>& duplicate);
  // VACUUM of one table (the statement's and autovacuum's): prunes its pages, removes the index
  // entries of versions no snapshot can see (tx supplies the visibility rules), then frees their
  // line pointers. One VACUUM runs at a time. Returns how many versions went.
  Result<uint64_t> Vacuum(const TxnContext& tx, const RelFileNode& heap,
                          const std::vector<RelFileNode>& indexes,
                          const std::vector<RelFileNode>& unique_indexes, bool autovacuum);

  // The end of tx's transaction (counterpart: CommitTransaction / AbortTransaction in xact.c),
  // one sequence for every caller. Commit: the commit record (listing dropped files), the
  // flush when `flush` (synchronous_commit != off), publication in commit order, the dropped
  // files scheduled for removal, the table statistics, then `wait_for_standbys` (the
  // synchronous standbys synchronous_commit asks for; replication implements it), and last the
  // transaction's locks. Returns the first error (then the session must end: the commit may
  // be durable without having been acknowledged). Abort: the abort record, the files it
  // created, statistics, locks. A transaction without an xid only releases its locks.
  Status CommitTransaction(TxnContext& tx, bool flush,
                           const std::function<Status(Lsn commit_end)>& wait_for_standbys);
  void AbortTransaction(TxnContext& tx);

  // Promotion: ends the standby's `recovery` (in state kPromoting) on a new timeline and
  // attaches the WAL writer; the engine then runs as a primary's. Returns the new timeline.
  Result<TimelineId> Promote(storage::Recovery* recovery);

  // Standby: redo of one record received after startup (the startup thread's loop), through
  // the parallel redo workers: true when everything up to `*rec` is applied, false when a
  // worker took it (see ParallelRedo::Apply).
  Result<bool> Redo(wal::DecodedRecord* rec) { return redo_->Apply(rec); }
  // Waits until every record handed to Redo is applied.
  Status DrainRedo() { return redo_->Drain(); }
  const ParallelRedo& parallel_redo() const { return *redo_; }
  storage::RecoveryPrefetcher& prefetcher() { return *prefetcher_; }
  // Standby restartpoint at a replayed checkpoint record: pages and commit log flushed, then
  // pg_control points at it.
  Status Restartpoint(Lsn ckpt, const wal::CheckPoint& cp);

  // Clean shutdown (a primary's also keeps the table statistics for the next start).
  Status Shutdown();
  void AbandonForTest() { xlog_->AbandonForTest(); }

 private:
  Engine() = default;
  // Connects the WAL writer to the buffer pool, transactions and heap, and installs the
  // checkpoint hook: what makes the engine a primary's.
  void AttachWal();
  // Serialises the uniqueness check and insertion of one unique index's keys.
  Mutex* unique_lock(const RelFileNode& rel) EXCLUDES(oid_mu_);
  // The STANDBY LOCK list of held AccessExclusiveLocks, then RUNNING_XACTS.
  Status LogStandbySnapshot();
  std::unique_ptr<storage::Smgr> smgr_;
  std::unique_ptr<Clog> clog_;
  std::unique_ptr<storage::BufferPool> pool_;
  std::unique_ptr<TransactionManager> txm_;
  LockManager locks_;
  std::unique_ptr<RecoveryLocks> recovery_locks_;
  std::unique_ptr<storage::XLog> xlog_;
  HeapEnv env_;
  std::atomic<uint32_t> wal_consistency_{0};
  FreeSpaceMap fsm_;
  TableStats stats_;
  io::FileSystem* fs_ = nullptr;
  std::string stats_dir_;  // <data>/pg_stat: TableStats across a clean shutdown
  Mutex vacuum_mu_;  // one VACUUM at a time: the line pointers one reclaims are never another's
  std::unique_ptr<IndexRegistry> indexes_;
  std::map<uint32_t, std::unique_ptr<Mutex>> unique_locks_ GUARDED_BY(oid_mu_);
  // Drops whose files wait for the snapshots that may still see them.
  void RemoveDroppedFiles() EXCLUDES(drop_mu_);
  void SaveStats();
  Mutex drop_mu_;
  std::vector<std::pair<TransactionId, RelFileNode>> pending_drops_ GUARDED_BY(drop_mu_);
  mutable Mutex unlogged_mu_;
  std::set<uint32_t> unlogged_ GUARDED_BY(unlogged_mu_);  // relation file numbers
  std::atomic<bool> any_unlogged_{false};                 // lets logged changes skip the lock
  std::atomic<uint32_t> next_oid_{16384};
  Mutex oid_mu_;
  uint32_t oid_limit_ GUARDED_BY(oid_mu_) = 0;  // ids below this are covered by a NEXTOID record
  // Last: its workers stop before anything they use is destroyed.
  std::unique_ptr<ParallelRedo> redo_;
  std::unique_ptr<storage::RecoveryPrefetcher> prefetcher_;
};

}  // namespace walrep::access
