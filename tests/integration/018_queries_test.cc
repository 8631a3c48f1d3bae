// walrep: the query language beyond single tables — joins, sequences and serial columns,
// savepoints that undo data, EXPLAIN, ALTER TABLE ADD COLUMN with defaults — checked through
// psql against the answers PostgreSQL 15 gives for the same statements.
#include <gtest/gtest.h>

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
  // A join of a table with a system view.
  EXPECT_EQ(n.SafePsql("select count(*) from a join pg_stat_activity s on s.pid = "
                       "pg_backend_pid() where a.id = 1"),
            "1");
}

}  // namespace
}  // namespace walrep::testing
