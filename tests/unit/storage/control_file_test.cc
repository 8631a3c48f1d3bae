// walrep: global/pg_control in PostgreSQL 15's layout, CRC-protected.
#include "walrep/storage/control_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing.h"

namespace walrep::storage {
namespace {

TEST(ControlFileTest, RoundTripAndCorruption) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/global");
  io::FileSystem* fs = io::DefaultFileSystem();
  ControlFileData c = NewControlFile(true);
  c.state = static_cast<uint32_t>(DbState::kInProduction);
  c.checkpoint = 0x1000028;
  ASSERT_TRUE(WriteControlFile(fs, dir.path(), c).ok());
  auto back = ReadControlFile(fs, dir.path());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->system_identifier, c.system_identifier);
  EXPECT_EQ(back->checkpoint, 0x1000028u);
  EXPECT_EQ(back->data_checksum_version, 1u);
  EXPECT_EQ(std::filesystem::file_size(dir.path() + "/global/pg_control"), 8192u);
  std::string text = FormatControlFile(*back);
  EXPECT_NE(text.find("Database cluster state:               in production\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("Latest checkpoint location:           0/1000028\n"), std::string::npos);

  std::fstream f(dir.path() + "/global/pg_control",
                 std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(20);
  f.put('\x7f');
  f.close();
  auto bad = ReadControlFile(fs, dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "incorrect checksum in control file");
}

}  // namespace
}  // namespace walrep::storage
