// walrep: the compact binary row format (see row_format.h).
#include "walrep/sql/row_format.h"

#include <fmt/format.h>

#include <cstring>
#include <limits>

namespace walrep::sql {

namespace {

// How a column's values are stored.
enum class Storage : uint8_t {
  kBool,
  kInt16,
  kInt32,
  kUInt32,
  kInt64,
  kFloat4,
  kFloat8,
  kInterval,
  kNumeric,
  kBytes,  // the string datum as it is
  kText,   // the value's text form
};

Storage StorageOf(int32_t type) {
  switch (type) {
    case oid::kBool:
      return Storage::kBool;
    case oid::kInt2:
      return Storage::kInt16;
    case oid::kInt4:
    case oid::kDate:
      return Storage::kInt32;
    case oid::kOid:
      return Storage::kUInt32;
    case oid::kInt8:
    case oid::kTimestamp:
    case oid::kTimestampTz:
    case oid::kPgLsn:
      return Storage::kInt64;
    case oid::kFloat4:
      return Storage::kFloat4;
    case oid::kFloat8:
      return Storage::kFloat8;
    case oid::kInterval:
      return Storage::kInterval;
    case oid::kNumeric:
      return Storage::kNumeric;
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName:
    case oid::kBytea:
      return Storage::kBytes;
  }
  return Storage::kText;
}

// Width (and alignment) of a fixed-width storage class; 0 for variable length.
size_t FixedWidth(Storage s) {
  switch (s) {
    case Storage::kBool:
      return 1;
    case Storage::kInt16:
      return 2;
    case Storage::kInt32:
    case Storage::kUInt32:
    case Storage::kFloat4:
      return 4;
    case Storage::kInt64:
    case Storage::kFloat8:
      return 8;
    case Storage::kInterval:
      return 16;
    default:
      return 0;
  }
}

size_t Alignment(Storage s) { return s == Storage::kInterval ? 8 : FixedWidth(s); }

// Whether v's datum is the one the storage class writes (values reach here coerced to the
// column's type; anything else is converted through its text form first).
bool DatumFits(Storage s, const Value& v) {
  switch (s) {
    case Storage::kBool:
      return std::holds_alternative<bool>(v.datum());
    case Storage::kInt16:
    case Storage::kInt32:
    case Storage::kUInt32:
    case Storage::kInt64:
      return std::holds_alternative<int64_t>(v.datum());
    case Storage::kFloat4:
    case Storage::kFloat8:
      return std::holds_alternative<double>(v.datum());
    case Storage::kInterval:
      return std::holds_alternative<Interval>(v.datum());
    case Storage::kNumeric:
      return std::holds_alternative<Numeric>(v.datum());
    case Storage::kBytes:
      return std::holds_alternative<std::string>(v.datum());
    case Storage::kText:
      return true;
  }
  return false;
}

template <typename T>
void PutLE(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
template <typename T>
T GetLE(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

void PutVarlena(std::string* out, std::string_view bytes) {
  if (bytes.size() <= 127) {
    out->push_back(static_cast<char>((bytes.size() << 1) | 1));
  } else {
    PutLE<uint32_t>(out, static_cast<uint32_t>(bytes.size() << 1));
  }
  out->append(bytes);
}

std::string NumericBytes(const Numeric& n) {
  std::string out;
  PutLE<int16_t>(&out, static_cast<int16_t>(n.scale));
  // Two's complement, little-endian, dropping high bytes that only repeat the sign.
  unsigned __int128 u = static_cast<unsigned __int128>(n.mantissa);
  char bytes[16];
  for (int i = 0; i < 16; i++) bytes[i] = static_cast<char>(static_cast<uint8_t>(u >> (8 * i)));
  int len = 16;
  while (len > 1) {
    auto top = static_cast<uint8_t>(bytes[len - 1]);
    bool below_negative = (static_cast<uint8_t>(bytes[len - 2]) & 0x80) != 0;
    if (!((top == 0 && !below_negative) || (top == 0xFF && below_negative))) break;
    len--;
  }
  if (len == 1 && bytes[0] == 0) len = 0;  // zero
  out.append(bytes, static_cast<size_t>(len));
  return out;
}

Result<Numeric> NumericFromBytes(std::string_view b) {
  if (b.size() < 2 || b.size() > 18) return Status::Corruption("invalid numeric in row");
  Numeric n;
  n.scale = GetLE<int16_t>(b.data());
  unsigned __int128 u = 0;
  size_t len = b.size() - 2;
  for (size_t i = 0; i < len; i++) {
    u |= static_cast<unsigned __int128>(static_cast<uint8_t>(b[2 + i])) << (8 * i);
  }
  if (len > 0 && len < 16 && (static_cast<uint8_t>(b[1 + len]) & 0x80)) {
    u |= ~static_cast<unsigned __int128>(0) << (8 * len);  // sign-extend
  }
  n.mantissa = static_cast<__int128>(u);
  return n;
}

Status AppendValue(Storage s, const Value& v, std::string* out, size_t data_start) {
  size_t align = Alignment(s);
  if (align > 1) {
    size_t pos = out->size() - data_start;
    out->append((align - pos % align) % align, '\0');
  }
  switch (s) {
    case Storage::kBool:
      out->push_back(v.as_bool() ? '\1' : '\0');
      return Status::OK();
    case Storage::kInt16:
      PutLE<int16_t>(out, static_cast<int16_t>(v.as_int()));
      return Status::OK();
    case Storage::kInt32:
      if (v.as_int() < std::numeric_limits<int32_t>::min() ||
          v.as_int() > std::numeric_limits<int32_t>::max()) {
        return Status::Sql(v.type() == oid::kDate ? "22008" : "22003",
                           v.type() == oid::kDate ? "date out of range" : "integer out of range");
      }
      PutLE<int32_t>(out, static_cast<int32_t>(v.as_int()));
      return Status::OK();
    case Storage::kUInt32:
      PutLE<uint32_t>(out, static_cast<uint32_t>(v.as_int()));
      return Status::OK();
    case Storage::kInt64:
      PutLE<int64_t>(out, v.as_int());
      return Status::OK();
    case Storage::kFloat4:
      PutLE<float>(out, static_cast<float>(v.as_double()));
      return Status::OK();
    case Storage::kFloat8:
      PutLE<double>(out, v.as_double());
      return Status::OK();
    case Storage::kInterval:
      PutLE<int64_t>(out, v.as_interval().micros);
      PutLE<int32_t>(out, v.as_interval().days);
      PutLE<int32_t>(out, v.as_interval().months);
      return Status::OK();
    case Storage::kNumeric:
      PutVarlena(out, NumericBytes(v.as_numeric()));
      return Status::OK();
    case Storage::kBytes:
      PutVarlena(out, v.as_string());
      return Status::OK();
    case Storage::kText:
      PutVarlena(out, ToText(v, FormatOptions{}));  // UTC, ISO: independent of the session
      return Status::OK();
  }
  return Status::Sql("XX000", "unknown storage class");
}

Status Corrupt() { return Status::Corruption("invalid row: its bytes end inside a column"); }

}  // namespace

Result<std::string> EncodeRow(const catalog::TableDef& t, const std::vector<Value>& row) {
  if (row.size() != t.columns.size() || row.size() > 0x7FFF) {
    return Status::Sql("XX000", fmt::format("row of {} values for a table of {} columns",
                                            row.size(), t.columns.size()));
  }
  bool has_nulls = false;
  for (const auto& v : row) has_nulls |= v.is_null();
  std::string out;
  out.reserve(8 + row.size() * 8);
  PutLE<uint16_t>(&out, static_cast<uint16_t>(row.size() | (has_nulls ? 0x8000u : 0)));
  if (has_nulls) {
    size_t bitmap = out.size();
    out.append((row.size() + 7) / 8, '\0');
    for (size_t i = 0; i < row.size(); i++) {
      if (!row[i].is_null())
        out[bitmap + i / 8] = static_cast<char>(out[bitmap + i / 8] | (1 << (i % 8)));
    }
  }
  size_t data_start = out.size();
  for (size_t i = 0; i < row.size(); i++) {
    const Value& v = row[i];
    if (v.is_null()) continue;
    int32_t type = t.columns[i].type_oid;
    Storage s = StorageOf(type);
    if (DatumFits(s, v)) {
      WALREP_RETURN_IF_ERROR(AppendValue(s, v, &out, data_start));
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(Value conv,
                            FromText(type, ToText(v, FormatOptions{}), FormatOptions{}));
    if (!DatumFits(s, conv) || conv.is_null()) {
      return Status::Sql("XX000",
                         fmt::format("a value of type {} cannot be stored in column \"{}\" "
                                     "of type {}",
                                     TypeName(v.type()), t.columns[i].name, TypeName(type)));
    }
    WALREP_RETURN_IF_ERROR(AppendValue(s, conv, &out, data_start));
  }
  return out;
}

Result<std::vector<Value>> DecodeRow(const catalog::TableDef& t, std::string_view bytes) {
  if (bytes.size() < 2) return Corrupt();
  uint16_t head = GetLE<uint16_t>(bytes.data());
  size_t natts = head & 0x7FFF;
  if (natts > t.columns.size()) {
    return Status::Corruption(
        fmt::format("invalid row: {} columns stored, the table has {}", natts, t.columns.size()));
  }
  size_t pos = 2;
  const char* bitmap = nullptr;
  if (head & 0x8000) {
    size_t n = (natts + 7) / 8;
    if (pos + n > bytes.size()) return Corrupt();
    bitmap = bytes.data() + pos;
    pos += n;
  }
  const size_t data_start = pos;
  const char* p = bytes.data();
  std::vector<Value> row;
  row.reserve(t.columns.size());
  for (size_t i = 0; i < natts; i++) {
    int32_t type = t.columns[i].type_oid;
    if (bitmap && !(static_cast<uint8_t>(bitmap[i / 8]) & (1 << (i % 8)))) {
      row.push_back(Value::Null(type));
      continue;
    }
    Storage s = StorageOf(type);
    size_t width = FixedWidth(s);
    if (width) {
      size_t align = Alignment(s);
      pos += (align - (pos - data_start) % align) % align;
      if (pos + width > bytes.size()) return Corrupt();
      const char* at = p + pos;
      pos += width;
      switch (s) {
        case Storage::kBool:
          row.push_back(Value::Bool(*at != 0));
          break;
        case Storage::kInt16:
          row.push_back(Value::Int(type, GetLE<int16_t>(at)));
          break;
        case Storage::kInt32:
          row.push_back(Value::Int(type, GetLE<int32_t>(at)));
          break;
        case Storage::kUInt32:
          row.push_back(Value::Int(type, GetLE<uint32_t>(at)));
          break;
        case Storage::kInt64:
          row.push_back(Value::Int(type, GetLE<int64_t>(at)));
          break;
        case Storage::kFloat4:
          row.push_back(Value::Float(type, GetLE<float>(at)));
          break;
        case Storage::kFloat8:
          row.push_back(Value::Float(type, GetLE<double>(at)));
          break;
        default:  // kInterval
          row.push_back(Value::Interv(
              Interval{GetLE<int32_t>(at + 12), GetLE<int32_t>(at + 8), GetLE<int64_t>(at)}));
          break;
      }
      continue;
    }
    if (pos >= bytes.size()) return Corrupt();
    size_t len;
    auto first = static_cast<uint8_t>(p[pos]);
    if (first & 1) {
      len = first >> 1;
      pos += 1;
    } else {
      if (pos + 4 > bytes.size()) return Corrupt();
      len = GetLE<uint32_t>(p + pos) >> 1;
      pos += 4;
    }
    if (len > bytes.size() - pos) return Corrupt();
    std::string_view v(p + pos, len);
    pos += len;
    if (s == Storage::kNumeric) {
      WALREP_ASSIGN_OR_RETURN(Numeric n, NumericFromBytes(v));
      row.push_back(Value::Num(n));
    } else if (s == Storage::kBytes) {
      row.push_back(Value::Text(type, std::string(v)));
    } else {
      WALREP_ASSIGN_OR_RETURN(Value val, FromText(type, v, FormatOptions{}));
      row.push_back(std::move(val));
    }
  }
  // Columns added by ALTER TABLE after the row was written read as the default the column had
  // then (PostgreSQL's attmissingval), or NULL.
  for (size_t i = natts; i < t.columns.size(); i++) {
    const auto& c = t.columns[i];
    if (c.missing) {
      WALREP_ASSIGN_OR_RETURN(Value v, FromText(c.type_oid, *c.missing, FormatOptions{}));
      row.push_back(std::move(v));
    } else {
      row.push_back(Value::Null(c.type_oid));
    }
  }
  return row;
}

}  // namespace walrep::sql
