// walrep: Lsn text form.
#include "walrep/common/lsn.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>

namespace walrep {

std::string Lsn::ToString() const {
  return fmt::format("{:X}/{:X}", static_cast<uint32_t>(v_ >> 32), static_cast<uint32_t>(v_));
}

std::optional<Lsn> Lsn::Parse(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 8 || s.size() - slash - 1 == 0 ||
      s.size() - slash - 1 > 8) {
    return std::nullopt;
  }
  for (size_t i = 0; i < s.size(); i++) {
    if (i != slash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  }
  uint64_t hi = std::strtoull(std::string(s.substr(0, slash)).c_str(), nullptr, 16);
  uint64_t lo = std::strtoull(std::string(s.substr(slash + 1)).c_str(), nullptr, 16);
  return Lsn((hi << 32) | lo);
}

}  // namespace walrep
