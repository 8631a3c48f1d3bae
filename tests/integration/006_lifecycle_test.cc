// walrep: walrepctl and walrepd lifecycle — pg_ctl-compatible commands, exit codes, signals,
// postmaster.pid and the control file.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

CommandResult Ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {WalrepBin("walrepctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 90);
}

TEST(LifecycleTest, InitStartStatusStopWithWalrepctl) {
  TempDir base;
  PortLock port;
  std::string dir = base.path() + "/data";
  CommandResult init = Ctl({"init", "-D", dir, "-U", "postgres"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.out.find("Success."), std::string::npos);
  for (const char* f : {"PG_VERSION", "postgresql.conf", "postgresql.auto.conf", "pg_hba.conf",
                        "global/pg_control", "pg_wal", "base"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  }
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  CommandResult again = Ctl({"init", "-D", dir});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("exists but is not empty"), std::string::npos);

  EXPECT_EQ(Ctl({"status", "-D", dir}).exit_code, 3);
  EXPECT_EQ(Ctl({"status", "-D", base.path() + "/nothing"}).exit_code, 4);
  std::string opts = "-p " + std::to_string(port.port()) +
                     " -c unix_socket_directories=" + base.path() +
                     " -c listen_addresses=127.0.0.1";
  CommandResult start = Ctl({"start", "-D", dir, "-l", base.path() + "/log", "-o", opts});
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  EXPECT_NE(start.out.find("server started"), std::string::npos);
  CommandResult status = Ctl({"status", "-D", dir});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("server is running (PID: "), std::string::npos) << status.out;

  // The log has PostgreSQL's prefix shape: time, pid/thread, level.
  std::ifstream in(base.path() + "/log");
  std::string log((std::istreambuf_iterator<char>(in)), {});
  EXPECT_TRUE(std::regex_search(
      log,
      std::regex(
          R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \[\d+/\d+\] LOG:  database system is ready to accept connections)")))
      << log;

  // A second server on the same data directory is refused.
  CommandResult second = RunCommand({WalrepBin("walrepd"), "-D", dir, "-p", "1"}, 30);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("lock file \"" + dir + "/postmaster.pid\" already exists"),
            std::string::npos)
      << second.err;

  CommandResult cd = Ctl({"controldata", "-D", dir});
  EXPECT_NE(cd.out.find("Database cluster state:               in production"), std::string::npos);
  CommandResult restart = Ctl({"restart", "-D", dir, "-l", base.path() + "/log"});
  EXPECT_EQ(restart.exit_code, 0) << restart.out << restart.err;
  CommandResult q = RunCommand({PgBin("psql"), "-X", "-A", "-t", "-h", "127.0.0.1", "-p",
                                std::to_string(port.port()), "-U", "postgres", "-c", "select 1"});
  EXPECT_EQ(q.out, "1\n") << q.err;
  CommandResult stop = Ctl({"stop", "-D", dir, "-m", "fast"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_NE(stop.out.find("server stopped"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/postmaster.pid"));
  EXPECT_EQ(Ctl({"stop", "-D", dir}).exit_code, 1);
  cd = Ctl({"controldata", "-D", dir});
  EXPECT_NE(cd.out.find("Database cluster state:               shut down"), std::string::npos);
  // PostgreSQL's own pg_controldata reads the same file.
  CommandResult pgcd = RunCommand({PgBin("pg_controldata"), "-D", dir});
  EXPECT_EQ(pgcd.exit_code, 0) << pgcd.err;
  EXPECT_NE(pgcd.out.find("Database cluster state:               shut down"), std::string::npos)
      << pgcd.out;
  std::smatch m1, m2;
  std::regex id("Database system identifier: +(\\d+)");
  ASSERT_TRUE(std::regex_search(cd.out, m1, id));
  ASSERT_TRUE(std::regex_search(pgcd.out, m2, id));
  EXPECT_EQ(m1[1], m2[1]);
}

TEST(LifecycleTest, StalePidFileIsReplaced) {
  Node n;
  n.Init();
  std::ofstream(n.data_dir() + "/postmaster.pid") << "999999\n" << n.data_dir() << "\n";
  n.Start();
  EXPECT_EQ(n.SafePsql("select 1"), "1");
}

TEST(LifecycleTest, SmartShutdownWaitsForSessions) {
  Node n;
  n.Init();
  n.Start();
  PGconn* c = n.Connect();
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  ::kill(n.pid(), SIGTERM);
  // Once the server has taken the signal, new sessions are refused; it waits for this one.
  std::string refused;
  ASSERT_TRUE(WaitUntil(
      [&] {
        PGconn* late = n.Connect();
        refused = PQerrorMessage(late);
        PQfinish(late);
        return refused.find("the database system is shutting down") != std::string::npos;
      },
      30))
      << refused;
  EXPECT_TRUE(n.Running());
  PGresult* r = PQexec(c, "select 5");
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "5");
  PQclear(r);
  PQfinish(c);
  for (int i = 0; i < 200 && n.Running(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_FALSE(n.Running());
}

TEST(LifecycleTest, FastShutdownTerminatesSessions) {
  Node n;
  n.Init();
  n.Start();
  PGconn* c = n.Connect();
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  n.Stop("fast");
  PGresult* r = PQexec(c, "select 1");
  std::string err = PQerrorMessage(c);
  EXPECT_NE(err.find("terminating connection due to administrator command"), std::string::npos)
      << err;
  PQclear(r);
  PQfinish(c);
  EXPECT_NE(n.Log().find("database system is shut down"), std::string::npos);
  // Immediate shutdown, then a clean start again.
  n.Start();
  n.Stop("immediate");
  n.Start();
  EXPECT_EQ(n.SafePsql("select 2"), "2");
}

}  // namespace
}  // namespace walrep::testing
