// walrep: pg_hba.conf parsing and first-match semantics.
#include "walrep/protocol/hba.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

namespace walrep::protocol {
namespace {

HbaRequest Tcp(const char* ip, const char* db, const char* user, bool repl = false,
               bool ssl = false) {
  HbaRequest r;
  r.local = false;
  r.ssl = ssl;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&r.client);
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&r.client);
    std::memset(&r.client, 0, sizeof(r.client));
    inet_pton(AF_INET6, ip, &v6->sin6_addr);
    v6->sin6_family = AF_INET6;
  }
  r.database = db;
  r.user = user;
  r.physical_replication = repl;
  return r;
}

TEST(HbaTest, FirstMatchingLineWins) {
  auto cfg = HbaConfig::Parse(
      "# comment\n"
      "local   all         all                       trust\n"
      "host    all         alice  127.0.0.1/32       reject\n"
      "host    sameuser    all    127.0.0.0 255.0.0.0 md5\n"
      "hostssl all         all    10.0.0.0/8         scram-sha-256\n"
      "host    replication repl   127.0.0.1/32       scram-sha-256\n"
      "host    \"all\",db2 bob,carol ::1/128          password\n"
      "host    all         all    all                scram-sha-256\n",
      "pg_hba.conf");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  auto method = [&](const HbaRequest& r) {
    const HbaLine* l = (*cfg)->Match(r);
    return l ? std::string(AuthMethodName(l->method)) + "@" + std::to_string(l->line_no) : "none";
  };
  HbaRequest local;
  local.local = true;
  local.database = "postgres";
  local.user = "x";
  EXPECT_EQ(method(local), "trust@2");
  EXPECT_EQ(method(Tcp("127.0.0.1", "postgres", "alice")), "reject@3");
  EXPECT_EQ(method(Tcp("127.0.0.2", "bob", "bob")), "md5@4");
  EXPECT_EQ(method(Tcp("10.1.2.3", "postgres", "x", false, true)), "scram-sha-256@5");
  EXPECT_EQ(method(Tcp("10.1.2.3", "postgres", "x")), "scram-sha-256@8");
  // Physical replication matches only lines naming `replication`, never `all`.
  EXPECT_EQ(method(Tcp("127.0.0.1", "replication", "repl", true)), "scram-sha-256@6");
  EXPECT_EQ(method(Tcp("127.0.0.1", "replication", "other", true)), "none");
  // A quoted "all" is a database literally named all.
  EXPECT_EQ(method(Tcp("::1", "all", "bob")), "password@7");
  EXPECT_EQ(method(Tcp("::1", "db2", "carol")), "password@7");
  EXPECT_EQ(method(Tcp("::1", "postgres", "bob")), "scram-sha-256@8");
}

TEST(HbaTest, NoMatchMessageIsPostgres) {
  HbaRequest r = Tcp("127.0.0.1", "d", "u");
  EXPECT_EQ(
      DescribeNoHbaEntry(r),
      "no pg_hba.conf entry for host \"127.0.0.1\", user \"u\", database \"d\", no encryption");
  r.physical_replication = true;
  EXPECT_EQ(DescribeNoHbaEntry(r),
            "no pg_hba.conf entry for replication connection from host \"127.0.0.1\", user \"u\", "
            "no encryption");
}

TEST(HbaTest, SameHostMatchesLoopback) {
  auto cfg = HbaConfig::Parse("host all all samehost trust\n", "f");
  ASSERT_TRUE(cfg.ok());
  EXPECT_NE((*cfg)->Match(Tcp("127.0.0.1", "d", "u")), nullptr);
  EXPECT_EQ((*cfg)->Match(Tcp("192.0.2.77", "d", "u")), nullptr);
}

TEST(HbaTest, ErrorsNameTheLine) {
  auto bad = HbaConfig::Parse("host all all 127.0.0.1/32 trust\nhots all all all trust\n", "f");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "invalid connection type \"hots\" in file \"f\" line 2");
  auto bad2 = HbaConfig::Parse("host all all 127.0.0.1/32 ident2\n", "f");
  ASSERT_FALSE(bad2.ok());
  EXPECT_EQ(bad2.status().message(),
            "invalid authentication method \"ident2\" in file \"f\" line 1");
  auto bad3 = HbaConfig::Parse("host all all 127.0.0.1/40 trust\n", "f");
  EXPECT_FALSE(bad3.ok());
  auto bad4 = HbaConfig::Parse("host all all\n", "f");
  EXPECT_FALSE(bad4.ok());
}

}  // namespace
}  // namespace walrep::protocol
