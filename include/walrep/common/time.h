// walrep: time stamps as PostgreSQL keeps them — microseconds since 2000-01-01 00:00:00 UTC —
// and their text forms. Time zones are UTC or a fixed offset ("+05:30", "UTC-3" style is not
// POSIX-inverted here: "+05:30" means east of Greenwich, as ISO 8601 writes it).
// Thread safety: pure functions (Now() reads the system clock).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace walrep {

using TimestampTz = int64_t;  // microseconds since 2000-01-01 UTC
constexpr int64_t kPgEpochUnixSeconds = 946684800;

TimestampTz NowTimestamp();
// Seconds east of UTC for a TimeZone setting; nullopt when walrep cannot interpret it.
std::optional<int> ParseTimeZoneOffset(std::string_view zone);
// "2026-11-22 03:20:23.123456+00", fractional digits trimmed, as PostgreSQL prints timestamptz.
std::string FormatTimestampTz(TimestampTz ts, int offset_seconds);
// "2026-11-22 03:20:23.123456", timestamp without time zone.
std::string FormatTimestamp(TimestampTz ts);
std::string FormatDate(int32_t days_since_2000);
// The fields of a timestamp as a wall clock reads it (microseconds since 2000-01-01 00:00, any
// zone already applied): proleptic Gregorian year (0 is 1 BC), month, day, time of day.
struct CivilTime {
  int64_t year;
  unsigned month, day;
  int64_t hour, minute, second, micros;
};
CivilTime BreakDownTimestamp(int64_t local_us);
// Parses "YYYY-MM-DD[ T]HH:MM:SS[.ffffff][+HH[:MM]]"; a missing zone uses `default_offset`.
std::optional<TimestampTz> ParseTimestamp(std::string_view s, int default_offset, bool* had_zone);

}  // namespace walrep
