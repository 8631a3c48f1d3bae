// walrep: logging setup (see logging.h).
#include "walrep/common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace walrep {

namespace {
const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kLog:
      return "LOG";
    case LogLevel::kNotice:
      return "NOTICE";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kFatal:
      return "FATAL";
    case LogLevel::kPanic:
      return "PANIC";
  }
  return "LOG";
}
// Rank in PostgreSQL's server-log order, where LOG sits above ERROR.
int ServerLogRank(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return 0;
    case LogLevel::kInfo:
      return 1;
    case LogLevel::kNotice:
      return 2;
    case LogLevel::kWarning:
      return 3;
    case LogLevel::kError:
      return 4;
    case LogLevel::kLog:
      return 5;
    case LogLevel::kFatal:
      return 6;
    case LogLevel::kPanic:
      return 7;
  }
  return 5;
}

std::atomic<int> g_min_rank{3};  // warning, PostgreSQL's default

}  // namespace

void SetLogMinMessages(const std::string& level) {
  int rank = 3;
  if (level.rfind("debug", 0) == 0)
    rank = 0;
  else if (level == "info")
    rank = 1;
  else if (level == "notice")
    rank = 2;
  else if (level == "warning")
    rank = 3;
  else if (level == "error")
    rank = 4;
  else if (level == "log")
    rank = 5;
  else if (level == "fatal")
    rank = 6;
  else if (level == "panic")
    rank = 7;
  g_min_rank.store(rank, std::memory_order_relaxed);
}

Status InitLogging(const std::string& file) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (file.empty()) {
      logger = spdlog::stderr_logger_mt("walrep");
    } else {
      logger = spdlog::basic_logger_mt("walrep", file, /*truncate=*/false);
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IOError(fmt::format("could not open log file \"{}\": {}", file, e.what()));
  }
  // Time in UTC, pid/thread, then our own level word (spdlog's level names are not PostgreSQL's).
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      "%Y-%m-%d %H:%M:%S.%e UTC [%P/%t] %v", spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return Status::OK();
}

void LogMessage(LogLevel level, const std::string& msg) {
  if (ServerLogRank(level) < g_min_rank.load(std::memory_order_relaxed)) return;
  spdlog::info("{}:  {}", LevelName(level), msg);
}

}  // namespace walrep
