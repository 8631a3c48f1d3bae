// walrep: transactions (see xact.h).
#include "walrep/access/xact.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "walrep/common/time.h"

namespace walrep::access {

namespace {
constexpr uint32_t kXidsPerPage = 8192 * 4;
constexpr uint32_t kPagesPerSegment = 32;
constexpr uint32_t kXidsPerSegment = kXidsPerPage * kPagesPerSegment;
}  // namespace

bool Snapshot::InProgress(TransactionId xid) const {
  if (xid >= xmax) return true;
  if (xid < xmin) return false;
  return std::binary_search(xip.begin(), xip.end(), xid);
}

namespace {

constexpr uint32_t kXinfoHasRelfilenodes = 0x04;
constexpr uint32_t kXactCompletionApplyFeedback = 1u << 29;

template <typename T>
void Append(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

std::string EncodeXactRecord(int64_t xact_time, const std::vector<RelFileNode>& rels,
                             bool apply_feedback) {
  std::string out;
  Append(&out, xact_time);
  if (!XactRecordHasInfo(rels, apply_feedback)) return out;
  Append(&out, (rels.empty() ? 0 : kXinfoHasRelfilenodes) |
                   (apply_feedback ? kXactCompletionApplyFeedback : 0));
  if (rels.empty()) return out;
  Append(&out, static_cast<int32_t>(rels.size()));
  for (const auto& r : rels) {
    Append(&out, r.spc);
    Append(&out, r.db);
    Append(&out, r.rel);
  }
  return out;
}

bool XactRecordRequestsApplyFeedback(uint8_t info, std::string_view d) {
  if (!(info & wal::kXactHasInfo) || d.size() < 12) return false;
  uint32_t xinfo;
  std::memcpy(&xinfo, d.data() + 8, 4);
  return (xinfo & kXactCompletionApplyFeedback) != 0;
}

std::vector<RelFileNode> XactRecordRels(uint8_t info, const std::string& d) {
  std::vector<RelFileNode> rels;
  if (!(info & wal::kXactHasInfo) || d.size() < 12) return rels;
  uint32_t xinfo;
  std::memcpy(&xinfo, d.data() + 8, 4);
  size_t off = 12;
  if (xinfo & 0x01) off += 8;  // dbinfo
  if (xinfo & 0x02) {          // subxacts
    int32_t n = 0;
    if (off + 4 <= d.size()) std::memcpy(&n, d.data() + off, 4);
    off += 4 + 4 * static_cast<size_t>(std::max(n, 0));
  }
  if (!(xinfo & kXinfoHasRelfilenodes) || off + 4 > d.size()) return rels;
  int32_t n;
  std::memcpy(&n, d.data() + off, 4);
  off += 4;
  for (int32_t i = 0; i < n && off + 12 <= d.size(); i++, off += 12) {
    RelFileNode r;
    std::memcpy(&r.spc, d.data() + off, 4);
    std::memcpy(&r.db, d.data() + off + 4, 4);
    std::memcpy(&r.rel, d.data() + off + 8, 4);
    rels.push_back(r);
  }
  return rels;
}

// ---------------------------------------------------------------------------------------------
// Clog

Status Clog::Load() {
  MutexLock l(&mu_);
  bits_.clear();
  for (uint32_t seg = 0;; seg++) {
    std::string path = fmt::format("{}/{:04X}", dir_, seg);
    if (!fs_->Exists(path)) break;
    WALREP_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFile(path));
    bits_.resize(static_cast<size_t>(seg) * kXidsPerSegment / 4);
    bits_.insert(bits_.end(), bytes.begin(), bytes.end());
  }
  return Status::OK();
}

Status Clog::Save() {
  std::vector<uint8_t> copy;
  {
    MutexLock l(&mu_);
    copy = bits_;
  }
  size_t seg_bytes = kXidsPerSegment / 4;
  for (size_t seg = 0; seg * seg_bytes < copy.size(); seg++) {
    size_t n = std::min(seg_bytes, copy.size() - seg * seg_bytes);
    // Whole pages, as PostgreSQL writes them.
    size_t padded = (n + 8191) / 8192 * 8192;
    std::string data(reinterpret_cast<const char*>(copy.data() + seg * seg_bytes), n);
    data.resize(padded, '\0');
    WALREP_RETURN_IF_ERROR(fs_->WriteFileDurably(fmt::format("{}/{:04X}", dir_, seg), data));
  }
  return Status::OK();
}

XidStatus Clog::Get(TransactionId xid) const {
  MutexLock l(&mu_);
  size_t byte = xid / 4;
  if (byte >= bits_.size()) return XidStatus::kInProgress;
  return static_cast<XidStatus>((bits_[byte] >> ((xid % 4) * 2)) & 3);
}

void Clog::Set(TransactionId xid, XidStatus s) {
  MutexLock l(&mu_);
  size_t byte = xid / 4;
  if (byte >= bits_.size()) bits_.resize(byte + 4096, 0);
  int shift = (xid % 4) * 2;
  bits_[byte] =
      static_cast<uint8_t>((bits_[byte] & ~(3 << shift)) | (static_cast<int>(s) << shift));
}

// ---------------------------------------------------------------------------------------------
// TransactionManager

TransactionManager::TransactionManager(wal::WalWriter* wal, Clog* clog, TransactionId next_xid)
    : wal_(wal), clog_(clog) {
  MutexLock l(&mu_);
  next_xid_ = std::max(next_xid, kFirstNormalXid);
}

TransactionId TransactionManager::Assign() {
  MutexLock l(&mu_);
  TransactionId xid = next_xid_++;
  running_.insert(xid);
  return xid;
}

TransactionId TransactionManager::next_xid() const {
  MutexLock l(&mu_);
  return next_xid_;
}

Result<Lsn> TransactionManager::Commit(TransactionId xid, bool flush,
                                       const std::vector<RelFileNode>& rels, bool apply_feedback) {
  wal::WalWriter::Position pos;
  // Files are removed after the commit, so the commit must be durable first (PostgreSQL forces
  // a synchronous commit when relations are dropped).
  flush |= !rels.empty();
  {
    MutexLock c(&commit_mu_);
    WALREP_ASSIGN_OR_RETURN(
        pos, wal_->Insert(wal::kRmXact,
                          static_cast<uint8_t>(
                              wal::kXactCommit |
                              (XactRecordHasInfo(rels, apply_feedback) ? wal::kXactHasInfo : 0)),
                          xid,
                          wal::RecordBuilder()
                              .SetMainData(EncodeXactRecord(NowTimestamp(), rels, apply_feedback))
                              .BuildBody()));
    MutexLock l(&mu_);
    // Queued by the record's end: what makes it durable (here, or on the synchronous standbys
    // under a publish limit) is having all of it.
    to_publish_[pos.end] = {xid, XidStatus::kCommitted};
  }
  if (flush) {
    WALREP_RETURN_IF_ERROR(wal_->Flush(pos.end));
    PublishUpTo(wal_->flush_lsn());
  } else {
    PublishUpTo(pos.end);  // asynchronous commit: visible now, durable soon
  }
  return pos.end;
}

Status TransactionManager::Abort(TransactionId xid, const std::vector<RelFileNode>& rels) {
  wal::WalWriter::Position pos;
  {
    MutexLock c(&commit_mu_);
    WALREP_ASSIGN_OR_RETURN(
        pos,
        wal_->Insert(
            wal::kRmXact,
            static_cast<uint8_t>(wal::kXactAbort |
                                 (XactRecordHasInfo(rels, false) ? wal::kXactHasInfo : 0)),
            xid,
            wal::RecordBuilder().SetMainData(EncodeXactRecord(NowTimestamp(), rels)).BuildBody()));
    MutexLock l(&mu_);
    to_publish_[pos.end] = {xid, XidStatus::kAborted};
  }
  PublishUpTo(pos.end);
  return Status::OK();
}

void TransactionManager::PublishUpTo(Lsn upto) {
  if (has_publish_limit_.load(std::memory_order_acquire)) {
    upto = std::min(upto, publish_limit_());
  }
  MutexLock l(&mu_);
  bool any = false;
  while (!to_publish_.empty() && to_publish_.begin()->first <= upto) {
    auto [xid, status] = to_publish_.begin()->second;
    clog_->Set(xid, status);
    running_.erase(xid);
    if (catalog_writers_.erase(xid)) catalog_version_.fetch_add(1, std::memory_order_acq_rel);
    waits_for_.erase(xid);
    to_publish_.erase(to_publish_.begin());
    any = true;
  }
  if (any) ended_.SignalAll();
}

void TransactionManager::PublishDurable() {
  if (!wal_) return;
  Lsn flushed = wal_->flush_lsn();
  PublishUpTo(flushed);
  // Held back by the publish limit: durable, so recorded, but still running for snapshots.
  MutexLock l(&mu_);
  for (const auto& [lsn, entry] : to_publish_) {
    if (lsn > flushed) break;
    clog_->Set(entry.first, entry.second);
  }
}

Snapshot TransactionManager::TakeSnapshot(int32_t owner) const {
  MutexLock l(&mu_);
  Snapshot s;
  s.xmax = next_xid_;
  s.xip.assign(running_.begin(), running_.end());
  s.xmin = s.xip.empty() ? s.xmax : s.xip.front();
  auto it = snapshot_xmins_.emplace(s.xmin, owner);
  // Snapshots live in sessions, which end before the engine (and this manager) goes away.
  s.registration = std::shared_ptr<const void>(nullptr, [this, it](const void*) {
    MutexLock l(&mu_);
    snapshot_xmins_.erase(it);
    snapshot_released_.SignalAll();
  });
  return s;
}

std::vector<int32_t> TransactionManager::SnapshotOwnersUpTo(TransactionId xid) const {
  MutexLock l(&mu_);
  std::vector<int32_t> owners;
  for (auto it = snapshot_xmins_.begin(); it != snapshot_xmins_.end() && it->first <= xid; ++it) {
    if (std::find(owners.begin(), owners.end(), it->second) == owners.end()) {
      owners.push_back(it->second);
    }
  }
  return owners;
}

bool TransactionManager::WaitSnapshotsReleased(TransactionId xid,
                                               std::chrono::steady_clock::time_point deadline) {
  MutexLock l(&mu_);
  while (!snapshot_xmins_.empty() && snapshot_xmins_.begin()->first <= xid) {
    if (!snapshot_released_.WaitUntil(deadline)) {
      return snapshot_xmins_.empty() || snapshot_xmins_.begin()->first > xid;
    }
  }
  return true;
}

XidStatus TransactionManager::StatusOf(TransactionId xid) const {
  XidStatus s = clog_->Get(xid);
  // Final once set — except with a publish limit, where a checkpoint may record a commit that
  // is still running (not yet visible).
  if (s != XidStatus::kInProgress && !has_publish_limit_.load(std::memory_order_acquire)) {
    return s;
  }
  MutexLock l(&mu_);
  if (running_.count(xid)) return XidStatus::kInProgress;
  // Publication sets the commit log before it removes the xid from the running set (both under
  // mu_), so a second look is authoritative; still "in progress" there means it crashed.
  s = clog_->Get(xid);
  return s == XidStatus::kInProgress ? XidStatus::kAborted : s;
}

bool TransactionManager::IsRunning(TransactionId xid) const {
  MutexLock l(&mu_);
  return running_.count(xid) != 0;
}

TransactionId TransactionManager::OldestRunning() const {
  TransactionId extra = horizon_hook_ ? horizon_hook_() : kInvalidXid;
  MutexLock l(&mu_);
  TransactionId oldest = running_.empty() ? next_xid_ : *running_.begin();
  if (!snapshot_xmins_.empty()) oldest = std::min(oldest, snapshot_xmins_.begin()->first);
  if (extra >= kFirstNormalXid) oldest = std::min(oldest, extra);
  return oldest;
}

Status TransactionManager::WaitFor(TransactionId waiter, TransactionId xid,
                                   const std::function<Status()>& check) {
  MutexLock l(&mu_);
  if (!running_.count(xid)) return Status::OK();
  // Deadlock: the chain of waits from xid leads back to the waiter.
  for (TransactionId t = xid, hops = 0; hops < 10000; hops++) {
    auto it = waits_for_.find(t);
    if (it == waits_for_.end()) break;
    if (it->second == waiter) {
      return Status::Sql("40P01", "deadlock detected")
          .WithDetail(fmt::format("Process waiting for transaction {} is blocked by transaction {} "
                                  "which waits for this process's transaction {}.",
                                  xid, t, waiter))
          .WithHint("See server log for query details.");
    }
    t = it->second;
  }
  waits_for_[waiter] = xid;
  while (running_.count(xid)) {
    ended_.WaitUntil(std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
    mu_.Unlock();
    Status st = check();
    mu_.Lock();
    if (!st.ok()) {
      waits_for_.erase(waiter);
      return st;
    }
  }
  waits_for_.erase(waiter);
  return Status::OK();
}

void TransactionManager::WakeWaiters() {
  MutexLock l(&mu_);
  ended_.SignalAll();
}

void TransactionManager::RedoCommit(TransactionId xid) {
  AdvanceNextXid(xid + 1);
  MutexLock l(&mu_);
  // The status first, then the running set, under mu_: a snapshot sees the transaction either
  // running or committed, never neither (as PublishUpTo on the primary).
  clog_->Set(xid, XidStatus::kCommitted);
  running_.erase(xid);
  if (catalog_writers_.erase(xid)) catalog_version_.fetch_add(1, std::memory_order_acq_rel);
  ended_.SignalAll();
}

void TransactionManager::RedoAbort(TransactionId xid) {
  AdvanceNextXid(xid + 1);
  MutexLock l(&mu_);
  clog_->Set(xid, XidStatus::kAborted);
  running_.erase(xid);
  if (catalog_writers_.erase(xid)) catalog_version_.fetch_add(1, std::memory_order_acq_rel);
  ended_.SignalAll();
}

void TransactionManager::NoteCatalogWrite(TransactionId xid) {
  MutexLock l(&mu_);
  if (xid != kInvalidXid) catalog_writers_.insert(xid);
  catalog_version_.fetch_add(1, std::memory_order_acq_rel);
}

void TransactionManager::AdvanceNextXid(TransactionId xid) {
  MutexLock l(&mu_);
  if (xid <= next_xid_) return;
  if (hot_standby_) {
    for (TransactionId x = next_xid_; x < xid; x++) running_.insert(x);
  }
  next_xid_ = xid;
}

void TransactionManager::StartHotStandby(TransactionId oldest_active, TransactionId next_xid) {
  MutexLock l(&mu_);
  hot_standby_ = true;
  next_xid_ = std::max(next_xid_, next_xid);
  for (TransactionId x = std::max(oldest_active, kFirstNormalXid); x < next_xid_; x++) {
    if (clog_->Get(x) == XidStatus::kInProgress) running_.insert(x);
  }
}

void TransactionManager::EndHotStandby() {
  MutexLock l(&mu_);
  hot_standby_ = false;
  running_.clear();
  catalog_writers_.clear();
  catalog_version_.fetch_add(1, std::memory_order_acq_rel);
  ended_.SignalAll();
}

void TransactionManager::RedoRunningXacts(TransactionId next_xid,
                                          const std::vector<TransactionId>& running) {
  MutexLock l(&mu_);
  if (!hot_standby_) return;
  std::set<TransactionId> still(running.begin(), running.end());
  for (auto it = running_.begin(); it != running_.end() && *it < next_xid;) {
    it = still.count(*it) ? std::next(it) : running_.erase(it);
  }
  ended_.SignalAll();
}

Status TransactionManager::LogRunningXacts() {
  std::string body;
  {
    MutexLock l(&mu_);
    auto put = [&body](uint32_t v) { body.append(reinterpret_cast<const char*>(&v), 4); };
    TransactionId oldest = running_.empty() ? next_xid_ : *running_.begin();
    put(static_cast<uint32_t>(running_.size()));  // xcnt
    put(0);                                       // subxcnt
    put(0);                                       // subxid_overflow + padding
    put(next_xid_);
    put(oldest);
    put(next_xid_ - 1);  // latestCompletedXid
    for (TransactionId x : running_) put(x);
  }
  return wal_
      ->Insert(wal::kRmStandby, wal::kStandbyRunningXacts, kInvalidXid,
               wal::RecordBuilder().SetMainData(body).BuildBody())
      .status();
}

}  // namespace walrep::access
