// Unit tests for the lock manager: conflict table, queueing, NOWAIT, lock_timeout, checks,
// deadlock detection across relation and transaction locks, savepoint release, pg_locks rows.
#include "walrep/access/lock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace walrep::access {
namespace {

using namespace std::chrono_literals;

const LockTag kT1 = LockTag::Relation(5, 16384);
const LockTag kT2 = LockTag::Relation(5, 16385);

// Waits (bounded) until `pid` waits for a lock.
void WaitUntilWaiting(const LockManager& lm, int32_t pid) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const LockInfo& i : lm.List()) {
      if (i.pid == pid && !i.granted) return;
    }
    std::this_thread::sleep_for(5ms);
  }
  FAIL() << "process " << pid << " never waited";
}

TEST(LockModes, ConflictTableIsPostgreSQLs) {
  using M = LockMode;
  // Symmetric, and the rows PostgreSQL documents ("Conflicting Lock Modes").
  for (int a = 1; a < kNumLockModes; a++) {
    for (int b = 1; b < kNumLockModes; b++) {
      EXPECT_EQ(LockModesConflict(M(a), M(b)), LockModesConflict(M(b), M(a))) << a << " " << b;
    }
  }
  EXPECT_FALSE(LockModesConflict(M::kAccessShare, M::kExclusive));
  EXPECT_TRUE(LockModesConflict(M::kAccessShare, M::kAccessExclusive));
  EXPECT_FALSE(LockModesConflict(M::kRowExclusive, M::kRowExclusive));
  EXPECT_TRUE(LockModesConflict(M::kRowExclusive, M::kShare));
  EXPECT_FALSE(LockModesConflict(M::kShare, M::kShare));
  EXPECT_TRUE(LockModesConflict(M::kShareUpdateExclusive, M::kShareUpdateExclusive));
  EXPECT_TRUE(LockModesConflict(M::kShareRowExclusive, M::kShareRowExclusive));
  EXPECT_TRUE(LockModesConflict(M::kExclusive, M::kRowShare));
  EXPECT_STREQ(LockModeName(M::kShareUpdateExclusive), "ShareUpdateExclusiveLock");
}

TEST(LockManager, CompatibleModesShareAndReleaseAllFrees) {
  LockManager lm;
  LockOwner a(1), b(2);
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessShare, {}).ok());
  ASSERT_TRUE(lm.Acquire(&b, kT1, LockMode::kRowExclusive, {}).ok());
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessShare, {}).ok());  // held: no-op
  EXPECT_EQ(lm.List().size(), 2u);
  lm.ReleaseAll(&a);
  lm.ReleaseAll(&b);
  EXPECT_TRUE(lm.Empty());
}

TEST(LockManager, NowaitAndLockTimeout) {
  LockManager lm;
  LockOwner a(1), b(2);
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessShare, {}).ok());
  LockRequest nowait;
  nowait.nowait = true;
  Status st = lm.Acquire(&b, kT1, LockMode::kAccessExclusive, nowait);
  EXPECT_EQ(st.code(), Status::Code::kRetry);
  LockRequest timeout;
  timeout.timeout_ms = 100;
  st = lm.Acquire(&b, kT1, LockMode::kAccessExclusive, timeout);
  EXPECT_EQ(st.sqlstate(), "55P03");
  EXPECT_EQ(st.message(), "canceling statement due to lock timeout");
  EXPECT_FALSE(b.Holds(kT1, LockMode::kAccessExclusive));
  lm.ReleaseAll(&a);
  EXPECT_TRUE(lm.Empty());
}

TEST(LockManager, WaiterIsGrantedAtReleaseAndReportsItsWait) {
  LockManager lm;
  LockOwner a(1), b(2);
  std::vector<std::string> events;
  b.report_wait = [&](const char* type, const char* ev) {
    events.push_back(type ? std::string(type) + "/" + ev : "none");
  };
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessShare, {}).ok());
  auto f = std::async(std::launch::async,
                      [&] { return lm.Acquire(&b, kT1, LockMode::kAccessExclusive, {}); });
  ASSERT_NO_FATAL_FAILURE(WaitUntilWaiting(lm, 2));
  auto rows = lm.List();
  auto waiter =
      std::find_if(rows.begin(), rows.end(), [](const LockInfo& i) { return !i.granted; });
  ASSERT_NE(waiter, rows.end());
  EXPECT_EQ(waiter->mode, LockMode::kAccessExclusive);
  EXPECT_NE(waiter->wait_start, 0);
  EXPECT_EQ(f.wait_for(100ms), std::future_status::timeout);
  lm.ReleaseAll(&a);
  ASSERT_TRUE(f.get().ok());
  EXPECT_TRUE(b.Holds(kT1, LockMode::kAccessExclusive));
  EXPECT_EQ(events, (std::vector<std::string>{"Lock/relation", "none"}));
  lm.ReleaseAll(&b);
}

TEST(LockManager, NewReadersQueueBehindAWaitingExclusiveRequest) {
  LockManager lm;
  LockOwner a(1), b(2), c(3);
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessShare, {}).ok());
  auto fb = std::async(std::launch::async,
                       [&] { return lm.Acquire(&b, kT1, LockMode::kAccessExclusive, {}); });
  ASSERT_NO_FATAL_FAILURE(WaitUntilWaiting(lm, 2));
  LockRequest nowait;
  nowait.nowait = true;
  // c's AccessShareLock conflicts with nothing granted, but with b's queued request.
  EXPECT_EQ(lm.Acquire(&c, kT1, LockMode::kAccessShare, nowait).code(), Status::Code::kRetry);
  // a already holds the lock: it is not queued behind b (that would deadlock).
  EXPECT_TRUE(lm.Acquire(&a, kT1, LockMode::kRowExclusive, nowait).ok());
  lm.ReleaseAll(&a);
  ASSERT_TRUE(fb.get().ok());
  lm.ReleaseAll(&b);
  EXPECT_TRUE(lm.Empty());
}

TEST(LockManager, CheckEndsTheWait) {
  LockManager lm;
  LockOwner a(1), b(2);
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessExclusive, {}).ok());
  std::atomic<bool> cancel{false};
  LockRequest req;
  req.check = [&]() -> Status {
    return cancel ? Status::Sql("57014", "canceling statement due to user request") : Status::OK();
  };
  auto f = std::async(std::launch::async,
                      [&] { return lm.Acquire(&b, kT1, LockMode::kAccessShare, req); });
  ASSERT_NO_FATAL_FAILURE(WaitUntilWaiting(lm, 2));
  cancel = true;
  lm.WakeAll();
  EXPECT_EQ(f.get().sqlstate(), "57014");
  lm.ReleaseAll(&a);
  EXPECT_TRUE(lm.Empty());
}

TEST(LockManager, DeadlockBetweenTableAndTransactionLocks) {
  LockManager lm;
  LockOwner a(101), b(202);
  // a: its transaction 735, and a lock on T1; b: an exclusive lock on T2.
  ASSERT_TRUE(lm.Acquire(&a, LockTag::Transaction(735), LockMode::kExclusive, {}).ok());
  ASSERT_TRUE(lm.Acquire(&b, kT2, LockMode::kAccessExclusive, {}).ok());
  // b waits for a's transaction (a row a updated) ...
  LockRequest later;
  later.deadlock_timeout_ms = 60000;  // a's search finds the cycle
  auto fb = std::async(std::launch::async, [&] {
    return lm.Acquire(&b, LockTag::Transaction(735), LockMode::kShare, later);
  });
  ASSERT_NO_FATAL_FAILURE(WaitUntilWaiting(lm, 202));
  // ... and a waits for T2, held by b: a cycle.
  LockRequest req;
  req.deadlock_timeout_ms = 50;
  auto fa = std::async(std::launch::async,
                       [&] { return lm.Acquire(&a, kT2, LockMode::kAccessShare, req); });
  Status sa = fa.get();
  ASSERT_EQ(sa.sqlstate(), "40P01") << sa.message();
  EXPECT_EQ(sa.message(), "deadlock detected");
  EXPECT_EQ(sa.detail(),
            "Process 101 waits for AccessShareLock on relation 16385 of database 5; blocked by "
            "process 202.\nProcess 202 waits for ShareLock on transaction 735; blocked by process "
            "101.");
  // a's transaction aborts and releases: b gets its lock.
  lm.ReleaseAll(&a);
  EXPECT_TRUE(fb.get().ok());
  lm.ReleaseAll(&b);
  EXPECT_TRUE(lm.Empty());
}

TEST(LockManager, NoFalseDeadlockForAPlainWait) {
  LockManager lm;
  LockOwner a(1), b(2);
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessExclusive, {}).ok());
  LockRequest req;
  req.deadlock_timeout_ms = 10;
  auto f = std::async(std::launch::async,
                      [&] { return lm.Acquire(&b, kT1, LockMode::kAccessShare, req); });
  EXPECT_EQ(f.wait_for(200ms), std::future_status::timeout);
  lm.ReleaseAll(&a);
  EXPECT_TRUE(f.get().ok());
  lm.ReleaseAll(&b);
}

TEST(LockManager, ReleaseSinceAMarkKeepsEarlierLocks) {
  LockManager lm;
  LockOwner a(1);
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessShare, {}).ok());
  size_t mark = a.Mark();
  ASSERT_TRUE(lm.Acquire(&a, kT2, LockMode::kAccessExclusive, {}).ok());
  ASSERT_TRUE(lm.Acquire(&a, kT1, LockMode::kAccessShare, {}).ok());  // already held before
  lm.ReleaseSince(&a, mark);
  EXPECT_TRUE(a.Holds(kT1, LockMode::kAccessShare));
  EXPECT_FALSE(a.Holds(kT2, LockMode::kAccessExclusive));
  a.set_xid(900);
  ASSERT_TRUE(lm.Acquire(&a, kT2, LockMode::kAccessExclusive, {}).ok());
  auto ael = lm.ExclusiveRelationLocks();
  ASSERT_EQ(ael.size(), 1u);
  EXPECT_EQ(ael[0], (StandbyLock{900, 5, 16385}));
  EXPECT_EQ(DecodeStandbyLocks(EncodeStandbyLocks(ael)), ael);
  lm.ReleaseAll(&a);
  EXPECT_TRUE(lm.Empty());
}

}  // namespace
}  // namespace walrep::access
