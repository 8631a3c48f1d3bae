// walrep: the engine (see engine.h).
#include "walrep/access/engine.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "walrep/common/logging.h"

namespace walrep::access {

namespace {
constexpr const char* kStatsFile = "walrep_table_stats";
}  // namespace

Result<std::unique_ptr<Engine>> Engine::Open(EngineOptions opts, storage::RecoveryResult* rr) {
  std::unique_ptr<Engine> e(new Engine());
  io::FileSystem* fs = opts.xlog.fs;
  const std::string& dir = opts.xlog.data_dir;
  WALREP_ASSIGN_OR_RETURN(storage::ControlFileData control, storage::ReadControlFile(fs, dir));
  e->smgr_ = std::make_unique<storage::Smgr>(fs, dir);
  e->clog_ = std::make_unique<Clog>(fs, dir + "/pg_xact");
  WALREP_RETURN_IF_ERROR(e->clog_->Load());
  e->pool_ = std::make_unique<storage::BufferPool>(opts.shared_buffers, e->smgr_.get(), nullptr,
                                                   opts.checksums);
  e->txm_ = std::make_unique<TransactionManager>(
      nullptr, e->clog_.get(), static_cast<TransactionId>(control.checkpoint_copy.next_xid));
  e->env_.pool = e->pool_.get();
  e->env_.txm = e->txm_.get();
  e->env_.full_page_writes = opts.xlog.full_page_writes;
  e->SetWalConsistencyChecking(opts.wal_consistency_checking);
  e->env_.wal_consistency = &e->wal_consistency_;
  e->next_oid_.store(std::max<uint32_t>(control.checkpoint_copy.next_oid, 16384));
  e->env_.next_oid = &e->next_oid_;
  e->env_.fsm = &e->fsm_;
  e->env_.stats = &e->stats_;
  e->env_.locks = &e->locks_;
  e->recovery_locks_ = std::make_unique<RecoveryLocks>(&e->locks_, static_cast<int32_t>(getpid()));
  // Hot standby only: crash recovery has no sessions to protect, and a transaction the crash
  // cut short writes no end record that would release its locks.
  if (opts.standby) e->env_.recovery_locks = e->recovery_locks_.get();
  e->indexes_ = std::make_unique<IndexRegistry>(&e->env_);
  IndexRegistry* indexes = e->indexes_.get();
  e->env_.index_lock = [indexes](const RelFileNode& rel) { return indexes->Get(rel)->mutex(); };
  HeapEnv* env = &e->env_;
  Engine* raw = e.get();
  e->env_.unlogged = [raw](const RelFileNode& rel) { return raw->IsUnlogged(rel); };
  e->env_.xact_rels = [raw](bool commit, TransactionId xid, const std::vector<RelFileNode>& rels) {
    if (commit) {
      raw->ScheduleDrop(xid, rels);
    } else {
      raw->DropRelationFiles(rels);
    }
  };
  opts.xlog.standby = opts.standby;
  opts.xlog.shared_buffers = opts.shared_buffers;
  if (opts.standby) {
    TransactionManager* txm = e->txm_.get();
    storage::BufferPool* pool = e->pool_.get();
    opts.xlog.before_redo = [txm, pool](storage::XLog* xlog, const wal::CheckPoint& cp) {
      txm->StartHotStandby(cp.oldest_active_xid, static_cast<TransactionId>(cp.next_xid));
      pool->set_before_write([xlog](Lsn lsn) { return xlog->UpdateMinRecoveryPoint(lsn); });
    };
  }
  e->redo_ = std::make_unique<ParallelRedo>(env, opts.recovery_workers);
  e->prefetcher_ = std::make_unique<storage::RecoveryPrefetcher>(e->pool_.get(), e->smgr_.get());
  e->prefetcher_->Configure(opts.prefetch);
  opts.xlog.prefetcher = e->prefetcher_.get();
  ParallelRedo* redo = e->redo_.get();
  WALREP_ASSIGN_OR_RETURN(
      e->xlog_,
      storage::XLog::Open(
          opts.xlog, [redo](wal::DecodedRecord* r) { return redo->Apply(r).status(); }, rr));
  // Crash recovery ends, or a standby opens for reads, only once every record is applied.
  WALREP_RETURN_IF_ERROR(redo->Drain());
  if (rr->crash_recovery && redo->workers() > 1) {
    ParallelRedo::Stats s = redo->stats();
    WALREP_LOG("{} of {} records replayed by {} redo workers", s.dispatched,
               s.dispatched + s.barriers, redo->workers());
  }
  e->fs_ = fs;
  e->stats_dir_ = dir + "/pg_stat";
  if (opts.standby) return e;  // no WAL is written during recovery
  e->AttachWal();
  if (rr->crash_recovery) {
    // End-of-recovery checkpoint: replayed pages and commit status become durable before any
    // new work depends on them.
    WALREP_RETURN_IF_ERROR(e->xlog_->Checkpoint(false, "end-of-recovery").status());
  }
  // Table statistics survive a clean shutdown only, as PostgreSQL's: after a crash they start
  // again from zero. The file is removed once read, so a later crash cannot bring it back.
  const std::string stats_file = e->stats_dir_ + "/" + kStatsFile;
  if (fs->Exists(stats_file)) {
    if (!rr->crash_recovery && !opts.standby) {
      auto text = fs->ReadFile(stats_file);
      if (text.ok()) e->stats_.Load(*text);
    }
    fs->Remove(stats_file).IgnoreError();
  }
  return e;
}

Engine::~Engine() = default;

void Engine::AttachWal() {
  wal::WalWriter* w = &xlog_->writer();
  pool_->set_wal(w);
  txm_->set_wal(w);
  env_.wal = w;
  xlog_->SetCheckpointHook([this](wal::CheckPoint* cp, uint64_t* buffers) -> Status {
    RemoveDroppedFiles();
    uint64_t before = pool_->writes();
    WALREP_RETURN_IF_ERROR(pool_->FlushAll());
    *buffers = pool_->writes() - before;
    // Commits whose records lie before the REDO point are not replayed after a crash, so their
    // status must be in pg_xact: flush WAL to the REDO point and publish them first.
    WALREP_RETURN_IF_ERROR(xlog_->writer().Flush(Lsn(cp->redo)));
    txm_->PublishDurable();
    WALREP_RETURN_IF_ERROR(clog_->Save());
    cp->next_xid = txm_->next_xid();
    cp->next_oid = next_oid_.load();
    cp->oldest_xid = kFirstNormalXid;
    cp->oldest_active_xid = txm_->OldestRunning();
    // Standbys learn from it which transactions are still running and which
    // AccessExclusiveLocks they hold (LogStandbySnapshot).
    return LogStandbySnapshot();
  });
}

namespace {

// The uniqueness locks of unique indexes, always taken in the same (address) order so that two
// holders never deadlock.
class UniqueIndexLocks {
 public:
  explicit UniqueIndexLocks(std::vector<Mutex*> locks) : locks_(std::move(locks)) {
    std::sort(locks_.begin(), locks_.end());
  }
  void Lock() NO_THREAD_SAFETY_ANALYSIS {
    for (Mutex* m : locks_) m->Lock();
  }
  void Unlock() NO_THREAD_SAFETY_ANALYSIS {
    for (auto it = locks_.rbegin(); it != locks_.rend(); ++it) (*it)->Unlock();
  }

 private:
  std::vector<Mutex*> locks_;
};

}  // namespace

Status Engine::InsertIndexEntries(TxnContext& tx, const RelFileNode& heap, TupleId tid,
                                  const std::vector<IndexEntry>& entries,
                                  const std::function<Status(size_t)>& duplicate) {
  std::vector<Mutex*> unique;
  for (const auto& e : entries) {
    if (e.check_unique) unique.push_back(unique_lock(e.index));
  }
  UniqueIndexLocks locks(std::move(unique));
  while (true) {
    locks.Lock();
    TransactionId wait_for = 0;
    Status err;
    for (size_t i = 0; i < entries.size() && err.ok() && !wait_for; i++) {
      if (!entries[i].check_unique) continue;
      auto tids = index(entries[i].index)->ScanPrefix(entries[i].key);
      if (!tids.ok()) {
        err = tids.TakeStatus();
        break;
      }
      // Entries of versions no snapshot can see go now, as an equality lookup removes them
      // (PostgreSQL's _bt_check_unique marks them dead): otherwise every aborted insert of a
      // key, and every version an update left, is checked again by each later insert of that
      // key until VACUUM — the check grew with them (docs/reliability.md, finding 16).
      std::set<TupleId> dead;
      for (const auto& other : *tids) {
        TransactionId running = 0;
        auto state = HeapTupleState(env_, heap, tx, other, &running);
        if (!state.ok()) {
          err = state.TakeStatus();
        } else if (*state == TupleState::kLive) {
          err = duplicate(i);
        } else if (*state == TupleState::kInProgress) {
          wait_for = running;
        } else if (*state == TupleState::kDeadToAll) {
          dead.insert(other);
        }
        if (!err.ok() || wait_for) break;
      }
      if (err.ok() && !dead.empty()) {
        err = index(entries[i].index)->RemoveEntries(entries[i].key, dead);
      }
    }
    if (!err.ok() || wait_for) {
      locks.Unlock();
      if (!err.ok()) return err;
      WALREP_RETURN_IF_ERROR(WaitForTransaction(env_, tx, wait_for, tx.check_interrupts));
      continue;
    }
    Status st;
    for (size_t i = 0; i < entries.size() && st.ok(); i++) {
      st = index(entries[i].index)->Insert(entries[i].key, tid);
    }
    locks.Unlock();
    return st;
  }
}

Result<uint64_t> Engine::Vacuum(const TxnContext& tx, const RelFileNode& heap,
                                const std::vector<RelFileNode>& indexes,
                                const std::vector<RelFileNode>& unique_indexes, bool autovacuum) {
  MutexLock one_vacuum(&vacuum_mu_);
  std::vector<TupleId> dead_items;
  WALREP_ASSIGN_OR_RETURN(uint64_t removed, HeapVacuum(env_, heap, &dead_items));
  // Then the index entries of tuples no snapshot can see (those VACUUM just removed, and
  // versions that died since).
  auto dead = [&](TupleId tid) -> Result<bool> {
    TransactionId running = 0;
    WALREP_ASSIGN_OR_RETURN(auto state, HeapTupleState(env_, heap, tx, tid, &running));
    return state == TupleState::kDeadToAll;
  };
  for (const auto& idx : indexes) WALREP_RETURN_IF_ERROR(index(idx)->RemoveDead(dead));
  // No index entry points at the dead line pointers any more: they become free. A uniqueness
  // check that read entries before their removal finishes first (it holds its index's lock),
  // so it never meets a reused line pointer.
  std::vector<Mutex*> unique;
  for (const auto& idx : unique_indexes) unique.push_back(unique_lock(idx));
  UniqueIndexLocks locks(std::move(unique));
  locks.Lock();
  Status st = HeapReclaimLinePointers(env_, heap, dead_items);
  locks.Unlock();
  WALREP_RETURN_IF_ERROR(st);
  stats_.Vacuumed(heap, autovacuum, NowTimestamp());
  return removed;
}

void Engine::MarkUnlogged(const RelFileNode& rel) {
  MutexLock l(&unlogged_mu_);
  unlogged_.insert(rel.rel);
  any_unlogged_.store(true, std::memory_order_release);
}

bool Engine::IsUnlogged(const RelFileNode& rel) const {
  if (!any_unlogged_.load(std::memory_order_acquire)) return false;
  MutexLock l(&unlogged_mu_);
  return unlogged_.count(rel.rel) > 0;
}

Status Engine::CommitTransaction(TxnContext& tx, bool flush,
                                 const std::function<Status(Lsn)>& wait_for_standbys) {
  Status st;
  if (tx.xid != kInvalidXid) {
    auto end = txm_->Commit(tx.xid, flush, tx.dropped_rels, tx.apply_feedback);
    if (end.ok() && !tx.dropped_rels.empty()) ScheduleDrop(tx.xid, tx.dropped_rels);
    stats_.TransactionEnded(tx.table_changes, end.ok());
    st = end.ok() && flush && wait_for_standbys ? wait_for_standbys(*end) : end.status();
  }
  // Held through the wait for synchronous standbys, as PostgreSQL's.
  ReleaseLocks(env_, tx);
  return st;
}

void Engine::AbortTransaction(TxnContext& tx) {
  if (tx.xid != kInvalidXid) {
    // An abort record is advisory; the files this transaction created go either way (a crash
    // before this leaves them to the startup sweep of unreferenced files).
    txm_->Abort(tx.xid, tx.created_rels).IgnoreError();
    DropRelationFiles(tx.created_rels);
    stats_.TransactionEnded(tx.table_changes, false);
  }
  ReleaseLocks(env_, tx);
}

Status Engine::LogStandbySnapshot() {
  std::vector<StandbyLock> held = locks_.ExclusiveRelationLocks();
  if (!held.empty()) {
    WALREP_RETURN_IF_ERROR(
        xlog_->writer()
            .Insert(wal::kRmStandby, wal::kStandbyLock, kInvalidXid,
                    wal::RecordBuilder().SetMainData(EncodeStandbyLocks(held)).BuildBody())
            .status());
  }
  return txm_->LogRunningXacts();
}

Result<TimelineId> Engine::Promote(storage::Recovery* recovery) {
  WALREP_RETURN_IF_ERROR(redo_->Drain());
  // Transactions of the old primary that never ended in the WAL are over: they count as
  // aborted from now on (PostgreSQL's ShutdownRecoveryTransactionEnvironment), and the locks
  // replay took for them go.
  txm_->EndHotStandby();
  env_.recovery_locks = nullptr;
  recovery_locks_->ReleaseAll();
  WALREP_ASSIGN_OR_RETURN(TimelineId tli, recovery->Finish());
  AttachWal();
  return tli;
}

void Engine::SaveStats() {
  if (!fs_) return;
  const std::string path = stats_dir_ + "/" + kStatsFile;
  auto write = [&]() -> Status {
    if (!fs_->Exists(stats_dir_)) WALREP_RETURN_IF_ERROR(fs_->CreateDir(stats_dir_));
    WALREP_ASSIGN_OR_RETURN(auto f, fs_->NewWritableFile(path + ".tmp"));
    WALREP_RETURN_IF_ERROR(f->Append(stats_.Serialize()));
    WALREP_RETURN_IF_ERROR(f->Sync());
    WALREP_RETURN_IF_ERROR(f->Close());
    return fs_->Rename(path + ".tmp", path);
  };
  write().IgnoreError();  // statistics are advisory: a failure only loses them
}

Mutex* Engine::unique_lock(const RelFileNode& rel) {
  MutexLock l(&oid_mu_);
  auto& m = unique_locks_[rel.rel];
  if (!m) m = std::make_unique<Mutex>();
  return m.get();
}

Result<uint32_t> Engine::NewOid() {
  MutexLock l(&oid_mu_);
  uint32_t oid = next_oid_.load();
  if (oid >= oid_limit_) {
    constexpr uint32_t kPrefetch = 8192;
    uint32_t limit = oid + kPrefetch;
    std::string data(reinterpret_cast<const char*>(&limit), 4);
    WALREP_ASSIGN_OR_RETURN(
        auto pos, xlog_->writer().Insert(wal::kRmXlog, wal::kXlogNextOid, 0,
                                         wal::RecordBuilder().SetMainData(data).BuildBody()));
    // The reservation must be durable before an id from it can be used anywhere durable.
    WALREP_RETURN_IF_ERROR(xlog_->writer().Flush(pos.end));
    oid_limit_ = limit;
  }
  next_oid_.store(oid + 1);
  return oid;
}

void Engine::DropRelationFiles(const std::vector<RelFileNode>& rels) {
  for (const auto& r : rels) {
    fsm_.Forget(r);
    pool_->DropRelation(r);
    smgr_->Unlink(r).IgnoreError();  // already gone after a crash between unlink and checkpoint
  }
}

void Engine::ScheduleDrop(TransactionId xid, const std::vector<RelFileNode>& rels) {
  MutexLock l(&drop_mu_);
  for (const auto& r : rels) pending_drops_.emplace_back(xid, r);
}

void Engine::RemoveDroppedFiles() {
  TransactionId horizon = txm_->OldestRunning();
  std::vector<RelFileNode> now;
  {
    MutexLock l(&drop_mu_);
    std::erase_if(pending_drops_, [&](const auto& d) {
      if (d.first >= horizon) return false;
      now.push_back(d.second);
      return true;
    });
  }
  DropRelationFiles(now);
}

Status Engine::Restartpoint(Lsn ckpt, const wal::CheckPoint& cp) {
  // The commit log and file removals below reflect all that was replayed.
  WALREP_RETURN_IF_ERROR(xlog_->UpdateMinRecoveryPoint(xlog_->replay_end()));
  RemoveDroppedFiles();
  WALREP_RETURN_IF_ERROR(pool_->FlushAll());
  WALREP_RETURN_IF_ERROR(clog_->Save());
  return xlog_->Restartpoint(ckpt, cp);
}

Status Engine::Shutdown() {
  if (!xlog_->in_recovery()) {
    WALREP_RETURN_IF_ERROR(xlog_->Shutdown());
    SaveStats();
    return Status::OK();
  }
  // Pages the workers still change would be flushed half-done.
  WALREP_RETURN_IF_ERROR(redo_->Drain());
  WALREP_RETURN_IF_ERROR(xlog_->UpdateMinRecoveryPoint(xlog_->replay_end()));
  WALREP_RETURN_IF_ERROR(pool_->FlushAll());
  WALREP_RETURN_IF_ERROR(clog_->Save());
  return xlog_->ShutdownInRecovery();
}

}  // namespace walrep::access
