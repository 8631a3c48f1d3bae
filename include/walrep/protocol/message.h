// walrep: the PostgreSQL v3 message codec.
//
// A typed message on the wire is `Byte1 type, Int32 length (counting itself), body`; integers are
// big-endian; a String is bytes ended by NUL. MessageBuilder writes one message and patches its
// length; MessageReader reads fields from a received body and never reads past its end (a short
// or malformed body sets an error that callers turn into 08P01, never a crash).
// Thread safety: values owned by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "walrep/common/status.h"

namespace walrep::protocol {

class MessageBuilder {
 public:
  // type 0 builds an untyped packet (startup-style: length first).
  explicit MessageBuilder(char type);
  MessageBuilder& Int8(uint8_t v);
  MessageBuilder& Int16(int16_t v);
  MessageBuilder& Int32(int32_t v);
  MessageBuilder& Int64(int64_t v);
  MessageBuilder& String(std::string_view s);  // with the NUL terminator
  MessageBuilder& Bytes(std::string_view b);
  // The finished message with its length patched in.
  std::string Finish();

 private:
  std::string buf_;
  size_t len_pos_;
};

class MessageReader {
 public:
  explicit MessageReader(std::string_view body) : body_(body) {}
  uint8_t Int8();
  int16_t Int16();
  int32_t Int32();
  int64_t Int64();
  std::string String();
  std::string_view Bytes(size_t n);
  size_t remaining() const { return ok_ ? body_.size() - pos_ : 0; }
  bool ok() const { return ok_; }
  // OK when every read stayed in bounds; otherwise 08P01 with PostgreSQL's wording.
  Status status() const;

 private:
  bool Need(size_t n);
  std::string_view body_;
  size_t pos_ = 0;
  bool ok_ = true;
  bool bad_string_ = false;
};

// Field description for RowDescription.
struct FieldDesc {
  std::string name;
  int32_t table_oid = 0;
  int16_t column = 0;
  int32_t type_oid = 25;
  int16_t typlen = -1;
  int32_t typmod = -1;
  int16_t format = 0;
};

enum class NoticeSeverity { kError, kFatal, kPanic, kWarning, kNotice, kLog, kInfo, kDebug };

// Builders for the server's messages.
std::string AuthenticationMessage(int32_t code, std::string_view extra = {});
std::string ParameterStatusMessage(std::string_view name, std::string_view value);
std::string BackendKeyDataMessage(int32_t pid, int32_t key);
std::string ReadyForQueryMessage(char status);
std::string CommandCompleteMessage(std::string_view tag);
std::string RowDescriptionMessage(const std::vector<FieldDesc>& fields);
// `values`: nullopt is SQL NULL.
std::string DataRowMessage(const std::vector<std::optional<std::string>>& values);
std::string EmptyMessage(char type);  // ParseComplete '1', BindComplete '2', NoData 'n', ...
// ErrorResponse ('E') or NoticeResponse ('N') from a Status (S V C M D H P fields).
std::string ErrorMessage(const Status& st);
std::string NoticeMessage(NoticeSeverity sev, std::string_view sqlstate, std::string_view message,
                          std::string_view detail = {}, std::string_view hint = {});
const char* SeverityName(NoticeSeverity sev);

}  // namespace walrep::protocol
