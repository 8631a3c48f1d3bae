// walrep: synchronous replication — each synchronous_commit level against a paused or stopped
// standby, FIRST/ANY rules and the sync_state values PostgreSQL's 007_sync_rep.pl checks,
// release at reload, and the cancel behaviour.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <regex>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

using namespace std::chrono_literals;

struct Cluster {
  Node primary{"primary"};
  std::vector<std::unique_ptr<Node>> standbys;

  // The rule is set once the standbys run: with it set and no standby, commits would wait.
  explicit Cluster(int n, const std::string& names) {
    primary.Init();
    primary.Start();
    primary.SafePsql("CREATE TABLE t (id int PRIMARY KEY)");
    for (int i = 1; i <= n; i++) {
      standbys.push_back(std::make_unique<Node>("standby" + std::to_string(i)));
      standbys.back()->InitStandby(primary);
      standbys.back()->Start();
    }
    for (auto& s : standbys) EXPECT_TRUE(WaitForReplay(primary, *s));
    SetNames(names);
    for (auto& s : standbys) EXPECT_TRUE(WaitForReplay(primary, *s));
  }
  std::string SyncStates() const {
    return primary.SafePsql(
        "SELECT application_name, sync_priority, sync_state FROM pg_stat_replication ORDER BY "
        "application_name");
  }
  void SetNames(const std::string& names) {
    primary.SafePsql("ALTER SYSTEM SET synchronous_standby_names = '" + names + "'");
    primary.SafePsql("SELECT pg_reload_conf()");
  }
};

// Waits (bounded) until the backend of `b` waits for synchronous standbys
// (pg_stat_activity.wait_event SyncRep). False if its commit returned instead; the caller
// prints b.result() then.
bool WaitsForSyncRep(const Node& p, const BackgroundCommit& b) {
  std::string query =
      "SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity WHERE "
      "pid = " +
      std::to_string(b.pid());
  return WaitUntil([&] { return b.done() || p.Query(query) == "IPC/SyncRep"; }, 30) && !b.done();
}

TEST(SyncRepTest, EachLevelWaitsForWhatItPromises) {
  Cluster c(1, "standby1");
  Node& p = c.primary;
  Node& s = *c.standbys[0];
  EXPECT_EQ(c.SyncStates(), "standby1|1|sync");
  int id = 1;
  auto next = [&] { return "INSERT INTO t VALUES (" + std::to_string(id++) + ")"; };
  // Standby process stopped: on and remote_write block, local and off do not.
  ::kill(s.pid(), SIGSTOP);
  for (const char* level : {"local", "off"}) {
    BackgroundCommit b(p, level, next());
    EXPECT_TRUE(b.WaitDone(10)) << level;
    EXPECT_EQ(b.result(), "COMMIT") << level;
  }
  for (const char* level : {"on", "remote_write"}) {
    BackgroundCommit b(p, level, next());
    EXPECT_TRUE(WaitsForSyncRep(p, b))
        << level << " returned while the standby was stopped: " << b.result();
    ::kill(s.pid(), SIGCONT);
    EXPECT_TRUE(b.WaitDone(30)) << level;
    EXPECT_EQ(b.result(), "COMMIT");
    ::kill(s.pid(), SIGSTOP);
  }
  ::kill(s.pid(), SIGCONT);
  // Replay paused: on returns (flushed), remote_apply waits until replay resumes, and then the
  // row is visible on the standby the moment COMMIT returns.
  ASSERT_EQ(s.Query("SELECT pg_wal_replay_pause()"), "");
  {
    BackgroundCommit b(p, "on", next());
    EXPECT_TRUE(b.WaitDone(10));
  }
  {
    int mine = id;
    BackgroundCommit b(p, "remote_apply", next());
    EXPECT_TRUE(WaitsForSyncRep(p, b))
        << "remote_apply returned while replay was paused: " << b.result();
    EXPECT_EQ(s.Query("SELECT pg_is_wal_replay_paused()"), "t");
    ASSERT_EQ(s.Query("SELECT pg_wal_replay_resume()"), "");
    EXPECT_TRUE(b.WaitDone(30));
    EXPECT_EQ(s.Query("SELECT count(*) FROM t WHERE id = " + std::to_string(mine)), "1");
  }
  // remote_apply in a loop: every committed row is readable on the standby at once.
  PGconn* w = p.Connect();
  PGconn* r = s.Connect();
  Exec(w, "SET synchronous_commit = remote_apply");
  for (int i = 0; i < 20; i++) {
    int mine = id;
    ASSERT_EQ(Exec(w, next()), "INSERT 0 1");
    EXPECT_EQ(Exec(r, "SELECT count(*) FROM t WHERE id = " + std::to_string(mine)), "1\n");
  }
  PQfinish(r);
  PQfinish(w);
}

TEST(SyncRepTest, FirstAndAnyQuorums) {
  Cluster c(3, "FIRST 2 (standby1, standby2, standby3)");
  Node& p = c.primary;
  EXPECT_EQ(c.SyncStates(), "standby1|1|sync\nstandby2|2|sync\nstandby3|3|potential");
  int id = 1;
  auto next = [&] { return "INSERT INTO t VALUES (" + std::to_string(id++) + ")"; };
  auto check = [&](bool expect_block, const std::string& what) {
    BackgroundCommit b(p, "on", next());
    if (expect_block) {
      EXPECT_TRUE(WaitsForSyncRep(p, b)) << what << ": " << b.result();
    } else {
      EXPECT_TRUE(b.WaitDone(10)) << what;
    }
    return b.done();
  };
  // FIRST 2 of 3: one standby down, commits proceed (standby3 takes over); two down, they block.
  c.standbys[0]->Stop("fast");
  EXPECT_TRUE(WaitUntil([&] { return c.SyncStates() == "standby2|2|sync\nstandby3|3|sync"; }))
      << c.SyncStates();
  check(false, "FIRST 2 with one standby down");
  ::kill(c.standbys[1]->pid(), SIGSTOP);
  {
    BackgroundCommit b(p, "on", next());
    EXPECT_TRUE(WaitsForSyncRep(p, b)) << "FIRST 2 with two standbys down"
                                       << ": " << b.result();
    ::kill(c.standbys[1]->pid(), SIGCONT);
    EXPECT_TRUE(b.WaitDone(30));
  }
  c.standbys[0]->Start();
  // ANY 2 of 3: every listed standby is a quorum member.
  c.SetNames("ANY 2 (standby1, standby2, standby3)");
  EXPECT_TRUE(WaitUntil([&] {
    return c.SyncStates() == "standby1|1|quorum\nstandby2|1|quorum\nstandby3|1|quorum";
  })) << c.SyncStates();
  ::kill(c.standbys[2]->pid(), SIGSTOP);
  check(false, "ANY 2 with one standby stopped");
  ::kill(c.standbys[1]->pid(), SIGSTOP);
  {
    BackgroundCommit b(p, "on", next());
    EXPECT_TRUE(WaitsForSyncRep(p, b)) << "ANY 2 with two standbys stopped"
                                       << ": " << b.result();
    ::kill(c.standbys[1]->pid(), SIGCONT);
    EXPECT_TRUE(b.WaitDone(30));
  }
  ::kill(c.standbys[2]->pid(), SIGCONT);
  // The transitions of PostgreSQL's 007_sync_rep.pl.
  c.SetNames("standby1,standby2");
  EXPECT_TRUE(WaitUntil([&] {
    return c.SyncStates() == "standby1|1|sync\nstandby2|2|potential\nstandby3|0|async";
  })) << c.SyncStates();
  c.SetNames("2(standby1,standby2)");
  EXPECT_TRUE(WaitUntil([&] {
    return c.SyncStates() == "standby1|1|sync\nstandby2|2|sync\nstandby3|0|async";
  })) << c.SyncStates();
  c.SetNames("ANY 2(standby1, standby2, standby4)");
  EXPECT_TRUE(WaitUntil([&] {
    return c.SyncStates() == "standby1|1|quorum\nstandby2|1|quorum\nstandby3|0|async";
  })) << c.SyncStates();
  c.SetNames("\"STANDBY3\", *");
  EXPECT_TRUE(WaitUntil([&] {
    return c.SyncStates() == "standby1|2|potential\nstandby2|2|potential\nstandby3|1|sync";
  })) << c.SyncStates();
}

TEST(SyncRepTest, ReloadReleasesAndCancelWarns) {
  Cluster c(1, "standby1");
  Node& p = c.primary;
  Node& s = *c.standbys[0];
  s.Stop("fast");
  {
    BackgroundCommit b(p, "on", "INSERT INTO t VALUES (1)");
    ASSERT_TRUE(WaitsForSyncRep(p, b)) << b.result();
    c.SetNames("");
    EXPECT_TRUE(b.WaitDone(10)) << "reload to '' did not release the commit";
    EXPECT_EQ(b.result(), "COMMIT");
  }
  c.SetNames("standby1");
  // PostgreSQL's default: a cancelled wait warns and the commit stands.
  PGconn* conn = p.Connect();
  std::atomic<bool> done{false};
  std::string warning;
  PQsetNoticeReceiver(
      conn,
      [](void* arg, const PGresult* res) {
        *static_cast<std::string*>(arg) += PQresultErrorMessage(res);
      },
      &warning);
  int pid = PQbackendPID(conn);
  std::string result;
  std::thread t([&] {
    result = Exec(conn, "INSERT INTO t VALUES (2)");
    done = true;
  });
  EXPECT_TRUE(WaitUntil(
      [&] {
        return done.load() || p.Query("SELECT wait_event FROM pg_stat_activity WHERE pid = " +
                                      std::to_string(pid)) == "SyncRep";
      },
      30));
  EXPECT_FALSE(done.load()) << result;
  EXPECT_EQ(p.Query("SELECT pg_cancel_backend(" + std::to_string(pid) + ")"), "t");
  EXPECT_TRUE(WaitUntil([&] { return done.load(); }, 10));
  t.join();
  EXPECT_EQ(result, "INSERT 0 1");
  EXPECT_NE(warning.find("WARNING:  canceling wait for synchronous replication due to user "
                         "request"),
            std::string::npos)
      << warning;
  EXPECT_NE(warning.find("The transaction has already committed locally, but might not have "
                         "been replicated to the standby."),
            std::string::npos)
      << warning;
  EXPECT_EQ(p.Query("SELECT count(*) FROM t"), "2");
  PQfinish(conn);
}

TEST(SyncRepTest, PerRoleSynchronousCommit) {
  Cluster c(1, "standby1");
  Node& p = c.primary;
  p.SafePsql("CREATE ROLE app LOGIN");
  p.SafePsql("ALTER ROLE app SET synchronous_commit = local");
  EXPECT_EQ(p.Query("SHOW synchronous_commit", "user=app"), "local");
  ::kill(c.standbys[0]->pid(), SIGSTOP);
  // The role's default: its commits do not wait for the stopped standby.
  EXPECT_EQ(p.Query("INSERT INTO t VALUES (1)", "user=app"), "INSERT 0 1");
  // The startup packet overrides the role's default, as in PostgreSQL.
  EXPECT_EQ(p.Query("SHOW synchronous_commit", "user=app options='-c synchronous_commit=off'"),
            "off");
  ::kill(c.standbys[0]->pid(), SIGCONT);
  p.SafePsql("ALTER ROLE app RESET synchronous_commit");
  EXPECT_EQ(p.Query("SHOW synchronous_commit", "user=app"), "on");
  EXPECT_EQ(p.Query("ALTER ROLE app SET max_connections = 5").substr(0, 12), "ERROR: 55P02");
  EXPECT_EQ(p.Query("ALTER ROLE app SET synchronous_commit = bogus").substr(0, 12), "ERROR: 22023");
}

TEST(SyncRepTest, LosslessCommitsAreInvisibleUntilConfirmed) {
  Cluster c(1, "standby1");
  Node& p = c.primary;
  Node& s = *c.standbys[0];
  c.primary.SafePsql("ALTER SYSTEM SET walrep.sync_commit_lossless = on");
  c.primary.SafePsql("SELECT pg_reload_conf()");
  ::kill(s.pid(), SIGSTOP);
  {
    BackgroundCommit b(p, "on", "INSERT INTO t VALUES (1)");
    ASSERT_TRUE(WaitsForSyncRep(p, b)) << b.result();
    // PostgreSQL would show the row to everyone here; lossless mode does not.
    EXPECT_EQ(p.Query("SELECT count(*) FROM t"), "0");
    // A cancel is answered with a NOTICE; the wait goes on.
    EXPECT_EQ(p.Query("SELECT pg_cancel_backend(" + std::to_string(b.pid()) + ")"), "t");
    std::this_thread::sleep_for(500ms);
    EXPECT_FALSE(b.done()) << "a cancel ended a lossless wait";
    EXPECT_EQ(p.Query("SELECT count(*) FROM t"), "0");
    ::kill(s.pid(), SIGCONT);
    EXPECT_TRUE(b.WaitDone(30));
    EXPECT_EQ(b.result(), "COMMIT");
  }
  EXPECT_EQ(p.Query("SELECT count(*) FROM t"), "1");
  // A terminated wait closes the connection without reporting success.
  ::kill(s.pid(), SIGSTOP);
  {
    BackgroundCommit b(p, "on", "INSERT INTO t VALUES (2)");
    ASSERT_TRUE(WaitsForSyncRep(p, b)) << b.result();
    EXPECT_EQ(p.Query("SELECT pg_terminate_backend(" + std::to_string(b.pid()) + ")"), "t");
    EXPECT_TRUE(b.WaitDone(10));
    EXPECT_NE(b.result(), "COMMIT");
    EXPECT_EQ(p.Query("SELECT count(*) FROM t"), "1");
  }
  // kill -9 of the primary during a wait: after the restart nothing is served until the
  // standby has confirmed the recovered WAL, so the unconfirmed row is never exposed early.
  {
    BackgroundCommit b(p, "on", "INSERT INTO t VALUES (3)");
    ASSERT_TRUE(WaitsForSyncRep(p, b)) << b.result();
    p.Kill9();
    EXPECT_TRUE(b.WaitDone(10));
    EXPECT_NE(b.result(), "COMMIT");
  }
  p.StartNoWait();
  EXPECT_TRUE(WaitUntil([&] {
    return p.Log().find("waiting for the synchronous standbys to confirm WAL") != std::string::npos;
  })) << p.Log();
  std::this_thread::sleep_for(500ms);
  std::string refused = p.Query("SELECT 1");
  EXPECT_NE(refused.find("the database system is starting up"), std::string::npos)
      << "served before confirmation: " << refused;
  ::kill(s.pid(), SIGCONT);
  EXPECT_TRUE(WaitUntil([&] { return p.Query("SELECT count(*) FROM t") == "3"; })) << p.Log();
  EXPECT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "3");
}

TEST(SyncRepTest, CommitLatencyWithOneSyncStandby) {
  Cluster c(1, "standby1");
  PGconn* w = c.primary.Connect();
  auto time_commits = [&](const char* level) {
    Exec(w, std::string("SET synchronous_commit = ") + level);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; i++) Exec(w, "INSERT INTO t VALUES (DEFAULT)");
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
               .count() /
           200;
  };
  Exec(w, "CREATE TABLE lat (id int)");
  Exec(w, "DROP TABLE t");
  Exec(w, "CREATE TABLE t (id int)");
  double local = time_commits("local");
  double on = time_commits("on");
  double apply = time_commits("remote_apply");
  std::printf("commit latency (ms): local %.3f, on %.3f, remote_apply %.3f\n", local, on, apply);
  // And as a DBA sees it: psql's \timing on a COMMIT with the synchronous standby.
  CommandResult t = RunCommand({"psql", "-X", c.primary.ConnStr(), "-c", "\\timing on", "-c",
                                "BEGIN; INSERT INTO t VALUES (1); COMMIT;"});
  EXPECT_EQ(t.exit_code, 0) << t.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(t.out, m, std::regex("Time: ([0-9.]+) ms"))) << t.out;
  std::printf("psql \\timing of BEGIN; INSERT; COMMIT with one sync standby: %s ms\n",
              m[1].str().c_str());
  EXPECT_LT(std::stod(m[1].str()), 100.0);
  // Loosely: one round trip plus the standby's flush, not a status interval (10 s).
  EXPECT_LT(on, local * 2 + 5);
  EXPECT_LT(apply, local * 2 + 10);
  PQfinish(w);
}

}  // namespace
}  // namespace walrep::testing
