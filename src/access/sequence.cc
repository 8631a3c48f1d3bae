// walrep: sequences (see sequence.h).
#include "walrep/access/sequence.h"

#include <fmt/format.h>

#include <cstring>

namespace walrep::access {

namespace {

using storage::BufferPool;
using storage::Page;

constexpr int64_t kLogAhead = 32;  // values covered by one WAL record (SEQ_LOG_VALS)
constexpr size_t kItemSize = 17;

SequenceState Decode(Page p) {
  SequenceState s;
  std::string_view item = p.Item(1);
  std::memcpy(&s.last_value, item.data(), 8);
  std::memcpy(&s.log_cnt, item.data() + 8, 8);
  s.is_called = item[16] != 0;
  return s;
}

void Encode(Page p, const SequenceState& s) {
  char* item = p.MutableItem(1);
  std::memcpy(item, &s.last_value, 8);
  std::memcpy(item + 8, &s.log_cnt, 8);
  item[16] = s.is_called ? 1 : 0;
}

// Logs the page as it is now (a full image) and stamps its LSN. The caller holds the exclusive
// lock and has given the transaction an xid.
Status LogPage(HeapEnv& env, BufferPool::Handle& h, TransactionId xid) {
  wal::RecordBuilder b;
  wal::BlockRef ref;
  ref.id = 0;
  ref.rnode = h.rel();
  ref.block = h.block();
  ref.has_image = ref.apply_image = true;
  ref.image.assign(h.data(), storage::kPageSize);
  b.AddBlock(std::move(ref));
  WALREP_ASSIGN_OR_RETURN(auto pos, env.wal->Insert(kRmSequence, kSequenceLog, xid, b.BuildBody()));
  h.page().set_lsn(pos.end);
  h.MarkDirty();
  return Status::OK();
}

Result<BufferPool::Handle> LockedPage(HeapEnv& env, const RelFileNode& rel) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env.pool->Read(rel, 0));
  h.LockExclusive();
  if (h.page().max_offset() < 1 || h.page().Item(1).size() != kItemSize) {
    return Status::Corruption(fmt::format("invalid sequence page in relation {}", rel.rel));
  }
  return h;
}

// The value after `v`, or nullopt when the sequence is exhausted.
}  // namespace

std::optional<int64_t> SequenceAdvance(const SequenceOptions& o, int64_t v) {
  int64_t next;
  if (__builtin_add_overflow(v, o.increment, &next) || next > o.max || next < o.min) {
    if (!o.cycle) return std::nullopt;
    return o.increment > 0 ? o.min : o.max;
  }
  return next;
}

Status SequenceInit(HeapEnv& env, const RelFileNode& rel, int64_t start) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env.pool->Extend(rel));
  h.LockExclusive();
  h.page().AddItem(std::string(kItemSize, '\0'));
  Encode(h.page(), SequenceState{start, 0, false});
  return LogPage(env, h, kInvalidXid);
}

Result<SequenceState> SequenceRead(HeapEnv& env, const RelFileNode& rel) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, env.pool->Read(rel, 0));
  h.LockShared();
  if (h.page().max_offset() < 1 || h.page().Item(1).size() != kItemSize) {
    return Status::Corruption(fmt::format("invalid sequence page in relation {}", rel.rel));
  }
  return Decode(h.page());
}

Result<int64_t> SequenceNext(HeapEnv& env, const RelFileNode& rel, const SequenceOptions& o,
                             TxnContext& tx, const std::string& name, int64_t fetch,
                             int64_t* fetched) {
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, LockedPage(env, rel));
  SequenceState s = Decode(h.page());
  std::optional<int64_t> next = s.is_called ? SequenceAdvance(o, s.last_value) : s.last_value;
  if (!next) {
    return Status::Sql("2200H", fmt::format("nextval: reached {} value of sequence \"{}\" ({})",
                                            o.increment > 0 ? "maximum" : "minimum", name,
                                            o.increment > 0 ? o.max : o.min));
  }
  // CACHE: the caller takes up to `fetch` values (fewer where the range ends).
  int64_t last = *next, count = 1;
  while (count < fetch) {
    std::optional<int64_t> a = SequenceAdvance(o, last);
    if (!a) break;
    last = *a;
    count++;
  }
  if (fetched) *fetched = count;
  if (s.log_cnt < count || h.page().lsn() <= env.wal->redo_pointer()) {
    // Log a state 32 values beyond the last one taken (fewer where the range ends), so replay
    // never goes back.
    int64_t ahead = last, logged = 0;
    while (logged < kLogAhead) {
      std::optional<int64_t> a = SequenceAdvance(o, ahead);
      if (!a || (o.increment > 0 ? *a < ahead : *a > ahead)) break;  // exhausted or wrapped
      ahead = *a;
      logged++;
    }
    TransactionId xid = tx.ensure_xid ? tx.ensure_xid() : tx.xid;
    Encode(h.page(), SequenceState{ahead, 0, true});
    WALREP_RETURN_IF_ERROR(LogPage(env, h, xid));
    s.log_cnt = logged;
  } else {
    s.log_cnt -= count;
  }
  Encode(h.page(), SequenceState{last, s.log_cnt, true});
  h.MarkDirty();
  // The value is covered by the record that logged ahead, which may belong to a transaction
  // that has not committed (or aborted). A transaction with an xid makes it durable when it
  // commits: its commit record comes later in the WAL and is flushed. One without an xid commits
  // without WAL, so for it the record is made durable before the value is handed out. (Flushing
  // for every caller cost a bulk INSERT into a serial column an fsync per 32 rows.)
  Lsn covered = h.page().lsn();
  h.Unlock();
  if (tx.xid == kInvalidXid && covered > env.wal->flush_lsn()) {
    WALREP_RETURN_IF_ERROR(env.wal->Flush(covered));
  }
  return *next;
}

Status SequenceSet(HeapEnv& env, const RelFileNode& rel, const SequenceOptions& o, TxnContext& tx,
                   const std::string& name, int64_t value, bool is_called) {
  if (value < o.min || value > o.max) {
    return Status::Sql("22003", fmt::format("setval: value {} is out of bounds for sequence "
                                            "\"{}\" ({}..{})",
                                            value, name, o.min, o.max));
  }
  WALREP_ASSIGN_OR_RETURN(BufferPool::Handle h, LockedPage(env, rel));
  TransactionId xid = tx.ensure_xid ? tx.ensure_xid() : tx.xid;
  Encode(h.page(), SequenceState{value, 0, is_called});
  return LogPage(env, h, xid);
}

}  // namespace walrep::access
