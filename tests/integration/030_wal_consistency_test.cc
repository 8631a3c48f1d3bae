// walrep: wal_consistency_checking — the primary logs, with every page change of the listed
// resource managers, the page as it left it, and a standby compares each page it replays with
// that image (the oracle for replay: any change to redo must keep producing the primary's
// pages). PostgreSQL 15's pg_waldump shows the images in walrep's WAL.
#include <gtest/gtest.h>

#include <regex>

#include "testing.h"

namespace walrep::testing {
namespace {

std::string Dump(const Node& n) {
  std::string out;
  for (const char* t : {"accounts", "items", "notes"}) {
    out += n.SafePsql(std::string("SELECT * FROM ") + t + " ORDER BY 1");
  }
  return out;
}

// Block references with a verification image between two LSNs, and all block references.
std::pair<int, int> CountImages(const Node& n, const std::string& from, const std::string& to) {
  CommandResult r =
      RunCommand({PgBin("pg_waldump"), "-b", "-p", n.data_dir() + "/pg_wal", "-s", from, "-e", to});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  int verify = 0, refs = 0;
  std::regex blkref("blkref #");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), blkref);
       it != std::sregex_iterator(); ++it) {
    refs++;
  }
  for (size_t at = r.out.find("FPW for WAL verification"); at != std::string::npos;
       at = r.out.find("FPW for WAL verification", at + 1)) {
    verify++;
  }
  return {verify, refs};
}

TEST(WalConsistencyTest, StandbyReplaysEveryPageAsThePrimaryLeftIt) {
  Node primary("primary");
  ASSERT_NO_FATAL_FAILURE(primary.Init());
  primary.AppendConf("wal_consistency_checking = all");
  ASSERT_NO_FATAL_FAILURE(primary.Start());
  Node standby("standby");
  ASSERT_NO_FATAL_FAILURE(standby.InitStandby(primary));
  ASSERT_NO_FATAL_FAILURE(standby.Start());
  EXPECT_EQ(standby.Query("SHOW wal_consistency_checking"), "all");

  std::string from = primary.Query("SELECT pg_current_wal_insert_lsn()");
  primary.SafePsql("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance bigint)");
  primary.SafePsql(
      "INSERT INTO accounts SELECT g, 'owner ' || g, g FROM generate_series(1, 2000) g");
  primary.SafePsql(
      "CREATE TABLE items (id serial PRIMARY KEY, name varchar(40), price numeric, at timestamptz "
      "DEFAULT now())");
  primary.SafePsql("CREATE INDEX items_name ON items (name)");
  for (int i = 0; i < 20; i++) {
    primary.SafePsql("INSERT INTO items (name, price) VALUES ('item " + std::to_string(i) + "', " +
                     std::to_string(i) + ".5)");
  }
  primary.SafePsql("UPDATE accounts SET balance = balance + 1 WHERE id % 3 = 0");   // HOT
  primary.SafePsql("UPDATE items SET name = name || ' renamed' WHERE id % 2 = 0");  // new keys
  primary.SafePsql("DELETE FROM accounts WHERE id % 10 = 0");
  primary.SafePsql("BEGIN; UPDATE accounts SET owner = 'no'; ROLLBACK");
  primary.SafePsql("VACUUM accounts");
  primary.SafePsql("CREATE TABLE notes (id int PRIMARY KEY, body text)");
  primary.SafePsql("INSERT INTO notes VALUES (1, 'a'), (2, NULL)");
  primary.SafePsql("TRUNCATE notes");
  primary.SafePsql("INSERT INTO notes VALUES (3, repeat('x', 3000))");
  std::string to = primary.Query("SELECT pg_current_wal_insert_lsn()");
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_EQ(Dump(standby), Dump(primary));
  EXPECT_TRUE(standby.Running());
  EXPECT_EQ(standby.Log().find("inconsistent page found"), std::string::npos);
  auto [verify, refs] = CountImages(primary, from, to);
  EXPECT_GT(verify, 100) << "of " << refs << " block references";

  // Turned off at a reload: the records written from then on carry none.
  primary.SafePsql("ALTER SYSTEM SET wal_consistency_checking = ''");
  primary.SafePsql("SELECT pg_reload_conf()");
  ASSERT_TRUE(WaitUntil([&] { return primary.Query("SHOW wal_consistency_checking").empty(); }));
  from = primary.Query("SELECT pg_current_wal_insert_lsn()");
  primary.SafePsql("UPDATE accounts SET balance = balance + 1 WHERE id < 500");
  to = primary.Query("SELECT pg_current_wal_insert_lsn()");
  auto [none, refs_after] = CountImages(primary, from, to);
  EXPECT_EQ(none, 0);
  EXPECT_GT(refs_after, 0);
  ASSERT_TRUE(WaitForReplay(primary, standby));
  EXPECT_EQ(Dump(standby), Dump(primary));

  // PostgreSQL's error for a name that is not a resource manager with pages.
  CommandResult bad =
      primary.Psql("ALTER SYSTEM SET wal_consistency_checking = 'walrep_heap, nosuch'");
  EXPECT_NE(bad.err.find("invalid value for parameter \"wal_consistency_checking\""),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("Unrecognized key word: \"nosuch\"."), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace walrep::testing
