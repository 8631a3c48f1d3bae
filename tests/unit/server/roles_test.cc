// walrep: the role store keeps verifiers, never clear text, and survives a reload from disk.
#include "walrep/server/roles.h"

#include <gtest/gtest.h>

#include "testing.h"
#include "walrep/protocol/auth.h"

namespace walrep::server {
namespace {

TEST(RoleStoreTest, CreateAlterDropPersist) {
  testing::TempDir dir;
  std::string path = dir.path() + "/roles";
  io::FileSystem* fs = io::DefaultFileSystem();
  ASSERT_TRUE(RoleStore::Initialize(fs, path, "postgres", std::string("pw")).ok());
  RoleStore store(fs, path);
  ASSERT_TRUE(store.Load().ok());
  auto su = store.Find("postgres");
  ASSERT_TRUE(su);
  EXPECT_TRUE(su->superuser && su->login && su->replication);
  EXPECT_TRUE(protocol::CheckPassword("postgres", "pw", su->password));

  sql::RoleOptions o;
  o.login = true;
  o.replication = true;
  o.password_given = true;
  o.password = "secret";
  ASSERT_TRUE(store.CreateRole("repl", o, "scram-sha-256").ok());
  EXPECT_EQ(store.CreateRole("repl", o, "scram-sha-256").message(), "role \"repl\" already exists");
  sql::RoleOptions m;
  m.password_given = true;
  m.password = "md5pw";
  ASSERT_TRUE(store.CreateRole("old", m, "md5").ok());
  EXPECT_EQ(store.CreateRole("pg_x", {}, "md5").sqlstate(), "42939");

  RoleStore again(fs, path);
  ASSERT_TRUE(again.Load().ok());
  auto repl = again.Find("repl");
  ASSERT_TRUE(repl);
  EXPECT_TRUE(repl->replication);
  EXPECT_TRUE(protocol::IsScramVerifier(repl->password));
  EXPECT_EQ(again.Find("old")->password, protocol::Md5Verifier("md5pw", "old"));
  std::string file = *fs->ReadFile(path);
  EXPECT_EQ(file.find("secret"), std::string::npos) << "clear-text password on disk";

  sql::RoleOptions off;
  off.login = false;
  off.password_given = true;  // PASSWORD NULL
  ASSERT_TRUE(again.AlterRole("repl", off, "scram-sha-256").ok());
  EXPECT_FALSE(again.Find("repl")->login);
  EXPECT_TRUE(again.Find("repl")->password.empty());
  ASSERT_TRUE(again.DropRole("old").ok());
  EXPECT_EQ(again.DropRole("old").sqlstate(), "42704");
  RoleStore third(fs, path);
  ASSERT_TRUE(third.Load().ok());
  EXPECT_FALSE(third.Find("old"));
}

TEST(RoleStoreTest, RoleSettingsPersist) {
  testing::TempDir dir;
  std::string path = dir.path() + "/roles";
  io::FileSystem* fs = io::DefaultFileSystem();
  // A file from before role settings existed (9 fields) still loads.
  ASSERT_TRUE(fs->WriteFileDurably(path, "postgres\t1\t1\t1\t1\t1\t1\t-1\t\n").ok());
  RoleStore store(fs, path);
  ASSERT_TRUE(store.Load().ok());
  ASSERT_TRUE(store.SetRoleSetting("postgres", "synchronous_commit", "local").ok());
  ASSERT_TRUE(store.SetRoleSetting("postgres", "search_path", "a, \"b c\"").ok());
  EXPECT_EQ(store.SetRoleSetting("nobody", "work_mem", "1MB").sqlstate(), "42704");
  EXPECT_EQ(store.SetRoleSetting("postgres", "work_mem", "a\tb").sqlstate(), "22023");
  RoleStore again(fs, path);
  ASSERT_TRUE(again.Load().ok());
  auto r = again.Find("postgres");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->settings.at("synchronous_commit"), "local");
  EXPECT_EQ(r->settings.at("search_path"), "a, \"b c\"");
  ASSERT_TRUE(again.SetRoleSetting("postgres", "synchronous_commit", std::nullopt).ok());
  EXPECT_EQ(again.Find("postgres")->settings.size(), 1u);
  ASSERT_TRUE(again.SetRoleSetting("postgres", "", std::nullopt).ok());  // RESET ALL
  EXPECT_TRUE(again.Find("postgres")->settings.empty());
}

}  // namespace
}  // namespace walrep::server
