// walrep: the compact binary row format.
#include "walrep/sql/row_format.h"

#include <gtest/gtest.h>

#include <cstring>

namespace walrep::sql {
namespace {

catalog::TableDef Table(const std::vector<int32_t>& types) {
  catalog::TableDef t;
  t.name = "t";
  for (size_t i = 0; i < types.size(); i++) {
    catalog::ColumnDef c;
    c.name = "c" + std::to_string(i);
    c.type_oid = types[i];
    t.columns.push_back(c);
  }
  return t;
}

std::string Text(const Value& v) { return v.is_null() ? "NULL" : ToText(v, FormatOptions{}); }

void ExpectRoundTrip(const catalog::TableDef& t, const std::vector<Value>& row) {
  auto bytes = EncodeRow(t, row);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = DecodeRow(t, *bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), row.size());
  for (size_t i = 0; i < row.size(); i++) {
    EXPECT_EQ((*back)[i].type(), t.columns[i].type_oid) << i;
    EXPECT_EQ((*back)[i].is_null(), row[i].is_null()) << i;
    EXPECT_EQ(Text((*back)[i]), Text(row[i])) << i;
  }
}

Value FromTextOk(int32_t type, std::string_view text) {
  auto v = FromText(type, text, FormatOptions{});
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : Value::Null(type);
}

TEST(RowFormatTest, EveryTypeRoundTrips) {
  std::vector<int32_t> types = {
      oid::kBool,     oid::kInt2,    oid::kInt4,  oid::kInt8,      oid::kOid,
      oid::kFloat4,   oid::kFloat8,  oid::kDate,  oid::kTimestamp, oid::kTimestampTz,
      oid::kInterval, oid::kNumeric, oid::kText,  oid::kVarchar,   oid::kBpchar,
      oid::kName,     oid::kBytea,   oid::kPgLsn, oid::kInt4Array, oid::kTextArray,
      oid::kChar,     oid::kXid,     oid::kInet};
  std::vector<std::string> texts = {"t",
                                    "-32768",
                                    "-2147483648",
                                    "9223372036854775807",
                                    "4294967295",
                                    "1.5",
                                    "-2.25e+300",
                                    "2024-02-29",
                                    "2024-02-29 12:34:56.789012",
                                    "1999-12-31 23:59:59.5+00",
                                    "1 year 2 mons -3 days 04:05:06.000007",
                                    "-123456789012345678901234.5678",
                                    "héllo",
                                    std::string(300, 'v'),
                                    "padded    ",
                                    "pg_class",
                                    "\\x00ff10",
                                    "16/B374D848",
                                    "{1,NULL,-3}",
                                    "{\"a b\",c}",
                                    "x",
                                    "4000000000",
                                    "192.168.0.1/24"};
  catalog::TableDef t = Table(types);
  std::vector<Value> row;
  for (size_t i = 0; i < types.size(); i++) row.push_back(FromTextOk(types[i], texts[i]));
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip(t, row));
  // Every column NULL; then every other one.
  std::vector<Value> nulls;
  for (int32_t type : types) nulls.push_back(Value::Null(type));
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip(t, nulls));
  for (size_t i = 0; i < row.size(); i += 2) row[i] = Value::Null(types[i]);
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip(t, row));
}

TEST(RowFormatTest, NumericsOfEverySizeAndSign) {
  catalog::TableDef t = Table({oid::kNumeric});
  for (const char* n : {"0", "1", "-1", "127", "128", "-128", "-129", "255", "256", "-256", "0.00",
                        "-0.5", "32767.5", "9999999999999999999999999999999999999",
                        "-9999999999999999999999999999999999999", "1e-30", "170141183460469"}) {
    Value v = FromTextOk(oid::kNumeric, n);
    ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip(t, {v})) << n;
  }
}

TEST(RowFormatTest, FixedWidthValuesAreBinaryAndAligned) {
  // pgbench_accounts: int4, int4, int4, char(84) — 2 header bytes, 12 of integers, 85 of text.
  catalog::TableDef accounts = Table({oid::kInt4, oid::kInt4, oid::kInt4, oid::kBpchar});
  auto bytes = EncodeRow(
      accounts, {Value::Int(oid::kInt4, 1000000), Value::Int(oid::kInt4, 10),
                 Value::Int(oid::kInt4, -5), Value::Text(oid::kBpchar, std::string(84, ' '))});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 2u + 12u + 85u);
  int32_t first;
  std::memcpy(&first, bytes->data() + 2, 4);
  EXPECT_EQ(first, 1000000);
  // A NULL costs a bit, not bytes: int2 then int8 (aligned to 8 from the data's start, after
  // the header and the null bitmap).
  catalog::TableDef t = Table({oid::kInt2, oid::kInt8, oid::kText});
  bytes =
      EncodeRow(t, {Value::Int(oid::kInt2, 7), Value::Int(oid::kInt8, 8), Value::Null(oid::kText)});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 2u + 1u + 8u + 8u);
  EXPECT_EQ(static_cast<uint8_t>((*bytes)[1]) & 0x80, 0x80);  // has NULLs
  EXPECT_EQ(static_cast<uint8_t>((*bytes)[2]), 0x03);         // columns 0 and 1 present
}

TEST(RowFormatTest, ValuesOfAnotherTypeAreConverted) {
  catalog::TableDef t = Table({oid::kInt8, oid::kText, oid::kNumeric});
  auto bytes = EncodeRow(
      t, {Value::Text(oid::kText, "42"), Value::Int(oid::kInt4, 7), Value::Int(oid::kInt4, 3)});
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = DecodeRow(t, *bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0].as_int(), 42);
  EXPECT_EQ((*back)[1].as_string(), "7");
  EXPECT_EQ(Text((*back)[2]), "3");
  // Not convertible: an error, never a wrong value.
  auto bad = EncodeRow(t, {Value::Text(oid::kText, "forty-two"), Value::Null(oid::kText),
                           Value::Null(oid::kNumeric)});
  EXPECT_FALSE(bad.ok());
}

TEST(RowFormatTest, ColumnsAddedLaterReadTheirMissingValue) {
  catalog::TableDef old_def = Table({oid::kInt4});
  auto bytes = EncodeRow(old_def, {Value::Int(oid::kInt4, 1)});
  ASSERT_TRUE(bytes.ok());
  catalog::TableDef t = Table({oid::kInt4, oid::kText, oid::kTimestampTz});
  t.columns[1].missing = "dflt";
  auto row = DecodeRow(t, *bytes);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ((*row)[0].as_int(), 1);
  EXPECT_EQ((*row)[1].as_string(), "dflt");
  EXPECT_TRUE((*row)[2].is_null());
}

TEST(RowFormatTest, DamagedRowsAreErrors) {
  catalog::TableDef t = Table({oid::kInt8, oid::kText});
  auto bytes =
      EncodeRow(t, {Value::Int(oid::kInt8, 1), Value::Text(oid::kText, std::string(200, 'x'))});
  ASSERT_TRUE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); n++) {
    EXPECT_FALSE(DecodeRow(t, std::string_view(*bytes).substr(0, n)).ok()) << n;
  }
  // More columns stored than the table has.
  EXPECT_FALSE(DecodeRow(Table({oid::kInt8}), *bytes).ok());
}

}  // namespace
}  // namespace walrep::sql
