// walrep: hot-standby reads users can trust — read-your-writes with WAIT FOR LSN (and its
// function form) across 100 commit/wait/read rounds, its timeout and promotion errors, and
// walrep_replication_lag(), which stays 0 on an idle primary while PostgreSQL's
// now() - pg_last_xact_replay_timestamp() grows.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>
#include <vector>

#include "testing.h"

namespace walrep::testing {
namespace {

void StartPair(Node* p, Node* s) {
  ASSERT_NO_FATAL_FAILURE(p->Init());
  ASSERT_NO_FATAL_FAILURE(p->Start());
  p->SafePsql("CREATE TABLE t (id int PRIMARY KEY, v int)");
  ASSERT_NO_FATAL_FAILURE(s->InitStandby(*p));
  ASSERT_NO_FATAL_FAILURE(s->Start());
}

TEST(HotStandbyTest, WaitForLsnGivesReadYourWrites) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(StartPair(&p, &s));
  PGconn* pc = p.Connect();
  PGconn* sc = s.Connect();
  ASSERT_EQ(PQstatus(pc), CONNECTION_OK);
  ASSERT_EQ(PQstatus(sc), CONNECTION_OK);
  for (int i = 1; i <= 100; i++) {
    ASSERT_EQ(
        Exec(pc, "INSERT INTO t VALUES (" + std::to_string(i) + ", " + std::to_string(i) + ")"),
        "INSERT 0 1");
    std::string lsn = Exec(pc, "SELECT pg_current_wal_insert_lsn()");
    lsn.pop_back();  // the newline
    if (i % 2) {
      ASSERT_EQ(Exec(sc, "WAIT FOR LSN '" + lsn + "' WITH (TIMEOUT '10s')"), "success\n");
    } else {
      ASSERT_EQ(Exec(sc, "SELECT walrep_wait_for_lsn('" + lsn + "')"), "success\n");
    }
    ASSERT_EQ(Exec(sc, "SELECT v FROM t WHERE id = " + std::to_string(i)), std::to_string(i) + "\n")
        << "stale read in round " << i;
  }
  // Timeouts: an error (57014) by default, a status with NO_THROW.
  EXPECT_EQ(Exec(sc, "WAIT FOR LSN 'FF/0' WITH (TIMEOUT '100ms')"), "ERROR 57014");
  EXPECT_EQ(Exec(sc, "wait for lsn 'FF/0' with (timeout 50, no_throw)"), "timeout\n");
  EXPECT_EQ(Exec(sc, "WAIT FOR LSN 'nonsense'"), "ERROR 42601");
  EXPECT_EQ(Exec(sc, "WAIT FOR LSN '0/1' WITH (COLOR 'red')"), "ERROR 42601");
  // On a primary there is nothing to wait for.
  EXPECT_EQ(Exec(pc, "WAIT FOR LSN '0/1'"), "ERROR 55000");
  EXPECT_EQ(Exec(pc, "WAIT FOR LSN '0/1' WITH (NO_THROW)"), "not in recovery\n");
  PQfinish(pc);

  // A promotion ends a wait with an error that says so.
  std::string waited;
  std::thread waiter([&] { waited = Exec(sc, "WAIT FOR LSN 'FF/0'"); });
  ASSERT_TRUE(WaitUntil([&] {
    return s.Query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'WAIT FOR LSN%'") == "1";
  }));
  p.Stop("fast");
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t");
  waiter.join();
  EXPECT_EQ(waited, "ERROR 55000");
  PQfinish(sc);
}

// Parallel redo (walrep.recovery_workers = 4) under transfers between accounts spread over many
// pages, several at once on the primary: every read on the standby — a sequential scan and an
// index scan, each one snapshot — sees the same total, and the workers did apply records.
TEST(HotStandbyTest, ParallelRedoNeverShowsHalfATransaction) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  constexpr int kAccounts = 3000;
  p.SafePsql("CREATE TABLE accounts (id int PRIMARY KEY, balance int, pad text)");
  p.SafePsql(
      fmt::format("INSERT INTO accounts SELECT g, 1000, repeat('x', 300) "
                  "FROM generate_series(1, {}) g",
                  kAccounts));
  const std::string total = std::to_string(kAccounts * 1000);
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("walrep.recovery_workers = 4");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query("SELECT workers FROM walrep_stat_replay"), "4");

  std::atomic<bool> stop{false};
  std::atomic<int> transfers{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; w++) {
    writers.emplace_back([&, w] {
      PGconn* c = p.Connect();
      unsigned seed = 17u + static_cast<unsigned>(w);
      while (!stop.load() && PQstatus(c) == CONNECTION_OK) {
        int a = static_cast<int>(rand_r(&seed) % kAccounts) + 1;
        int b = static_cast<int>(rand_r(&seed) % kAccounts) + 1;
        int amount = static_cast<int>(rand_r(&seed) % 50) + 1;
        // Some rows grow (their new version may go to another page), some only change.
        std::string pad = rand_r(&seed) % 4 == 0 ? ", pad = pad || 'y'" : "";
        Exec(c, "BEGIN");
        Exec(c, fmt::format("UPDATE accounts SET balance = balance - {}{} WHERE id = {}", amount,
                            pad, a));
        Exec(c, fmt::format("UPDATE accounts SET balance = balance + {} WHERE id = {}", amount, b));
        if (Exec(c, "COMMIT") == "COMMIT") transfers++;
      }
      PQfinish(c);
    });
  }
  PGconn* sc = s.Connect();
  ASSERT_EQ(PQstatus(sc), CONNECTION_OK);
  int reads = 0, wrong = 0;
  std::string first_wrong;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((transfers.load() < 3000 || reads < 300) && std::chrono::steady_clock::now() < until) {
    for (const char* q :
         {"SELECT sum(balance) || '/' || count(*) FROM accounts",
          "SELECT sum(balance) || '/' || count(*) FROM accounts WHERE id BETWEEN 1 AND 3000"}) {
      std::string got = Exec(sc, q);
      reads++;
      if (got != total + "/" + std::to_string(kAccounts) + "\n") {
        if (wrong++ == 0) first_wrong = got;
      }
    }
  }
  stop = true;
  for (auto& t : writers) t.join();
  PQfinish(sc);
  EXPECT_EQ(wrong, 0) << "first wrong read: " << first_wrong << " of " << reads;
  EXPECT_GE(transfers.load(), 3000);
  EXPECT_GE(reads, 300);
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query("SELECT sum(balance) FROM accounts"), total);
  const char* rows = "SELECT sum(id::bigint * balance) || ' ' || sum(length(pad)) FROM accounts";
  EXPECT_EQ(s.SafePsql(rows), p.SafePsql(rows));
  // The workers did the work, not the startup thread alone.
  EXPECT_GT(std::stoll(s.Query("SELECT worker_records FROM walrep_stat_replay")), 1000);
}

// recovery_prefetch: a standby whose buffer pool holds a fraction of the table asks the kernel
// for the blocks the records ahead will touch, and pg_stat_recovery_prefetch accounts for every
// block reference; pg_stat_reset_shared('recovery_prefetch') starts the counters again.
TEST(HotStandbyTest, StandbyPrefetchesTheBlocksItWillReplay) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  const char* counters =
      "SELECT prefetch || ' ' || hit || ' ' || skip_init || ' ' || skip_new || ' ' || skip_fpw "
      "|| ' ' || skip_rep FROM pg_stat_recovery_prefetch";
  // One row everywhere, as in PostgreSQL; nothing replayed on a new primary.
  EXPECT_EQ(p.Query(counters), "0 0 0 0 0 0");
  p.SafePsql("CREATE TABLE accounts (id int PRIMARY KEY, balance int, pad text)");
  p.SafePsql("INSERT INTO accounts SELECT g, 0, repeat('x', 300) FROM generate_series(1, 4000) g");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("shared_buffers = 32");  // 256 kB: the table is 1.4 MB
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitForReplay(p, s));
  // Updates all over the table, in batches the standby receives faster than it replays.
  for (int round = 0; round < 20; round++) {
    p.SafePsql(fmt::format("UPDATE accounts SET balance = balance + 1 WHERE id % 20 = {}", round));
  }
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query("SELECT sum(balance) FROM accounts"), "4000");
  auto values = [&] {
    std::vector<long long> v;
    std::istringstream in(s.Query(counters));
    for (long long x; in >> x;) v.push_back(x);
    return v;
  };
  std::vector<long long> c = values();
  ASSERT_EQ(c.size(), 6u);
  EXPECT_GT(c[0], 0) << "nothing prefetched: " << s.Query(counters);
  EXPECT_GT(c[4], 0) << "no full-page image seen: " << s.Query(counters);
  std::string reset_before = s.Query("SELECT stats_reset FROM pg_stat_recovery_prefetch");
  EXPECT_EQ(s.Query("SELECT pg_stat_reset_shared('recovery_prefetch')"), "");
  EXPECT_EQ(s.Query(counters), "0 0 0 0 0 0");
  EXPECT_NE(s.Query("SELECT stats_reset FROM pg_stat_recovery_prefetch"), reset_before);
  // recovery_prefetch = off: records are read one at a time and nothing is counted.
  s.AppendConf("recovery_prefetch = off");
  s.SafePsql("SELECT pg_reload_conf()");
  ASSERT_TRUE(WaitUntil([&] { return s.Query("SHOW recovery_prefetch") == "off"; }));
  p.SafePsql("UPDATE accounts SET balance = balance + 1");
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query(counters), "0 0 0 0 0 0");
  EXPECT_EQ(s.Query("SELECT wal_distance || ' ' || block_distance || ' ' || io_depth FROM "
                    "pg_stat_recovery_prefetch"),
            "0 0 0");
}

TEST(HotStandbyTest, ReplicationLagIsZeroOnAnIdlePrimary) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(StartPair(&p, &s));
  p.SafePsql("INSERT INTO t VALUES (1, 1)");
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(p.Query("SELECT walrep_replication_lag() IS NULL"), "t");  // a primary
  // Idle primary: PostgreSQL's measure grows, walrep's stays 0.
  ASSERT_TRUE(WaitUntil([&] {
    return s.Query("SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) > 1.5") ==
           "t";
  }));
  EXPECT_EQ(s.Query("SELECT walrep_replication_lag()"), "0");
  // Replay held back while the primary writes: the lag is the age of what waits.
  s.SafePsql("SELECT pg_wal_replay_pause()");
  p.SafePsql("INSERT INTO t VALUES (2, 2)");
  ASSERT_TRUE(WaitUntil([&] { return s.Query("SELECT walrep_replication_lag() > 0.5") == "t"; }))
      << s.Query("SELECT walrep_replication_lag()");
  s.SafePsql("SELECT pg_wal_replay_resume()");
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_TRUE(WaitUntil([&] { return s.Query("SELECT walrep_replication_lag()") == "0"; }));
}

TEST(HotStandbyTest, DelayedStandbyReceivesAtOnceAndAppliesAfterTheDelay) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("wal_receiver_status_interval = 1");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v int)");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("recovery_min_apply_delay = '3s'");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitForReplay(p, s));
  auto flushed_on_standby = [&] {
    std::string lsn = p.Query("SELECT pg_current_wal_flush_lsn()");
    return WaitUntil([&] {
      return p.Query("SELECT flush_lsn >= '" + lsn + "' FROM pg_stat_replication") == "t";
    });
  };
  auto started = std::chrono::steady_clock::now();
  p.SafePsql("INSERT INTO t VALUES (1, 1)");
  ASSERT_TRUE(flushed_on_standby());
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "0");  // received, not applied
  ASSERT_TRUE(WaitUntil([&] { return s.Query("SELECT count(*) FROM t") == "1"; }, 30));
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  // A reload changes the delay at once.
  s.SafePsql("ALTER SYSTEM SET recovery_min_apply_delay = '1h'");
  s.SafePsql("SELECT pg_reload_conf()");
  p.SafePsql("INSERT INTO t VALUES (2, 2)");
  ASSERT_TRUE(flushed_on_standby());
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "1");
  s.SafePsql("ALTER SYSTEM SET recovery_min_apply_delay = 0");
  s.SafePsql("SELECT pg_reload_conf()");
  ASSERT_TRUE(WaitUntil([&] { return s.Query("SELECT count(*) FROM t") == "2"; }, 10));
  // Pause and resume work with it.
  s.SafePsql("SELECT pg_wal_replay_pause()");
  EXPECT_EQ(s.Query("SELECT pg_get_wal_replay_pause_state()"), "paused");
  p.SafePsql("INSERT INTO t VALUES (3, 3)");
  ASSERT_TRUE(flushed_on_standby());
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "2");
  s.SafePsql("SELECT pg_wal_replay_resume()");
  ASSERT_TRUE(WaitUntil([&] { return s.Query("SELECT count(*) FROM t") == "3"; }, 10));
  // A promotion ends the delay: everything received is applied.
  s.SafePsql("ALTER SYSTEM SET recovery_min_apply_delay = '1h'");
  s.SafePsql("SELECT pg_reload_conf()");
  p.SafePsql("INSERT INTO t VALUES (4, 4)");
  ASSERT_TRUE(flushed_on_standby());
  p.Stop("fast");
  ASSERT_EQ(s.Query("SELECT pg_promote()"), "t");
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "4");
}

// A restarted standby opens for reads as soon as replay passes the minimum recovery point —
// what its pages already hold — and replays the rest of pg_wal afterwards, the walreceiver
// starting once pg_wal is exhausted. A delay set before the restart therefore holds back WAL
// that was received but not replayed (before, all local WAL was applied before the standby
// opened, whatever the delay), and nothing the disk already held is ever hidden.
TEST(HotStandbyTest, RestartOpensAtTheMinimumRecoveryPoint) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(StartPair(&p, &s));
  p.SafePsql("CHECKPOINT");  // the restartpoint below starts before the first batch
  for (int i = 0; i < 10; i++) {
    p.SafePsql(fmt::format("INSERT INTO t SELECT g, g FROM generate_series({}, {}) g", i * 10 + 1,
                           i * 10 + 10));
  }
  ASSERT_TRUE(WaitForReplay(p, s));
  // A restartpoint writes the first batch's pages: replay must pass them before reads begin.
  s.SafePsql("CHECKPOINT");
  s.SafePsql("SELECT pg_wal_replay_pause()");
  ASSERT_TRUE(
      WaitUntil([&] { return s.Query("SELECT pg_get_wal_replay_pause_state()") == "paused"; }));
  std::string paused_at = s.Query("SELECT pg_last_wal_replay_lsn()");
  p.SafePsql("INSERT INTO t SELECT g, g FROM generate_series(101, 200) g");
  std::string second_end = p.Query("SELECT pg_current_wal_flush_lsn()");
  ASSERT_TRUE(WaitUntil([&] {
    return p.Query("SELECT flush_lsn >= '" + second_end + "' FROM pg_stat_replication") == "t";
  }));
  ASSERT_NO_FATAL_FAILURE(s.Kill9());
  s.AppendConf("recovery_min_apply_delay = '1h'");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "100");
  EXPECT_EQ(s.Query("SELECT pg_last_wal_replay_lsn() >= '" + paused_at + "'"), "t");
  EXPECT_EQ(s.Query("SELECT pg_last_wal_replay_lsn() < '" + second_end + "'"), "t");
  EXPECT_NE(s.Log().find("consistent recovery state reached"), std::string::npos);
  // Without the delay the rest of pg_wal is replayed, then streaming resumes.
  s.SafePsql("ALTER SYSTEM SET recovery_min_apply_delay = 0");
  s.SafePsql("SELECT pg_reload_conf()");
  ASSERT_TRUE(WaitUntil([&] { return s.Query("SELECT count(*) FROM t") == "200"; }));
  p.SafePsql("INSERT INTO t VALUES (201, 201)");
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "201");
  EXPECT_EQ(s.Query("SELECT status FROM pg_stat_wal_receiver"), "streaming");
}

TEST(HotStandbyTest, CascadedFeedbackReachesThePrimary) {
  Node p("primary"), s("standby"), c("cascade");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v int)");
  p.SafePsql("SELECT pg_create_physical_replication_slot('standby')");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("hot_standby_feedback = on");
  s.AppendConf("wal_receiver_status_interval = 1");
  s.AppendConf("primary_slot_name = 'standby'");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_NO_FATAL_FAILURE(c.InitStandby(s));
  c.AppendConf("primary_slot_name = ''");  // the middle standby's slot is on the primary
  c.AppendConf("hot_standby_feedback = on");
  c.AppendConf("wal_receiver_status_interval = 1");
  ASSERT_NO_FATAL_FAILURE(c.Start());
  for (int i = 0; i < 5; i++) p.SafePsql("INSERT INTO t VALUES (" + std::to_string(i) + ", 0)");
  ASSERT_TRUE(WaitForReplay(p, c));
  // A REPEATABLE READ transaction on the cascade holds its snapshot's xmin.
  PGconn* reader = c.Connect();
  ASSERT_EQ(Exec(reader, "BEGIN ISOLATION LEVEL REPEATABLE READ"), "BEGIN");
  ASSERT_EQ(Exec(reader, "SELECT count(*) FROM t"), "5\n");
  std::string xmin =
      c.Query("SELECT backend_xmin FROM pg_stat_activity WHERE backend_xmin IS NOT NULL LIMIT 1");
  ASSERT_FALSE(xmin.empty());
  // The primary writes on; the cascade's xmin still holds back its horizon, through the
  // middle standby's feedback, in pg_stat_replication and in the slot.
  for (int i = 5; i < 25; i++) p.SafePsql("INSERT INTO t VALUES (" + std::to_string(i) + ", 0)");
  ASSERT_TRUE(WaitForReplay(p, s));
  auto held = [&] {
    return p.Query("SELECT backend_xmin::text::bigint <= " + xmin + " FROM pg_stat_replication") ==
               "t" &&
           p.Query("SELECT xmin::text::bigint <= " + xmin +
                   " FROM pg_replication_slots WHERE slot_name = 'standby'") == "t";
  };
  EXPECT_TRUE(WaitUntil(held, 30))
      << p.Query("SELECT backend_xmin FROM pg_stat_replication") << " vs " << xmin;
  // Once the cascade turns feedback off (one all-zero message), the horizon moves on even
  // though its transaction is still open.
  c.SafePsql("ALTER SYSTEM SET hot_standby_feedback = off");
  c.SafePsql("SELECT pg_reload_conf()");
  p.SafePsql("INSERT INTO t VALUES (100, 0)");
  EXPECT_TRUE(WaitUntil(
      [&] {
        return p.Query("SELECT backend_xmin::text::bigint > " + xmin +
                       " FROM pg_stat_replication") == "t";
      },
      30))
      << p.Query("SELECT backend_xmin FROM pg_stat_replication");
  ASSERT_EQ(Exec(reader, "COMMIT"), "COMMIT");
  PQfinish(reader);
}

}  // namespace
}  // namespace walrep::testing
