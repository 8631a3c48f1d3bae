// walrep: acknowledged commits survive kill -9. Clients insert concurrently and record every id
// whose COMMIT returned; the server is killed at a random moment and restarted; every
// acknowledged id must be there, every row must belong to an attempted id, and a transfer
// invariant across two tables must hold. WALREP_CRASH_ROUNDS sets the number of rounds
// (default 5; the `crash` ctest label runs 50).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

int Rounds() {
  const char* r = std::getenv("WALREP_CRASH_ROUNDS");
  return r ? std::atoi(r) : 5;
}

TEST(CrashTest, AcknowledgedCommitsSurviveKill9) {
  Node n;
  n.Init();
  n.AppendConf("fsync = on");
  n.Start();
  n.SafePsql("create table acked (id int primary key, payload text)");
  n.SafePsql("create table branch (id int primary key, bal int)");
  n.SafePsql("create table teller (id int primary key, bal int)");
  n.SafePsql("insert into branch values (1, 0)");
  n.SafePsql("insert into teller values (1, 0)");
  std::mt19937 rng(4242);
  std::set<int> acknowledged;
  std::set<int> attempted;
  std::mutex mu;
  std::atomic<int> next_id{1};
  for (int round = 0; round < Rounds(); round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; c++) {
      clients.emplace_back([&, c] {
        PGconn* conn = n.Connect();
        while (!stop.load() && PQstatus(conn) == CONNECTION_OK) {
          int id = next_id++;
          {
            std::lock_guard<std::mutex> l(mu);
            attempted.insert(id);
          }
          std::string sql = "begin; insert into acked values (" + std::to_string(id) + ", 'c" +
                            std::to_string(c) +
                            "'); update branch set bal = bal + 1 where id = 1;"
                            " update teller set bal = bal - 1 where id = 1; commit";
          PGresult* r = PQexec(conn, sql.c_str());
          bool ok =
              PQresultStatus(r) == PGRES_COMMAND_OK && std::string(PQcmdStatus(r)) == "COMMIT";
          PQclear(r);
          if (ok) {
            std::lock_guard<std::mutex> l(mu);
            acknowledged.insert(id);
          }
        }
        PQfinish(conn);
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 800));
    n.Kill9();
    stop = true;
    for (auto& t : clients) t.join();
    n.Start();
    std::string rows = n.SafePsql("select id from acked order by id");
    std::set<int> present;
    size_t pos = 0;
    while (pos < rows.size()) {
      size_t nl = rows.find('\n', pos);
      present.insert(std::stoi(rows.substr(pos, nl - pos)));
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    for (int id : acknowledged) {
      ASSERT_TRUE(present.count(id)) << "acknowledged id " << id << " lost";
    }
    for (int id : present) {
      ASSERT_TRUE(attempted.count(id)) << "id " << id << " never attempted";
    }
    // Transfers are all or nothing: branch + teller always sum to zero and match the rows.
    std::string branch = n.SafePsql("select bal from branch");
    std::string teller = n.SafePsql("select bal from teller");
    EXPECT_EQ(std::stoi(branch), -std::stoi(teller));
    EXPECT_EQ(std::stoi(branch), static_cast<int>(present.size()));
    acknowledged = present;  // what is durable now
  }
  EXPECT_GT(acknowledged.size(), 0u);
}

// Crash recovery with four redo workers, killed while it replays and started again: the second
// recovery replays the same WAL over pages the first left half-done, and ends with every
// acknowledged change (the same table, row for row).
TEST(CrashTest, KillDuringParallelCrashRecovery) {
  Node n;
  n.Init();
  n.AppendConf("fsync = on");
  n.AppendConf("walrep.recovery_workers = 4");
  n.AppendConf("max_wal_size = 4GB");
  n.AppendConf("checkpoint_timeout = 1h");
  n.Start();
  n.SafePsql("create table big (id int primary key, v int, pad text)");
  n.SafePsql("checkpoint");
  for (int i = 0; i < 4; i++) {
    n.SafePsql("insert into big select g, g % 97, repeat('p', 100) from generate_series(" +
               std::to_string(i * 100000 + 1) + ", " + std::to_string((i + 1) * 100000) + ") g");
  }
  n.SafePsql("update big set v = v + 1 where id % 3 = 0");
  n.SafePsql("delete from big where id % 10 = 0");
  const std::string summary =
      "select count(*) || ' ' || sum(v) || ' ' || sum(id::bigint * (v + 7)) || ' ' || "
      "sum(length(pad)) from big";
  std::string expected = n.SafePsql(summary);
  n.Kill9();
  int killed_during_recovery = 0;
  for (int round = 0; round < 3; round++) {
    std::string before = n.Log();
    n.StartNoWait();
    // Killed once recovery has begun, before the server opens.
    ASSERT_TRUE(WaitUntil([&] {
      return n.Log().find("database system was interrupted", before.size()) != std::string::npos;
    }));
    n.Kill9();
    if (n.Log().find("ready to accept connections", before.size()) == std::string::npos) {
      killed_during_recovery++;
    }
  }
  EXPECT_GT(killed_during_recovery, 0) << "recovery always finished before the kill";
  n.Start();
  EXPECT_EQ(n.SafePsql(summary), expected);
  EXPECT_NE(n.Log().find("records replayed by 4 redo workers"), std::string::npos) << n.Log();
}

}  // namespace
}  // namespace walrep::testing
