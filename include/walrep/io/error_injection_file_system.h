// walrep: ErrorInjectionFileSystem — a FileSystem wrapper that fails chosen operations with
// chosen errors, for the I/O-fault tests (RocksDB's FaultInjectionTestFS error injection,
// PostgreSQL's fsync-failure lessons). walrepd wraps its file system in one only when the
// environment names a rules file (WALREP_IO_FAULTS=/path): a testing hook, never on otherwise.
//
// The rules file is re-read whenever it changes (a test arms and disarms faults while the server
// runs; writing a new file and renaming it over the old one is always noticed). One rule per line,
// `#` starts a comment:
//
//   <op> <path-substring> <error> [after N] [times M]
//
//   op     write (Append/WriteAt), sync (file fsync), rename, syncdir, create (a new or
//          truncated file, or a file opened with create), read (ReadAt/ReadFile)
//   error  EIO, ENOSPC, or short (a write stores its first half, then fails with EIO — a torn
//          write as a full disk or a dying device leaves it; a read fails with EIO), or
//          exception (the operation throws std::runtime_error: an unexpected internal error
//          in the middle of whatever called it, for the tests of the statement safety net)
//   after  let the first N matching operations succeed (default 0)
//   times  fail at most M operations, then pass again (default: every one)
//
// Counting starts when the file is (re)loaded. Each injected failure is logged ("injected I/O
// fault: <op> <path> <error>"), so a test can find it in the server log.
// Thread safety: thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "walrep/common/mutex.h"
#include "walrep/io/file_system.h"

namespace walrep::io {

class ErrorInjectionFileSystem : public FileSystemWrapper {
 public:
  // In the order of the rule words (the name tables in error_injection_file_system.cc).
  enum class Op { kWrite, kSync, kRename, kSyncDir, kCreate, kRead };
  enum class Error { kEio, kEnospc, kShort, kException };
  struct Rule {
    Op op;
    std::string path;  // a substring of the path
    Error error;
    uint64_t after = 0;
    uint64_t times = ~0ull;
    uint64_t seen = 0;    // matching operations so far
    uint64_t failed = 0;  // of which failed
  };

  ErrorInjectionFileSystem(FileSystem* base, std::string rules_file)
      : FileSystemWrapper(base), rules_file_(std::move(rules_file)) {}

  // Parses rules; an unparsable line is an error naming it.
  static Result<std::vector<Rule>> ParseRules(std::string_view text);

  // The error the next `op` on `path` fails with, if a rule says so (counts the operation).
  // Public for the wrapped files.
  std::optional<Error> Check(Op op, const std::string& path) EXCLUDES(mu_);

  Result<std::string> ReadFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(const std::string& path,
                                                             bool create) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& path) override;

  // The Status an injected error becomes (errno's text, as the POSIX layer reports it); throws
  // for kException.
  static Status ToStatus(Error e, const char* what, const std::string& path);

 private:
  void Reload() REQUIRES(mu_);

  const std::string rules_file_;
  Mutex mu_;
  std::string loaded_version_ GUARDED_BY(mu_) = "never";  // the rules file's inode, mtime, size
  std::vector<Rule> rules_ GUARDED_BY(mu_);
};

}  // namespace walrep::io
