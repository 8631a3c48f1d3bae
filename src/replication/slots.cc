// walrep: replication slots (see slots.h).
#include "walrep/replication/slots.h"

#include <fmt/format.h>

#include <sstream>

#include "walrep/common/logging.h"

namespace walrep::replication {

namespace {
constexpr const char* kStateMagic = "walrep replication slot 1";
}

SlotManager::SlotManager(io::FileSystem* fs, std::string data_dir, int max_slots)
    : fs_(fs), data_dir_(std::move(data_dir)), max_slots_(max_slots) {}

Status SlotManager::CheckName(const std::string& name) {
  if (name.empty()) {
    return Status::Sql("42602", fmt::format("replication slot name \"{}\" is too short", name));
  }
  if (name.size() >= 64) {
    return Status::Sql("42602", fmt::format("replication slot name \"{}\" is too long", name));
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return Status::Sql(
                 "42602",
                 fmt::format("replication slot name \"{}\" contains invalid character", name))
          .WithHint(
              "Replication slot names may only contain lower case letters, numbers, and "
              "the underscore character.");
    }
  }
  return Status::OK();
}

Status SlotManager::Load() {
  std::string root = data_dir_ + "/pg_replslot";
  if (!fs_->Exists(root)) WALREP_RETURN_IF_ERROR(fs_->CreateDir(root));
  WALREP_ASSIGN_OR_RETURN(auto names, fs_->ListDir(root));
  MutexLock l(&mu_);
  for (const auto& n : names) {
    std::string state = Dir(n) + "/state";
    if (!CheckName(n).ok() || !fs_->Exists(state)) {
      // A slot whose creation never finished (or a stray file): not a slot.
      if (fs_->Exists(Dir(n) + "/state.tmp")) fs_->Remove(Dir(n) + "/state.tmp").IgnoreError();
      fs_->Remove(Dir(n)).IgnoreError();  // best effort: leftovers are harmless
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(std::string text, fs_->ReadFile(state));
    std::istringstream in(text);
    std::string magic, key, lsn;
    std::getline(in, magic);
    if (magic != kStateMagic) {
      return Status::Corruption(fmt::format("replication slot file \"{}\" has wrong magic", state));
    }
    Slot s;
    s.info.name = n;
    while (in >> key) {
      if (key == "restart_lsn" && in >> lsn) {
        s.info.restart_lsn = Lsn::Parse(lsn).value_or(Lsn());
      } else if (key == "xmin") {
        in >> s.info.xmin;
      } else if (key == "invalidated") {
        in >> s.info.invalidation_reason;
      }
    }
    s.info.inactive_since = NowTimestamp();  // as PostgreSQL 17: restored slots are inactive
    slots_[n] = s;
  }
  return Status::OK();
}

Status SlotManager::Save(const SlotInfo& s) {
  std::string dir = Dir(s.name);
  if (!fs_->Exists(dir)) WALREP_RETURN_IF_ERROR(fs_->CreateDir(dir));
  std::string text =
      fmt::format("{}\nrestart_lsn {}\nxmin {}\n", kStateMagic, s.restart_lsn.ToString(), s.xmin);
  if (!s.invalidation_reason.empty()) text += "invalidated " + s.invalidation_reason + "\n";
  WALREP_RETURN_IF_ERROR(fs_->WriteFileDurably(dir + "/state", text));
  return fs_->SyncDir(data_dir_ + "/pg_replslot");
}

Status SlotManager::Create(const std::string& name, bool temporary, Lsn restart_lsn,
                           int32_t owner_pid) {
  WALREP_RETURN_IF_ERROR(CheckName(name));
  MutexLock files(&save_mu_);
  Slot s;
  {
    MutexLock l(&mu_);
    if (slots_.count(name)) {
      return Status::Sql("42710", fmt::format("replication slot \"{}\" already exists", name));
    }
    if (static_cast<int>(slots_.size()) >= max_slots_) {
      return Status::Sql("53400", "all replication slots are in use")
          .WithHint("Free one or increase max_replication_slots.");
    }
    s.info.name = name;
    s.info.temporary = temporary;
    s.info.restart_lsn = restart_lsn;
    s.info.owner_pid = temporary ? owner_pid : 0;
    s.info.active_pid = temporary ? owner_pid : 0;
    s.info.inactive_since = temporary ? 0 : NowTimestamp();
    slots_[name] = s;  // taken; its file is written below, outside mu_
  }
  if (temporary) return Status::OK();
  Status st = Save(s.info);
  if (!st.ok()) {
    MutexLock l(&mu_);
    slots_.erase(name);
  }
  return st;
}

Status SlotManager::Drop(const std::string& name, bool wait, int32_t requester_pid) {
  bool temporary;
  {
    MutexLock l(&mu_);
    while (true) {
      auto it = slots_.find(name);
      if (it == slots_.end()) {
        return Status::Sql("42704", fmt::format("replication slot \"{}\" does not exist", name));
      }
      int32_t pid = it->second.info.active_pid;
      if (pid == 0 || pid == requester_pid) {
        temporary = it->second.info.temporary;
        slots_.erase(it);
        released_.SignalAll();
        break;
      }
      if (!wait) {
        return Status::Sql("55006",
                           fmt::format("replication slot \"{}\" is active for PID {}", name, pid));
      }
      released_.WaitUntil(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    }
  }
  if (temporary) return Status::OK();
  MutexLock files(&save_mu_);
  {
    MutexLock l(&mu_);
    if (slots_.count(name)) return Status::OK();  // created again since: its file is new
  }
  WALREP_RETURN_IF_ERROR(fs_->Remove(Dir(name) + "/state"));
  WALREP_RETURN_IF_ERROR(fs_->Remove(Dir(name)));
  return fs_->SyncDir(data_dir_ + "/pg_replslot");
}

Result<SlotInfo> SlotManager::Acquire(const std::string& name, int32_t pid) {
  MutexLock l(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end()) {
    return Status::Sql("42704", fmt::format("replication slot \"{}\" does not exist", name));
  }
  SlotInfo& s = it->second.info;
  if (s.active_pid != 0 && s.active_pid != pid) {
    return Status::Sql(
        "55006", fmt::format("replication slot \"{}\" is active for PID {}", name, s.active_pid));
  }
  if (!s.invalidation_reason.empty()) {
    return Status::Sql("55000",
                       fmt::format("can no longer get changes from replication slot \"{}\"", name))
        .WithDetail(s.invalidation_reason == "wal_removed"
                        ? "This slot has been invalidated because it exceeded the maximum "
                          "reserved size."
                        : "This replication slot has been invalidated due to \"" +
                              s.invalidation_reason + "\".");
  }
  s.active_pid = pid;
  s.inactive_since = 0;
  return s;
}

void SlotManager::Release(const std::string& name, int32_t pid) {
  MutexLock l(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end() || it->second.info.active_pid != pid) return;
  if (it->second.info.temporary && it->second.info.owner_pid == pid) return;  // stays owned
  it->second.info.active_pid = 0;
  it->second.info.inactive_since = NowTimestamp();
  released_.SignalAll();
}

void SlotManager::CleanupSession(int32_t pid) {
  MutexLock l(&mu_);
  for (auto it = slots_.begin(); it != slots_.end();) {
    SlotInfo& s = it->second.info;
    if (s.temporary && s.owner_pid == pid) {
      it = slots_.erase(it);
      continue;
    }
    if (s.active_pid == pid) {
      s.active_pid = 0;
      s.inactive_since = NowTimestamp();
    }
    ++it;
  }
  released_.SignalAll();
}

void SlotManager::SetRestartLsn(const std::string& name, Lsn lsn) {
  MutexLock l(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end() || !lsn.valid() || it->second.info.restart_lsn == lsn ||
      !it->second.info.invalidation_reason.empty()) {
    return;
  }
  it->second.info.restart_lsn = lsn;
  it->second.dirty = !it->second.info.temporary;
}

void SlotManager::SetXmin(const std::string& name, TransactionId xmin) {
  MutexLock l(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end() || it->second.info.xmin == xmin) return;
  it->second.info.xmin = xmin;
  it->second.dirty = !it->second.info.temporary;
}

std::optional<SlotInfo> SlotManager::Find(const std::string& name) const {
  MutexLock l(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<SlotInfo> SlotManager::List() const {
  MutexLock l(&mu_);
  std::vector<SlotInfo> out;
  for (const auto& [n, s] : slots_) out.push_back(s.info);
  return out;
}

std::optional<Lsn> SlotManager::MinRestartLsn() const {
  MutexLock l(&mu_);
  std::optional<Lsn> min;
  for (const auto& [n, s] : slots_) {
    if (!s.info.restart_lsn.valid()) continue;
    if (!min || s.info.restart_lsn < *min) min = s.info.restart_lsn;
  }
  return min;
}

TransactionId SlotManager::MinXmin() const {
  MutexLock l(&mu_);
  TransactionId min = 0;
  for (const auto& [n, s] : slots_) {
    if (s.info.xmin != 0 && (min == 0 || s.info.xmin < min)) min = s.info.xmin;
  }
  return min;
}

std::vector<int32_t> SlotManager::InvalidateObsolete(Lsn oldest_kept, int64_t idle_timeout_s) {
  std::vector<int32_t> pids;
  TimestampTz now = NowTimestamp();
  {
    MutexLock l(&mu_);
    for (auto& [n, slot] : slots_) {
      SlotInfo& s = slot.info;
      if (!s.invalidation_reason.empty() || !s.restart_lsn.valid()) continue;
      if (s.restart_lsn < oldest_kept) {
        WALREP_LOG("invalidating obsolete replication slot \"{}\"", n);
        WALREP_LOG("DETAIL:  The slot's restart_lsn {} exceeds the limit by {} bytes.",
                   s.restart_lsn.ToString(), oldest_kept.value() - s.restart_lsn.value());
        WALREP_LOG("HINT:  You might need to increase \"max_slot_wal_keep_size\".");
        s.invalidation_reason = "wal_removed";
      } else if (idle_timeout_s > 0 && s.active_pid == 0 && s.inactive_since != 0 &&
                 now - s.inactive_since > idle_timeout_s * 1000000) {
        int64_t idle = (now - s.inactive_since) / 1000000;
        WALREP_LOG("invalidating obsolete replication slot \"{}\"", n);
        WALREP_LOG(
            "DETAIL:  The slot's idle time of {}min {:02}s exceeds the configured "
            "\"idle_replication_slot_timeout\" duration of {}s.",
            idle / 60, idle % 60, idle_timeout_s);
        WALREP_LOG("HINT:  You might need to increase \"idle_replication_slot_timeout\".");
        s.invalidation_reason = "idle_timeout";
      } else {
        continue;
      }
      s.restart_lsn = Lsn();
      s.xmin = 0;  // it holds nothing back any more
      if (s.active_pid != 0) {
        WALREP_LOG("terminating process {} to release replication slot \"{}\"", s.active_pid, n);
        pids.push_back(s.active_pid);
      }
      if (!s.temporary) slot.dirty = true;  // saved by the checkpoint's SaveDirty
    }
  }
  return pids;
}

XLogSegNo KeepSegment(Lsn pos, Lsn slot_min, const WalKeepLimits& limits) {
  const uint64_t seg_size = wal::kDefaultSegSize;
  XLogSegNo curr = wal::SegmentOf(pos, seg_size);
  XLogSegNo keep = curr;
  if (slot_min.valid()) {
    keep = std::min(keep, wal::SegmentOf(slot_min, seg_size));
    if (limits.max_slot_wal_keep_mb >= 0) {
      uint64_t slot_segs =
          static_cast<uint64_t>(limits.max_slot_wal_keep_mb) * 1024 * 1024 / seg_size;
      if (curr - keep > slot_segs) keep = curr - slot_segs;
    }
  }
  uint64_t keep_segs = static_cast<uint64_t>(limits.wal_keep_mb) * 1024 * 1024 / seg_size;
  if (keep_segs > 0 && curr - keep < keep_segs) keep = curr > keep_segs ? curr - keep_segs : 1;
  return keep;
}

SlotWalStatus WalStatusOf(const SlotInfo& slot, Lsn currpos, XLogSegNo last_removed, Lsn slot_min,
                          const WalKeepLimits& limits) {
  SlotWalStatus out;
  const uint64_t seg_size = wal::kDefaultSegSize;
  if (!slot.restart_lsn.valid()) {
    if (!slot.invalidation_reason.empty()) out.status = "lost";
    return out;
  }
  XLogSegNo oldest_slot_seg = KeepSegment(currpos, slot_min, limits);
  XLogSegNo oldest_seg = last_removed + 1;
  XLogSegNo curr = wal::SegmentOf(currpos, seg_size);
  uint64_t max_wal_segs = static_cast<uint64_t>(limits.max_wal_mb) * 1024 * 1024 / seg_size + 1;
  XLogSegNo oldest_by_max_wal = curr > max_wal_segs ? curr - max_wal_segs : 1;
  XLogSegNo target = wal::SegmentOf(slot.restart_lsn, seg_size);
  if (target >= oldest_slot_seg) {
    out.status = target >= oldest_by_max_wal ? "reserved" : "extended";
  } else if (target >= oldest_seg) {
    out.status = "unreserved";
  } else {
    out.status = "lost";
    return out;
  }
  if (limits.max_slot_wal_keep_mb >= 0) {
    uint64_t slot_segs =
        static_cast<uint64_t>(limits.max_slot_wal_keep_mb) * 1024 * 1024 / seg_size;
    uint64_t keep_segs = static_cast<uint64_t>(limits.wal_keep_mb) * 1024 * 1024 / seg_size;
    Lsn fail = wal::SegmentStart(target + std::max(slot_segs, keep_segs) + 1, seg_size);
    out.safe_wal_size = static_cast<int64_t>(fail.value()) - static_cast<int64_t>(currpos.value());
  }
  return out;
}

Status SlotManager::SaveDirty() {
  MutexLock files(&save_mu_);
  std::vector<SlotInfo> dirty;
  {
    MutexLock l(&mu_);
    for (auto& [n, s] : slots_) {
      if (!s.dirty) continue;
      dirty.push_back(s.info);
      s.dirty = false;
    }
  }
  // Written outside mu_: walsenders advancing their slots do not wait for these fsyncs. A slot
  // dropped meanwhile has its file removed after this (its Drop waits for save_mu_).
  for (size_t i = 0; i < dirty.size(); i++) {
    Status st = Save(dirty[i]);
    if (!st.ok()) {
      MutexLock l(&mu_);
      for (size_t j = i; j < dirty.size(); j++) {
        auto it = slots_.find(dirty[j].name);
        if (it != slots_.end()) it->second.dirty = true;
      }
      return st;
    }
  }
  return Status::OK();
}

}  // namespace walrep::replication
