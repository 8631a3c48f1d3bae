// walrep: synchronous replication — which standbys a commit waits for, and the wait itself.
//
// synchronous_standby_names has PostgreSQL's grammar: `FIRST n (a, b, c)` (priority: the n
// connected standbys listed first are synchronous), `ANY n (a, b, c)` (quorum: any n of them),
// `n (a, b)` and a plain list (`a, b` = FIRST 1), `*` for any standby, names quoted with "" and
// matched case-insensitively against application_name.
//
// Every standby reply recomputes three synchronous positions (write, flush, apply) as
// PostgreSQL's SyncRepGetSyncRecPtr does: with FIRST n, the oldest position among the n chosen
// standbys; with ANY n, the n-th newest among all listed ones. A committer waits on the
// position of its level (remote_write: write, on: flush, remote_apply: apply) through the one
// LSN-wait primitive (LsnWaiter); replies wake it, nothing polls. A reload to '' (or a rule no
// connected standby can meet any more because it was removed) releases every waiter.
// Counterpart: syncrep.c and syncrep_gram.y in PostgreSQL.
// Thread safety: thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "walrep/common/lsn_waiter.h"
#include "walrep/common/mutex.h"
#include "walrep/common/status.h"

namespace walrep::replication {

struct WalSndStatus;

struct SyncRule {
  enum class Method { kNone, kPriority, kQuorum };
  Method method = Method::kNone;
  int num_sync = 0;
  std::vector<std::string> names;  // as written (unquoted); "*" matches any

  // 22023 with PostgreSQL's wording when the text is not valid.
  static Result<SyncRule> Parse(const std::string& value);
  // 1-based position of the first matching name (priority), 1 for any match (quorum), 0 when
  // the standby is not named (asynchronous).
  int PriorityOf(const std::string& application_name) const;
};

// What pg_stat_replication shows for one walsender.
struct SyncInfo {
  int priority = 0;
  const char* state = "async";  // sync, potential, quorum, async
};

// sync_priority and sync_state of every walsender (same order as `senders`).
std::vector<SyncInfo> ComputeSyncStates(const SyncRule& rule,
                                        const std::vector<WalSndStatus>& senders);

class SyncRep {
 public:
  enum Level { kWrite = 0, kFlush = 1, kApply = 2 };

  // Recomputes the synchronous positions from the walsenders' latest replies.
  void Update(const SyncRule& rule, const std::vector<WalSndStatus>& senders) EXCLUDES(mu_);
  // True while commits have standbys to wait for.
  bool active() const EXCLUDES(mu_);
  // Waits until the synchronous standbys have reached `lsn` at `level`. Returns OK when they
  // have (or synchronous replication was switched off meanwhile); an error from `interrupted`
  // (checked whenever Kick() is called) ends the wait early.
  Status Wait(Lsn lsn, Level level, const std::function<Status()>& interrupted) EXCLUDES(mu_);
  // Wakes every waiter so that it re-checks its interrupts (cancel, terminate, shutdown).
  void Kick();
  // Called after the synchronous positions advanced or synchronous replication was switched
  // off (lossless mode publishes the commits the standbys confirmed). Set once before use.
  void SetAdvanceHook(std::function<void()> hook) { advance_hook_ = std::move(hook); }
  Lsn position(Level level) const { return pos_[level].value(); }

 private:
  LsnWaiter pos_[3];
  std::function<void()> advance_hook_;
  mutable Mutex mu_;
  bool active_ GUARDED_BY(mu_) = false;
};

}  // namespace walrep::replication
