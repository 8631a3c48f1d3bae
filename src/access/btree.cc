// walrep: B-tree indexes (see btree.h).
#include "walrep/access/btree.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

namespace walrep::access {

namespace key {

void AppendNull(std::string* key) { key->push_back('\x02'); }

void AppendUnsigned(uint64_t u, std::string* key) {
  key->push_back('\x01');
  for (int i = 7; i >= 0; i--) key->push_back(static_cast<char>(u >> (8 * i)));
}

void AppendInt(int64_t v, std::string* key) {
  AppendUnsigned(static_cast<uint64_t>(v) ^ (1ull << 63), key);
}

void AppendBool(bool v, std::string* key) {
  key->push_back('\x01');
  key->push_back(v ? '\x01' : '\x00');
}

// Sign class (0x40 negative, 0x80 zero, 0xC0 positive), then the decimal exponent (digits before
// the point) and the significant digits ending in 0x00, all inverted for negative values.
void AppendNumeric(__int128 mantissa, int scale, std::string* key) {
  key->push_back('\x01');
  unsigned __int128 m = mantissa < 0 ? -static_cast<unsigned __int128>(mantissa)
                                     : static_cast<unsigned __int128>(mantissa);
  if (m == 0) {
    key->push_back('\x80');
    return;
  }
  std::string digits;
  for (; m > 0; m /= 10) digits.insert(digits.begin(), static_cast<char>('0' + m % 10));
  int32_t exponent = static_cast<int32_t>(digits.size()) - scale;
  while (digits.back() == '0') digits.pop_back();
  bool neg = mantissa < 0;
  key->push_back(neg ? '\x40' : '\xC0');
  uint32_t e = static_cast<uint32_t>(exponent) ^ (1u << 31);
  if (neg) e = ~e;
  for (int i = 3; i >= 0; i--) key->push_back(static_cast<char>(e >> (8 * i)));
  for (char d : digits) key->push_back(neg ? static_cast<char>(0xFF - d) : d);
  key->push_back(neg ? '\xFF' : '\x00');
}

void AppendFloat(double d, std::string* key) {
  if (d == 0) d = 0;
  if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
  uint64_t u;
  std::memcpy(&u, &d, 8);
  AppendUnsigned((u >> 63) ? ~u : u ^ (1ull << 63), key);
}

void AppendBytes(std::string_view v, std::string* key) {
  key->push_back('\x01');
  for (char ch : v) {
    key->push_back(ch);
    if (ch == '\0') key->push_back('\xff');
  }
  key->push_back('\0');
  key->push_back('\0');
}

}  // namespace key

namespace {

using storage::BufferPool;
using storage::Page;

constexpr uint16_t kSpecial = 16;
constexpr BlockNumber kNone = storage::kInvalidBlock;

template <typename T>
void Put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// (key, tid) order; an empty key with tid (0,0) is "minus infinity".
int Compare(std::string_view ak, TupleId at, std::string_view bk, TupleId bt) {
  int c = ak.compare(bk);
  if (c != 0) return c < 0 ? -1 : 1;
  if (at.block != bt.block) return at.block < bt.block ? -1 : 1;
  if (at.off != bt.off) return at.off < bt.off ? -1 : 1;
  return 0;
}

BlockNumber RightLink(Page p) { return Get<uint32_t>(p.data() + storage::kPageSize - kSpecial); }
uint32_t Level(Page p) { return Get<uint32_t>(p.data() + storage::kPageSize - kSpecial + 4); }

struct Meta {
  BlockNumber root;
  uint32_t levels;
};

// The main data of a record that removes entries: no removed entry points to a row version
// newer than the oldest running xid (conservative, as latestRemovedXid) — hot standby's
// conflict horizon.
std::string ConflictHorizon(HeapEnv& env) {
  TransactionId h = env.txm->OldestRunning() - 1;
  return std::string(reinterpret_cast<const char*>(&h), 4);
}

// An item read in place (no copies): leaf items are (tid, key), internal ones (child, tid, key).
struct ItemView {
  std::string_view key;
  TupleId tid;
  BlockNumber child = 0;
};
ItemView ViewItem(Page p, OffsetNumber off, bool leaf) {
  std::string_view raw = p.Item(off);
  size_t h = leaf ? 0 : 4;
  ItemView v;
  if (!leaf) v.child = Get<uint32_t>(raw.data());
  v.tid = TupleId{Get<uint32_t>(raw.data() + h), Get<uint16_t>(raw.data() + h + 4)};
  v.key = raw.substr(h + 6);
  return v;
}

// The number of items <= (key, tid): the 1-based offset to insert after, by binary search.
OffsetNumber CountNotAbove(Page p, bool leaf, std::string_view key, TupleId tid) {
  OffsetNumber lo = 0, hi = p.max_offset();  // answer in [lo, hi]
  while (lo < hi) {
    OffsetNumber mid = static_cast<OffsetNumber>((lo + hi + 1) / 2);
    ItemView v = ViewItem(p, mid, leaf);
    if (Compare(v.key, v.tid, key, tid) <= 0) {
      lo = mid;
    } else {
      hi = static_cast<OffsetNumber>(mid - 1);
    }
  }
  return lo;
}

// The child of an internal page that covers (key, tid): the last item not above it, the first
// item ("minus infinity") when all are.
BlockNumber ChildFor(Page p, std::string_view key, TupleId tid) {
  OffsetNumber n = CountNotAbove(p, false, key, tid);
  return ViewItem(p, std::max<OffsetNumber>(n, 1), false).child;
}

}  // namespace

Result<std::vector<BtreeIndex::Item>> BtreeIndex::ReadItems(BufferPool::Handle& h, bool leaf) {
  std::vector<Item> items;
  Page p = h.page();
  for (OffsetNumber o = 1; o <= p.max_offset(); o++) {
    std::string_view raw = p.Item(o);
    Item it;
    if (leaf) {
      if (raw.size() < 6) return Status::Corruption("invalid B-tree leaf item");
      it.tid = TupleId{Get<uint32_t>(raw.data()), Get<uint16_t>(raw.data() + 4)};
      it.key.assign(raw.substr(6));
    } else {
      if (raw.size() < 10) return Status::Corruption("invalid B-tree internal item");
      it.child = Get<uint32_t>(raw.data());
      it.tid = TupleId{Get<uint32_t>(raw.data() + 4), Get<uint16_t>(raw.data() + 8)};
      it.key.assign(raw.substr(10));
    }
    items.push_back(std::move(it));
  }
  return items;
}

Status BtreeIndex::WritePage(BufferPool::Handle& h, const std::vector<Item>& items, bool leaf,
                             BlockNumber right, uint32_t level) {
  Page p = h.page();
  Lsn lsn = p.lsn();
  Page::Init(p.data(), kSpecial);
  p.set_lsn(lsn);
  std::memcpy(p.data() + storage::kPageSize - kSpecial, &right, 4);
  std::memcpy(p.data() + storage::kPageSize - kSpecial + 4, &level, 4);
  for (const auto& it : items) {
    std::string raw;
    if (!leaf) Put<uint32_t>(&raw, it.child);
    raw += EncodeLeafItem(it);
    if (p.AddItem(raw) == 0) return Status::Retry("page full");
  }
  return Status::OK();
}

std::string BtreeIndex::EncodeLeafItem(const Item& it) {
  std::string raw;
  Put<uint32_t>(&raw, it.tid.block);
  Put<uint16_t>(&raw, it.tid.off);
  raw += it.key;
  return raw;
}

Status BtreeIndex::LogLeaf(BufferPool::Handle& h, uint8_t info, std::string data, bool removal) {
  std::string horizon = removal ? ConflictHorizon(*env_) : std::string();
  std::vector<PageChange> pages{{&h, std::move(data)}};
  return LogPageChanges(*env_, kRmBtree, info, kInvalidXid, pages, horizon);
}

Status BtreeIndex::LogPages(std::vector<BufferPool::Handle*>& pages) {
  if (env_->unlogged && env_->unlogged(rel_)) {
    for (auto* h : pages) h->MarkDirty();
    return Status::OK();
  }
  // Full images of every changed page: redo restores them, so a split is one atomic record.
  for (size_t start = 0; start < pages.size(); start += wal::kMaxBlockId) {
    wal::RecordBuilder b;
    size_t end = std::min(pages.size(), start + wal::kMaxBlockId);
    for (size_t i = start; i < end; i++) {
      wal::BlockRef ref;
      ref.id = static_cast<uint8_t>(i - start);
      ref.rnode = pages[i]->rel();
      ref.block = pages[i]->block();
      ref.has_image = ref.apply_image = true;
      ref.image.assign(pages[i]->data(), storage::kPageSize);
      b.AddBlock(std::move(ref));
    }
    WALREP_ASSIGN_OR_RETURN(auto pos, env_->wal->Insert(kRmBtree, kBtreePages, 0, b.BuildBody()));
    for (size_t i = start; i < end; i++) {
      pages[i]->page().set_lsn(pos.end);
      pages[i]->MarkDirty();
    }
  }
  return Status::OK();
}

Status BtreeIndex::Create() {
  MutexLock l(&mu_);
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle meta, env_->pool->Extend(rel_));
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle root, env_->pool->Extend(rel_));
  meta.LockExclusive();
  root.LockExclusive();
  std::string m;
  Put<uint32_t>(&m, root.block());
  Put<uint32_t>(&m, 1);
  meta.page().AddItem(m);
  WALREP_RETURN_IF_ERROR(WritePage(root, {}, true, kNone, 0));
  std::vector<BufferPool::Handle*> pages{&meta, &root};
  return LogPages(pages);
}

namespace {
// Bytes an entry takes on a page: the item (tid or child and tid before the key), aligned as
// Page::AddItem aligns it, and its line pointer.
size_t ItemSpace(const std::string& key, bool leaf) {
  return ((key.size() + (leaf ? 6 : 10) + 7) & ~size_t{7}) + storage::kItemIdSize;
}
// As PostgreSQL's BTMaxItemSize: three entries fit on a page, so that a split always leaves
// both halves room (splits divide bytes, not entries), whatever mix of key sizes a page holds.
Status CheckItemSize(const std::string& key) {
  const size_t max_item = (storage::kPageSize - storage::kPageHeaderSize - kSpecial) / 3;
  if (ItemSpace(key, false) <= max_item) return Status::OK();
  return Status::Sql("54000", fmt::format("index row size {} exceeds btree maximum {}",
                                          ItemSpace(key, true), max_item));
}
// How full builds and rightmost splits leave a page: PostgreSQL's B-tree fillfactors.
size_t FillTarget(bool leaf) {
  return (storage::kPageSize - storage::kPageHeaderSize - kSpecial) * (leaf ? 90 : 70) / 100;
}
}  // namespace

Status BtreeIndex::Build(std::vector<std::pair<std::string, TupleId>> entries) {
  for (const auto& e : entries) WALREP_RETURN_IF_ERROR(CheckItemSize(e.first));
  MutexLock l(&mu_);
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return Compare(a.first, a.second, b.first, b.second) < 0;
  });
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle meta, env_->pool->Extend(rel_));
  meta.LockExclusive();
  std::vector<Item> level_items;
  for (auto& [k, t] : entries) level_items.push_back(Item{k, t, 0});
  uint32_t level = 0;
  while (true) {
    // Pages of one level, left to right; only the previous page stays pinned (to get its right
    // link), so a build needs two buffers whatever the index size.
    std::vector<Item> parents;
    std::optional<BufferPool::Handle> prev;
    size_t i = 0;
    do {
      WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env_->pool->Extend(rel_, kSpecial));
      h.LockExclusive();
      std::vector<Item> chunk;
      // Filled to PostgreSQL's fillfactors (leaves 90%, upper levels 70%), so the first inserts
      // after the build do not split at once.
      size_t bytes = 0;
      const size_t target = FillTarget(level == 0);
      while (i < level_items.size() &&
             bytes + ItemSpace(level_items[i].key, level == 0) <= target) {
        bytes += ItemSpace(level_items[i].key, level == 0);
        chunk.push_back(level_items[i++]);
      }
      if (chunk.empty() && i < level_items.size()) chunk.push_back(level_items[i++]);
      Item up{chunk.empty() ? "" : chunk.front().key,
              chunk.empty() ? TupleId{0, 0} : chunk.front().tid, h.block()};
      if (level > 0 && !chunk.empty()) chunk.front().key.clear(), chunk.front().tid = TupleId{0, 0};
      WALREP_RETURN_IF_ERROR(WritePage(h, chunk, level == 0, kNone, level));
      parents.push_back(up);
      if (prev) {
        BlockNumber next = h.block();
        std::memcpy(prev->data() + storage::kPageSize - kSpecial, &next, 4);
        std::vector<BufferPool::Handle*> one{&*prev};
        WALREP_RETURN_IF_ERROR(LogPages(one));
      }
      prev.emplace(std::move(h));
    } while (i < level_items.size());
    std::vector<BufferPool::Handle*> last{&*prev};
    WALREP_RETURN_IF_ERROR(LogPages(last));
    prev.reset();
    if (parents.size() == 1) {
      std::string mm;
      Put<uint32_t>(&mm, parents.front().child);
      Put<uint32_t>(&mm, level + 1);
      meta.page().AddItem(mm);
      break;
    }
    level_items = std::move(parents);
    level++;
  }
  std::vector<BufferPool::Handle*> changed{&meta};
  return LogPages(changed);
}

Status BtreeIndex::Insert(const std::string& key, TupleId tid) {
  WALREP_RETURN_IF_ERROR(CheckItemSize(key));
  MutexLock l(&mu_);
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle meta, env_->pool->Read(rel_, 0));
  meta.LockExclusive();
  Meta m{Get<uint32_t>(meta.page().Item(1).data()), Get<uint32_t>(meta.page().Item(1).data() + 4)};
  // Descend, remembering the path for splits.
  std::vector<BufferPool::Handle> path;
  BlockNumber blk = m.root;
  while (true) {
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env_->pool->Read(rel_, blk));
    h.LockExclusive();
    bool leaf = Level(h.page()) == 0;
    if (leaf) {
      // Room in the leaf: the entry goes in place and a small logical record describes it.
      const Item entry{key, tid, 0};
      std::string raw = EncodeLeafItem(entry);
      OffsetNumber at = static_cast<OffsetNumber>(CountNotAbove(h.page(), true, key, tid) + 1);
      if (h.page().InsertItemAt(at, raw)) return LogLeaf(h, kBtreeInsertLeaf, raw, false);
      path.push_back(std::move(h));
      break;
    }
    blk = ChildFor(h.page(), key, tid);
    path.push_back(std::move(h));
  }
  // The leaf is full: insert (key, tid), splitting upwards while pages overflow; every page
  // changed is logged as a full image in one record.
  std::vector<BufferPool::Handle> fresh;  // pages created by splits
  std::vector<BufferPool::Handle*> changed;
  Item pending{key, tid, 0};
  for (int depth = static_cast<int>(path.size()) - 1; depth >= 0; depth--) {
    BufferPool::Handle& h = path[static_cast<size_t>(depth)];
    bool leaf = Level(h.page()) == 0;
    WALREP_ASSIGN_OR_RETURN(auto items, ReadItems(h, leaf));
    auto pos = std::upper_bound(
        items.begin(), items.end(), pending,
        [&](const Item& a, const Item& b) { return Compare(a.key, a.tid, b.key, b.tid) < 0; });
    if (!leaf && pos == items.begin()) pos = std::next(pos);  // never before minus infinity
    const size_t at = static_cast<size_t>(pos - items.begin());
    items.insert(pos, pending);
    BlockNumber right = RightLink(h.page());
    uint32_t level = Level(h.page());
    Status st = WritePage(h, items, leaf, right, level);
    changed.push_back(&h);
    if (st.ok()) break;
    if (st.code() != Status::Code::kRetry) return st;
    // Split: the upper half moves to a new right sibling — except when the entry goes to the
    // end of the rightmost page of its level (ascending keys: serials, time stamps), where the
    // left page keeps its fillfactor's worth and the new page starts nearly empty, as
    // PostgreSQL's rightmost split does; 50/50 would leave every page of such an index half
    // empty.
    // Otherwise the halves hold about the same bytes (not entries: keys differ in size, and
    // a split by count could leave a half that does not fit).
    size_t total = 0;
    for (const auto& it : items) total += ItemSpace(it.key, leaf);
    size_t half = 0;
    for (size_t bytes = 0; half + 1 < items.size() && bytes < total / 2; half++) {
      bytes += ItemSpace(items[half].key, leaf);
    }
    half = std::max<size_t>(half, 1);
    if (right == kNone && at == items.size() - 1) {
      size_t bytes = 0, n = 0;
      const size_t target = FillTarget(leaf);
      while (n + 1 < items.size() && bytes + ItemSpace(items[n].key, leaf) <= target) {
        bytes += ItemSpace(items[n++].key, leaf);
      }
      half = std::max<size_t>(n, 1);
    }
    std::vector<Item> lo(items.begin(), items.begin() + static_cast<long>(half));
    std::vector<Item> hi(items.begin() + static_cast<long>(half), items.end());
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle nr, env_->pool->Extend(rel_, kSpecial));
    nr.LockExclusive();
    Item sep{hi.front().key, hi.front().tid, nr.block()};
    if (!leaf) hi.front().key.clear(), hi.front().tid = TupleId{0, 0};  // new minus infinity
    WALREP_RETURN_IF_ERROR(WritePage(h, lo, leaf, nr.block(), level));
    WALREP_RETURN_IF_ERROR(WritePage(nr, hi, leaf, right, level));
    fresh.push_back(std::move(nr));
    pending = sep;
    if (depth == 0) {
      // The root split: a new root above both halves.
      WALREP_ASSIGN_OR_RETURN(BufferPool::Handle root, env_->pool->Extend(rel_, kSpecial));
      root.LockExclusive();
      std::vector<Item> top{Item{"", TupleId{0, 0}, h.block()}, sep};
      WALREP_RETURN_IF_ERROR(WritePage(root, top, false, kNone, level + 1));
      std::string mm;
      Put<uint32_t>(&mm, root.block());
      Put<uint32_t>(&mm, m.levels + 1);
      std::memcpy(meta.page().MutableItem(1), mm.data(), 8);
      fresh.push_back(std::move(root));
      changed.push_back(&meta);
    }
  }
  for (auto& f : fresh) changed.push_back(&f);
  return LogPages(changed);
}

Result<BlockNumber> BtreeIndex::FindLeaf(const std::string& lo) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle meta, env_->pool->Read(rel_, 0));
  meta.LockShared();
  BlockNumber blk = Get<uint32_t>(meta.page().Item(1).data());
  meta.Unlock();
  while (true) {
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env_->pool->Read(rel_, blk));
    h.LockShared();
    if (Level(h.page()) == 0) return blk;
    blk = ChildFor(h.page(), lo, TupleId{0, 0});
  }
}

Result<std::string> BtreeIndex::Collect(const std::string& lo, const std::string& hi, bool prefix,
                                        std::vector<TupleId>* out) {
  WALREP_ASSIGN_OR_RETURN(BlockNumber blk, FindLeaf(lo));
  while (blk != kNone) {
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env_->pool->Read(rel_, blk));
    h.LockShared();
    Page p = h.page();
    // Entries with a key below lo come first (tid (0,0) sorts before every real tid).
    for (OffsetNumber o = static_cast<OffsetNumber>(CountNotAbove(p, true, lo, TupleId{0, 0}) + 1);
         o <= p.max_offset(); o++) {
      ItemView it = ViewItem(p, o, true);
      if (it.key < lo) continue;
      bool in = prefix ? it.key.substr(0, lo.size()) == lo : (hi.empty() || it.key < hi);
      if (!in) return std::string();
      out->push_back(it.tid);
    }
    blk = RightLink(p);
  }
  return std::string();
}

Status BtreeIndex::RemoveEntries(const std::string& prefix, const std::set<TupleId>& dead) {
  MutexLock l(&mu_);
  WALREP_ASSIGN_OR_RETURN(BlockNumber blk, FindLeaf(prefix));
  while (blk != kNone) {
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env_->pool->Read(rel_, blk));
    h.LockExclusive();
    Page p = h.page();
    std::vector<OffsetNumber> gone;
    bool past = false;
    for (OffsetNumber o =
             static_cast<OffsetNumber>(CountNotAbove(p, true, prefix, TupleId{0, 0}) + 1);
         o <= p.max_offset() && !past; o++) {
      ItemView it = ViewItem(p, o, true);
      if (it.key.substr(0, prefix.size()) != prefix) {
        past = it.key > prefix;
      } else if (dead.count(it.tid)) {
        gone.push_back(o);
      }
    }
    BlockNumber right = RightLink(p);
    // The leaf stays (possibly empty): separators above remain valid lower bounds.
    WALREP_RETURN_IF_ERROR(DeleteLeafItems(h, gone));
    if (past) break;
    blk = right;
  }
  return Status::OK();
}

Status BtreeIndex::RemoveDead(const std::function<Result<bool>(TupleId)>& is_dead) {
  MutexLock l(&mu_);
  WALREP_ASSIGN_OR_RETURN(BlockNumber blk, FindLeaf(""));  // the leftmost leaf
  while (blk != kNone) {
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env_->pool->Read(rel_, blk));
    h.LockExclusive();
    Page p = h.page();
    std::vector<OffsetNumber> gone;
    for (OffsetNumber o = 1; o <= p.max_offset(); o++) {
      WALREP_ASSIGN_OR_RETURN(bool dead, is_dead(ViewItem(p, o, true).tid));
      if (dead) gone.push_back(o);
    }
    BlockNumber right = RightLink(p);
    WALREP_RETURN_IF_ERROR(DeleteLeafItems(h, gone));
    blk = right;
  }
  return Status::OK();
}

Status BtreeIndex::DeleteLeafItems(BufferPool::Handle& h, const std::vector<OffsetNumber>& gone) {
  if (gone.empty()) return Status::OK();
  std::string removed;  // u16 positions (0-based) of the removed entries
  for (OffsetNumber o : gone) Put<uint16_t>(&removed, static_cast<uint16_t>(o - 1));
  h.page().DeleteItems(gone);
  return LogLeaf(h, kBtreeDeleteItems, std::move(removed), true);
}

Result<std::vector<TupleId>> BtreeIndex::ScanPrefix(const std::string& prefix) {
  MutexLock l(&mu_);
  std::vector<TupleId> out;
  WALREP_RETURN_IF_ERROR(Collect(prefix, "", true, &out).status());
  return out;
}

Result<std::vector<TupleId>> BtreeIndex::ScanRange(const std::string& lo, const std::string& hi) {
  MutexLock l(&mu_);
  std::vector<TupleId> out;
  WALREP_RETURN_IF_ERROR(Collect(lo, hi, false, &out).status());
  return out;
}

Status BtreeRedo(HeapEnv& env, const wal::DecodedRecord& rec) {
  if (rec.main_data.size() == 4 && env.resolve_conflict) {
    TransactionId horizon;
    std::memcpy(&horizon, rec.main_data.data(), 4);
    env.resolve_conflict(horizon);
  }
  std::optional<MutexLock> l;
  if (env.index_lock && !rec.blocks.empty()) l.emplace(env.index_lock(rec.blocks[0].rnode));
  uint8_t info = rec.info & 0xF0;
  if (info == kBtreePages) return RestorePageImages(env, rec);
  if (rec.blocks.size() != 1) return Status::Corruption("B-tree leaf record without its leaf");
  const wal::BlockRef& blk = rec.blocks[0];
  if (blk.has_image && blk.apply_image) return RestorePageImages(env, rec);
  env.pool->NoteBlock(blk.rnode, blk.block);
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env.pool->Read(blk.rnode, blk.block));
  h.LockExclusive();
  const std::string& d = blk.data;
  if (info == kBtreeInsertLeaf) {
    // The primary's in-place insert, repeated: the same page bytes.
    if (d.size() < 6) return Status::Corruption("invalid B-tree insert record");
    TupleId tid{Get<uint32_t>(d.data()), Get<uint16_t>(d.data() + 4)};
    std::string_view key(d.data() + 6, d.size() - 6);
    OffsetNumber at = static_cast<OffsetNumber>(CountNotAbove(h.page(), true, key, tid) + 1);
    if (!h.page().InsertItemAt(at, d)) {
      return Status::Corruption(
          fmt::format("B-tree insert record at {} does not fit its leaf", rec.lsn.ToString()));
    }
    h.page().set_lsn(rec.end_lsn);
    h.MarkDirty();
    return Status::OK();
  }
  if (info != kBtreeDeleteItems) {
    return Status::Corruption(fmt::format("unknown B-tree record type {:#x}", info));
  }
  // Positions as the primary wrote them: ascending and on the page. A record that says
  // otherwise is not one walrep wrote.
  std::vector<OffsetNumber> gone;
  for (size_t i = 0; i + 2 <= d.size(); i += 2) {
    auto at = static_cast<OffsetNumber>(Get<uint16_t>(d.data() + i) + 1);
    if (at > h.page().max_offset() || (!gone.empty() && at <= gone.back())) {
      return Status::Corruption(fmt::format(
          "B-tree delete record at {} names entries its leaf does not have", rec.lsn.ToString()));
    }
    gone.push_back(at);
  }
  h.page().DeleteItems(gone);
  h.page().set_lsn(rec.end_lsn);
  h.MarkDirty();
  return Status::OK();
}

BtreeIndex* IndexRegistry::Get(const RelFileNode& rel) {
  MutexLock l(&mu_);
  auto& slot = indexes_[rel.rel];
  if (!slot) slot = std::make_unique<BtreeIndex>(env_, rel);
  return slot.get();
}

}  // namespace walrep::access
