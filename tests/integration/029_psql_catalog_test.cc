// walrep: psql's meta-commands and pg_dump read pg_catalog and get PostgreSQL's answers. The same
// schema is created in a PostgreSQL 15 server and in a walrep primary (replicated to a hot
// standby); psql 15 runs \dt, \d, \d table, \d+ table, \d index, \di, \ds, \dn, \du, \dg, \dx,
// \l on each, and the outputs must be identical, except for what the user guide documents
// (relation sizes: walrep has no TOAST tables; \l: walrep has one database, no template0 and
// template1). pg_dump 15 of the schema is PostgreSQL's dump of it; a dump with data taken from
// the standby restores into PostgreSQL 15 and into a fresh walrep, whose dumps are the same.
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
      "\\df pg_*wal*replay*",
      "\\df pg_current_wal*",
      "\\df pg_size_pretty",
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

const char* kData = R"sql(
INSERT INTO accounts (name, balance, email, code, created, flags, big, small, ratio, r, born,
                      seen, span, data, note)
VALUES ('alice', 12.5, 'a@example.com', 'ab', '2024-02-29 12:34:56.789+00', true, 9000000000, 7,
        3.25, -1.5, '1999-12-31', '2000-01-01 00:00:00', '1 day 02:03:04', '\x00ff10',
        E'tab\there, quote '' and backslash \\'),
       ('bob', -0.01, NULL, NULL, NULL, false, NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
       ('carol', 1000000000.99, 'c@example.com', 'wxyz', '1970-01-01 00:00:00+00', NULL, -1, -32768,
        2.5e-10, 3.5e20, '0001-01-01', '2262-04-11 23:47:16', '-1 mons', '\x', 'line1
line2');
INSERT INTO orders (account, amount) SELECT g % 3 + 1, g * 1.5 FROM generate_series(1, 50) g;
INSERT INTO "Mixed Case" VALUES (1, 'One'), (2, NULL);
SELECT nextval('invoice_seq'), nextval('invoice_seq');
)sql";

// A dump without the lines that differ between any two runs (the \restrict key) and servers.
std::string NormalizeDump(const std::string& dump) {
  std::istringstream in(dump);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("\\restrict ", 0) == 0 || line.rfind("\\unrestrict ", 0) == 0 ||
        line.rfind("-- Dumped from database version", 0) == 0 ||
        line.rfind("-- Dumped by pg_dump version", 0) == 0) {
      continue;
    }
    out += line + "\n";
  }
  return out;
}

std::string PgDump(const std::string& conn, const std::vector<std::string>& args = {}) {
  std::vector<std::string> argv = {PgBin("pg_dump"), "-d", conn};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv, 180);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return NormalizeDump(r.out);
}

void Restore(const std::string& conn, const std::string& dump) {
  auto r = RunCommand({PgBin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conn}, 180, dump);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(PsqlCatalogTest, PgDumpSchemaIsPostgresDumpOfTheSameSchema) {
  std::string expected = PgDump(pg_.ConnStr(), {"--schema-only"});
  ASSERT_NE(expected.find("CREATE TABLE public.accounts"), std::string::npos);
  EXPECT_EQ(PgDump(primary_.ConnStr(), {"--schema-only"}), expected);
  EXPECT_EQ(PgDump(standby_.ConnStr(), {"--schema-only"}), expected);
}

TEST_F(PsqlCatalogTest, PgDumpFromStandbyRestoresIntoPostgresAndWalrep) {
  primary_.SafePsql(kData);
  ASSERT_TRUE(WaitForReplay(primary_, standby_));
  std::string dump = PgDump(standby_.ConnStr());
  ASSERT_NE(dump.find("COPY public.orders (order_id, account, amount, status) FROM stdin;"),
            std::string::npos);
  // A standby's sequences show the value WAL-logged ahead (32 values), as PostgreSQL's do.
  EXPECT_NE(dump.find("SELECT pg_catalog.setval('public.invoice_seq', 260, true);"),
            std::string::npos);
  EXPECT_NE(dump.find("SELECT pg_catalog.setval('public.accounts_id_seq', 33, true);"),
            std::string::npos);
  // Into PostgreSQL 15: the same tables, keys, sequences and rows dump the same way.
  pg_.SafePsql("CREATE DATABASE restored");
  std::string pg_conn = pg_.ConnStr() + " dbname=restored";
  ASSERT_NO_FATAL_FAILURE(Restore(pg_conn, dump));
  EXPECT_EQ(PgDump(pg_conn), dump);
  // Into a fresh walrep.
  Node fresh("fresh");
  ASSERT_NO_FATAL_FAILURE(fresh.Init());
  ASSERT_NO_FATAL_FAILURE(fresh.Start());
  ASSERT_NO_FATAL_FAILURE(Restore(fresh.ConnStr(), dump));
  EXPECT_EQ(PgDump(fresh.ConnStr()), dump);
  // The restored serial continues after the dumped value; the restored keys hold.
  EXPECT_EQ(fresh.SafePsql("INSERT INTO accounts (name) VALUES ('dave') RETURNING id"), "34");
  EXPECT_NE(fresh.Psql("INSERT INTO accounts (name, email) VALUES ('x', 'a@example.com')")
                .err.find("duplicate key value violates unique constraint \"accounts_email_key\""),
            std::string::npos);
  EXPECT_NE(fresh.Psql("INSERT INTO accounts (id, name) VALUES (1, 'y')")
                .err.find("duplicate key value violates unique constraint \"accounts_pkey\""),
            std::string::npos);
}

TEST_F(PsqlCatalogTest, InformationSchemaMatchesPostgres) {
  // What ORMs and GUI clients read; the NOT NULL constraints' names hold OIDs, which differ.
  const std::vector<std::string> queries = {
      "SELECT table_catalog, table_schema, table_name, table_type, is_insertable_into "
      "FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      "SELECT table_name, column_name, ordinal_position, column_default, is_nullable, data_type, "
      "character_maximum_length, character_octet_length, numeric_precision, "
      "numeric_precision_radix, numeric_scale, datetime_precision, udt_name, is_identity, "
      "is_updatable FROM information_schema.columns WHERE table_schema = 'public' "
      "ORDER BY table_name, ordinal_position",
      "SELECT table_name, regexp_replace(constraint_name, '^[0-9]+_[0-9]+_', 'N_'), "
      "constraint_type, is_deferrable FROM information_schema.table_constraints "
      "WHERE table_schema = 'public' ORDER BY 1, 2",
      "SELECT table_name, constraint_name, column_name, ordinal_position "
      "FROM information_schema.key_column_usage WHERE table_schema = 'public' ORDER BY 1, 2, 4",
      "SELECT * FROM information_schema.sequences ORDER BY sequence_name",
      "SELECT catalog_name, schema_name, schema_owner FROM information_schema.schemata "
      "ORDER BY schema_name",
      "SELECT count(*) > 60 FROM information_schema.tables WHERE table_schema = 'pg_catalog'",
  };
  for (const auto& q : queries) {
    std::string expected = pg_.SafePsql(q);
    ASSERT_NE(expected, "") << q;
    EXPECT_EQ(primary_.SafePsql(q), expected) << q;
    EXPECT_EQ(standby_.SafePsql(q), expected) << q;
  }
}

TEST_F(PsqlCatalogTest, Psycopg2AndCopyRoundTrips) {
  primary_.SafePsql(kData);
  ASSERT_TRUE(WaitForReplay(primary_, standby_));
  // psycopg2 (Debian's python3-psycopg2) reads typed values, arrays included, and looks types
  // up by oid as drivers do; it writes through parameters on the primary.
  const char* script = R"py(
import datetime, decimal, sys
import psycopg2
primary, standby = sys.argv[1], sys.argv[2]
c = psycopg2.connect(standby)
cur = c.cursor()
cur.execute("SELECT name, balance, flags, data, ARRAY[1, 2], span, born, row_number() OVER () "
            "FROM accounts WHERE name = %s", ("alice",))
name, balance, flags, data, arr, span, born, number = cur.fetchone()
assert number == 1, number
assert name == "alice" and balance == decimal.Decimal("12.50") and flags is True, name
assert bytes(data) == b"\x00\xff\x10", data
assert arr == [1, 2] and span == datetime.timedelta(days=1, seconds=7384), (arr, span)
assert born == datetime.date(1999, 12, 31), born
cur.execute("SELECT typname, oid FROM pg_type WHERE oid = %s", (1700,))
assert cur.fetchone() == ("numeric", 1700)
cur.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 2")
assert [r[1] for r in cur.fetchall()] == ["Mixed Case", "accounts", "orders"]
w = psycopg2.connect(primary)
wc = w.cursor()
wc.executemany("INSERT INTO orders (account, amount, status) VALUES (%s, %s, %s)",
               [(1, decimal.Decimal("2.25"), "py"), (2, None, "py")])
w.commit()
wc.execute("SELECT count(*), sum(amount) FROM orders WHERE status = %s", ("py",))
assert wc.fetchone() == (2, decimal.Decimal("2.25"))
print("ok")
)py";
  auto r =
      RunCommand({"/usr/bin/python3", "-", primary_.ConnStr(), standby_.ConnStr()}, 120, script);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  // psql's \copy: out of the standby, into a new table on the primary, the same rows.
  TempDir dir;
  std::string file = dir.path() + "/accounts.copy";
  auto out = RunCommand(
      {PgBin("psql"), "-X", "-d", standby_.ConnStr(), "-c", "\\copy accounts TO '" + file + "'"});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, "COPY 3\n");
  primary_.SafePsql(
      "CREATE TABLE accounts_copy (id int, name text, balance numeric(12,2), email varchar(100), "
      "code char(4), created timestamptz, flags boolean, big bigint, small smallint, "
      "ratio double precision, r real, born date, seen timestamp, span interval, data bytea, "
      "note varchar)");
  auto in = RunCommand({PgBin("psql"), "-X", "-d", primary_.ConnStr(), "-c",
                        "\\copy accounts_copy FROM '" + file + "'"});
  ASSERT_EQ(in.exit_code, 0) << in.err;
  EXPECT_EQ(primary_.SafePsql("SELECT count(*) FROM (SELECT * FROM accounts_copy UNION "
                              "SELECT * FROM accounts) u"),
            "3");
}

TEST_F(PsqlCatalogTest, PgDumpallGlobalsMatchPostgres) {
  auto globals = [](const std::string& conn) {
    auto r = RunCommand({PgBin("pg_dumpall"), "-d", conn, "--globals-only"}, 120);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return NormalizeDump(r.out);
  };
  std::string expected = globals(pg_.ConnStr());
  ASSERT_NE(expected.find("CREATE ROLE postgres;"), std::string::npos);
  EXPECT_EQ(globals(primary_.ConnStr()), expected);
  EXPECT_EQ(globals(standby_.ConnStr()), expected);
}

}  // namespace
}  // namespace walrep::testing
