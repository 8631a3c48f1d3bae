// walrep: B-tree indexes end to end — primary keys enforced through their index (including
// against concurrent inserters), lookups with literals and $n parameters, ALTER TABLE ADD PRIMARY
// KEY over existing rows, TRUNCATE, and the index surviving kill -9 through WAL replay.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>

#include "testing.h"

namespace walrep::testing {
namespace {

// INSERT of rows (g, '<prefix>g'[, g * 10]) for g in [from, to].
std::string InsertRows(const std::string& table, int from, int to, const std::string& prefix,
                       bool with_v) {
  std::string sql = "insert into " + table + " values ";
  for (int g = from; g <= to; g++) {
    sql += (g == from ? "(" : ", (") + std::to_string(g) + ", '" + prefix + std::to_string(g) + "'";
    sql += with_v ? ", " + std::to_string(g * 10) + ")" : ")";
  }
  return sql;
}

TEST(IndexTest, PrimaryKeyLookupsAndUniqueness) {
  Node n;
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table a (id int primary key, k text, v int)"), "");
  ASSERT_EQ(n.SafePsql(InsertRows("a", 1, 3000, "k", true)).find("ERROR"), std::string::npos);
  PGconn* c = n.Connect();
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  EXPECT_EQ(Exec(c, "select k, v from a where id = 1234"), "k1234|12340\n");
  EXPECT_EQ(Exec(c, "select v from a where id = $1", {"2999"}), "29990\n");
  EXPECT_EQ(Exec(c, "select v from a where id = $1 and v > 100000", {"2999"}), "");
  EXPECT_EQ(Exec(c, "select v from a where id = $1", {"3001"}), "");
  EXPECT_EQ(Exec(c, "update a set v = v + 1 where id = $1", {"7"}), "UPDATE 1");
  EXPECT_EQ(Exec(c, "select v from a where id = 7"), "71\n");
  // Updating the key: the old key becomes free, the new one taken.
  // Range predicates on the leading column (both orders of operands, BETWEEN, parameters).
  EXPECT_EQ(Exec(c, "select count(*), min(id), max(id) from a where id > 10 and id <= 20"),
            "10|11|20\n");
  EXPECT_EQ(Exec(c, "select count(*) from a where 2990 < id"), "10\n");
  EXPECT_EQ(Exec(c, "select count(*) from a where id >= 2990"), "11\n");
  EXPECT_EQ(Exec(c, "select count(*) from a where id < 5"), "4\n");
  EXPECT_EQ(Exec(c, "select sum(id) from a where id between $1 and $2", {"100", "102"}), "303\n");
  EXPECT_EQ(Exec(c, "select count(*) from a where id between 50 and 40"), "0\n");
  EXPECT_EQ(Exec(c, "select count(*) from a where id > null"), "0\n");
  EXPECT_EQ(Exec(c, "update a set v = 0 where id < 3"), "UPDATE 2");
  EXPECT_EQ(Exec(c, "select id, v from a where id <= 2 order by id"), "1|0\n2|0\n");
  EXPECT_EQ(Exec(c, "update a set id = 5000 where id = 7"), "UPDATE 1");
  EXPECT_EQ(Exec(c, "insert into a values (7, 'again', 0)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "insert into a values (5000, 'dup', 0)"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "update a set id = 8 where id = 9"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "select count(*) from a where id in (7, 8, 9, 5000)"), "4\n");
  EXPECT_EQ(Exec(c, "delete from a where id = 5000"), "DELETE 1");
  EXPECT_EQ(Exec(c, "insert into a values (5000, 'back', 0)"), "INSERT 0 1");
  // A row deleted or inserted by a rolled-back transaction does not hold its key.
  EXPECT_EQ(Exec(c, "begin"), "BEGIN");
  EXPECT_EQ(Exec(c, "insert into a values (6000, 'gone', 0)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "rollback"), "ROLLBACK");
  EXPECT_EQ(Exec(c, "insert into a values (6000, 'kept', 0)"), "INSERT 0 1");
  // Same-transaction delete then re-insert of a key.
  EXPECT_EQ(Exec(c, "begin"), "BEGIN");
  EXPECT_EQ(Exec(c, "delete from a where id = 6000"), "DELETE 1");
  EXPECT_EQ(Exec(c, "insert into a values (6000, 'new', 1)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "commit"), "COMMIT");
  EXPECT_EQ(Exec(c, "select k from a where id = 6000"), "new\n");
  // TRUNCATE gives the index a new, empty file.
  EXPECT_EQ(Exec(c, "truncate a"), "TRUNCATE TABLE");
  EXPECT_EQ(Exec(c, "select count(*) from a where id = 1"), "0\n");
  EXPECT_EQ(Exec(c, "insert into a values (1, 'x', 1)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "insert into a values (1, 'y', 1)"), "ERROR 23505");
  PQfinish(c);
  CommandResult dup = n.Psql("insert into a values (1, 'z', 2)");
  EXPECT_NE(dup.err.find("duplicate key value violates unique constraint \"a_pkey\""),
            std::string::npos)
      << dup.err;
  EXPECT_NE(dup.err.find("Key (id)=(1) already exists."), std::string::npos) << dup.err;
  n.Stop();
}

TEST(IndexTest, CreateAndDropIndex) {
  Node n;
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table c (id int primary key, email text, grp int)"), "");
  ASSERT_EQ(n.SafePsql("insert into c values (1, 'a@x', 1), (2, 'b@x', 1), (3, 'a@x', 2), "
                       "(4, null, 2), (5, null, 3)"),
            "");
  PGconn* c = n.Connect();
  // A unique index over existing duplicates fails like PostgreSQL's build.
  EXPECT_EQ(Exec(c, "create unique index on c (email)"), "ERROR 23505");
  CommandResult dup = n.Psql("create unique index c_email on c (email)");
  EXPECT_NE(dup.err.find("could not create unique index \"c_email\""), std::string::npos)
      << dup.err;
  EXPECT_NE(dup.err.find("Key (email)=(a@x) is duplicated."), std::string::npos) << dup.err;
  EXPECT_EQ(Exec(c, "update c set email = 'c@x' where id = 3"), "UPDATE 1");
  // NULLs are never equal, so two NULL emails do not conflict.
  EXPECT_EQ(Exec(c, "create unique index on c (email)"), "CREATE INDEX");
  EXPECT_EQ(Exec(c, "create index on c (grp, email)"), "CREATE INDEX");
  EXPECT_EQ(Exec(c, "create index c_grp_email_idx on c (grp)"), "ERROR 42P07");
  EXPECT_EQ(Exec(c, "create table c_grp_email_idx (x int)"), "ERROR 42P07");
  EXPECT_EQ(Exec(c, "create index if not exists c_grp_email_idx on c (grp)"), "CREATE INDEX");
  EXPECT_EQ(Exec(c, "create index on c (nope)"), "ERROR 42703");
  EXPECT_EQ(Exec(c, "create index on c ((grp + 1))"), "ERROR 0A000");
  EXPECT_EQ(Exec(c, "create index on c using hash (grp)"), "ERROR 0A000");
  EXPECT_EQ(Exec(c, "create table n (x interval primary key)"), "ERROR 0A000");
  EXPECT_EQ(Exec(c, "insert into c values (6, 'b@x', 3)"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "insert into c values (6, null, 3)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "select id from c where email = $1", {"c@x"}), "3\n");
  EXPECT_EQ(Exec(c, "select id from c where grp = 3 order by id"), "5\n6\n");
  EXPECT_EQ(Exec(c, "select id from c where grp = 1 and email = 'b@x'"), "2\n");
  EXPECT_EQ(Exec(c, "select id from c where email >= 'b' order by id"), "2\n3\n");
  EXPECT_EQ(Exec(c, "select id from c where email < 'b@x' order by id"), "1\n");
  EXPECT_EQ(Exec(c, "select id from c where grp > -1 and grp < 3 order by id"), "1\n2\n3\n4\n");
  EXPECT_EQ(Exec(c, "update c set email = 'a@x' where id = 2"), "ERROR 23505");
  // DROP INDEX: the key constraint's index cannot go alone; the others can, transactionally.
  EXPECT_EQ(Exec(c, "drop index c_pkey"), "ERROR 2BP01");
  EXPECT_EQ(Exec(c, "begin"), "BEGIN");
  EXPECT_EQ(Exec(c, "drop index c_email_key"), "DROP INDEX");
  EXPECT_EQ(Exec(c, "insert into c values (7, 'b@x', 3)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "rollback"), "ROLLBACK");
  EXPECT_EQ(Exec(c, "insert into c values (7, 'b@x', 3)"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "drop index c_email_key, c_grp_email_idx"), "DROP INDEX");
  EXPECT_EQ(Exec(c, "insert into c values (7, 'b@x', 3)"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "drop index c_email_key"), "ERROR 42704");
  EXPECT_EQ(Exec(c, "drop index if exists c_email_key"), "DROP INDEX");
  EXPECT_EQ(Exec(c, "select count(*) from c where email = 'b@x'"), "2\n");
  // INSERT ... SELECT goes through the indexes too, with assignment casts and parameters.
  EXPECT_EQ(Exec(c, "create table c2 (id bigint primary key, email varchar(10))"), "CREATE TABLE");
  EXPECT_EQ(Exec(c, "insert into c2 select id, email from c where grp >= $1 order by id", {"2"}),
            "INSERT 0 5");
  EXPECT_EQ(Exec(c, "insert into c2 (id) select id from c where id = 3"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "insert into c2 select id + 100 from c2 returning id"),
            "103\n104\n105\n106\n107\n");
  EXPECT_EQ(Exec(c, "insert into c2 select 1, 'x', 3"), "ERROR 42601");
  EXPECT_EQ(Exec(c, "select count(*), sum(id) from c2"), "10|550\n");
  EXPECT_EQ(Exec(c, "insert into c2 select g, 'g' || g from generate_series(1000, 2999) g"),
            "INSERT 0 2000");
  EXPECT_EQ(Exec(c, "select email from c2 where id = 2500"), "g2500\n");
  EXPECT_EQ(Exec(c, "select sum(x) from generate_series(1, 4) as t(x)"), "10\n");
  // generate_series streams its rows: no cap, any step, int8, numeric and time stamps.
  EXPECT_EQ(Exec(c, "select count(*), max(g) from generate_series(1, 3000000) g"),
            "3000000|3000000\n");
  EXPECT_EQ(Exec(c, "select g from generate_series(10, 1, -4) g"), "10\n6\n2\n");
  EXPECT_EQ(Exec(c, "select g from generate_series(4294967296, 4294967298) g"),
            "4294967296\n4294967297\n4294967298\n");
  EXPECT_EQ(Exec(c, "select g from generate_series(1.5, 2.5, 0.5) g"), "1.5\n2.0\n2.5\n");
  EXPECT_EQ(Exec(c,
                 "select g from generate_series('2024-01-01 00:00:00'::timestamp, "
                 "'2024-01-01 12:00:00', '6 hours') g"),
            "2024-01-01 00:00:00\n2024-01-01 06:00:00\n2024-01-01 12:00:00\n");
  EXPECT_EQ(Exec(c, "select g from generate_series(1, 3, 0) g"), "ERROR 22023");
  EXPECT_EQ(Exec(c, "select g from generate_series(2147483646, 2147483647) g"),
            "2147483646\n2147483647\n");
  // UNIQUE constraints in CREATE TABLE are unique indexes named <table>_<cols>_key.
  EXPECT_EQ(Exec(c, "create table q (a int unique, b int, c int, unique (b, c))"), "CREATE TABLE");
  EXPECT_EQ(Exec(c, "insert into q values (1, 1, 1), (2, 1, 2), (null, 2, null), (null, 2, null)"),
            "INSERT 0 4");
  EXPECT_EQ(Exec(c, "insert into q values (1, 9, 9)"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "insert into q values (3, 1, 2)"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "drop index q_a_key"), "ERROR 2BP01");
  EXPECT_EQ(Exec(c, "drop index q_b_c_key"), "ERROR 2BP01");
  EXPECT_EQ(Exec(c, "create table q2 (a int, constraint q2_a_unique unique (a))"), "CREATE TABLE");
  EXPECT_EQ(Exec(c, "insert into q2 values (1), (1)"), "ERROR 23505");
  PQfinish(c);
  n.Stop();
}

TEST(IndexTest, ConcurrentInsertOfSameKeyWaitsForTheFirst) {
  Node n;
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table u (id int primary key)"), "");
  PGconn* a = n.Connect();
  PGconn* b = n.Connect();
  ASSERT_EQ(Exec(a, "begin"), "BEGIN");
  ASSERT_EQ(Exec(a, "insert into u values (1)"), "INSERT 0 1");
  // b must wait for a: a commit makes b fail, a rollback lets b succeed.
  auto fb = std::async(std::launch::async, [&] { return Exec(b, "insert into u values (1)"); });
  EXPECT_EQ(fb.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(Exec(a, "commit"), "COMMIT");
  EXPECT_EQ(fb.get(), "ERROR 23505");
  ASSERT_EQ(Exec(a, "begin"), "BEGIN");
  ASSERT_EQ(Exec(a, "insert into u values (2)"), "INSERT 0 1");
  auto fb2 = std::async(std::launch::async, [&] { return Exec(b, "insert into u values (2)"); });
  EXPECT_EQ(fb2.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(Exec(a, "rollback"), "ROLLBACK");
  EXPECT_EQ(fb2.get(), "INSERT 0 1");
  EXPECT_EQ(Exec(a, "select id from u order by id"), "1\n2\n");
  // A key-changing UPDATE that waits for a row lock must not block other writers of the index:
  // b waits for a's row lock; a meanwhile inserts into the same unique index and commits.
  ASSERT_EQ(Exec(a, "begin"), "BEGIN");
  ASSERT_EQ(Exec(a, "update u set id = id where id = 1"), "UPDATE 1");
  auto fb3 =
      std::async(std::launch::async, [&] { return Exec(b, "update u set id = 10 where id = 1"); });
  EXPECT_EQ(fb3.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  auto fa = std::async(std::launch::async, [&] { return Exec(a, "insert into u values (3)"); });
  ASSERT_EQ(fa.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "insert hung";
  EXPECT_EQ(fa.get(), "INSERT 0 1");
  EXPECT_EQ(Exec(a, "commit"), "COMMIT");
  EXPECT_EQ(fb3.get(), "UPDATE 1");
  EXPECT_EQ(Exec(a, "select id from u order by id"), "2\n3\n10\n");
  PQfinish(a);
  PQfinish(b);
  n.Stop();
}

// Lookups and VACUUM remove entries of versions no snapshot can see; an older snapshot keeps
// its versions.
TEST(IndexTest, RemovingDeadEntriesKeepsVersionsOlderSnapshotsNeed) {
  Node n;
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table h (id int primary key, v int)"), "");
  ASSERT_EQ(n.SafePsql("insert into h values (1, 0), (2, 0)"), "");
  PGconn* reader = n.Connect();
  PGconn* writer = n.Connect();
  ASSERT_EQ(Exec(reader, "begin isolation level repeatable read"), "BEGIN");
  ASSERT_EQ(Exec(reader, "select v from h where id = 1"), "0\n");
  for (int i = 1; i <= 50; i++) {
    ASSERT_EQ(Exec(writer, "update h set v = v + 1 where id = 1"), "UPDATE 1");
    ASSERT_EQ(Exec(writer, "update h set v = v + 1 where id = 2"), "UPDATE 1");
  }
  EXPECT_EQ(Exec(writer, "select v from h where id = 1"), "50\n");
  // VACUUM (heap and index) must keep what the open snapshot still needs.
  EXPECT_EQ(Exec(writer, "vacuum h"), "VACUUM");
  EXPECT_EQ(Exec(reader, "select v from h where id = 1"), "0\n");
  EXPECT_EQ(Exec(reader, "select v from h where id = 2"), "0\n");
  ASSERT_EQ(Exec(reader, "commit"), "COMMIT");
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(Exec(writer, "update h set v = v + 1 where id = 1"), "UPDATE 1");
  }
  EXPECT_EQ(Exec(reader, "select v from h where id = 1"), "53\n");
  EXPECT_EQ(Exec(reader, "select v from h where id = 2"), "50\n");
  EXPECT_EQ(Exec(writer, "vacuum h"), "VACUUM");
  EXPECT_EQ(Exec(writer, "select v from h where id = 2"), "50\n");
  EXPECT_EQ(Exec(writer, "select count(*), sum(v) from h where id >= 1"), "2|103\n");
  EXPECT_EQ(Exec(writer, "insert into h values (1, 0)"), "ERROR 23505");
  PQfinish(reader);
  PQfinish(writer);
  // The removals were WAL-logged: after a crash the index still finds the live versions.
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select v from h where id = 1"), "53");
  EXPECT_EQ(n.SafePsql("select v from h where id = 2"), "50");
  n.Stop();
}

// Updates that change no indexed column are heap-only (HOT): the table and its indexes stay the
// same size however often a row is updated, every index still finds the row, a changed key
// gets its own entries, and a standby and crash recovery replay the chains and their pruning.
TEST(IndexTest, HotUpdatesKeepTablesAndIndexesFromGrowing) {
  Node n("primary");
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table hot (id int primary key, k int, v int, pad text);"
                       "create index hot_k on hot (k);"
                       "insert into hot select g, g, 0, repeat('x', 100) from "
                       "generate_series(1, 20) g"),
            "");
  Node standby("standby");
  standby.InitStandby(n);
  standby.Start();
  auto sizes = [&] {
    return n.SafePsql(
        "select pg_relation_size('hot'), pg_relation_size('hot_pkey'), "
        "pg_relation_size('hot_k')");
  };
  std::string before = sizes();
  PGconn* c = n.Connect();
  for (int i = 0; i < 2000; i++) {
    ASSERT_EQ(Exec(c, "update hot set v = v + 1 where id = " + std::to_string(1 + i % 4)),
              "UPDATE 1");
  }
  EXPECT_EQ(sizes(), before) << "HOT updates grew the table or an index";
  EXPECT_EQ(n.SafePsql("select n_tup_upd, n_tup_hot_upd from pg_stat_user_tables "
                       "where relname = 'hot'"),
            "2000|2000");
  EXPECT_EQ(Exec(c, "select id, v from hot where id <= 5 order by id"),
            "1|500\n2|500\n3|500\n4|500\n5|0\n");
  EXPECT_EQ(Exec(c, "select id, v from hot where k = 3"), "3|500\n");
  // A changed key is not HOT: the new version is found under the new key only.
  ASSERT_EQ(Exec(c, "update hot set k = 300 where id = 3"), "UPDATE 1");
  EXPECT_EQ(Exec(c, "select id from hot where k = 3"), "");
  EXPECT_EQ(Exec(c, "select id, v from hot where k = 300"), "3|500\n");
  ASSERT_EQ(Exec(c, "update hot set v = v + 1 where k = 300"), "UPDATE 1");
  EXPECT_EQ(Exec(c, "insert into hot values (3, 0, 0, '')"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "vacuum hot"), "VACUUM");
  EXPECT_EQ(Exec(c, "select count(*), sum(v) from hot"), "20|2001\n");
  PQfinish(c);
  const std::string want = "1|1|500\n2|2|500\n3|300|501\n4|4|500";
  ASSERT_TRUE(WaitForReplay(n, standby));
  EXPECT_EQ(standby.SafePsql("select id, k, v from hot where id <= 4 order by id"), want);
  EXPECT_EQ(standby.SafePsql("select v from hot where id = 2"), "500");
  EXPECT_EQ(standby.SafePsql("select id from hot where k = 300"), "3");
  standby.Stop();
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select id, k, v from hot where id <= 4 order by id"), want);
  EXPECT_EQ(n.SafePsql("select v from hot where id = 1"), "500");
  n.Stop();
}

// A table whose rows are deleted and replaced (a queue) does not grow: pruning and VACUUM leave
// pages with room that inserts fill before extending the table, and VACUUM returns the line
// pointers of deleted rows, once their index entries are gone, for new rows.
TEST(IndexTest, DeletedSpaceIsReusedAfterVacuum) {
  Node n("primary");
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table q (id int primary key, pad text)"), "");
  Node standby("standby");
  standby.InitStandby(n);
  standby.Start();
  auto round = [&](int r) {
    int from = r * 300;
    ASSERT_EQ(n.SafePsql(fmt::format("insert into q select g, repeat('p', 200) from "
                                     "generate_series({}, {}) g",
                                     from, from + 299)),
              "");
    ASSERT_EQ(n.SafePsql(fmt::format("delete from q where id < {}", from + 250)), "");
    ASSERT_EQ(n.SafePsql("vacuum q"), "");
  };
  for (int r = 0; r < 3; r++) round(r);
  std::string size = n.SafePsql("select pg_relation_size('q')");
  for (int r = 3; r < 12; r++) round(r);
  EXPECT_EQ(n.SafePsql("select pg_relation_size('q')"), size) << "the table kept growing";
  EXPECT_EQ(n.SafePsql("select count(*), min(id), max(id) from q"), "50|3550|3599");
  EXPECT_EQ(n.SafePsql("select pad = repeat('p', 200) from q where id = 3555"), "t");
  EXPECT_EQ(
      n.Psql("insert into q values (3555, '')").err.find("duplicate key") != std::string::npos,
      true);
  ASSERT_TRUE(WaitForReplay(n, standby));
  EXPECT_EQ(standby.SafePsql("select count(*), min(id), max(id) from q"), "50|3550|3599");
  EXPECT_EQ(standby.SafePsql("select id from q where id = 3560"), "3560");
  standby.Stop();
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select count(*), min(id), max(id) from q"), "50|3550|3599");
  EXPECT_EQ(n.SafePsql("select id from q where id = 3599"), "3599");
  n.Stop();
}

// Autovacuum vacuums a table once its dead rows pass autovacuum_vacuum_threshold +
// autovacuum_vacuum_scale_factor * live rows, without anyone running VACUUM: the space of
// deleted rows is reused and the table stops growing.
TEST(IndexTest, AutovacuumReclaimsDeletedRows) {
  Node n;
  n.Init();
  n.AppendConf("autovacuum_naptime = 1");
  n.AppendConf("autovacuum_vacuum_threshold = 100");
  n.AppendConf("autovacuum_vacuum_scale_factor = 0.1");
  n.AppendConf("log_autovacuum_min_duration = 0");
  n.Start();
  ASSERT_EQ(n.SafePsql("create table aq (id int primary key, pad text);"
                       "create table quiet (id int primary key)"),
            "");
  ASSERT_EQ(n.SafePsql("insert into quiet select g from generate_series(1, 50) g;"
                       "delete from quiet where id <= 10"),
            "");  // 10 dead: below the threshold
  std::string size;
  for (int r = 0; r < 8; r++) {
    int from = r * 400;
    ASSERT_EQ(n.SafePsql(fmt::format("insert into aq select g, repeat('a', 200) from "
                                     "generate_series({}, {}) g; delete from aq where id < {}",
                                     from, from + 399, from + 350)),
              "");
    // Wait for autovacuum to have been through the table since the delete.
    auto runs = [&] {
      const std::string line = "automatic vacuum of table \"postgres.public.aq\"";
      std::string log = n.Log();
      int count = 0;
      for (size_t p = log.find(line); p != std::string::npos; p = log.find(line, p + 1)) count++;
      return count;
    };
    ASSERT_TRUE(WaitUntil([&] { return runs() >= r + 1; }, 30)) << "round " << r;
    if (r == 2) size = n.SafePsql("select pg_relation_size('aq')");
  }
  EXPECT_EQ(n.SafePsql("select pg_relation_size('aq')"), size) << "the table kept growing";
  EXPECT_EQ(n.SafePsql("select count(*), min(id) from aq"), "50|3150");
  EXPECT_EQ(n.Log().find("automatic vacuum of table \"postgres.public.quiet\""), std::string::npos);
  // pg_stat_user_tables shows the counters autovacuum went by, and the vacuums.
  EXPECT_EQ(n.SafePsql("select n_tup_ins, n_tup_del, n_live_tup, n_dead_tup, "
                       "autovacuum_count >= 8, last_autovacuum is not null, vacuum_count, "
                       "last_vacuum is null from pg_stat_user_tables where relname = 'aq'"),
            "3200|3150|50|0|t|t|0|t");
  EXPECT_EQ(n.SafePsql("select n_live_tup, n_dead_tup, autovacuum_count from "
                       "pg_stat_user_tables where relname = 'quiet'"),
            "40|10|0");
  EXPECT_EQ(n.SafePsql("vacuum quiet; select n_dead_tup, vacuum_count, last_vacuum is not null "
                       "from pg_stat_user_tables where relname = 'quiet'"),
            "0|1|t");
  // The counters survive a clean restart, not a crash (as PostgreSQL's).
  n.Stop();
  n.Start();
  EXPECT_EQ(n.SafePsql("select n_tup_ins, n_live_tup, vacuum_count from pg_stat_user_tables "
                       "where relname = 'quiet'"),
            "50|40|1");
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select n_tup_ins, n_live_tup, vacuum_count from pg_stat_user_tables "
                       "where relname = 'quiet'"),
            "0|0|0");
  n.Stop();
}

// A uniqueness check removes the index entries of versions no snapshot can see, as an equality
// lookup does: a key inserted by transactions that abort, again and again, does not pile up
// entries that every later insert of it has to check (found by fuzz_sql: an INSERT's checks
// grew until one batch of rows ran for over a minute).
TEST(IndexTest, UniqueChecksRemoveEntriesOfAbortedInserts) {
  Node n;
  n.Init();
  n.AppendConf("autovacuum = off");
  n.Start();
  ASSERT_EQ(n.SafePsql("create table u (id int primary key, k text unique)"), "");
  const std::string insert =
      "begin; insert into u select g, repeat('k', 200) || g from generate_series(1, 300) g; "
      "rollback";
  std::string size;
  for (int r = 0; r < 12; r++) {
    ASSERT_EQ(n.SafePsql(insert), "");
    if (r == 2) size = n.SafePsql("select pg_relation_size('u_k_key'), pg_relation_size('u_pkey')");
  }
  EXPECT_EQ(n.SafePsql("select pg_relation_size('u_k_key'), pg_relation_size('u_pkey')"), size)
      << "the indexes kept the entries of every aborted insert";
  // Committed rows are still found, and still unique.
  ASSERT_EQ(n.SafePsql("insert into u select g, repeat('k', 200) || g from generate_series(1, "
                       "300) g"),
            "");
  EXPECT_EQ(n.SafePsql("select count(*) from u"), "300");
  EXPECT_EQ(n.SafePsql("select id from u where k = repeat('k', 200) || '7'"), "7");
  EXPECT_NE(n.Psql("insert into u values (301, repeat('k', 200) || '7')").err.find("u_k_key"),
            std::string::npos);
  n.Stop();
}

// DDL and role changes leave dead rows in the system catalog as DML does in a table. Without
// VACUUM of the catalog, a server that creates and drops tables all day (temporary tables,
// migrations, test suites) grows its catalog without bound, and every statement after a DDL
// reads all of it.
std::string CatalogChurn(int round, int tables) {
  std::string sql;
  for (int i = 0; i < tables; i++) {
    sql += fmt::format(
        "create table churn_{0}_{1} (a int primary key, b text, c int); "
        "alter table churn_{0}_{1} add column d int; drop table churn_{0}_{1}; ",
        round, i);
  }
  return sql + fmt::format("create role churn_{0}; drop role churn_{0};", round);
}

std::string CatalogSizes(Node& n) {
  return n.SafePsql(
      "select pg_relation_size('pg_class'), pg_relation_size('pg_attribute'), "
      "pg_relation_size('pg_authid'), pg_total_relation_size('pg_class') = "
      "pg_relation_size('pg_class')");
}

TEST(IndexTest, VacuumCleansTheSystemCatalog) {
  Node n("primary");
  n.Init();
  n.AppendConf("autovacuum = off");
  n.Start();
  Node standby("standby");
  standby.InitStandby(n);
  standby.Start();
  ASSERT_EQ(n.SafePsql("create table kept (id int primary key, v text); "
                       "insert into kept values (1, 'one')"),
            "");
  std::string sizes;
  for (int r = 0; r < 10; r++) {
    ASSERT_EQ(n.SafePsql(CatalogChurn(r, 40)), "");
    // A database-wide VACUUM includes the catalog, as in PostgreSQL; so does naming it.
    ASSERT_EQ(n.SafePsql(r % 2 == 0 ? "vacuum" : "vacuum pg_class, pg_attribute, pg_authid"), "");
    if (r == 2) sizes = CatalogSizes(n);
  }
  EXPECT_EQ(CatalogSizes(n), sizes) << "the catalog kept growing";
  EXPECT_NE(sizes.find("|t"), std::string::npos);
  EXPECT_EQ(n.SafePsql("alter table kept add column w int default 7; "
                       "select id, v, w from kept"),
            "1|one|7");
  EXPECT_EQ(n.SafePsql("select count(*) from pg_class where relname like 'churn%'"), "0");
  // The standby replays the catalog's vacuum and still reads its catalog.
  ASSERT_TRUE(WaitForReplay(n, standby));
  EXPECT_EQ(standby.SafePsql("select id, v, w from kept"), "1|one|7");
  EXPECT_EQ(standby.SafePsql("select count(*) from pg_class where relname like 'churn%'"), "0");
  standby.Stop();
  // And so does crash recovery.
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select id, v, w from kept"), "1|one|7");
  ASSERT_EQ(n.SafePsql(CatalogChurn(10, 5) + " create table after_crash (x int)"), "");
  EXPECT_EQ(n.SafePsql("select count(*) from pg_class where relname in ('kept', 'after_crash')"),
            "2");
  n.Stop();
}

TEST(IndexTest, AutovacuumCleansTheSystemCatalog) {
  Node n;
  n.Init();
  n.AppendConf("autovacuum_naptime = 1");
  n.AppendConf("autovacuum_vacuum_threshold = 20");
  n.AppendConf("autovacuum_vacuum_scale_factor = 0.1");
  n.AppendConf("log_autovacuum_min_duration = 0");
  n.Start();
  auto runs = [&](const std::string& name) {
    const std::string line = "automatic vacuum of table \"postgres.pg_catalog." + name + "\"";
    std::string log = n.Log();
    int count = 0;
    for (size_t p = log.find(line); p != std::string::npos; p = log.find(line, p + 1)) count++;
    return count;
  };
  std::string sizes;
  for (int r = 0; r < 8; r++) {
    ASSERT_EQ(n.SafePsql(CatalogChurn(r, 40)), "");
    ASSERT_TRUE(WaitUntil([&] { return runs("pg_class") >= r + 1; }, 30)) << "round " << r;
    ASSERT_TRUE(WaitUntil([&] { return runs("pg_attribute") >= r + 1; }, 30)) << "round " << r;
    if (r == 2) sizes = CatalogSizes(n);
  }
  EXPECT_EQ(CatalogSizes(n), sizes) << "the catalog kept growing";
  // One role made and dropped per round: below the threshold, so not vacuumed.
  EXPECT_EQ(runs("pg_authid"), 0);
  n.Stop();
}

TEST(IndexTest, AddPrimaryKeyBuildsFromExistingRowsAndSurvivesKill9) {
  Node n;
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table b (id int, name text)"), "");
  ASSERT_EQ(n.SafePsql(InsertRows("b", 1, 5000, "n", false)).find("ERROR"), std::string::npos);
  ASSERT_EQ(n.SafePsql("insert into b values (17, 'twin')"), "");
  CommandResult dup = n.Psql("alter table b add primary key (id)");
  EXPECT_NE(dup.err.find("could not create unique index \"b_pkey\""), std::string::npos) << dup.err;
  EXPECT_NE(dup.err.find("Key (id)=(17) is duplicated."), std::string::npos) << dup.err;
  ASSERT_EQ(n.SafePsql("delete from b where name = 'twin'"), "");
  ASSERT_EQ(n.SafePsql("alter table b add primary key (id)"), "");
  EXPECT_EQ(n.SafePsql("select name from b where id = 4321"), "n4321");
  EXPECT_NE(n.Psql("insert into b values (4321, 'again')").err.find("b_pkey"), std::string::npos);
  // Many inserts after the build split pages; then a crash before any checkpoint writes them.
  ASSERT_EQ(n.SafePsql(InsertRows("b", 5001, 9000, "m", false)).find("ERROR"), std::string::npos);
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select name from b where id = 8999"), "m8999");
  EXPECT_EQ(n.SafePsql("select name from b where id = 2"), "n2");
  EXPECT_EQ(n.SafePsql("select count(*) from b"), "9000");
  EXPECT_NE(n.Psql("insert into b values (9000, 'x')").err.find("b_pkey"), std::string::npos);
  n.Stop();
}

}  // namespace
}  // namespace walrep::testing
