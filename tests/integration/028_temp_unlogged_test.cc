// walrep: temporary and unlogged tables are what they say. A TEMP table belongs to its session
// (others, and standbys, do not see it; it shadows a permanent table of the same name; it goes
// when the session ends, at COMMIT with ON COMMIT DROP, and after a crash); ON COMMIT DELETE
// ROWS empties it at each commit. An UNLOGGED table's writes add no WAL; it keeps its rows over
// a clean restart, is emptied by a crash (its indexes stay usable), cannot be read on a standby
// (0A000, as PostgreSQL) and starts empty on a promoted standby.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "testing.h"

namespace walrep::testing {
namespace {

int64_t WalBytes(const Node& n, const std::string& from) {
  return std::stoll(n.Query("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '" + from + "')"));
}

TEST(TempTablesTest, EachSessionSeesOnlyItsOwnAndTheyGoWithIt) {
  Node n("primary");
  ASSERT_NO_FATAL_FAILURE(n.Init());
  ASSERT_NO_FATAL_FAILURE(n.Start());
  PGconn* a = n.Connect();
  PGconn* b = n.Connect();
  n.SafePsql("CREATE TABLE tt (id int, who text)");
  n.SafePsql("INSERT INTO tt VALUES (0, 'permanent')");
  ASSERT_EQ(Exec(a, "CREATE TEMP TABLE tt (id int PRIMARY KEY, who text)"), "CREATE TABLE");
  ASSERT_EQ(Exec(b, "CREATE TEMPORARY TABLE tt (id int PRIMARY KEY, who text)"), "CREATE TABLE");
  EXPECT_EQ(Exec(a, "CREATE TEMP TABLE tt (x int)"), "ERROR 42P07");
  ASSERT_EQ(Exec(a, "INSERT INTO tt SELECT g, 'a' FROM generate_series(1, 3) g"), "INSERT 0 3");
  ASSERT_EQ(Exec(b, "INSERT INTO tt VALUES (7, 'b')"), "INSERT 0 1");
  EXPECT_EQ(Exec(a, "SELECT count(*), min(who) FROM tt"), "3|a\n");
  EXPECT_EQ(Exec(b, "SELECT id, who FROM tt"), "7|b\n");
  EXPECT_EQ(Exec(b, "INSERT INTO tt VALUES (7, 'dup')"), "ERROR 23505");
  // Another session sees the permanent table; its own temp table name is free.
  EXPECT_EQ(n.SafePsql("SELECT who FROM tt"), "permanent");
  EXPECT_EQ(n.SafePsql("CREATE TEMP TABLE tt (z int); INSERT INTO tt VALUES (5); "
                       "SELECT z FROM tt"),
            "5");
  // Serial columns of a temporary table get temporary sequences.
  ASSERT_EQ(Exec(a, "CREATE TEMP TABLE s (id serial, v int)"), "CREATE TABLE");
  ASSERT_EQ(Exec(a, "INSERT INTO s (v) VALUES (1), (2)"), "INSERT 0 2");
  EXPECT_EQ(Exec(a, "SELECT max(id) FROM s"), "2\n");
  EXPECT_EQ(n.SafePsql("CREATE SEQUENCE s_id_seq; SELECT nextval('s_id_seq')"), "1");
  PQfinish(a);
  // A's tables went with its session: a new session can take the names.
  PGconn* a2 = n.Connect();
  EXPECT_EQ(Exec(a2, "SELECT who FROM tt"), "permanent\n");
  EXPECT_EQ(Exec(a2, "CREATE TEMP TABLE s (id serial)"), "CREATE TABLE");
  EXPECT_EQ(Exec(b, "SELECT id FROM tt"), "7\n");
  PQfinish(a2);
  PQfinish(b);
}

TEST(TempTablesTest, OnCommitActions) {
  Node n("primary");
  ASSERT_NO_FATAL_FAILURE(n.Init());
  ASSERT_NO_FATAL_FAILURE(n.Start());
  PGconn* c = n.Connect();
  EXPECT_EQ(Exec(c, "CREATE TABLE p (x int) ON COMMIT DELETE ROWS"), "ERROR 42P16");
  ASSERT_EQ(Exec(c, "CREATE TEMP TABLE d (x int PRIMARY KEY) ON COMMIT DELETE ROWS"),
            "CREATE TABLE");
  ASSERT_EQ(Exec(c, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(c, "INSERT INTO d VALUES (1), (2)"), "INSERT 0 2");
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM d"), "2\n");
  ASSERT_EQ(Exec(c, "COMMIT"), "COMMIT");
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM d"), "0\n");
  EXPECT_EQ(Exec(c, "INSERT INTO d VALUES (1)"), "INSERT 0 1");  // the index was emptied too
  ASSERT_EQ(Exec(c, "BEGIN"), "BEGIN");
  ASSERT_EQ(Exec(c, "CREATE TEMP TABLE gone (x int) ON COMMIT DROP"), "CREATE TABLE");
  ASSERT_EQ(Exec(c, "INSERT INTO gone VALUES (1)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "SELECT x FROM gone"), "1\n");
  ASSERT_EQ(Exec(c, "COMMIT"), "COMMIT");
  EXPECT_EQ(Exec(c, "SELECT x FROM gone"), "ERROR 42P01");
  ASSERT_EQ(Exec(c, "CREATE TEMP TABLE kept (x int) ON COMMIT PRESERVE ROWS"), "CREATE TABLE");
  ASSERT_EQ(Exec(c, "INSERT INTO kept VALUES (1)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM kept"), "1\n");
  PQfinish(c);
}

TEST(TempTablesTest, GoneAfterKill9AndNeverOnAStandby) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  Node s("standby");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  ASSERT_NO_FATAL_FAILURE(s.Start());
  PGconn* c = p.Connect();
  ASSERT_EQ(Exec(c, "CREATE TEMP TABLE mine (x int)"), "CREATE TABLE");
  ASSERT_EQ(Exec(c, "INSERT INTO mine SELECT g FROM generate_series(1, 1000) g"), "INSERT 0 1000");
  ASSERT_TRUE(WaitForReplay(p, s));
  CommandResult r = s.Psql("SELECT count(*) FROM mine");
  EXPECT_NE(r.err.find("relation \"mine\" does not exist"), std::string::npos) << r.err;
  ASSERT_NO_FATAL_FAILURE(p.Kill9());
  PQfinish(c);
  ASSERT_NO_FATAL_FAILURE(p.Start());
  EXPECT_NE(p.Log().find("reset 1 unlogged and temporary tables"), std::string::npos);
  // The name is free again, and no session sees the old rows.
  EXPECT_EQ(p.SafePsql("CREATE TABLE mine (x int); SELECT count(*) FROM mine"), "0");
}

TEST(UnloggedTablesTest, NoWalEmptiedByACrashUnreadableOnStandbysEmptyAfterPromotion) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE UNLOGGED TABLE u (id int PRIMARY KEY, v text)");
  p.SafePsql("CREATE TABLE l (id int PRIMARY KEY, v text)");
  std::string lsn = p.Query("SELECT pg_current_wal_insert_lsn()");
  p.SafePsql("INSERT INTO u SELECT g, repeat('u', 100) FROM generate_series(1, 20000) g");
  int64_t unlogged_wal = WalBytes(p, lsn);
  lsn = p.Query("SELECT pg_current_wal_insert_lsn()");
  p.SafePsql("INSERT INTO l SELECT g, repeat('l', 100) FROM generate_series(1, 20000) g");
  int64_t logged_wal = WalBytes(p, lsn);
  EXPECT_LT(unlogged_wal, 4096) << "unlogged inserts wrote WAL";
  EXPECT_GT(logged_wal, 1000000);
  p.SafePsql("UPDATE u SET v = 'x' WHERE id <= 10");
  EXPECT_EQ(p.SafePsql("SELECT count(*), min(v) FROM u WHERE id <= 10"), "10|x");
  // A clean restart keeps the rows.
  ASSERT_NO_FATAL_FAILURE(p.Stop());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  EXPECT_EQ(p.SafePsql("SELECT count(*) FROM u"), "20000");
  // A standby has the table's definition but no contents.
  Node s("standby");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  ASSERT_NO_FATAL_FAILURE(s.Start());
  p.SafePsql("INSERT INTO l VALUES (0, 'marker')");
  ASSERT_TRUE(WaitForReplay(p, s));
  CommandResult r = s.Psql("SELECT count(*) FROM u");
  EXPECT_NE(r.err.find("cannot access temporary or unlogged relations during recovery"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(s.SafePsql("SELECT count(*) FROM l"), "20001");
  // A crash empties it; its index works afterwards.
  ASSERT_NO_FATAL_FAILURE(p.Kill9());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  EXPECT_EQ(p.SafePsql("SELECT count(*) FROM u"), "0");
  EXPECT_EQ(p.SafePsql("SELECT count(*) FROM l"), "20001");
  p.SafePsql("INSERT INTO u VALUES (1, 'again')");
  EXPECT_NE(p.Psql("INSERT INTO u VALUES (1, 'dup')").err.find("duplicate key"), std::string::npos);
  EXPECT_EQ(p.SafePsql("SELECT v FROM u WHERE id = 1"), "again");
  // Promoted, the standby's copy starts empty and takes writes.
  ASSERT_TRUE(WaitForReplay(p, s));
  ASSERT_NO_FATAL_FAILURE(p.Stop());
  EXPECT_EQ(s.SafePsql("SELECT pg_promote()"), "t");
  EXPECT_EQ(s.SafePsql("SELECT count(*) FROM u"), "0");
  s.SafePsql("INSERT INTO u VALUES (5, 'new primary')");
  EXPECT_EQ(s.SafePsql("SELECT v FROM u"), "new primary");
}

}  // namespace
}  // namespace walrep::testing
