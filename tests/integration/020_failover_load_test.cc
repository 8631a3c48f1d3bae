// walrep: failover under load. Writers commit on a primary with one synchronous standby
// (synchronous_commit = on); the primary is killed with kill -9 mid-load, the standby promoted,
// the writers reconnect to it. Every commit acknowledged before the kill must be on the new
// primary, which must accept writes; then a new standby is cloned from it for the next round.
// WALREP_FAILOVER_ROUNDS sets the rounds (3 by default; 20 in the crash-labelled run).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

int Rounds() {
  const char* r = std::getenv("WALREP_FAILOVER_ROUNDS");
  return r ? std::atoi(r) : 3;
}

void StartWithSyncStandby(Node* n) {
  // On the command line, so a standby cloned from it does not inherit it.
  ASSERT_NO_FATAL_FAILURE(n->Start({"-c", "synchronous_standby_names=*"}));
}

TEST(FailoverLoadTest, NoAcknowledgedCommitLostAcrossKillAndPromotion) {
  std::vector<std::unique_ptr<Node>> nodes;
  nodes.push_back(std::make_unique<Node>("n0"));
  Node* primary = nodes.back().get();
  ASSERT_NO_FATAL_FAILURE(primary->Init());
  primary->AppendConf("wal_receiver_status_interval = 1");
  ASSERT_NO_FATAL_FAILURE(StartWithSyncStandby(primary));
  nodes.push_back(std::make_unique<Node>("n1"));
  Node* standby = nodes.back().get();
  ASSERT_NO_FATAL_FAILURE(standby->InitStandby(*primary));
  ASSERT_NO_FATAL_FAILURE(standby->Start());
  ASSERT_TRUE(WaitUntil([&] {
    return primary->Query("SELECT sync_state FROM pg_stat_replication") == "sync";
  })) << primary->Log();
  primary->SafePsql("CREATE TABLE acked (id bigint PRIMARY KEY, writer int, round int)");

  std::set<long long> acked;
  std::mutex mu;
  std::atomic<long long> next_id{1};
  for (int round = 0; round < Rounds(); round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::atomic<bool> stop{false};
    std::atomic<int> committed{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; w++) {
      writers.emplace_back([&, w] {
        PGconn* c = primary->Connect();
        while (!stop.load() && PQstatus(c) == CONNECTION_OK) {
          long long id = next_id.fetch_add(1);
          std::string sql = "INSERT INTO acked VALUES (" + std::to_string(id) + ", " +
                            std::to_string(w) + ", " + std::to_string(round) + ")";
          PGresult* r = PQexec(c, sql.c_str());
          bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
          PQclear(r);
          if (!ok) break;
          std::lock_guard<std::mutex> l(mu);
          acked.insert(id);
          committed++;
        }
        PQfinish(c);
      });
    }
    ASSERT_TRUE(WaitUntil([&] { return committed.load() >= 200; }, 60));
    primary->Kill9();
    stop.store(true);
    for (auto& t : writers) t.join();
    ASSERT_EQ(standby->Query("SELECT pg_promote()"), "t") << standby->Log();
    // Every acknowledged commit is on the new primary.
    std::string ids = standby->SafePsql("SELECT id FROM acked ORDER BY id");
    std::set<long long> have;
    for (size_t pos = 0; pos < ids.size();) {
      size_t nl = ids.find('\n', pos);
      have.insert(std::atoll(ids.substr(pos, nl - pos).c_str()));
      pos = nl == std::string::npos ? ids.size() : nl + 1;
    }
    long long lost = 0;
    for (long long id : acked) lost += have.count(id) ? 0 : 1;
    EXPECT_EQ(lost, 0) << "of " << acked.size() << " acknowledged commits";
    // The new primary accepts writes (before it has a synchronous standby of its own).
    standby->SafePsql("INSERT INTO acked VALUES (" + std::to_string(next_id.fetch_add(1)) +
                      ", -1, " + std::to_string(round) + ")");
    // The next round: the promoted node is the primary, restarted with a synchronous standby
    // cloned from it (the old primary's data directory is abandoned: rewinding it is the next
    // issue's work).
    primary = standby;
    primary->Stop("fast");
    ASSERT_NO_FATAL_FAILURE(StartWithSyncStandby(primary));
    {
      std::lock_guard<std::mutex> l(mu);
      acked.insert(next_id.load() - 1);
    }
    nodes.push_back(std::make_unique<Node>("n" + std::to_string(nodes.size())));
    standby = nodes.back().get();
    ASSERT_NO_FATAL_FAILURE(standby->InitStandby(*primary));
    ASSERT_NO_FATAL_FAILURE(standby->Start());
    ASSERT_TRUE(WaitUntil([&] {
      return primary->Query("SELECT sync_state FROM pg_stat_replication") == "sync";
    })) << primary->Log();
    // Data directories of killed primaries are not needed any more.
    for (auto& n : nodes) {
      if (n.get() != primary && n.get() != standby && n->Running()) n->Stop("immediate");
    }
  }
  // Commits in flight at a kill may be there too; none acknowledged may be missing.
  EXPECT_GE(std::atoll(primary->Query("SELECT count(*) FROM acked").c_str()),
            static_cast<long long>(acked.size()));
}

}  // namespace
}  // namespace walrep::testing
