// walrep: PostgreSQL-epoch time stamps (see time.h).
#include "walrep/common/time.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "walrep/common/strings.h"

namespace walrep {

namespace {
// Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = yy + (*m <= 2);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string FormatLocal(int64_t local_us) {
  CivilTime t = BreakDownTimestamp(local_us);
  std::string s = fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year, t.month, t.day, t.hour,
                              t.minute, t.second);
  if (t.micros != 0) {
    std::string frac = fmt::format(".{:06}", t.micros);
    while (frac.back() == '0') frac.pop_back();
    s += frac;
  }
  return s;
}
}  // namespace

CivilTime BreakDownTimestamp(int64_t local_us) {
  int64_t days = FloorDiv(local_us, 86400000000LL);
  int64_t rem = local_us - days * 86400000000LL;
  CivilTime t{};
  CivilFromDays(days + DaysFromCivil(2000, 1, 1), &t.year, &t.month, &t.day);
  int64_t secs = rem / 1000000;
  t.hour = secs / 3600;
  t.minute = (secs / 60) % 60;
  t.second = secs % 60;
  t.micros = rem % 1000000;
  return t;
}

TimestampTz NowTimestamp() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  return us - kPgEpochUnixSeconds * 1000000LL;
}

std::optional<int> ParseTimeZoneOffset(std::string_view zone) {
  std::string z = ToLower(Trim(zone));
  if (z == "utc" || z == "etc/utc" || z == "gmt" || z == "etc/gmt" || z == "z" || z == "zulu" ||
      z == "universal" || z == "etc/universal" || z == "uct")
    return 0;
  if (z.empty() || (z[0] != '+' && z[0] != '-')) return std::nullopt;
  int sign = z[0] == '-' ? -1 : 1;
  int h = 0, m = 0;
  char extra;
  if (std::sscanf(z.c_str() + 1, "%d:%d%c", &h, &m, &extra) == 2 ||
      std::sscanf(z.c_str() + 1, "%d%c", &h, &extra) == 1) {
    if (h < 0 || h > 15 || m < 0 || m > 59) return std::nullopt;  // "+-2147483648": overflow
    return sign * (h * 3600 + m * 60);
  }
  return std::nullopt;
}

std::string FormatTimestampTz(TimestampTz ts, int offset_seconds) {
  std::string s = FormatLocal(ts + static_cast<int64_t>(offset_seconds) * 1000000);
  int off = offset_seconds < 0 ? -offset_seconds : offset_seconds;
  s += fmt::format("{}{:02}", offset_seconds < 0 ? '-' : '+', off / 3600);
  if (off % 3600) s += fmt::format(":{:02}", (off % 3600) / 60);
  return s;
}

std::string FormatTimestamp(TimestampTz ts) { return FormatLocal(ts); }

std::string FormatDate(int32_t days) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(days + DaysFromCivil(2000, 1, 1), &y, &m, &d);
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

std::optional<TimestampTz> ParseTimestamp(std::string_view s, int default_offset, bool* had_zone) {
  std::string str(Trim(s));
  int y, mo, d, h = 0, mi = 0, n = 0;
  double sec = 0;
  if (std::sscanf(str.c_str(), "%d-%d-%d%n", &y, &mo, &d, &n) != 3) return std::nullopt;
  size_t pos = static_cast<size_t>(n);
  if (pos < str.size() && (str[pos] == ' ' || str[pos] == 'T')) {
    int n2 = 0;
    if (std::sscanf(str.c_str() + pos + 1, "%d:%d:%lf%n", &h, &mi, &sec, &n2) != 3) {
      return std::nullopt;
    }
    pos += 1 + static_cast<size_t>(n2);
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 24 || mi < 0 || mi > 59 ||
      !(sec >= 0 && sec < 61)) {  // also false for a NaN that sscanf read
    return std::nullopt;
  }
  int offset = default_offset;
  if (had_zone) *had_zone = false;
  std::string_view rest = Trim(std::string_view(str).substr(pos));
  if (!rest.empty()) {
    auto off = ParseTimeZoneOffset(rest);
    if (!off) return std::nullopt;
    offset = *off;
    if (had_zone) *had_zone = true;
  }
  int64_t days = DaysFromCivil(y, mo, d) - DaysFromCivil(2000, 1, 1);
  // Years beyond PostgreSQL's timestamp range (294276 AD) do not fit in 64-bit microseconds.
  int64_t us;
  if (__builtin_mul_overflow(days, int64_t{86400000000}, &us) ||
      __builtin_add_overflow(us,
                             (static_cast<int64_t>(h) * 3600 + mi * 60) * 1000000LL +
                                 static_cast<int64_t>(sec * 1000000.0 + 0.5) -
                                 static_cast<int64_t>(offset) * 1000000,
                             &us)) {
    return std::nullopt;
  }
  return us;
}

}  // namespace walrep
