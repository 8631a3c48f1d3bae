// walrep: PostgreSQL v3 message codec (see message.h).
#include "walrep/protocol/message.h"

#include <cstring>

namespace walrep::protocol {

MessageBuilder::MessageBuilder(char type) {
  if (type != 0) buf_.push_back(type);
  len_pos_ = buf_.size();
  buf_.append(4, '\0');
}

MessageBuilder& MessageBuilder::Int8(uint8_t v) {
  buf_.push_back(static_cast<char>(v));
  return *this;
}
MessageBuilder& MessageBuilder::Int16(int16_t v) {
  uint16_t u = static_cast<uint16_t>(v);
  buf_.push_back(static_cast<char>(u >> 8));
  buf_.push_back(static_cast<char>(u));
  return *this;
}
MessageBuilder& MessageBuilder::Int32(int32_t v) {
  uint32_t u = static_cast<uint32_t>(v);
  for (int s = 24; s >= 0; s -= 8) buf_.push_back(static_cast<char>(u >> s));
  return *this;
}
MessageBuilder& MessageBuilder::Int64(int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  for (int s = 56; s >= 0; s -= 8) buf_.push_back(static_cast<char>(u >> s));
  return *this;
}
MessageBuilder& MessageBuilder::String(std::string_view s) {
  buf_.append(s);
  buf_.push_back('\0');
  return *this;
}
MessageBuilder& MessageBuilder::Bytes(std::string_view b) {
  buf_.append(b);
  return *this;
}
std::string MessageBuilder::Finish() {
  uint32_t len = static_cast<uint32_t>(buf_.size() - len_pos_);
  for (int i = 0; i < 4; i++) buf_[len_pos_ + i] = static_cast<char>(len >> (24 - 8 * i));
  return std::move(buf_);
}

bool MessageReader::Need(size_t n) {
  if (!ok_ || body_.size() - pos_ < n) {
    ok_ = false;
    return false;
  }
  return true;
}
uint8_t MessageReader::Int8() {
  if (!Need(1)) return 0;
  return static_cast<uint8_t>(body_[pos_++]);
}
int16_t MessageReader::Int16() {
  if (!Need(2)) return 0;
  uint16_t v = static_cast<uint16_t>((static_cast<uint8_t>(body_[pos_]) << 8) |
                                     static_cast<uint8_t>(body_[pos_ + 1]));
  pos_ += 2;
  return static_cast<int16_t>(v);
}
int32_t MessageReader::Int32() {
  if (!Need(4)) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(body_[pos_ + i]);
  pos_ += 4;
  return static_cast<int32_t>(v);
}
int64_t MessageReader::Int64() {
  if (!Need(8)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(body_[pos_ + i]);
  pos_ += 8;
  return static_cast<int64_t>(v);
}
std::string MessageReader::String() {
  if (!ok_) return {};
  size_t nul = body_.find('\0', pos_);
  if (nul == std::string_view::npos) {
    ok_ = false;
    bad_string_ = true;
    return {};
  }
  std::string s(body_.substr(pos_, nul - pos_));
  pos_ = nul + 1;
  return s;
}
std::string_view MessageReader::Bytes(size_t n) {
  if (!Need(n)) return {};
  std::string_view v = body_.substr(pos_, n);
  pos_ += n;
  return v;
}
Status MessageReader::status() const {
  if (ok_) return Status::OK();
  return Status::ProtocolViolation(bad_string_ ? "invalid string in message"
                                               : "insufficient data left in message");
}

std::string AuthenticationMessage(int32_t code, std::string_view extra) {
  return MessageBuilder('R').Int32(code).Bytes(extra).Finish();
}
std::string ParameterStatusMessage(std::string_view name, std::string_view value) {
  return MessageBuilder('S').String(name).String(value).Finish();
}
std::string BackendKeyDataMessage(int32_t pid, int32_t key) {
  return MessageBuilder('K').Int32(pid).Int32(key).Finish();
}
std::string ReadyForQueryMessage(char status) {
  return MessageBuilder('Z').Int8(static_cast<uint8_t>(status)).Finish();
}
std::string CommandCompleteMessage(std::string_view tag) {
  return MessageBuilder('C').String(tag).Finish();
}
std::string RowDescriptionMessage(const std::vector<FieldDesc>& fields) {
  MessageBuilder b('T');
  b.Int16(static_cast<int16_t>(fields.size()));
  for (const auto& f : fields) {
    b.String(f.name).Int32(f.table_oid).Int16(f.column).Int32(f.type_oid).Int16(f.typlen);
    b.Int32(f.typmod).Int16(f.format);
  }
  return std::move(b).Finish();
}
std::string DataRowMessage(const std::vector<std::optional<std::string>>& values) {
  MessageBuilder b('D');
  b.Int16(static_cast<int16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      b.Int32(-1);
    } else {
      b.Int32(static_cast<int32_t>(v->size())).Bytes(*v);
    }
  }
  return std::move(b).Finish();
}
std::string EmptyMessage(char type) { return MessageBuilder(type).Finish(); }

const char* SeverityName(NoticeSeverity sev) {
  switch (sev) {
    case NoticeSeverity::kError:
      return "ERROR";
    case NoticeSeverity::kFatal:
      return "FATAL";
    case NoticeSeverity::kPanic:
      return "PANIC";
    case NoticeSeverity::kWarning:
      return "WARNING";
    case NoticeSeverity::kNotice:
      return "NOTICE";
    case NoticeSeverity::kLog:
      return "LOG";
    case NoticeSeverity::kInfo:
      return "INFO";
    case NoticeSeverity::kDebug:
      return "DEBUG";
  }
  return "ERROR";
}

namespace {
std::string Fields(char type, const char* sev, std::string_view code, std::string_view msg,
                   std::string_view detail, std::string_view hint, int position) {
  MessageBuilder b(type);
  b.Int8('S').String(sev).Int8('V').String(sev).Int8('C').String(code).Int8('M').String(msg);
  if (!detail.empty()) b.Int8('D').String(detail);
  if (!hint.empty()) b.Int8('H').String(hint);
  if (position > 0) b.Int8('P').String(std::to_string(position));
  b.Int8(0);
  return std::move(b).Finish();
}
}  // namespace

std::string ErrorMessage(const Status& st) {
  NoticeSeverity sev = st.severity() == Severity::kFatal   ? NoticeSeverity::kFatal
                       : st.severity() == Severity::kPanic ? NoticeSeverity::kPanic
                                                           : NoticeSeverity::kError;
  return Fields('E', SeverityName(sev), st.sqlstate(), st.message(), st.detail(), st.hint(),
                st.position());
}

std::string NoticeMessage(NoticeSeverity sev, std::string_view sqlstate, std::string_view message,
                          std::string_view detail, std::string_view hint) {
  return Fields('N', SeverityName(sev), sqlstate, message, detail, hint, 0);
}

}  // namespace walrep::protocol
