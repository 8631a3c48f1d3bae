// walrep: psql's meta-commands read pg_catalog and get PostgreSQL's answers. The same schema is
// created in a PostgreSQL 15 server and in a walrep primary (replicated to a hot standby); psql
// 15 runs \dt, \d, \d table, \d+ table, \d index, \di, \ds, \dn, \du, \dg, \dx, \l on each, and
// the outputs must be identical, except for what the user guide documents (relation sizes:
// walrep has no TOAST tables; \l: walrep has one database, no template0/template1).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <regex>

#include "testing.h"

namespace walrep::testing {
namespace {

const char* kSchema = R"sql(
CREATE TABLE accounts (
  id serial PRIMARY KEY,
  name text NOT NULL,
  balance numeric(12,2) DEFAULT 0,
  email varchar(100) UNIQUE,
  code char(4),
  created timestamptz DEFAULT now(),
  flags boolean DEFAULT false,
  big bigint,
  small smallint NOT NULL DEFAULT 1,
  ratio double precision,
  r real,
  born date,
  seen timestamp,
  span interval,
  data bytea,
  note varchar
);
CREATE INDEX accounts_name_idx ON accounts (name);
CREATE UNIQUE INDEX accounts_big_small ON accounts (big, small);
CREATE TABLE orders (
  order_id bigserial PRIMARY KEY,
  account int NOT NULL,
  amount numeric,
  status text DEFAULT 'new'
);
CREATE SEQUENCE invoice_seq START 100 INCREMENT 5;
CREATE TABLE "Mixed Case" (k int PRIMARY KEY, "Value" text);
)sql";

// psql 15's output of one meta-command (aligned, as a user sees it).
std::string MetaCommand(const std::string& conn, const std::string& cmd) {
  auto r = RunCommand({PgBin("psql"), "-X", "-d", conn, "-c", cmd});
  EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
  EXPECT_EQ(r.err, "") << cmd;
  return r.out;
}

// Relation sizes differ (PostgreSQL's tables with text columns have TOAST relations), and with
// them the width of the column: sizes are masked and runs of spaces and dashes collapsed.
std::string MaskSizes(const std::string& s) {
  std::string out = std::regex_replace(s, std::regex("[0-9]+ (bytes|kB|MB)"), "SIZE");
  out = std::regex_replace(out, std::regex(" +"), " ");
  return std::regex_replace(out, std::regex("-+"), "-");
}

class PsqlCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(pg_.Start());
    // walrep has no extensions: PostgreSQL's plpgsql goes, so that \dx lists none on both.
    pg_.SafePsql("DROP EXTENSION plpgsql");
    pg_.SafePsql(kSchema);
    ASSERT_NO_FATAL_FAILURE(primary_.Init());
    ASSERT_NO_FATAL_FAILURE(primary_.Start());
    primary_.SafePsql(kSchema);
    ASSERT_NO_FATAL_FAILURE(standby_.InitStandby(primary_));
    ASSERT_NO_FATAL_FAILURE(standby_.Start());
    ASSERT_TRUE(WaitForReplay(primary_, standby_));
  }

  PostgresServer pg_;
  Node primary_{"primary"};
  Node standby_{"standby"};
};

TEST_F(PsqlCatalogTest, MetaCommandsMatchPostgres) {
  const std::vector<std::string> commands = {
      "\\dt",
      "\\d",
      "\\di",
      "\\ds",
      "\\dn",
      "\\du",
      "\\dg",
      "\\dx",
      "\\d accounts",
      "\\d+ accounts",
      "\\d orders",
      "\\d accounts_pkey",
      "\\d accounts_big_small",
      "\\d \"Mixed Case\"",
      "\\dt+",
      "\\d+ orders",
      "\\dt acc*",
      "\\d invoice_seq",
      "\\x \\d accounts_email_key",
  };
  for (const auto& cmd : commands) {
    std::string expected = MaskSizes(MetaCommand(pg_.ConnStr(), cmd));
    EXPECT_EQ(MaskSizes(MetaCommand(primary_.ConnStr(), cmd)), expected) << cmd << " (primary)";
    EXPECT_EQ(MaskSizes(MetaCommand(standby_.ConnStr(), cmd)), expected) << cmd << " (standby)";
  }
}

TEST_F(PsqlCatalogTest, DatabaseListHasPostgresAsPostgresShowsIt) {
  // PostgreSQL also lists template0 and template1; the postgres row is the same.
  auto row = [](const std::string& out) {
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(" postgres ", 0) == 0) return MaskSizes(line);
    }
    return std::string();
  };
  std::string expected = row(MetaCommand(pg_.ConnStr(), "\\l"));
  ASSERT_NE(expected, "");
  EXPECT_EQ(row(MetaCommand(primary_.ConnStr(), "\\l")), expected);
  EXPECT_EQ(row(MetaCommand(standby_.ConnStr(), "\\l")), expected);
}

TEST_F(PsqlCatalogTest, CatalogQueriesFollowDdlOnTheStandby) {
  // A standby's catalog relations show what replay has applied: a table with its columns and
  // index, and no table once the drop is replayed.
  primary_.SafePsql("CREATE TABLE late (a int PRIMARY KEY, b text NOT NULL)");
  ASSERT_TRUE(WaitForReplay(primary_, standby_));
  const std::string q =
      "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
      "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
      "WHERE c.relname = 'late' AND a.attnum > 0 ORDER BY a.attnum";
  EXPECT_EQ(standby_.SafePsql(q), "late|a|integer|t\nlate|b|text|t");
  EXPECT_EQ(standby_.SafePsql("SELECT indexrelid::regclass, indisprimary FROM pg_index "
                              "WHERE indrelid = 'late'::regclass"),
            "late_pkey|t");
  primary_.SafePsql("DROP TABLE late");
  ASSERT_TRUE(WaitForReplay(primary_, standby_));
  EXPECT_EQ(standby_.SafePsql("SELECT count(*) FROM pg_class WHERE relname LIKE 'late%'"), "0");
  EXPECT_EQ(standby_.Psql("SELECT 'late'::regclass").err.find("relation \"late\" does not exist") !=
                std::string::npos,
            true);
}

TEST_F(PsqlCatalogTest, TypeLookupsOfDrivers) {
  // JDBC and psycopg2 resolve result types by oid; array types and reg* casts work as in
  // PostgreSQL.
  for (auto* server : {&primary_, &standby_}) {
    EXPECT_EQ(server->SafePsql("SELECT typname, typlen, typcategory FROM pg_type WHERE oid = 1700"),
              "numeric|-1|N");
    EXPECT_EQ(server->SafePsql("SELECT typname, typelem::regtype FROM pg_type WHERE oid = 1007"),
              "_int4|integer");
    EXPECT_EQ(server->SafePsql("SELECT 'accounts'::regclass::oid = (SELECT oid FROM pg_class "
                               "WHERE relname = 'accounts')"),
              "t");
    EXPECT_EQ(server->SafePsql("SELECT t.typname FROM pg_type t JOIN pg_class c ON "
                               "t.typrelid = c.oid WHERE c.relname = 'orders'"),
              "orders");
    EXPECT_EQ(
        server->SafePsql("SELECT conname, contype, conkey FROM pg_constraint WHERE conrelid = "
                         "'accounts'::regclass ORDER BY conname"),
        "accounts_email_key|u|{4}\naccounts_pkey|p|{1}");
  }
  EXPECT_EQ(pg_.SafePsql("SELECT conname, contype, conkey FROM pg_constraint WHERE conrelid = "
                         "'accounts'::regclass ORDER BY conname"),
            "accounts_email_key|u|{4}\naccounts_pkey|p|{1}");
}

}  // namespace
}  // namespace walrep::testing
