// walrep: the file-system seam. Every file walrep writes goes through a FileSystem, so tests can
// substitute an in-memory or fault-injecting one (LevelDB's Env, RocksDB's FileSystem).
// Thread safety: implementations are thread-safe; a WritableFile belongs to one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "walrep/common/status.h"

namespace walrep::io {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Makes a new, empty file `size` bytes long, reading as zeros, with its blocks reserved on
  // disk but not written where the file system can (posix_fallocate). This default appends
  // zeros.
  virtual Status Allocate(uint64_t size);
  virtual Status Sync() = 0;  // fdatasync; a failure here must never be retried
  virtual Status Close() = 0;
};

// A file opened for positional reads and writes (WAL segments, relation files).
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset; fewer only at end of file.
  virtual Result<std::string> ReadAt(uint64_t offset, size_t n) = 0;
  // The same into `buf`, returning how many bytes were read: no allocation, no extra copy
  // (a buffer-pool miss reads straight into its frame). This default goes through ReadAt.
  virtual Result<size_t> ReadInto(uint64_t offset, char* buf, size_t n);
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  virtual Status Sync() = 0;  // fdatasync; a failure here must never be retried
  virtual Result<uint64_t> Size() = 0;
  // A hint that [offset, offset + n) will be read soon (posix_fadvise WILLNEED): the kernel may
  // start reading it in. Nothing happens where there is no such hint.
  virtual void Prefetch(uint64_t /*offset*/, size_t /*n*/) {}
};

// What Stat reports about a path (lstat: a symbolic link is neither a directory nor regular).
struct FileInfo {
  uint64_t size = 0;
  int64_t mtime = 0;  // seconds since the epoch
  bool is_dir = false;
  bool is_regular = false;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Creates or truncates.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file for reading and writing (or creates it when `create`); an existing
  // file that may not be written is opened for reading only, and writes to it then fail.
  virtual Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(const std::string& path,
                                                                     bool create) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file or an empty directory; a missing path is not an error.
  virtual Status Remove(const std::string& path) = 0;
  virtual Status CreateDir(const std::string& path, int mode = 0700) = 0;
  virtual Status SyncDir(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // A missing path is NotFound.
  virtual Result<FileInfo> Stat(const std::string& path) = 0;

  // Creates `path` and every missing parent (mkdir -p).
  Status CreateDirs(const std::string& path, int mode = 0700);
  // Writes `data` to `path` so that after a crash the file holds either the old or the new
  // contents, never a mix: write "path.tmp", fsync it, rename over `path`, fsync the directory.
  // Counterpart: durable_rename() in PostgreSQL fd.c.
  Status WriteFileDurably(const std::string& path, std::string_view data);
};

// The process's real file system (POSIX calls).
// Forwards every call to `base` (which must outlive it): file-system wrappers — fault
// injection, tests — derive from it and override only what they change.
class FileSystemWrapper : public FileSystem {
 public:
  explicit FileSystemWrapper(FileSystem* base) : base_(base) {}
  Result<std::string> ReadFile(const std::string& path) override { return base_->ReadFile(path); }
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return base_->NewWritableFile(path);
  }
  Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(const std::string& path,
                                                             bool create) override {
    return base_->OpenRandomAccess(path, create);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    return base_->Rename(from, to);
  }
  Status Remove(const std::string& path) override { return base_->Remove(path); }
  Status CreateDir(const std::string& path, int mode) override {
    return base_->CreateDir(path, mode);
  }
  Status SyncDir(const std::string& path) override { return base_->SyncDir(path); }
  bool Exists(const std::string& path) override { return base_->Exists(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return base_->ListDir(path);
  }
  Result<FileInfo> Stat(const std::string& path) override { return base_->Stat(path); }

 protected:
  FileSystem* const base_;
};

FileSystem* DefaultFileSystem();

// "could not <what> \"<path>\": <strerror(err)>": an IOError, SQLSTATE 58030, or 53100
// (disk_full) with PostgreSQL's hint for ENOSPC.
Status Errno(const char* what, const std::string& path, int err);

}  // namespace walrep::io
