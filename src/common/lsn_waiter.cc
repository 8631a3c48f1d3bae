// walrep: LsnWaiter (see lsn_waiter.h).
#include "walrep/common/lsn_waiter.h"

namespace walrep {

void LsnWaiter::Advance(Lsn v) {
  MutexLock l(&mu_);
  if (v > value_) {
    value_ = v;
    cv_.SignalAll();
  }
}

Lsn LsnWaiter::value() const {
  MutexLock l(&mu_);
  return value_;
}

Result<Lsn> LsnWaiter::WaitFor(Lsn target, std::chrono::steady_clock::time_point deadline) {
  MutexLock l(&mu_);
  while (value_ < target) {
    if (shutdown_) return Status::Shutdown("shutting down");
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      cv_.Wait();
    } else if (!cv_.WaitUntil(deadline) && value_ < target) {
      return Status::TimedOut("timed out waiting for WAL position " + target.ToString());
    }
  }
  return value_;
}

void LsnWaiter::Shutdown() {
  MutexLock l(&mu_);
  shutdown_ = true;
  cv_.SignalAll();
}

}  // namespace walrep
