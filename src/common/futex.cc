#include "walrep/common/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

namespace walrep {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

void FutexCounter::WaitWhile(uint32_t seen) {
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  // The kernel compares the word with `seen` under its own lock: a bump between our check
  // and the sleep makes FUTEX_WAIT return EAGAIN instead of sleeping past it.
  if (value_.load(std::memory_order_seq_cst) == seen) {
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&value_), FUTEX_WAIT_PRIVATE, seen, nullptr,
              nullptr, 0);
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
}

void FutexCounter::BumpAndWakeAll() {
  value_.fetch_add(1, std::memory_order_seq_cst);
  // A sleeper counted after this load read the new value before sleeping (both seq_cst).
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&value_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
}

}  // namespace walrep
