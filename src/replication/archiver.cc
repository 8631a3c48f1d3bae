// walrep: the archiver (see archiver.h).
#include "walrep/replication/archiver.h"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "walrep/common/logging.h"
#include "walrep/common/thread_name.h"
#include "walrep/wal/archive_status.h"

namespace walrep::replication {

std::string ArchiverStats::Serialize() const {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n", archived_count,
                     last_archived_wal.empty() ? "-" : last_archived_wal, last_archived_time,
                     failed_count, last_failed_wal.empty() ? "-" : last_failed_wal,
                     last_failed_time, stats_reset);
}

ArchiverStats ArchiverStats::Parse(const std::string& text) {
  ArchiverStats s;
  std::istringstream in(text);
  std::string a, b;
  in >> s.archived_count >> a >> s.last_archived_time >> s.failed_count >> b >>
      s.last_failed_time >> s.stats_reset;
  if (!in) return ArchiverStats();
  s.last_archived_wal = a == "-" ? "" : a;
  s.last_failed_wal = b == "-" ? "" : b;
  return s;
}

Archiver::Archiver(ArchiverOptions opts) : opts_(std::move(opts)) {
  MutexLock l(&mu_);
  auto text = opts_.fs->ReadFile(StatsPath());
  if (text.ok()) {
    stats_ = ArchiverStats::Parse(*text);
    opts_.fs->Remove(StatsPath()).IgnoreError();  // a crash from now on starts them over
  } else {
    stats_.stats_reset = NowTimestamp();
  }
}

Archiver::~Archiver() { Stop(); }

void Archiver::Start() {
  thread_ = NamedThread("archiver", [this] { Loop(); });
}

void Archiver::Stop() {
  if (!thread_.joinable()) return;
  {
    MutexLock l(&mu_);
    stop_ = true;
    wake_.SignalAll();
  }
  thread_.join();
  std::string dir = opts_.data_dir + "/pg_stat";
  if (!opts_.fs->Exists(dir)) opts_.fs->CreateDir(dir).IgnoreError();
  // Statistics are advisory: a failed save only loses them.
  opts_.fs->WriteFileDurably(StatsPath(), stats().Serialize()).IgnoreError();
}

void Archiver::Wake() {
  MutexLock l(&mu_);
  woken_ = true;
  wake_.SignalAll();
}

ArchiverStats Archiver::stats() const {
  MutexLock l(&mu_);
  return stats_;
}

void Archiver::ResetStats() {
  MutexLock l(&mu_);
  stats_ = ArchiverStats();
  stats_.stats_reset = NowTimestamp();
}

std::unique_ptr<io::RandomAccessFile> RestoreArchivedFile(
    io::FileSystem* fs, const std::string& command, const std::string& dir, const std::string& file,
    const std::string& dest, uint64_t expect_size, const std::string& keep) {
  const std::string path = dir + "/" + dest;
  fs->Remove(path).IgnoreError();  // a leftover of an earlier try
  if (RunShellCommand(command, dir, dest, file, keep) != 0) return nullptr;
  auto f = fs->OpenRandomAccess(path, false);
  if (!f.ok()) return nullptr;
  auto size = (*f)->Size();
  if (expect_size != 0 && (!size.ok() || *size != expect_size)) {
    WALREP_LOG_ERROR("archive file \"{}\" has wrong size: {} instead of {}", file,
                     size.ok() ? *size : 0, expect_size);
    return nullptr;
  }
  return std::move(*f);
}

int RunShellCommand(const std::string& command, const std::string& dir, const std::string& p,
                    const std::string& f, const std::string& r, std::string* expanded) {
  std::string cmd;
  for (size_t i = 0; i < command.size(); i++) {
    if (command[i] == '%' && i + 1 < command.size()) {
      char c = command[++i];
      if (c == 'p') {
        cmd += p;
      } else if (c == 'f') {
        cmd += f;
      } else if (c == 'r') {
        cmd += r;
      } else if (c == '%') {
        cmd += '%';
      } else {
        cmd += '%';
        cmd += c;
      }
    } else {
      cmd += command[i];
    }
  }
  if (expanded) *expanded = cmd;
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) _exit(127);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) < 0) return -1;
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Archiver::ArchiveOne(const std::string& command, const std::string& file) {
  std::string expanded;
  int rc = RunShellCommand(command, opts_.data_dir, "pg_wal/" + file, file, "", &expanded);
  if (rc == 0) return true;
  if (rc < -1) {
    WALREP_LOG_ERROR("archive command was terminated by signal {}", -rc);
  } else {
    WALREP_LOG_ERROR("archive command failed with exit code {}", rc);
  }
  WALREP_LOG("DETAIL:  The failed archive command was: {}", expanded);
  return false;
}

void Archiver::Loop() {
  const std::string wal_dir = opts_.data_dir + "/pg_wal";
  while (true) {
    {
      MutexLock l(&mu_);
      if (stop_) return;
    }
    bool gave_up = false;
    for (const std::string& file : wal::ArchiveReadyFiles(opts_.fs, wal_dir)) {
      std::string command = opts_.settings()->GetString("archive_command");
      if (command.empty()) break;  // PostgreSQL also waits for a command to be set
      bool done = false;
      for (int attempt = 0; attempt < 3 && !done; attempt++) {
        {
          MutexLock l(&mu_);
          if (stop_) return;
          if (attempt > 0)
            wake_.WaitUntil(std::chrono::steady_clock::now() + std::chrono::seconds(1));
          if (stop_) return;
        }
        done = ArchiveOne(command, file);
        MutexLock l(&mu_);
        if (done) {
          stats_.archived_count++;
          stats_.last_archived_wal = file;
          stats_.last_archived_time = NowTimestamp();
        } else {
          stats_.failed_count++;
          stats_.last_failed_wal = file;
          stats_.last_failed_time = NowTimestamp();
        }
      }
      if (!done) {
        WALREP_LOG(
            "WARNING:  archiving write-ahead log file \"{}\" failed too many times, will try "
            "again later",
            file);
        gave_up = true;
        break;
      }
      Status st = wal::MarkArchiveDone(opts_.fs, wal_dir, file);
      if (!st.ok()) WALREP_LOG_ERROR("{}", st.message());
    }
    if (opts_.check_timeout) opts_.check_timeout();
    int64_t timeout_s = opts_.settings()->GetInt("archive_timeout");
    int64_t wait_s = timeout_s > 0 ? std::min<int64_t>(timeout_s, 60) : 60;
    MutexLock l(&mu_);
    if (stop_) return;
    if (!woken_ || gave_up) {
      wake_.WaitUntil(std::chrono::steady_clock::now() + std::chrono::seconds(wait_s));
    }
    woken_ = false;
  }
}

}  // namespace walrep::replication
