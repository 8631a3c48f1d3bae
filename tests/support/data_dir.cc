// walrep: data directories for unit tests (see data_dir.h).
#include "data_dir.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace walrep::testing {

void BootstrapDataDir(io::FileSystem* fs, const std::string& dir) {
  for (const char* d : {"global", "pg_wal", "pg_xact", "base/5"}) {
    std::filesystem::create_directories(dir + "/" + d);
  }
  storage::ControlFileData c = storage::NewControlFile(false);
  ASSERT_TRUE(storage::WriteControlFile(fs, dir, c).ok());
  ASSERT_TRUE(storage::XLog::Bootstrap(fs, dir, &c).ok());
}

std::unique_ptr<access::Engine> OpenTestEngine(io::FileSystem* fs, const std::string& dir,
                                               storage::RecoveryResult* rr) {
  access::EngineOptions o;
  o.xlog.fs = fs;
  o.xlog.data_dir = dir;
  o.xlog.log_checkpoints = false;
  o.shared_buffers = 64;
  storage::RecoveryResult local;
  auto e = access::Engine::Open(o, rr ? rr : &local);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

}  // namespace walrep::testing
