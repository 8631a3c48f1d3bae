// walrep: SQL values and their PostgreSQL types.
//
// A Value is a type OID plus a datum: NULL, bool, a 64-bit integer (int2/int4/int8/oid/date/
// pg_lsn), a double (float4/float8), a decimal (numeric), a string (text, varchar, bpchar,
// name, bytea, unknown literals), a time stamp (microseconds since 2000-01-01) or an interval.
// Text and binary input/output follow PostgreSQL 15's formats for each type.
// Thread safety: values; pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "walrep/common/status.h"

namespace walrep::sql {

// Type OIDs (pg_type.oid), fixed by PostgreSQL.
namespace oid {
constexpr int32_t kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21,
                  kInt4 = 23, kText = 25, kOid = 26, kXid = 28, kFloat4 = 700, kFloat8 = 701,
                  kUnknown = 705, kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTimestamp = 1114,
                  kTimestampTz = 1184, kInterval = 1186, kNumeric = 1700, kVoid = 2278,
                  kPgLsn = 3220, kInet = 869, kRecord = 2249;
}

// A fixed-point decimal: value = mantissa / 10^scale. Enough for 38 significant digits.
struct Numeric {
  __int128 mantissa = 0;
  int scale = 0;
};

struct Interval {
  int32_t months = 0;
  int32_t days = 0;
  int64_t micros = 0;
};

// How values are printed for one session (DateStyle is ISO, MDY; IntervalStyle postgres).
struct FormatOptions {
  int timezone_offset = 0;  // seconds east of UTC
  int extra_float_digits = 1;
};

class Value {
 public:
  using Datum = std::variant<std::monostate, bool, int64_t, double, Numeric, std::string, Interval>;

  Value() = default;  // NULL of type unknown
  static Value Null(int32_t type) { return Value(type, std::monostate{}); }
  static Value Bool(bool b) { return Value(oid::kBool, b); }
  static Value Int(int32_t type, int64_t v) { return Value(type, v); }
  static Value Float(int32_t type, double v) { return Value(type, v); }
  static Value Num(Numeric n) { return Value(oid::kNumeric, n); }
  static Value Text(int32_t type, std::string s) { return Value(type, std::move(s)); }
  static Value Timestamp(int32_t type, int64_t us) { return Value(type, us); }
  static Value Interv(Interval i) { return Value(oid::kInterval, i); }

  int32_t type() const { return type_; }
  bool is_null() const { return std::holds_alternative<std::monostate>(datum_); }
  bool as_bool() const { return std::get<bool>(datum_); }
  int64_t as_int() const { return std::get<int64_t>(datum_); }
  double as_double() const { return std::get<double>(datum_); }
  const Numeric& as_numeric() const { return std::get<Numeric>(datum_); }
  const std::string& as_string() const { return std::get<std::string>(datum_); }
  const Interval& as_interval() const { return std::get<Interval>(datum_); }
  const Datum& datum() const { return datum_; }

 private:
  Value(int32_t type, Datum d) : type_(type), datum_(std::move(d)) {}
  int32_t type_ = oid::kUnknown;
  Datum datum_;
};

// Type metadata.
const char* TypeName(int32_t type);  // "integer", "text", ... as PostgreSQL names types in errors
int16_t TypeLen(int32_t type);
bool IsIntegerType(int32_t type);
bool IsNumericCategory(int32_t type);  // integer, float or numeric
bool IsStringType(int32_t type);
// Resolves a type name as written in SQL (int, int4, integer, varchar, timestamptz, ...).
Result<int32_t> LookupTypeName(std::string_view name);

// Text output (PostgreSQL's *out functions).
std::string ToText(const Value& v, const FormatOptions& opts);
// Binary output (PostgreSQL's *send functions).
Result<std::string> ToBinary(const Value& v);
// Text and binary input.
Result<Value> FromText(int32_t type, std::string_view text, const FormatOptions& opts);
Result<Value> FromBinary(int32_t type, std::string_view bytes);
// Explicit or implicit cast; PostgreSQL's error texts when impossible.
Result<Value> Cast(const Value& v, int32_t target, const FormatOptions& opts);

// Numeric helpers.
Result<Numeric> ParseNumeric(std::string_view s);
std::string NumericToString(const Numeric& n);
double NumericToDouble(const Numeric& n);
Numeric NumericFromInt(int64_t v);
int CompareNumeric(const Numeric& a, const Numeric& b);
Numeric NumericRescale(const Numeric& n, int scale);  // rounds half away from zero

std::string FormatInterval(const Interval& iv);
// A time stamp (microseconds) plus `sign` times an interval. Months count as 30 days, which is
// exact for the day and time parts.
int64_t AddInterval(int64_t ts, const Interval& iv, int sign = 1);
Result<Interval> ParseInterval(std::string_view s);
std::string FormatLsn(uint64_t lsn);
std::optional<uint64_t> ParseLsn(std::string_view s);

}  // namespace walrep::sql
