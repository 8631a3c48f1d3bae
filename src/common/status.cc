// walrep: Status helpers.
#include "walrep/common/status.h"

namespace walrep {

namespace {
const std::string kEmpty;
}

const std::string& Status::sqlstate() const {
  static const std::string kOkState = "00000";
  return rep_ ? rep_->sqlstate : kOkState;
}
const std::string& Status::message() const { return rep_ ? rep_->message : kEmpty; }
const std::string& Status::detail() const { return rep_ ? rep_->detail : kEmpty; }
const std::string& Status::hint() const { return rep_ ? rep_->hint : kEmpty; }

Status&& Status::WithDetail(std::string d) && {
  if (rep_) rep_->detail = std::move(d);
  return std::move(*this);
}
Status&& Status::WithHint(std::string h) && {
  if (rep_) rep_->hint = std::move(h);
  return std::move(*this);
}
Status StatementError(Status st) {
  if (st.code() != Status::Code::kIOError) return st;
  Status sql = Status::Sql(st.sqlstate(), st.message());
  if (!st.hint().empty()) sql = std::move(sql).WithHint(st.hint());
  return sql;
}

Status&& Status::WithPosition(int pos) && {
  if (rep_) rep_->position = pos;
  return std::move(*this);
}
Status&& Status::WithSeverity(Severity s) && {
  if (rep_) rep_->severity = s;
  return std::move(*this);
}

std::string Status::ToString() const {
  if (!rep_) return "OK";
  const char* sev = rep_->severity == Severity::kFatal   ? "FATAL"
                    : rep_->severity == Severity::kPanic ? "PANIC"
                                                         : "ERROR";
  std::string s = std::string(sev) + ":  " + rep_->message;
  if (!rep_->detail.empty()) s += "\nDETAIL:  " + rep_->detail;
  if (!rep_->hint.empty()) s += "\nHINT:  " + rep_->hint;
  return s;
}

}  // namespace walrep
