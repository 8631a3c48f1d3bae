// walrep: the catalog as a transaction sees it — its own DDL, command by command, savepoint
// rollbacks and other transactions' commits — read once per snapshot, not once per lookup.
#include "walrep/catalog/catalog.h"

#include <gtest/gtest.h>

#include "data_dir.h"
#include "testing.h"
#include "walrep/access/heap.h"

namespace walrep::catalog {
namespace {

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(testing::BootstrapDataDir(fs_, dir_.path()));
    engine_ = testing::OpenTestEngine(fs_, dir_.path());
    ASSERT_TRUE(engine_);
    catalog_ = std::make_unique<Catalog>(engine_.get());
    ASSERT_TRUE(catalog_->EnsureSystemRelations().ok());
  }
  void TearDown() override {
    catalog_.reset();
    if (engine_) {
      EXPECT_TRUE(engine_->Shutdown().ok());
    }
  }

  void Begin(access::TxnContext* tx) {
    access::AssignXidsFrom(tx, &engine_->txm(), &engine_->locks());
    tx->snapshot = engine_->txm().TakeSnapshot();
  }
  void Create(access::TxnContext& tx, const std::string& name) {
    TableDef def;
    def.name = name;
    ColumnDef v;
    v.name = "v";
    def.columns.push_back(v);
    auto made = catalog_->CreateTable(tx, def);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
  }
  bool Sees(access::TxnContext& tx, const std::string& name) {
    auto t = catalog_->GetTable(tx, name, access::LockMode::kNoLock);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() && t->has_value();
  }
  void CommitTable(const std::string& name) {
    access::TxnContext other;
    Begin(&other);
    ASSERT_NO_FATAL_FAILURE(Create(other, name));
    ASSERT_TRUE(engine_->CommitTransaction(other, true, nullptr).ok());
  }

  io::FileSystem* fs_ = io::DefaultFileSystem();
  testing::TempDir dir_;
  std::unique_ptr<access::Engine> engine_;
  std::unique_ptr<Catalog> catalog_;
};

// A transaction that changed the catalog (CREATE TABLE then a serial column's nextval() per row,
// as pg_restore --single-transaction does) reads it once, not once per lookup.
TEST_F(CatalogTest, TransactionThatChangedTheCatalogReadsItOncePerCommand) {
  access::TxnContext tx;
  Begin(&tx);
  ASSERT_NO_FATAL_FAILURE(Create(tx, "a"));
  tx.cid++;
  uint64_t before = catalog_->reads();
  for (int i = 0; i < 100; i++) ASSERT_TRUE(Sees(tx, "a"));
  EXPECT_EQ(catalog_->reads() - before, 1u);
  engine_->AbortTransaction(tx);
}

TEST_F(CatalogTest, RepeatableReadReadsItsSnapshotsCatalogOnce) {
  access::TxnContext tx;
  tx.repeatable_read = true;
  Begin(&tx);
  uint64_t before = catalog_->reads();
  for (int i = 0; i < 100; i++) ASSERT_FALSE(Sees(tx, "b"));
  EXPECT_EQ(catalog_->reads() - before, 1u);
  ASSERT_NO_FATAL_FAILURE(CommitTable("b"));
  EXPECT_FALSE(Sees(tx, "b"));  // committed after its snapshot
  access::TxnContext later;
  later.repeatable_read = true;
  Begin(&later);
  EXPECT_TRUE(Sees(later, "b"));
  engine_->AbortTransaction(tx);
  engine_->AbortTransaction(later);
}

// What the transaction sees changes with its own writes, its command id, a new statement
// snapshot and a rollback to a savepoint — and with nothing else.
TEST_F(CatalogTest, OwnViewFollowsWritesCommandsSnapshotsAndSavepoints) {
  access::TxnContext tx;
  Begin(&tx);
  ASSERT_NO_FATAL_FAILURE(Create(tx, "a"));
  EXPECT_FALSE(Sees(tx, "a"));  // created by this command: visible from the next one
  tx.cid++;
  EXPECT_TRUE(Sees(tx, "a"));

  ASSERT_NO_FATAL_FAILURE(Create(tx, "b"));
  tx.cid++;
  EXPECT_TRUE(Sees(tx, "b"));
  auto a = catalog_->GetTable(tx, "a", access::LockMode::kNoLock);
  ASSERT_TRUE(a.ok() && a->has_value());
  ASSERT_TRUE(catalog_->DropTable(tx, **a).ok());
  tx.cid++;
  EXPECT_FALSE(Sees(tx, "a"));

  // Read committed: another transaction's table appears with the next statement's snapshot.
  ASSERT_NO_FATAL_FAILURE(CommitTable("c"));
  EXPECT_FALSE(Sees(tx, "c"));
  tx.snapshot = engine_->txm().TakeSnapshot();
  EXPECT_TRUE(Sees(tx, "c"));

  // ROLLBACK TO SAVEPOINT takes back a table created after it.
  std::vector<access::UndoEntry> undo;
  tx.undo = &undo;
  ASSERT_NO_FATAL_FAILURE(Create(tx, "d"));
  tx.cid++;
  EXPECT_TRUE(Sees(tx, "d"));
  ASSERT_TRUE(access::HeapUndo(engine_->env(), tx, 0).ok());
  EXPECT_FALSE(Sees(tx, "d"));
  EXPECT_TRUE(Sees(tx, "b"));
  tx.undo = nullptr;

  ASSERT_TRUE(engine_->CommitTransaction(tx, true, nullptr).ok());
  access::TxnContext after;
  Begin(&after);
  EXPECT_FALSE(Sees(after, "a"));
  EXPECT_TRUE(Sees(after, "b"));
  EXPECT_TRUE(Sees(after, "c"));
  EXPECT_FALSE(Sees(after, "d"));
  engine_->AbortTransaction(after);
}

}  // namespace
}  // namespace walrep::catalog
