// walrep: parallel redo (walrep.recovery_workers; beyond PostgreSQL, whose startup process
// replays every record itself).
//
// The replaying thread (a standby's startup thread, or crash recovery) hands each record to
// Apply in WAL order. A record whose work is confined to data pages that one worker owns goes
// to that worker's queue: heap records by (relation, block), B-tree records by index (an index's
// redo is serialised by its lock anyway, and a page split then stays with one worker). A worker
// applies its queue in order, so every block still sees its records in LSN order. Every other
// record is a barrier: the caller waits until the workers have applied all they were given and
// applies it itself. Barriers are what a hot-standby reader or later redo could observe out of
// order — commit and abort records (so a snapshot never sees half a transaction and commits
// keep their order), records of catalog relations, records that resolve recovery conflicts,
// checkpoints, running-xacts and lock records, and records whose blocks belong to different
// workers. What a dispatched record's transaction wrote is invisible until its commit, which
// comes after it; an index entry may be applied before the heap tuple it points to, and a reader
// that follows it finds no tuple there, as for any uncommitted row.
#ifndef WALREP_ACCESS_PARALLEL_REDO_H_
#define WALREP_ACCESS_PARALLEL_REDO_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "walrep/access/heap.h"
#include "walrep/common/mutex.h"
#include "walrep/common/status.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::access {

class ParallelRedo {
 public:
  // `workers` <= 1: no threads; every record is applied by the caller, in order.
  ParallelRedo(HeapEnv* env, int workers);
  ~ParallelRedo();  // applies what is queued, then stops the workers
  ParallelRedo(const ParallelRedo&) = delete;
  ParallelRedo& operator=(const ParallelRedo&) = delete;

  // Applies `*rec`, in WAL order with what came before it. Returns true when it was applied by
  // the caller after the workers had applied everything given to them earlier (so everything up
  // to it is applied), false when a worker will: the worker then owns the record's data and
  // blocks (its lsn, end_lsn, rmid, info and xid stay). A failure — of this record, or of one a
  // worker applied — is returned here and by Drain, and nothing is applied after it.
  Result<bool> Apply(wal::DecodedRecord* rec);
  // Waits until every record handed over so far is applied.
  Status Drain();
  // After a failure: the record that failed, and its description (for the log's CONTEXT).
  std::pair<Lsn, std::string> failed_record() const;

  int workers() const { return static_cast<int>(workers_.size()); }
  struct Stats {
    uint64_t dispatched = 0;  // records applied by a worker
    uint64_t barriers = 0;    // records applied by the caller after a drain
    uint64_t queued = 0;      // records in the workers' queues or being applied now
  };
  Stats stats() const;

 private:
  struct Worker {
    explicit Worker() : cv(&mu) {}
    Mutex mu;
    CondVar cv;  // a record queued, the queue emptied, or stop
    std::deque<wal::DecodedRecord> queue GUARDED_BY(mu);
    bool busy GUARDED_BY(mu) = false;  // applying the record it took off the queue
    bool stop GUARDED_BY(mu) = false;
    std::thread thread;
  };
  // The worker that owns every block `rec` touches, or -1 when it must be a barrier.
  int WorkerFor(const wal::DecodedRecord& rec) const;
  void Run(Worker* w);
  Status FirstError() const;
  Status Fail(const wal::DecodedRecord& rec, Status st);

  HeapEnv* env_;
  std::vector<std::unique_ptr<Worker>> workers_;
  mutable Mutex error_mu_;
  Status error_ GUARDED_BY(error_mu_);
  Lsn failed_at_ GUARDED_BY(error_mu_);
  std::string failed_record_ GUARDED_BY(error_mu_);
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> dispatched_{0};
  std::atomic<uint64_t> barriers_{0};
};

}  // namespace walrep::access

#endif  // WALREP_ACCESS_PARALLEL_REDO_H_
