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
#include "walrep/io/file_system.h"

namespace walrep::replication {

struct SlotInfo {
  std::string name;
  bool temporary = false;
  Lsn restart_lsn;         // invalid: no WAL reserved yet
  TransactionId xmin = 0;  // from hot-standby feedback
  int32_t active_pid = 0;  // walsender using it, 0 when inactive
  int32_t owner_pid = 0;   // temporary slots: the creating session
};

class SlotManager {
 public:
  SlotManager(io::FileSystem* fs, std::string data_dir, int max_slots);

  // Reads pg_replslot/*/state; leftover temporary directories are removed.
  Status Load() EXCLUDES(mu_);
  // 42602 bad name, 42710 exists, 53400 no free slot.
  Status Create(const std::string& name, bool temporary, Lsn restart_lsn, int32_t owner_pid)
      EXCLUDES(mu_);
  // 42704 unknown, 55006 in use (unless `wait`, which waits until it is released).
  Status Drop(const std::string& name, bool wait, int32_t requester_pid) EXCLUDES(mu_);
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
  Status SaveDirty() EXCLUDES(mu_);

  static Status CheckName(const std::string& name);

 private:
  struct Slot {
    SlotInfo info;
    bool dirty = false;
  };
  Status Save(const SlotInfo& s) REQUIRES(mu_);
  std::string Dir(const std::string& name) const { return data_dir_ + "/pg_replslot/" + name; }

  io::FileSystem* const fs_;
  const std::string data_dir_;
  const int max_slots_;
  mutable Mutex mu_;
  CondVar released_{&mu_};
  std::map<std::string, Slot> slots_ GUARDED_BY(mu_);
};

}  // namespace walrep::replication
