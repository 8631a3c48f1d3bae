// walrep: SQL value input, output and casts (see value.h).
// Counterpart: the *in/*out/*send/*recv functions in PostgreSQL's utils/adt/.
#include "walrep/sql/value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "walrep/common/strings.h"
#include "walrep/common/time.h"

namespace walrep::sql {

namespace {

Status InvalidSyntax(int32_t type, std::string_view text) {
  return Status::Sql("22P02",
                     fmt::format("invalid input syntax for type {}: \"{}\"", TypeName(type), text));
}
Status OutOfRange(int32_t type) {
  return Status::Sql("22003", fmt::format("{} out of range", TypeName(type)));
}

int64_t RangeMin(int32_t t) {
  return t == oid::kInt2 ? SHRT_MIN : t == oid::kInt4 ? INT_MIN : t == oid::kOid ? 0 : LLONG_MIN;
}
int64_t RangeMax(int32_t t) {
  return t == oid::kInt2   ? SHRT_MAX
         : t == oid::kInt4 ? INT_MAX
         : t == oid::kOid  ? UINT_MAX
                           : LLONG_MAX;
}

__int128 Pow10(int n) {
  __int128 r = 1;
  for (int i = 0; i < n; i++) r *= 10;
  return r;
}

std::string FormatDouble(double d, int32_t type) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  // Shortest representation that reads back exactly, as PostgreSQL 12+ prints by default.
  std::string s =
      type == oid::kFloat4 ? fmt::format("{}", static_cast<float>(d)) : fmt::format("{}", d);
  // fmt prints exponents as e+16 / e-05; PostgreSQL prints e+16 / e-05 too.
  return s;
}

void PutBE(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetBE(std::string_view b) {
  uint64_t v = 0;
  for (unsigned char c : b) v = (v << 8) | c;
  return v;
}

// Array element types and their array types.
constexpr std::pair<int32_t, int32_t> kArrayTypes[] = {
    {oid::kBool, oid::kBoolArray},
    {oid::kBytea, oid::kByteaArray},
    {oid::kChar, oid::kCharArray},
    {oid::kName, oid::kNameArray},
    {oid::kInt2, oid::kInt2Array},
    {oid::kInt4, oid::kInt4Array},
    {oid::kText, oid::kTextArray},
    {oid::kBpchar, oid::kBpcharArray},
    {oid::kVarchar, oid::kVarcharArray},
    {oid::kInt8, oid::kInt8Array},
    {oid::kFloat4, oid::kFloat4Array},
    {oid::kFloat8, oid::kFloat8Array},
    {oid::kOid, oid::kOidArray},
    {oid::kAclitem, oid::kAclitemArray},
    {oid::kTimestamp, oid::kTimestampArray},
    {oid::kDate, oid::kDateArray},
    {oid::kTimestampTz, oid::kTimestampTzArray},
    {oid::kInterval, oid::kIntervalArray},
    {oid::kNumeric, oid::kNumericArray},
    {oid::kRegtype, oid::kRegtypeArray},
};

thread_local RegResolver* reg_resolver = nullptr;

// An array element as array_out writes it: quoted when empty, NULL-like, or holding
// delimiters, quotes, backslashes or white space.
void AppendArrayElement(std::string* out, const std::string& e) {
  bool quote = e.empty() || ToLower(e) == "null";
  for (char c : e) {
    if (c == '{' || c == '}' || c == ',' || c == '"' || c == '\\' ||
        std::isspace(static_cast<unsigned char>(c))) {
      quote = true;
    }
  }
  if (!quote) {
    *out += e;
    return;
  }
  out->push_back('"');
  for (char c : e) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

bool IsVector(int32_t type) { return type == oid::kInt2Vector || type == oid::kOidVector; }

// array_in for one dimension: "{a,"b c",NULL}" (an optional "[1:n]=" prefix is accepted).
Result<Value> ArrayFromText(int32_t type, std::string_view text, const FormatOptions& opts) {
  int32_t elem = ElementTypeOf(type);
  std::string_view t = Trim(text);
  ArrayElems elems;
  if (IsVector(type)) {
    size_t i = 0;
    while (i < t.size()) {
      while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) i++;
      size_t start = i;
      while (i < t.size() && !std::isspace(static_cast<unsigned char>(t[i]))) i++;
      if (i > start) {
        WALREP_ASSIGN_OR_RETURN(Value v, FromText(elem, t.substr(start, i - start), opts));
        elems.push_back(std::move(v));
      }
    }
    return Value::Array(type, std::move(elems));
  }
  auto malformed = [&](const std::string& detail) {
    return Status::Sql("22P02", fmt::format("malformed array literal: \"{}\"", text))
        .WithDetail(detail);
  };
  if (!t.empty() && t[0] == '[') {
    size_t eq = t.find('=');
    if (eq == std::string_view::npos) return malformed("Missing \"=\" after array dimensions.");
    t = Trim(t.substr(eq + 1));
  }
  if (t.size() < 2 || t.front() != '{') {
    return malformed("Array value must start with \"{\" or dimension information.");
  }
  if (t.back() != '}') return malformed("Unexpected end of input.");
  std::string_view body = t.substr(1, t.size() - 2);
  size_t i = 0;
  if (Trim(body).empty()) return Value::Array(type, {});
  while (true) {
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) i++;
    std::string e;
    bool quoted = false;
    if (i < body.size() && body[i] == '"') {
      quoted = true;
      i++;
      while (i < body.size() && body[i] != '"') {
        if (body[i] == '\\' && i + 1 < body.size()) i++;
        e.push_back(body[i++]);
      }
      if (i >= body.size()) return malformed("Unexpected end of input.");
      i++;
      while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) i++;
    } else {
      if (i < body.size() && body[i] == '{') {
        return Status::Sql("0A000", "multidimensional arrays are not supported");
      }
      while (i < body.size() && body[i] != ',') {
        if (body[i] == '\\' && i + 1 < body.size()) i++;
        e.push_back(body[i++]);
      }
      while (!e.empty() && std::isspace(static_cast<unsigned char>(e.back()))) e.pop_back();
      if (e.empty()) return malformed("Unexpected \",\" character.");
    }
    if (!quoted && ToLower(e) == "null") {
      elems.push_back(Value::Null(elem));
    } else {
      WALREP_ASSIGN_OR_RETURN(Value v, FromText(elem, e, opts));
      elems.push_back(std::move(v));
    }
    if (i >= body.size()) break;
    if (body[i] != ',') return malformed(fmt::format("Unexpected \"{}\" character.", body[i]));
    i++;
  }
  return Value::Array(type, std::move(elems));
}

}  // namespace

Result<Value> CheckedInt(int32_t type, __int128 v) {
  if (v < RangeMin(type) || v > RangeMax(type)) {
    if (type == oid::kInt4) return Status::Sql("22003", "integer out of range");
    if (type == oid::kInt2) return Status::Sql("22003", "smallint out of range");
    if (type == oid::kInt8) return Status::Sql("22003", "bigint out of range");
    return OutOfRange(type);
  }
  return Value::Int(type, static_cast<int64_t>(v));
}

int32_t ArrayTypeOf(int32_t elem) {
  for (const auto& [e, a] : kArrayTypes) {
    if (e == elem) return a;
  }
  return 0;
}

int32_t ElementTypeOf(int32_t type) {
  if (type == oid::kInt2Vector) return oid::kInt2;
  if (type == oid::kOidVector) return oid::kOid;
  for (const auto& [e, a] : kArrayTypes) {
    if (a == type) return e;
  }
  return 0;
}

bool IsRegType(int32_t t) {
  return t == oid::kRegproc || t == oid::kRegprocedure || t == oid::kRegoper ||
         t == oid::kRegclass || t == oid::kRegtype || t == oid::kRegnamespace || t == oid::kRegrole;
}

RegResolver* SetRegResolver(RegResolver* r) {
  RegResolver* old = reg_resolver;
  reg_resolver = r;
  return old;
}

std::string TypeName(int32_t type) {
  if (int32_t elem = ElementTypeOf(type); elem && !IsVector(type)) {
    return TypeName(elem) + "[]";
  }
  switch (type) {
    case oid::kRegproc:
      return "regproc";
    case oid::kRegprocedure:
      return "regprocedure";
    case oid::kRegoper:
      return "regoper";
    case oid::kRegclass:
      return "regclass";
    case oid::kRegtype:
      return "regtype";
    case oid::kRegnamespace:
      return "regnamespace";
    case oid::kRegrole:
      return "regrole";
    case oid::kInt2Vector:
      return "int2vector";
    case oid::kOidVector:
      return "oidvector";
    case oid::kPgNodeTree:
      return "pg_node_tree";
    case oid::kAclitem:
      return "aclitem";
    case oid::kBool:
      return "boolean";
    case oid::kBytea:
      return "bytea";
    case oid::kChar:
      return "\"char\"";
    case oid::kName:
      return "name";
    case oid::kInt8:
      return "bigint";
    case oid::kInt2:
      return "smallint";
    case oid::kInt4:
      return "integer";
    case oid::kText:
      return "text";
    case oid::kOid:
      return "oid";
    case oid::kXid:
      return "xid";
    case oid::kFloat4:
      return "real";
    case oid::kFloat8:
      return "double precision";
    case oid::kUnknown:
      return "unknown";
    case oid::kBpchar:
      return "character";
    case oid::kVarchar:
      return "character varying";
    case oid::kDate:
      return "date";
    case oid::kTimestamp:
      return "timestamp without time zone";
    case oid::kTimestampTz:
      return "timestamp with time zone";
    case oid::kInterval:
      return "interval";
    case oid::kNumeric:
      return "numeric";
    case oid::kVoid:
      return "void";
    case oid::kPgLsn:
      return "pg_lsn";
    case oid::kInet:
      return "inet";
    case oid::kRecord:
      return "record";
  }
  return "unknown";
}

int16_t TypeLen(int32_t type) {
  switch (type) {
    case oid::kBool:
    case oid::kChar:
      return 1;
    case oid::kInt2:
      return 2;
    case oid::kInt4:
    case oid::kOid:
    case oid::kRegproc:
    case oid::kRegprocedure:
    case oid::kRegoper:
    case oid::kRegclass:
    case oid::kRegtype:
    case oid::kRegnamespace:
    case oid::kRegrole:
    case oid::kXid:
    case oid::kFloat4:
    case oid::kDate:
    case oid::kVoid:
      return 4;
    case oid::kInt8:
    case oid::kFloat8:
    case oid::kTimestamp:
    case oid::kTimestampTz:
    case oid::kPgLsn:
      return 8;
    case oid::kInterval:
      return 16;
    case oid::kName:
      return 64;
    case oid::kUnknown:
      return -2;
  }
  return -1;
}

bool IsIntegerType(int32_t t) {
  return t == oid::kInt2 || t == oid::kInt4 || t == oid::kInt8 || t == oid::kOid;
}
bool IsNumericCategory(int32_t t) {
  return IsIntegerType(t) || t == oid::kFloat4 || t == oid::kFloat8 || t == oid::kNumeric;
}
bool IsStringType(int32_t t) {
  return t == oid::kText || t == oid::kVarchar || t == oid::kBpchar || t == oid::kName ||
         t == oid::kUnknown || t == oid::kChar;
}

Result<int32_t> LookupTypeName(std::string_view raw) {
  std::string n = ToLower(raw);
  if (n.rfind("pg_catalog.", 0) == 0) n = n.substr(11);
  static const std::pair<const char*, int32_t> kNames[] = {
      {"bool", oid::kBool},
      {"boolean", oid::kBool},
      {"bytea", oid::kBytea},
      {"char", oid::kBpchar},
      {"character", oid::kBpchar},
      {"bpchar", oid::kBpchar},
      {"name", oid::kName},
      {"int8", oid::kInt8},
      {"bigint", oid::kInt8},
      {"int2", oid::kInt2},
      {"smallint", oid::kInt2},
      {"int4", oid::kInt4},
      {"int", oid::kInt4},
      {"integer", oid::kInt4},
      {"text", oid::kText},
      {"oid", oid::kOid},
      {"xid", oid::kXid},
      {"float4", oid::kFloat4},
      {"real", oid::kFloat4},
      {"float8", oid::kFloat8},
      {"double precision", oid::kFloat8},
      {"float", oid::kFloat8},
      {"varchar", oid::kVarchar},
      {"character varying", oid::kVarchar},
      {"date", oid::kDate},
      {"timestamp", oid::kTimestamp},
      {"timestamptz", oid::kTimestampTz},
      {"interval", oid::kInterval},
      {"numeric", oid::kNumeric},
      {"decimal", oid::kNumeric},
      {"void", oid::kVoid},
      {"pg_lsn", oid::kPgLsn},
      {"unknown", oid::kUnknown},
      {"inet", oid::kInet},
      {"\"char\"", oid::kChar},
      {"regproc", oid::kRegproc},
      {"regprocedure", oid::kRegprocedure},
      {"regoper", oid::kRegoper},
      {"regclass", oid::kRegclass},
      {"regtype", oid::kRegtype},
      {"regnamespace", oid::kRegnamespace},
      {"regrole", oid::kRegrole},
      {"int2vector", oid::kInt2Vector},
      {"oidvector", oid::kOidVector},
      {"pg_node_tree", oid::kPgNodeTree},
      {"aclitem", oid::kAclitem},
  };
  if (n.size() > 2 && n.substr(n.size() - 2) == "[]") {
    WALREP_ASSIGN_OR_RETURN(int32_t elem,
                            LookupTypeName(std::string_view(n).substr(0, n.size() - 2)));
    if (int32_t a = ArrayTypeOf(elem)) return a;
    return Status::Sql("42704", fmt::format("type \"{}\" does not exist", raw));
  }
  for (const auto& [name, id] : kNames) {
    if (n == name) return id;
  }
  return Status::Sql("42704", fmt::format("type \"{}\" does not exist", raw));
}

// ---------------------------------------------------------------------------------------------
// Numeric

namespace {

constexpr int kNumericDigits = 38;  // |mantissa| < 10^38
const __int128 kNumericLimit = Pow10(kNumericDigits);

Status NumericOverflow() { return Status::Sql("22003", "value overflows numeric format"); }

// a * b, or nothing when the product leaves the numeric range.
std::optional<__int128> MulChecked(__int128 a, __int128 b) {
  if (a == 0 || b == 0) return __int128{0};
  using U = unsigned __int128;
  U ua = a < 0 ? -static_cast<U>(a) : static_cast<U>(a);
  U ub = b < 0 ? -static_cast<U>(b) : static_cast<U>(b);
  U limit = static_cast<U>(kNumericLimit);
  if (ua >= limit || ub >= limit || ua > (limit - 1) / ub) return std::nullopt;
  __int128 r = static_cast<__int128>(ua * ub);
  return (a < 0) != (b < 0) ? -r : r;
}

// a + b for a and b in range, or nothing when the sum leaves it.
std::optional<__int128> AddChecked(__int128 a, __int128 b) {
  if (b > 0 ? a > kNumericLimit - 1 - b : a < -(kNumericLimit - 1) - b) return std::nullopt;
  return a + b;
}

}  // namespace

Result<Numeric> ParseNumeric(std::string_view in) {
  std::string_view s = Trim(in);
  Numeric n;
  bool neg = false, digits = false, dot = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  for (; i < s.size(); i++) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      auto m = MulChecked(n.mantissa, 10);
      if (m) m = AddChecked(*m, c - '0');
      if (!m) return NumericOverflow();
      n.mantissa = *m;
      if (dot) n.scale++;
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else if ((c == 'e' || c == 'E') && digits) {
      // An exponent is digits with an optional sign; one that leaves walrep's range is 22003.
      std::string_view e = s.substr(i + 1);
      bool down = !e.empty() && e[0] == '-';
      if (!e.empty() && (e[0] == '+' || e[0] == '-')) e.remove_prefix(1);
      if (e.empty() || e.find_first_not_of("0123456789") != std::string_view::npos) {
        return InvalidSyntax(oid::kNumeric, in);
      }
      e.remove_prefix(std::min(e.find_first_not_of('0'), e.size()));
      if (e.size() > 6) return NumericOverflow();
      int exp = e.empty() ? 0 : std::stoi(std::string(e));
      if (down) {
        n.scale += exp;
      } else if (exp <= n.scale) {
        n.scale -= exp;
      } else {
        // mantissa * 10^(exp - scale): the digits scaled up that far, read as a whole number.
        WALREP_ASSIGN_OR_RETURN(Numeric up, NumericRescale(Numeric{n.mantissa, 0}, exp - n.scale));
        n = Numeric{up.mantissa, 0};
      }
      break;
    } else {
      return InvalidSyntax(oid::kNumeric, in);
    }
  }
  if (!digits) return InvalidSyntax(oid::kNumeric, in);
  if (n.scale > kMaxNumericScale) return NumericOverflow();
  if (neg) n.mantissa = -n.mantissa;
  return n;
}

std::string NumericToString(const Numeric& n) {
  __int128 m = n.mantissa < 0 ? -n.mantissa : n.mantissa;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  } while (m > 0);
  if (n.scale > 0) {
    while (static_cast<int>(digits.size()) <= n.scale) digits.insert(digits.begin(), '0');
    digits.insert(digits.end() - n.scale, '.');
  }
  return (n.mantissa < 0 ? "-" : "") + digits;
}

double NumericToDouble(const Numeric& n) {
  return static_cast<double>(n.mantissa) / std::pow(10.0, n.scale);
}

Numeric NumericFromInt(int64_t v) { return Numeric{v, 0}; }

Result<Numeric> NumericRescale(const Numeric& n, int scale) {
  scale = std::clamp(scale, 0, kMaxNumericScale);
  if (scale >= n.scale) {
    int d = scale - n.scale;
    if (n.mantissa == 0) return Numeric{0, scale};
    auto m = d > kNumericDigits ? std::nullopt : MulChecked(n.mantissa, Pow10(d));
    if (!m) return NumericOverflow();
    return Numeric{*m, scale};
  }
  int d = n.scale - scale;
  // |mantissa| < 10^38 < 10^39 / 2: more than 38 digits dropped round to zero.
  if (d > kNumericDigits) return Numeric{0, scale};
  __int128 div = Pow10(d);
  __int128 q = n.mantissa / div, r = n.mantissa % div;
  if (r > 0 && r >= div - r) q++;  // r >= div / 2, without 2 * r overflowing
  if (r < 0 && -r >= div + r) q--;
  return Numeric{q, scale};
}

int CompareNumeric(const Numeric& a, const Numeric& b) {
  int s = std::max(a.scale, b.scale);
  auto x = NumericRescale(a, s), y = NumericRescale(b, s);
  if (x.ok() && y.ok()) return x->mantissa < y->mantissa ? -1 : x->mantissa > y->mantissa ? 1 : 0;
  // Only the one with the smaller scale is scaled up. It left the range while the other's
  // mantissa at that scale is in it: its magnitude is the larger.
  int sa = a.mantissa < 0 ? -1 : a.mantissa > 0 ? 1 : 0;
  int sb = b.mantissa < 0 ? -1 : b.mantissa > 0 ? 1 : 0;
  if (sa != sb) return sa < sb ? -1 : 1;
  return x.ok() ? -sb : sa;
}

Result<Numeric> NumericArith(char op, const Numeric& a, const Numeric& b) {
  int s = std::max(a.scale, b.scale);
  switch (op) {
    case '+':
    case '-': {
      WALREP_ASSIGN_OR_RETURN(Numeric x, NumericRescale(a, s));
      WALREP_ASSIGN_OR_RETURN(Numeric y, NumericRescale(b, s));
      auto m = AddChecked(x.mantissa, op == '+' ? y.mantissa : -y.mantissa);
      if (!m) return NumericOverflow();
      return Numeric{*m, s};
    }
    case '*': {
      auto m = MulChecked(a.mantissa, b.mantissa);
      if (!m) return NumericOverflow();
      Numeric r{*m, a.scale + b.scale};
      if (r.scale > kMaxNumericScale) return NumericRescale(r, kMaxNumericScale);
      return r;
    }
    case '%': {
      if (b.mantissa == 0) return Status::Sql("22012", "division by zero");
      WALREP_ASSIGN_OR_RETURN(Numeric x, NumericRescale(a, s));
      WALREP_ASSIGN_OR_RETURN(Numeric y, NumericRescale(b, s));
      return Numeric{x.mantissa % y.mantissa, s};
    }
    case '/': {
      if (b.mantissa == 0) return Status::Sql("22012", "division by zero");
      // At least 16 decimals and never fewer than either input's, like PostgreSQL's
      // select_div_scale(); one digit more is computed, then rounded off.
      int rscale = std::max({16, a.scale, b.scale});
      int k = std::max(0, rscale + 1 + b.scale - a.scale);
      Numeric q;
      if (auto num = k > kNumericDigits ? std::nullopt : MulChecked(a.mantissa, Pow10(k))) {
        q = Numeric{*num / b.mantissa, k + a.scale - b.scale};
      } else {
        // The dividend cannot be scaled that far within 38 digits: long division, one
        // decimal at a time while the quotient stays in range (so it may keep fewer decimals
        // than PostgreSQL's numeric, which has no such limit). The remainder times ten must
        // stay in range too: a divisor of 38 digits is rounded to 37 first.
        __int128 y = b.mantissa;
        int yscale = b.scale;
        const __int128 max_divisor = kNumericLimit / 10;
        while (y >= max_divisor || y <= -max_divisor) {
          __int128 rem = y % 10;
          y = y / 10 + (rem >= 5 ? 1 : rem <= -5 ? -1 : 0);
          yscale--;
        }
        __int128 quot = a.mantissa / y, rem = a.mantissa % y;
        int digits = 0;
        for (; digits < k; digits++) {
          auto shifted = MulChecked(quot, 10);
          auto next = shifted ? AddChecked(*shifted, rem * 10 / y) : std::nullopt;
          if (!next) break;
          quot = *next;
          rem = rem * 10 % y;
        }
        q = Numeric{quot, digits + a.scale - yscale};
      }
      if (q.scale < 0) {
        WALREP_ASSIGN_OR_RETURN(q, NumericRescale(q, 0));
      }
      return NumericRescale(q, std::min(rscale, q.scale));
    }
  }
  return Status::Sql("42883", "operator does not exist");
}

// ---------------------------------------------------------------------------------------------
// Interval, LSN

std::string FormatInterval(const Interval& iv) {
  std::string out;
  bool is_before = false, is_zero = true;
  auto add = [&](int64_t v, const char* unit) {
    if (v == 0) return;
    out += fmt::format("{}{}{} {}{}", out.empty() ? "" : " ", (is_before && v > 0) ? "+" : "", v,
                       unit, v == 1 ? "" : "s");  // "-1 days", as interval_out
    is_before = v < 0;
    is_zero = false;
  };
  add(iv.months / 12, "year");
  int64_t mons = iv.months % 12;
  if (mons != 0) {
    out += fmt::format("{}{}{} mon{}", out.empty() ? "" : " ", (is_before && mons > 0) ? "+" : "",
                       mons, mons == 1 ? "" : "s");
    is_before = mons < 0;
    is_zero = false;
  }
  add(iv.days, "day");
  if (iv.micros != 0 || is_zero) {
    bool neg = iv.micros < 0;
    int64_t t = neg ? -iv.micros : iv.micros;
    int64_t us = t % 1000000, secs = t / 1000000;
    std::string time = fmt::format("{}{:02}:{:02}:{:02}", neg ? "-" : (is_before ? "+" : ""),
                                   secs / 3600, (secs / 60) % 60, secs % 60);
    if (us) {
      std::string frac = fmt::format(".{:06}", us);
      while (frac.back() == '0') frac.pop_back();
      time += frac;
    }
    out += (out.empty() ? "" : " ") + time;
  }
  return out;
}

namespace {

// Adds `amount` (whole units, truncated) to an interval field; false when it does not fit.
template <typename Field>
bool AddToField(Field* field, double amount) {
  double whole = std::trunc(amount);
  if (!(whole >= static_cast<double>(std::numeric_limits<Field>::min()) &&
        whole < static_cast<double>(std::numeric_limits<Field>::max()) + 1.0)) {
    return false;  // also NaN
  }
  return !__builtin_add_overflow(*field, static_cast<Field>(whole), field);
}

}  // namespace

Result<Interval> ParseInterval(std::string_view in) {
  Interval iv;
  std::string s = ToLower(Trim(in));
  size_t i = 0;
  bool any = false, ago = false;
  auto bad = [&] { return InvalidSyntax(oid::kInterval, in); };
  // A field beyond its type's range, or a sum beyond the interval's: PostgreSQL's errors.
  auto field_out_of_range = [&] {
    return Status::Sql("22015", fmt::format("interval field value out of range: \"{}\"", in));
  };
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) i++;
    if (i >= s.size()) break;
    if (s[i] == '@') {
      i++;
      continue;
    }
    size_t start = i;
    if (s[i] == '+' || s[i] == '-') i++;
    while (i < s.size() &&
           (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == ':'))
      i++;
    std::string num = s.substr(start, i - start);
    if (num.empty() || num == "+" || num == "-") {
      size_t ws = i;
      while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) i++;
      if (s.substr(ws, i - ws) == "ago") {
        ago = true;
        continue;
      }
      return bad();
    }
    any = true;
    if (num.find(':') != std::string::npos) {
      // [-]h:m[:s[.f]]: hours and minutes whole, seconds with a fraction.
      bool neg = num[0] == '-';
      std::string_view body(num);
      if (num[0] == '-' || num[0] == '+') body.remove_prefix(1);
      size_t c1 = body.find(':'), c2 = body.find(':', c1 + 1);
      std::string_view hs = body.substr(0, c1);
      std::string_view ms = body.substr(c1 + 1, c2 == std::string_view::npos ? c2 : c2 - c1 - 1);
      std::string ss(c2 == std::string_view::npos ? "" : body.substr(c2 + 1));
      int64_t h = 0, m = 0;
      if (hs.empty() || ms.empty() || ss.find(':') != std::string::npos) return bad();
      auto whole = [](std::string_view t, int64_t* out) {
        auto r = std::from_chars(t.data(), t.data() + t.size(), *out);
        return r.ec == std::errc() && r.ptr == t.data() + t.size();
      };
      if (!whole(hs, &h) || !whole(ms, &m)) {
        return hs.find('.') != std::string_view::npos || ms.find('.') != std::string_view::npos
                   ? bad()
                   : field_out_of_range();
      }
      char* end = nullptr;
      double sec = ss.empty() ? 0 : std::strtod(ss.c_str(), &end);
      if (!ss.empty() && *end != '\0') return bad();
      int64_t us = 0, part = 0;
      if (__builtin_mul_overflow(h, int64_t{3600000000}, &us) ||
          __builtin_mul_overflow(m, int64_t{60000000}, &part) ||
          __builtin_add_overflow(us, part, &us) || !AddToField(&us, std::nearbyint(sec * 1e6)) ||
          __builtin_add_overflow(iv.micros, neg ? -us : us, &iv.micros)) {
        return field_out_of_range();
      }
      continue;
    }
    double v = std::strtod(num.c_str(), nullptr);
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) i++;
    size_t us_start = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) i++;
    std::string unit = s.substr(us_start, i - us_start);
    if (!unit.empty() && unit.back() == 's' && unit.size() > 2 && unit != "ms" && unit != "us")
      unit.pop_back();
    bool fits = true;
    if (unit == "year" || unit == "y" || unit == "yr") {
      if (!AddToField(&iv.months, v * 12)) return Status::Sql("22008", "interval out of range");
    } else if (unit == "mon" || unit == "month") {
      fits = AddToField(&iv.months, v);
    } else if (unit == "week" || unit == "w") {
      fits = AddToField(&iv.days, v * 7);
    } else if (unit == "day" || unit == "d") {
      fits = AddToField(&iv.days, v) &&
             AddToField(&iv.micros, std::nearbyint((v - std::trunc(v)) * 86400e6));
    } else if (unit == "hour" || unit == "h" || unit == "hr") {
      fits = AddToField(&iv.micros, std::nearbyint(v * 3600e6));
    } else if (unit == "minute" || unit == "min" || unit == "m") {
      fits = AddToField(&iv.micros, std::nearbyint(v * 60e6));
    } else if (unit == "second" || unit == "sec" || unit == "s" || unit.empty()) {
      fits = AddToField(&iv.micros, std::nearbyint(v * 1e6));
    } else if (unit == "millisecond" || unit == "ms" || unit == "msec") {
      fits = AddToField(&iv.micros, std::nearbyint(v * 1e3));
    } else if (unit == "microsecond" || unit == "us" || unit == "usec") {
      fits = AddToField(&iv.micros, std::nearbyint(v));
    } else {
      return bad();
    }
    if (!fits) return field_out_of_range();
  }
  if (!any) return bad();
  if (ago) {
    if (iv.months == std::numeric_limits<int32_t>::min() ||
        iv.days == std::numeric_limits<int32_t>::min() ||
        iv.micros == std::numeric_limits<int64_t>::min()) {
      return field_out_of_range();
    }
    iv = Interval{-iv.months, -iv.days, -iv.micros};
  }
  return iv;
}

std::string FormatLsn(uint64_t lsn) {
  return fmt::format("{:X}/{:X}", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

std::optional<uint64_t> ParseLsn(std::string_view s) {
  std::string str(Trim(s));
  size_t slash = str.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == str.size() || slash > 8 ||
      str.size() - slash - 1 > 8)
    return std::nullopt;
  for (size_t i = 0; i < str.size(); i++) {
    if (i != slash && !std::isxdigit(static_cast<unsigned char>(str[i]))) return std::nullopt;
  }
  uint64_t hi = std::strtoull(str.substr(0, slash).c_str(), nullptr, 16);
  uint64_t lo = std::strtoull(str.substr(slash + 1).c_str(), nullptr, 16);
  return (hi << 32) | lo;
}

// ---------------------------------------------------------------------------------------------
// Text and binary I/O

std::string RecordText(const std::vector<Value>& fields, const FormatOptions& opts) {
  std::string out = "(";
  for (size_t i = 0; i < fields.size(); i++) {
    if (i) out += ",";
    if (fields[i].is_null()) continue;
    std::string t = ToText(fields[i], opts);
    if (!t.empty() && t.find_first_of(" ,()\"\\") == std::string::npos) {
      out += t;
      continue;
    }
    out += '"';
    for (char ch : t) {
      if (ch == '"' || ch == '\\') out += ch;
      out += ch;
    }
    out += '"';
  }
  return out + ")";
}

std::string ToText(const Value& v, const FormatOptions& opts) {
  if (v.is_array()) {
    bool vec = IsVector(v.type());
    std::string out = vec ? "" : "{";
    bool first = true;
    for (const Value& e : v.as_array()) {
      if (!first) out += vec ? " " : ",";
      first = false;
      if (e.is_null()) {
        out += "NULL";
      } else if (vec) {
        out += ToText(e, opts);
      } else {
        AppendArrayElement(&out, ToText(e, opts));
      }
    }
    if (!vec) out += "}";
    return out;
  }
  if (IsRegType(v.type()) && std::holds_alternative<int64_t>(v.datum())) {
    if (v.as_int() == 0) return "-";
    if (reg_resolver) {
      if (auto name = reg_resolver->Name(v.type(), v.as_int())) return *name;
    }
    return std::to_string(v.as_int());
  }
  switch (v.type()) {
    case oid::kBool:
      return v.as_bool() ? "t" : "f";
    case oid::kInt2:
    case oid::kInt4:
    case oid::kInt8:
    case oid::kOid:
    case oid::kXid:
      return std::to_string(v.as_int());
    case oid::kFloat4:
    case oid::kFloat8:
      return FormatDouble(v.as_double(), v.type());
    case oid::kNumeric:
      return NumericToString(v.as_numeric());
    case oid::kTimestampTz:
      return FormatTimestampTz(v.as_int(), opts.timezone_offset);
    case oid::kTimestamp:
      return FormatTimestamp(v.as_int());
    case oid::kDate:
      return FormatDate(static_cast<int32_t>(v.as_int()));
    case oid::kInterval:
      return FormatInterval(v.as_interval());
    case oid::kPgLsn:
      return FormatLsn(static_cast<uint64_t>(v.as_int()));
    case oid::kVoid:
      return "";
    case oid::kBytea:
      return "\\x" + HexEncode(v.as_string());
  }
  if (std::holds_alternative<std::string>(v.datum())) return v.as_string();
  if (std::holds_alternative<int64_t>(v.datum())) return std::to_string(v.as_int());
  return "";
}

Result<std::string> ToBinary(const Value& v) {
  std::string out;
  if (v.is_array()) {
    // array_send: ndim, has-nulls flag, element type, then per dimension its size and lower
    // bound, then each element as a length (-1 for NULL) and its binary form.
    const ArrayElems& elems = v.as_array();
    bool nulls = false;
    for (const Value& e : elems) nulls |= e.is_null();
    PutBE(&out, elems.empty() ? 0 : 1, 4);
    PutBE(&out, nulls ? 1 : 0, 4);
    PutBE(&out, static_cast<uint32_t>(ElementTypeOf(v.type())), 4);
    if (!elems.empty()) {
      PutBE(&out, elems.size(), 4);
      PutBE(&out, IsVector(v.type()) ? 0 : 1, 4);
    }
    for (const Value& e : elems) {
      if (e.is_null()) {
        PutBE(&out, 0xffffffffu, 4);
        continue;
      }
      WALREP_ASSIGN_OR_RETURN(std::string b, ToBinary(e));
      PutBE(&out, b.size(), 4);
      out += b;
    }
    return out;
  }
  if (IsRegType(v.type())) {
    PutBE(&out, static_cast<uint64_t>(v.as_int()), 4);
    return out;
  }
  switch (v.type()) {
    case oid::kBool:
      out.push_back(v.as_bool() ? 1 : 0);
      return out;
    case oid::kInt2:
      PutBE(&out, static_cast<uint64_t>(v.as_int()), 2);
      return out;
    case oid::kInt4:
    case oid::kOid:
    case oid::kXid:
    case oid::kDate:
      PutBE(&out, static_cast<uint64_t>(v.as_int()), 4);
      return out;
    case oid::kInt8:
    case oid::kTimestamp:
    case oid::kTimestampTz:
    case oid::kPgLsn:
      PutBE(&out, static_cast<uint64_t>(v.as_int()), 8);
      return out;
    case oid::kFloat4: {
      float f = static_cast<float>(v.as_double());
      uint32_t u;
      std::memcpy(&u, &f, 4);
      PutBE(&out, u, 4);
      return out;
    }
    case oid::kFloat8: {
      double d = v.as_double();
      uint64_t u;
      std::memcpy(&u, &d, 8);
      PutBE(&out, u, 8);
      return out;
    }
    case oid::kInterval: {
      const Interval& iv = v.as_interval();
      PutBE(&out, static_cast<uint64_t>(iv.micros), 8);
      PutBE(&out, static_cast<uint32_t>(iv.days), 4);
      PutBE(&out, static_cast<uint32_t>(iv.months), 4);
      return out;
    }
    case oid::kNumeric: {
      // PostgreSQL's numeric_send: ndigits, weight, sign, dscale, then base-10000 digits, the
      // first of weight `weight`. Grouped from the decimal text: a 38-digit mantissa with its
      // fraction padded to whole groups would not fit in 128 bits.
      const Numeric& n = v.as_numeric();
      std::string text = NumericToString(n);
      if (text[0] == '-') text.erase(0, 1);
      size_t dot = text.find('.');
      std::string whole = text.substr(0, dot);
      std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
      whole.insert(0, (4 - whole.size() % 4) % 4, '0');
      frac.append((4 - frac.size() % 4) % 4, '0');
      std::string all = whole + frac;
      std::vector<int> digits;
      for (size_t i = 0; i < all.size(); i += 4) digits.push_back(std::stoi(all.substr(i, 4)));
      int weight = static_cast<int>(whole.size() / 4) - 1;
      while (!digits.empty() && digits.back() == 0) digits.pop_back();
      size_t lead = 0;
      while (lead < digits.size() && digits[lead] == 0) {
        lead++;
        weight--;
      }
      digits.erase(digits.begin(), digits.begin() + static_cast<long>(lead));
      if (digits.empty()) weight = 0;
      PutBE(&out, digits.size(), 2);
      PutBE(&out, static_cast<uint16_t>(weight), 2);
      PutBE(&out, n.mantissa < 0 ? 0x4000 : 0, 2);
      PutBE(&out, static_cast<uint64_t>(n.scale), 2);
      for (int d : digits) PutBE(&out, static_cast<uint64_t>(d), 2);
      return out;
    }
    case oid::kVoid:
      return out;
  }
  if (std::holds_alternative<std::string>(v.datum())) return v.as_string();
  return Status::NotSupported(
      fmt::format("binary output of type {} is not supported", TypeName(v.type())));
}

namespace {

// bytea input as PostgreSQL's byteain reads it (untrimmed): "\x" and pairs of hex digits, with
// whitespace allowed between pairs; otherwise the escape format, in which "\\" is a backslash
// and "\ooo" the byte of an octal value up to \377.
Result<std::string> ParseBytea(std::string_view text) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  auto bad_digit = [&](size_t i) {
    size_t n = 1;  // the whole UTF-8 character, as PostgreSQL shows it
    while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) n++;
    return Status::Sql("22023",
                       fmt::format("invalid hexadecimal digit: \"{}\"", text.substr(i, n)));
  };
  std::string out;
  if (text.substr(0, 2) == "\\x") {
    for (size_t i = 2; i < text.size();) {
      char c = text[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        i++;
        continue;
      }
      int hi = hex(c);
      if (hi < 0) return bad_digit(i);
      if (i + 1 == text.size()) {
        return Status::Sql("22023", "invalid hexadecimal data: odd number of digits");
      }
      int lo = hex(text[i + 1]);
      if (lo < 0) return bad_digit(i + 1);
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    }
    return out;
  }
  auto octal = [&](size_t i, char max) { return text[i] >= '0' && text[i] <= max; };
  for (size_t i = 0; i < text.size();) {
    if (text[i] != '\\') {
      out.push_back(text[i++]);
    } else if (i + 3 < text.size() && octal(i + 1, '3') && octal(i + 2, '7') && octal(i + 3, '7')) {
      out.push_back(static_cast<char>((text[i + 1] - '0') << 6 | (text[i + 2] - '0') << 3 |
                                      (text[i + 3] - '0')));
      i += 4;
    } else if (i + 1 < text.size() && text[i + 1] == '\\') {
      out.push_back('\\');
      i += 2;
    } else {
      return Status::Sql("22P02", "invalid input syntax for type bytea");
    }
  }
  return out;
}

}  // namespace

Result<Value> FromText(int32_t type, std::string_view text, const FormatOptions& opts) {
  std::string_view t = Trim(text);
  if (ElementTypeOf(type)) return ArrayFromText(type, text, opts);
  if (IsRegType(type)) {
    // A number is taken as the oid itself (regclassin accepts '16385'); a name is looked up.
    std::string s(t);
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec != std::errc() || n > UINT32_MAX) {
        return Status::Sql("22003", fmt::format("value \"{}\" is out of range for type oid", s));
      }
      return Value::Int(type, static_cast<int64_t>(n));
    }
    if (s == "-") return Value::Int(type, 0);
    if (!reg_resolver) return InvalidSyntax(type, text);
    WALREP_ASSIGN_OR_RETURN(int64_t id, reg_resolver->Oid(type, s));
    return Value::Int(type, id);
  }
  switch (type) {
    case oid::kBool: {
      std::string l = ToLower(t);
      if (l == "t" || l == "true" || l == "yes" || l == "y" || l == "on" || l == "1")
        return Value::Bool(true);
      if (l == "f" || l == "false" || l == "no" || l == "n" || l == "off" || l == "0")
        return Value::Bool(false);
      return InvalidSyntax(type, text);
    }
    case oid::kInt2:
    case oid::kInt4:
    case oid::kInt8:
    case oid::kOid:
    case oid::kXid: {
      std::string s(t);
      if (s.empty()) return InvalidSyntax(type, text);
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (*end != '\0') return InvalidSyntax(type, text);
      if (errno == ERANGE || v < RangeMin(type) || v > RangeMax(type)) {
        return Status::Sql(
            "22003", fmt::format("value \"{}\" is out of range for type {}", text, TypeName(type)));
      }
      return Value::Int(type, v);
    }
    case oid::kFloat4:
    case oid::kFloat8: {
      std::string s = ToLower(t);
      if (s == "nan") return Value::Float(type, NAN);
      if (s == "infinity" || s == "inf" || s == "+infinity") return Value::Float(type, INFINITY);
      if (s == "-infinity" || s == "-inf") return Value::Float(type, -INFINITY);
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0') return InvalidSyntax(type, text);
      return Value::Float(type, d);
    }
    case oid::kNumeric: {
      WALREP_ASSIGN_OR_RETURN(Numeric n, ParseNumeric(t));
      return Value::Num(n);
    }
    case oid::kTimestampTz:
    case oid::kTimestamp: {
      std::string l = ToLower(t);
      if (l == "now") return Value::Timestamp(type, NowTimestamp());
      if (l == "infinity") return Value::Timestamp(type, INT64_MAX);
      if (l == "-infinity") return Value::Timestamp(type, INT64_MIN);
      bool had_zone = false;
      auto ts = ParseTimestamp(t, type == oid::kTimestampTz ? opts.timezone_offset : 0, &had_zone);
      if (!ts) return InvalidSyntax(type, text);
      if (type == oid::kTimestamp && had_zone) {
        // timestamp ignores a written zone, as PostgreSQL does.
        ts = ParseTimestamp(t.substr(0, t.find_last_of("+-Zz")), 0, nullptr);
        if (!ts) return InvalidSyntax(type, text);
      }
      return Value::Timestamp(type, *ts);
    }
    case oid::kDate: {
      auto ts = ParseTimestamp(t, 0, nullptr);
      if (!ts) return InvalidSyntax(type, text);
      int64_t days = *ts / 86400000000LL - (*ts < 0 && *ts % 86400000000LL ? 1 : 0);
      return Value::Int(oid::kDate, days);
    }
    case oid::kInterval: {
      WALREP_ASSIGN_OR_RETURN(Interval iv, ParseInterval(t));
      return Value::Interv(iv);
    }
    case oid::kPgLsn: {
      auto lsn = ParseLsn(t);
      if (!lsn) return InvalidSyntax(type, text);
      return Value::Int(oid::kPgLsn, static_cast<int64_t>(*lsn));
    }
    case oid::kBytea: {
      WALREP_ASSIGN_OR_RETURN(std::string bytes, ParseBytea(text));
      return Value::Text(oid::kBytea, std::move(bytes));
    }
    case oid::kVoid:
      return Value::Null(oid::kVoid);
  }
  return Value::Text(type, std::string(text));
}

Result<Value> FromBinary(int32_t type, std::string_view b) {
  auto need = [&](size_t n) -> Status {
    if (b.size() != n) {
      return Status::Sql("22P03", fmt::format("incorrect binary data format in bind parameter"));
    }
    return Status::OK();
  };
  if (ElementTypeOf(type)) {
    // array_recv, one dimension.
    auto get = [&](size_t at, size_t n) -> uint64_t { return GetBE(b.substr(at, n)); };
    if (b.size() < 12) return Status::Sql("22P03", "insufficient data left in message");
    uint32_t ndim = static_cast<uint32_t>(get(0, 4));
    int32_t elem = static_cast<int32_t>(get(8, 4));
    if (ndim > 1) return Status::Sql("0A000", "multidimensional arrays are not supported");
    if (elem != ElementTypeOf(type)) {
      return Status::Sql("42804", "wrong element type");
    }
    size_t at = 12, n = 0;
    if (ndim == 1) {
      if (b.size() < 20) return Status::Sql("22P03", "insufficient data left in message");
      n = get(12, 4);
      at = 20;
    }
    ArrayElems elems;
    for (size_t i = 0; i < n; i++) {
      if (b.size() < at + 4) return Status::Sql("22P03", "insufficient data left in message");
      uint32_t len = static_cast<uint32_t>(get(at, 4));
      at += 4;
      if (len == 0xffffffffu) {
        elems.push_back(Value::Null(elem));
        continue;
      }
      if (b.size() < at + len) return Status::Sql("22P03", "insufficient data left in message");
      WALREP_ASSIGN_OR_RETURN(Value v, FromBinary(elem, b.substr(at, len)));
      elems.push_back(std::move(v));
      at += len;
    }
    return Value::Array(type, std::move(elems));
  }
  if (IsRegType(type)) {
    WALREP_RETURN_IF_ERROR(need(4));
    return Value::Int(type, static_cast<uint32_t>(GetBE(b)));
  }
  switch (type) {
    case oid::kBool:
      WALREP_RETURN_IF_ERROR(need(1));
      return Value::Bool(b[0] != 0);
    case oid::kInt2:
      WALREP_RETURN_IF_ERROR(need(2));
      return Value::Int(type, static_cast<int16_t>(GetBE(b)));
    case oid::kInt4:
    case oid::kDate:
      WALREP_RETURN_IF_ERROR(need(4));
      return Value::Int(type, static_cast<int32_t>(GetBE(b)));
    case oid::kOid:
    case oid::kXid:
      WALREP_RETURN_IF_ERROR(need(4));
      return Value::Int(type, static_cast<uint32_t>(GetBE(b)));
    case oid::kInt8:
    case oid::kTimestamp:
    case oid::kTimestampTz:
    case oid::kPgLsn:
      WALREP_RETURN_IF_ERROR(need(8));
      return Value::Int(type, static_cast<int64_t>(GetBE(b)));
    case oid::kFloat4: {
      WALREP_RETURN_IF_ERROR(need(4));
      uint32_t u = static_cast<uint32_t>(GetBE(b));
      float f;
      std::memcpy(&f, &u, 4);
      return Value::Float(type, f);
    }
    case oid::kFloat8: {
      WALREP_RETURN_IF_ERROR(need(8));
      uint64_t u = GetBE(b);
      double d;
      std::memcpy(&d, &u, 8);
      return Value::Float(type, d);
    }
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName:
    case oid::kBytea:
    case oid::kUnknown:
      return Value::Text(type == oid::kUnknown ? oid::kText : type, std::string(b));
  }
  return Status::NotSupported(
      fmt::format("binary input of type {} is not supported", TypeName(type)));
}

Result<Value> Cast(const Value& v, int32_t target, const FormatOptions& opts) {
  int32_t src = v.type();
  if (src == target) return v;
  if (v.is_null()) return Value::Null(target);
  if (target == oid::kText || target == oid::kVarchar || target == oid::kBpchar ||
      target == oid::kName) {
    if (src == oid::kBytea) return Value::Text(target, ToText(v, opts));
    return Value::Text(target, ToText(v, opts));
  }
  if (IsStringType(src)) return FromText(target, v.as_string(), opts);
  // reg* types and oid convert both ways (the same number); integers become oids.
  if ((IsRegType(src) || src == oid::kOid) && (IsRegType(target) || target == oid::kOid)) {
    return Value::Int(target, v.as_int());
  }
  if (IsRegType(target) && IsIntegerType(src)) return Value::Int(target, v.as_int());
  if (IsRegType(src) && (target == oid::kInt4 || target == oid::kInt8)) {
    return Value::Int(target, v.as_int());
  }
  if (v.is_array() && ElementTypeOf(target)) {
    ArrayElems out;
    for (const Value& e : v.as_array()) {
      WALREP_ASSIGN_OR_RETURN(Value c, Cast(e, ElementTypeOf(target), opts));
      out.push_back(std::move(c));
    }
    return Value::Array(target, std::move(out));
  }
  if (IsIntegerType(src)) {
    __int128 x = v.as_int();
    if (IsIntegerType(target)) return CheckedInt(target, x);
    if (target == oid::kFloat4 || target == oid::kFloat8) {
      return Value::Float(target, static_cast<double>(v.as_int()));
    }
    if (target == oid::kNumeric) return Value::Num(NumericFromInt(v.as_int()));
    if (target == oid::kBool && src == oid::kInt4) return Value::Bool(v.as_int() != 0);
  }
  if (src == oid::kFloat4 || src == oid::kFloat8) {
    double d = v.as_double();
    if (IsIntegerType(target)) {
      if (std::isnan(d) || d < static_cast<double>(RangeMin(target)) - 0.5 ||
          d > static_cast<double>(RangeMax(target)) + 0.5) {
        return CheckedInt(target, static_cast<__int128>(RangeMax(target)) + 1);
      }
      return CheckedInt(target, static_cast<__int128>(std::nearbyint(d)));
    }
    if (target == oid::kFloat4 || target == oid::kFloat8) return Value::Float(target, d);
    if (target == oid::kNumeric) return FromText(oid::kNumeric, fmt::format("{}", d), opts);
  }
  if (src == oid::kNumeric) {
    const Numeric& n = v.as_numeric();
    if (IsIntegerType(target)) {
      WALREP_ASSIGN_OR_RETURN(Numeric whole, NumericRescale(n, 0));
      return CheckedInt(target, whole.mantissa);
    }
    if (target == oid::kFloat4 || target == oid::kFloat8) {
      return Value::Float(target, NumericToDouble(n));
    }
  }
  if (src == oid::kBool && target == oid::kInt4) return Value::Int(target, v.as_bool() ? 1 : 0);
  if (src == oid::kTimestampTz && target == oid::kTimestamp) {
    return Value::Timestamp(target,
                            v.as_int() + static_cast<int64_t>(opts.timezone_offset) * 1000000);
  }
  if (src == oid::kTimestamp && target == oid::kTimestampTz) {
    return Value::Timestamp(target,
                            v.as_int() - static_cast<int64_t>(opts.timezone_offset) * 1000000);
  }
  if ((src == oid::kTimestamp || src == oid::kTimestampTz) && target == oid::kDate) {
    int64_t local = v.as_int() + (src == oid::kTimestampTz ? opts.timezone_offset * 1000000LL : 0);
    int64_t days = local / 86400000000LL - (local < 0 && local % 86400000000LL ? 1 : 0);
    return Value::Int(oid::kDate, days);
  }
  if (src == oid::kDate && (target == oid::kTimestamp || target == oid::kTimestampTz)) {
    int64_t us = v.as_int() * 86400000000LL;
    if (target == oid::kTimestampTz) us -= opts.timezone_offset * 1000000LL;
    return Value::Timestamp(target, us);
  }
  return Status::Sql("42846",
                     fmt::format("cannot cast type {} to {}", TypeName(src), TypeName(target)));
}

int64_t AddInterval(int64_t ts, const Interval& iv, int sign) {
  return ts + sign * (iv.micros +
                      (static_cast<int64_t>(iv.days) + static_cast<int64_t>(iv.months) * 30) *
                          86400000000LL);
}

}  // namespace walrep::sql
