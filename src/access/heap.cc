// walrep: heap relations (see heap.h).
#include "walrep/access/heap.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "bytes.h"
#include "walrep/access/btree.h"
#include "walrep/access/rmgr.h"

namespace walrep::access {

namespace {

using storage::BufferPool;
using storage::Page;

TupleHeader ReadHeader(const char* p) {
  TupleHeader h;
  std::memcpy(&h.xmin, p, 4);
  std::memcpy(&h.xmax, p + 4, 4);
  std::memcpy(&h.cmin, p + 8, 4);
  std::memcpy(&h.cmax, p + 12, 4);
  std::memcpy(&h.ctid.block, p + 16, 4);
  std::memcpy(&h.ctid.off, p + 20, 2);
  std::memcpy(&h.infomask, p + 22, 2);
  return h;
}

void WriteHeader(char* p, const TupleHeader& h) {
  std::memcpy(p, &h.xmin, 4);
  std::memcpy(p + 4, &h.xmax, 4);
  std::memcpy(p + 8, &h.cmin, 4);
  std::memcpy(p + 12, &h.cmax, 4);
  std::memcpy(p + 16, &h.ctid.block, 4);
  std::memcpy(p + 20, &h.ctid.off, 2);
  std::memcpy(p + 22, &h.infomask, 2);
}

std::string BuildTuple(const TupleHeader& h, std::string_view row) {
  std::string t(kTupleHeaderSize, '\0');
  WriteHeader(t.data(), h);
  t.append(row);
  return t;
}

// A new tuple in WAL: its infomask and the row after the header. Redo knows the rest of the
// header — xmin is the record's (or the updated version's xmax), cmin its command, the ctid the
// tuple itself, no xmax — which saves 22 of the 24 header bytes per row (PostgreSQL's
// xl_heap_header does the same).
void PutNewTuple(std::string* data, std::string_view item) {
  TupleHeader h = ReadHeader(item.data());
  Put<uint16_t>(data, h.infomask);
  data->append(item.substr(kTupleHeaderSize));
}

// The tuple PutNewTuple described, rebuilt in *buf for a page at `ctid`.
std::string_view RedoTuple(std::string* buf, TransactionId xmin, CommandId cmin, TupleId ctid,
                           uint16_t infomask, std::string_view row) {
  TupleHeader h;
  h.xmin = xmin;
  h.cmin = cmin;
  h.ctid = ctid;
  h.infomask = infomask;
  buf->resize(kTupleHeaderSize);
  WriteHeader(buf->data(), h);
  buf->append(row);
  return *buf;
}

// Redo data of a DELETE (and of the row lock taken by an update to another page).
std::string DeleteData(OffsetNumber off, const TupleHeader& h) {
  std::string data;
  Put<uint16_t>(&data, off);
  Put<uint32_t>(&data, h.xmax);
  Put<uint32_t>(&data, h.cmax);
  Put<uint16_t>(&data, h.infomask);
  Put<uint32_t>(&data, h.ctid.block);
  Put<uint16_t>(&data, h.ctid.off);
  return data;
}

// Applies a kHeapPruneChains record's data to a page (the primary and redo alike):
//   u32 latest removed xid, u16 ndead, u16 nunused, u16 nredirect, then ndead and nunused
//   offsets and nredirect (offset, target) pairs.
void ApplyPrune(Page& p, std::string_view d) {
  const size_t ndead = Get<uint16_t>(d, 4), nunused = Get<uint16_t>(d, 6),
               nredirect = Get<uint16_t>(d, 8);
  size_t pos = 10;
  for (size_t i = 0; i < ndead; i++, pos += 2) {
    p.SetState(Get<uint16_t>(d, pos), storage::ItemState::kDead);
  }
  for (size_t i = 0; i < nunused; i++, pos += 2) {
    p.SetState(Get<uint16_t>(d, pos), storage::ItemState::kUnused);
  }
  for (size_t i = 0; i < nredirect; i++, pos += 4) {
    p.SetRedirect(Get<uint16_t>(d, pos), Get<uint16_t>(d, pos + 2));
  }
  p.Compact();
}

std::string PruneData(TransactionId latest_removed, const std::vector<OffsetNumber>& dead,
                      const std::vector<OffsetNumber>& unused,
                      const std::vector<std::pair<OffsetNumber, OffsetNumber>>& redirect) {
  std::string data;
  Put<uint32_t>(&data, latest_removed);
  Put<uint16_t>(&data, static_cast<uint16_t>(dead.size()));
  Put<uint16_t>(&data, static_cast<uint16_t>(unused.size()));
  Put<uint16_t>(&data, static_cast<uint16_t>(redirect.size()));
  for (OffsetNumber off : dead) Put<uint16_t>(&data, off);
  for (OffsetNumber off : unused) Put<uint16_t>(&data, off);
  for (const auto& [from, to] : redirect) {
    Put<uint16_t>(&data, from);
    Put<uint16_t>(&data, to);
  }
  return data;
}

// Checks whether tx may modify the tuple; waits for a running modifier. On success the page is
// locked exclusively and the header is returned.
Result<std::optional<ModifyOutcome>> PrepareModify(HeapEnv& env, const RelFileNode& rel,
                                                   TxnContext& tx, TupleId tid,
                                                   BufferPool::Handle* buf, TupleHeader* out,
                                                   bool is_update) {
  TransactionId me = tx.ensure_xid ? tx.ensure_xid() : tx.xid;
  while (true) {
    buf->LockExclusive();
    Page p = buf->page();
    if (p.state(tid.off) != storage::ItemState::kNormal) {
      buf->Unlock();
      return std::optional<ModifyOutcome>(ModifyOutcome{ModifyOutcome::kDeleted, {}});
    }
    TupleHeader h = ReadHeader(p.Item(tid.off).data());
    if (h.xmax == kInvalidXid || env.txm->StatusOf(h.xmax) == XidStatus::kAborted) {
      *out = h;
      return std::optional<ModifyOutcome>();
    }
    if (h.xmax == me) {
      buf->Unlock();
      return std::optional<ModifyOutcome>(ModifyOutcome{ModifyOutcome::kSelfModified, {}});
    }
    XidStatus st = env.txm->StatusOf(h.xmax);
    if (st == XidStatus::kInProgress) {
      buf->Unlock();
      auto started = std::chrono::steady_clock::now();
      auto check = [&]() -> Status {
        WALREP_RETURN_IF_ERROR(tx.check_interrupts());
        if (tx.lock_timeout_ms > 0 && std::chrono::steady_clock::now() - started >
                                          std::chrono::milliseconds(tx.lock_timeout_ms)) {
          return Status::Sql("55P03", "canceling statement due to lock timeout");
        }
        // The holder rolled back to a savepoint that released the row: no need to wait for
        // its transaction to end.
        buf->LockShared();
        bool released = buf->page().state(tid.off) != storage::ItemState::kNormal ||
                        ReadHeader(buf->page().Item(tid.off).data()).xmax != h.xmax;
        buf->Unlock();
        return released ? Status::Retry("row lock released") : Status::OK();
      };
      Status waited = WaitForTransaction(env, tx, h.xmax, check);
      if (!waited.ok() && waited.code() != Status::Code::kRetry) return waited;
      continue;
    }
    // Committed by someone else: a concurrent update or delete.
    buf->Unlock();
    if (tx.repeatable_read) {
      return Status::Sql("40001",
                         fmt::format("could not serialize access due to concurrent {}",
                                     (h.infomask & kHeapXmaxUpdate) ? "update" : "delete"));
    }
    (void)is_update;
    if ((h.infomask & kHeapXmaxUpdate) && h.ctid.valid() && !(h.ctid == tid)) {
      return std::optional<ModifyOutcome>(ModifyOutcome{ModifyOutcome::kUpdated, h.ctid, h.xmax});
    }
    return std::optional<ModifyOutcome>(ModifyOutcome{ModifyOutcome::kDeleted, {}});
  }
}

}  // namespace

Status LogPageChanges(HeapEnv& env, uint8_t rmid, uint8_t info, TransactionId xid,
                      std::vector<PageChange>& pages, const std::string& main_data) {
  if (env.unlogged && !pages.empty() && env.unlogged(pages[0].buf->rel())) {
    // Not WAL-logged: the pages reach disk at checkpoints; a crash resets the relation.
    for (auto& pc : pages) pc.buf->MarkDirty();
    return Status::OK();
  }
  const bool verify = env.wal_consistency && (env.wal_consistency->load(std::memory_order_relaxed) &
                                              WalConsistencyBit(rmid)) != 0;
  while (true) {
    Lsn redo = env.wal->redo_pointer();
    wal::RecordBuilder b;
    for (size_t i = 0; i < pages.size(); i++) {
      wal::BlockRef ref;
      ref.id = static_cast<uint8_t>(i);
      ref.rnode = pages[i].buf->rel();
      ref.block = pages[i].buf->block();
      ref.data = pages[i].data;
      ref.will_init = pages[i].will_init;
      Page p = pages[i].buf->page();
      // A full-page image on the first change after a checkpoint protects against torn pages.
      if (env.full_page_writes && !pages[i].will_init && p.lsn() <= redo) {
        ref.has_image = true;
        ref.apply_image = true;
        ref.image.assign(p.data(), storage::kPageSize);
      } else if (verify) {
        // wal_consistency_checking: the page as this change left it, for replay to compare.
        ref.has_image = true;
        ref.image.assign(p.data(), storage::kPageSize);
      }
      b.AddBlock(std::move(ref));
    }
    if (!main_data.empty()) b.SetMainData(main_data);
    auto pos = env.wal->Insert(rmid, info, xid, b.BuildBody(), redo);
    if (!pos.ok()) {
      if (pos.status().code() == Status::Code::kRetry) continue;  // a checkpoint began
      return pos.TakeStatus();
    }
    for (auto& pc : pages) {
      pc.buf->page().set_lsn(pos->end);
      pc.buf->MarkDirty();
    }
    return Status::OK();
  }
}

namespace {

Status LogChange(HeapEnv& env, uint8_t info, TransactionId xid, std::vector<PageChange>& pages,
                 const std::string& main_data = "") {
  return LogPageChanges(env, kRmHeap, info, xid, pages, main_data);
}

}  // namespace

namespace {

void Count(TxnContext& tx, const RelFileNode& rel, int64_t inserted, int64_t deleted,
           int64_t updated, int64_t hot_updated = 0) {
  TableStats::Change& c = tx.table_changes[RelKey(rel)];
  c.inserted += inserted;
  c.deleted += deleted;
  c.updated += updated;
  c.hot_updated += hot_updated;
}

void NoteWrite(HeapEnv& env, const RelFileNode& rel, TxnContext& tx, TransactionId xid) {
  if (rel.rel >= kFirstUserRelFile || !env.txm) return;
  if (!tx.catalog_written) env.txm->NoteCatalogWrite(xid);
  tx.catalog_written = true;
  tx.catalog_writes++;
}

}  // namespace

void FreeSpaceMap::Record(const RelFileNode& rel, BlockNumber block, size_t free_bytes) {
  MutexLock l(&mu_);
  if (free_bytes >= kMinUseful) {
    pages_[RelKey(rel)][block] = free_bytes;
    return;
  }
  auto it = pages_.find(RelKey(rel));
  if (it == pages_.end()) return;
  it->second.erase(block);
  if (it->second.empty()) pages_.erase(it);
}

std::optional<BlockNumber> FreeSpaceMap::Find(const RelFileNode& rel, size_t need,
                                              BlockNumber except) {
  MutexLock l(&mu_);
  auto it = pages_.find(RelKey(rel));
  if (it == pages_.end()) return std::nullopt;
  for (const auto& [block, free_bytes] : it->second) {
    if (free_bytes >= need && block != except) return block;
  }
  return std::nullopt;
}

void FreeSpaceMap::Forget(const RelFileNode& rel) {
  MutexLock l(&mu_);
  pages_.erase(RelKey(rel));
}

void TableStats::TransactionEnded(const Pending& changes, bool committed) {
  MutexLock l(&mu_);
  for (const auto& [key, ch] : changes) {
    Counts& c = counts_[key];
    c.inserted += ch.inserted;
    c.updated += ch.updated;
    c.deleted += ch.deleted;
    c.hot_updated += ch.hot_updated;
    c.inserted_since_vacuum += ch.inserted;
    if (committed) {
      c.live = std::max<int64_t>(0, c.live + ch.inserted - ch.deleted);
      c.dead += ch.deleted + ch.updated;
    } else {
      c.dead += ch.inserted + ch.updated;
    }
  }
}

void TableStats::Pruned(const RelFileNode& rel, int64_t removed) {
  MutexLock l(&mu_);
  auto it = counts_.find(RelKey(rel));
  if (it != counts_.end()) it->second.dead = std::max<int64_t>(0, it->second.dead - removed);
}

void TableStats::Vacuumed(const RelFileNode& rel, bool autovacuum, TimestampTz at) {
  MutexLock l(&mu_);
  Counts& c = counts_[RelKey(rel)];
  c.inserted_since_vacuum = 0;
  (autovacuum ? c.autovacuum_count : c.vacuum_count)++;
  (autovacuum ? c.last_autovacuum : c.last_vacuum) = at;
}

std::string TableStats::Serialize() const {
  MutexLock l(&mu_);
  std::string out;
  for (const auto& [key, c] : counts_) {
    out += fmt::format("{} {} {} {} {} {} {} {} {} {} {} {}\n", key, c.live, c.dead, c.inserted,
                       c.updated, c.deleted, c.hot_updated, c.inserted_since_vacuum, c.vacuum_count,
                       c.autovacuum_count, c.last_vacuum, c.last_autovacuum);
  }
  return out;
}

void TableStats::Load(std::string_view text) {
  MutexLock l(&mu_);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;  // a torn last line is ignored
    std::string line(text.substr(pos, nl - pos));
    pos = nl + 1;
    uint64_t key = 0;
    Counts c;
    long long f[11];
    if (std::sscanf(line.c_str(),
                    "%" SCNu64 " %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld", &key,
                    &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9],
                    &f[10]) != 12) {
      continue;
    }
    c.live = f[0];
    c.dead = f[1];
    c.inserted = f[2];
    c.updated = f[3];
    c.deleted = f[4];
    c.hot_updated = f[5];
    c.inserted_since_vacuum = f[6];
    c.vacuum_count = f[7];
    c.autovacuum_count = f[8];
    c.last_vacuum = f[9];
    c.last_autovacuum = f[10];
    counts_[key] = c;
  }
}

TableStats::Counts TableStats::Get(const RelFileNode& rel) const {
  MutexLock l(&mu_);
  auto it = counts_.find(RelKey(rel));
  return it == counts_.end() ? Counts{} : it->second;
}

void AssignXidsFrom(TxnContext* tx, TransactionManager* txm, LockManager* locks) {
  tx->ensure_xid = [tx, txm, locks] {
    if (tx->xid != kInvalidXid) return tx->xid;
    tx->xid = txm->Assign();
    if (locks && tx->locks) {
      // Never waits: nobody else can hold its own transaction's lock.
      locks->Acquire(tx->locks, LockTag::Transaction(tx->xid), LockMode::kExclusive, {})
          .IgnoreError();
      tx->locks->set_xid(tx->xid);
    }
    return tx->xid;
  };
}

bool TupleVisible(const TupleHeader& h, const TxnContext& tx, const TransactionManager& txm) {
  if (h.infomask & kHeapXminInvalid) return false;
  if (h.xmin == tx.xid && tx.xid != kInvalidXid) {
    if (h.cmin >= tx.cid) return false;  // inserted by a later command of ours
  } else {
    if (tx.snapshot.InProgress(h.xmin)) return false;
    if (txm.StatusOf(h.xmin) != XidStatus::kCommitted) return false;
  }
  if (h.xmax == kInvalidXid) return true;
  if (h.xmax == tx.xid && tx.xid != kInvalidXid) return h.cmax >= tx.cid;
  if (tx.snapshot.InProgress(h.xmax)) return true;
  return txm.StatusOf(h.xmax) != XidStatus::kCommitted;
}

namespace {

constexpr size_t kMaxTupleSize = storage::kPageSize - storage::kPageHeaderSize - 8;

// A new tuple of tx (header + row), or 54000 when it can never fit on a page.
Result<std::string> NewTuple(const TxnContext& tx, TransactionId xid, std::string_view row,
                             uint16_t infomask) {
  TupleHeader h;
  h.xmin = xid;
  h.cmin = tx.cid;
  h.infomask = infomask;
  std::string tuple = BuildTuple(h, row);
  if (tuple.size() > kMaxTupleSize) {
    return Status::Sql("54000", fmt::format("row is too big: size {}, maximum size {}",
                                            tuple.size(), kMaxTupleSize));
  }
  return tuple;
}

// The page a new tuple of `need` bytes goes to, locked exclusively: the relation's last page if
// it has room, else a page the free space map knows, else a new page (*fresh). *nblocks gets
// the relation's size before any extension.
Result<BufferPool::Handle> PageForInsert(HeapEnv& env, const RelFileNode& rel, size_t need,
                                         bool* fresh, BlockNumber* nblocks) {
  WALREP_ASSIGN_OR_RETURN(BlockNumber n, env.pool->NBlocks(rel));
  *nblocks = n;
  *fresh = false;
  BufferPool::Handle buf;
  if (n > 0) {
    WALREP_ASSIGN_OR_RETURN(buf, env.pool->Read(rel, n - 1));
    buf.LockExclusive();
    if (buf.page().FreeSpace() >= need) return buf;
    buf = BufferPool::Handle();  // no page lock is held while another page is read
  }
  // Then a page pruning or VACUUM left with room, before growing the relation.
  while (env.fsm) {
    std::optional<BlockNumber> b = env.fsm->Find(rel, need, n - 1);
    if (!b) break;
    if (*b >= n) {
      env.fsm->Record(rel, *b, 0);  // the relation was truncated since
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(buf, env.pool->Read(rel, *b));
    buf.LockExclusive();
    size_t free_bytes = buf.page().IsNew() ? 0 : buf.page().FreeSpace();
    if (free_bytes >= need) return buf;
    env.fsm->Record(rel, *b, free_bytes);
    buf = BufferPool::Handle();
  }
  WALREP_ASSIGN_OR_RETURN(buf, env.pool->Extend(rel));
  buf.LockExclusive();
  *fresh = true;
  return buf;
}

// Adds a new tuple to a locked page, its ctid pointing at itself until it is updated; returns
// the offset, 0 when it does not fit.
OffsetNumber AddTuple(Page& p, BlockNumber block, const std::string& tuple) {
  OffsetNumber off = p.AddItem(tuple);
  if (off == 0) return 0;
  TupleHeader h = ReadHeader(tuple.data());
  h.ctid = TupleId{block, off};
  WriteHeader(p.MutableItem(off), h);
  return off;
}

size_t Aligned(size_t n) { return (n + 7) & ~size_t{7}; }

}  // namespace

Result<TupleId> HeapInsert(HeapEnv& env, const RelFileNode& rel, TxnContext& tx,
                           std::string_view row, uint16_t infomask) {
  TransactionId xid = tx.ensure_xid ? tx.ensure_xid() : tx.xid;
  NoteWrite(env, rel, tx, xid);
  WALREP_ASSIGN_OR_RETURN(std::string tuple, NewTuple(tx, xid, row, infomask));
  bool fresh = false;
  BlockNumber n = 0;
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf,
                          PageForInsert(env, rel, Aligned(tuple.size()), &fresh, &n));
  Page p = buf.page();
  OffsetNumber off = AddTuple(p, buf.block(), tuple);
  if (off == 0) return Status::Sql("XX000", "could not add tuple to page");
  std::string data;
  Put<uint16_t>(&data, off);
  Put<uint32_t>(&data, tx.cid);
  PutNewTuple(&data, p.Item(off));
  std::vector<PageChange> pages{{&buf, std::move(data), fresh && off == 1}};
  WALREP_RETURN_IF_ERROR(LogChange(env, kHeapInsert, xid, pages));
  if (env.fsm && buf.block() + 1 < n) env.fsm->Record(rel, buf.block(), p.FreeSpace());
  if (tx.undo) tx.undo->push_back(UndoEntry{rel, TupleId{buf.block(), off}, true, {}});
  if (!(infomask & kHeapUpdated)) Count(tx, rel, 1, 0, 0);  // an update counts itself
  return TupleId{buf.block(), off};
}

Result<std::vector<TupleId>> HeapMultiInsert(HeapEnv& env, const RelFileNode& rel, TxnContext& tx,
                                             const std::vector<std::string>& rows) {
  std::vector<TupleId> tids;
  if (rows.empty()) return tids;
  TransactionId xid = tx.ensure_xid ? tx.ensure_xid() : tx.xid;
  NoteWrite(env, rel, tx, xid);
  std::vector<std::string> tuples;
  tuples.reserve(rows.size());
  for (const auto& row : rows) {
    WALREP_ASSIGN_OR_RETURN(std::string tuple, NewTuple(tx, xid, row, 0));
    tuples.push_back(std::move(tuple));
  }
  size_t i = 0;
  while (i < tuples.size()) {
    bool fresh = false;
    BlockNumber n = 0;
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf,
                            PageForInsert(env, rel, Aligned(tuples[i].size()), &fresh, &n));
    Page p = buf.page();
    // As many of the next tuples as fit, in one record: the command id, then each tuple's
    // infomask, length and row (PutNewTuple); the offsets only when they do not simply count
    // on from the first (a page with reusable line pointers).
    std::string rows_data;
    OffsetNumber first = 0;
    bool consecutive = true;
    std::vector<OffsetNumber> offs;
    for (; i < tuples.size() && p.FreeSpace() >= Aligned(tuples[i].size()); i++) {
      OffsetNumber off = AddTuple(p, buf.block(), tuples[i]);
      if (off == 0) return Status::Sql("XX000", "could not add tuple to page");
      if (!first) first = off;
      consecutive = consecutive && off == first + offs.size();
      offs.push_back(off);
      Put<uint16_t>(&rows_data, static_cast<uint16_t>(tuples[i].size() - kTupleHeaderSize));
      PutNewTuple(&rows_data, p.Item(off));
      tids.push_back(TupleId{buf.block(), off});
      if (tx.undo) tx.undo->push_back(UndoEntry{rel, tids.back(), true, {}});
    }
    std::string data;
    Put<uint32_t>(&data, tx.cid);
    Put<uint16_t>(&data, static_cast<uint16_t>(offs.size()));
    Put<uint16_t>(&data, consecutive ? first : 0);
    if (!consecutive) {
      for (OffsetNumber off : offs) Put<uint16_t>(&data, off);
    }
    data += rows_data;
    std::vector<PageChange> pages{{&buf, std::move(data), fresh && first == 1}};
    WALREP_RETURN_IF_ERROR(LogChange(env, kHeapMultiInsert, xid, pages));
    if (env.fsm && buf.block() + 1 < n) env.fsm->Record(rel, buf.block(), p.FreeSpace());
  }
  Count(tx, rel, static_cast<int64_t>(tids.size()), 0, 0);
  return tids;
}

Result<ModifyOutcome> HeapDelete(HeapEnv& env, const RelFileNode& rel, TxnContext& tx,
                                 TupleId tid) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(rel, tid.block));
  TupleHeader h;
  WALREP_ASSIGN_OR_RETURN(auto early, PrepareModify(env, rel, tx, tid, &buf, &h, false));
  if (early) return *early;
  NoteWrite(env, rel, tx, tx.xid);
  if (tx.undo) tx.undo->push_back(UndoEntry{rel, tid, false, h});
  h.xmax = tx.xid;
  h.cmax = tx.cid;
  h.infomask &= static_cast<uint16_t>(~(kHeapXmaxUpdate | kHeapHotUpdated));
  h.ctid = tid;
  WriteHeader(buf.page().MutableItem(tid.off), h);
  std::vector<PageChange> pages{{&buf, DeleteData(tid.off, h)}};
  WALREP_RETURN_IF_ERROR(LogChange(env, kHeapDelete, tx.xid, pages));
  Count(tx, rel, 0, 1, 0);
  return ModifyOutcome{};
}

namespace {
Result<size_t> PrunePage(HeapEnv& env, BufferPool::Handle& buf, TransactionId horizon);
}  // namespace

Result<ModifyOutcome> HeapUpdate(HeapEnv& env, const RelFileNode& rel, TxnContext& tx, TupleId tid,
                                 std::string_view new_row, TupleId* new_tid, bool allow_hot) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(rel, tid.block));
  TupleHeader h;
  WALREP_ASSIGN_OR_RETURN(auto early, PrepareModify(env, rel, tx, tid, &buf, &h, true));
  if (early) return *early;
  NoteWrite(env, rel, tx, tx.xid);
  if (tx.undo) tx.undo->push_back(UndoEntry{rel, tid, false, h});
  TupleHeader nh;
  nh.xmin = tx.xid;
  nh.cmin = tx.cid;
  nh.infomask = kHeapUpdated;
  std::string tuple = BuildTuple(nh, new_row);
  Page p = buf.page();
  const size_t need = (tuple.size() + 7) & ~size_t{7};
  if (p.FreeSpace() < need) {
    // On-access pruning (PostgreSQL's heap_page_prune_opt): a page full of versions no one
    // can see any more makes room for the new one, so hot rows stay on their page instead of
    // growing the table.
    WALREP_RETURN_IF_ERROR(PrunePage(env, buf, env.txm->OldestRunning()).status());
  }
  h.xmax = tx.xid;
  h.cmax = tx.cid;
  h.infomask |= kHeapXmaxUpdate;
  h.infomask &= static_cast<uint16_t>(~kHeapHotUpdated);  // left by an updater that aborted
  if (p.FreeSpace() >= need) {
    // Same page: one record changes both versions (heap-only when no indexed column changes).
    if (allow_hot) {
      h.infomask |= kHeapHotUpdated;
      nh.infomask |= kHeapOnly;
      WriteHeader(tuple.data(), nh);
    }
    OffsetNumber off = p.AddItem(tuple);
    nh.ctid = TupleId{buf.block(), off};
    WriteHeader(p.MutableItem(off), nh);
    h.ctid = nh.ctid;
    WriteHeader(p.MutableItem(tid.off), h);
    // Same layout as DELETE up to the infomask, then the new version.
    // The new version's xmin and cmin are the old one's xmax and cmax.
    std::string data = DeleteData(tid.off, h).substr(0, 12);
    Put<uint16_t>(&data, off);
    PutNewTuple(&data, p.Item(off));
    std::vector<PageChange> pages{{&buf, std::move(data)}};
    WALREP_RETURN_IF_ERROR(LogChange(env, kHeapUpdateSamePage, tx.xid, pages));
    if (tx.undo) tx.undo->push_back(UndoEntry{rel, nh.ctid, true, {}});
    *new_tid = nh.ctid;
    Count(tx, rel, 0, 0, 1, allow_hot ? 1 : 0);
    ModifyOutcome out;
    out.hot = allow_hot;
    return out;
  }
  // Another page: lock the row (xmax), insert the new version, then point the old one at it.
  // The three records share the xid, so a crash before commit undoes all of them together.
  h.ctid = tid;
  WriteHeader(p.MutableItem(tid.off), h);
  {
    std::vector<PageChange> pages{{&buf, DeleteData(tid.off, h)}};
    WALREP_RETURN_IF_ERROR(LogChange(env, kHeapDelete, tx.xid, pages));
  }
  buf.Unlock();
  WALREP_ASSIGN_OR_RETURN(*new_tid, HeapInsert(env, rel, tx, new_row, kHeapUpdated));
  buf.LockExclusive();
  h.ctid = *new_tid;
  WriteHeader(buf.page().MutableItem(tid.off), h);
  std::string data;
  Put<uint16_t>(&data, tid.off);
  Put<uint32_t>(&data, new_tid->block);
  Put<uint16_t>(&data, new_tid->off);
  std::vector<PageChange> pages{{&buf, std::move(data)}};
  WALREP_RETURN_IF_ERROR(LogChange(env, kHeapSetCtid, tx.xid, pages));
  Count(tx, rel, 0, 0, 1);
  return ModifyOutcome{};
}

namespace {

// The tuple at tid (its row copied only when asked), or nothing when the line pointer is not in
// use. The page lock is released on return.
struct StoredTuple {
  TupleHeader h;
  std::string row;
};
Result<std::optional<StoredTuple>> ReadTuple(HeapEnv& env, const RelFileNode& rel, TupleId tid,
                                             bool with_row) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(rel, tid.block));
  buf.LockShared();
  Page p = buf.page();
  if (p.state(tid.off) != storage::ItemState::kNormal) return std::optional<StoredTuple>();
  std::string_view item = p.Item(tid.off);
  StoredTuple t{ReadHeader(item.data()), {}};
  if (with_row) t.row = std::string(item.substr(kTupleHeaderSize));
  return std::optional<StoredTuple>(std::move(t));
}

}  // namespace

namespace {

// Visits the versions of the HOT chain rooted at line pointer `root` of a locked page, oldest
// first, while fn(offset, header) returns true. A version whose xmin is not its predecessor's
// xmax ends the chain: its line pointer was freed and reused since.
template <typename Fn>
void WalkChain(const Page& p, BlockNumber block, OffsetNumber root, Fn&& fn) {
  OffsetNumber off = root;
  if (p.state(off) == storage::ItemState::kRedirect) off = p.RedirectTarget(off);
  TransactionId prior_xmax = kInvalidXid;
  for (OffsetNumber hops = 0; hops <= p.max_offset(); hops++) {
    if (p.state(off) != storage::ItemState::kNormal) return;
    TupleHeader h = ReadHeader(p.Item(off).data());
    if (prior_xmax != kInvalidXid && (h.xmin != prior_xmax || !(h.infomask & kHeapOnly))) return;
    if (!fn(off, h)) return;
    if (!(h.infomask & kHeapHotUpdated) || h.ctid.block != block || h.ctid.off == off) return;
    prior_xmax = h.xmax;
    off = h.ctid.off;
  }
}

}  // namespace

Result<std::optional<std::string>> HeapFetch(HeapEnv& env, const RelFileNode& rel,
                                             const TxnContext& tx, TupleId tid, TupleId* found) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(rel, tid.block));
  buf.LockShared();
  Page p = buf.page();
  std::optional<std::string> out;
  WalkChain(p, tid.block, tid.off, [&](OffsetNumber off, const TupleHeader& h) {
    if (!TupleVisible(h, tx, *env.txm)) return true;
    out = std::string(p.Item(off).substr(kTupleHeaderSize));
    if (found) *found = TupleId{tid.block, off};
    return false;
  });
  return out;
}

Result<std::optional<std::string>> HeapFetchLatest(HeapEnv& env, const RelFileNode& rel,
                                                   const TxnContext& tx, TupleId tid,
                                                   TransactionId xmin) {
  WALREP_ASSIGN_OR_RETURN(auto t, ReadTuple(env, rel, tid, true));
  if (!t || (t->h.infomask & kHeapXminInvalid) || t->h.xmin != xmin) {
    return std::optional<std::string>();
  }
  bool mine = t->h.xmin == tx.xid && tx.xid != kInvalidXid;
  if (!mine && env.txm->StatusOf(t->h.xmin) != XidStatus::kCommitted) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(std::move(t->row));
}

Status HeapUndo(HeapEnv& env, TxnContext& tx, size_t mark) {
  if (!tx.undo) return Status::OK();
  bool released_locks = false;
  while (tx.undo->size() > mark) {
    UndoEntry u = tx.undo->back();
    tx.undo->pop_back();
    NoteWrite(env, u.rel, tx, tx.xid);
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(u.rel, u.tid.block));
    buf.LockExclusive();
    Page p = buf.page();
    if (p.state(u.tid.off) != storage::ItemState::kNormal) continue;
    char* item = p.MutableItem(u.tid.off);
    TupleHeader h = ReadHeader(item);
    if (u.inserted) {
      h.infomask |= kHeapXminInvalid;
    } else {
      h.xmax = u.before.xmax;
      h.cmax = u.before.cmax;
      h.infomask = static_cast<uint16_t>(u.before.infomask | (h.infomask & kHeapXminInvalid));
      h.ctid = u.before.ctid;
    }
    WriteHeader(item, h);
    std::vector<PageChange> pages{{&buf, DeleteData(u.tid.off, h)}};
    WALREP_RETURN_IF_ERROR(LogChange(env, kHeapDelete, tx.xid, pages));
    released_locks |= !u.inserted;
  }
  // Sessions waiting for a row lock this released go on now, as PostgreSQL's subtransaction
  // abort wakes them.
  if (released_locks) env.txm->WakeWaiters();
  return Status::OK();
}

namespace {

// The state of one version (see HeapTupleState).
TupleState VersionState(HeapEnv& env, const TxnContext& tx, const TupleHeader& h,
                        TransactionId* running) {
  if (h.infomask & kHeapXminInvalid) return TupleState::kDeadToAll;
  bool mine_xmin = h.xmin == tx.xid && tx.xid != kInvalidXid;
  if (!mine_xmin) {
    XidStatus s = env.txm->StatusOf(h.xmin);
    if (s == XidStatus::kAborted) return TupleState::kDeadToAll;
    if (s == XidStatus::kInProgress) {
      *running = h.xmin;
      return TupleState::kInProgress;
    }
  }
  if (h.xmax == kInvalidXid) return TupleState::kLive;
  if (h.xmax == tx.xid && tx.xid != kInvalidXid) return TupleState::kDead;
  XidStatus s = env.txm->StatusOf(h.xmax);
  if (s == XidStatus::kCommitted) {
    return h.xmax < env.txm->OldestRunning() ? TupleState::kDeadToAll : TupleState::kDead;
  }
  if (s == XidStatus::kAborted) return TupleState::kLive;
  *running = h.xmax;
  return TupleState::kInProgress;
}

}  // namespace

Result<TupleState> HeapTupleState(HeapEnv& env, const RelFileNode& rel, const TxnContext& tx,
                                  TupleId tid, TransactionId* running) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(rel, tid.block));
  buf.LockShared();
  // The row is live if any version is, being changed if any version is, and dead to all only
  // when every version is.
  bool live = false, dead_to_all = true;
  TransactionId in_progress = kInvalidXid;
  WalkChain(buf.page(), tid.block, tid.off, [&](OffsetNumber, const TupleHeader& h) {
    TransactionId r = kInvalidXid;
    TupleState s = VersionState(env, tx, h, &r);
    if (s == TupleState::kLive) {
      live = true;
      return false;
    }
    if (s == TupleState::kInProgress && in_progress == kInvalidXid) in_progress = r;
    dead_to_all &= s == TupleState::kDeadToAll;
    return true;
  });
  if (live) return TupleState::kLive;
  if (in_progress != kInvalidXid) {
    *running = in_progress;
    return TupleState::kInProgress;
  }
  return dead_to_all ? TupleState::kDeadToAll : TupleState::kDead;
}

std::string EncodeFields(const Fields& f) {
  std::string out;
  Put<uint16_t>(&out, static_cast<uint16_t>(f.size()));
  for (const auto& v : f) {
    if (!v) {
      Put<uint32_t>(&out, 0xFFFFFFFFu);
    } else {
      Put<uint32_t>(&out, static_cast<uint32_t>(v->size()));
      out += *v;
    }
  }
  return out;
}

Status DecodeFieldViews(std::string_view row, FieldViews* out) {
  out->clear();
  if (row.size() < 2) return Status::Corruption("invalid row");
  uint16_t n = Get<uint16_t>(row, 0);
  out->reserve(n);
  size_t pos = 2;
  for (uint16_t i = 0; i < n; i++) {
    if (pos + 4 > row.size()) return Status::Corruption("invalid row");
    uint32_t len = Get<uint32_t>(row, pos);
    pos += 4;
    if (len == 0xFFFFFFFFu) {
      out->emplace_back(std::nullopt);
      continue;
    }
    if (pos + len > row.size()) return Status::Corruption("invalid row");
    out->emplace_back(row.substr(pos, len));
    pos += len;
  }
  return Status::OK();
}

Result<Fields> DecodeFields(std::string_view row) {
  FieldViews views;
  WALREP_RETURN_IF_ERROR(DecodeFieldViews(row, &views));
  Fields f;
  f.reserve(views.size());
  for (const auto& v : views) {
    if (v) {
      f.emplace_back(std::string(*v));
    } else {
      f.emplace_back(std::nullopt);
    }
  }
  return f;
}

Status ForEachRow(HeapEnv& env, const RelFileNode& rel, const TxnContext& tx,
                  const std::function<Status(TupleId, std::string&)>& fn) {
  HeapScan scan(env, rel, tx);
  TupleId tid;
  std::string row;
  while (true) {
    WALREP_ASSIGN_OR_RETURN(bool more, scan.Next(&tid, &row));
    if (!more) return Status::OK();
    WALREP_RETURN_IF_ERROR(fn(tid, row));
  }
}

Result<bool> HeapScan::Next(TupleId* tid, std::string* row) {
  if (nblocks_ == storage::kInvalidBlock) {
    WALREP_ASSIGN_OR_RETURN(nblocks_, env_.pool->NBlocks(rel_));
  }
  while (pos_ >= page_rows_.size()) {
    if (block_ >= nblocks_) return false;
    page_rows_.clear();
    pos_ = 0;
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env_.pool->Read(rel_, block_));
    buf.LockShared();
    Page p = buf.page();
    if (!p.IsNew()) {
      for (OffsetNumber o = 1; o <= p.max_offset(); o++) {
        if (p.state(o) != storage::ItemState::kNormal) continue;
        std::string_view item = p.Item(o);
        if (TupleVisible(ReadHeader(item.data()), tx_, *env_.txm)) {
          page_rows_.emplace_back(o, std::string(item.substr(kTupleHeaderSize)));
        }
      }
    }
    block_++;
  }
  *tid = TupleId{block_ - 1, page_rows_[pos_].first};
  *row = std::move(page_rows_[pos_].second);
  pos_++;
  return true;
}

namespace {

// Removes the versions on an exclusively locked page that no snapshot can see (deleted or
// updated by a transaction older than `horizon`, or inserted by one that aborted or by work
// rolled back to a savepoint), WAL-logging the change with the newest removed xid (the
// conflict horizon for standbys). Index entries point at chain roots, so a root's line pointer
// stays: dead when its whole chain is gone, else redirected to the chain's first remaining
// version. Heap-only versions have no index entries: their line pointers become unused, free
// for the next version. Returns how many versions went.
Result<size_t> PrunePage(HeapEnv& env, BufferPool::Handle& buf, TransactionId horizon) {
  Page p = buf.page();
  if (p.IsNew()) return size_t{0};
  const BlockNumber block = buf.block();
  const OffsetNumber n = p.max_offset();
  TransactionId latest_removed = 0;
  auto dead = [&](const TupleHeader& h) {
    return (h.infomask & kHeapXminInvalid) || env.txm->StatusOf(h.xmin) == XidStatus::kAborted ||
           (h.xmax != kInvalidXid && h.xmax < horizon &&
            env.txm->StatusOf(h.xmax) == XidStatus::kCommitted);
  };
  auto remove = [&](const TupleHeader& h) {
    if (h.xmax > latest_removed) latest_removed = h.xmax;
  };
  std::vector<bool> visited(n + 1u, false);
  std::vector<OffsetNumber> to_dead, to_unused;
  std::vector<std::pair<OffsetNumber, OffsetNumber>> to_redirect;
  size_t removed = 0;
  for (OffsetNumber root = 1; root <= n; root++) {
    storage::ItemState st = p.state(root);
    if (st == storage::ItemState::kNormal) {
      if (ReadHeader(p.Item(root).data()).infomask & kHeapOnly) continue;  // not a root
    } else if (st != storage::ItemState::kRedirect) {
      continue;
    }
    // The chain's versions up to the first one still live or being changed. Versions whose
    // deleter committed but that an old snapshot might still see do not end it: a later one
    // dead to all means the earlier ones are too (each updater waited for the one before it
    // to commit), as in PostgreSQL's heap_prune_chain.
    std::vector<std::pair<OffsetNumber, TupleHeader>> versions;
    int last_dead = -1;
    WalkChain(p, block, root, [&](OffsetNumber off, const TupleHeader& h) {
      if (visited[off]) return false;
      visited[off] = true;
      versions.emplace_back(off, h);
      if (dead(h)) {
        last_dead = static_cast<int>(versions.size()) - 1;
        return true;
      }
      return h.xmax != kInvalidXid && env.txm->StatusOf(h.xmax) == XidStatus::kCommitted;
    });
    if (last_dead < 0) continue;
    for (int i = 0; i <= last_dead; i++) {
      const auto& [off, h] = versions[static_cast<size_t>(i)];
      remove(h);
      removed++;
      if (off != root) to_unused.push_back(off);
    }
    size_t keep = static_cast<size_t>(last_dead) + 1;
    if (keep == versions.size()) {
      to_dead.push_back(root);  // the whole chain is gone; index entries still point here
    } else if (p.RedirectTarget(root) != versions[keep].first) {
      to_redirect.emplace_back(root, versions[keep].first);
    }
  }
  // Heap-only versions no chain reaches (their updater rolled back) that are dead.
  for (OffsetNumber off = 1; off <= n; off++) {
    if (visited[off] || p.state(off) != storage::ItemState::kNormal) continue;
    TupleHeader h = ReadHeader(p.Item(off).data());
    if ((h.infomask & kHeapOnly) && dead(h)) {
      remove(h);
      removed++;
      to_unused.push_back(off);
    }
  }
  if (to_dead.empty() && to_unused.empty() && to_redirect.empty()) return size_t{0};
  std::string data = PruneData(latest_removed, to_dead, to_unused, to_redirect);
  ApplyPrune(p, data);
  std::vector<PageChange> pages{{&buf, std::move(data)}};
  WALREP_RETURN_IF_ERROR(LogChange(env, kHeapPruneChains, kInvalidXid, pages));
  if (env.fsm) env.fsm->Record(buf.rel(), block, p.FreeSpace());
  if (env.stats) env.stats->Pruned(buf.rel(), static_cast<int64_t>(removed));
  return removed;
}

}  // namespace

Result<uint64_t> HeapVacuum(HeapEnv& env, const RelFileNode& rel,
                            std::vector<TupleId>* dead_items) {
  TransactionId horizon = env.txm->OldestRunning();
  WALREP_ASSIGN_OR_RETURN(BlockNumber n, env.pool->NBlocks(rel));
  uint64_t removed = 0;
  for (BlockNumber b = 0; b < n; b++) {
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(rel, b));
    buf.LockExclusive();
    WALREP_ASSIGN_OR_RETURN(size_t n_removed, PrunePage(env, buf, horizon));
    removed += n_removed;
    Page p = buf.page();
    if (!dead_items || p.IsNew()) continue;
    for (OffsetNumber o = 1; o <= p.max_offset(); o++) {
      if (p.state(o) == storage::ItemState::kDead) dead_items->push_back(TupleId{b, o});
    }
  }
  return removed;
}

Status HeapReclaimLinePointers(HeapEnv& env, const RelFileNode& rel,
                               const std::vector<TupleId>& dead_items) {
  for (size_t i = 0; i < dead_items.size();) {
    const BlockNumber block = dead_items[i].block;
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(rel, block));
    buf.LockExclusive();
    Page p = buf.page();
    std::vector<OffsetNumber> offs;
    for (; i < dead_items.size() && dead_items[i].block == block; i++) {
      if (p.state(dead_items[i].off) == storage::ItemState::kDead) {
        offs.push_back(dead_items[i].off);
      }
    }
    if (offs.empty()) continue;
    // Nothing a standby query could see goes: no conflict horizon.
    std::string data = PruneData(kInvalidXid, {}, offs, {});
    ApplyPrune(p, data);
    std::vector<PageChange> pages{{&buf, std::move(data)}};
    WALREP_RETURN_IF_ERROR(LogChange(env, kHeapPruneChains, kInvalidXid, pages));
    if (env.fsm) env.fsm->Record(rel, block, p.FreeSpace());
  }
  return Status::OK();
}

namespace {
Status TooShort(const wal::DecodedRecord& rec) {
  return Status::Corruption(fmt::format("heap record at {} is too short", rec.lsn.ToString()));
}
}  // namespace

Status HeapRedo(HeapEnv& env, const wal::DecodedRecord& rec) {
  uint8_t info = rec.info & 0xF0;
  if ((info == kHeapPrune || info == kHeapPruneChains) && env.resolve_conflict) {
    for (const auto& blk : rec.blocks) {
      if (blk.data.size() >= 4) env.resolve_conflict(Get<uint32_t>(blk.data, 0));
    }
  }
  // Replayed catalog changes invalidate catalog caches on a hot standby (again at the commit).
  if (rec.xid != kInvalidXid && !rec.blocks.empty() &&
      rec.blocks[0].rnode.rel < kFirstUserRelFile) {
    env.txm->NoteCatalogWrite(rec.xid);
  }
  std::string tuple;  // a new tuple rebuilt from its WAL form (RedoTuple)
  for (const auto& blk : rec.blocks) {
    env.pool->NoteBlock(blk.rnode, blk.block);
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle buf, env.pool->Read(blk.rnode, blk.block));
    buf.LockExclusive();
    Page p = buf.page();
    if (blk.has_image && blk.apply_image) {
      std::memcpy(p.data(), blk.image.data(), storage::kPageSize);
      p.set_lsn(rec.end_lsn);
      buf.MarkDirty();
      continue;
    }
    if (!p.IsNew() && p.lsn() >= rec.end_lsn) continue;  // already applied
    if (blk.will_init || p.IsNew()) storage::Page::Init(p.data());
    std::string_view d = blk.data;
    auto set_header = [&](OffsetNumber off, TransactionId xmax, CommandId cmax, uint16_t mask,
                          std::optional<TupleId> ctid) {
      if (p.state(off) != storage::ItemState::kNormal) return;
      char* t = p.MutableItem(off);
      TupleHeader h = ReadHeader(t);
      h.xmax = xmax;
      h.cmax = cmax;
      h.infomask = mask;
      if (ctid) h.ctid = *ctid;
      WriteHeader(t, h);
    };
    switch (info) {
      case kHeapInsert: {
        if (d.size() < 8) return TooShort(rec);
        OffsetNumber off = Get<uint16_t>(d, 0);
        p.AddItem(RedoTuple(&tuple, rec.xid, Get<uint32_t>(d, 2), TupleId{blk.block, off},
                            Get<uint16_t>(d, 6), d.substr(8)),
                  off);
        break;
      }
      case kHeapDelete:
        set_header(Get<uint16_t>(d, 0), Get<uint32_t>(d, 2), Get<uint32_t>(d, 6),
                   Get<uint16_t>(d, 10), TupleId{Get<uint32_t>(d, 12), Get<uint16_t>(d, 16)});
        break;
      case kHeapUpdateSamePage: {
        if (d.size() < 16) return TooShort(rec);
        OffsetNumber new_off = Get<uint16_t>(d, 12);
        p.AddItem(RedoTuple(&tuple, Get<uint32_t>(d, 2), Get<uint32_t>(d, 6),
                            TupleId{blk.block, new_off}, Get<uint16_t>(d, 14), d.substr(16)),
                  new_off);
        set_header(Get<uint16_t>(d, 0), Get<uint32_t>(d, 2), Get<uint32_t>(d, 6),
                   Get<uint16_t>(d, 10), TupleId{blk.block, new_off});
        break;
      }
      case kHeapSetCtid: {
        OffsetNumber off = Get<uint16_t>(d, 0);
        if (p.state(off) == storage::ItemState::kNormal) {
          char* t = p.MutableItem(off);
          TupleHeader h = ReadHeader(t);
          h.ctid = TupleId{Get<uint32_t>(d, 2), Get<uint16_t>(d, 6)};
          WriteHeader(t, h);
        }
        break;
      }
      case kHeapPrune:
        for (size_t i = 4; i + 2 <= d.size(); i += 2) {
          p.SetState(Get<uint16_t>(d, i), storage::ItemState::kDead);
        }
        p.Compact();
        break;
      case kHeapPruneChains:
        ApplyPrune(p, d);
        break;
      case kHeapMultiInsert: {
        CommandId cid = Get<uint32_t>(d, 0);
        uint16_t count = Get<uint16_t>(d, 4);
        OffsetNumber first = Get<uint16_t>(d, 6);
        size_t pos = first ? 8 : 8 + 2 * size_t{count};
        for (uint16_t k = 0; k < count; k++) {
          if (pos + 4 > d.size() || pos + 4 + Get<uint16_t>(d, pos) > d.size()) {
            return TooShort(rec);
          }
          OffsetNumber off =
              first ? static_cast<OffsetNumber>(first + k) : Get<uint16_t>(d, 8 + 2 * size_t{k});
          uint16_t len = Get<uint16_t>(d, pos);
          p.AddItem(RedoTuple(&tuple, rec.xid, cid, TupleId{blk.block, off},
                              Get<uint16_t>(d, pos + 2), d.substr(pos + 4, len)),
                    off);
          pos += 4 + len;
        }
        break;
      }
      default:
        return Status::Corruption(
            fmt::format("unknown heap record type {:#x} at {}", info, rec.lsn.ToString()));
    }
    p.set_lsn(rec.end_lsn);
    buf.MarkDirty();
  }
  return Status::OK();
}

Status RestorePageImages(HeapEnv& env, const wal::DecodedRecord& rec) {
  for (const auto& blk : rec.blocks) {
    if (!blk.has_image) {
      return Status::Corruption(
          fmt::format("record at {} without a page image", rec.lsn.ToString()));
    }
    env.pool->NoteBlock(blk.rnode, blk.block);
    WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env.pool->Read(blk.rnode, blk.block));
    h.LockExclusive();
    std::memcpy(h.data(), blk.image.data(), storage::kPageSize);
    h.page().set_lsn(rec.end_lsn);
    h.MarkDirty();
  }
  return Status::OK();
}

}  // namespace walrep::access
