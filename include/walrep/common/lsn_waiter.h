// walrep: the one primitive for waiting until a monotonic LSN reaches a target.
//
// Insert, write, flush and replay positions only ever grow. A producer calls Advance(); any
// number of threads WaitFor(target, deadline) and get the current value once it is >= target,
// or kTimedOut / kShutdown (Neon's SeqWait). Commit waiting for sync standbys, a walsender
// waiting for new WAL and remote_apply all use this.
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/mutex.h"
#include "walrep/common/status.h"

namespace walrep {

class LsnWaiter {
 public:
  explicit LsnWaiter(Lsn initial = Lsn()) : value_(initial.value()) {}

  // Raises the value (never lowers it) and wakes waiters whose target is reached.
  void Advance(Lsn v) EXCLUDES(mu_);
  Lsn value() const { return Lsn(value_.load(std::memory_order_acquire)); }
  // Blocks until value() >= target, the deadline passes (kTimedOut) or Shutdown() (kShutdown).
  Result<Lsn> WaitFor(Lsn target, std::chrono::steady_clock::time_point deadline) EXCLUDES(mu_);
  Result<Lsn> WaitFor(Lsn target) EXCLUDES(mu_) {
    return WaitFor(target, std::chrono::steady_clock::time_point::max());
  }
  void Shutdown() EXCLUDES(mu_);
  // Blocks until value() >= target, `give_up()` returns true (then kShutdown) or the deadline
  // passes (kTimedOut). give_up is called without the lock before the first sleep and after
  // every Kick().
  Result<Lsn> WaitUntil(Lsn target, const std::function<bool()>& give_up,
                        std::chrono::steady_clock::time_point deadline =
                            std::chrono::steady_clock::time_point::max()) EXCLUDES(mu_);
  // Wakes every waiter so that WaitUntil() re-evaluates give_up.
  void Kick() EXCLUDES(mu_);
  // An eventfd written to whenever the value grows, for threads that also wait on a socket
  // (walsenders): they poll the socket and the eventfd together.
  void AddListener(int event_fd) EXCLUDES(mu_);
  void RemoveListener(int event_fd) EXCLUDES(mu_);

 private:
  // Keeps a waiter's target in targets_ while it waits (created and destroyed under mu_).
  struct TargetRegistration {
    LsnWaiter* w;
    std::multiset<Lsn>::iterator it;
    ~TargetRegistration() NO_THREAD_SAFETY_ANALYSIS { w->targets_.erase(it); }
  };

  mutable Mutex mu_;
  CondVar cv_{&mu_};
  // Written under mu_ (so a waiter that checked it under mu_ cannot miss the wake-up), read
  // without it: value() is on every commit's path.
  std::atomic<uint64_t> value_;
  bool shutdown_ GUARDED_BY(mu_) = false;
  uint64_t kicks_ GUARDED_BY(mu_) = 0;
  // The targets threads wait for: Advance wakes them only when the smallest is reached, so a
  // far target (the checkpointer's max_wal_size point) costs no wake-up per commit.
  std::multiset<Lsn> targets_ GUARDED_BY(mu_);
  std::vector<int> listeners_ GUARDED_BY(mu_);
};

}  // namespace walrep
