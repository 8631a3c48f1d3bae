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

TEST(ControlFileTest, WalrepCatalogVersionRefusesOtherFormats) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/global");
  io::FileSystem* fs = io::DefaultFileSystem();
  // No version file: a data directory from before the compact row format.
  auto none = ReadWalrepCatalogVersion(fs, dir.path());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
  Status st = CheckWalrepCatalogVersion(fs, dir.path());
  EXPECT_EQ(st.message(), "database files are incompatible with server");
  EXPECT_NE(st.detail().find("before walrep catalog versions"), std::string::npos) << st.detail();

  ASSERT_TRUE(WriteWalrepCatalogVersion(fs, dir.path()).ok());
  auto v = ReadWalrepCatalogVersion(fs, dir.path());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, kWalrepCatalogVersion);
  EXPECT_TRUE(CheckWalrepCatalogVersion(fs, dir.path()).ok());

  ASSERT_TRUE(fs->WriteFileDurably(dir.path() + "/global/walrep_catversion", "202001011\n").ok());
  st = CheckWalrepCatalogVersion(fs, dir.path());
  EXPECT_EQ(st.message(), "database files are incompatible with server");
  EXPECT_NE(st.detail().find("initialized with walrep catalog version 202001011"),
            std::string::npos)
      << st.detail();
  ASSERT_TRUE(fs->WriteFileDurably(dir.path() + "/global/walrep_catversion", "x\n").ok());
  EXPECT_FALSE(ReadWalrepCatalogVersion(fs, dir.path()).ok());
}

}  // namespace
}  // namespace walrep::storage
