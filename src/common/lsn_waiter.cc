// walrep: LsnWaiter (see lsn_waiter.h).
#include "walrep/common/lsn_waiter.h"

#include <unistd.h>

#include <algorithm>

namespace walrep {

void LsnWaiter::Advance(Lsn v) {
  MutexLock l(&mu_);
  if (v > value()) {
    value_.store(v.value(), std::memory_order_release);
    if (!targets_.empty() && *targets_.begin() <= v) cv_.SignalAll();
    for (int fd : listeners_) {
      uint64_t one = 1;
      if (::write(fd, &one, sizeof(one)) < 0) {
        // Fails only when the counter would overflow; the fd is readable then anyway.
      }
    }
  }
}

Result<Lsn> LsnWaiter::WaitFor(Lsn target, std::chrono::steady_clock::time_point deadline) {
  MutexLock l(&mu_);
  if (value() >= target) return value();
  TargetRegistration registration{this, targets_.insert(target)};
  while (value() < target) {
    if (shutdown_) return Status::Shutdown("shutting down");
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      cv_.Wait();
    } else if (!cv_.WaitUntil(deadline) && value() < target) {
      return Status::TimedOut("timed out waiting for WAL position " + target.ToString());
    }
  }
  return value();
}

void LsnWaiter::AddListener(int event_fd) {
  MutexLock l(&mu_);
  listeners_.push_back(event_fd);
}

void LsnWaiter::RemoveListener(int event_fd) {
  MutexLock l(&mu_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), event_fd), listeners_.end());
}

Result<Lsn> LsnWaiter::WaitUntil(Lsn target, const std::function<bool()>& give_up,
                                 std::chrono::steady_clock::time_point deadline) {
  MutexLock l(&mu_);
  if (value() >= target) return value();
  TargetRegistration registration{this, targets_.insert(target)};
  while (value() < target) {
    if (shutdown_) return Status::Shutdown("shutting down");
    uint64_t kicks = kicks_;
    mu_.Unlock();
    bool stop = give_up();
    mu_.Lock();
    if (stop) return Status::Shutdown("wait abandoned");
    if (value() >= target || kicks_ != kicks) continue;
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      cv_.Wait();
    } else if (!cv_.WaitUntil(deadline) && value() < target && kicks_ == kicks) {
      return Status::TimedOut("timed out waiting for WAL position " + target.ToString());
    }
  }
  return value();
}

void LsnWaiter::Kick() {
  MutexLock l(&mu_);
  kicks_++;
  cv_.SignalAll();
}

void LsnWaiter::Shutdown() {
  MutexLock l(&mu_);
  shutdown_ = true;
  cv_.SignalAll();
}

}  // namespace walrep
