// walrep: a counter that threads sleep on until it changes (a Linux futex). For a wake-up that
// many threads wait for at once, where a condition variable would make each of them re-take
// its mutex on the way out (a second context switch per waiter when they collide).
// Thread safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace walrep {

class FutexCounter {
 public:
  uint32_t value() const { return value_.load(std::memory_order_acquire); }
  // Sleeps until the counter differs from `seen` (returns at once if it already does). May
  // return spuriously: callers re-check what they wait for.
  void WaitWhile(uint32_t seen);
  // Adds one and wakes every thread sleeping in WaitWhile().
  void BumpAndWakeAll();

 private:
  std::atomic<uint32_t> value_{0};
  std::atomic<uint32_t> sleepers_{0};  // threads in WaitWhile(): no wake-up call without them
};

}  // namespace walrep
