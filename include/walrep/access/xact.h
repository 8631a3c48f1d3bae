// walrep: transactions — ids, commit status (pg_xact), snapshots, commit and abort records,
// waiting on other transactions with deadlock detection.
//
// Commit protocol (counterpart: RecordTransactionCommit + ProcArrayEndTransaction):
//  1. under commit_mu_, write the XACT commit record (PostgreSQL's layout: xact_time) and queue
//     the transaction for publication at the record's LSN;
//  2. wait for WAL to be flushed past the record (synchronous_commit >= local);
//  3. publish, in commit-record order, every queued commit whose record is flushed: set its
//     status in the commit log and remove it from the running set.
// So a commit becomes visible only when durable, and commits become visible in the order of
// their commit records: a standby replaying WAL in order can never show a state the primary
// never showed. Asynchronous commits publish without waiting.
//
// Snapshot visibility follows PostgreSQL: xmin/xmax plus the running xids at snapshot time.
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/mutex.h"
#include "walrep/common/status.h"
#include "walrep/io/file_system.h"
#include "walrep/wal/wal_writer.h"

namespace walrep::access {

constexpr TransactionId kInvalidXid = 0;
constexpr TransactionId kFirstNormalXid = 3;
using CommandId = uint32_t;
using wal::RelFileNode;

// Commit/abort record main data in PostgreSQL's layout: xact_time, then, with rels or
// `apply_feedback`, an xinfo word (XACT_XINFO_HAS_RELFILENODES followed by the count and the
// RelFileNodes; XACT_COMPLETION_APPLY_FEEDBACK). The caller adds XLOG_XACT_HAS_INFO (0x80) to
// the record's info when XactRecordHasInfo.
std::string EncodeXactRecord(int64_t xact_time, const std::vector<RelFileNode>& rels,
                             bool apply_feedback = false);
inline bool XactRecordHasInfo(const std::vector<RelFileNode>& rels, bool apply_feedback) {
  return !rels.empty() || apply_feedback;
}
// The relation files a commit/abort record lists (none without XLOG_XACT_HAS_INFO).
std::vector<RelFileNode> XactRecordRels(uint8_t info, const std::string& main_data);
// Whether a commit record asks a standby to reply once it is applied (remote_apply).
bool XactRecordRequestsApplyFeedback(uint8_t info, std::string_view main_data);

enum class XidStatus : uint8_t { kInProgress = 0, kCommitted = 1, kAborted = 2 };

struct Snapshot {
  TransactionId xmin = kFirstNormalXid;
  TransactionId xmax = kFirstNormalXid;      // first xid not yet assigned at snapshot time
  std::vector<TransactionId> xip;            // running at snapshot time, sorted
  bool InProgress(TransactionId xid) const;  // as seen by this snapshot
  // While any copy of the snapshot is alive, its xmin holds back OldestRunning() (the horizon
  // for removing dead tuples and index entries), like a backend's xmin in PostgreSQL.
  std::shared_ptr<const void> registration;
};

// The commit log: two bits per xid, kept in memory and written to pg_xact/ at checkpoints in
// PostgreSQL's layout (32 pages of 8 KB per segment file "0000", "0001", ...). After a crash,
// commit and abort records replayed from WAL bring it up to date.
class Clog {
 public:
  Clog(io::FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  Status Load() EXCLUDES(mu_);
  Status Save() EXCLUDES(mu_);
  XidStatus Get(TransactionId xid) const EXCLUDES(mu_);
  void Set(TransactionId xid, XidStatus s) EXCLUDES(mu_);

 private:
  io::FileSystem* const fs_;
  const std::string dir_;
  mutable Mutex mu_;
  std::vector<uint8_t> bits_ GUARDED_BY(mu_);
};

class TransactionManager {
 public:
  // `wal` may be null during recovery (no new WAL); `clog` must outlive the manager.
  TransactionManager(wal::WalWriter* wal, Clog* clog, TransactionId next_xid);

  void set_wal(wal::WalWriter* w) { wal_ = w; }
  TransactionId Assign() EXCLUDES(mu_);
  // Writes the commit record; `flush` waits for local durability before publishing.
  // `rels`: relation files the transaction dropped, listed in the record (PostgreSQL's
  // XACT_XINFO_HAS_RELFILENODES); such a commit is always flushed before it returns.
  // `apply_feedback`: see TxnContext::apply_feedback.
  Result<Lsn> Commit(TransactionId xid, bool flush, const std::vector<RelFileNode>& rels = {},
                     bool apply_feedback = false) EXCLUDES(mu_, commit_mu_);
  // Writes an abort record (no flush needed) and publishes the abort.
  // `rels`: relation files the transaction created, listed in the record.
  Status Abort(TransactionId xid, const std::vector<RelFileNode>& rels = {})
      EXCLUDES(mu_, commit_mu_);

  // Catalog caching: a transaction wrote rows of a system relation (or replay met one); the
  // version changes now and again when that transaction's end becomes visible.
  void NoteCatalogWrite(TransactionId xid) EXCLUDES(mu_);
  uint64_t catalog_version() const { return catalog_version_.load(std::memory_order_acquire); }

  // `owner`: the backend holding it (hot-standby conflicts name whom to cancel); 0 = none.
  Snapshot TakeSnapshot(int32_t owner = 0) const EXCLUDES(mu_);
  // Hot standby: the owners of live snapshots whose xmin is at or below `xid` (they may still
  // need row versions that a replayed removal up to `xid` takes away).
  std::vector<int32_t> SnapshotOwnersUpTo(TransactionId xid) const EXCLUDES(mu_);
  // Waits until no live snapshot has xmin <= xid, or the deadline; true when none is left.
  bool WaitSnapshotsReleased(TransactionId xid, std::chrono::steady_clock::time_point deadline)
      EXCLUDES(mu_);
  XidStatus StatusOf(TransactionId xid) const EXCLUDES(mu_);
  bool IsRunning(TransactionId xid) const EXCLUDES(mu_);
  TransactionId next_xid() const EXCLUDES(mu_);
  // Oldest xid any snapshot may still need (VACUUM's horizon): the oldest running xid or live
  // snapshot's xmin, or an older xmin from the horizon hook (standbys' hot-standby feedback).
  TransactionId OldestRunning() const EXCLUDES(mu_);
  // Returns an xmin that must also be respected, 0 for none. Set once before use.
  void SetHorizonHook(std::function<TransactionId()> hook) { horizon_hook_ = std::move(hook); }

  // Waits until `xid` ends. `waiter` is the waiting transaction, for deadlock detection (40P01).
  // `check` is called periodically and after every WakeWaiters(), and may end the wait with
  // its status (cancel, lock_timeout, or a row lock released by ROLLBACK TO SAVEPOINT).
  Status WaitFor(TransactionId waiter, TransactionId xid, const std::function<Status()>& check)
      EXCLUDES(mu_);
  // Makes every WaitFor() run its check now (a transaction released row locks early).
  void WakeWaiters() EXCLUDES(mu_);

  // Publishes every queued commit or abort whose record is already flushed (and not beyond the
  // publish limit). A checkpoint calls this after flushing WAL to its REDO point: every flushed
  // commit's status goes into the commit log then, published or not, so pg_xact never misses a
  // commit whose record precedes the REDO point (it stays invisible while in the running set).
  void PublishDurable() EXCLUDES(mu_);
  // Lossless synchronous replication: commits become visible only up to the returned LSN (the
  // position the synchronous standbys confirmed); Lsn::max() = no limit. Set once before use.
  // May be set while sessions run (at the end of a promotion), but only once.
  void SetPublishLimit(std::function<Lsn()> limit) {
    publish_limit_ = std::move(limit);
    has_publish_limit_.store(true, std::memory_order_release);
  }

  // Recovery.
  void RedoCommit(TransactionId xid) EXCLUDES(mu_);
  void RedoAbort(TransactionId xid) EXCLUDES(mu_);
  void AdvanceNextXid(TransactionId xid) EXCLUDES(mu_);

  // Hot standby (counterpart: KnownAssignedXids in procarray.c). Every xid the primary has
  // handed out below the newest one seen in WAL counts as running until its commit or abort
  // record is replayed, so a standby snapshot never shows part of a transaction. Replay starts
  // from a checkpoint: the xids from its oldest active xid up to its next xid that the commit
  // log does not show as finished are running.
  void StartHotStandby(TransactionId oldest_active, TransactionId next_xid) EXCLUDES(mu_);
  // Promotion: hot standby ends; xids still counted as running (their primary never wrote
  // their end) are no longer, so they read as aborted.
  void EndHotStandby() EXCLUDES(mu_);
  // A STANDBY RUNNING_XACTS record: xids below next_xid not listed as running have ended (a
  // transaction the primary lost in a crash writes no abort record).
  void RedoRunningXacts(TransactionId next_xid, const std::vector<TransactionId>& running)
      EXCLUDES(mu_);
  // Primary: writes a RUNNING_XACTS record (PostgreSQL's xl_running_xacts) for standbys.
  Status LogRunningXacts() EXCLUDES(mu_);

 private:
  void PublishUpTo(Lsn flushed) EXCLUDES(mu_);

  wal::WalWriter* wal_;
  Clog* const clog_;

  Mutex commit_mu_;  // orders commit/abort records with their publication queue
  mutable Mutex mu_;
  CondVar ended_{&mu_};  // signalled when a transaction ends
  TransactionId next_xid_ GUARDED_BY(mu_);
  std::set<TransactionId> running_ GUARDED_BY(mu_);
  mutable std::multimap<TransactionId, int32_t> snapshot_xmins_ GUARDED_BY(mu_);  // -> owner
  mutable CondVar snapshot_released_{&mu_};
  // Commits and aborts not yet visible, by the end of their record.
  std::map<Lsn, std::pair<TransactionId, XidStatus>> to_publish_ GUARDED_BY(mu_);
  std::unordered_map<TransactionId, TransactionId> waits_for_ GUARDED_BY(mu_);
  bool hot_standby_ GUARDED_BY(mu_) = false;
  std::set<TransactionId> catalog_writers_ GUARDED_BY(mu_);
  std::atomic<uint64_t> catalog_version_{0};
  std::function<TransactionId()> horizon_hook_;
  std::function<Lsn()> publish_limit_;  // read only once has_publish_limit_ is set
  std::atomic<bool> has_publish_limit_{false};
};

}  // namespace walrep::access
