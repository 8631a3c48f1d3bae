// walrep: the server's WAL — PostgreSQL 15's pg_waldump reads what walrepd wrote, checkpoints,
// segment switches and crash recovery after kill -9.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

std::vector<std::string> Segments(const std::string& dir) {
  std::vector<std::string> segs;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.size() == 24) segs.push_back(n);
  }
  std::sort(segs.begin(), segs.end());
  return segs;
}

// pg_waldump over every segment; the only acceptable complaint is the end of WAL.
void ExpectWaldumpReadsAll(const std::string& wal_dir, std::string* out) {
  auto segs = Segments(wal_dir);
  ASSERT_FALSE(segs.empty());
  CommandResult r = RunCommand({PgBin("pg_waldump"), "-p", wal_dir, segs.front(), segs.back()});
  *out = r.out;
  if (r.exit_code != 0) {
    EXPECT_TRUE(std::regex_search(r.err, std::regex("invalid record length at [0-9A-F]+/[0-9A-F]+: "
                                                    "wanted 24, got 0\n$")))
        << r.err;
  }
}

TEST(WalTest, WaldumpReadsEverySegmentTheServerWrote) {
  Node n;
  n.Init();
  n.AppendConf("wal_keep_size = 64MB");
  n.Start();
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(n.SafePsql("checkpoint"), "");
    std::string lsn = n.SafePsql("select pg_switch_wal()");
    EXPECT_TRUE(std::regex_match(lsn, std::regex("[0-9A-F]+/[0-9A-F]+"))) << lsn;
  }
  EXPECT_EQ(n.SafePsql("select pg_walfile_name('0/3000000'), pg_walfile_name('0/3000001')"),
            "000000010000000000000002|000000010000000000000003");
  EXPECT_EQ(n.SafePsql("select pg_wal_lsn_diff('0/3000000', '0/1000000')"), "33554432");
  EXPECT_EQ(n.SafePsql("select name from pg_ls_waldir() order by name limit 1"),
            "000000010000000000000001");
  std::string flush = n.SafePsql("select pg_current_wal_flush_lsn() >= pg_current_wal_lsn()");
  EXPECT_EQ(flush, "t");
  n.Stop();
  std::string out;
  ExpectWaldumpReadsAll(n.data_dir() + "/pg_wal", &out);
  EXPECT_NE(out.find("CHECKPOINT_ONLINE"), std::string::npos) << out;
  EXPECT_NE(out.find("SWITCH"), std::string::npos);
  EXPECT_NE(out.find("CHECKPOINT_SHUTDOWN"), std::string::npos);
  EXPECT_GE(Segments(n.data_dir() + "/pg_wal").size(), 4u) << "wal_keep_size keeps old segments";
  // pg_control points at the shutdown checkpoint, and PostgreSQL's pg_controldata agrees.
  CommandResult cd = RunCommand({PgBin("pg_controldata"), "-D", n.data_dir()});
  EXPECT_NE(cd.out.find("Database cluster state:               shut down"), std::string::npos);
}

TEST(WalTest, CrashRecoveryAfterKill9) {
  Node n;
  n.Init();
  n.Start();
  EXPECT_EQ(n.SafePsql("select pg_switch_wal() is not null"), "t");
  n.Kill9();
  n.Start();
  EXPECT_NE(
      n.Log().find("database system was not properly shut down; automatic recovery in progress"),
      std::string::npos);
  EXPECT_NE(n.Log().find("redo done at"), std::string::npos);
  EXPECT_EQ(n.SafePsql("select 1"), "1");
  CommandResult cd = RunCommand({WalrepBin("walrepctl"), "controldata", "-D", n.data_dir()});
  EXPECT_NE(cd.out.find("in production"), std::string::npos);
  n.Kill9();
  n.Start();
  n.Stop();
  std::string out;
  ExpectWaldumpReadsAll(n.data_dir() + "/pg_wal", &out);
}

}  // namespace
}  // namespace walrep::testing

namespace walrep::testing {
namespace {

TEST(WalTest, CheckpointerRunsWhenWalNearsMaxWalSize) {
  Node n;
  n.Init();
  n.AppendConf("max_wal_size = 2MB");
  n.Start();
  n.SafePsql("create table filler (id int, pad text)");
  std::string pad(1000, 'x');
  for (int i = 0; i < 30; i++) {
    std::string sql = "insert into filler values ";
    for (int j = 0; j < 50; j++)
      sql += std::string(j ? "," : "") + "(" + std::to_string(j) + ", '" + pad + "')";
    n.SafePsql(sql);
  }
  bool seen = false;
  for (int i = 0; i < 200 && !seen; i++) {
    seen = n.Log().find("checkpoint starting: wal") != std::string::npos;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(seen) << n.Log();
  EXPECT_EQ(n.SafePsql("select count(*) from filler"), "1500");
}

}  // namespace
}  // namespace walrep::testing

namespace walrep::testing {
namespace {

// Checkpoints recycle old segments into future ones within min_wal_size/max_wal_size, and the
// stale bytes of a recycled segment are never read as WAL: not by crash recovery, not by a
// standby, not by pg_waldump.
TEST(WalTest, SegmentsAreRecycled) {
  Node n("primary");
  n.Init();
  n.AppendConf("min_wal_size = 64MB");
  n.AppendConf("max_wal_size = 128MB");
  n.AppendConf("log_checkpoints = on");
  n.Start();
  ASSERT_EQ(n.SafePsql("create table big (id int primary key, pad text)"), "");
  int rows = 0;
  for (int round = 0; round < 8; round++) {
    ASSERT_EQ(n.SafePsql(fmt::format("insert into big select g, repeat('x', 1000) from "
                                     "generate_series({}, {}) g",
                                     rows + 1, rows + 6000)),
              "");
    rows += 6000;
    ASSERT_EQ(n.SafePsql("checkpoint"), "");
  }
  std::string log = n.Log();
  int recycled = 0;
  const std::regex recycled_re("(\\d+) recycled");
  for (std::sregex_iterator it(log.begin(), log.end(), recycled_re), end; it != end; ++it) {
    recycled += std::stoi((*it)[1]);
  }
  EXPECT_GT(recycled, 0) << log;
  // Bounded by max_wal_size (8 segments) plus the segments in use.
  EXPECT_LE(Segments(n.data_dir() + "/pg_wal").size(), 11u);
  // More WAL goes into the recycled segments; a standby streams it from them.
  Node standby("standby");
  standby.InitStandby(n, {"-C", "-S", "recycle_test"});  // its slot keeps what it still needs
  standby.Start();
  ASSERT_EQ(n.SafePsql(fmt::format("insert into big select g, repeat('y', 1000) from "
                                   "generate_series({}, {}) g",
                                   rows + 1, rows + 12000)),
            "");
  rows += 12000;
  ASSERT_TRUE(WaitForReplay(n, standby));
  EXPECT_EQ(standby.SafePsql("select count(*), min(pad) < max(pad) from big"),
            fmt::format("{}|t", rows));
  // pg_waldump from the last checkpoint's REDO segment to the end of WAL.
  std::string redo_file =
      n.SafePsql("select pg_walfile_name(redo_lsn) from pg_control_checkpoint()");
  std::string end_file = n.SafePsql("select pg_walfile_name(pg_current_wal_insert_lsn())");
  CommandResult dump =
      RunCommand({PgBin("pg_waldump"), "-p", n.data_dir() + "/pg_wal", redo_file, end_file});
  EXPECT_NE(dump.out.find("CHECKPOINT_ONLINE"), std::string::npos);
  EXPECT_NE(dump.out.find("COMMIT"), std::string::npos) << dump.err;
  // Crash recovery stops at the true end of WAL, not in a recycled segment's old bytes.
  n.Kill9();
  n.Start();
  EXPECT_EQ(n.SafePsql("select count(*), max(id) from big"), fmt::format("{}|{}", rows, rows));
  ASSERT_EQ(n.SafePsql("insert into big values (0, 'after')"), "");
  ASSERT_TRUE(WaitForReplay(n, standby));
  EXPECT_EQ(standby.SafePsql("select count(*) from big"), std::to_string(rows + 1));
}

// walrepctl waldump lists the same records as PostgreSQL 15's pg_waldump, with walrep's own
// resource managers named and described.
TEST(WalTest, WalrepctlWaldumpListsWhatPgWaldumpLists) {
  Node n;
  ASSERT_NO_FATAL_FAILURE(n.Init());
  ASSERT_NO_FATAL_FAILURE(n.Start());
  std::string start = n.Query("SELECT pg_current_wal_insert_lsn()");
  n.SafePsql("CREATE TABLE w (id int PRIMARY KEY)");
  n.SafePsql("INSERT INTO w SELECT g FROM generate_series(1, 20) g");
  n.SafePsql("SELECT pg_create_restore_point('here')");
  std::string end = n.Query("SELECT pg_current_wal_insert_lsn()");
  n.Stop();
  CommandResult ours =
      RunCommand({WalrepBin("walrepctl"), "waldump", "-D", n.data_dir(), "-s", start, "-e", end});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  EXPECT_NE(ours.out.find("rmgr: Transaction"), std::string::npos) << ours.out;
  EXPECT_NE(ours.out.find("desc: COMMIT 20"), std::string::npos) << ours.out;
  EXPECT_NE(ours.out.find("rmgr: walrep_heap"), std::string::npos) << ours.out;
  EXPECT_NE(ours.out.find("desc: RESTORE_POINT here"), std::string::npos) << ours.out;
  CommandResult theirs =
      RunCommand({PgBin("pg_waldump"), "-p", n.data_dir() + "/pg_wal", "-s", start, "-e", end});
  auto count = [](const std::string& out) {
    size_t c = 0;
    for (size_t p = 0; (p = out.find("rmgr: ", p)) != std::string::npos; p++) c++;
    return c;
  };
  EXPECT_GT(count(ours.out), 10u);
  EXPECT_EQ(count(ours.out), count(theirs.out)) << theirs.out << theirs.err;
}

}  // namespace
}  // namespace walrep::testing
