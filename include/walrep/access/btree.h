// walrep: B-tree indexes over heap tuples.
//
// Keys are byte strings that compare with memcmp (upper layers encode typed values so that
// byte order is value order); every entry is (key, heap tid), so equal keys are kept in tid
// order and entries are unique. Page 0 is the meta page (root block); other pages are slotted
// pages whose items are kept sorted, with a 16-byte special area: right sibling (u32), level
// (u32, 0 = leaf), flags (u32), unused (u32). Internal items are (separator key, child block).
// WAL (resource manager 129): an insert into a leaf that has room logs the entry (INSERT_LEAF),
// the removal of dead entries logs their offsets (DELETE_ITEMS) — each with a full-page image
// instead on the page's first change after a checkpoint — and splits, builds and meta-page
// changes log full images of every page they modified, so a split is one atomic record. One mutex
// per index serialises writers and readers of that index; scans copy matching entries out before
// returning them. A scan may return tids whose heap tuples are dead: callers check visibility in
// the heap and remove the entries no snapshot can see (RemoveEntries, and VACUUM's RemoveDead).
// Thread safety: thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "walrep/access/heap.h"

namespace walrep::access {

// The key format: each column self-delimiting, ordered so that memcmp follows value order;
// NULLs sort last, as in PostgreSQL. Upper layers append their typed values with these.
namespace key {
void AppendNull(std::string* key);
// int2/int4/int8, date, timestamp, timestamptz (sign-flipped big-endian).
void AppendInt(int64_t v, std::string* key);
void AppendUnsigned(uint64_t v, std::string* key);  // pg_lsn
void AppendBool(bool v, std::string* key);
// numeric as mantissa * 10^-scale: equal values (1.5, 1.50) get equal bytes.
void AppendNumeric(__int128 mantissa, int scale, std::string* key);
// float4/float8: -0 is 0, NaN sorts above infinity (as PostgreSQL).
void AppendFloat(double v, std::string* key);
void AppendBytes(std::string_view v, std::string* key);  // text types, bytea
}  // namespace key

constexpr uint8_t kRmBtree = 129;            // walrep B-tree resource manager
constexpr uint8_t kBtreePages = 0x00;        // full images of every changed page
constexpr uint8_t kBtreeInsertLeaf = 0x10;   // one entry added to a leaf that did not split
constexpr uint8_t kBtreeDeleteItems = 0x20;  // entries removed from a leaf (dead tuples)

class BtreeIndex {
 public:
  BtreeIndex(HeapEnv* env, RelFileNode rel) : env_(env), rel_(rel) {}

  // Creates the meta page and an empty root leaf (WAL-logged).
  Status Create() EXCLUDES(mu_);
  Status Insert(const std::string& key, TupleId tid) EXCLUDES(mu_);
  // Builds a new index from entries (any order): leaves filled in key order, then the levels
  // above; each page is WAL-logged once. REQUIRES: a newly created, empty relation file.
  Status Build(std::vector<std::pair<std::string, TupleId>> entries) EXCLUDES(mu_);
  // Entries whose key starts with `prefix` (equality on leading columns), in key order.
  Result<std::vector<TupleId>> ScanPrefix(const std::string& prefix) EXCLUDES(mu_);
  // Entries with lo <= key < hi (hi empty: no upper bound).
  Result<std::vector<TupleId>> ScanRange(const std::string& lo, const std::string& hi)
      EXCLUDES(mu_);
  // Removes the entries under `prefix` pointing to `dead` tuples (which no snapshot can see),
  // as PostgreSQL's index scans kill dead entries; each changed leaf is WAL-logged.
  Status RemoveEntries(const std::string& prefix, const std::set<TupleId>& dead) EXCLUDES(mu_);
  // VACUUM: removes every entry for which is_dead(tid) holds, leaf by leaf (each changed leaf
  // WAL-logged). is_dead may read heap pages: the lock order is index, then heap.
  Status RemoveDead(const std::function<Result<bool>(TupleId)>& is_dead) EXCLUDES(mu_);
  Mutex* mutex() { return &mu_; }

 private:
  struct Item {
    std::string key;
    TupleId tid;            // leaf
    BlockNumber child = 0;  // internal
  };
  friend Status BtreeRedo(HeapEnv& env, const wal::DecodedRecord& rec);
  static Result<std::vector<Item>> ReadItems(storage::BufferPool::Handle& h, bool leaf);
  // Rewrites the page with `items` in order (so redo that rewrites it the same way produces
  // the same bytes).
  static Status WritePage(storage::BufferPool::Handle& h, const std::vector<Item>& items, bool leaf,
                          BlockNumber right, uint32_t level);
  static std::string EncodeLeafItem(const Item& it);
  // Logs one leaf change as a logical record (`data` for redo); `removal` adds the conflict
  // horizon.
  Status LogLeaf(storage::BufferPool::Handle& h, uint8_t info, std::string data, bool removal);
  Status LogPages(std::vector<storage::BufferPool::Handle*>& pages);
  // Removes the leaf's entries at `gone` (ascending offsets) and logs their positions.
  Status DeleteLeafItems(storage::BufferPool::Handle& h,
                         const std::vector<storage::OffsetNumber>& gone) REQUIRES(mu_);
  Result<BlockNumber> FindLeaf(const std::string& lo);  // the leaf where keys >= lo start
  Result<std::string> Collect(const std::string& lo, const std::string& hi, bool prefix,
                              std::vector<TupleId>* out);

  HeapEnv* env_;
  RelFileNode rel_;
  Mutex mu_;
};

// Redo of kRmBtree records: restores the page images.
Status BtreeRedo(HeapEnv& env, const wal::DecodedRecord& rec);

// Keeps one BtreeIndex per index relation for the server's lifetime.
class IndexRegistry {
 public:
  explicit IndexRegistry(HeapEnv* env) : env_(env) {}
  BtreeIndex* Get(const RelFileNode& rel) EXCLUDES(mu_);

 private:
  HeapEnv* env_;
  Mutex mu_;
  std::map<uint32_t, std::unique_ptr<BtreeIndex>> indexes_ GUARDED_BY(mu_);
};

}  // namespace walrep::access
