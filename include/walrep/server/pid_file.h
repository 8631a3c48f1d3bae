// walrep: postmaster.pid — one server per data directory.
//
// Lines as PostgreSQL writes them: pid, data directory, start time (Unix seconds), port, first
// socket directory, first listen address, shared-memory key (always "0 0" here), status
// ("starting", "ready", "stopping", "standby"). A file whose pid is not a live process is
// stale and is replaced; a live one makes a second server refuse to start.
// Thread safety: a PidFile is used by the server's main thread only.
#pragma once

#include <string>

#include "walrep/common/status.h"

namespace walrep::server {

class PidFile {
 public:
  explicit PidFile(std::string data_dir);
  ~PidFile();  // removes the file if this process created it

  Status Create(int port, const std::string& socket_dir, const std::string& listen_addr);
  Status SetStatus(const std::string& status);
  void Remove();

  // Reads the pid on line 1 of DIR/postmaster.pid; 0 when missing or unreadable.
  static long ReadPid(const std::string& data_dir);
  static bool ProcessAlive(long pid);

 private:
  std::string Render() const;
  std::string path_;
  std::string data_dir_;
  std::string lines_[8];
  bool created_ = false;
};

}  // namespace walrep::server
