// walrep: physical replication slots.
//
// A slot remembers how far one consumer has safely received WAL (restart_lsn) and, with
// hot-standby feedback, the oldest xid it still needs. Persistent slots live in
// pg_replslot/<name>/state (written durably: temp file, fsync, rename, fsync dir) and survive
// restarts and crashes; temporary slots live only as long as the session that created them
// (and are dropped when that session hits an error, as in PostgreSQL). The oldest restart_lsn
// of all slots holds back WAL removal at checkpoints. A slot is "active" while one walsender
// uses it; a second user gets 55006.
// Counterpart: slot.c in PostgreSQL.
// Thread safety: thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/mutex.h"
#include "walrep/common/status.h"
#include "walrep/common/time.h"
#include "walrep/io/file_system.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::replication {

struct SlotInfo {
  std::string name;
  bool temporary = false;
  Lsn restart_lsn;         // invalid: no WAL reserved yet
  TransactionId xmin = 0;  // from hot-standby feedback
  int32_t active_pid = 0;  // walsender using it, 0 when inactive
  int32_t owner_pid = 0;   // temporary slots: the creating session
  // PostgreSQL 17/18's columns: when the slot stopped being used (0 while active), and why it
  // was invalidated ("wal_removed", "idle_timeout"; empty while valid).
  TimestampTz inactive_since = 0;
  std::string invalidation_reason;
};

// What the WAL keeping rules need (PostgreSQL's KeepLogSeg inputs), in MB.
struct WalKeepLimits {
  int64_t max_slot_wal_keep_mb = -1;  // -1: slots keep whatever they need
  int64_t wal_keep_mb = 0;
  int64_t max_wal_mb = 1024;
};
// The oldest segment to keep at `pos` (PostgreSQL's KeepLogSeg): the slots' oldest
// restart_lsn (`slot_min`, invalid for none), no further back than max_slot_wal_keep_size, and
// wal_keep_size before `pos` in any case.
XLogSegNo KeepSegment(Lsn pos, Lsn slot_min, const WalKeepLimits& limits);
// pg_replication_slots.wal_status and safe_wal_size (PostgreSQL 15's GetWALAvailability):
// "reserved" within max_wal_size, "extended" kept beyond it by slots or wal_keep_size,
// "unreserved" no longer kept but not removed yet, "lost" removed (or invalidated).
// `currpos`: the WAL write position; `last_removed`: the newest segment removed so far.
struct SlotWalStatus {
  const char* status = nullptr;  // nullptr: NULL (no WAL reserved)
  std::optional<int64_t> safe_wal_size;
};
SlotWalStatus WalStatusOf(const SlotInfo& slot, Lsn currpos, XLogSegNo last_removed, Lsn slot_min,
                          const WalKeepLimits& limits);

class SlotManager {
 public:
  SlotManager(io::FileSystem* fs, std::string data_dir, int max_slots);

  // Reads pg_replslot/*/state; leftover temporary directories are removed.
  Status Load() EXCLUDES(mu_);
  // 42602 bad name, 42710 exists, 53400 no free slot.
  Status Create(const std::string& name, bool temporary, Lsn restart_lsn, int32_t owner_pid)
      EXCLUDES(save_mu_, mu_);
  // 42704 unknown, 55006 in use (unless `wait`, which waits until it is released).
  Status Drop(const std::string& name, bool wait, int32_t requester_pid) EXCLUDES(save_mu_, mu_);
  // Marks the slot active for `pid`: 42704 unknown, 55006 active elsewhere.
  Result<SlotInfo> Acquire(const std::string& name, int32_t pid) EXCLUDES(mu_);
  void Release(const std::string& name, int32_t pid) EXCLUDES(mu_);
  // Session end or error: drops the temporary slots `pid` created and releases its slots.
  void CleanupSession(int32_t pid) EXCLUDES(mu_);
  // A reply from the consumer: restart_lsn follows the reported flush position.
  void SetRestartLsn(const std::string& name, Lsn lsn) EXCLUDES(mu_);
  void SetXmin(const std::string& name, TransactionId xmin) EXCLUDES(mu_);
  std::optional<SlotInfo> Find(const std::string& name) const EXCLUDES(mu_);
  std::vector<SlotInfo> List() const EXCLUDES(mu_);
  // The oldest restart_lsn of every slot (WAL before it may be removed), if any.
  std::optional<Lsn> MinRestartLsn() const EXCLUDES(mu_);
  // The oldest xmin any slot holds (hot-standby feedback), 0 for none.
  TransactionId MinXmin() const EXCLUDES(mu_);
  // Writes the state of persistent slots changed since the last save (checkpoints call this).
  Status SaveDirty() EXCLUDES(save_mu_, mu_);
  // At a checkpoint (PostgreSQL's InvalidateObsoleteReplicationSlots): slots whose restart_lsn
  // precedes `oldest_kept` lose it ("wal_removed"), and with idle_timeout_s > 0 slots inactive
  // longer than that are invalidated too ("idle_timeout"), each logged as PostgreSQL does and
  // marked for the next SaveDirty. Returns the pids of walsenders that used them (to be
  // terminated).
  std::vector<int32_t> InvalidateObsolete(Lsn oldest_kept, int64_t idle_timeout_s) EXCLUDES(mu_);

  static Status CheckName(const std::string& name);

 private:
  struct Slot {
    SlotInfo info;
    bool dirty = false;
  };
  Status Save(const SlotInfo& s) REQUIRES(save_mu_) EXCLUDES(mu_);
  std::string Dir(const std::string& name) const { return data_dir_ + "/pg_replslot/" + name; }

  io::FileSystem* const fs_;
  const std::string data_dir_;
  const int max_slots_;
  // Slot files are written and removed under save_mu_ (taken before mu_), never under mu_,
  // which walsenders take at every reply.
  Mutex save_mu_;
  mutable Mutex mu_;
  CondVar released_{&mu_};
  std::map<std::string, Slot> slots_ GUARDED_BY(mu_);
};

}  // namespace walrep::replication
