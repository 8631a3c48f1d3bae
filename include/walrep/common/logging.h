// walrep: server logging through spdlog with a PostgreSQL-like prefix:
//   2026-11-22 03:20:23.123 UTC [12345/12350] LOG:  database system is ready to accept connections
// (time, process id / thread id, level). Output goes to stderr or to the file given with -l.
// Thread safety: every function is thread-safe once InitLogging() has returned.
#pragma once

#include <fmt/format.h>

#include <string>

#include "walrep/common/status.h"

namespace walrep {

enum class LogLevel { kDebug, kInfo, kLog, kNotice, kWarning, kError, kFatal, kPanic };

// Sets up the process-wide logger; `file` empty means stderr.
Status InitLogging(const std::string& file);
// log_min_messages: messages below this level (in the server-log order debug < info < notice <
// warning < error < log < fatal < panic) are dropped. The logger is process-wide, like
// spdlog's default logger it wraps.
void SetLogMinMessages(const std::string& level);
void LogMessage(LogLevel level, const std::string& msg);

template <typename... Args>
void LogAt(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  LogMessage(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace walrep

#define WALREP_LOG(...) ::walrep::LogAt(::walrep::LogLevel::kLog, __VA_ARGS__)
#define WALREP_WARN(...) ::walrep::LogAt(::walrep::LogLevel::kWarning, __VA_ARGS__)
#define WALREP_LOG_ERROR(...) ::walrep::LogAt(::walrep::LogLevel::kError, __VA_ARGS__)
#define WALREP_FATAL(...) ::walrep::LogAt(::walrep::LogLevel::kFatal, __VA_ARGS__)
#define WALREP_DEBUG(...) ::walrep::LogAt(::walrep::LogLevel::kDebug, __VA_ARGS__)
