// Fuzz target: backup_label parsing (written by pg_basebackup, pg_rewind or a hostile copy).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "walrep/storage/xlog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto label = walrep::storage::ParseBackupLabel(
      std::string_view(reinterpret_cast<const char*>(data), size), "backup_label");
  (void)label;
  return 0;
}
