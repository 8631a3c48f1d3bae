// walrep: table locks. On a primary: a transaction that read a table blocks DROP TABLE until it
// ends (pg_locks and pg_stat_activity show the waiter), LOCK TABLE ... NOWAIT fails with
// 55P03, lock_timeout, a deadlock between a table lock and a row lock is found (40P01),
// CREATE INDEX waits for writers. On a standby: replay of a DROP waits for the standby
// transaction holding the table, cancels it after max_standby_streaming_delay (40001, never
// 42P01 mid-transaction), counts it in pg_stat_database_conflicts.confl_lock, then proceeds.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

using namespace std::chrono_literals;

// Runs `sql` on `c` in the background.
std::future<std::string> Async(PGconn* c, const std::string& sql) {
  return std::async(std::launch::async, [c, sql] { return Exec(c, sql); });
}

// Waits until a session waits for a lock of `mode` (and pg_stat_activity says Lock/<event>).
void WaitForLockWaiter(const Node& n, const std::string& mode, const std::string& event) {
  ASSERT_TRUE(WaitUntil(
      [&] {
        return n.Query("SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = '" + mode +
                       "'") == "1";
      },
      30))
      << "no session waits for " << mode;
  EXPECT_EQ(n.Query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                    "wait_event = '" +
                    event + "'"),
            "1");
}

TEST(LocksTest, AReaderBlocksDropTableUntilItsTransactionEnds) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v int)");
  p.SafePsql("INSERT INTO t SELECT g, g FROM generate_series(1, 10) g");
  PGconn* a = p.Connect();
  PGconn* b = p.Connect();
  ASSERT_EQ(Exec(a, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(a, "SELECT count(*) FROM t"), "10\n");
  EXPECT_EQ(p.Query("SELECT mode || ' ' || granted FROM pg_locks WHERE locktype = 'relation' AND "
                    "pid = " +
                    Exec(a, "SELECT pg_backend_pid()").substr(0, 20)),
            "AccessShareLock t");
  auto drop = Async(b, "DROP TABLE t");
  ASSERT_NO_FATAL_FAILURE(WaitForLockWaiter(p, "AccessExclusiveLock", "relation"));
  EXPECT_EQ(drop.wait_for(200ms), std::future_status::timeout);
  // The table is still there for the reader's next statement.
  EXPECT_EQ(Exec(a, "SELECT sum(v) FROM t"), "55\n");
  ASSERT_EQ(Exec(a, "COMMIT"), "COMMIT");
  EXPECT_EQ(drop.get(), "DROP TABLE");
  EXPECT_EQ(Exec(a, "SELECT count(*) FROM t"), "ERROR 42P01");
  // Nothing is left locked.
  EXPECT_EQ(p.Query("SELECT count(*) FROM pg_locks WHERE locktype = 'relation'"), "0");
  PQfinish(a);
  PQfinish(b);
}

TEST(LocksTest, LockTableNowaitAndLockTimeout) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE u (id int PRIMARY KEY, v int)");
  PGconn* a = p.Connect();
  PGconn* b = p.Connect();
  EXPECT_EQ(Exec(a, "LOCK TABLE u"), "ERROR 25P01");  // outside a transaction block
  ASSERT_EQ(Exec(a, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(a, "LOCK TABLE u IN SHARE MODE"), "LOCK TABLE");
  ASSERT_EQ(Exec(b, "BEGIN"), "BEGIN");
  // SHARE conflicts with ROW EXCLUSIVE, not with ACCESS SHARE or SHARE.
  EXPECT_EQ(Exec(b, "LOCK TABLE u IN ACCESS SHARE MODE NOWAIT"), "LOCK TABLE");
  EXPECT_EQ(Exec(b, "LOCK TABLE u IN SHARE MODE NOWAIT"), "LOCK TABLE");
  EXPECT_EQ(Exec(b, "LOCK TABLE u IN ROW EXCLUSIVE MODE NOWAIT"), "ERROR 55P03");
  ASSERT_EQ(Exec(b, "ROLLBACK"), "ROLLBACK");
  PGresult* r = PQexec(b, "BEGIN; LOCK TABLE u IN EXCLUSIVE MODE NOWAIT");
  EXPECT_STREQ(PQresultErrorMessage(r), "ERROR:  could not obtain lock on relation \"u\"\n");
  PQclear(r);
  ASSERT_EQ(Exec(b, "ROLLBACK"), "ROLLBACK");
  // A writer waits for the SHARE lock; lock_timeout bounds the wait.
  ASSERT_EQ(Exec(b, "SET lock_timeout = '200ms'"), "SET");
  auto t0 = std::chrono::steady_clock::now();
  r = PQexec(b, "INSERT INTO u VALUES (1, 1)");
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "55P03");
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY),
               "canceling statement due to lock timeout");
  PQclear(r);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
  ASSERT_EQ(Exec(b, "SET lock_timeout = 0"), "SET");
  // Without a timeout the writer waits until the lock holder ends.
  auto ins = Async(b, "INSERT INTO u VALUES (1, 1)");
  ASSERT_NO_FATAL_FAILURE(WaitForLockWaiter(p, "RowExclusiveLock", "relation"));
  ASSERT_EQ(Exec(a, "COMMIT"), "COMMIT");
  EXPECT_EQ(ins.get(), "INSERT 0 1");
  // A cancelled wait is an ordinary error (57014), and releases the queue.
  ASSERT_EQ(Exec(a, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(a, "LOCK TABLE u"), "LOCK TABLE");
  auto sel = Async(b, "SELECT count(*) FROM u");
  ASSERT_NO_FATAL_FAILURE(WaitForLockWaiter(p, "AccessShareLock", "relation"));
  PGcancel* cancel = PQgetCancel(b);
  char err[256];
  ASSERT_TRUE(PQcancel(cancel, err, sizeof(err)));
  PQfreeCancel(cancel);
  EXPECT_EQ(sel.get(), "ERROR 57014");
  ASSERT_EQ(Exec(a, "COMMIT"), "COMMIT");
  EXPECT_EQ(Exec(b, "SELECT count(*) FROM u"), "1\n");
  PQfinish(a);
  PQfinish(b);
}

TEST(LocksTest, DeadlockBetweenATableLockAndARowLockIsDetected) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE rows (id int PRIMARY KEY, v int)");
  p.SafePsql("CREATE TABLE other (id int)");
  p.SafePsql("INSERT INTO rows VALUES (1, 0)");
  PGconn* a = p.Connect();
  PGconn* b = p.Connect();
  ASSERT_EQ(Exec(a, "SET deadlock_timeout = '200ms'"), "SET");
  ASSERT_EQ(Exec(a, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(a, "UPDATE rows SET v = v + 1 WHERE id = 1"), "UPDATE 1");  // a's row lock
  ASSERT_EQ(Exec(b, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(b, "LOCK TABLE other IN ACCESS EXCLUSIVE MODE"), "LOCK TABLE");
  // b waits for a's row ...
  auto upd = Async(b, "UPDATE rows SET v = v + 10 WHERE id = 1");
  ASSERT_NO_FATAL_FAILURE(WaitForLockWaiter(p, "ShareLock", "transactionid"));
  // ... and a for b's table: a cycle, found by a after its deadlock_timeout.
  PGresult* r = PQexec(a, "SELECT count(*) FROM other");
  ASSERT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "40P01");
  std::string detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
  PQclear(r);
  EXPECT_NE(detail.find("waits for AccessShareLock on relation"), std::string::npos) << detail;
  EXPECT_NE(detail.find("waits for ShareLock on transaction"), std::string::npos) << detail;
  // a's transaction is over: b gets the row and commits.
  EXPECT_EQ(upd.get(), "UPDATE 1");
  ASSERT_EQ(Exec(b, "COMMIT"), "COMMIT");
  ASSERT_EQ(Exec(a, "ROLLBACK"), "ROLLBACK");
  EXPECT_EQ(p.Query("SELECT v FROM rows"), "10");
  PQfinish(a);
  PQfinish(b);
}

TEST(LocksTest, CreateIndexWaitsForWritersAndIndexesTheirRows) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE w (id int PRIMARY KEY, v int)");
  PGconn* a = p.Connect();
  PGconn* b = p.Connect();
  ASSERT_EQ(Exec(a, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(a, "INSERT INTO w VALUES (1, 42)"), "INSERT 0 1");
  auto idx = Async(b, "CREATE INDEX w_v ON w (v)");
  ASSERT_NO_FATAL_FAILURE(WaitForLockWaiter(p, "ShareLock", "relation"));
  ASSERT_EQ(Exec(a, "COMMIT"), "COMMIT");
  EXPECT_EQ(idx.get(), "CREATE INDEX");
  // The index has the row the writer committed while the build waited.
  EXPECT_EQ(p.Query("SELECT id FROM w WHERE v = 42"), "1");
  EXPECT_NE(p.Query("EXPLAIN SELECT id FROM w WHERE v = 42").find("w_v"), std::string::npos);
  PQfinish(a);
  PQfinish(b);
}

TEST(LocksTest, ASavepointRollbackReleasesTheLocksTakenAfterIt) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE s1 (id int)");
  p.SafePsql("CREATE TABLE s2 (id int)");
  PGconn* a = p.Connect();
  ASSERT_EQ(Exec(a, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(a, "SELECT count(*) FROM s1"), "0\n");
  ASSERT_EQ(Exec(a, "SAVEPOINT sp"), "SAVEPOINT");
  ASSERT_EQ(Exec(a, "LOCK TABLE s2"), "LOCK TABLE");
  EXPECT_EQ(p.Query("SELECT count(*) FROM pg_locks WHERE locktype = 'relation'"), "2");
  ASSERT_EQ(Exec(a, "ROLLBACK TO SAVEPOINT sp"), "ROLLBACK");
  EXPECT_EQ(p.Query("SELECT mode FROM pg_locks WHERE locktype = 'relation'"), "AccessShareLock");
  // An error ends a transaction without savepoints at once: its locks go before ROLLBACK.
  ASSERT_EQ(Exec(a, "RELEASE sp"), "RELEASE");
  ASSERT_EQ(Exec(a, "SELECT 1/0"), "ERROR 22012");
  EXPECT_EQ(p.Query("SELECT count(*) FROM pg_locks WHERE locktype = 'relation'"), "0");
  EXPECT_EQ(Exec(a, "SELECT count(*) FROM s1"), "ERROR 25P02");
  ASSERT_EQ(Exec(a, "ROLLBACK"), "ROLLBACK");
  PQfinish(a);
}

TEST(LocksTest, StandbyReplayCancelsATransactionHoldingADroppedTable) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int PRIMARY KEY)");
  p.SafePsql("CREATE TABLE t2 (id int PRIMARY KEY)");
  p.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 100) g");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("max_standby_streaming_delay = 1s", "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitForReplay(p, s));
  // A standby session may not take locks replay could never be told about.
  PGconn* sc = s.Connect();
  ASSERT_EQ(Exec(sc, "BEGIN"), "BEGIN");
  EXPECT_EQ(Exec(sc, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"), "ERROR 25006");
  ASSERT_EQ(Exec(sc, "ROLLBACK"), "ROLLBACK");

  // A transaction running a statement while holding the table: the statement is cancelled.
  ASSERT_EQ(Exec(sc, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(sc, "SELECT count(*) FROM t"), "100\n");
  auto sleeper = Async(sc, "SELECT pg_sleep(30)");
  ASSERT_TRUE(WaitUntil([&] {
    return s.Query("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'") ==
           "1";
  }));
  auto t0 = std::chrono::steady_clock::now();
  p.SafePsql("DROP TABLE t");
  // Replay takes the primary's AccessExclusiveLock and waits for the reader...
  ASSERT_TRUE(WaitUntil(
      [&] {
        return s.Query(
                   "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND NOT "
                   "granted") == "1";
      },
      30));
  // ... then cancels it after max_standby_streaming_delay.
  ASSERT_EQ(sleeper.wait_for(20s), std::future_status::ready);
  std::string res = sleeper.get();
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(res, "ERROR 40001");
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 15s);
  // The transaction never sees the table vanish: it is aborted.
  EXPECT_EQ(Exec(sc, "SELECT count(*) FROM t"), "ERROR 25P02");
  ASSERT_EQ(Exec(sc, "ROLLBACK"), "ROLLBACK");
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(Exec(sc, "SELECT count(*) FROM t"), "ERROR 42P01");
  EXPECT_EQ(s.Query("SELECT confl_lock FROM pg_stat_database_conflicts WHERE datname = "
                    "'postgres'"),
            "1");

  // Idle in a transaction that holds the table: the session is terminated (FATAL 40001, as
  // PostgreSQL's TAP tests check it: in the server log).
  ASSERT_EQ(Exec(sc, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(sc, "SELECT count(*) FROM t2"), "0\n");
  p.SafePsql("ALTER TABLE t2 ADD COLUMN v int");
  ASSERT_TRUE(WaitUntil(
      [&] {
        PQconsumeInput(sc);
        PQisBusy(sc);
        return PQstatus(sc) == CONNECTION_BAD;
      },
      30));
  std::string log = s.Log();
  EXPECT_NE(log.find("FATAL:  terminating connection due to conflict with recovery\nDETAIL:  User "
                     "was holding a relation lock for too long."),
            std::string::npos)
      << log;
  PQfinish(sc);
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query("SELECT confl_lock FROM pg_stat_database_conflicts WHERE datname = "
                    "'postgres'"),
            "2");
  EXPECT_EQ(s.Query("SELECT count(*) FROM t2 WHERE v IS NULL"), "0");
  // Replay's locks are gone once their transactions ended.
  EXPECT_EQ(s.Query("SELECT count(*) FROM pg_locks WHERE locktype = 'relation'"), "0");
}

// A named prepared statement re-takes its locks at each execution and is analysed again when
// the catalog changed since it was prepared (PostgreSQL's plan cache revalidation).
TEST(LocksTest, PreparedStatementsFollowDdlBetweenExecutions) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v int)");
  p.SafePsql("INSERT INTO t VALUES (1, 10)");
  PGconn* a = p.Connect();
  PGresult* r = PQprepare(a, "get", "SELECT v FROM t WHERE id = $1", 1, nullptr);
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  r = PQprepare(a, "all", "SELECT * FROM t", 0, nullptr);
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  auto get = [&]() {
    const char* v[] = {"1"};
    PGresult* res = PQexecPrepared(a, "get", 1, v, nullptr, nullptr, 0);
    std::string out = PQresultStatus(res) == PGRES_TUPLES_OK
                          ? (PQntuples(res) ? PQgetvalue(res, 0, 0) : "none")
                          : std::string("ERROR ") + PQresultErrorField(res, PG_DIAG_SQLSTATE);
    PQclear(res);
    return out;
  };
  EXPECT_EQ(get(), "10");
  // The table is dropped and created again: the statement reads the new one.
  p.SafePsql("DROP TABLE t");
  EXPECT_EQ(get(), "ERROR 42P01");
  p.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v int)");
  p.SafePsql("INSERT INTO t VALUES (1, 20)");
  EXPECT_EQ(get(), "20");
  // A statement whose result columns changed cannot be reused.
  p.SafePsql("ALTER TABLE t ADD COLUMN w int");
  PGresult* res = PQexecPrepared(a, "all", 0, nullptr, nullptr, nullptr, 0);
  EXPECT_STREQ(PQresultErrorField(res, PG_DIAG_SQLSTATE), "0A000");
  EXPECT_STREQ(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
               "cached plan must not change result type");
  PQclear(res);
  EXPECT_EQ(get(), "20");
  PQfinish(a);
}

// A standby that starts while a primary transaction holds an AccessExclusiveLock learns of it
// from the lock list logged before each checkpoint's RUNNING_XACTS (the STANDBY LOCK record of
// the LOCK itself precedes its start point), and releases it at the transaction's commit.
TEST(LocksTest, AStandbyStartingMidTransactionTakesTheLocksItHolds) {
  Node p("primary"), s("standby");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int)");
  p.SafePsql("INSERT INTO t VALUES (1)");
  PGconn* a = p.Connect();
  ASSERT_EQ(Exec(a, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(a, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"), "LOCK TABLE");
  ASSERT_EQ(Exec(a, "INSERT INTO t VALUES (2)"), "INSERT 0 1");
  // The base backup's checkpoint comes after the LOCK: replay starts past its record.
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitUntil([&] {
    return s.Query(
               "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted") ==
           "1";
  }));
  PGconn* sc = s.Connect();
  ASSERT_EQ(Exec(sc, "SET lock_timeout = '100ms'"), "SET");
  EXPECT_EQ(Exec(sc, "SELECT count(*) FROM t"), "ERROR 55P03");
  ASSERT_EQ(Exec(a, "COMMIT"), "COMMIT");
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(Exec(sc, "SELECT count(*) FROM t"), "2\n");
  EXPECT_EQ(s.Query("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock'"), "0");
  PQfinish(sc);
  PQfinish(a);
}

}  // namespace
}  // namespace walrep::testing
