// walrep: strong types for WAL positions and timelines.
//
// Lsn is PostgreSQL's XLogRecPtr: a byte position in the infinite WAL stream, printed "%X/%X"
// (upper-case hex, no padding). 0 is invalid. TimelineId is a plain 32-bit number.
// Thread safety: values.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace walrep {

class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }
  constexpr bool valid() const { return v_ != 0; }
  std::string ToString() const;  // "0/16B3748"
  static std::optional<Lsn> Parse(std::string_view s);

  constexpr Lsn operator+(uint64_t n) const { return Lsn(v_ + n); }
  constexpr uint64_t operator-(Lsn o) const { return v_ - o.v_; }
  constexpr auto operator<=>(const Lsn&) const = default;

 private:
  uint64_t v_ = 0;
};

using TimelineId = uint32_t;
using XLogSegNo = uint64_t;
using TransactionId = uint32_t;

}  // namespace walrep
