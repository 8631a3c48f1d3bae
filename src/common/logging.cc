// walrep: logging setup (see logging.h).
#include "walrep/common/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

namespace walrep {

namespace {
const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kLog: return "LOG";
    case LogLevel::kNotice: return "NOTICE";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
    case LogLevel::kFatal: return "FATAL";
    case LogLevel::kPanic: return "PANIC";
  }
  return "LOG";
}
}  // namespace

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
  if (level == LogLevel::kDebug) return;  // TODO(walrep): honour log_min_messages
  spdlog::info("{}:  {}", LevelName(level), msg);
}

}  // namespace walrep
