// walrep: pg_stat_activity, cancel requests, pg_terminate_backend and statement_timeout.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <future>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

TEST(ActivityTest, ShowsOtherSessions) {
  Node n;
  n.Init();
  n.Start();
  PGconn* other = n.Connect("application_name=watched");
  ASSERT_EQ(PQstatus(other), CONNECTION_OK);
  PQclear(PQexec(other, "select 'marker'"));
  std::string row = n.SafePsql(
      "select usename, datname, application_name, state, query, backend_type, client_addr, "
      "client_port > 0, backend_start <= now() from pg_stat_activity "
      "where application_name = 'watched'");
  EXPECT_EQ(row, "postgres|postgres|watched|idle|select 'marker'|client backend|127.0.0.1|t|t");
  std::string me = n.SafePsql(
      "select state, pid = pg_backend_pid(), xact_start is not null from pg_stat_activity "
      "where pid = pg_backend_pid()");
  EXPECT_EQ(me, "active|t|t");
  PQfinish(other);
}

TEST(ActivityTest, CancelAndTerminate) {
  Node n;
  n.Init();
  n.Start();
  PGconn* c = n.Connect();
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  auto started = std::chrono::steady_clock::now();
  auto fut = std::async(std::launch::async, [c] {
    PGresult* r = PQexec(c, "select pg_sleep(30)");
    std::string code = ErrorField(r, PG_DIAG_SQLSTATE);
    PQclear(r);
    return code;
  });
  // The cancel is for the sleep, so it waits until the sleep runs (shown as PostgreSQL shows it).
  ASSERT_TRUE(WaitUntil([&] {
    return n.Query(fmt::format("select state || '|' || wait_event_type || '|' || wait_event "
                               "from pg_stat_activity "
                               "where pid = {} and query = 'select pg_sleep(30)'",
                               PQbackendPID(c))) == "active|Timeout|PgSleep";
  }));
  PGcancel* cancel = PQgetCancel(c);
  char errbuf[256];
  ASSERT_EQ(PQcancel(cancel, errbuf, sizeof(errbuf)), 1) << errbuf;
  PQfreeCancel(cancel);
  EXPECT_EQ(fut.get(), "57014");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  // The session stays usable after a cancel, and waits for nothing.
  PGresult* r = PQexec(c, "select 3");
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "3");
  PQclear(r);
  EXPECT_EQ(n.Query(fmt::format("select wait_event is null from pg_stat_activity where pid = {}",
                                PQbackendPID(c))),
            "t");

  std::string pid = std::to_string(PQbackendPID(c));
  EXPECT_EQ(n.SafePsql("select pg_terminate_backend(" + pid + ")"), "t");
  r = PQexec(c, "select 4");
  EXPECT_NE(
      std::string(PQerrorMessage(c)).find("terminating connection due to administrator command"),
      std::string::npos)
      << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  CommandResult none = n.Psql("select pg_cancel_backend(1)");
  EXPECT_EQ(none.out, "f\n");
  EXPECT_NE(none.err.find("PID 1 is not a PostgreSQL server process"), std::string::npos);
}

TEST(ActivityTest, StatementTimeout) {
  Node n;
  n.Init();
  n.Start();
  CommandResult r = n.Psql("set statement_timeout = '200ms'; select pg_sleep(5)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("canceling statement due to statement timeout"), std::string::npos) << r.err;

  // A result streamed to the client from a plan whose nodes never check for interrupts (a
  // function scan, with or without columns) is stopped too: the fuzzer's
  // `select from generate_series(1, 2004174836)` ran on past any timeout. So is one that sends
  // nothing, its rows dropped by a filter or a join whose right side is empty (finding 19). So
  // is a regular expression that tries 300,000 start positions in linear time each, 25 s inside
  // PCRE2 (finding 20).
  for (const char* q :
       {"select from generate_series(1, 2000000000)",
        "select g from generate_series(1, 2000000000) g",
        "select g from generate_series(1, 2000000000) g where g < 0",
        "select a.x, g from generate_series(3-33333333331, 3) a(x), generate_series(1, a.x) g",
        "select repeat('a', 300000) ~ 'b|()a*c'",
        "select regexp_replace(repeat('a', 300000), 'b|()a*c', 'x')"}) {
    PGconn* c = n.Connect();
    ASSERT_EQ(PQstatus(c), CONNECTION_OK);
    EXPECT_EQ(Exec(c, "set statement_timeout = '200ms'"), "SET");
    ASSERT_EQ(PQsendQuery(c, q), 1);
    ASSERT_EQ(PQsetSingleRowMode(c), 1);
    std::string sqlstate;
    auto sent = std::chrono::steady_clock::now();
    auto give_up = sent + std::chrono::seconds(30);
    // Bounded: a server that never answers fails the test instead of hanging it.
    auto answered = [&] {
      while (PQisBusy(c)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            give_up - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{PQsocket(c), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) < 0 || !PQconsumeInput(c)) break;
      }
      return true;
    };
    while (answered()) {
      PGresult* res = PQgetResult(c);
      if (!res) break;
      if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        sqlstate = ErrorField(res, PG_DIAG_SQLSTATE);
      }
      PQclear(res);
      if (std::chrono::steady_clock::now() > give_up) break;
    }
    EXPECT_EQ(sqlstate, "57014") << q;
    // Stopped near its timeout, not when the work ran out (the regular expressions ended in 57014
    // after 25 s before finding 20 was fixed).
    EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(10)) << q;
    PQfinish(c);
  }
}

}  // namespace
}  // namespace walrep::testing
