// walrep: postmaster.pid (see pid_file.h).
#include "walrep/server/pid_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

namespace walrep::server {

PidFile::PidFile(std::string data_dir)
    : path_(data_dir + "/postmaster.pid"), data_dir_(std::move(data_dir)) {}

PidFile::~PidFile() { Remove(); }

long PidFile::ReadPid(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid)) return 0;
  return pid;
}

bool PidFile::ProcessAlive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

std::string PidFile::Render() const {
  std::string out;
  for (const auto& l : lines_) out += l + "\n";
  return out;
}

Status PidFile::Create(int port, const std::string& socket_dir, const std::string& listen_addr) {
  lines_[0] = std::to_string(::getpid());
  lines_[1] = data_dir_;
  lines_[2] = std::to_string(std::time(nullptr));
  lines_[3] = std::to_string(port);
  lines_[4] = socket_dir;
  lines_[5] = listen_addr;
  lines_[6] = "       0         0";
  lines_[7] = "starting";
  for (int attempt = 0; attempt < 2; attempt++) {
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      std::string text = Render();
      bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                ::fsync(fd) == 0;
      ::close(fd);
      if (!ok) {
        ::unlink(path_.c_str());
        return Status::IOError(
            fmt::format("could not write lock file \"{}\": {}", path_, std::strerror(errno)));
      }
      created_ = true;
      return Status::OK();
    }
    if (errno != EEXIST) {
      return Status::IOError(
          fmt::format("could not create lock file \"{}\": {}", path_, std::strerror(errno)));
    }
    long other = ReadPid(data_dir_);
    if (other > 0 && other != ::getpid() && ProcessAlive(other)) {
      return Status::Sql("F0001", fmt::format("lock file \"{}\" already exists", path_))
          .WithHint(fmt::format("Is another postmaster (PID {}) running in data directory \"{}\"?",
                                other, data_dir_));
    }
    // Stale: the process that wrote it is gone.
    ::unlink(path_.c_str());
  }
  return Status::IOError(fmt::format("could not create lock file \"{}\"", path_));
}

Status PidFile::SetStatus(const std::string& status) {
  if (!created_) return Status::OK();
  lines_[7] = status;
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(fmt::format("could not write \"{}\"", tmp));
  std::string text = Render();
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    return Status::IOError(fmt::format("could not update lock file \"{}\"", path_));
  }
  return Status::OK();
}

void PidFile::Remove() {
  if (created_) {
    ::unlink(path_.c_str());
    created_ = false;
  }
}

}  // namespace walrep::server
