// walrep: the lock manager (see lock.h).
#include "walrep/access/lock.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "bytes.h"
#include "walrep/common/time.h"

namespace walrep::access {
namespace {

// Bit m of kConflicts[n]: mode n conflicts with mode m (PostgreSQL's LockConflicts).
constexpr uint16_t Bit(LockMode m) { return static_cast<uint16_t>(1u << static_cast<int>(m)); }
constexpr uint16_t kAll = 0x1FE;
constexpr std::array<uint16_t, kNumLockModes> kConflicts = {
    0,
    Bit(LockMode::kAccessExclusive),
    Bit(LockMode::kExclusive) | Bit(LockMode::kAccessExclusive),
    Bit(LockMode::kShare) | Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) |
        Bit(LockMode::kAccessExclusive),
    Bit(LockMode::kShareUpdateExclusive) | Bit(LockMode::kShare) |
        Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) |
        Bit(LockMode::kAccessExclusive),
    Bit(LockMode::kRowExclusive) | Bit(LockMode::kShareUpdateExclusive) |
        Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) |
        Bit(LockMode::kAccessExclusive),
    Bit(LockMode::kRowExclusive) | Bit(LockMode::kShareUpdateExclusive) | Bit(LockMode::kShare) |
        Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) |
        Bit(LockMode::kAccessExclusive),
    kAll & ~Bit(LockMode::kAccessShare),
    kAll,
};

constexpr auto kPoll = std::chrono::milliseconds(50);

}  // namespace

const char* LockModeName(LockMode mode) {
  static constexpr const char* kNames[] = {"INVALID",
                                           "AccessShareLock",
                                           "RowShareLock",
                                           "RowExclusiveLock",
                                           "ShareUpdateExclusiveLock",
                                           "ShareLock",
                                           "ShareRowExclusiveLock",
                                           "ExclusiveLock",
                                           "AccessExclusiveLock"};
  return kNames[static_cast<int>(mode)];
}

bool LockModesConflict(LockMode a, LockMode b) {
  return (kConflicts[static_cast<int>(a)] & Bit(b)) != 0;
}

std::string LockTag::Describe() const {
  if (type == Type::kTransaction) return fmt::format("transaction {}", id);
  return fmt::format("relation {} of database {}", id, db);
}

bool LockOwner::Holds(const LockTag& tag, LockMode mode) const {
  return held_.count({tag, mode}) != 0;
}

bool LockManager::Grantable(const Lock& lock, const LockOwner* owner, LockMode mode,
                            const Waiter* self) const {
  uint16_t conflicts = kConflicts[static_cast<int>(mode)];
  const std::array<uint32_t, kNumLockModes>* own = nullptr;
  if (auto it = lock.holders.find(const_cast<LockOwner*>(owner)); it != lock.holders.end()) {
    own = &it->second;
  }
  for (int m = 1; m < kNumLockModes; m++) {
    if (!(conflicts & (1u << m))) continue;
    uint32_t others = lock.granted[m] - (own ? (*own)[m] : 0);
    if (others > 0) return false;
  }
  // Queue order: an owner that holds nothing here yet waits behind conflicting earlier
  // requests (one that holds something goes first, or it could deadlock with the queue).
  if (own) return true;
  for (const Waiter& w : lock.waiters) {
    if (&w == self) break;
    if (w.owner != owner && (conflicts & Bit(w.mode))) return false;
  }
  return true;
}

void LockManager::Grant(Lock& lock, LockOwner* owner, LockMode mode) {
  lock.granted[static_cast<int>(mode)]++;
  lock.holders[owner][static_cast<int>(mode)]++;
}

Status LockManager::Acquire(LockOwner* owner, const LockTag& tag, LockMode mode,
                            const LockRequest& req) {
  if (owner->held_.count({tag, mode})) return Status::OK();
  auto record = [&] {
    owner->held_.insert({tag, mode});
    owner->order_.emplace_back(tag, mode);
  };
  MutexLock l(&mu_);
  Lock& lock = locks_[tag];
  if (Grantable(lock, owner, mode, nullptr)) {
    Grant(lock, owner, mode);
    record();
    return Status::OK();
  }
  if (req.nowait) {
    if (lock.holders.empty() && lock.waiters.empty()) locks_.erase(tag);
    return Status::Retry("lock not available");
  }
  lock.waiters.push_back(Waiter{owner, mode, NowTimestamp()});
  auto self = std::prev(lock.waiters.end());
  waiting_[owner] = {tag, mode};
  if (owner->report_wait) {
    owner->report_wait("Lock", tag.type == LockTag::Type::kRelation ? "relation" : "transactionid");
  }
  auto start = std::chrono::steady_clock::now();
  bool deadlock_checked = req.deadlock_timeout_ms <= 0;
  auto leave = [&](Status st) {
    mu_.AssertHeld();
    lock.waiters.erase(self);
    waiting_.erase(owner);
    if (owner->report_wait) owner->report_wait(nullptr, nullptr);
    if (st.ok()) {
      Grant(lock, owner, mode);
      record();
    } else if (lock.holders.empty() && lock.waiters.empty()) {
      locks_.erase(tag);
    }
    // Requests queued behind this one may be grantable now.
    changed_.SignalAll();
    return st;
  };
  // The deadlock search runs when deadlock_timeout has passed, not at the next poll: of two
  // waiters in a cycle, the one that began waiting first finds it (as PostgreSQL's timers).
  const auto deadlock_at = start + std::chrono::milliseconds(req.deadlock_timeout_ms);
  while (true) {
    auto wake = std::chrono::steady_clock::now() + kPoll;
    if (!deadlock_checked) wake = std::min(wake, deadlock_at);
    changed_.WaitUntil(wake);
    if (Grantable(lock, owner, mode, &*self)) return leave(Status::OK());
    if (req.check) {
      mu_.Unlock();
      Status st = req.check();
      mu_.Lock();
      if (!st.ok()) return leave(std::move(st));
      if (Grantable(lock, owner, mode, &*self)) return leave(Status::OK());
    }
    auto waited = std::chrono::steady_clock::now() - start;
    if (req.timeout_ms > 0 && waited >= std::chrono::milliseconds(req.timeout_ms)) {
      return leave(Status::Sql("55P03", "canceling statement due to lock timeout"));
    }
    if (!deadlock_checked && std::chrono::steady_clock::now() >= deadlock_at) {
      deadlock_checked = true;
      std::string cycle = FindDeadlock(owner);
      if (!cycle.empty()) {
        return leave(Status::Sql("40P01", "deadlock detected")
                         .WithDetail(cycle)
                         .WithHint("See server log for query details."));
      }
    }
  }
}

void LockManager::ReleaseLocked(LockOwner* owner, const LockTag& tag, LockMode mode) {
  auto it = locks_.find(tag);
  if (it == locks_.end()) return;
  Lock& lock = it->second;
  auto h = lock.holders.find(owner);
  if (h == lock.holders.end() || h->second[static_cast<int>(mode)] == 0) return;
  h->second[static_cast<int>(mode)]--;
  lock.granted[static_cast<int>(mode)]--;
  bool none = std::all_of(h->second.begin(), h->second.end(), [](uint32_t n) { return n == 0; });
  if (none) lock.holders.erase(h);
  if (!lock.waiters.empty()) {
    changed_.SignalAll();
  } else if (lock.holders.empty()) {
    locks_.erase(it);
  }
}

void LockManager::Release(LockOwner* owner, const LockTag& tag, LockMode mode) {
  if (!owner->held_.erase({tag, mode})) return;
  auto& order = owner->order_;
  for (size_t i = order.size(); i-- > 0;) {
    if (order[i].first == tag && order[i].second == mode) {
      order.erase(order.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  MutexLock l(&mu_);
  ReleaseLocked(owner, tag, mode);
}

void LockManager::ReleaseSince(LockOwner* owner, size_t mark) {
  auto& order = owner->order_;
  if (mark >= order.size()) return;
  {
    MutexLock l(&mu_);
    for (size_t i = order.size(); i-- > mark;)
      ReleaseLocked(owner, order[i].first, order[i].second);
  }
  for (size_t i = mark; i < order.size(); i++) owner->held_.erase(order[i]);
  order.resize(mark);
}

std::vector<int32_t> LockManager::Blockers(const LockOwner* owner, const LockTag& tag,
                                           LockMode mode) const {
  std::vector<int32_t> pids;
  MutexLock l(&mu_);
  auto it = locks_.find(tag);
  if (it == locks_.end()) return pids;
  uint16_t conflicts = kConflicts[static_cast<int>(mode)];
  for (const auto& [holder, modes] : it->second.holders) {
    if (holder == owner) continue;
    for (int m = 1; m < kNumLockModes; m++) {
      if (modes[m] && (conflicts & (1u << m))) {
        pids.push_back(holder->pid());
        break;
      }
    }
  }
  return pids;
}

void LockManager::WakeAll() {
  MutexLock l(&mu_);
  changed_.SignalAll();
}

std::vector<const LockOwner*> LockManager::WaitsFor(const LockOwner* owner) const {
  std::vector<const LockOwner*> out;
  auto w = waiting_.find(owner);
  if (w == waiting_.end()) return out;
  const auto& [tag, mode] = w->second;
  auto it = locks_.find(tag);
  if (it == locks_.end()) return out;
  const Lock& lock = it->second;
  uint16_t conflicts = kConflicts[static_cast<int>(mode)];
  for (const auto& [holder, modes] : lock.holders) {
    if (holder == owner) continue;
    for (int m = 1; m < kNumLockModes; m++) {
      if (modes[m] && (conflicts & (1u << m))) {
        out.push_back(holder);
        break;
      }
    }
  }
  // Earlier waiters with conflicting requests are ahead of it in the queue.
  for (const Waiter& q : lock.waiters) {
    if (q.owner == owner) break;
    if (conflicts & Bit(q.mode)) out.push_back(q.owner);
  }
  return out;
}

std::string LockManager::FindDeadlock(const LockOwner* me) const {
  // Depth-first search of the wait-for graph for a path from `me` back to `me`.
  std::vector<const LockOwner*> path{me};
  std::set<const LockOwner*> visited{me};
  std::function<bool(const LockOwner*)> dfs = [&](const LockOwner* o) -> bool {
    mu_.AssertHeld();
    for (const LockOwner* next : WaitsFor(o)) {
      if (next == me) return true;
      if (!visited.insert(next).second) continue;
      path.push_back(next);
      if (dfs(next)) return true;
      path.pop_back();
    }
    return false;
  };
  if (!dfs(me)) return {};
  std::string out;
  for (size_t i = 0; i < path.size(); i++) {
    const LockOwner* o = path[i];
    const LockOwner* next = path[(i + 1) % path.size()];
    const auto& [tag, mode] = waiting_.at(o);
    if (!out.empty()) out += "\n";
    out += fmt::format("Process {} waits for {} on {}; blocked by process {}.", o->pid(),
                       LockModeName(mode), tag.Describe(), next->pid());
  }
  return out;
}

std::vector<LockInfo> LockManager::List() const {
  std::vector<LockInfo> out;
  MutexLock l(&mu_);
  for (const auto& [tag, lock] : locks_) {
    for (const auto& [holder, modes] : lock.holders) {
      for (int m = 1; m < kNumLockModes; m++) {
        if (!modes[m]) continue;
        out.push_back(LockInfo{tag, static_cast<LockMode>(m), holder->pid(),
                               fmt::format("{}/{}", holder->pid(), holder->local_xact_.load()),
                               true, 0});
      }
    }
    for (const Waiter& w : lock.waiters) {
      out.push_back(LockInfo{tag, w.mode, w.owner->pid(),
                             fmt::format("{}/{}", w.owner->pid(), w.owner->local_xact_.load()),
                             false, w.start});
    }
  }
  return out;
}

std::vector<StandbyLock> LockManager::ExclusiveRelationLocks() const {
  std::vector<StandbyLock> out;
  MutexLock l(&mu_);
  for (const auto& [tag, lock] : locks_) {
    if (tag.type != LockTag::Type::kRelation ||
        lock.granted[static_cast<int>(LockMode::kAccessExclusive)] == 0) {
      continue;
    }
    for (const auto& [holder, modes] : lock.holders) {
      TransactionId xid = holder->xid();
      if (modes[static_cast<int>(LockMode::kAccessExclusive)] && xid != 0) {
        out.push_back(StandbyLock{xid, tag.db, tag.id});
      }
    }
  }
  return out;
}

bool LockManager::Empty() const {
  MutexLock l(&mu_);
  return locks_.empty() && waiting_.empty();
}

std::string EncodeStandbyLocks(const std::vector<StandbyLock>& locks) {
  std::string out;
  Put<uint32_t>(&out, static_cast<uint32_t>(locks.size()));
  for (const StandbyLock& l : locks) {
    Put<uint32_t>(&out, l.xid);
    Put<uint32_t>(&out, l.db);
    Put<uint32_t>(&out, l.rel);
  }
  return out;
}

std::vector<StandbyLock> DecodeStandbyLocks(std::string_view d) {
  std::vector<StandbyLock> out;
  uint32_t n = Get<uint32_t>(d, 0);
  for (uint32_t i = 0; i < n && 4 + 12 * (i + 1) <= d.size(); i++) {
    out.push_back(StandbyLock{Get<uint32_t>(d, 4 + 12 * i), Get<uint32_t>(d, 8 + 12 * i),
                              Get<uint32_t>(d, 12 + 12 * i)});
  }
  return out;
}

Status RecoveryLocks::Acquire(TransactionId xid, const LockTag& tag) {
  auto& tags = by_xid_[xid];
  if (std::find(tags.begin(), tags.end(), tag) != tags.end()) return Status::OK();
  if (count_[tag]++ == 0) {
    Status st = locks_->Acquire(&owner_, tag, LockMode::kAccessExclusive,
                                request_ ? request_(tag) : LockRequest{});
    if (!st.ok()) {
      if (--count_[tag] == 0) count_.erase(tag);
      if (tags.empty()) by_xid_.erase(xid);
      return st;
    }
  }
  tags.push_back(tag);
  return Status::OK();
}

void RecoveryLocks::ReleaseTag(const LockTag& tag) {
  auto it = count_.find(tag);
  if (it == count_.end() || --it->second > 0) return;
  count_.erase(it);
  locks_->Release(&owner_, tag, LockMode::kAccessExclusive);
}

void RecoveryLocks::ReleaseXid(TransactionId xid) {
  auto it = by_xid_.find(xid);
  if (it == by_xid_.end()) return;
  for (const LockTag& tag : it->second) ReleaseTag(tag);
  by_xid_.erase(it);
}

void RecoveryLocks::ReleaseEnded(TransactionId next_xid,
                                 const std::vector<TransactionId>& running) {
  std::vector<TransactionId> ended;
  for (const auto& [xid, tags] : by_xid_) {
    if (xid < next_xid && std::find(running.begin(), running.end(), xid) == running.end()) {
      ended.push_back(xid);
    }
  }
  for (TransactionId xid : ended) ReleaseXid(xid);
}

void RecoveryLocks::ReleaseAll() {
  by_xid_.clear();
  count_.clear();
  locks_->ReleaseAll(&owner_);
}

}  // namespace walrep::access
