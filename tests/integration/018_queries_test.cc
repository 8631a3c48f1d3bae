// walrep: the query language beyond single tables — joins, sequences and serial columns,
// savepoints that undo data, EXPLAIN, ALTER TABLE ADD COLUMN with defaults — checked through
// psql against the answers PostgreSQL 15 gives for the same statements.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <set>

#include "testing.h"

namespace walrep::testing {
namespace {

TEST(QueriesTest, Joins) {
  Node n;
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table a (id int primary key, v text);"
                       "create table b (id int primary key, a_id int, w numeric);"
                       "insert into a values (1, 'x'), (2, 'y'), (3, 'z'), (4, 'w');"
                       "insert into b values (10, 1, 1.5), (11, 1, 2.5), (12, 2, 3), (13, 9, 7)"),
            "");
  EXPECT_EQ(n.SafePsql("select a.id, v, w from a join b on b.a_id = a.id order by 1, 3"),
            "1|x|1.5\n1|x|2.5\n2|y|3");
  EXPECT_EQ(n.SafePsql("select a.id, v, w from a left join b on b.a_id = a.id order by 1, 3"),
            "1|x|1.5\n1|x|2.5\n2|y|3\n3|z|\n4|w|");
  EXPECT_EQ(n.SafePsql("select a.id, w from a right join b on b.a_id = a.id order by b.id"),
            "1|1.5\n1|2.5\n2|3\n|7");
  EXPECT_EQ(n.SafePsql("select a.id, b.id from a full outer join b on b.a_id = a.id "
                       "order by a.id nulls first, b.id"),
            "|13\n1|10\n1|11\n2|12\n3|\n4|");
  // FROM lists are cross joins filtered by WHERE; aliases qualify columns; t.* expands one side.
  EXPECT_EQ(n.SafePsql("select x.v, y.* from a x, b y where x.id = y.a_id and y.w > 2 "
                       "order by y.id"),
            "x|11|1|2.5\ny|12|2|3");
  EXPECT_EQ(n.SafePsql("select count(*) from a cross join b"), "16");
  // NATURAL joins on the column names both sides have (here id), listed once by *; with no
  // common name it is a cross join.
  ASSERT_EQ(n.SafePsql("create table nat (id int, a_id int, note text);"
                       "insert into nat values (1, 1, 'p'), (2, 5, 'q'), (12, 2, 'r');"
                       "create table lone (k int); insert into lone values (7)"),
            "");
  EXPECT_EQ(n.SafePsql("select * from a natural join nat order by id"), "1|x|1|p\n2|y|5|q");
  EXPECT_EQ(n.SafePsql("select * from b natural left join nat order by id"),
            "10|1|1.5|\n11|1|2.5|\n12|2|3|r\n13|9|7|");
  EXPECT_EQ(n.SafePsql("select count(*), min(k) from a natural join lone"), "4|7");
  // An alias for a join names its columns and hides the tables inside.
  EXPECT_EQ(n.SafePsql("select j.id, j.note from (a natural join nat) as j order by 1"),
            "1|p\n2|q");
  EXPECT_EQ(n.SafePsql("select x, y from (a join nat using (id)) as j (x, y) order by x"),
            "1|x\n2|y");
  EXPECT_NE(n.Psql("select a.v from (a join nat using (id)) j")
                .err.find("FROM-clause entry for table \"a\""),
            std::string::npos);
  // A non-equality condition runs as a nested loop.
  EXPECT_EQ(n.SafePsql("select a.id, b.id from a join b on a.id < b.id - 10 order by 1, 2"),
            "1|12\n1|13\n2|13");
  // USING merges the column: `*` shows it once, first.
  ASSERT_EQ(n.SafePsql("create table c (id int, a_id int, note text);"
                       "insert into c values (100, 1, 'n1'), (101, 3, 'n3')"),
            "");
  EXPECT_EQ(n.SafePsql("select * from b join c using (a_id) order by b.id"),
            "1|10|1.5|100|n1\n1|11|2.5|100|n1");
  EXPECT_EQ(n.SafePsql("select a_id, c.id from b full join c using (a_id) order by 1, 2"),
            "1|100\n1|100\n2|\n3|101\n9|");
  // Three tables, grouping over a join.
  EXPECT_EQ(n.SafePsql("select a.v, count(*), sum(b.w) from a join b on a.id = b.a_id "
                       "left join c on c.a_id = a.id group by a.v order by 1"),
            "x|2|4.0\ny|1|3");
  // PostgreSQL's errors.
  CommandResult amb = n.Psql("select id from a join b on a.id = b.a_id");
  EXPECT_NE(amb.err.find("column reference \"id\" is ambiguous"), std::string::npos) << amb.err;
  CommandResult twice = n.Psql("select * from a join a on true");
  EXPECT_NE(twice.err.find("table name \"a\" specified more than once"), std::string::npos);
  CommandResult missing = n.Psql("select z.* from a");
  EXPECT_NE(missing.err.find("missing FROM-clause entry for table \"z\""), std::string::npos);
  CommandResult using_missing = n.Psql("select * from a join b using (v)");
  EXPECT_NE(using_missing.err.find("column \"v\" specified in USING clause does not exist in "
                                   "right table"),
            std::string::npos)
      << using_missing.err;
  CommandResult on_type = n.Psql("select * from a join b on a.id");
  EXPECT_NE(on_type.err.find("argument of JOIN/ON must be type boolean"), std::string::npos)
      << on_type.err;
  // EXPLAIN shows the plan's shape in PostgreSQL's layout (no costs).
  EXPECT_EQ(n.SafePsql("explain select * from a where id = 1"), "Index Scan using a_pkey on a");
  EXPECT_EQ(n.SafePsql("explain (costs off) select v from a where v = 'x'"), "Seq Scan on a");
  EXPECT_EQ(n.SafePsql("explain select a.v, count(*) from a join b on a.id = b.a_id "
                       "group by a.v order by 1 limit 3"),
            "Limit\n"
            "  ->  Sort\n"
            "        ->  HashAggregate\n"
            "              ->  Hash Join\n"
            "                    ->  Seq Scan on a\n"
            "                    ->  Hash\n"
            "                          ->  Seq Scan on b");
  EXPECT_EQ(n.SafePsql("explain select count(*) from a left join b on a.id < b.id"),
            "Aggregate\n  ->  Nested Loop Left Join\n        ->  Seq Scan on a\n"
            "        ->  Seq Scan on b");
  EXPECT_EQ(n.SafePsql("explain update a set v = 'q' where id > 2"),
            "Update on a\n  ->  Index Scan using a_pkey on a");
  EXPECT_EQ(n.SafePsql("explain insert into a values (9, 'n'), (10, 'm')"),
            "Insert on a\n  ->  Values Scan on \"*VALUES*\"");
  EXPECT_EQ(n.SafePsql("select count(*) from a where id >= 9"), "0");  // EXPLAIN ran nothing
  EXPECT_EQ(n.SafePsql("explain (analyze, timing off, summary off) select count(*) from a"),
            "Aggregate (actual rows=1 loops=1)\n  ->  Seq Scan on a (actual rows=4 loops=1)");
  EXPECT_NE(n.Psql("explain analyze update a set v = 'q'")
                .err.find("EXPLAIN ANALYZE of UPDATE is not supported"),
            std::string::npos);
  // A join of a table with a system view.
  EXPECT_EQ(n.SafePsql("select count(*) from a join pg_stat_activity s on s.pid = "
                       "pg_backend_pid() where a.id = 1"),
            "1");
}

TEST(QueriesTest, SequencesAndSerial) {
  Node n("primary");
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create sequence s"), "");
  EXPECT_EQ(n.SafePsql("select nextval('s'), nextval('s'), currval('s')"), "1|2|2");
  EXPECT_EQ(n.SafePsql("select last_value, log_cnt, is_called from s"), "2|31|t");
  EXPECT_EQ(n.SafePsql("select setval('s', 100), nextval('s')"), "100|101");
  EXPECT_EQ(n.SafePsql("select setval('s', 5, false), nextval('s'), lastval()"), "5|5|5");
  // nextval is not transactional: a rolled-back transaction still used its value.
  EXPECT_EQ(n.SafePsql("begin; select nextval('s'); rollback; select nextval('s')"), "6\n7");
  ASSERT_EQ(n.SafePsql("create sequence d increment by -2 minvalue -5 maxvalue 0 cycle"), "");
  EXPECT_EQ(n.SafePsql("select nextval('d'), nextval('d'), nextval('d'), nextval('d')"),
            "0|-2|-4|0");
  // CACHE: each session takes a block of values; the next session starts after it, and a
  // session's setval drops its block.
  ASSERT_EQ(n.SafePsql("create sequence cached cache 10"), "");
  {
    PGconn* a = n.Connect();
    PGconn* b = n.Connect();
    EXPECT_EQ(Exec(a, "select nextval('cached'), nextval('cached')"), "1|2\n");
    EXPECT_EQ(Exec(b, "select nextval('cached')"), "11\n");
    EXPECT_EQ(Exec(a, "select nextval('cached'), last_value from cached"), "3|20\n");
    EXPECT_EQ(Exec(a, "select setval('cached', 50), nextval('cached')"), "50|51\n");
    EXPECT_EQ(Exec(b, "select nextval('cached')"), "12\n");
    PQfinish(a);
    PQfinish(b);
    // After a crash, no value any session may have taken comes back.
    n.Kill9();
    n.Start();
    EXPECT_GT(std::stoll(n.SafePsql("select nextval('cached')")), 60);
  }
  ASSERT_EQ(n.SafePsql("create sequence e maxvalue 2"), "");
  EXPECT_EQ(n.SafePsql("select nextval('e'), nextval('e')"), "1|2");
  CommandResult exhausted = n.Psql("select nextval('e')");
  EXPECT_NE(exhausted.err.find("nextval: reached maximum value of sequence \"e\" (2)"),
            std::string::npos)
      << exhausted.err;
  CommandResult cur = n.Psql("select currval('e')");
  EXPECT_NE(cur.err.find("currval of sequence \"e\" is not yet defined in this session"),
            std::string::npos)
      << cur.err;
  EXPECT_NE(n.Psql("create sequence bad increment 0").err.find("INCREMENT must not be zero"),
            std::string::npos);
  EXPECT_NE(n.Psql("create sequence bad as integer maxvalue 3000000000")
                .err.find("MAXVALUE (3000000000) is out of range for sequence data type integer"),
            std::string::npos);
  EXPECT_NE(n.Psql("create sequence s").err.find("relation \"s\" already exists"),
            std::string::npos);
  EXPECT_NE(n.Psql("insert into s values (1)").err.find("cannot change sequence \"s\""),
            std::string::npos);
  // serial: an owned sequence behind the default; DROP TABLE takes it along.
  ASSERT_EQ(n.SafePsql("create table c (id serial primary key, t text)"), "");
  EXPECT_EQ(n.SafePsql("insert into c (t) values ('a'), ('b') returning id"), "1\n2");
  EXPECT_EQ(n.SafePsql("insert into c (t) values ('c'); select id, t from c order by id"),
            "1|a\n2|b\n3|c");
  EXPECT_EQ(n.SafePsql("select nextval('c_id_seq'::regclass)"), "4");
  CommandResult dep = n.Psql("drop sequence c_id_seq");
  EXPECT_NE(dep.err.find("cannot drop sequence c_id_seq because other objects depend on it"),
            std::string::npos)
      << dep.err;
  ASSERT_EQ(n.SafePsql("create table big (id bigserial, v int)"), "");
  EXPECT_EQ(n.SafePsql("drop table big; select count(*) from s"), "1");
  EXPECT_NE(n.Psql("select nextval('big_id_seq')").err.find("does not exist"), std::string::npos);
  // A standby replays sequence records; it cannot advance a sequence itself.
  Node standby("standby");
  standby.InitStandby(n);
  standby.Start();
  n.SafePsql("select nextval('s') from generate_series(1, 100)");
  ASSERT_TRUE(WaitForReplay(n, standby));
  int64_t on_standby = std::stoll(standby.SafePsql("select last_value from s"));
  EXPECT_GE(on_standby, 107);  // the logged value: at or beyond the primary's
  EXPECT_NE(standby.Psql("select nextval('s')")
                .err.find("cannot execute nextval() in a read-only transaction"),
            std::string::npos);
  standby.Stop();
  // kill -9: no value a committed transaction received comes back.
  int64_t last = 0;
  for (int i = 0; i < 50; i++) last = std::stoll(n.SafePsql("select nextval('c_id_seq')"));
  n.Kill9();
  n.Start();
  EXPECT_GT(std::stoll(n.SafePsql("select nextval('c_id_seq')")), last);
  EXPECT_EQ(n.SafePsql("insert into c (t) values ('after') returning id > 54"), "t");
}

TEST(QueriesTest, SavepointsUndoData) {
  Node n("primary");
  n.Init();
  n.Start();
  Node standby("standby");
  ASSERT_EQ(n.SafePsql("create table sp (id int primary key, v text);"
                       "insert into sp values (1, 'one'), (2, 'two')"),
            "");
  standby.InitStandby(n);
  standby.Start();
  // Inserts die, updates and deletes come back, later savepoints go; a failed statement after a
  // savepoint leaves the transaction usable once rolled back to it.
  PGconn* c = n.Connect();
  ASSERT_NE(c, nullptr);
  for (const char* sql : {"begin", "insert into sp values (3, 'three')", "savepoint a",
                          "insert into sp values (4, 'four')",
                          "update sp set v = 'ONE' where id = 1", "delete from sp where id = 2",
                          "savepoint inner_one", "update sp set v = 'again' where id = 4"}) {
    EXPECT_EQ(Exec(c, sql).rfind("ERROR", 0), std::string::npos) << sql;
  }
  EXPECT_EQ(Exec(c, "select id, v from sp order by id"), "1|ONE\n3|three\n4|again\n");
  EXPECT_EQ(Exec(c, "rollback to a"), "ROLLBACK");
  EXPECT_EQ(Exec(c, "select id, v from sp order by id"), "1|one\n2|two\n3|three\n");
  EXPECT_EQ(Exec(c, "rollback to inner_one"), "ERROR 3B001");  // gone with a: block failed
  EXPECT_EQ(Exec(c, "savepoint c"), "ERROR 25P02");
  EXPECT_EQ(Exec(c, "rollback to a"), "ROLLBACK");
  EXPECT_EQ(Exec(c, "insert into sp values (4, 'four again')"), "INSERT 0 1");
  EXPECT_EQ(Exec(c, "savepoint b"), "SAVEPOINT");
  EXPECT_EQ(Exec(c, "insert into sp values (5, 'partial'), (4, 'duplicate')"), "ERROR 23505");
  EXPECT_EQ(Exec(c, "select 1"), "ERROR 25P02");
  EXPECT_EQ(Exec(c, "rollback to savepoint b"), "ROLLBACK");
  EXPECT_EQ(Exec(c, "update sp set v = v || '!' where id = 1"), "UPDATE 1");
  EXPECT_EQ(Exec(c, "release b"), "RELEASE");
  // Another session sees none of it before COMMIT.
  EXPECT_EQ(n.SafePsql("select id, v from sp order by id"), "1|one\n2|two");
  EXPECT_EQ(Exec(c, "commit"), "COMMIT");
  PQfinish(c);
  const std::string want = "1|one!\n2|two\n3|three\n4|four again";
  EXPECT_EQ(n.SafePsql("select id, v from sp order by id"), want);
  // The undone versions are dead: unique checks, index lookups and VACUUM agree.
  EXPECT_EQ(n.SafePsql("select v from sp where id = 4"), "four again");
  EXPECT_EQ(n.SafePsql("select count(*) from sp where id = 5"), "0");
  EXPECT_EQ(n.SafePsql("vacuum sp; select count(*) from sp"), "4");
  // Savepoints in a rolled-back transaction, and ROLLBACK TO of a savepoint that saw DDL.
  EXPECT_EQ(n.SafePsql("begin; savepoint s; create table gone (a int); insert into gone values (1);"
                       "rollback to s; commit; select count(*) from pg_stat_activity where "
                       "false"),
            "0");
  EXPECT_NE(n.Psql("select * from gone").err.find("does not exist"), std::string::npos);
  ASSERT_TRUE(WaitForReplay(n, standby));
  EXPECT_EQ(standby.SafePsql("select id, v from sp order by id"), want);
  standby.Stop();
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select id, v from sp order by id"), want);
  EXPECT_EQ(n.SafePsql("insert into sp values (5, 'five') returning id"), "5");
  // ROLLBACK TO releases the row locks taken since the savepoint: a session waiting for one
  // goes on at once, while the holder's transaction is still open.
  PGconn* holder = n.Connect();
  PGconn* waiter = n.Connect();
  ASSERT_EQ(Exec(holder, "begin"), "BEGIN");
  ASSERT_EQ(Exec(holder, "savepoint s"), "SAVEPOINT");
  ASSERT_EQ(Exec(holder, "update sp set v = 'held' where id = 5"), "UPDATE 1");
  auto blocked = std::async(
      std::launch::async, [&] { return Exec(waiter, "update sp set v = 'waited' where id = 5"); });
  EXPECT_EQ(blocked.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
  ASSERT_EQ(Exec(holder, "rollback to s"), "ROLLBACK");
  ASSERT_EQ(blocked.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the waiter still waits for the holder's transaction";
  EXPECT_EQ(blocked.get(), "UPDATE 1");
  // The waiter committed first; the holder (READ COMMITTED) sees its row.
  EXPECT_EQ(Exec(holder, "select v from sp where id = 5"), "waited\n");
  ASSERT_EQ(Exec(holder, "commit"), "COMMIT");
  EXPECT_EQ(n.SafePsql("select v from sp where id = 5"), "waited");
  PQfinish(holder);
  PQfinish(waiter);
}

TEST(QueriesTest, AddColumnWithDefault) {
  Node n("primary");
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table t (id int primary key); insert into t values (1), (2)"), "");
  // Existing rows read the default the column had when it was added; later rows get the
  // default expression; NOT NULL needs a default when rows exist.
  ASSERT_EQ(n.SafePsql("alter table t add column z int default 7"), "");
  ASSERT_EQ(n.SafePsql("alter table t add column w varchar(5) not null default 'hi'"), "");
  ASSERT_EQ(n.SafePsql("alter table t add column at timestamptz default now()"), "");
  EXPECT_EQ(n.SafePsql("select id, z, w, at is not null from t order by id"), "1|7|hi|t\n2|7|hi|t");
  // No space after DEFAULT (found by fuzz_sql: it crashed the server), in ALTER and CREATE.
  ASSERT_EQ(n.SafePsql("alter table t add column y varchar(4) not null default'yo'"), "");
  ASSERT_EQ(n.SafePsql("create table d (a int default(5), b text default'x', c int)"), "");
  EXPECT_EQ(n.SafePsql("insert into d (c) values (1) returning a, b; select y from t where id = 1"),
            "5|x\nyo");
  ASSERT_EQ(n.SafePsql("drop table d"), "");
  // A DEFAULT is kept as its expression, not as the text around it: a literal holding a comma,
  // a parenthesis or NOT NULL, a comment, and a statement after it in the same query string.
  EXPECT_EQ(n.SafePsql("create table d (a text default 'x not null, y)' not null, b int default "
                       "(1 + 2) * 3 /* c */, c int); alter table d add column e int default 5; "
                       "alter table d alter column b set default 4; insert into d (c) values (1) "
                       "returning a, b, e"),
            "x not null, y)|4|5");
  ASSERT_EQ(n.SafePsql("drop table d"), "");
  EXPECT_EQ(n.SafePsql("insert into t (id) values (3) returning z, w"), "7|hi");
  EXPECT_EQ(n.SafePsql("update t set z = 1 where id = 1; select id, z from t order by id"),
            "1|1\n2|7\n3|7");
  EXPECT_NE(n.Psql("alter table t add column nn int not null")
                .err.find("column \"nn\" of relation \"t\" contains null values"),
            std::string::npos);
  EXPECT_NE(n.Psql("alter table t add column q varchar(2) default 'toolong'")
                .err.find("value too long for type character varying(2)"),
            std::string::npos);
  EXPECT_EQ(n.SafePsql("create table e (a int); alter table e add column b int not null"), "");
  // A volatile default gives each existing row its own value (PostgreSQL rewrites the table).
  ASSERT_EQ(n.SafePsql("create sequence rs; alter table t add column r int default nextval('rs')"),
            "");
  EXPECT_EQ(n.SafePsql("select r from t order by r"), "1\n2\n3");
  EXPECT_EQ(n.SafePsql("insert into t (id) values (4) returning r"), "4");
  ASSERT_EQ(n.SafePsql("alter table t add column rnd float8 not null default random()"), "");
  EXPECT_EQ(n.SafePsql("select count(*) from t where rnd >= 0 and rnd < 1"), "4");
  EXPECT_EQ(n.SafePsql("select count(*) from t a join t b on a.rnd = b.rnd"), "4");  // distinct
  EXPECT_EQ(n.SafePsql("select id from t where id = 4"), "4");  // the index finds new versions
  ASSERT_EQ(n.SafePsql("delete from t where id = 4"), "");
  // The missing value is part of the catalog: it survives a crash and reaches a standby.
  Node standby("standby");
  standby.InitStandby(n);
  standby.Start();
  ASSERT_TRUE(WaitForReplay(n, standby));
  EXPECT_EQ(standby.SafePsql("select id, z, w from t order by id"), "1|1|hi\n2|7|hi\n3|7|hi");
  standby.Stop();
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select id, z, w from t order by id"), "1|1|hi\n2|7|hi\n3|7|hi");
}

TEST(QueriesTest, NumericAndFloatIndexKeys) {
  Node n;
  n.Init();
  n.Start();
  ASSERT_EQ(n.SafePsql("create table nk (n numeric primary key, f float8, r real);"
                       "create index on nk (f); create index on nk (r);"
                       "insert into nk select g * 0.25 - 5, g * 1.5 - 40, g / 3.0 "
                       "from generate_series(0, 40) g;"
                       "insert into nk values (-10000000000, '-1e300', 'NaN'),"
                       "(123456789.000001, 'Infinity', '-Infinity')"),
            "");
  // Equal numerics are one key whatever their scale.
  EXPECT_NE(n.Psql("insert into nk values (1.50, 0, 0)").err.find("Key (n)=(1.50) already exists"),
            std::string::npos);
  EXPECT_EQ(n.SafePsql("select n from nk where n = 1.5000"), "1.50");
  EXPECT_EQ(n.SafePsql("explain select n from nk where n = 1.5"), "Index Scan using nk_pkey on nk");
  EXPECT_EQ(n.SafePsql("select count(*) from nk where n between -1 and 1"), "9");
  EXPECT_EQ(n.SafePsql("select n from nk where n < -4 order by n"),
            "-10000000000\n-5.00\n-4.75\n-4.50\n-4.25");
  EXPECT_EQ(n.SafePsql("select n from nk where n > 4.5 order by n"),
            "4.75\n5.00\n123456789.000001");
  EXPECT_EQ(n.SafePsql("select f from nk where f > 18 order by f"), "18.5\n20\nInfinity");
  EXPECT_EQ(n.SafePsql("select f from nk where f < -39 order by f"), "-1e+300\n-40");
  EXPECT_EQ(n.SafePsql("select r from nk where r = 'NaN'"), "NaN");
  EXPECT_EQ(n.SafePsql("select count(*) from nk where r > 13.3"), "2");  // 13.333 and NaN
}

// Relation files of dropped tables, truncated tables, dropped indexes and rolled-back CREATEs
// are removed; a crash cannot leave them behind.
TEST(QueriesTest, DroppedRelationFilesAreRemoved) {
  Node n;
  n.Init();
  n.Start();
  auto files = [&] {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(n.data_dir() + "/base/5")) {
      out.insert(e.path().filename().string());
    }
    return out;
  };
  std::set<std::string> base = files();
  ASSERT_EQ(n.SafePsql("create table d (id int primary key, v text); create index on d (v);"
                       "insert into d select g, 'v' || g from generate_series(1, 500) g"),
            "");
  std::set<std::string> with_table = files();
  EXPECT_EQ(with_table.size(), base.size() + 3);
  ASSERT_EQ(n.SafePsql("truncate d; insert into d values (1, 'x')"), "");
  EXPECT_EQ(n.SafePsql("checkpoint; select count(*) from d"), "1");
  EXPECT_EQ(files().size(), base.size() + 3) << "TRUNCATE's old files stay";
  // A transaction whose snapshot still sees the table keeps its files until it ends (one that
  // had read it would hold a lock the DROP waits for: 023_locks_test).
  PGconn* reader = n.Connect();
  ASSERT_EQ(Exec(reader, "begin isolation level repeatable read"), "BEGIN");
  ASSERT_EQ(Exec(reader, "select 1"), "1\n");
  ASSERT_EQ(n.SafePsql("drop table d"), "");
  ASSERT_EQ(n.SafePsql("checkpoint"), "");
  EXPECT_EQ(Exec(reader, "select v from d"), "x\n");
  ASSERT_EQ(Exec(reader, "commit"), "COMMIT");
  PQfinish(reader);
  ASSERT_EQ(n.SafePsql("checkpoint"), "");
  EXPECT_EQ(files(), base);
  // Rolled back, whole or to a savepoint: the new files go at once.
  ASSERT_EQ(n.SafePsql("begin; create table r (a int primary key); rollback"), "");
  ASSERT_EQ(n.SafePsql("begin; create table keep (a int); savepoint s; create table r2 (a int);"
                       "rollback to s; commit"),
            "");
  EXPECT_EQ(files().size(), base.size() + 1);
  ASSERT_EQ(n.SafePsql("drop table keep; create table t (a int primary key);"
                       "create index t_a on t (a); drop index t_a"),
            "");
  ASSERT_EQ(n.SafePsql("checkpoint"), "");  // after the commit: one statement is one transaction
  EXPECT_EQ(files().size(), base.size() + 2);
  // kill -9 in the middle of a transaction that created a table: restart removes its file.
  PGconn* c = n.Connect();
  ASSERT_EQ(Exec(c, "begin"), "BEGIN");
  ASSERT_EQ(Exec(c, "create table crashed (a int)"), "CREATE TABLE");
  ASSERT_EQ(Exec(c, "insert into crashed values (1)"), "INSERT 0 1");
  EXPECT_EQ(files().size(), base.size() + 3);
  n.Kill9();
  PQfinish(c);
  n.Start();
  EXPECT_EQ(files().size(), base.size() + 2);
  EXPECT_EQ(n.SafePsql("insert into t values (1); select count(*) from t"), "1");
}

}  // namespace
}  // namespace walrep::testing
