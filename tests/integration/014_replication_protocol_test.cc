// walrep: the replication protocol against real clients — replication commands through libpq
// and psql, their errors, max_wal_senders, and PostgreSQL 15's pg_receivewal streaming
// byte-identical segments with and without a slot.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "testing.h"

namespace walrep::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ReplicationProtocolTest, CommandsAndErrors) {
  Node n;
  n.Init();
  n.Start();
  PGconn* c = n.Connect("replication=true");
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  // IDENTIFY_SYSTEM: PostgreSQL's columns; the system id is pg_controldata's.
  PGresult* r = PQexec(c, "IDENTIFY_SYSTEM");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  ASSERT_EQ(PQnfields(r), 4);
  EXPECT_STREQ(PQfname(r, 0), "systemid");
  EXPECT_STREQ(PQfname(r, 1), "timeline");
  EXPECT_STREQ(PQfname(r, 2), "xlogpos");
  EXPECT_STREQ(PQfname(r, 3), "dbname");
  EXPECT_EQ(PQftype(r, 1), 23u);
  EXPECT_STREQ(PQgetvalue(r, 0, 1), "1");
  EXPECT_TRUE(PQgetisnull(r, 0, 3));
  EXPECT_TRUE(std::regex_match(PQgetvalue(r, 0, 2), std::regex("[0-9A-F]+/[0-9A-F]+")));
  std::string sysid = PQgetvalue(r, 0, 0);
  PQclear(r);
  CommandResult cd = RunCommand({PgBin("pg_controldata"), "-D", n.data_dir()});
  EXPECT_NE(cd.out.find("Database system identifier:           " + sysid), std::string::npos)
      << cd.out;

  EXPECT_EQ(Exec(c, "SHOW wal_segment_size"), "16MB\n");
  EXPECT_EQ(Exec(c, "SHOW \"data_directory_mode\""), "0700\n");
  EXPECT_EQ(Exec(c, "SHOW nonexistent_guc"), "ERROR 42704");
  EXPECT_EQ(Exec(c, "SELECT 1"), "ERROR 0A000");
  EXPECT_EQ(Exec(c, "identify_system"), "ERROR 0A000");  // keywords are upper case only
  EXPECT_EQ(Exec(c, "START_REPLICATION bogus"), "ERROR 42601");
  EXPECT_EQ(Exec(c, "TIMELINE_HISTORY 0"), "ERROR 42601");
  EXPECT_EQ(Exec(c, "TIMELINE_HISTORY 1"), "ERROR 58P01");
  // Slots: create, duplicate, bad names, read, drop.
  EXPECT_EQ(Exec(c, "CREATE_REPLICATION_SLOT s1 PHYSICAL RESERVE_WAL"), "s1|0/0|NULL|NULL\n");
  EXPECT_EQ(Exec(c, "CREATE_REPLICATION_SLOT \"s1\" PHYSICAL"), "ERROR 42710");
  EXPECT_EQ(Exec(c, "CREATE_REPLICATION_SLOT \"Bad\" PHYSICAL"), "ERROR 42602");
  EXPECT_EQ(Exec(c, "CREATE_REPLICATION_SLOT s2 PHYSICAL (TWO_PHASE)"), "ERROR 42601");
  EXPECT_EQ(Exec(c, "CREATE_REPLICATION_SLOT s2 PHYSICAL (FOO)"), "ERROR XX000");
  EXPECT_EQ(Exec(c, "CREATE_REPLICATION_SLOT s3 LOGICAL pgoutput"), "ERROR 55000");
  std::string rs = Exec(c, "READ_REPLICATION_SLOT s1");
  EXPECT_TRUE(std::regex_match(rs, std::regex("physical\\|[0-9A-F]+/[0-9A-F]+\\|1\n"))) << rs;
  EXPECT_EQ(Exec(c, "READ_REPLICATION_SLOT nosuch"), "NULL|NULL|NULL\n");
  EXPECT_EQ(Exec(c, "START_REPLICATION SLOT nosuch 0/1000000"), "ERROR 42704");
  EXPECT_EQ(Exec(c, "START_REPLICATION 0/1000000 TIMELINE 2"), "ERROR XX000");
  // A temporary slot lives with the session and dies with any error in it.
  EXPECT_EQ(Exec(c, "CREATE_REPLICATION_SLOT tmp1 TEMPORARY PHYSICAL"), "tmp1|0/0|NULL|NULL\n");
  EXPECT_EQ(n.Query("SELECT temporary AND active FROM pg_replication_slots WHERE "
                    "slot_name = 'tmp1'"),
            "t");
  EXPECT_EQ(Exec(c, "SHOW nonexistent_guc"), "ERROR 42704");
  EXPECT_EQ(Exec(c, "READ_REPLICATION_SLOT tmp1"), "NULL|NULL|NULL\n");
  EXPECT_EQ(Exec(c, "DROP_REPLICATION_SLOT s1"), "DROP_REPLICATION_SLOT");
  EXPECT_EQ(Exec(c, "DROP_REPLICATION_SLOT s1"), "ERROR 42704");
  PQfinish(c);
  // A start point ahead of the flush position is refused after CopyBothResponse, as in
  // PostgreSQL, and the session is back in command mode.
  c = n.Connect("replication=true");
  r = PQexec(c, "START_REPLICATION FFFF/0 TIMELINE 1");
  EXPECT_EQ(PQresultStatus(r), PGRES_COPY_BOTH);
  PQclear(r);
  char* buf = nullptr;
  EXPECT_LT(PQgetCopyData(c, &buf, 0), 0);
  r = PQgetResult(c);
  ASSERT_NE(r, nullptr);
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "XX000");
  EXPECT_NE(std::string(PQresultErrorMessage(r))
                .find("requested starting point FFFF/0 is ahead "
                      "of the WAL flush position of this server"),
            std::string::npos)
      << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);

  // The SQL interface to slots, and persistence across a restart.
  EXPECT_EQ(n.Query("SELECT slot_name FROM pg_create_physical_replication_slot('keep', true)"),
            "keep");
  n.Stop();
  n.Start();
  EXPECT_EQ(n.Query("SELECT slot_type FROM pg_replication_slots WHERE restart_lsn IS NOT NULL"),
            "physical");
  EXPECT_EQ(n.Query("SELECT pg_drop_replication_slot('keep')"), "");
  EXPECT_EQ(n.Query("SELECT count(*) FROM pg_replication_slots"), "0");

  // psql, as a DBA would use it.
  CommandResult p = RunCommand(
      {"psql", "-X", "-A", "-t", n.ConnStr("replication=true"), "-c", "IDENTIFY_SYSTEM"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, sysid + "|1|" + n.Query("SELECT pg_current_wal_flush_lsn()") + "|\n");
}

TEST(ReplicationProtocolTest, MaxWalSenders) {
  Node n;
  n.Init();
  n.AppendConf("max_wal_senders = 1");
  n.Start();
  PGconn* a = n.Connect("replication=true");
  ASSERT_EQ(PQstatus(a), CONNECTION_OK);
  PGconn* b = n.Connect("replication=true");
  EXPECT_EQ(PQstatus(b), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(b))
                .find("number of requested standby connections "
                      "exceeds max_wal_senders (currently 1)"),
            std::string::npos)
      << PQerrorMessage(b);
  PQfinish(b);
  PQfinish(a);
  // Normal sessions are not walsenders.
  EXPECT_EQ(n.Query("SELECT 1"), "1");
}

void ReceiveAndCompare(bool with_slot) {
  Node n;
  n.Init();
  n.Start();
  TempDir out;
  std::vector<std::string> base = {PgBin("pg_receivewal"),   "-h", "127.0.0.1", "-p",
                                   std::to_string(n.port()), "-U", "postgres"};
  if (with_slot) {
    auto create = base;
    create.insert(create.end(), {"--slot=rw", "--create-slot"});
    CommandResult cr = RunCommand(create);
    ASSERT_EQ(cr.exit_code, 0) << cr.err;
  }
  n.SafePsql("CREATE TABLE t (id int PRIMARY KEY, v text)");
  auto argv = base;
  argv.insert(argv.end(), {"-D", out.path(), "-n", "--status-interval=1"});
  if (with_slot) argv.push_back("--slot=rw");
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execv(args[0], args.data());
    _exit(127);
  }
  // Two full segments of WAL: the first becomes complete while streaming.
  std::string start = n.Query("SELECT pg_current_wal_lsn()");
  n.SafePsql(
      "INSERT INTO t SELECT g, "
      "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' || g FROM generate_series(1, 100000) g");
  std::string last = n.Query("SELECT pg_walfile_name(pg_switch_wal())");
  bool complete = WaitUntil([&] { return std::filesystem::exists(out.path() + "/" + last); }, 60);
  if (with_slot) {
    // The slot follows pg_receivewal's flush reports (sent every --status-interval).
    EXPECT_TRUE(WaitUntil([&] {
      return n.Query("SELECT pg_wal_lsn_diff(restart_lsn, '" + start +
                     "') > 0 FROM pg_replication_slots") == "t";
    }));
  }
  ::kill(pid, SIGINT);
  int status;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(complete) << "pg_receivewal did not finish " << last;
  // Every completed segment equals the primary's byte for byte.
  int compared = 0;
  for (const auto& e : std::filesystem::directory_iterator(out.path())) {
    std::string name = e.path().filename().string();
    if (name.size() != 24) continue;
    std::string mine = ReadAll(n.data_dir() + "/pg_wal/" + name);
    ASSERT_EQ(mine.size(), 16u << 20) << name;
    EXPECT_TRUE(mine == ReadAll(e.path().string())) << name << " differs";
    compared++;
  }
  EXPECT_GE(compared, 2);
}

TEST(ReplicationProtocolTest, PgReceivewalSegmentsAreByteIdentical) { ReceiveAndCompare(false); }

TEST(ReplicationProtocolTest, PgReceivewalWithSlot) { ReceiveAndCompare(true); }

}  // namespace
}  // namespace walrep::testing
