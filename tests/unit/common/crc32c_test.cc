// walrep: CRC-32C against known vectors (the same ones shared/reference/tools/crc32c.py uses).
#include "walrep/common/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace walrep {
namespace {

TEST(Crc32cTest, StandardVectors) {
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::Value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c::Value(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(crc32c::Value(""), 0u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string data;
  for (int i = 0; i < 1000; i++) data.push_back(static_cast<char>(i * 7));
  uint32_t whole = crc32c::Value(data);
  for (size_t split : {0u, 1u, 7u, 8u, 9u, 500u, 999u}) {
    uint32_t a = crc32c::Value(data.data(), split);
    EXPECT_EQ(crc32c::Extend(a, data.data() + split, data.size() - split), whole) << split;
  }
}

}  // namespace
}  // namespace walrep
