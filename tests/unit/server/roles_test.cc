// walrep: roles are catalog rows — transactional, kept as verifiers (never clear text), durable
// across restarts, and moved from init's global/walrep_roles into the catalog at first start.
#include "walrep/server/roles.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "data_dir.h"
#include "testing.h"
#include "walrep/protocol/auth.h"

namespace walrep::server {
namespace {

class RoleFixture {
 public:
  RoleFixture() {
    testing::BootstrapDataDir(fs_, dir_.path());
    EXPECT_TRUE(RoleStore::Initialize(fs_, legacy(), "postgres", std::string("pw")).ok());
  }
  ~RoleFixture() { Close(); }
  std::string legacy() const { return dir_.path() + "/global/walrep_roles"; }
  const std::string& path() const { return dir_.path(); }

  RoleStore& Open() {
    engine_ = testing::OpenTestEngine(fs_, dir_.path());
    catalog_ = std::make_unique<catalog::Catalog>(engine_.get());
    EXPECT_TRUE(catalog_->EnsureSystemRelations().ok());
    store_ = std::make_unique<RoleStore>(fs_, legacy());
    EXPECT_TRUE(store_->Attach(engine_.get(), catalog_.get(), true).ok());
    return *store_;
  }
  void Close() {
    store_.reset();
    catalog_.reset();
    if (engine_) {
      EXPECT_TRUE(engine_->Shutdown().ok());
    }
    engine_.reset();
  }
  // Runs fn in a transaction; commits when it succeeds and `commit`, else aborts.
  Status InTxn(const std::function<Status(access::TxnContext&)>& fn, bool commit = true) {
    access::TransactionManager& txm = engine_->txm();
    access::TxnContext tx;
    tx.snapshot = txm.TakeSnapshot();
    access::AssignXidsFrom(&tx, &txm);
    Status st = fn(tx);
    if (tx.xid != access::kInvalidXid) {
      if (st.ok() && commit) {
        EXPECT_TRUE(txm.Commit(tx.xid, true).ok());
      } else {
        EXPECT_TRUE(txm.Abort(tx.xid).ok());
      }
    }
    return st;
  }

 private:
  io::FileSystem* fs_ = io::DefaultFileSystem();
  testing::TempDir dir_;
  std::unique_ptr<access::Engine> engine_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<RoleStore> store_;
};

TEST(RoleStoreTest, CreateAlterDropPersist) {
  RoleFixture f;
  RoleStore& store = f.Open();
  EXPECT_FALSE(std::filesystem::exists(f.legacy())) << "init's file is moved into the catalog";
  auto su = store.Find("postgres");
  ASSERT_TRUE(su);
  EXPECT_TRUE(su->superuser && su->login && su->replication);
  EXPECT_TRUE(protocol::CheckPassword("postgres", "pw", su->password));

  sql::RoleOptions o;
  o.login = true;
  o.replication = true;
  o.password_given = true;
  o.password = "secret";
  ASSERT_TRUE(
      f.InTxn([&](auto& tx) { return store.CreateRole(tx, "repl", o, "scram-sha-256"); }).ok());
  EXPECT_EQ(
      f.InTxn([&](auto& tx) { return store.CreateRole(tx, "repl", o, "scram-sha-256"); }).message(),
      "role \"repl\" already exists");
  sql::RoleOptions m;
  m.password_given = true;
  m.password = "md5pw";
  ASSERT_TRUE(f.InTxn([&](auto& tx) { return store.CreateRole(tx, "old", m, "md5"); }).ok());
  EXPECT_EQ(f.InTxn([&](auto& tx) { return store.CreateRole(tx, "pg_x", {}, "md5"); }).sqlstate(),
            "42939");

  f.Close();
  RoleStore& again = f.Open();  // a restart
  auto repl = again.Find("repl");
  ASSERT_TRUE(repl);
  EXPECT_TRUE(repl->replication);
  EXPECT_TRUE(protocol::IsScramVerifier(repl->password));
  EXPECT_EQ(again.Find("old")->password, protocol::Md5Verifier("md5pw", "old"));
  for (const auto& e : std::filesystem::recursive_directory_iterator(f.path())) {
    if (!e.is_regular_file()) continue;
    std::string bytes = *io::DefaultFileSystem()->ReadFile(e.path().string());
    EXPECT_EQ(bytes.find("secret"), std::string::npos) << "clear-text password in " << e.path();
  }

  sql::RoleOptions off;
  off.login = false;
  off.password_given = true;  // PASSWORD NULL
  ASSERT_TRUE(f.InTxn([&](auto& tx) { return again.AlterRole(tx, "repl", off, "scram"); }).ok());
  EXPECT_FALSE(again.Find("repl")->login);
  EXPECT_TRUE(again.Find("repl")->password.empty());
  ASSERT_TRUE(f.InTxn([&](auto& tx) { return again.DropRole(tx, "old"); }).ok());
  EXPECT_EQ(f.InTxn([&](auto& tx) { return again.DropRole(tx, "old"); }).sqlstate(), "42704");
  f.Close();
  EXPECT_FALSE(f.Open().Find("old"));
}

TEST(RoleStoreTest, ChangesAreTransactional) {
  RoleFixture f;
  RoleStore& store = f.Open();
  // Inside the transaction the new role exists; for everyone else only after the commit, and
  // never when the transaction rolls back.
  EXPECT_TRUE(f.InTxn(
                   [&](access::TxnContext& tx) -> Status {
                     WALREP_RETURN_IF_ERROR(store.CreateRole(tx, "temp", {}, "md5"));
                     tx.cid++;  // the next command
                     WALREP_ASSIGN_OR_RETURN(auto mine, store.Find(tx, "temp"));
                     EXPECT_TRUE(mine);
                     EXPECT_FALSE(store.Find("temp"));
                     return Status::OK();
                   },
                   /*commit=*/false)
                  .ok());
  EXPECT_FALSE(store.Find("temp"));
  ASSERT_TRUE(f.InTxn(
                   [&](auto& tx) {
                     return store.SetRoleSetting(tx, "postgres", "work_mem", std::string("8MB"));
                   },
                   false)
                  .ok());
  EXPECT_TRUE(store.Find("postgres")->settings.empty());
}

TEST(RoleStoreTest, RoleSettingsPersist) {
  RoleFixture f;
  RoleStore& store = f.Open();
  auto set = [&](const std::string& role, const std::string& name,
                 const std::optional<std::string>& v) {
    return f.InTxn([&](auto& tx) { return store.SetRoleSetting(tx, role, name, v); });
  };
  ASSERT_TRUE(set("postgres", "synchronous_commit", "local").ok());
  ASSERT_TRUE(set("postgres", "search_path", "a, \"b c\"").ok());
  EXPECT_EQ(set("nobody", "work_mem", "1MB").sqlstate(), "42704");
  EXPECT_EQ(set("postgres", "work_mem", "a\tb").sqlstate(), "22023");
  f.Close();
  RoleStore& again = f.Open();
  auto r = again.Find("postgres");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->settings.at("synchronous_commit"), "local");
  EXPECT_EQ(r->settings.at("search_path"), "a, \"b c\"");
  ASSERT_TRUE(f.InTxn([&](auto& tx) {
                 return again.SetRoleSetting(tx, "postgres", "synchronous_commit", std::nullopt);
               }).ok());
  EXPECT_EQ(again.Find("postgres")->settings.size(), 1u);
  ASSERT_TRUE(f.InTxn([&](auto& tx) {
                 return again.SetRoleSetting(tx, "postgres", "", std::nullopt);  // RESET ALL
               }).ok());
  EXPECT_TRUE(again.Find("postgres")->settings.empty());
}

TEST(RoleStoreTest, OldRoleFilesLoad) {
  // A file from before role settings existed (9 fields) still loads.
  auto roles = RoleStore::Deserialize("postgres\t1\t1\t1\t1\t1\t1\t-1\t\n");
  ASSERT_TRUE(roles.ok());
  EXPECT_TRUE(roles->at("postgres").superuser);
  EXPECT_FALSE(RoleStore::Deserialize("bad line\n").ok());
}

}  // namespace
}  // namespace walrep::server
