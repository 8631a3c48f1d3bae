// walrep: streaming replication end to end with PostgreSQL 15's tools — pg_basebackup and
// pg_verifybackup, two standbys and a cascaded one converging on a mixed workload, hot standby
// reads that never see half a transaction, read-only errors, restarts and kill -9.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

const char* kTables[] = {"accounts", "items", "notes"};

// Every row of the workload's tables, in a stable order.
std::string Dump(const Node& n) {
  std::string out;
  for (const char* t : kTables) {
    CommandResult r = n.Psql(std::string("SELECT * FROM ") + t + " ORDER BY 1");
    out += std::string(t) + ":\n" + r.out + r.err;
  }
  return out;
}

void MixedWorkload(const Node& p) {
  p.SafePsql("CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance bigint)");
  p.SafePsql(
      "INSERT INTO accounts SELECT g, 'owner ' || g, g * 10 FROM generate_series(1, 3000) g");
  p.SafePsql(
      "CREATE TABLE items (id bigint PRIMARY KEY, name varchar(40), price numeric, "
      "added timestamptz DEFAULT now())");
  p.SafePsql(
      "INSERT INTO items (id, name, price) SELECT g, 'item' || g, g * 1.5 FROM "
      "generate_series(1, 2000) g");
  p.SafePsql("CREATE INDEX items_name ON items (name)");
  p.SafePsql("UPDATE accounts SET balance = balance + 1 WHERE id % 7 = 0");
  p.SafePsql("DELETE FROM items WHERE id % 5 = 0");
  p.SafePsql("BEGIN; UPDATE accounts SET owner = 'rolled back'; ROLLBACK");
  p.SafePsql("CREATE TABLE scratch (a int); INSERT INTO scratch VALUES (1); DROP TABLE scratch");
  p.SafePsql("VACUUM accounts");
  p.SafePsql("VACUUM");
  p.SafePsql("CREATE TABLE notes (id int PRIMARY KEY, body text)");
  p.SafePsql("INSERT INTO notes VALUES (1, 'first'), (2, 'second'), (3, NULL)");
  p.SafePsql("ALTER TABLE notes ADD COLUMN tag text");
  p.SafePsql("UPDATE notes SET tag = 'x' WHERE id = 2");
  p.SafePsql("UPDATE accounts SET balance = 0 WHERE id BETWEEN 100 AND 200");
  p.SafePsql("CHECKPOINT");
  p.SafePsql("INSERT INTO accounts SELECT g, 'late ' || g, 1 FROM generate_series(3001, 3500) g");
}

// From the seeds (000_ and 003_): what DBAs run on a primary and on a standby.
const char* kPrimaryMonitoring[] = {
    "SELECT pid, usename, application_name, client_addr, client_hostname, client_port, "
    "backend_start, backend_xmin, state, sent_lsn, write_lsn, flush_lsn, replay_lsn, write_lag, "
    "flush_lag, replay_lag, sync_priority, sync_state, reply_time FROM pg_stat_replication;",
    "SELECT application_name, client_addr, "
    "pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)) AS send_lag, "
    "pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)) AS flush_lag, "
    "pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) AS replay_lag "
    "FROM pg_stat_replication;",
    "SELECT application_name, client_addr::text, state, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn) AS send_lag_bytes, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) AS flush_lag_bytes, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes, "
    "EXTRACT(EPOCH FROM write_lag) AS write_lag_seconds, "
    "EXTRACT(EPOCH FROM flush_lag) AS flush_lag_seconds, "
    "EXTRACT(EPOCH FROM replay_lag) AS replay_lag_seconds, sync_state "
    "FROM pg_stat_replication;",
    "SELECT slot_name, slot_type, database, active, restart_lsn, confirmed_flush_lsn, "
    "pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) AS lag_size "
    "FROM pg_replication_slots;",
    "SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS "
    "slot_lag_bytes FROM pg_replication_slots WHERE slot_type = 'physical';",
    "SELECT application_name, client_addr, state, sync_state, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn) AS send_lag_bytes, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn) AS write_lag_bytes, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) AS flush_lag_bytes, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes, write_lag, "
    "flush_lag, replay_lag FROM pg_stat_replication;",
    "SELECT slot_name, slot_type, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS "
    "retained_wal_bytes, pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) AS "
    "retained_wal FROM pg_replication_slots;",
    "SELECT pg_size_pretty(SUM(size)) AS wal_size FROM pg_ls_waldir();",
    "SHOW synchronous_commit;",
    "SHOW synchronous_standby_names;",
    "SELECT application_name, sync_state, sync_priority FROM pg_stat_replication ORDER BY "
    "sync_priority;",
    "SELECT application_name, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) / 1024 / 1024 AS "
    "lag_mb, replay_lag FROM pg_stat_replication;",
    "SELECT slot_name, active, pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), "
    "restart_lsn)) AS retained_wal FROM pg_replication_slots WHERE active = false;",
    "SELECT application_name, sync_state, state FROM pg_stat_replication WHERE sync_state = "
    "'sync';",
};
const char* kStandbyMonitoring[] = {
    "SELECT pg_is_in_recovery() AS is_standby, pg_last_wal_receive_lsn() AS last_received, "
    "pg_last_wal_replay_lsn() AS last_replayed, CASE WHEN pg_last_wal_receive_lsn() = "
    "pg_last_wal_replay_lsn() THEN 'Up to date' ELSE "
    "pg_size_pretty(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())) END "
    "AS replay_lag, pg_last_xact_replay_timestamp() AS last_replay_time, "
    "EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) AS lag_seconds;",
    "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
    "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS "
    "receive_replay_lag, pg_last_xact_replay_timestamp(), "
    "EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) AS time_lag_seconds",
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 'Up to date' "
    "ELSE 'Lag: ' || pg_size_pretty(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), "
    "pg_last_wal_replay_lsn())) END AS replication_status;",
    "SELECT pg_is_in_recovery() AS is_standby, CASE WHEN pg_is_in_recovery() THEN 'Still in "
    "recovery mode' ELSE 'Successfully promoted to primary' END AS status;",
    "SELECT * FROM pg_stat_wal_receiver;",
    "SELECT pg_is_in_recovery() AS is_standby, pg_last_wal_receive_lsn() AS receive_lsn, "
    "pg_last_wal_replay_lsn() AS replay_lsn, pg_wal_lsn_diff(pg_last_wal_receive_lsn(), "
    "pg_last_wal_replay_lsn()) AS replay_lag_bytes, pg_last_xact_replay_timestamp() AS "
    "last_replay_time, NOW() - pg_last_xact_replay_timestamp() AS replication_lag_time;",
    "SELECT * FROM pg_stat_activity WHERE backend_type = 'walreceiver' OR backend_type = "
    "'startup';",
};

TEST(StreamingTest, BaseBackupVerifiesAndStandbysConverge) {
  Node primary("primary");
  primary.Init();
  // No slots here: as on PostgreSQL, only wal_keep_size keeps the WAL a standby still needs from
  // the workload's CHECKPOINT (with wal_consistency_checking it writes ~150 MB in two seconds).
  // The standbys copy this file, so the cascade's upstream keeps its WAL too.
  primary.AppendConf("wal_keep_size = 1GB");
  primary.Start();
  primary.SafePsql("CREATE TABLE before_backup (id int PRIMARY KEY)");
  primary.SafePsql("INSERT INTO before_backup SELECT g FROM generate_series(1, 100) g");

  Node s1("standby1"), s2("standby2"), cascade("cascade");
  s1.InitStandby(primary, {"-P"});
  CommandResult v = RunCommand({PgBin("pg_verifybackup"), s1.data_dir()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("backup successfully verified"), std::string::npos) << v.out;
  EXPECT_TRUE(std::filesystem::exists(s1.data_dir() + "/standby.signal"));
  s1.Start();
  s2.InitStandby(primary, {"--manifest-checksums=SHA256"});
  v = RunCommand({PgBin("pg_verifybackup"), s2.data_dir()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  s2.Start();
  // The cascaded standby is cloned from the primary but follows standby1.
  cascade.InitStandby(primary);
  cascade.AppendConf(
      "primary_conninfo = 'host=127.0.0.1 port=" + std::to_string(s1.port()) + " user=postgres'",
      "postgresql.auto.conf");
  cascade.Start();

  MixedWorkload(primary);
  ASSERT_TRUE(WaitForReplay(primary, s1));
  ASSERT_TRUE(WaitForReplay(primary, s2));
  ASSERT_TRUE(WaitForReplay(primary, cascade));
  std::string expected = Dump(primary);
  EXPECT_NE(expected.find("3500|late 3500|1"), std::string::npos);
  EXPECT_EQ(Dump(s1), expected);
  EXPECT_EQ(Dump(s2), expected);
  EXPECT_EQ(Dump(cascade), expected);
  EXPECT_EQ(cascade.Query("SELECT count(*) FROM before_backup"), "100");
  // Index lookups on the standby use the replayed B-tree.
  EXPECT_EQ(s1.Query("SELECT price FROM items WHERE name = 'item77'"), "115.5");

  // Monitoring on both sides.
  EXPECT_EQ(primary.SafePsql("SELECT application_name, state, sync_state FROM "
                             "pg_stat_replication ORDER BY application_name"),
            "standby1|streaming|async\nstandby2|streaming|async");
  EXPECT_EQ(s1.Query("SELECT application_name FROM pg_stat_replication"), "cascade");
  EXPECT_EQ(s1.Query("SELECT status || ' ' || sender_port FROM pg_stat_wal_receiver"),
            "streaming " + std::to_string(primary.port()));
  EXPECT_EQ(s1.Query("SELECT pg_is_in_recovery()"), "t");
  EXPECT_EQ(primary.Query("SELECT pg_is_in_recovery()"), "f");
  EXPECT_EQ(s1.Query("SELECT pg_last_xact_replay_timestamp() IS NOT NULL"), "t");

  // The seeds' monitoring queries run unchanged.
  for (const char* sql : kPrimaryMonitoring) {
    CommandResult m = primary.Psql(sql);
    EXPECT_EQ(m.exit_code, 0) << sql << "\n" << m.err;
  }
  for (const char* sql : kStandbyMonitoring) {
    CommandResult m = s1.Psql(sql);
    EXPECT_EQ(m.exit_code, 0) << sql << "\n" << m.err;
  }

  // Writes on a standby: PostgreSQL's 25006 for each statement type.
  for (const char* sql :
       {"INSERT INTO accounts VALUES (0, 'x', 0)", "UPDATE accounts SET id = 1",
        "DELETE FROM accounts", "CREATE TABLE nope (a int)", "VACUUM", "TRUNCATE accounts",
        "DROP TABLE accounts", "CREATE INDEX nope ON accounts (owner)", "SELECT txid_current()"}) {
    std::string r = s2.Query(sql);
    EXPECT_EQ(r.substr(0, 13), "ERROR: 25006 ") << sql << ": " << r;
  }
  EXPECT_EQ(s2.Query("INSERT INTO accounts VALUES (0, 'x', 0)"),
            "ERROR: 25006 cannot execute INSERT in a read-only transaction");
  EXPECT_EQ(s2.Query("SELECT pg_current_wal_lsn()").substr(0, 12), "ERROR: 55000");
}

// The names of a process's threads (/proc/PID/task/*/comm), as `top -H` shows them.
std::multiset<std::string> ThreadNames(pid_t pid) {
  std::multiset<std::string> names;
  for (const auto& t :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream f(t.path() / "comm");
    std::string name;
    if (std::getline(f, name)) names.insert(name);
  }
  return names;
}

TEST(StreamingTest, ThreadsAreNamedForWhatTheyDo) {
  Node primary("primary");
  primary.Init();
  primary.AppendConf("archive_mode = on\narchive_command = '/bin/true'");  // an archiver too
  primary.Start();
  Node standby("standby");
  standby.InitStandby(primary);
  standby.Start();
  primary.SafePsql("CREATE TABLE t (id int)");
  ASSERT_TRUE(WaitForReplay(primary, standby));
  PGconn* reader = standby.Connect();  // a backend on the standby
  std::multiset<std::string> p, s;
  // The walsender's thread takes its name when the standby's connection becomes one.
  EXPECT_TRUE(WaitUntil([&] {
    p = ThreadNames(primary.pid());
    return p.count("walsender") == 1;
  })) << ::testing::PrintToString(p);
  for (const char* name :
       {"signal", "listener", "checkpointer", "autovacuum", "walwriter", "archiver"}) {
    EXPECT_EQ(p.count(name), 1u) << name << " in " << ::testing::PrintToString(p);
  }
  s = ThreadNames(standby.pid());
  for (const char* name : {"listener", "startup", "restartpoint", "walreceiver", "backend"}) {
    EXPECT_GE(s.count(name), 1u) << name << " in " << ::testing::PrintToString(s);
  }
  EXPECT_EQ(s.count("walwriter"), 0u) << "a standby writes no WAL of its own";
  PQfinish(reader);
}

TEST(StreamingTest, BaseBackupFormatsAndOptions) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int PRIMARY KEY)");
  primary.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 1000) g");
  TempDir out;
  std::string host = "127.0.0.1", port = std::to_string(primary.port());
  // Tar format with gzip.
  CommandResult r = RunCommand({PgBin("pg_basebackup"), "-h", host, "-p", port, "-U", "postgres",
                                "-D", out.path() + "/tar", "-Ft", "-z", "-X", "stream"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(out.path() + "/tar/base.tar.gz"));
  EXPECT_TRUE(std::filesystem::exists(out.path() + "/tar/backup_manifest"));
  CommandResult t = RunCommand({"tar", "-tzf", out.path() + "/tar/base.tar.gz"});
  EXPECT_NE(t.out.find("backup_label"), std::string::npos);
  EXPECT_NE(t.out.find("global/pg_control"), std::string::npos);
  // WAL fetched inside the archive, no manifest.
  r = RunCommand({PgBin("pg_basebackup"), "-h", host, "-p", port, "-U", "postgres", "-D",
                  out.path() + "/fetch", "-X", "fetch", "--no-manifest", "-c", "fast"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out.path() + "/fetch/backup_manifest"));
  bool has_wal = false;
  for (const auto& e : std::filesystem::directory_iterator(out.path() + "/fetch/pg_wal")) {
    has_wal |= e.path().filename().string().size() == 24;
  }
  EXPECT_TRUE(has_wal);
  // A server restored from a fetch backup (no standby.signal) recovers and opens for writes.
  Node restored("restored");
  std::filesystem::remove_all(restored.data_dir());
  std::filesystem::rename(out.path() + "/fetch", restored.data_dir());
  restored.AppendLocalConf("postgresql.conf");
  restored.Start();
  EXPECT_EQ(restored.Query("SELECT count(*) FROM t"), "1000");
  EXPECT_EQ(restored.Query("INSERT INTO t VALUES (5000)"), "INSERT 0 1");
  // walrepctl basebackup: pg_verifybackup accepts its output and it starts as a standby.
  Node mine("mine");
  r = RunCommand({WalrepBin("walrepctl"), "basebackup", "-d",
                  primary.ConnStr("application_name=mine"), "-D", mine.data_dir(), "-R", "-X",
                  "stream", "-c", "fast", "-P"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  CommandResult v = RunCommand({PgBin("pg_verifybackup"), mine.data_dir()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_TRUE(std::filesystem::exists(mine.data_dir() + "/standby.signal"));
  mine.AppendLocalConf("postgresql.auto.conf");
  mine.Start();
  primary.SafePsql("INSERT INTO t VALUES (6000)");
  ASSERT_TRUE(WaitForReplay(primary, mine));
  EXPECT_EQ(mine.Query("SELECT count(*) FROM t"), "1001");
  EXPECT_EQ(primary.Query("SELECT application_name FROM pg_stat_replication"), "mine");
  // Bad options get PostgreSQL's errors.
  PGconn* c = primary.Connect("replication=true");
  EXPECT_EQ(Exec(c, "BASE_BACKUP (FOO)"), "ERROR 42601");
  EXPECT_EQ(Exec(c, "BASE_BACKUP (CHECKPOINT 'bogus')"), "ERROR 42601");
  EXPECT_EQ(Exec(c, "BASE_BACKUP (MAX_RATE 1)"), "ERROR 22003");
  EXPECT_EQ(Exec(c, "BASE_BACKUP (LABEL 'a', LABEL 'b')"), "ERROR 42601");
  EXPECT_EQ(Exec(c, "BASE_BACKUP LABEL 'old'"), "ERROR 42601");
  PQfinish(c);
}

TEST(StreamingTest, BaseBackupOfAStandby) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v text)");
  primary.SafePsql("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 2000) g");
  Node standby("standby");
  standby.InitStandby(primary);
  standby.Start();
  primary.SafePsql("UPDATE t SET v = 'changed' WHERE id <= 100");
  primary.SafePsql("CHECKPOINT");
  primary.SafePsql("INSERT INTO t SELECT g, 'late' FROM generate_series(2001, 3000) g");
  ASSERT_TRUE(WaitForReplay(primary, standby));
  // pg_basebackup from the standby (its cascading walsender streams the WAL).
  Node copy("copy");
  copy.InitStandby(standby);
  CommandResult v = RunCommand({PgBin("pg_verifybackup"), copy.data_dir()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  std::string label;
  {
    std::ifstream in(copy.data_dir() + "/backup_label");
    label.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_NE(label.find("BACKUP FROM: standby"), std::string::npos) << label;
  copy.Start();
  primary.SafePsql("INSERT INTO t VALUES (5000, 'after')");
  ASSERT_TRUE(WaitForReplay(primary, copy));
  EXPECT_EQ(copy.Query("SELECT count(*), sum(id) FROM t"),
            primary.Query("SELECT count(*), sum(id) FROM t"));
  EXPECT_EQ(copy.Query("SELECT count(*) FROM t WHERE v = 'changed'"), "100");
}

TEST(StreamingTest, StandbyNeverShowsHalfATransaction) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  primary.SafePsql("CREATE TABLE a (id int PRIMARY KEY, bal bigint)");
  primary.SafePsql("CREATE TABLE b (id int PRIMARY KEY, bal bigint)");
  primary.SafePsql("INSERT INTO a SELECT g, 1000 FROM generate_series(1, 20) g");
  primary.SafePsql("INSERT INTO b SELECT g, 1000 FROM generate_series(1, 20) g");
  Node standby("standby");
  standby.InitStandby(primary);
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby));

  std::atomic<bool> stop{false};
  std::atomic<int> transfers{0};
  std::thread writer([&] {
    PGconn* c = primary.Connect();
    for (int i = 0; !stop.load(); i++) {
      int from = i % 20 + 1, to = (i * 7) % 20 + 1;
      std::string r = Exec(
          c, "BEGIN; UPDATE a SET bal = bal - 3 WHERE id = " + std::to_string(from) +
                 "; UPDATE b SET bal = bal + 3 WHERE id = " + std::to_string(to) +
                 "; UPDATE a SET bal = bal - 1 WHERE id = " + std::to_string(to) +
                 "; UPDATE a SET bal = bal + 1 WHERE id = " + std::to_string(from) + "; COMMIT");
      if (r == "COMMIT") transfers++;
    }
    PQfinish(c);
  });
  PGconn* r = standby.Connect();
  int checks = 0, bad = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (std::chrono::steady_clock::now() < until) {
    // One snapshot for both tables: their sums always add up.
    Exec(r, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    std::string sa = Exec(r, "SELECT sum(bal) FROM a");
    std::string sb = Exec(r, "SELECT sum(bal) FROM b");
    Exec(r, "COMMIT");
    if (std::stoll(sa) + std::stoll(sb) != 40000) bad++;
    // Within one statement too.
    if (Exec(r, "SELECT sum(bal) FROM a") == "") bad++;
    checks++;
  }
  stop = true;
  writer.join();
  PQfinish(r);
  EXPECT_GT(transfers.load(), 10);
  EXPECT_GT(checks, 10);
  EXPECT_EQ(bad, 0);
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_EQ(standby.Query("SELECT sum(bal) FROM a"), primary.Query("SELECT sum(bal) FROM a"));
}

TEST(StreamingTest, HotStandbyFeedbackKeepsRowsAStandbyQueryNeeds) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int PRIMARY KEY)");
  primary.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 1000) g");
  Node standby("standby");
  standby.InitStandby(primary);
  standby.AppendConf("hot_standby_feedback = on", "postgresql.auto.conf");
  standby.AppendConf("wal_receiver_status_interval = 1s", "postgresql.auto.conf");
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby));
  PGconn* c = standby.Connect();
  ASSERT_EQ(Exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ"), "BEGIN");
  ASSERT_EQ(Exec(c, "SELECT count(*) FROM t"), "1000\n");
  // The standby's snapshot reaches the primary as backend_xmin at the next status interval.
  // (Any xmin it reports from now on is at most this snapshot's: no transaction ran since.)
  ASSERT_TRUE(WaitUntil(
      [&] {
        return primary.Query("SELECT backend_xmin IS NOT NULL FROM pg_stat_replication") == "t";
      },
      30));
  primary.SafePsql("DELETE FROM t");
  primary.SafePsql("VACUUM t");
  primary.SafePsql("INSERT INTO t VALUES (5000)");
  ASSERT_TRUE(WaitForReplay(primary, standby));
  // VACUUM on the primary left the rows the standby's snapshot still sees.
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM t"), "1000\n");
  EXPECT_EQ(Exec(c, "COMMIT"), "COMMIT");
  EXPECT_EQ(Exec(c, "SELECT count(*), max(id) FROM t"), "1|5000\n");
  PQfinish(c);
}

TEST(StreamingTest, ReplayConflictsCancelStandbyQueriesAfterTheDelay) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int PRIMARY KEY)");
  primary.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 1000) g");
  Node standby("standby");
  standby.InitStandby(primary);
  standby.AppendConf("max_standby_streaming_delay = 1s", "postgresql.auto.conf");
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby));
  // A standby transaction whose snapshot still sees the rows the primary is about to remove.
  PGconn* c = standby.Connect();
  ASSERT_EQ(Exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ"), "BEGIN");
  ASSERT_EQ(Exec(c, "SELECT count(*) FROM t"), "1000\n");
  primary.SafePsql("DELETE FROM t WHERE id <= 500");
  primary.SafePsql("VACUUM t");
  primary.SafePsql("INSERT INTO t VALUES (5000)");
  // Replay waits max_standby_streaming_delay for the query, then cancels it (40001).
  auto t0 = std::chrono::steady_clock::now();
  std::string r = Exec(c, "SELECT count(*) FROM t WHERE pg_sleep(0.2) IS NOT NULL");
  for (int i = 0; i < 50 && r != "ERROR 40001"; i++) {
    r = Exec(c, "SELECT count(*) FROM t WHERE pg_sleep(0.2) IS NOT NULL");
  }
  EXPECT_TRUE(r == "ERROR 40001" || PQstatus(c) == CONNECTION_BAD) << r;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(800));
  PQfinish(c);
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_EQ(standby.Query("SELECT count(*) FROM t"), "501");
  EXPECT_EQ(standby.Query("SELECT confl_snapshot > 0 FROM pg_stat_database_conflicts WHERE "
                          "datname = 'postgres'"),
            "t");
  // With -1, replay waits as long as the query runs: nothing is cancelled.
  standby.AppendConf("max_standby_streaming_delay = -1", "postgresql.auto.conf");
  standby.SafePsql("SELECT pg_reload_conf()");
  c = standby.Connect();
  ASSERT_EQ(Exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ"), "BEGIN");
  ASSERT_EQ(Exec(c, "SELECT count(*) FROM t"), "501\n");
  primary.SafePsql("DELETE FROM t");
  primary.SafePsql("VACUUM t");
  // The standby has the VACUUM's WAL, and its replay waits for the query.
  std::string vacuumed = primary.Query("SELECT pg_current_wal_insert_lsn()");
  ASSERT_TRUE(WaitUntil(
      [&] {
        return standby.Query("SELECT pg_last_wal_receive_lsn() >= '" + vacuumed + "'") == "t";
      },
      30));
  EXPECT_EQ(standby.Query("SELECT pg_last_wal_replay_lsn() < '" + vacuumed + "'"), "t");
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM t"), "501\n");
  EXPECT_EQ(Exec(c, "COMMIT"), "COMMIT");
  PQfinish(c);
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_EQ(standby.Query("SELECT count(*) FROM t"), "0");
}

TEST(StreamingTest, CleanPrimaryShutdownStreamsItsLastCheckpoint) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int)");
  Node standby("standby");
  standby.InitStandby(primary);
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby));
  for (const char* mode : {"fast", "smart"}) {
    ASSERT_TRUE(WaitUntil([&] {
      return primary.Query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") ==
             "1";
    }));
    primary.SafePsql("INSERT INTO t SELECT g FROM generate_series(1, 1000) g");
    primary.Stop(mode);
    // The standby has received everything, the shutdown checkpoint included.
    CommandResult cd = RunCommand({PgBin("pg_controldata"), "-D", primary.data_dir()});
    std::smatch m;
    ASSERT_TRUE(std::regex_search(cd.out, m, std::regex("Latest checkpoint location: +(\\S+)")))
        << cd.out;
    std::string ckpt = m[1].str();
    EXPECT_TRUE(WaitUntil(
        [&] {
          return standby.Query("SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '" + ckpt +
                               "') > 0") == "t";
        },
        10))
        << mode << ": standby lacks the shutdown checkpoint " << ckpt << "\n"
        << standby.Log();
    primary.Start();
  }
  EXPECT_TRUE(WaitForReplay(primary, standby));
  EXPECT_EQ(standby.Query("SELECT count(*) FROM t"), "2000");
}

TEST(StreamingTest, RestartsAndKill9Converge) {
  Node primary("primary");
  primary.Init();
  primary.AppendConf("wal_retrieve_retry_interval = 200ms");
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v text)");
  Node standby("standby");
  standby.InitStandby(primary);
  standby.Start();
  int next = 1;
  auto insert_batch = [&](int n) {
    primary.SafePsql("INSERT INTO t SELECT g, 'v' || g FROM generate_series(" +
                     std::to_string(next) + ", " + std::to_string(next + n - 1) + ") g");
    next += n;
  };
  insert_batch(500);
  // The primary restarts: the walreceiver reconnects and streaming resumes.
  primary.Stop("fast");
  primary.Start();
  insert_batch(500);
  ASSERT_TRUE(WaitForReplay(primary, standby)) << standby.Log();
  EXPECT_EQ(standby.Query("SELECT count(*) FROM t"), "1000");
  // kill -9 of the standby: it restarts from its own WAL and catches up.
  standby.Kill9();
  insert_batch(500);
  standby.Start();
  insert_batch(500);
  ASSERT_TRUE(WaitForReplay(primary, standby)) << standby.Log();
  EXPECT_EQ(standby.Query("SELECT count(*), sum(id) FROM t"),
            primary.Query("SELECT count(*), sum(id) FROM t"));
  EXPECT_EQ(standby.Query("SELECT count(*) FROM t"), "2000");
  // A clean standby shutdown and restart, then a primary crash.
  standby.Stop("fast");
  insert_batch(100);
  standby.Start();
  primary.Kill9();
  primary.Start();
  insert_batch(100);
  ASSERT_TRUE(WaitForReplay(primary, standby)) << standby.Log();
  EXPECT_EQ(standby.Query("SELECT count(*) FROM t"), "2200");
  // A standby whose upstream hangs (SIGSTOP) still stops promptly.
  ::kill(primary.pid(), SIGSTOP);
  auto t0 = std::chrono::steady_clock::now();
  standby.Stop("fast");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  ::kill(primary.pid(), SIGCONT);
  // A smart shutdown of the primary does not wait for connected walsenders.
  standby.Start();
  ASSERT_TRUE(
      WaitUntil([&] { return primary.Query("SELECT count(*) FROM pg_stat_replication") == "1"; }));
  t0 = std::chrono::steady_clock::now();
  primary.Stop("smart");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

// Bytes the process has passed to write(2) and friends (wchar of /proc/PID/io).
uint64_t BytesWritten(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "wchar:") return value;
  }
  ADD_FAILURE() << "no wchar in /proc/" << pid << "/io";
  return 0;
}

// A standby catching up receives whole segments the primary has already written: it reserves
// them with fallocate instead of writing 16 MB of zeros into each before the WAL.
TEST(StreamingTest, CatchingUpStandbyDoesNotZeroFillWhatItReceivesInFull) {
  constexpr uint64_t kSeg = 16ull << 20;
  constexpr int kSegments = 8;
  Node primary("primary");
  primary.Init();
  primary.AppendConf("wal_keep_size = 512MB");
  primary.Start();
  primary.SafePsql("CREATE TABLE t (id int)");
  Node standby("standby");
  standby.InitStandby(primary);
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby)) << standby.Log();
  standby.Stop("fast");
  for (int i = 0; i < kSegments; i++) {
    primary.SafePsql("INSERT INTO t VALUES (" + std::to_string(i) + ")");
    primary.SafePsql("SELECT pg_switch_wal()");
  }
  standby.Start();
  ASSERT_TRUE(WaitForReplay(primary, standby)) << standby.Log();
  EXPECT_EQ(standby.Query("SELECT count(*) FROM t"), std::to_string(kSegments));
  // It received about kSegments segments and zero-filled the one it now follows the primary in
  // and the next; zero-filling the received ones too would have written each twice.
  uint64_t written = BytesWritten(standby.pid());
  EXPECT_LT(written, (kSegments + 4) * kSeg) << written;
  EXPECT_GE(written, (kSegments - 1) * kSeg) << written;
}

// Roles are catalog rows: CREATE/ALTER/DROP ROLE reach a running standby, follow their
// transaction, and survive kill -9.
TEST(StreamingTest, RolesReplicate) {
  Node primary("primary");
  primary.Init();
  primary.Start();
  Node standby("standby");
  standby.InitStandby(primary);
  standby.Start();
  ASSERT_EQ(primary.SafePsql("create role app login; alter role app set work_mem = '8MB'"), "");
  ASSERT_EQ(primary.SafePsql("begin; create role ghost login; rollback"), "");
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_EQ(standby.Query("select current_user", "user=app"), "app");
  EXPECT_EQ(standby.Query("show work_mem", "user=app"), "8MB");
  EXPECT_NE(standby.Query("select 1", "user=ghost").find("role \"ghost\" does not exist"),
            std::string::npos);
  ASSERT_EQ(primary.SafePsql("alter role app nologin; create role later login"), "");
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_NE(standby.Query("select 1", "user=app").find("role \"app\" is not permitted to log in"),
            std::string::npos);
  EXPECT_EQ(standby.Query("select current_user", "user=later"), "later");
  EXPECT_NE(standby.Query("create role x", "user=later").find("read-only transaction"),
            std::string::npos);
  primary.Kill9();
  primary.Start();
  EXPECT_EQ(primary.Query("select current_user", "user=later"), "later");
  ASSERT_EQ(primary.SafePsql("drop role later"), "");
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_NE(standby.Query("select 1", "user=later").find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace walrep::testing
