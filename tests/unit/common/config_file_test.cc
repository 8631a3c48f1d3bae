// walrep: tests for the postgresql.conf grammar.
#include "walrep/common/config_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing.h"

namespace walrep {
namespace {

TEST(ConfigFileTest, ValuesQuotesCommentsAndUnits) {
  auto r = ParseConfigText(
      "# a comment\n"
      "shared_buffers = 128MB   # trailing comment\n"
      "work_mem 4MB\n"
      "listen_addresses = '*'\n"
      "archive_command = 'cp %p /arch/%f'\n"
      "search_path = '\"$user\", public'\n"
      "application_name = 'it''s'\n"
      "restore_command = 'a\\tb'\n"
      "  port=5433\n"
      "\n"
      "checkpoint_completion_target = 0.5\n"
      "walrep.custom = on\n",
      "/x/postgresql.conf");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& v = *r;
  ASSERT_EQ(v.size(), 10u);
  EXPECT_EQ(v[0].name, "shared_buffers");
  EXPECT_EQ(v[0].value, "128MB");
  EXPECT_EQ(v[0].line, 2);
  EXPECT_EQ(v[1].value, "4MB");
  EXPECT_EQ(v[2].value, "*");
  EXPECT_EQ(v[3].value, "cp %p /arch/%f");
  EXPECT_EQ(v[4].value, "\"$user\", public");
  EXPECT_EQ(v[5].value, "it's");
  EXPECT_EQ(v[6].value, "a\tb");
  EXPECT_EQ(v[7].value, "5433");
  EXPECT_EQ(v[8].value, "0.5");
  EXPECT_EQ(v[9].name, "walrep.custom");
}

TEST(ConfigFileTest, SyntaxErrorsNameFileAndLine) {
  auto r = ParseConfigText("port = 5432\nwork_mem = 'unterminated\n", "/x/pg.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "syntax error in file \"/x/pg.conf\" line 2, near token \"'unterminated\"");
  auto r2 = ParseConfigText("port = 5432 5433\n", "/x/pg.conf");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().message(),
            "syntax error in file \"/x/pg.conf\" line 1, near token \"5433\"");
  auto r3 = ParseConfigText("port =\n", "/x/pg.conf");
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.status().message(), "syntax error in file \"/x/pg.conf\" line 1, near end of line");
}

TEST(ConfigFileTest, IncludesAreRelativeToTheIncludingFile) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/conf.d");
  std::ofstream(dir.path() + "/main.conf") << "port = 1\ninclude 'extra.conf'\n"
                                              "include_if_exists 'missing.conf'\n"
                                              "include_dir 'conf.d'\nwork_mem = 1MB\n";
  std::ofstream(dir.path() + "/extra.conf") << "port = 2\n";
  std::ofstream(dir.path() + "/conf.d/b.conf") << "port = 4\n";
  std::ofstream(dir.path() + "/conf.d/a.conf") << "port = 3\n";
  std::ofstream(dir.path() + "/conf.d/ignored.txt") << "port = 99\n";
  auto r = ParseConfigFile(dir.path() + "/main.conf");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> ports;
  for (const auto& a : *r) {
    if (a.name == "port") ports.push_back(a.value);
  }
  EXPECT_EQ(ports, (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(r->back().name, "work_mem");

  std::ofstream(dir.path() + "/bad.conf") << "include 'nothere.conf'\n";
  auto missing = ParseConfigFile(dir.path() + "/bad.conf");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("could not open configuration file"),
            std::string::npos);

  std::ofstream(dir.path() + "/loop.conf") << "include 'loop.conf'\n";
  EXPECT_FALSE(ParseConfigFile(dir.path() + "/loop.conf").ok());
}

TEST(ConfigFileTest, AutoConfRoundTrips) {
  std::string text = RenderAutoConf({{"work_mem", "8MB"}, {"archive_command", "cp '%p' \\x"}});
  auto r = ParseConfigText(text, "auto");
  ASSERT_TRUE(r.ok()) << text;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].value, "8MB");
  EXPECT_EQ((*r)[1].value, "cp '%p' \\x");
}

// Found by fuzz_postgresql_conf: an include_if_exists whose name is too long for the file
// system threw out of the parser (std::terminate: a crash at start or at a reload).
TEST(ConfigFileTest, IncludeOfAnImpossibleNameIsAnError) {
  std::string name(5000, 'o');
  auto r = ParseConfigText("include_if_exists '/" + name + "'\n", "/tmp/postgresql.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("File name too long"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(ParseConfigText("include_if_exists '/nonexistent/x.conf'\n", "/tmp/p.conf").ok());
}

}  // namespace
}  // namespace walrep
