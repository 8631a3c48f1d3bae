// walrep: little-endian (native) fields of WAL record and page payloads, for access's files.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

namespace walrep::access {

template <typename T>
void Put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
// The T at `off`, or T{} when `s` is too short.
template <typename T>
T Get(std::string_view s, size_t off) {
  T v{};
  if (off + sizeof(T) <= s.size()) std::memcpy(&v, s.data() + off, sizeof(T));
  return v;
}

}  // namespace walrep::access
