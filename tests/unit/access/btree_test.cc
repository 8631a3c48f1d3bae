// walrep: the B-tree — many inserts with splits, prefix and range scans, duplicates, and redo
// from page images after a crash.
#include "walrep/access/btree.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>

#include "data_dir.h"
#include "testing.h"
#include "walrep/access/engine.h"

namespace walrep::access {
namespace {

std::string Key(uint32_t v) {
  std::string k(4, '\0');
  for (int i = 0; i < 4; i++) k[i] = static_cast<char>(v >> (24 - 8 * i));
  return k;
}

std::unique_ptr<Engine> OpenEngine(const std::string& dir) {
  return testing::OpenTestEngine(io::DefaultFileSystem(), dir);
}

// Param: how many entries the index is bulk-built from (0: Create, then only inserts).
class BtreeTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(BtreeTest, InsertScanAndRecover) {
  const uint32_t built = GetParam();
  testing::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(testing::BootstrapDataDir(io::DefaultFileSystem(), dir.path()));
  const RelFileNode rel{1663, 5, 20000};
  std::multimap<uint32_t, TupleId> expect;
  {
    auto e = OpenEngine(dir.path());
    ASSERT_TRUE(e->smgr().Create(rel).ok());
    BtreeIndex idx(&e->env(), rel);
    std::mt19937 rng(7);
    std::vector<std::pair<std::string, TupleId>> initial;
    for (uint32_t i = 0; i < 20000; i++) {
      uint32_t k = rng() % 5000;  // many duplicates
      TupleId tid{i / 100, static_cast<OffsetNumber>(i % 100 + 1)};
      if (i < built) {
        initial.emplace_back(Key(k), tid);
      } else {
        if (i == built) {
          ASSERT_TRUE(built ? idx.Build(initial).ok() : idx.Create().ok());
        }
        ASSERT_TRUE(idx.Insert(Key(k), tid).ok()) << i;
      }
      expect.emplace(k, tid);
    }
    for (uint32_t k : {0u, 17u, 4999u, 1234u}) {
      auto got = idx.ScanPrefix(Key(k));
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(got->size(), expect.count(k)) << k;
    }
    auto range = idx.ScanRange(Key(100), Key(200));
    ASSERT_TRUE(range.ok());
    size_t want = 0;
    for (auto& [k, t] : expect) want += k >= 100 && k < 200;
    EXPECT_EQ(range->size(), want);
    ASSERT_TRUE(e->xlog().writer().FlushAll().ok());
    e->AbandonForTest();  // crash: pages were never written, only WAL
  }
  auto e = OpenEngine(dir.path());
  ASSERT_TRUE(e->xlog().Checkpoint(false, "end-of-recovery").ok());
  BtreeIndex idx(&e->env(), rel);
  for (uint32_t k : {0u, 17u, 4999u, 1234u}) {
    auto got = idx.ScanPrefix(Key(k));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->size(), expect.count(k)) << "after recovery, key " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Build, BtreeTest, ::testing::Values(0u, 1u, 10000u, 19999u));

}  // namespace
}  // namespace walrep::access

namespace walrep::access {
namespace {

// Keys of very different sizes on one page (found by fuzz_sql: a split by entry count left one
// half of long keys that did not fit on a page; the insert failed with "page full" after
// rewriting the page, unlogged, without them). A split divides bytes, and a key that could
// leave no room for two more on a page is refused with PostgreSQL's 54000.
TEST(BtreeSplitTest, KeysOfMixedSizesSplitByBytes) {
  testing::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(testing::BootstrapDataDir(io::DefaultFileSystem(), dir.path()));
  const RelFileNode rel{1663, 5, 20001};
  auto e = OpenEngine(dir.path());
  ASSERT_TRUE(e->smgr().Create(rel).ok());
  BtreeIndex idx(&e->env(), rel);
  ASSERT_TRUE(idx.Create().ok());
  std::mt19937 rng(3);
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < 3000; i++) {
    // Long keys sort before the short ones, as 'late ...' names before 'n1'..'n200'.
    std::string v = i % 3 == 0 ? "a" + std::string(600 + rng() % 1900, 'x') + std::to_string(i)
                               : "n" + std::to_string(i);
    std::string k;
    key::AppendBytes(v, &k);
    Status st = idx.Insert(k, TupleId{i / 100, static_cast<OffsetNumber>(i % 100 + 1)});
    ASSERT_TRUE(st.ok()) << i << ": " << st.message();
    keys.push_back(std::move(k));
  }
  for (const auto& k : keys) {
    auto got = idx.ScanPrefix(k);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 1u) << k.size();
  }
  std::string huge;
  key::AppendBytes(std::string(3000, 'y'), &huge);
  Status st = idx.Insert(huge, TupleId{99, 1});
  EXPECT_EQ(st.sqlstate(), "54000") << st.message();
  EXPECT_NE(st.message().find("index row size"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace walrep::access
