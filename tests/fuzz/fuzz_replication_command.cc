// Fuzz target: the replication command parser (IDENTIFY_SYSTEM, START_REPLICATION, BASE_BACKUP
// options, CREATE_REPLICATION_SLOT, ...) on what a walsender connection may send.
#include <cstddef>
#include <cstdint>
#include <string>

#include "walrep/replication/command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto cmd =
      walrep::replication::ParseCommand(std::string(reinterpret_cast<const char*>(data), size));
  (void)cmd;
  return 0;
}
