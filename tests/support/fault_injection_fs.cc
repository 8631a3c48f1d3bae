// walrep: FaultInjectionFileSystem (see fault_injection_fs.h).
#include "fault_injection_fs.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace walrep::testing {

namespace {

std::string DirOf(const std::string& p) {
  std::string d = std::filesystem::path(p).parent_path().string();
  return d.empty() ? "." : d;
}

class FiRandomFile : public io::RandomAccessFile {
 public:
  FiRandomFile(FaultInjectionFileSystem* fs, std::string path,
               std::unique_ptr<io::RandomAccessFile> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}
  Result<std::string> ReadAt(uint64_t offset, size_t n) override {
    return base_->ReadAt(offset, n);
  }
  Status WriteAt(uint64_t offset, std::string_view data) override {
    fs_->RecordWrite(path_, offset, data.size());
    return base_->WriteAt(offset, data);
  }
  Status Sync() override {
    WALREP_RETURN_IF_ERROR(base_->Sync());
    fs_->RecordSync(path_);
    return Status::OK();
  }
  Result<uint64_t> Size() override { return base_->Size(); }

 private:
  FaultInjectionFileSystem* fs_;
  std::string path_;
  std::unique_ptr<io::RandomAccessFile> base_;
};

class FiWritableFile : public io::WritableFile {
 public:
  FiWritableFile(FaultInjectionFileSystem* fs, std::string path,
                 std::unique_ptr<io::WritableFile> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}
  Status Append(std::string_view data) override {
    fs_->RecordWrite(path_, size_, data.size());
    size_ += data.size();
    return base_->Append(data);
  }
  Status Sync() override {
    WALREP_RETURN_IF_ERROR(base_->Sync());
    fs_->RecordSync(path_);
    return Status::OK();
  }
  Status Close() override { return base_->Close(); }

 private:
  FaultInjectionFileSystem* fs_;
  std::string path_;
  std::unique_ptr<io::WritableFile> base_;
  uint64_t size_ = 0;
};

uint64_t FileSize(const std::string& p) {
  std::error_code ec;
  auto s = std::filesystem::file_size(p, ec);
  return ec ? 0 : s;
}

}  // namespace

Result<std::unique_ptr<io::WritableFile>> FaultInjectionFileSystem::NewWritableFile(
    const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!base_->Exists(path)) new_files_[path] = true;
  }
  WALREP_ASSIGN_OR_RETURN(auto f, base_->NewWritableFile(path));
  return std::unique_ptr<io::WritableFile>(new FiWritableFile(this, path, std::move(f)));
}

Result<std::unique_ptr<io::RandomAccessFile>> FaultInjectionFileSystem::OpenRandomAccess(
    const std::string& path, bool create) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (create && !base_->Exists(path)) new_files_[path] = true;
  }
  WALREP_ASSIGN_OR_RETURN(auto f, base_->OpenRandomAccess(path, create));
  return std::unique_ptr<io::RandomAccessFile>(new FiRandomFile(this, path, std::move(f)));
}

void FaultInjectionFileSystem::RecordWrite(const std::string& path, uint64_t offset, size_t len) {
  std::lock_guard<std::mutex> l(mu_);
  writes_++;
  uint64_t size = FileSize(path);
  Undo u{offset, "", size};
  if (offset < size) {
    auto f = base_->OpenRandomAccess(path, false);
    if (f.ok()) {
      auto old = (*f)->ReadAt(offset, std::min<uint64_t>(len, size - offset));
      if (old.ok()) u.old_bytes = *old;
    }
  }
  unsynced_[path].push_back(std::move(u));
}

void FaultInjectionFileSystem::RecordSync(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  unsynced_.erase(path);
}

Status FaultInjectionFileSystem::Rename(const std::string& from, const std::string& to) {
  PendingRename r{from, to, base_->Exists(to), ""};
  if (r.to_existed) {
    auto old = base_->ReadFile(to);
    if (old.ok()) r.old_to = *old;
  }
  WALREP_RETURN_IF_ERROR(base_->Rename(from, to));
  std::lock_guard<std::mutex> l(mu_);
  // The file's history follows it.
  auto it = unsynced_.find(from);
  if (it != unsynced_.end()) {
    unsynced_[to] = std::move(it->second);
    unsynced_.erase(it);
  }
  if (new_files_.count(from)) {
    new_files_.erase(from);
    new_files_[to] = true;
    r.to_existed = false;  // nothing to restore beyond removing it
  }
  renames_.push_back(std::move(r));
  return Status::OK();
}

Status FaultInjectionFileSystem::Remove(const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    unsynced_.erase(path);
    new_files_.erase(path);
  }
  return base_->Remove(path);
}

Status FaultInjectionFileSystem::SyncDir(const std::string& path) {
  WALREP_RETURN_IF_ERROR(base_->SyncDir(path));
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = new_files_.begin(); it != new_files_.end();) {
    it = DirOf(it->first) == path ? new_files_.erase(it) : std::next(it);
  }
  renames_.erase(std::remove_if(renames_.begin(), renames_.end(),
                                [&](const PendingRename& r) { return DirOf(r.to) == path; }),
                 renames_.end());
  return Status::OK();
}

uint64_t FaultInjectionFileSystem::writes() const {
  std::lock_guard<std::mutex> l(mu_);
  return writes_;
}

void FaultInjectionFileSystem::DropUnsyncedData(bool keep_random_prefix, uint32_t seed) {
  std::lock_guard<std::mutex> l(mu_);
  std::mt19937 rng(seed);
  for (auto& [path, undos] : unsynced_) {
    size_t keep = keep_random_prefix ? rng() % (undos.size() + 1) : 0;
    for (size_t i = undos.size(); i > keep; i--) {
      const Undo& u = undos[i - 1];
      auto f = base_->OpenRandomAccess(path, false);
      if (!f.ok()) continue;
      if (!u.old_bytes.empty()) (*f)->WriteAt(u.offset, u.old_bytes).IgnoreError();
      if (::truncate(path.c_str(), static_cast<off_t>(u.old_size)) != 0) {
        // a vanished file needs no truncation
      }
    }
  }
  unsynced_.clear();
  for (auto it = renames_.rbegin(); it != renames_.rend(); ++it) {
    base_->Rename(it->to, it->from).IgnoreError();
    if (it->to_existed) {
      auto f = base_->NewWritableFile(it->to);
      if (f.ok()) (*f)->Append(it->old_to).IgnoreError();
    }
  }
  renames_.clear();
  for (const auto& [path, unused] : new_files_) base_->Remove(path).IgnoreError();
  new_files_.clear();
}

}  // namespace walrep::testing
