// walrep: Regex — PostgreSQL's regular expression behaviour (each expectation here was checked
// against PostgreSQL 15's ~ and regexp_replace), and bounded work: subjects and patterns that
// made std::regex overflow the stack or overflow an integer are answers or errors.
#include "walrep/common/regex.h"

#include <gtest/gtest.h>

#include <string>

namespace walrep {
namespace {

bool Matches(const std::string& subject, const std::string& pattern, RegexOptions opts = {}) {
  auto re = Regex::Compile(pattern, opts);
  EXPECT_TRUE(re.ok()) << pattern << ": " << re.status().message();
  if (!re.ok()) return false;
  auto found = (*re)->Search(subject);
  EXPECT_TRUE(found.ok()) << found.status().message();
  return found.ok() && *found;
}

std::string CompileError(const std::string& pattern) {
  auto re = Regex::Compile(pattern);
  if (re.ok()) return "compiled";
  return re.status().sqlstate() + " " + re.status().message();
}

std::string Replace(const std::string& subject, const std::string& pattern,
                    const std::string& replacement, const std::string& flags = "") {
  bool global = false;
  auto opts = ParseRegexFlags(flags, &global);
  if (!opts.ok()) return opts.status().sqlstate() + " " + opts.status().message();
  auto re = Regex::Compile(pattern, *opts);
  if (!re.ok()) return re.status().message();
  auto out = (*re)->Replace(subject, replacement, global);
  return out.ok() ? *out : out.status().message();
}

TEST(RegexTest, MatchesAsPostgres) {
  EXPECT_TRUE(Matches("a\nb", "a.b"));  // '.' matches a newline
  EXPECT_FALSE(Matches("ab\n", "b$"));  // '$' is only the end
  EXPECT_TRUE(Matches("x y", "\\mx\\M"));
  EXPECT_FALSE(Matches("xy", "x\\y"));
  EXPECT_FALSE(Matches("a b", "a\\yb"));
  EXPECT_TRUE(Matches("abc", "c\\Z"));
  EXPECT_TRUE(Matches("abcabc", "(abc)\\1"));
  EXPECT_TRUE(Matches("ÄÖ", "äö", RegexOptions{.ignore_case = true}));
  EXPECT_TRUE(Matches("é", "^\\w$"));
  EXPECT_TRUE(Matches("x", "(?i)X"));
  EXPECT_TRUE(Matches("ab", "a(?=b)"));
  EXPECT_TRUE(Matches("ab", "(?<=a)b"));
  EXPECT_TRUE(Matches("aXb", "[[:upper:]]"));
  EXPECT_TRUE(Matches("a]", "[]a]+$"));
  EXPECT_FALSE(Matches("a", "a{"));  // not a bound: '{' is an ordinary character
  EXPECT_FALSE(Matches("aa", "^a{,2}$"));
  EXPECT_TRUE(Matches("a{,2}", "a{,2}"));
  EXPECT_FALSE(Matches("aaa", "a{255}"));
}

TEST(RegexTest, BadPatternsGetPostgresErrors) {
  const std::string parens = "parentheses () not balanced", brackets = "brackets [] not balanced",
                    operand = "quantifier operand invalid", escape = "invalid escape \\ sequence",
                    count = "invalid repetition count(s)", braces = "braces {} not balanced";
  const std::pair<std::string, std::string> cases[] = {
      {"(", parens},
      {"[a", brackets},
      {"*a", operand},
      {"\\", escape},
      {"a{2,1}", count},
      {"a{256}", count},
      // Found by fuzz_sql: a count past 64 bits overflowed inside std::regex's compiler.
      {" select 5000222222222222{11110222222222222222000000, 2142222, 21 + 1(", count},
      {"a{1,11110222222222222222000000}", count},
      {"a{1,2", braces},
      {"a{1 }", count},
  };
  for (const auto& [pattern, error] : cases) {
    EXPECT_EQ(CompileError(pattern), "2201B invalid regular expression: " + error) << pattern;
  }
  EXPECT_EQ(CompileError("a{x}"), "compiled");
}

TEST(RegexTest, ReplaceAsPostgres) {
  EXPECT_EQ(Replace("first last", "(\\w+) (\\w+)", "\\2 \\1"), "last first");
  EXPECT_EQ(Replace("first last", "(\\w+) (\\w+)", "\\\\2 \\q \\& $1 \\0 \\"),
            "\\2 \\q first last $1 \\0 \\");
  EXPECT_EQ(Replace("abc", "b", "X\\"), "aX\\c");
  EXPECT_EQ(Replace("aaa", "a", "b", "g"), "bbb");
  EXPECT_EQ(Replace("AaA", "a", "b", "gi"), "bbb");
  EXPECT_EQ(Replace("abc", "", "X", "g"), "XaXbXcX");
  EXPECT_EQ(Replace("ab", "(a)", "[\\2]"), "[]b");
  EXPECT_EQ(Replace("ab", "(x)?a", "[\\1]"), "[]b");
  EXPECT_EQ(Replace("aXbX", "x", "-", "gi"), "a-b-");
  EXPECT_EQ(Replace("abc", "b", "x", "q"), "axc");
  EXPECT_EQ(Replace("a.b", ".", "X", "q"), "aXb");
  EXPECT_EQ(Replace("A.b", "a.", "X", "qi"), "Xb");
  EXPECT_EQ(Replace("Ab\ncd", "^c", "X", "n"), "Ab\nXd");
  EXPECT_EQ(Replace("a b", "a b", "X", "x"), "a b");
  EXPECT_EQ(Replace("A", "a", "X", "ic"), "A");
  EXPECT_EQ(Replace("héllo", "", "-", "g"), "-h-é-l-l-o-");
  EXPECT_EQ(Replace("abc", "b", "x", "z"), "22023 invalid regular expression option: \"z\"");
}

TEST(RegexTest, LongSubjectsAndRunawayPatternsAreBounded) {
  // std::regex recursed once per character here: 300,000 of them overflowed the stack.
  EXPECT_FALSE(Matches(std::string(300000, 'a'), "(a|b)*c"));
  EXPECT_TRUE(Matches(std::string(300000, 'a') + "c", "^(a|b)*c$"));
  auto full = Regex::Compile("^\\s*x\\s*$");
  ASSERT_TRUE(full.ok());
  auto m = (*full)->FullMatch("x" + std::string(1000000, ' '));
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->has_value());
  // Catastrophic backtracking stops at the step limit with an error, not after minutes.
  auto nested = Regex::Compile("^(a+)+$");
  ASSERT_TRUE(nested.ok());
  auto r = (*nested)->Search(std::string(40, 'a') + "b");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().sqlstate(), "2201B");
  EXPECT_EQ(r.status().message(), "regular expression failed: match limit exceeded");
}

TEST(RegexTest, ALongSearchAsksItsInterruptAndStopsOnItsError) {
  // Each of 300,000 start positions costs a scan to the end: PCRE2 alone takes 25 s here.
  auto re = Regex::Compile("b|()a*c");
  ASSERT_TRUE(re.ok());
  std::string subject(300000, 'a');
  int asked = 0;
  auto r = (*re)->Search(subject, [&] {
    return ++asked == 20 ? Status::Sql("57014", "canceling statement due to user request")
                         : Status::OK();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().sqlstate(), "57014");
  EXPECT_EQ(asked, 20);
  auto replaced = (*re)->Replace(subject, "x", /*global=*/true, [] {
    return Status::Sql("57014", "canceling statement due to statement timeout");
  });
  ASSERT_FALSE(replaced.ok());
  EXPECT_EQ(replaced.status().sqlstate(), "57014");
}

TEST(RegexTest, ASearchInSlicesFindsTheLeftmostMatch) {
  // The search goes in slices of start positions; a match is found wherever it starts, slices
  // never split a character, and lookbehind sees the text before its slice.
  std::string subject;
  for (int i = 0; i < 100000; i++) subject += "é";
  auto probe = [&](const std::string& pattern, const std::string& text) -> size_t {
    auto re = Regex::Compile(pattern);
    EXPECT_TRUE(re.ok()) << pattern;
    if (!re.ok()) return std::string::npos;
    int asked = 0;
    auto m = (*re)->Find(text, 0, [&] {
      asked++;
      return Status::OK();
    });
    EXPECT_TRUE(m.ok()) << pattern;
    EXPECT_GT(asked, 0) << pattern;
    return m.ok() && m->has_value() ? (**m)[0].first : std::string::npos;
  };
  EXPECT_EQ(probe("x", subject + "x"), subject.size());
  EXPECT_EQ(probe("(?<=é)x|$", subject + "x"), subject.size());
  EXPECT_EQ(probe("$", subject), subject.size());
  EXPECT_EQ(probe("é{3}x", subject + "xé"), subject.size() - 6);
  EXPECT_EQ(probe("y", subject), std::string::npos);
  EXPECT_EQ(probe(".x", "a" + subject + "x"), subject.size() - 1);
}

TEST(RegexTest, GroupsOfAMatch) {
  auto re = Regex::Compile("(a)(x)?(b)");
  ASSERT_TRUE(re.ok());
  std::string s = "zzab";
  auto m = (*re)->Find(s);
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ(Regex::Group(s, **m, 0), "ab");
  EXPECT_EQ(Regex::Group(s, **m, 1), "a");
  EXPECT_EQ(Regex::Group(s, **m, 2), "");
  EXPECT_EQ((**m)[2].first, std::string::npos);
  EXPECT_EQ(Regex::Group(s, **m, 3), "b");
  auto later = (*re)->Find(s, 3);
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->has_value());
}

}  // namespace
}  // namespace walrep
