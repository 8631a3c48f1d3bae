// walrep: configuration files, reload, ALTER SYSTEM and per-session settings.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

bool Eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 200; i++) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

TEST(ConfigTest, ReloadBySignalAndByFunction) {
  Node n;
  n.Init();
  n.Start();
  EXPECT_EQ(n.SafePsql("show work_mem"), "4MB");
  n.AppendConf("work_mem = '12MB'");
  CommandResult r = RunCommand({WalrepBin("walrepctl"), "reload", "-D", n.data_dir()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "server signaled\n");
  EXPECT_TRUE(Eventually([&] { return n.SafePsql("show work_mem") == "12MB"; }));

  n.AppendConf("work_mem = '20MB'");
  n.AppendConf("max_connections = 50");  // postmaster context: needs a restart
  EXPECT_EQ(n.SafePsql("select pg_reload_conf(); show work_mem"), "t\n20MB");
  EXPECT_EQ(n.SafePsql("show max_connections"), "100");
  EXPECT_TRUE(Eventually([&] {
    return n.Log().find(
               "parameter \"max_connections\" cannot be changed without restarting the "
               "server") != std::string::npos;
  }));
  // A broken file changes nothing and says so.
  n.AppendConf("work_mem = 'plenty'");
  EXPECT_EQ(n.SafePsql("select pg_reload_conf(); show work_mem"), "t\n20MB");
  EXPECT_NE(n.Log().find("contains errors; no changes were applied"), std::string::npos);
}

TEST(ConfigTest, AlterSystemSurvivesRestart) {
  Node n;
  n.Init();
  n.Start();
  EXPECT_EQ(n.SafePsql("alter system set work_mem = '7MB'"), "");
  EXPECT_EQ(n.SafePsql("show work_mem"), "4MB");  // takes effect at reload
  EXPECT_EQ(n.SafePsql("select pg_reload_conf(); show work_mem"), "t\n7MB");
  EXPECT_EQ(n.SafePsql("alter system set max_wal_senders = 4"), "");
  std::ifstream in(n.data_dir() + "/postgresql.auto.conf");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("work_mem = '7MB'"), std::string::npos) << text;
  n.Stop();
  n.Start();
  EXPECT_EQ(n.SafePsql("show work_mem"), "7MB");
  EXPECT_EQ(n.SafePsql("show max_wal_senders"), "4");
  EXPECT_EQ(n.SafePsql("alter system reset work_mem; select pg_reload_conf(); show work_mem"),
            "t\n4MB");
  CommandResult bad = n.Psql("alter system set nosuch_param = 1");
  EXPECT_NE(bad.err.find("unrecognized configuration parameter \"nosuch_param\""),
            std::string::npos);
}

TEST(ConfigTest, CommandLineIncludesAndSessionSettings) {
  Node n;
  n.Init();
  n.WriteFile("extra.conf", "work_mem = 5MB\n");
  n.AppendConf("include 'extra.conf'");
  n.AppendConf("include_if_exists 'absent.conf'");
  n.Start({"-c", "statement_timeout=1min"});
  EXPECT_EQ(n.SafePsql("show work_mem"), "5MB");
  EXPECT_EQ(n.SafePsql("show statement_timeout"), "1min");
  EXPECT_EQ(n.SafePsql("select current_setting('statement_timeout')"), "1min");
  EXPECT_EQ(n.SafePsql("set work_mem = '9MB'; show work_mem"), "9MB");
  EXPECT_EQ(n.SafePsql("begin; set local work_mem = '1MB'; show work_mem; commit; show work_mem"),
            "1MB\n5MB");
  CommandResult r = n.Psql("set port = 1");
  EXPECT_NE(r.err.find("parameter \"port\" cannot be changed without restarting the server"),
            std::string::npos);
  CommandResult unknown = n.Psql("show no_such_guc");
  EXPECT_NE(unknown.err.find("unrecognized configuration parameter \"no_such_guc\""),
            std::string::npos);
  // An unknown setting in postgresql.conf stops the server from starting, as in PostgreSQL.
  n.Stop();
  n.AppendConf("wal_keep_segments = 32");
  CommandResult start = RunCommand({WalrepBin("walrepd"), "-D", n.data_dir()}, 30);
  EXPECT_EQ(start.exit_code, 1);
  EXPECT_NE(start.err.find("unrecognized configuration parameter \"wal_keep_segments\" in file"),
            std::string::npos)
      << start.err;
}

}  // namespace
}  // namespace walrep::testing
