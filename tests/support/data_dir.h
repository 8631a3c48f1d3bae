// walrep: an engine's data directory for unit tests — the part of what `walrepctl init`
// creates that the storage layers need (global, pg_wal, pg_xact, base/5, pg_control and the
// first WAL segment), and an engine opened on it with small test options.
// Thread safety: none; each test owns its directory.
#pragma once

#include <memory>
#include <string>

#include "walrep/access/engine.h"

namespace walrep::testing {

// Creates the data directory's contents in `dir` (which exists); a failure fails the test.
void BootstrapDataDir(io::FileSystem* fs, const std::string& dir);

// Engine::Open on `dir` with 64 buffers and no checkpoint log lines; null (the test failed)
// when it cannot open.
std::unique_ptr<access::Engine> OpenTestEngine(io::FileSystem* fs, const std::string& dir,
                                               storage::RecoveryResult* rr = nullptr);

}  // namespace walrep::testing
