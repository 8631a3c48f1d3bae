// walrep: PostgreSQL-epoch time stamps and their text forms.
#include "walrep/common/time.h"

#include <gtest/gtest.h>

namespace walrep {
namespace {

TEST(TimeTest, FormatsLikePostgres) {
  EXPECT_EQ(FormatTimestampTz(0, 0), "2000-01-01 00:00:00+00");
  EXPECT_EQ(FormatTimestampTz(789000, 0), "2000-01-01 00:00:00.789+00");
  EXPECT_EQ(FormatTimestampTz(0, -5 * 3600), "1999-12-31 19:00:00-05");
  EXPECT_EQ(FormatTimestampTz(0, 5 * 3600 + 1800), "2000-01-01 05:30:00+05:30");
  EXPECT_EQ(FormatTimestampTz(-1, 0), "1999-12-31 23:59:59.999999+00");
  EXPECT_EQ(FormatDate(0), "2000-01-01");
  EXPECT_EQ(FormatDate(-1), "1999-12-31");
}

TEST(TimeTest, ParsesWithAndWithoutZone) {
  bool zone = false;
  auto t = ParseTimestamp("2024-02-03 04:05:06.789", 0, &zone);
  ASSERT_TRUE(t);
  EXPECT_FALSE(zone);
  EXPECT_EQ(FormatTimestampTz(*t, 0), "2024-02-03 04:05:06.789+00");
  auto t2 = ParseTimestamp("2024-02-03 04:05:06-05", 0, &zone);
  ASSERT_TRUE(t2);
  EXPECT_TRUE(zone);
  EXPECT_EQ(FormatTimestampTz(*t2, 0), "2024-02-03 09:05:06+00");
  EXPECT_FALSE(ParseTimestamp("yesterday-ish", 0, nullptr));
  EXPECT_EQ(ParseTimeZoneOffset("Etc/UTC"), 0);
  EXPECT_EQ(ParseTimeZoneOffset("+05:30"), 5 * 3600 + 1800);
  EXPECT_FALSE(ParseTimeZoneOffset("Mars/Olympus"));
}

// Found by fuzz_sql: a year beyond the 64-bit microsecond range overflowed (undefined
// behaviour); negative or NaN time fields were accepted.
TEST(TimeTest, RejectsTimestampsOutsideTheRange) {
  EXPECT_FALSE(ParseTimestamp("20242025-01-02", 0, nullptr));
  EXPECT_FALSE(ParseTimestamp("-2147483648-01-01", 0, nullptr));
  EXPECT_FALSE(ParseTimestamp("2024-01-01 -5:00:00", 0, nullptr));
  EXPECT_FALSE(ParseTimestamp("2024-01-01 10:-1:00", 0, nullptr));
  EXPECT_FALSE(ParseTimestamp("2024-01-01 10:00:nan", 0, nullptr));
  EXPECT_FALSE(ParseTimestamp("2024-01-01 10:00:-1", 0, nullptr));
  EXPECT_TRUE(ParseTimestamp("294276-12-31 00:00:00", 0, nullptr));
  // Found by fuzz_postgresql_conf (log_timezone): a negative hour overflowed.
  EXPECT_FALSE(ParseTimeZoneOffset("+-2147483648"));
  EXPECT_FALSE(ParseTimeZoneOffset("-1:-30"));
}

}  // namespace
}  // namespace walrep
