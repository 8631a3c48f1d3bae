// walrep: the archiver thread — turns pg_wal/archive_status/<file>.ready into .done by running
// archive_command, as PostgreSQL's archiver process.
//
// The command runs through /bin/sh in the data directory with %p replaced by the file's path
// relative to it (pg_wal/<file>), %f by its name and %% by %. Timeline history files go first,
// then segments in name order. A failure is logged with the command's exit status and retried
// twice more, one second apart; after three failures the archiver waits until it is woken (a
// new segment, a reload) or 60 s pass, and tries again. The counters are pg_stat_archiver's;
// they are kept across clean restarts (pg_stat/walrep_archiver_stats).
// Counterpart: pgarch.c and shell_archive.c in PostgreSQL.
// Thread safety: Start/Stop from the owner; Wake() and stats() from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "walrep/common/guc.h"
#include "walrep/common/mutex.h"
#include "walrep/common/time.h"
#include "walrep/io/file_system.h"

namespace walrep::replication {

// archive_command / restore_command: `command` with %p, %f, %r replaced (and %% by %), run by
// /bin/sh in `dir`. Returns the exit status (-1 when it could not run, -N when signal N ended
// it); `expanded`, when given, receives the command as run.
int RunShellCommand(const std::string& command, const std::string& dir, const std::string& p,
                    const std::string& f, const std::string& r, std::string* expanded = nullptr);

// restore_command for `file` into `dest` (relative to `dir`, the data directory), opened for
// reading: nullptr when the archive does not have it, or its size is not `expect_size` (when
// non-zero; logged). `keep` is %r. Any earlier file at `dest` is replaced. The one place the
// standby's source loop, the archive-serving walsender and rewind -c fetch archived files.
std::unique_ptr<io::RandomAccessFile> RestoreArchivedFile(
    io::FileSystem* fs, const std::string& command, const std::string& dir, const std::string& file,
    const std::string& dest, uint64_t expect_size, const std::string& keep = "");

// pg_stat_archiver.
struct ArchiverStats {
  int64_t archived_count = 0;
  std::string last_archived_wal;
  TimestampTz last_archived_time = 0;
  int64_t failed_count = 0;
  std::string last_failed_wal;
  TimestampTz last_failed_time = 0;
  TimestampTz stats_reset = 0;
  std::string Serialize() const;
  static ArchiverStats Parse(const std::string& text);
};

struct ArchiverOptions {
  io::FileSystem* fs = nullptr;
  std::string data_dir;
  std::function<std::shared_ptr<const ServerSettings>()> settings;  // archive_command
  // archive_timeout: called at least every archive_timeout seconds; switches to a new segment
  // when the current one has WAL and the last switch is that old (a primary only).
  std::function<void()> check_timeout;
};

class Archiver {
 public:
  explicit Archiver(ArchiverOptions opts);
  ~Archiver();
  void Start();
  // Stops after the command being run (if any) finished; saves the statistics.
  void Stop();
  // A file became ready, or archive_command may have changed.
  void Wake() EXCLUDES(mu_);
  ArchiverStats stats() const EXCLUDES(mu_);
  // pg_stat_reset_shared('archiver').
  void ResetStats() EXCLUDES(mu_);

 private:
  void Loop() EXCLUDES(mu_);
  // Runs archive_command for `file`; true on exit status 0.
  bool ArchiveOne(const std::string& command, const std::string& file);
  std::string StatsPath() const { return opts_.data_dir + "/pg_stat/walrep_archiver_stats"; }

  const ArchiverOptions opts_;
  std::thread thread_;
  mutable Mutex mu_;
  CondVar wake_{&mu_};
  bool woken_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  ArchiverStats stats_ GUARDED_BY(mu_);
};

}  // namespace walrep::replication
