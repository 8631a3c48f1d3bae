// walrep: CRC-32C (Castagnoli), as PostgreSQL uses for WAL records, pg_control and backup
// manifests. Extend() continues a CRC; Value() is the finished CRC of one buffer.
// Uses the SSE4.2 crc32 instruction when the CPU has it, else a slicing-by-8 table.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace walrep::crc32c {

// Continues `crc` (a finished CRC, or 0 to start) over data.
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Value(s.data(), s.size()); }

}  // namespace walrep::crc32c
