// walrep: a failing disk. walrepd runs over an ErrorInjectionFileSystem (WALREP_IO_FAULTS names
// its rules file) and each test arms one fault while the server works, then checks the outcome
// PostgreSQL settled on after its fsync lesson: a failed WAL write or fsync, ENOSPC on WAL and a
// failed data-file fsync are a PANIC followed by crash recovery (never a retried fsync); a failed
// data-file write fails the checkpoint or the statement that needed it, and the server goes on;
// a disk-full data file is an ERROR 53100 for the statement. Where walrep's design makes a retry
// safe it keeps serving instead (pg_control is replaced atomically; a standby rewrites what it
// receives after its last good fsync). Afterwards no acknowledged commit is missing.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "testing.h"

namespace walrep::testing {
namespace {

// Commits 1..n one by one; each was acknowledged.
void CommitRows(Node& n, int from, int to) {
  for (int i = from; i <= to; i++)
    n.SafePsql(fmt::format("INSERT INTO t VALUES ({}, 'row {}')", i, i));
}

// A node whose server reads I/O fault rules from a file in the test's directory.
class FaultyNode {
 public:
  explicit FaultyNode(const std::string& name) : node_(name) {}
  ~FaultyNode() { ::unsetenv("WALREP_IO_FAULTS"); }
  Node& node() { return node_; }
  void Init() { ASSERT_NO_FATAL_FAILURE(node_.Init()); }
  // Init, `conf`, start, and table t with rows 1..rows committed one by one.
  void InitWithRows(int rows, const std::string& conf = "") {
    ASSERT_NO_FATAL_FAILURE(Init());
    if (!conf.empty()) node_.AppendConf(conf);
    ASSERT_NO_FATAL_FAILURE(Start());
    node_.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v text)");
    CommitRows(node_, 1, rows);
  }
  // kill -9 and start again (crash recovery).
  void Crash() {
    ASSERT_NO_FATAL_FAILURE(node_.Kill9());
    ASSERT_NO_FATAL_FAILURE(Start());
  }
  void Start() {
    ::setenv("WALREP_IO_FAULTS", rules_.c_str(), 1);
    ASSERT_NO_FATAL_FAILURE(node_.Start());
    ::unsetenv("WALREP_IO_FAULTS");
  }
  // A new file renamed into place: the server notices every change at its next operation.
  void Arm(const std::string& rules) {
    std::ofstream(rules_ + ".new", std::ios::trunc) << rules << "\n";
    std::rename((rules_ + ".new").c_str(), rules_.c_str());
  }
  void Disarm() { std::remove(rules_.c_str()); }

 private:
  TempDir dir_;
  std::string rules_ = dir_.path() + "/io_faults";
  Node node_;
};

void ExpectRows(Node& n, int to) {
  EXPECT_EQ(n.Query(fmt::format("SELECT count(*) FROM t WHERE id BETWEEN 1 AND {}", to)),
            std::to_string(to));
}

// The server exits by itself (a PANIC), within the bound.
bool Panics(Node& n) {
  return WaitUntil([&] { return !n.Running(); }, 30);
}

struct WalFault {
  const char* name;
  const char* rule;
  const char* logged;
};

class WalFaultTest : public ::testing::TestWithParam<WalFault> {};

// WAL that cannot be written or made durable: the committing backend's server PANICs; crash
// recovery without the fault has every acknowledged commit.
TEST_P(WalFaultTest, IsAPanicAndRecoveryKeepsEveryCommit) {
  FaultyNode f("primary");
  Node& n = f.node();
  ASSERT_NO_FATAL_FAILURE(f.InitWithRows(50));
  f.Arm(GetParam().rule);
  CommandResult r = n.Psql("INSERT INTO t VALUES (51, 'never acknowledged')");
  EXPECT_NE(r.exit_code, 0) << "a commit whose WAL failed was acknowledged";
  ASSERT_TRUE(Panics(n)) << n.Log();
  std::string log = n.Log();
  EXPECT_NE(log.find("injected I/O fault"), std::string::npos) << log;
  EXPECT_NE(log.find(GetParam().logged), std::string::npos) << log;
  f.Disarm();
  ASSERT_NO_FATAL_FAILURE(f.Start());
  EXPECT_NE(n.Log().find("automatic recovery in progress"), std::string::npos);
  ExpectRows(n, 50);
  CommitRows(n, 52, 60);  // and it works again
  EXPECT_EQ(n.Query("SELECT count(*) FROM t WHERE id > 51"), "9");
}

INSTANTIATE_TEST_SUITE_P(
    Faults, WalFaultTest,
    ::testing::Values(WalFault{"WriteEio", "write pg_wal/0 EIO", "PANIC: could not write to WAL"},
                      WalFault{"WriteEnospc", "write pg_wal/0 ENOSPC", "No space left on device"},
                      WalFault{"ShortWrite", "write pg_wal/0 short",
                               "PANIC: could not write to WAL"},
                      WalFault{"FsyncEio", "sync pg_wal/0 EIO", "PANIC: could not fsync"}),
    [](const ::testing::TestParamInfo<WalFault>& i) { return i.param.name; });

// A data file that cannot be fsynced at a checkpoint: PANIC (the kernel may have dropped the
// dirty pages; a retried fsync could succeed and hide the loss), then crash recovery from the
// previous checkpoint's REDO point replays them.
TEST(IoFaultsTest, DataFileFsyncFailureAtACheckpointIsAPanic) {
  FaultyNode f("primary");
  Node& n = f.node();
  ASSERT_NO_FATAL_FAILURE(f.InitWithRows(30));
  f.Arm("sync base/ EIO");
  EXPECT_NE(n.Psql("CHECKPOINT").exit_code, 0);
  ASSERT_TRUE(Panics(n)) << n.Log();
  EXPECT_NE(n.Log().find("PANIC: could not fsync file"), std::string::npos) << n.Log();
  f.Disarm();
  ASSERT_NO_FATAL_FAILURE(f.Start());
  ExpectRows(n, 30);
  n.SafePsql("CHECKPOINT");
}

// A data-file write that fails at a checkpoint fails that checkpoint (ERROR), not the server;
// the pages stay dirty and the next checkpoint writes them.
TEST(IoFaultsTest, DataFileWriteFailureFailsOnlyTheCheckpoint) {
  FaultyNode f("primary");
  Node& n = f.node();
  ASSERT_NO_FATAL_FAILURE(f.InitWithRows(30));
  f.Arm("write base/ EIO");
  CommandResult r = n.Psql("CHECKPOINT");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("could not write to file"), std::string::npos) << r.err;
  ASSERT_TRUE(n.Running());
  ExpectRows(n, 30);
  f.Disarm();
  n.SafePsql("CHECKPOINT");
  // The pages the failed checkpoint could not write went out with the next one.
  ASSERT_NO_FATAL_FAILURE(f.Crash());
  ExpectRows(n, 30);
}

// A full disk under a table: the statement that needed the space fails with 53100 and
// PostgreSQL's hint, its rows are not there, the server goes on, and once space is back the
// same statement succeeds.
TEST(IoFaultsTest, DiskFullUnderATableIsAnErrorForTheStatement) {
  FaultyNode f("primary");
  Node& n = f.node();
  // The load below must write pages out as it goes.
  ASSERT_NO_FATAL_FAILURE(f.InitWithRows(10, "shared_buffers = 1MB"));
  f.Arm("write base/ ENOSPC");
  const std::string load =
      "INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1000, 20000) g";
  PGconn* c = n.Connect();
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  PGresult* res = PQexec(c, load.c_str());
  EXPECT_EQ(PQresultStatus(res), PGRES_FATAL_ERROR);
  auto field = [&](int code) { return ErrorField(res, code); };
  EXPECT_EQ(field(PG_DIAG_SQLSTATE), "53100");
  EXPECT_EQ(field(PG_DIAG_SEVERITY), "ERROR");
  EXPECT_NE(field(PG_DIAG_MESSAGE_PRIMARY).find("No space left on device"), std::string::npos)
      << field(PG_DIAG_MESSAGE_PRIMARY);
  EXPECT_EQ(field(PG_DIAG_MESSAGE_HINT), "Check free disk space.");
  PQclear(res);
  // The session goes on too.
  EXPECT_EQ(Exec(c, "SELECT 1"), "1\n");
  PQfinish(c);
  ASSERT_TRUE(n.Running()) << n.Log();
  f.Disarm();
  EXPECT_EQ(n.Query("SELECT count(*) FROM t"), "10");
  n.SafePsql(load);
  EXPECT_EQ(n.Query("SELECT count(*) FROM t"), "19011");
  ASSERT_NO_FATAL_FAILURE(f.Crash());
  EXPECT_EQ(n.Query("SELECT count(*) FROM t"), "19011");
}

// An error nothing below the session expected (here an exception thrown by a read of a table's
// file) ends the statement and its transaction with XX000, as PostgreSQL's elog(ERROR) does —
// never the server. The buffer being read in is given up, not left half-read for the next reader.
TEST(IoFaultsTest, AnUnexpectedExceptionEndsTheStatementNotTheServer) {
  FaultyNode f("primary");
  Node& n = f.node();
  ASSERT_NO_FATAL_FAILURE(f.InitWithRows(10));
  n.SafePsql("CREATE TABLE u (id int); INSERT INTO u SELECT g FROM generate_series(1, 500) g");
  std::string relfile = n.Query("SELECT relfilenode FROM pg_class WHERE relname = 'u'");
  ASSERT_NO_FATAL_FAILURE(n.Stop());  // u's pages leave the buffer pool
  ASSERT_NO_FATAL_FAILURE(f.Start());
  f.Arm(fmt::format("read base/5/{} exception times 1", relfile));
  PGconn* c = n.Connect();
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  EXPECT_EQ(Exec(c, "BEGIN"), "BEGIN");
  EXPECT_EQ(Exec(c, "UPDATE t SET v = 'never committed' WHERE id = 1"), "UPDATE 1");
  PGresult* res = PQexec(c, "SELECT count(*) FROM u");
  EXPECT_EQ(PQresultStatus(res), PGRES_FATAL_ERROR);
  auto field = [&](int code) { return ErrorField(res, code); };
  EXPECT_EQ(field(PG_DIAG_SQLSTATE), "XX000");
  EXPECT_EQ(field(PG_DIAG_SEVERITY), "ERROR");
  EXPECT_NE(field(PG_DIAG_MESSAGE_PRIMARY).find("internal error: injected exception: read file"),
            std::string::npos)
      << field(PG_DIAG_MESSAGE_PRIMARY);
  PQclear(res);
  EXPECT_EQ(Exec(c, "SELECT 1"), "ERROR 25P02");
  EXPECT_EQ(Exec(c, "ROLLBACK"), "ROLLBACK");
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM u"), "500\n");
  PQfinish(c);
  ASSERT_TRUE(n.Running()) << n.Log();
  EXPECT_NE(n.Log().find("internal error: injected exception"), std::string::npos) << n.Log();
  EXPECT_EQ(n.Query("SET lock_timeout = '10s'; UPDATE t SET v = 'after' WHERE id = 1 RETURNING v"),
            "after");
}

// A replication slot whose file cannot be written is not created (ERROR), and the server
// goes on.
TEST(IoFaultsTest, SlotFileFailureIsAnError) {
  FaultyNode f("primary");
  Node& n = f.node();
  ASSERT_NO_FATAL_FAILURE(f.Init());
  ASSERT_NO_FATAL_FAILURE(f.Start());
  f.Arm("sync pg_replslot/ EIO");
  CommandResult r = n.Psql("SELECT pg_create_physical_replication_slot('s1', true)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("could not fsync"), std::string::npos) << r.err;
  ASSERT_TRUE(n.Running());
  EXPECT_EQ(n.Query("SELECT count(*) FROM pg_replication_slots"), "0");
  f.Disarm();
  n.SafePsql("SELECT pg_create_physical_replication_slot('s1', true)");
  ASSERT_NO_FATAL_FAILURE(f.Crash());
  EXPECT_EQ(n.Query("SELECT slot_name FROM pg_replication_slots"), "s1");
}

// pg_control that cannot be replaced at a checkpoint fails that checkpoint (PostgreSQL PANICs:
// it rewrites pg_control in place, so a failed write may have torn it; walrep replaces it
// atomically, so the previous pg_control stays whole and in force). Nothing is removed, a crash
// recovers from the previous checkpoint, and the next checkpoint succeeds.
TEST(IoFaultsTest, ControlFileFailureFailsOnlyTheCheckpoint) {
  FaultyNode f("primary");
  Node& n = f.node();
  ASSERT_NO_FATAL_FAILURE(f.InitWithRows(20));
  std::string before = n.Query("SELECT checkpoint_lsn FROM pg_control_checkpoint()");
  for (const char* rule : {"rename global/pg_control EIO", "sync global/pg_control.tmp EIO",
                           "write global/pg_control.tmp ENOSPC"}) {
    f.Arm(rule);
    CommandResult r = n.Psql("CHECKPOINT");
    EXPECT_NE(r.exit_code, 0) << rule;
    EXPECT_NE(r.err.find("pg_control"), std::string::npos) << rule << ": " << r.err;
    ASSERT_TRUE(n.Running()) << rule;
    EXPECT_EQ(n.Query("SELECT checkpoint_lsn FROM pg_control_checkpoint()"), before) << rule;
  }
  f.Disarm();
  CommitRows(n, 21, 30);
  ASSERT_NO_FATAL_FAILURE(f.Crash());
  ExpectRows(n, 30);
  n.SafePsql("CHECKPOINT");
  EXPECT_NE(n.Query("SELECT checkpoint_lsn FROM pg_control_checkpoint()"), before);
}

// A standby that cannot write or fsync received WAL reports the error and streams again from
// the start of the segment (every byte after its last successful fsync is received and written
// anew before it is fsynced again, so a retried fsync cannot hide a lost page; PostgreSQL's
// walreceiver PANICs instead). Reads go on meanwhile; once the disk works it converges.
TEST(IoFaultsTest, StandbyReceivedWalFailureRetriesFromTheSegmentStart) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  p.AppendConf("wal_retrieve_retry_interval = 100ms", "postgresql.conf");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v text)");
  FaultyNode f("standby");
  Node& s = f.node();
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  ASSERT_NO_FATAL_FAILURE(f.Start());
  CommitRows(p, 1, 10);
  ASSERT_TRUE(WaitForReplay(p, s));
  int to = 10;
  for (const char* rule : {"write pg_wal/0 EIO", "sync pg_wal/0 EIO", "write pg_wal/0 short"}) {
    size_t logged = s.Log().size();
    f.Arm(rule);
    CommitRows(p, to + 1, to + 10);
    ASSERT_TRUE(WaitUntil([&] { return s.Log().find("could not", logged) != std::string::npos; }))
        << rule << "\n"
        << s.Log();
    ASSERT_TRUE(s.Running()) << rule;
    EXPECT_EQ(s.Query("SELECT count(*) FROM t WHERE id <= 10"), "10") << rule;
    f.Disarm();
    to += 10;
    ASSERT_TRUE(WaitForReplay(p, s)) << rule;
    ExpectRows(s, to);
  }
  // What it wrote is whole: a restart replays it from pg_wal.
  ASSERT_NO_FATAL_FAILURE(f.Crash());
  ExpectRows(s, to);
}

// A base backup reads the data directory and writes a server-side target through the same file
// system: a file that cannot be read, or a target that fills up, fails that backup with the
// error (pg_basebackup reports it and exits non-zero) and nothing else; the next backup is whole.
TEST(IoFaultsTest, BaseBackupReadOrTargetFailureFailsOnlyTheBackup) {
  FaultyNode f("primary");
  ASSERT_NO_FATAL_FAILURE(f.InitWithRows(20));
  Node& n = f.node();
  TempDir out;
  struct Case {
    const char* rule;
    std::vector<std::string> args;
    const char* error;
  };
  const Case cases[] = {
      // Tar format: a plain one stops on its own at the cut-off file before it reads the error.
      {"read base/ EIO times 1", {"-D", out.path() + "/client", "-Ft"}, "Input/output error"},
      {"write target/ ENOSPC",
       {"-t", "server:" + out.path() + "/target", "-X", "none"},
       "No space left on device"}};
  for (const Case& c : cases) {
    f.Arm(c.rule);
    std::vector<std::string> argv = {PgBin("pg_basebackup"), "-d", n.ConnStr(), "-c", "fast"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult r = RunCommand(argv);
    EXPECT_NE(r.exit_code, 0) << c.rule;
    EXPECT_NE(r.err.find(c.error), std::string::npos) << c.rule << "\n" << r.err;
    EXPECT_NE(n.Log().find("injected I/O fault"), std::string::npos) << c.rule;
    ASSERT_TRUE(n.Running()) << c.rule;
    ExpectRows(n, 20);
    f.Disarm();
    std::filesystem::remove_all(out.path() + "/client");
    std::filesystem::remove_all(out.path() + "/target");
    r = RunCommand(argv);
    ASSERT_EQ(r.exit_code, 0) << c.rule << "\n" << r.err;
    std::string dir = c.args[1].rfind("server:", 0) == 0 ? c.args[1].substr(7) : c.args[1];
    EXPECT_TRUE(std::filesystem::exists(dir + "/base.tar")) << c.rule;
    EXPECT_TRUE(std::filesystem::exists(dir + "/backup_manifest")) << c.rule;
  }
}

}  // namespace
}  // namespace walrep::testing
