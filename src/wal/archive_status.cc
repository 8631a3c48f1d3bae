// walrep: archive status files (see archive_status.h).
#include "walrep/wal/archive_status.h"

#include <algorithm>

namespace walrep::wal {

namespace {
std::string StatusDir(const std::string& wal_dir) { return wal_dir + "/archive_status"; }
std::string StatusFile(const std::string& wal_dir, const std::string& file, const char* suffix) {
  return StatusDir(wal_dir) + "/" + file + suffix;
}
}  // namespace

Status MarkArchiveReady(io::FileSystem* fs, const std::string& wal_dir, const std::string& file) {
  if (!fs->Exists(StatusDir(wal_dir))) WALREP_RETURN_IF_ERROR(fs->CreateDir(StatusDir(wal_dir)));
  if (fs->Exists(StatusFile(wal_dir, file, ".done"))) return Status::OK();
  WALREP_ASSIGN_OR_RETURN(auto f, fs->NewWritableFile(StatusFile(wal_dir, file, ".ready")));
  return f->Close();
}

Status MarkArchiveDone(io::FileSystem* fs, const std::string& wal_dir, const std::string& file) {
  if (!fs->Exists(StatusDir(wal_dir))) WALREP_RETURN_IF_ERROR(fs->CreateDir(StatusDir(wal_dir)));
  std::string ready = StatusFile(wal_dir, file, ".ready");
  std::string done = StatusFile(wal_dir, file, ".done");
  if (fs->Exists(ready)) return fs->Rename(ready, done);
  WALREP_ASSIGN_OR_RETURN(auto f, fs->NewWritableFile(done));
  return f->Close();
}

bool CheckArchiveDone(io::FileSystem* fs, const std::string& wal_dir, const std::string& file) {
  if (fs->Exists(StatusFile(wal_dir, file, ".done"))) return true;
  if (fs->Exists(StatusFile(wal_dir, file, ".ready"))) return false;
  // Neither: the status file was lost in a crash. Archive it to be safe.
  MarkArchiveReady(fs, wal_dir, file).IgnoreError();  // retried at the next check
  return false;
}

void RemoveArchiveStatus(io::FileSystem* fs, const std::string& wal_dir, const std::string& file) {
  for (const char* suffix : {".ready", ".done"}) {
    std::string path = StatusFile(wal_dir, file, suffix);
    if (fs->Exists(path)) fs->Remove(path).IgnoreError();  // a leftover is harmless
  }
}

std::vector<std::string> ArchiveReadyFiles(io::FileSystem* fs, const std::string& wal_dir) {
  std::vector<std::string> out;
  auto names = fs->ListDir(StatusDir(wal_dir));
  if (!names.ok()) return out;
  for (const auto& n : *names) {
    if (n.size() > 6 && n.compare(n.size() - 6, 6, ".ready") == 0) {
      out.push_back(n.substr(0, n.size() - 6));
    }
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    bool ha = a.find(".history") != std::string::npos;
    bool hb = b.find(".history") != std::string::npos;
    if (ha != hb) return ha;
    return a < b;
  });
  return out;
}

}  // namespace walrep::wal
