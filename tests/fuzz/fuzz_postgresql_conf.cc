// Fuzz target: postgresql.conf parsing (quoting, escapes, units, include directives) and the
// settings built from it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "walrep/common/config_file.h"
#include "walrep/common/guc.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // Include directives name files relative to this one: none exist under /nonexistent.
  auto parsed = walrep::ParseConfigText(text, "/nonexistent/postgresql.conf");
  if (parsed.ok()) {
    auto settings = walrep::ServerSettings::Build(*parsed, {});
    (void)settings;
  }
  return 0;
}
