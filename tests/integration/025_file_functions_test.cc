// walrep: the file functions pg_rewind reads a source server with — pg_ls_dir, pg_stat_file
// and pg_read_binary_file — for superusers only and inside the data directory only.
#include <gtest/gtest.h>

#include <filesystem>

#include "testing.h"

namespace walrep::testing {
namespace {

TEST(FileFunctionsTest, ListStatAndReadInsideTheDataDirectoryOnly) {
  Node n("node");
  ASSERT_NO_FATAL_FAILURE(n.Init());
  ASSERT_NO_FATAL_FAILURE(n.Start());
  PGconn* c = n.Connect();
  EXPECT_NE(Exec(c, "SELECT * FROM pg_ls_dir('.')").find("global\n"), std::string::npos);
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM pg_ls_dir('pg_wal') WHERE pg_ls_dir = 'archive_status'"),
            "1\n");
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM pg_ls_dir('.', false, true) WHERE pg_ls_dir = '..'"),
            "1\n");
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM pg_ls_dir('nope', true, false)"), "0\n");
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM pg_ls_dir('nope')"), "ERROR 58P01");
  // A plain file is not a directory: an error for the statement, and the session goes on.
  EXPECT_EQ(Exec(c, "SELECT count(*) FROM pg_ls_dir('PG_VERSION')"), "ERROR 42809");
  EXPECT_EQ(Exec(c, "SELECT pg_ls_dir('PG_VERSION')"), "ERROR 42809");
  // Reading a directory: PostgreSQL's error (its read fails with EISDIR).
  EXPECT_EQ(Exec(c, "SELECT pg_read_binary_file('base')"), "ERROR 42809");
  EXPECT_EQ(Exec(c, "SELECT 1"), "1\n");
  // pg_control: 8192 bytes; a directory says so.
  EXPECT_EQ(Exec(c, "SELECT size, isdir FROM pg_stat_file('global/pg_control')"), "8192|f\n");
  EXPECT_EQ(Exec(c, "SELECT isdir FROM pg_stat_file('base')"), "t\n");
  EXPECT_EQ(Exec(c, "SELECT size IS NULL FROM pg_stat_file('missing', true)"), "t\n");
  EXPECT_EQ(Exec(c, "SELECT * FROM pg_stat_file('missing')"), "ERROR 58P01");
  // Reads: whole, a range, from the end, a missing file with missing_ok.
  std::string version = ReadWholeFile(n.data_dir() + "/PG_VERSION");
  ASSERT_FALSE(version.empty());
  EXPECT_EQ(Exec(c, "SELECT length(pg_read_binary_file('PG_VERSION'))"),
            std::to_string(version.size()) + "\n");
  EXPECT_EQ(Exec(c, "SELECT pg_read_binary_file('PG_VERSION', 0, 2)"), "\\x3135\n");  // "15"
  EXPECT_EQ(Exec(c, "SELECT pg_read_binary_file('PG_VERSION', -1, 10)"), "\\x0a\n");
  EXPECT_EQ(Exec(c, "SELECT pg_read_binary_file('global/pg_control', 8192, 10)"), "\\x\n");
  EXPECT_EQ(Exec(c, "SELECT pg_read_binary_file('missing', 0, 1, true) IS NULL"), "t\n");
  EXPECT_EQ(Exec(c, "SELECT pg_read_binary_file('PG_VERSION', 0, -1)"), "ERROR 22023");
  // Absolute paths inside the data directory are fine; anything outside is refused, even for
  // a superuser (PostgreSQL lets superusers read any file the server can).
  EXPECT_EQ(Exec(c, "SELECT length(pg_read_binary_file('" + n.data_dir() + "/PG_VERSION'))"),
            std::to_string(version.size()) + "\n");
  EXPECT_EQ(Exec(c, "SELECT pg_read_binary_file('/etc/passwd')"), "ERROR 42501");
  EXPECT_EQ(Exec(c, "SELECT pg_read_binary_file('../x/PG_VERSION')"), "ERROR 42501");
  EXPECT_EQ(Exec(c, "SELECT * FROM pg_ls_dir('base/..')"), "ERROR 42501");
  // Only superusers.
  n.SafePsql("CREATE ROLE reader LOGIN");
  PGconn* r = n.Connect("user=reader");
  ASSERT_EQ(PQstatus(r), CONNECTION_OK) << PQerrorMessage(r);
  EXPECT_EQ(Exec(r, "SELECT * FROM pg_ls_dir('.')"), "ERROR 42501");
  EXPECT_EQ(Exec(r, "SELECT * FROM pg_stat_file('PG_VERSION')"), "ERROR 42501");
  EXPECT_EQ(Exec(r, "SELECT pg_read_binary_file('PG_VERSION')"), "ERROR 42501");
  PQfinish(r);
  PQfinish(c);
}

}  // namespace
}  // namespace walrep::testing
