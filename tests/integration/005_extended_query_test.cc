// walrep: the extended query protocol with libpq, psycopg2 and hand-built messages.
#include <gtest/gtest.h>

#include <cstring>

#include "testing.h"

namespace walrep::testing {
namespace {

std::string Body(std::initializer_list<std::string> parts) {
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}
std::string Str(const std::string& s) { return s + std::string(1, '\0'); }
std::string I16(int v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; }
std::string I32(int v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}

TEST(ExtendedQueryTest, LibpqParamsAndBinaryResults) {
  Node n;
  n.Init();
  n.Start();
  PGconn* c = n.Connect();
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  const char* values[2] = {"41", "walrep"};
  PGresult* r = PQexecParams(c,
                             "select $1::int + 1 as answer, $2::text || '!' as name, "
                             "true as flag, 1.5::float8 as f, '0/16B3748'::pg_lsn as lsn",
                             2, nullptr, values, nullptr, nullptr, /*resultFormat=*/1);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
  EXPECT_STREQ(PQfname(r, 0), "answer");
  EXPECT_EQ(PQftype(r, 0), 23u);
  EXPECT_EQ(PQfformat(r, 0), 1);
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 0), 4), std::string("\0\0\0\x2a", 4));
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 1), PQgetlength(r, 0, 1)), "walrep!");
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 2), 1), std::string("\x01", 1));
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 3), 8), std::string("\x3f\xf8\0\0\0\0\0\0", 8));
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 4), 8), std::string("\0\0\0\0\x01\x6b\x37\x48", 8));
  PQclear(r);

  r = PQprepare(c, "addone", "select $1 + 1", 1, nullptr);
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
  PQclear(r);
  r = PQdescribePrepared(c, "addone");
  EXPECT_EQ(PQnparams(r), 1);
  EXPECT_EQ(PQparamtype(r, 0), 23u);  // inferred from "+ 1"
  EXPECT_EQ(PQnfields(r), 1);
  PQclear(r);
  for (int i = 0; i < 3; i++) {
    std::string v = std::to_string(i * 10);
    const char* p[1] = {v.c_str()};
    r = PQexecPrepared(c, "addone", 1, p, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    EXPECT_EQ(std::string(PQgetvalue(r, 0, 0)), std::to_string(i * 10 + 1));
    PQclear(r);
  }
  r = PQprepare(c, "addone", "select 1", 0, nullptr);
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42P05");
  PQclear(r);
  const char* bad[1] = {"notanumber"};
  r = PQexecPrepared(c, "addone", 1, bad, nullptr, nullptr, 0);
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22P02");
  PQclear(r);
  PQfinish(c);
}

TEST(ExtendedQueryTest, RowLimitsSuspendThePortal) {
  Node n;
  n.Init();
  n.Start();
  RawClient c(n.port());
  ASSERT_TRUE(c.Startup());
  c.Send(RawClient::Typed('P', Body({Str(""), Str("show all"), I16(0)})));
  c.Send(RawClient::Typed('B', Body({Str("p1"), Str(""), I16(0), I16(0), I16(0)})));
  c.Send(RawClient::Typed('D', Body({"P", Str("p1")})));
  c.Send(RawClient::Typed('E', Body({Str("p1"), I32(2)})));
  c.Send(RawClient::Typed('E', Body({Str("p1"), I32(3)})));
  c.Send(RawClient::Typed('H', ""));
  std::vector<std::pair<char, std::string>> msgs;
  std::string types = c.ReadUntil('s', &msgs);
  types += c.ReadUntil('s', &msgs);
  EXPECT_EQ(types, "12TDDsDDDs");
  c.Send(RawClient::Typed('E', Body({Str("p1"), I32(0)})));
  c.Send(RawClient::Typed('C', Body({"P", Str("p1")})));
  c.Send(RawClient::Typed('S', ""));
  msgs.clear();
  types = c.ReadUntil('Z', &msgs);
  ASSERT_GE(types.size(), 4u);
  EXPECT_EQ(types.substr(types.size() - 3), "C3Z");  // CommandComplete, CloseComplete, Ready
  EXPECT_GT(types.size(), 100u) << "the rest of SHOW ALL arrives in one Execute";
}

TEST(ExtendedQueryTest, ErrorSkipsToSync) {
  Node n;
  n.Init();
  n.Start();
  RawClient c(n.port());
  ASSERT_TRUE(c.Startup());
  c.Send(RawClient::Typed('P', Body({Str(""), Str("select 1/0"), I16(0)})));
  c.Send(RawClient::Typed('B', Body({Str(""), Str(""), I16(0), I16(0), I16(0)})));
  c.Send(RawClient::Typed('E', Body({Str(""), I32(0)})));
  c.Send(RawClient::Typed('P', Body({Str(""), Str("select 2"), I16(0)})));
  c.Send(RawClient::Typed('B', Body({Str(""), Str(""), I16(0), I16(0), I16(0)})));
  c.Send(RawClient::Typed('E', Body({Str(""), I32(0)})));
  c.Send(RawClient::Typed('S', ""));
  std::vector<std::pair<char, std::string>> msgs;
  std::string types = c.ReadUntil('Z', &msgs);
  EXPECT_EQ(types, "12EZ");
  EXPECT_EQ(RawClient::Field(msgs[2].second, 'C'), "22012");
  EXPECT_EQ(msgs.back().second, "I");
  // The session is usable after Sync; an empty query answers EmptyQueryResponse.
  c.Send(RawClient::Typed('P', Body({Str(""), Str(""), I16(0)})));
  c.Send(RawClient::Typed('B', Body({Str(""), Str(""), I16(0), I16(0), I16(0)})));
  c.Send(RawClient::Typed('D', Body({"P", Str("")})));
  c.Send(RawClient::Typed('E', Body({Str(""), I32(0)})));
  c.Send(RawClient::Typed('S', ""));
  EXPECT_EQ(c.ReadUntil('Z'), "12nIZ");
}

TEST(ExtendedQueryTest, Psycopg2GetsPythonTypes) {
  Node n;
  n.Init();
  n.Start();
  std::string script = R"PY(
import sys, datetime, decimal, psycopg2
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("select %s::int + 1, %s::text, %s::float8, %s::bool, %s::numeric * 2, now(), %s",
            (41, "it's", 1.5, True, decimal.Decimal("1.25"), None))
row = cur.fetchone()
assert row[0] == 42 and isinstance(row[0], int), row
assert row[1] == "it's", row
assert row[2] == 1.5 and isinstance(row[2], float), row
assert row[3] is True, row
assert row[4] == decimal.Decimal("2.50"), row
assert isinstance(row[5], datetime.datetime) and row[5].tzinfo is not None, row
assert row[6] is None, row
cur.execute("select current_setting('application_name')")
conn.rollback()
try:
    cur.execute("select 1/0")
    raise SystemExit("no error")
except psycopg2.errors.DivisionByZero:
    conn.rollback()
cur.execute("select %(a)s || %(b)s", {"a": "x", "b": "y"})
assert cur.fetchone()[0] == "xy"
print("ok")
)PY";
  CommandResult r =
      RunCommand({"/usr/bin/python3", "-c", script, n.ConnStr("application_name=py")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "ok\n");
}

}  // namespace
}  // namespace walrep::testing
