// walrep: LsnWaiter — waiters with different targets each return once theirs is reached.
#include "walrep/common/lsn_waiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace walrep {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(LsnWaiterTest, EachWaiterReturnsWhenItsTargetIsReached) {
  LsnWaiter w(Lsn(10));
  std::atomic<uint64_t> near_got{0}, far_got{0};
  std::thread near([&] { near_got = w.WaitFor(Lsn(100))->value(); });
  std::thread far([&] { far_got = w.WaitFor(Lsn(200))->value(); });
  w.Advance(Lsn(50));
  w.Advance(Lsn(150));
  near.join();  // bounded by the test timeout: a missed wake-up hangs here
  EXPECT_EQ(near_got.load(), 150u);
  EXPECT_EQ(far_got.load(), 0u);
  w.Advance(Lsn(120));  // never lowers the value
  EXPECT_EQ(w.value(), Lsn(150));
  w.Advance(Lsn(250));
  far.join();
  EXPECT_EQ(far_got.load(), 250u);
}

TEST(LsnWaiterTest, ReachedTargetsTimeoutsAndShutdown) {
  LsnWaiter w(Lsn(10));
  EXPECT_EQ(*w.WaitFor(Lsn(5)), Lsn(10));  // already reached: no wait
  auto r = w.WaitFor(Lsn(20), steady_clock::now() + milliseconds(20));
  EXPECT_EQ(r.status().code(), Status::Code::kTimedOut);
  // A timed-out waiter leaves no target behind: a later waiter still wakes.
  std::thread t([&] { EXPECT_EQ(*w.WaitFor(Lsn(30)), Lsn(30)); });
  w.Advance(Lsn(30));
  t.join();
  std::thread s([&] { EXPECT_EQ(w.WaitFor(Lsn(1000)).status().code(), Status::Code::kShutdown); });
  w.Shutdown();
  s.join();
}

TEST(LsnWaiterTest, KickMakesWaitUntilReconsider) {
  LsnWaiter w(Lsn(1));
  std::atomic<bool> stop{false};
  std::thread t([&] {
    auto r = w.WaitUntil(Lsn(100), [&] { return stop.load(); });
    EXPECT_EQ(r.status().code(), Status::Code::kShutdown);
  });
  stop = true;
  w.Kick();
  t.join();
}

}  // namespace
}  // namespace walrep
