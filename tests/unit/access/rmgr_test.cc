// Unit tests for the resource-manager table: every rmgr walrep writes is registered, records
// are described as pg_waldump does, and an unknown rmgr fails redo with PostgreSQL's text.
#include "walrep/access/rmgr.h"

#include <gtest/gtest.h>

#include <cstring>

#include "walrep/access/btree.h"
#include "walrep/access/sequence.h"

namespace walrep::access {
namespace {

wal::DecodedRecord Record(uint8_t rmid, uint8_t info, std::string main_data,
                          TransactionId xid = 0) {
  wal::DecodedRecord r;
  r.rmid = rmid;
  r.info = info;
  r.main_data = std::move(main_data);
  r.xid = xid;
  r.lsn = Lsn(0x3000060);
  r.prev = Lsn(0x3000028);
  r.tot_len = 34;
  return r;
}

void Put32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }

TEST(Rmgr, EveryResourceManagerWalrepWritesIsRegistered) {
  for (uint8_t id : std::initializer_list<uint8_t>{wal::kRmXlog, wal::kRmXact, wal::kRmStandby,
                                                   kRmHeap, kRmBtree, kRmSequence}) {
    const Rmgr* r = FindRmgr(id);
    ASSERT_NE(r, nullptr) << static_cast<int>(id);
    EXPECT_NE(r->redo, nullptr);
  }
  EXPECT_EQ(FindRmgr(77), nullptr);
  EXPECT_STREQ(FindRmgr(wal::kRmXact)->name, "Transaction");
}

// A remote_apply commit asks standbys for a reply once applied (XACT_COMPLETION_APPLY_FEEDBACK
// in the xinfo word); the relations still parse after it, and other commits do not ask.
TEST(Rmgr, CommitRecordsCarryTheApplyFeedbackRequest) {
  std::vector<RelFileNode> rels{RelFileNode{1663, 5, 16384}};
  std::string asks = EncodeXactRecord(0, {}, /*apply_feedback=*/true);
  EXPECT_TRUE(XactRecordHasInfo({}, true));
  EXPECT_TRUE(XactRecordRequestsApplyFeedback(wal::kXactCommit | wal::kXactHasInfo, asks));
  EXPECT_TRUE(XactRecordRels(wal::kXactCommit | wal::kXactHasInfo, asks).empty());
  std::string both = EncodeXactRecord(0, rels, true);
  EXPECT_TRUE(XactRecordRequestsApplyFeedback(wal::kXactCommit | wal::kXactHasInfo, both));
  ASSERT_EQ(XactRecordRels(wal::kXactCommit | wal::kXactHasInfo, both).size(), 1u);
  EXPECT_EQ(XactRecordRels(wal::kXactCommit | wal::kXactHasInfo, both)[0].rel, 16384u);
  EXPECT_FALSE(XactRecordRequestsApplyFeedback(wal::kXactCommit | wal::kXactHasInfo,
                                               EncodeXactRecord(0, rels)));
  EXPECT_FALSE(XactRecordHasInfo({}, false));
  EXPECT_FALSE(XactRecordRequestsApplyFeedback(wal::kXactCommit, EncodeXactRecord(0, {})));
  EXPECT_NE(Describe(Record(wal::kRmXact, wal::kXactCommit | wal::kXactHasInfo, both, 735))
                .find("desc: COMMIT 2000-01-01 00:00:00+00; rels: 1663/5/16384"),
            std::string::npos);
}

TEST(Rmgr, DescribesRecordsAsPgWaldump) {
  auto commit = Record(wal::kRmXact, wal::kXactCommit | wal::kXactHasInfo,
                       EncodeXactRecord(0, {RelFileNode{1663, 5, 16384}}), 735);
  EXPECT_EQ(Describe(commit),
            "rmgr: Transaction len (rec/tot): 34/34, tx: 735, lsn: 0/3000060, prev 0/3000028, "
            "desc: COMMIT 2000-01-01 00:00:00+00; rels: 1663/5/16384");
  std::string lock;
  Put32(&lock, 1);
  Put32(&lock, 735);
  Put32(&lock, 5);
  Put32(&lock, 16390);
  EXPECT_NE(Describe(Record(wal::kRmStandby, wal::kStandbyLock, lock))
                .find("desc: LOCK xid 735 db 5 rel 16390"),
            std::string::npos);
  std::string rp(8 + 64, '\0');
  std::memcpy(rp.data() + 8, "before_4", 8);
  EXPECT_NE(Describe(Record(wal::kRmXlog, wal::kXlogRestorePoint, rp))
                .find("desc: RESTORE_POINT before_4"),
            std::string::npos);
  wal::DecodedRecord leaf = Record(kRmBtree, kBtreeInsertLeaf, "");
  wal::BlockRef b;
  b.rnode = RelFileNode{1663, 5, 16400};
  b.block = 3;
  leaf.blocks.push_back(b);
  EXPECT_NE(Describe(leaf).find("desc: INSERT_LEAF, blkref #0: rel 1663/5/16400 blk 3"),
            std::string::npos)
      << Describe(leaf);
}

TEST(Rmgr, AnUnknownResourceManagerFailsRedo) {
  HeapEnv env;  // not touched: the record is refused first
  Status st = Redo(env, Record(77, 0, ""));
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_EQ(st.message(), "resource manager with ID 77 not registered (record at 0/3000060)");
  EXPECT_NE(Describe(Record(77, 0x10, "")).find("rmgr: custom77"), std::string::npos);
}

}  // namespace
}  // namespace walrep::access
