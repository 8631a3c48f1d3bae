// walrep: StallingFileSystem — a FileSystem wrapper whose fsyncs (of files and of directories)
// hang while a test holds them, so the test can check what still proceeds during a slow fsync:
// lock rules that say "no I/O under this lock" become observable.
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "walrep/io/file_system.h"

namespace walrep::testing {

class StallingFileSystem : public io::FileSystemWrapper {
 public:
  explicit StallingFileSystem(io::FileSystem* base) : FileSystemWrapper(base) {}

  // While stalled, every Sync() and SyncDir() waits until Release().
  void Stall() {
    std::lock_guard<std::mutex> l(mu_);
    stalled_ = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stalled_ = false;
    }
    cv_.notify_all();
  }
  // How many syncs are hanging now.
  int waiting() const { return waiting_.load(); }

  void MaybeWait() {
    std::unique_lock<std::mutex> l(mu_);
    if (!stalled_) return;
    waiting_++;
    cv_.wait(l, [&] { return !stalled_; });
    waiting_--;
  }

  Result<std::unique_ptr<io::WritableFile>> NewWritableFile(const std::string& path) override {
    auto f = base_->NewWritableFile(path);
    if (!f.ok()) return f.TakeStatus();
    return std::unique_ptr<io::WritableFile>(new Writable(this, std::move(*f)));
  }
  Result<std::unique_ptr<io::RandomAccessFile>> OpenRandomAccess(const std::string& path,
                                                                 bool create) override {
    auto f = base_->OpenRandomAccess(path, create);
    if (!f.ok()) return f.TakeStatus();
    return std::unique_ptr<io::RandomAccessFile>(new Random(this, std::move(*f)));
  }
  Status SyncDir(const std::string& path) override {
    MaybeWait();
    return base_->SyncDir(path);
  }

 private:
  class Writable : public io::WritableFile {
   public:
    Writable(StallingFileSystem* fs, std::unique_ptr<io::WritableFile> f)
        : fs_(fs), f_(std::move(f)) {}
    Status Append(std::string_view data) override { return f_->Append(data); }
    Status Allocate(uint64_t size) override { return f_->Allocate(size); }
    Status Sync() override {
      fs_->MaybeWait();
      return f_->Sync();
    }
    Status Close() override { return f_->Close(); }

   private:
    StallingFileSystem* fs_;
    std::unique_ptr<io::WritableFile> f_;
  };
  class Random : public io::RandomAccessFile {
   public:
    Random(StallingFileSystem* fs, std::unique_ptr<io::RandomAccessFile> f)
        : fs_(fs), f_(std::move(f)) {}
    Result<std::string> ReadAt(uint64_t offset, size_t n) override { return f_->ReadAt(offset, n); }
    Status WriteAt(uint64_t offset, std::string_view data) override {
      return f_->WriteAt(offset, data);
    }
    Status Sync() override {
      fs_->MaybeWait();
      return f_->Sync();
    }
    Result<uint64_t> Size() override { return f_->Size(); }

   private:
    StallingFileSystem* fs_;
    std::unique_ptr<io::RandomAccessFile> f_;
  };

  std::mutex mu_;
  std::condition_variable cv_;
  bool stalled_ = false;
  std::atomic<int> waiting_{0};
};

}  // namespace walrep::testing
