// walrep: Status and Result<T>, the error type of every walrep API.
//
// A Status is either OK (a null pointer, so success costs nothing, as in LevelDB) or an error
// carrying a small Code, a PostgreSQL SQLSTATE, a message and optional detail, hint and cursor
// position. These map one-to-one onto ErrorResponse fields C/M/D/H/P and onto log lines.
// Thread safety: a Status is a value; const methods may be called from many threads at once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace walrep {

class Status;

// Severity of an error as PostgreSQL reports it. ERROR ends a statement, FATAL ends a session.
enum class Severity { kError, kFatal, kPanic };

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kIOError,
    kCorruption,
    kInvalidArgument,
    kNotFound,
    kNotSupported,
    kProtocolViolation,
    kTimedOut,
    kShutdown,
    kSqlError,  // an error for the client; the SQLSTATE says which
    kRetry,     // a precondition changed under the caller; redo the operation
  };

  Status() = default;
  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status IOError(std::string msg, std::string sqlstate = "58030") {
    return Status(Code::kIOError, std::move(sqlstate), std::move(msg));
  }
  static Status Corruption(std::string msg) {
    return Status(Code::kCorruption, "XX001", std::move(msg));
  }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, "22023", std::move(msg));
  }
  static Status NotFound(std::string msg) {
    return Status(Code::kNotFound, "58P01", std::move(msg));
  }
  static Status NotSupported(std::string msg) {
    return Status(Code::kNotSupported, "0A000", std::move(msg));
  }
  static Status ProtocolViolation(std::string msg) {
    return Status(Code::kProtocolViolation, "08P01", std::move(msg));
  }
  static Status TimedOut(std::string msg) {
    return Status(Code::kTimedOut, "57014", std::move(msg));
  }
  static Status Shutdown(std::string msg) {
    return Status(Code::kShutdown, "57P01", std::move(msg));
  }
  static Status Retry(std::string msg) { return Status(Code::kRetry, "XX000", std::move(msg)); }
  // An error reported to a SQL client with an explicit SQLSTATE.
  static Status Sql(std::string sqlstate, std::string msg) {
    return Status(Code::kSqlError, std::move(sqlstate), std::move(msg));
  }

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  const std::string& sqlstate() const;
  const std::string& message() const;
  const std::string& detail() const;
  const std::string& hint() const;
  int position() const { return rep_ ? rep_->position : 0; }  // 1-based; 0 = none
  Severity severity() const { return rep_ ? rep_->severity : Severity::kError; }

  // Builders, for the optional fields.
  Status&& WithDetail(std::string d) &&;
  Status&& WithHint(std::string h) &&;
  Status&& WithPosition(int pos) &&;
  Status&& WithSeverity(Severity s) &&;

  // "ERROR:  message" style, for logs and tools.
  std::string ToString() const;

  // Marks an error as deliberately ignored; searchable, like RocksDB's PermitUncheckedError.
  void IgnoreError() const {}

 private:
  struct Rep {
    Code code = Code::kOk;
    std::string sqlstate;
    std::string message;
    std::string detail;
    std::string hint;
    int position = 0;
    Severity severity = Severity::kError;
  };
  Status(Code code, std::string sqlstate, std::string msg) : rep_(std::make_unique<Rep>()) {
    rep_->code = code;
    rep_->sqlstate = std::move(sqlstate);
    rep_->message = std::move(msg);
  }

  std::unique_ptr<Rep> rep_;  // null means OK
};

// An I/O error of a statement's own files (a file function, a relation read, a base backup's
// reads) as the ERROR its client gets: the same SQLSTATE, message and hint, but no longer an
// IOError, which callers take as the client's socket failing and end the session for.
Status StatementError(Status st);

// A value or an error, like absl::StatusOr.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status TakeStatus() { return ok() ? Status::OK() : std::move(std::get<Status>(v_)); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace walrep

#define WALREP_CONCAT_INNER_(a, b) a##b
#define WALREP_CONCAT_(a, b) WALREP_CONCAT_INNER_(a, b)

#define WALREP_RETURN_IF_ERROR(expr) \
  do {                               \
    ::walrep::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)

#define WALREP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.TakeStatus();             \
  lhs = std::move(tmp).value()

#define WALREP_ASSIGN_OR_RETURN(lhs, expr) \
  WALREP_ASSIGN_OR_RETURN_IMPL_(WALREP_CONCAT_(_res_, __LINE__), lhs, expr)
