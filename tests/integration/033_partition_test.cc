// walrep: network partitions. Each server runs in its own network namespace on a bridged virtual
// network (tests/support/network.h); the test cuts links with drop rules while the servers work
// and checks what PostgreSQL users rely on: a standby cut off during load notices, reconnects and
// converges once the link heals; a synchronous commit waits through a partition and completes
// after it; a primary isolated from its standbys acknowledges no synchronous commit it could not
// replicate, even after a standby was promoted in its place; one-way, flapping and lossy links
// are survived; and over a slow link a synchronous commit takes the round trip.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "network.h"
#include "testing.h"

namespace walrep::testing {
namespace {

using namespace std::chrono_literals;

// A dead link is noticed in seconds rather than PostgreSQL's default minute.
void FastTimeouts(Node& n, const std::string& file) {
  n.AppendConf("wal_sender_timeout = 2s", file);
  n.AppendConf("wal_receiver_timeout = 2s", file);
  n.AppendConf("wal_retrieve_retry_interval = 200ms", file);
}

// A primary and `standbys` standbys, each on its own host of one virtual network, and table
// t (id int PRIMARY KEY). `sync_names`, when given, becomes synchronous_standby_names once every
// standby streams.
struct NetCluster {
  VirtualNetwork net;  // declared first: removed after the servers stopped
  Node primary{"primary"};
  std::vector<std::unique_ptr<Node>> standbys;

  void Start(int n, const std::string& sync_names = "") {
    net.AddHost(primary);
    ASSERT_NO_FATAL_FAILURE(primary.Init());
    FastTimeouts(primary, "postgresql.conf");
    ASSERT_NO_FATAL_FAILURE(primary.Start());
    primary.SafePsql("CREATE TABLE t (id int PRIMARY KEY)");
    for (int i = 1; i <= n; i++) {
      standbys.push_back(std::make_unique<Node>("standby" + std::to_string(i)));
      Node& s = *standbys.back();
      net.AddHost(s);
      ASSERT_NO_FATAL_FAILURE(s.InitStandby(primary));
      // A connection attempt to a cut-off host is given up after 2 s, not TCP's two minutes.
      s.AppendConf(fmt::format("primary_conninfo = 'host={} port={} user=postgres "
                               "connect_timeout=2'",
                               primary.address(), primary.port()),
                   "postgresql.auto.conf");
      ASSERT_NO_FATAL_FAILURE(s.Start());
    }
    ASSERT_TRUE(WaitUntil([&] { return Streaming() == static_cast<int>(standbys.size()); }));
    if (!sync_names.empty()) {
      primary.SafePsql("ALTER SYSTEM SET synchronous_standby_names = '" + sync_names + "'");
      primary.SafePsql("SELECT pg_reload_conf()");
    }
  }
  Node& standby(int i) { return *standbys[static_cast<size_t>(i - 1)]; }
  // Walsenders of the primary in state streaming.
  int Streaming() const {
    return std::stoi(
        primary.Query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"));
  }
};

// Rows inserted one per transaction by a thread, each id recorded once acknowledged.
class InsertLoad {
 public:
  InsertLoad(const Node& n, const std::string& level, int first_id) : conn_(n.Connect()) {
    thread_ = std::thread([this, level, first_id] {
      Exec(conn_, "SET synchronous_commit = " + level);
      for (int id = first_id; !stop_; id++) {
        if (Exec(conn_, fmt::format("INSERT INTO t VALUES ({})", id)) != "INSERT 0 1") break;
        acked_ = id;
        count_++;
      }
    });
  }
  ~InsertLoad() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }
  int acked() const { return acked_.load(); }  // the last acknowledged id
  int count() const { return count_.load(); }  // acknowledged commits
  bool WaitForMore(int n, int secs = 60) {
    int target = count() + n;
    return WaitUntil([&] { return count() >= target; }, secs);
  }

 private:
  PGconn* conn_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> acked_{0};
  std::atomic<int> count_{0};
};

std::string Summary(const Node& n) { return n.Query("SELECT count(*) || '/' || sum(id) FROM t"); }

// Every id in [first, last] is on `n`.
void ExpectIds(const Node& n, int first, int last) {
  EXPECT_EQ(n.Query(fmt::format("SELECT count(*) FROM t WHERE id BETWEEN {} AND {}", first, last)),
            std::to_string(last - first + 1))
      << n.data_dir();
}

// The load stopped, the standby replays everything: every acknowledged row is there and its
// table is the primary's.
void StopAndExpectConverged(InsertLoad& load, const Node& p, const Node& s) {
  load.Stop();
  ASSERT_TRUE(WaitForReplay(p, s));
  ExpectIds(s, 1, load.acked());
  EXPECT_EQ(Summary(s), Summary(p));
}

TEST(PartitionTest, AStandbyCutOffDuringLoadReconnectsAndConverges) {
  NetCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(1));
  Node& p = c.primary;
  Node& s = c.standby(1);
  InsertLoad load(p, "on", 1);
  ASSERT_TRUE(load.WaitForMore(50));
  c.net.Partition({&p}, {&s});
  // Both ends notice the silent link by their timeouts.
  ASSERT_TRUE(WaitUntil([&] { return c.Streaming() == 0; }, 30));
  ASSERT_TRUE(WaitUntil(
      [&] { return s.Log().find("terminating walreceiver due to timeout") != std::string::npos; },
      30));
  // The primary goes on; the standby falls behind and keeps serving reads.
  ASSERT_TRUE(load.WaitForMore(100));
  int during = load.acked();
  EXPECT_EQ(s.Query(fmt::format("SELECT count(*) FROM t WHERE id = {}", during)), "0");
  c.net.HealAll();
  ASSERT_TRUE(WaitUntil([&] { return c.Streaming() == 1; }, 60)) << "the standby did not return";
  ASSERT_TRUE(load.WaitForMore(50));
  ASSERT_NO_FATAL_FAILURE(StopAndExpectConverged(load, p, s));
}

TEST(PartitionTest, ASynchronousCommitWaitsThroughAPartitionAndCompletesAfterIt) {
  NetCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(1, "standby1"));
  Node& p = c.primary;
  Node& s = c.standby(1);
  p.SafePsql("INSERT INTO t VALUES (1)");
  c.net.Partition({&p}, {&s});
  BackgroundCommit b(p, "on", "INSERT INTO t VALUES (2)");
  ASSERT_TRUE(WaitUntil([&] {
    return p.Query(fmt::format("SELECT wait_event FROM pg_stat_activity WHERE pid = {}",
                               b.pid())) == "SyncRep";
  }));
  // Still waiting once the primary has given up on the link.
  ASSERT_TRUE(WaitUntil([&] { return c.Streaming() == 0; }, 30));
  EXPECT_FALSE(b.done()) << b.result();
  c.net.HealAll();
  ASSERT_TRUE(b.WaitDone(60)) << "the commit did not complete after the partition healed";
  EXPECT_EQ(b.result(), "COMMIT");
  // Acknowledged means flushed on the standby.
  EXPECT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query("SELECT count(*) FROM t WHERE id = 2"), "1");
}

// Split brain as a DBA makes it: the primary is cut off from both standbys, one is promoted and
// the other follows it. Whatever the old primary was committing when it was cut off is never
// acknowledged — not while isolated, not after the network heals — and is on neither standby.
TEST(PartitionTest, AnIsolatedPrimaryAcknowledgesNothingItCouldNotReplicate) {
  NetCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(2, "ANY 1 (standby1, standby2)"));
  Node& p = c.primary;
  Node& s1 = c.standby(1);
  Node& s2 = c.standby(2);
  for (int id = 1; id <= 20; id++) p.SafePsql(fmt::format("INSERT INTO t VALUES ({})", id));
  c.net.Partition({&p}, {&s1, &s2});
  BackgroundCommit lost(p, "on", "INSERT INTO t VALUES (-1)");
  ASSERT_TRUE(WaitUntil([&] {
    return p.Query(fmt::format("SELECT wait_event FROM pg_stat_activity WHERE pid = {}",
                               lost.pid())) == "SyncRep";
  }));
  // Fail over to standby1; standby2 follows it onto the new timeline.
  ASSERT_EQ(s1.Query("SELECT pg_promote()"), "t");
  ASSERT_EQ(s1.Query("SELECT pg_is_in_recovery()"), "f");
  s2.SafePsql(
      fmt::format("ALTER SYSTEM SET primary_conninfo = 'host={} port={} user=postgres "
                  "connect_timeout=2'",
                  s1.address(), s1.port()));
  s2.SafePsql("SELECT pg_reload_conf()");
  s1.SafePsql("INSERT INTO t VALUES (21)");
  ASSERT_TRUE(WaitForReplay(s1, s2));
  ASSERT_EQ(s2.Query("SELECT count(*) FROM t WHERE id = 21"), "1");
  c.net.HealAll();
  // The old primary reaches its standbys again, but neither streams from it: nothing can
  // confirm its commit. (A negative: given the time for a walreceiver to have come back.)
  EXPECT_FALSE(WaitUntil([&] { return lost.done(); }, 5)) << lost.result();
  EXPECT_EQ(c.Streaming(), 0);
  for (Node* n : {&s1, &s2}) {
    ExpectIds(*n, 1, 21);
    EXPECT_EQ(n->Query("SELECT count(*) FROM t WHERE id = -1"), "0");
  }
  // The old primary dies with the commit unacknowledged.
  ASSERT_NO_FATAL_FAILURE(p.Kill9());
  ASSERT_TRUE(lost.WaitDone(30));
  EXPECT_NE(lost.result(), "COMMIT");
}

// A link that fails in one direction only is as dead as a cut one: it is noticed, and once it
// heals the standby converges.
TEST(PartitionTest, OneWayLinksAreNoticedAndHealed) {
  NetCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(1));
  Node& p = c.primary;
  Node& s = c.standby(1);
  InsertLoad load(p, "local", 1);
  for (bool primary_to_standby : {true, false}) {
    SCOPED_TRACE(primary_to_standby ? "primary -> standby dropped" : "standby -> primary dropped");
    ASSERT_TRUE(load.WaitForMore(50));
    if (primary_to_standby) {
      c.net.Block(p, s);
    } else {
      c.net.Block(s, p);
    }
    ASSERT_TRUE(WaitUntil([&] { return c.Streaming() == 0; }, 30));
    ASSERT_TRUE(load.WaitForMore(50));
    c.net.HealAll();
    ASSERT_TRUE(WaitUntil([&] { return c.Streaming() == 1; }, 60));
  }
  ASSERT_NO_FATAL_FAILURE(StopAndExpectConverged(load, p, s));
}

// A link that comes and goes every few hundred milliseconds under synchronous commits, then a
// lossy one: every acknowledged commit is on the standby, which ends identical to the primary.
TEST(PartitionTest, FlappingAndLossyLinksLoseNoAcknowledgedCommit) {
  NetCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(1, "standby1"));
  Node& p = c.primary;
  Node& s = c.standby(1);
  InsertLoad load(p, "on", 1);
  ASSERT_TRUE(load.WaitForMore(20));
  // Cuts alternate: a long one lasts until the primary gives the standby up (wal_sender_timeout),
  // a short one (300 ms, a flap) is over before either side notices. After each, synchronous
  // commits resume — through a new connection after a long cut, the same one after a flap.
  for (int i = 0; i < 8; i++) {
    c.net.Partition({&p}, {&s});
    if (i % 2 == 0) {
      ASSERT_TRUE(WaitUntil([&] { return c.Streaming() == 0; }, 30)) << "cut " << i;
    } else {
      std::this_thread::sleep_for(300ms);
    }
    c.net.HealAll();
    ASSERT_TRUE(WaitUntil([&] { return c.Streaming() == 1; }, 30)) << "heal " << i;
    ASSERT_TRUE(load.WaitForMore(3)) << "synchronous commits did not resume after cut " << i;
  }
  ASSERT_TRUE(load.WaitForMore(20)) << "synchronous commits did not resume";
  c.net.SetLoss(p, 10);
  c.net.SetLoss(s, 10);
  ASSERT_TRUE(load.WaitForMore(100, 120)) << "no progress over a lossy link";
  c.net.HealAll();
  ASSERT_NO_FATAL_FAILURE(StopAndExpectConverged(load, p, s));
}

// The median of `n` commits' latencies, in milliseconds.
double MedianCommitMs(PGconn* c, int first_id, int n) {
  std::vector<double> ms;
  for (int id = first_id; id < first_id + n; id++) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(Exec(c, fmt::format("INSERT INTO t VALUES ({})", id)), "INSERT 0 1");
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// A synchronous standby behind a slow link (a proxy that holds every chunk for 60 ms each way):
// a synchronous commit takes at least the 120 ms round trip and not much more; a local commit
// does not wait for the link at all.
TEST(SlowLinkTest, SynchronousCommitLatencyFollowsTheRoundTrip) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int PRIMARY KEY)");
  DelayProxy link(p.port());
  Node s("standby1");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf(
      fmt::format("primary_conninfo = 'host=127.0.0.1 port={} user=postgres'", link.port()),
      "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitForReplay(p, s));
  p.SafePsql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'");
  p.SafePsql("SELECT pg_reload_conf()");
  PGconn* c = p.Connect();
  double fast = MedianCommitMs(c, 1, 10);
  link.set_delay_ms(60);
  double slow = MedianCommitMs(c, 100, 10);
  Exec(c, "SET synchronous_commit = local");
  double local = MedianCommitMs(c, 200, 10);
  PQfinish(c);
  EXPECT_GE(slow, 120.0) << "faster than the round trip: the commit did not wait for the standby";
  EXPECT_LT(slow, 120.0 + fast + 200.0) << "fast link: " << fast << " ms";
  EXPECT_LT(local, 60.0);
  ASSERT_TRUE(WaitForReplay(p, s));
  ExpectIds(s, 100, 109);
}

}  // namespace
}  // namespace walrep::testing
