// walrep: FutexCounter — sleepers wake on every bump, and a bump before the sleep is not missed.
#include "walrep/common/futex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace walrep {
namespace {

TEST(FutexCounterTest, ABumpWakesEverySleeper) {
  FutexCounter c;
  uint32_t seen = c.value();
  std::atomic<int> woken{0};
  std::vector<std::thread> sleepers;
  for (int i = 0; i < 4; i++) {
    sleepers.emplace_back([&] {
      while (c.value() == seen) c.WaitWhile(seen);  // spurious returns are allowed
      woken++;
    });
  }
  EXPECT_EQ(woken.load(), 0);
  c.BumpAndWakeAll();
  for (auto& t : sleepers) t.join();  // bounded by the test timeout: a missed wake-up hangs
  EXPECT_EQ(woken.load(), 4);
  EXPECT_EQ(c.value(), seen + 1);
}

TEST(FutexCounterTest, ABumpBeforeTheSleepIsNotMissed) {
  FutexCounter c;
  uint32_t seen = c.value();
  c.BumpAndWakeAll();
  c.WaitWhile(seen);  // returns at once: the value moved on since `seen` was read
  EXPECT_NE(c.value(), seen);
  // Many rounds of a waker racing a sleeper that read the value just before the bump.
  for (int round = 0; round < 2000; round++) {
    uint32_t before = c.value();
    std::thread waker([&] { c.BumpAndWakeAll(); });
    while (c.value() == before) c.WaitWhile(before);
    waker.join();
  }
}

}  // namespace
}  // namespace walrep
