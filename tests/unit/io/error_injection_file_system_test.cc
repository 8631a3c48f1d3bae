// walrep: the error-injecting file system — its rule syntax, rule matching with after/times,
// short writes, and the errors it reports (errno text, 53100 for ENOSPC).
#include "walrep/io/error_injection_file_system.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing.h"

namespace walrep::io {
namespace {

void WriteRules(const std::string& path, const std::string& rules) {
  std::ofstream(path + ".new", std::ios::trunc) << rules;
  std::rename((path + ".new").c_str(), path.c_str());
}

TEST(ErrorInjectionFileSystemTest, ParsesRulesAndRejectsBadOnes) {
  auto rules = ErrorInjectionFileSystem::ParseRules(
      "# comment\n\nwrite pg_wal/ EIO after 3 times 2\nsync base/ ENOSPC  # trailing\n"
      "rename global/pg_control short\nread base/ EIO\n");
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  ASSERT_EQ(rules->size(), 4u);
  EXPECT_EQ((*rules)[3].op, ErrorInjectionFileSystem::Op::kRead);
  EXPECT_EQ((*rules)[0].op, ErrorInjectionFileSystem::Op::kWrite);
  EXPECT_EQ((*rules)[0].path, "pg_wal/");
  EXPECT_EQ((*rules)[0].error, ErrorInjectionFileSystem::Error::kEio);
  EXPECT_EQ((*rules)[0].after, 3u);
  EXPECT_EQ((*rules)[0].times, 2u);
  EXPECT_EQ((*rules)[1].error, ErrorInjectionFileSystem::Error::kEnospc);
  EXPECT_EQ((*rules)[1].times, ~0ull);
  for (const char* bad :
       {"truncate x EIO", "write x", "write x EPERM", "write x EIO after", "write x EIO every 2"}) {
    auto r = ErrorInjectionFileSystem::ParseRules(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("line 1"), std::string::npos);
    }
  }
}

TEST(ErrorInjectionFileSystemTest, FailsMatchingOperationsAsTheRulesSay) {
  testing::TempDir dir;
  const std::string rules = dir.path() + "/rules";
  ErrorInjectionFileSystem fs(DefaultFileSystem(), rules);
  auto f = fs.OpenRandomAccess(dir.path() + "/data", true);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE((*f)->WriteAt(0, "before").ok());  // no rules file: nothing fails
  WriteRules(rules, "write /data EIO after 1 times 2\nsync /data ENOSPC\n");
  EXPECT_TRUE((*f)->WriteAt(0, "first").ok());  // after 1
  Status st = (*f)->WriteAt(0, "second");
  EXPECT_EQ(st.code(), Status::Code::kIOError);
  EXPECT_NE(st.message().find("Input/output error"), std::string::npos) << st.message();
  EXPECT_FALSE((*f)->WriteAt(0, "third").ok());
  EXPECT_TRUE((*f)->WriteAt(0, "fourth").ok());  // times 2
  st = (*f)->Sync();
  EXPECT_EQ(st.sqlstate(), "53100");
  EXPECT_EQ(st.hint(), "Check free disk space.");
  EXPECT_NE(st.message().find("No space left on device"), std::string::npos);
  // Other files, and operations no rule names, pass.
  auto g = fs.NewWritableFile(dir.path() + "/other");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE((*g)->Append("x").ok());
  EXPECT_TRUE((*g)->Sync().ok());
  // A short write stores half, then fails.
  WriteRules(rules, "write /torn short\n");
  auto t = fs.OpenRandomAccess(dir.path() + "/torn", true);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->WriteAt(0, "abcdefgh").ok());
  EXPECT_EQ(*(*t)->ReadAt(0, 100), "abcd");
  // Reads: positional and whole-file.
  WriteRules(rules, "read /torn EIO times 2\n");
  EXPECT_EQ((*t)->ReadAt(0, 100).status().code(), Status::Code::kIOError);
  auto whole = fs.ReadFile(dir.path() + "/torn");
  ASSERT_FALSE(whole.ok());
  EXPECT_NE(whole.status().message().find("could not read file"), std::string::npos);
  EXPECT_EQ(*fs.ReadFile(dir.path() + "/torn"), "abcd");
  // Reads into a caller's buffer fail the same way, and read what there is.
  WriteRules(rules, "read /torn EIO times 1\n");
  char buf[100];
  EXPECT_EQ((*t)->ReadInto(0, buf, sizeof(buf)).status().code(), Status::Code::kIOError);
  auto got = (*t)->ReadInto(1, buf, sizeof(buf));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(buf, *got), "bcd");
  // A reserved file (WAL segments with wal_init_zero = off) fails as a write, and otherwise
  // reads as zeros of its full size.
  WriteRules(rules, "write /reserved ENOSPC times 1\n");
  auto a = fs.NewWritableFile(dir.path() + "/reserved");
  ASSERT_TRUE(a.ok());
  EXPECT_NE((*a)->Allocate(1 << 20).message().find("No space left on device"), std::string::npos);
  EXPECT_TRUE((*a)->Allocate(1 << 20).ok());
  EXPECT_EQ(*fs.ReadFile(dir.path() + "/reserved"), std::string(1 << 20, '\0'));
  // Removing the file disarms every rule.
  std::remove(rules.c_str());
  EXPECT_TRUE((*t)->WriteAt(0, "abcdefgh").ok());
  EXPECT_TRUE((*f)->Sync().ok());
}

}  // namespace
}  // namespace walrep::io
