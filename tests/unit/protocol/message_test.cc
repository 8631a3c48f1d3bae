// walrep: the v3 message codec, including byte-exact messages from the captures.
#include "walrep/protocol/message.h"

#include <gtest/gtest.h>

namespace walrep::protocol {
namespace {

std::string Hex(const std::string& s) {
  static const char* k = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) {
    o += k[c >> 4];
    o += k[c & 15];
  }
  return o;
}

TEST(MessageTest, MatchesCapturedBytes) {
  EXPECT_EQ(Hex(AuthenticationMessage(0)), "520000000800000000");
  EXPECT_EQ(Hex(ReadyForQueryMessage('I')), "5a0000000549");
  EXPECT_EQ(Hex(BackendKeyDataMessage(22304, static_cast<int32_t>(0xbb3406d1))),
            "4b0000000c00005720bb3406d1");
  EXPECT_EQ(CommandCompleteMessage("SHOW"), std::string("C\0\0\0\x09SHOW\0", 10));
  FieldDesc f;
  f.name = "data_directory_mode";
  f.type_oid = 25;
  f.typlen = -1;
  f.typmod = -1;
  EXPECT_EQ(Hex(RowDescriptionMessage({f})), "540000002c0001" +
                                                 Hex(std::string("data_directory_mode\0", 20)) +
                                                 "00000000000000000019ffffffffffff0000");
  EXPECT_EQ(Hex(DataRowMessage({std::string("0700")})), "440000000e00010000000430373030");
  EXPECT_EQ(Hex(DataRowMessage({std::nullopt})), "440000000a0001ffffffff");
}

TEST(MessageTest, ErrorResponseFields) {
  Status st = Status::Sql("42P01", "relation \"x\" does not exist").WithPosition(15).WithHint("h");
  std::string m = ErrorMessage(st);
  ASSERT_EQ(m[0], 'E');
  MessageReader r(std::string_view(m).substr(5));
  std::vector<std::pair<char, std::string>> fields;
  while (true) {
    char c = static_cast<char>(r.Int8());
    if (c == 0) break;
    fields.emplace_back(c, r.String());
  }
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fields,
            (std::vector<std::pair<char, std::string>>{{'S', "ERROR"},
                                                       {'V', "ERROR"},
                                                       {'C', "42P01"},
                                                       {'M', "relation \"x\" does not exist"},
                                                       {'H', "h"},
                                                       {'P', "15"}}));
}

TEST(MessageTest, ReaderNeverReadsPastTheEnd) {
  MessageReader r(std::string_view("\x00\x01", 2));
  EXPECT_EQ(r.Int16(), 1);
  EXPECT_EQ(r.Int32(), 0);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().sqlstate(), "08P01");
  MessageReader s(std::string_view("abc", 3));
  EXPECT_EQ(s.String(), "");
  EXPECT_EQ(s.status().message(), "invalid string in message");
  MessageReader t(std::string_view("ab\0", 3));
  EXPECT_EQ(t.String(), "ab");
  EXPECT_TRUE(t.ok());
  EXPECT_EQ(t.Bytes(1), "");
  EXPECT_FALSE(t.ok());
}

}  // namespace
}  // namespace walrep::protocol
