// walrep: FaultInjectionFileSystem — a FileSystem wrapper that remembers what was never made
// durable, so a test can simulate a power loss (LevelDB's FaultInjectionTestEnv, RocksDB's
// FaultInjectionTestFS).
//
// Durability model, as POSIX promises it:
//  - bytes written to a file are durable after that file's Sync();
//  - a newly created file, and a rename, are durable after SyncDir() of its directory.
// DropUnsyncedData() reverts everything not durable: unsynced writes are undone (all of them, or,
// with `keep_random_prefix`, all but a random prefix of them, as a torn write would leave), files
// created since their directory's last sync disappear, and unsynced renames are rolled back.
// Unlink is treated as immediately durable.
// Thread safety: thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "walrep/io/file_system.h"

namespace walrep::testing {

class FaultInjectionFileSystem : public io::FileSystemWrapper {
 public:
  explicit FaultInjectionFileSystem(io::FileSystem* base) : FileSystemWrapper(base) {}

  Result<std::unique_ptr<io::WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<io::RandomAccessFile>> OpenRandomAccess(const std::string& path,
                                                                 bool create) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status SyncDir(const std::string& path) override;

  // Simulates a power loss. `seed` picks how much of the unsynced data survives when
  // keep_random_prefix is set.
  void DropUnsyncedData(bool keep_random_prefix, uint32_t seed);
  // Counts of operations, for tests that crash "after the Nth write".
  uint64_t writes() const;

  // Internal: called by the wrapped files.
  void RecordWrite(const std::string& path, uint64_t offset, size_t len);
  void RecordSync(const std::string& path);

 private:
  struct Undo {
    uint64_t offset;
    std::string old_bytes;  // bytes that were there before (may be shorter: file grew)
    uint64_t old_size;
  };
  struct PendingRename {
    std::string from, to;
    bool to_existed;
    std::string old_to;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Undo>> unsynced_;  // per file, in write order
  std::map<std::string, bool> new_files_;              // created, directory not synced since
  std::vector<PendingRename> renames_;
  uint64_t writes_ = 0;
};

}  // namespace walrep::testing
