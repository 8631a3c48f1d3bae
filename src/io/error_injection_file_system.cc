// walrep: the error-injecting FileSystem (see error_injection_file_system.h).
#include "walrep/io/error_injection_file_system.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "walrep/common/logging.h"

namespace walrep::io {

namespace {

class ErrorInjectionWritableFile : public WritableFile {
 public:
  ErrorInjectionWritableFile(ErrorInjectionFileSystem* fs, std::unique_ptr<WritableFile> base,
                             std::string path)
      : fs_(fs), base_(std::move(base)), path_(std::move(path)) {}
  Status Append(std::string_view data) override {
    if (auto e = fs_->Check(ErrorInjectionFileSystem::Op::kWrite, path_)) {
      if (*e == ErrorInjectionFileSystem::Error::kShort) {
        base_->Append(data.substr(0, data.size() / 2)).IgnoreError();  // the torn part
      }
      return ErrorInjectionFileSystem::ToStatus(*e, "write to file", path_);
    }
    return base_->Append(data);
  }
  Status Allocate(uint64_t size) override {
    if (auto e = fs_->Check(ErrorInjectionFileSystem::Op::kWrite, path_)) {
      return ErrorInjectionFileSystem::ToStatus(*e, "allocate file", path_);
    }
    return base_->Allocate(size);
  }
  Status Sync() override {
    if (auto e = fs_->Check(ErrorInjectionFileSystem::Op::kSync, path_)) {
      return ErrorInjectionFileSystem::ToStatus(*e, "fsync file", path_);
    }
    return base_->Sync();
  }
  Status Close() override { return base_->Close(); }

 private:
  ErrorInjectionFileSystem* const fs_;
  std::unique_ptr<WritableFile> base_;
  const std::string path_;
};

class ErrorInjectionRandomAccessFile : public RandomAccessFile {
 public:
  ErrorInjectionRandomAccessFile(ErrorInjectionFileSystem* fs,
                                 std::unique_ptr<RandomAccessFile> base, std::string path)
      : fs_(fs), base_(std::move(base)), path_(std::move(path)) {}
  Result<std::string> ReadAt(uint64_t offset, size_t n) override {
    if (auto e = fs_->Check(ErrorInjectionFileSystem::Op::kRead, path_)) {
      return ErrorInjectionFileSystem::ToStatus(*e, "read file", path_);
    }
    return base_->ReadAt(offset, n);
  }
  Result<size_t> ReadInto(uint64_t offset, char* buf, size_t n) override {
    if (auto e = fs_->Check(ErrorInjectionFileSystem::Op::kRead, path_)) {
      return ErrorInjectionFileSystem::ToStatus(*e, "read file", path_);
    }
    return base_->ReadInto(offset, buf, n);
  }
  Status WriteAt(uint64_t offset, std::string_view data) override {
    if (auto e = fs_->Check(ErrorInjectionFileSystem::Op::kWrite, path_)) {
      if (*e == ErrorInjectionFileSystem::Error::kShort) {
        base_->WriteAt(offset, data.substr(0, data.size() / 2)).IgnoreError();  // the torn part
      }
      return ErrorInjectionFileSystem::ToStatus(*e, "write to file", path_);
    }
    return base_->WriteAt(offset, data);
  }
  Status Sync() override {
    if (auto e = fs_->Check(ErrorInjectionFileSystem::Op::kSync, path_)) {
      return ErrorInjectionFileSystem::ToStatus(*e, "fsync file", path_);
    }
    return base_->Sync();
  }
  Result<uint64_t> Size() override { return base_->Size(); }
  void Prefetch(uint64_t offset, size_t n) override { base_->Prefetch(offset, n); }

 private:
  ErrorInjectionFileSystem* const fs_;
  std::unique_ptr<RandomAccessFile> base_;
  const std::string path_;
};

// Rule words, indexed by the enums' values.
constexpr const char* kOpNames[] = {"write", "sync", "rename", "syncdir", "create", "read"};
constexpr const char* kErrorNames[] = {"EIO", "ENOSPC", "short", "exception"};

// The index of `word` in `names`, or -1.
template <size_t N>
int Lookup(const char* const (&names)[N], const std::string& word) {
  for (size_t i = 0; i < N; i++) {
    if (word == names[i]) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

Result<std::vector<ErrorInjectionFileSystem::Rule>> ErrorInjectionFileSystem::ParseRules(
    std::string_view text) {
  std::vector<Rule> rules;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string op, path, error;
    if (!(words >> op)) continue;  // blank
    auto bad = [&] {
      return Status::InvalidArgument(
          fmt::format("invalid I/O fault rule at line {}: {}", lineno, line));
    };
    Rule r;
    int op_index = Lookup(kOpNames, op);
    if (op_index < 0 || !(words >> r.path >> error)) return bad();
    int error_index = Lookup(kErrorNames, error);
    if (error_index < 0) return bad();
    r.op = static_cast<Op>(op_index);
    r.error = static_cast<Error>(error_index);
    std::string key;
    uint64_t n;
    while (words >> key) {
      if (!(words >> n)) return bad();
      if (key == "after") {
        r.after = n;
      } else if (key == "times") {
        r.times = n;
      } else {
        return bad();
      }
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

void ErrorInjectionFileSystem::Reload() {
  struct stat st;
  std::string version;  // empty: no file, no rules
  if (::stat(rules_file_.c_str(), &st) == 0) {
    // Timestamps are coarse: a file replaced by a rename (a new inode) is always seen.
    version =
        fmt::format("{}:{}.{}:{}", st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_size);
  }
  if (version == loaded_version_) return;
  loaded_version_ = version;
  rules_.clear();
  if (version.empty()) return;
  auto text = base_->ReadFile(rules_file_);
  if (!text.ok()) return;
  auto rules = ParseRules(*text);
  if (!rules.ok()) {
    WALREP_LOG_ERROR("{}", rules.status().message());
    return;
  }
  rules_ = std::move(*rules);
}

std::optional<ErrorInjectionFileSystem::Error> ErrorInjectionFileSystem::Check(
    Op op, const std::string& path) {
  MutexLock l(&mu_);
  Reload();
  for (Rule& r : rules_) {
    if (r.op != op || path.find(r.path) == std::string::npos) continue;
    if (r.seen++ < r.after || r.failed >= r.times) continue;
    r.failed++;
    WALREP_LOG("injected I/O fault: {} {} {}", kOpNames[static_cast<int>(op)], path,
               kErrorNames[static_cast<int>(r.error)]);
    return r.error;
  }
  return std::nullopt;
}

Status ErrorInjectionFileSystem::ToStatus(Error e, const char* what, const std::string& path) {
  if (e == Error::kException) {
    throw std::runtime_error(fmt::format("injected exception: {} \"{}\"", what, path));
  }
  return Errno(what, path, e == Error::kEnospc ? ENOSPC : EIO);
}

Result<std::string> ErrorInjectionFileSystem::ReadFile(const std::string& path) {
  if (auto e = Check(Op::kRead, path)) return ToStatus(*e, "read file", path);
  return base_->ReadFile(path);
}

Result<std::unique_ptr<WritableFile>> ErrorInjectionFileSystem::NewWritableFile(
    const std::string& path) {
  if (auto e = Check(Op::kCreate, path)) return ToStatus(*e, "create file", path);
  WALREP_ASSIGN_OR_RETURN(auto f, base_->NewWritableFile(path));
  return std::unique_ptr<WritableFile>(new ErrorInjectionWritableFile(this, std::move(f), path));
}

Result<std::unique_ptr<RandomAccessFile>> ErrorInjectionFileSystem::OpenRandomAccess(
    const std::string& path, bool create) {
  if (create) {
    if (auto e = Check(Op::kCreate, path)) return ToStatus(*e, "open file", path);
  }
  WALREP_ASSIGN_OR_RETURN(auto f, base_->OpenRandomAccess(path, create));
  return std::unique_ptr<RandomAccessFile>(
      new ErrorInjectionRandomAccessFile(this, std::move(f), path));
}

Status ErrorInjectionFileSystem::Rename(const std::string& from, const std::string& to) {
  if (auto e = Check(Op::kRename, to)) {
    if (*e == Error::kException) return ToStatus(*e, "rename file", to);
    return Status::IOError(fmt::format("could not rename file \"{}\" to \"{}\": {}", from, to,
                                       std::strerror(*e == Error::kEnospc ? ENOSPC : EIO)));
  }
  return base_->Rename(from, to);
}

Status ErrorInjectionFileSystem::SyncDir(const std::string& path) {
  if (auto e = Check(Op::kSyncDir, path)) return ToStatus(*e, "fsync directory", path);
  return base_->SyncDir(path);
}

}  // namespace walrep::io
