// walrep: the POSIX FileSystem and the durable-write helper.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "walrep/io/file_system.h"

namespace walrep::io {

namespace {

Status Errno(const char* what, const std::string& path) { return io::Errno(what, path, errno); }

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("write to file", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::OK();
  }
  Status Allocate(uint64_t size) override {
    // glibc falls back to writing a byte per block where the file system has no fallocate.
    int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
    if (err != 0) return io::Errno("allocate file", path_, err);
    return Status::OK();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno("fsync file", path_);
    return Status::OK();
  }
  Status Close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return Errno("close file", path_);
    return Status::OK();
  }

 private:
  int fd_;
  std::string path_;
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  PosixRandomAccessFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Result<std::string> ReadAt(uint64_t offset, size_t n) override {
    std::string out(n, '\0');
    WALREP_ASSIGN_OR_RETURN(size_t got, ReadInto(offset, out.data(), n));
    out.resize(got);
    return out;
  }
  Result<size_t> ReadInto(uint64_t offset, char* buf, size_t n) override {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, buf + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Errno("read file", path_);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }
  Status WriteAt(uint64_t offset, std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t r =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Errno("write to file", path_);
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno("fsync file", path_);
    return Status::OK();
  }
  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Errno("stat file", path_);
    return static_cast<uint64_t>(st.st_size);
  }
  void Prefetch(uint64_t offset, size_t n) override {
    ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(n), POSIX_FADV_WILLNEED);
  }

 private:
  int fd_;
  std::string path_;
};

class PosixFileSystem : public FileSystem {
 public:
  Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(const std::string& path,
                                                             bool create) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    // A file its owner may only read (a 0400 server.key in a base backup) is opened read-only.
    if (fd < 0 && errno == EACCES && !create) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        return Status::NotFound(
            fmt::format("could not open file \"{}\": {}", path, std::strerror(errno)));
      }
      return Errno("open file", path);
    }
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(fd, path));
  }
  Result<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        return Status::NotFound(
            fmt::format("could not open file \"{}\": {}", path, std::strerror(errno)));
      }
      return Errno("open file", path);
    }
    std::string out;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        Status st = Errno("read file", path);
        ::close(fd);
        return st;
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("create file", path);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Status::IOError(fmt::format("could not rename file \"{}\" to \"{}\": {}", from, to,
                                         std::strerror(errno)));
    }
    return Status::OK();
  }
  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0 || errno == ENOENT) return Status::OK();
    if (errno == EISDIR && (::rmdir(path.c_str()) == 0 || errno == ENOENT)) return Status::OK();
    return Errno("remove file", path);
  }
  Status CreateDir(const std::string& path, int mode) override {
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
      return Errno("create directory", path);
    }
    return Status::OK();
  }
  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno("open directory", path);
    int rc = ::fsync(fd);
    int saved = errno;
    ::close(fd);
    if (rc != 0) {
      errno = saved;
      return Errno("fsync directory", path);
    }
    return Status::OK();
  }
  bool Exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (!d) return Errno("open directory", path);
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    return out;
  }
  Result<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        return Status::NotFound(
            fmt::format("could not stat file \"{}\": {}", path, std::strerror(errno)));
      }
      return Errno("stat file", path);
    }
    FileInfo info;
    info.size = static_cast<uint64_t>(st.st_size);
    info.mtime = st.st_mtime;
    info.is_dir = S_ISDIR(st.st_mode);
    info.is_regular = S_ISREG(st.st_mode);
    return info;
  }
};

}  // namespace

Result<size_t> RandomAccessFile::ReadInto(uint64_t offset, char* buf, size_t n) {
  WALREP_ASSIGN_OR_RETURN(std::string bytes, ReadAt(offset, n));
  std::memcpy(buf, bytes.data(), bytes.size());
  return bytes.size();
}

Status WritableFile::Allocate(uint64_t size) {
  const std::string zeros(std::min<uint64_t>(size, 1 << 20), '\0');
  for (uint64_t done = 0; done < size; done += zeros.size()) {
    WALREP_RETURN_IF_ERROR(Append(std::string_view(zeros).substr(0, size - done)));
  }
  return Status::OK();
}

Status FileSystem::WriteFileDurably(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  {
    WALREP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, NewWritableFile(tmp));
    WALREP_RETURN_IF_ERROR(f->Append(data));
    WALREP_RETURN_IF_ERROR(f->Sync());
    WALREP_RETURN_IF_ERROR(f->Close());
  }
  WALREP_RETURN_IF_ERROR(Rename(tmp, path));
  std::string dir = std::filesystem::path(path).parent_path().string();
  return SyncDir(dir.empty() ? "." : dir);
}

Status FileSystem::CreateDirs(const std::string& path, int mode) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    WALREP_RETURN_IF_ERROR(CreateDir(path.substr(0, slash), mode));
  }
  return CreateDir(path, mode);
}

Status Errno(const char* what, const std::string& path, int err) {
  std::string msg = fmt::format("could not {} \"{}\": {}", what, path, std::strerror(err));
  if (err == ENOSPC)
    return Status::IOError(std::move(msg), "53100").WithHint("Check free disk space.");
  return Status::IOError(std::move(msg));
}

FileSystem* DefaultFileSystem() {
  static PosixFileSystem fs;
  return &fs;
}

}  // namespace walrep::io
