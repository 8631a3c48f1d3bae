// walrep: PostgreSQL 15's pgbench runs unchanged — initialisation (DDL, COPY, VACUUM, ALTER TABLE
// ADD PRIMARY KEY) and TPC-B-like runs in the simple, extended and prepared protocols — and the
// balances stay consistent: accounts, tellers and branches agree, and each run's history adds up.
#include <gtest/gtest.h>

#include "testing.h"

namespace walrep::testing {
namespace {

long Sum(const Node& n, const std::string& sql) { return std::stol(n.SafePsql(sql)); }

TEST(PgbenchTest, InitAndRunInEveryQueryMode) {
  Node n;
  n.Init();
  n.Start();
  std::string port = std::to_string(n.port());
  CommandResult init = RunCommand({PgBin("pgbench"), "-i", "-s", "1", "-h", "127.0.0.1", "-p", port,
                                   "-U", "postgres", "postgres"},
                                  300);
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(n.SafePsql("select count(*) from pgbench_accounts"), "100000");
  EXPECT_EQ(n.SafePsql("select count(*) from pgbench_tellers"), "10");
  long before = Sum(n, "select sum(abalance) from pgbench_accounts");
  for (const char* mode : {"simple", "extended", "prepared"}) {
    SCOPED_TRACE(mode);
    CommandResult run = RunCommand({PgBin("pgbench"), "-M", mode, "-c", "2", "-j", "2", "-t", "10",
                                    "-h", "127.0.0.1", "-p", port, "-U", "postgres", "postgres"},
                                   300);
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("number of failed transactions: 0"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("number of transactions actually processed: 20/20"), std::string::npos)
        << run.out;
    long accounts = Sum(n, "select sum(abalance) from pgbench_accounts");
    EXPECT_EQ(accounts, Sum(n, "select sum(tbalance) from pgbench_tellers"));
    EXPECT_EQ(accounts, Sum(n, "select sum(bbalance) from pgbench_branches"));
    // pgbench empties pgbench_history before each run.
    EXPECT_EQ(accounts - before, Sum(n, "select coalesce(sum(delta), 0) from pgbench_history"));
    EXPECT_EQ(n.SafePsql("select count(*) from pgbench_history"), "20");
    before = accounts;
  }
}

}  // namespace
}  // namespace walrep::testing
