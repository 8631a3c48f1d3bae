// walrep: SQL values and their PostgreSQL types.
//
// A Value is a type OID plus a datum: NULL, bool, a 64-bit integer (int2/int4/int8/oid/date/
// pg_lsn), a double (float4/float8), a decimal (numeric), a string (text, varchar, bpchar,
// name, bytea, unknown literals), a time stamp (microseconds since 2000-01-01) or an interval.
// Text and binary input/output follow PostgreSQL 15's formats for each type.
// Thread safety: values; pure functions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "walrep/common/status.h"

namespace walrep::sql {

// Type OIDs (pg_type.oid), fixed by PostgreSQL.
namespace oid {
constexpr int32_t kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21,
                  kInt4 = 23, kText = 25, kOid = 26, kXid = 28, kFloat4 = 700, kFloat8 = 701,
                  kUnknown = 705, kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTimestamp = 1114,
                  kTimestampTz = 1184, kInterval = 1186, kNumeric = 1700, kVoid = 2278,
                  kPgLsn = 3220, kInet = 869, kRecord = 2249;
// Catalog types: object identifiers shown by name (reg*), vectors, expression trees, ACLs.
constexpr int32_t kRegproc = 24, kInt2Vector = 22, kOidVector = 30, kPgNodeTree = 194,
                  kRegprocedure = 2202, kRegoper = 2203, kRegclass = 2205, kRegtype = 2206,
                  kRegnamespace = 4089, kRegrole = 4096, kAclitem = 1033;
// Array types (PostgreSQL's typarray of each element type).
constexpr int32_t kBoolArray = 1000, kByteaArray = 1001, kCharArray = 1002, kNameArray = 1003,
                  kInt2Array = 1005, kInt4Array = 1007, kTextArray = 1009, kBpcharArray = 1014,
                  kVarcharArray = 1015, kInt8Array = 1016, kFloat4Array = 1021, kFloat8Array = 1022,
                  kOidArray = 1028, kAclitemArray = 1034, kTimestampArray = 1115, kDateArray = 1182,
                  kTimestampTzArray = 1185, kIntervalArray = 1187, kNumericArray = 1231,
                  kRegtypeArray = 2211;
}  // namespace oid

// The array type whose elements are `elem` (0 when there is none), and the element type of an
// array type (0 when `type` is not one). int2vector and oidvector are arrays of int2 and oid
// whose subscripts start at 0.
int32_t ArrayTypeOf(int32_t elem);
int32_t ElementTypeOf(int32_t type);
// True for regclass, regtype, regproc, regnamespace, regrole...: an oid shown as a name.
bool IsRegType(int32_t type);

class Value;
using ArrayElems = std::vector<Value>;

// The names behind reg* values (regclass shows a relation's name), resolved through the catalog
// of the thread's current session — PostgreSQL's regclassout/regclassin look up the syscache.
class RegResolver {
 public:
  virtual ~RegResolver() = default;
  // The name of `oid` as a value of `type` shows it; nullopt when there is no such object.
  virtual std::optional<std::string> Name(int32_t type, int64_t oid) = 0;
  // The oid a name stands for; 42P01/42704 when there is none.
  virtual Result<int64_t> Oid(int32_t type, std::string_view name) = 0;
};
// Sets the resolver of the calling thread (null: reg* values show and read numbers only);
// returns the previous one.
RegResolver* SetRegResolver(RegResolver* r);

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
  using Datum = std::variant<std::monostate, bool, int64_t, double, Numeric, std::string, Interval,
                             std::shared_ptr<const ArrayElems>>;

  Value() = default;  // NULL of type unknown
  static Value Null(int32_t type) { return Value(type, std::monostate{}); }
  static Value Bool(bool b) { return Value(oid::kBool, b); }
  static Value Int(int32_t type, int64_t v) { return Value(type, v); }
  static Value Float(int32_t type, double v) { return Value(type, v); }
  static Value Num(Numeric n) { return Value(oid::kNumeric, n); }
  static Value Text(int32_t type, std::string s) { return Value(type, std::move(s)); }
  static Value Timestamp(int32_t type, int64_t us) { return Value(type, us); }
  static Value Interv(Interval i) { return Value(oid::kInterval, i); }
  // A one-dimensional array of `type` (an array type); NULL elements are NULL Values.
  static Value Array(int32_t type, ArrayElems elems) {
    return Value(type, std::make_shared<const ArrayElems>(std::move(elems)));
  }

  int32_t type() const { return type_; }
  bool is_null() const { return std::holds_alternative<std::monostate>(datum_); }
  bool as_bool() const { return std::get<bool>(datum_); }
  int64_t as_int() const { return std::get<int64_t>(datum_); }
  double as_double() const { return std::get<double>(datum_); }
  const Numeric& as_numeric() const { return std::get<Numeric>(datum_); }
  const std::string& as_string() const { return std::get<std::string>(datum_); }
  const Interval& as_interval() const { return std::get<Interval>(datum_); }
  bool is_array() const {
    return std::holds_alternative<std::shared_ptr<const ArrayElems>>(datum_);
  }
  const ArrayElems& as_array() const {
    return *std::get<std::shared_ptr<const ArrayElems>>(datum_);
  }
  const Datum& datum() const { return datum_; }

 private:
  Value(int32_t type, Datum d) : type_(type), datum_(std::move(d)) {}
  int32_t type_ = oid::kUnknown;
  Datum datum_;
};

// Type metadata.
// "integer", "text", "integer[]" ... as PostgreSQL names types in errors (format_type).
std::string TypeName(int32_t type);
int16_t TypeLen(int32_t type);
bool IsIntegerType(int32_t type);
// `v` as a value of integer type `type`, or 22003 "integer out of range" (smallint, bigint, OID)
// when it does not fit.
Result<Value> CheckedInt(int32_t type, __int128 v);
bool IsNumericCategory(int32_t type);  // integer, float or numeric
bool IsStringType(int32_t type);
// Resolves a type name as written in SQL (int, int4, integer, varchar, timestamptz, ...).
Result<int32_t> LookupTypeName(std::string_view name);

// Text output (PostgreSQL's *out functions).
std::string ToText(const Value& v, const FormatOptions& opts);
// A row's values as a record's text, as record_out writes it: (1,"a b",).
std::string RecordText(const std::vector<Value>& fields, const FormatOptions& opts);
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
// walrep's numeric is exact to 38 significant digits (|mantissa| < 10^38, scale
// 0..kMaxNumericScale); what would leave that range is an error, 22003 "value overflows numeric
// format", never a wrapped value.
inline constexpr int kMaxNumericScale = 1000;
int CompareNumeric(const Numeric& a, const Numeric& b);
// Rounds half away from zero when `scale` is smaller.
Result<Numeric> NumericRescale(const Numeric& n, int scale);
// op is one of + - * / %; division by zero is 22012.
Result<Numeric> NumericArith(char op, const Numeric& a, const Numeric& b);

std::string FormatInterval(const Interval& iv);
// A time stamp (microseconds) plus `sign` times an interval. Months count as 30 days, which is
// exact for the day and time parts.
int64_t AddInterval(int64_t ts, const Interval& iv, int sign = 1);
Result<Interval> ParseInterval(std::string_view s);
std::string FormatLsn(uint64_t lsn);
std::optional<uint64_t> ParseLsn(std::string_view s);

}  // namespace walrep::sql
