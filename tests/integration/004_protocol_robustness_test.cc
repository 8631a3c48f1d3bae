// walrep: malformed input ends one connection with 08P01 and never the server.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "testing.h"

namespace walrep::testing {
namespace {

// The SQLSTATE of the first ErrorResponse among messages.
std::string ErrorCode(const std::vector<std::pair<char, std::string>>& msgs) {
  for (const auto& [t, body] : msgs) {
    if (t == 'E') return RawClient::Field(body, 'C');
  }
  return "none";
}

class ProtocolRobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_.Init();
    node_.Start();
    keeper_ = node_.Connect();
    ASSERT_EQ(PQstatus(keeper_), CONNECTION_OK);
  }
  void TearDown() override {
    // A session opened before the abuse still works, and new ones can be opened.
    PGresult* r = PQexec(keeper_, "select 41 + 1");
    EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(keeper_);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      EXPECT_STREQ(PQgetvalue(r, 0, 0), "42");
    }
    PQclear(r);
    PQfinish(keeper_);
    EXPECT_EQ(node_.SafePsql("select 1"), "1");
    EXPECT_TRUE(node_.Running());
  }
  Node node_;
  PGconn* keeper_ = nullptr;
};

TEST_F(ProtocolRobustnessTest, RandomBytesAfterStartup) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 20; round++) {
    RawClient c(node_.port());
    ASSERT_TRUE(c.Startup());
    std::string junk;
    for (int i = 0; i < 200; i++) junk.push_back(static_cast<char>(rng()));
    // Never start with a valid message type, so the first byte is always the error.
    if (std::string("QPBDECSHXdcfF").find(junk[0]) != std::string::npos) junk[0] = 'Y';
    c.Send(junk);
    auto msgs = c.ReadAll();
    EXPECT_EQ(ErrorCode(msgs), "08P01") << "round " << round;
  }
}

TEST_F(ProtocolRobustnessTest, RandomBytesAsStartupPacket) {
  std::mt19937 rng(777);
  for (int round = 0; round < 20; round++) {
    RawClient c(node_.port());
    std::string junk;
    for (int i = 0; i < 64; i++) junk.push_back(static_cast<char>(rng()));
    c.Send(junk);
    c.ShutdownWrite();
    auto msgs = c.ReadAll();
    // Either a FATAL (08P01 for bad lengths and truncation, 0A000 for a random protocol
    // version) or a plain close; never a hang, never a crash.
    std::string code = ErrorCode(msgs);
    EXPECT_TRUE(code == "08P01" || code == "0A000" || code == "none") << code;
  }
}

TEST_F(ProtocolRobustnessTest, HugeLengthPrefixes) {
  {
    RawClient c(node_.port());
    c.Send(std::string("\x7f\xff\xff\xff\x00\x03\x00\x00", 8));
    auto msgs = c.ReadAll();
    ASSERT_EQ(ErrorCode(msgs), "08P01");
    EXPECT_EQ(RawClient::Field(msgs[0].second, 'M'), "invalid length of startup packet");
  }
  {
    RawClient c(node_.port());
    ASSERT_TRUE(c.Startup());
    c.Send(std::string("Q\x7f\xff\xff\xff", 5) + "select 1");
    auto msgs = c.ReadAll();
    ASSERT_EQ(ErrorCode(msgs), "08P01");
    EXPECT_EQ(RawClient::Field(msgs[0].second, 'M'), "invalid message length");
    EXPECT_EQ(RawClient::Field(msgs[0].second, 'S'), "FATAL");
  }
  {
    RawClient c(node_.port());
    ASSERT_TRUE(c.Startup());
    c.Send(std::string("S\x00\x00\x40\x00", 5));  // Sync with a 16 kB body: over the limit
    EXPECT_EQ(ErrorCode(c.ReadAll()), "08P01");
  }
}

TEST_F(ProtocolRobustnessTest, TruncatedMessagesAndUnknownTypes) {
  {
    RawClient c(node_.port());
    ASSERT_TRUE(c.Startup());
    c.Send(std::string("Q\x00\x00\x00\x64", 5) + "select");  // promises 96 bytes, sends 6
    c.ShutdownWrite();
    auto msgs = c.ReadAll();
    ASSERT_EQ(ErrorCode(msgs), "08P01");
    EXPECT_EQ(RawClient::Field(msgs[0].second, 'M'), "incomplete message from client");
  }
  {
    RawClient c(node_.port());
    c.Send(std::string("\x00\x00\x00\x40\x00\x03\x00\x00user", 12));  // truncated startup
    c.ShutdownWrite();
    EXPECT_EQ(ErrorCode(c.ReadAll()), "08P01");
  }
  {
    RawClient c(node_.port());
    ASSERT_TRUE(c.Startup());
    c.Send(RawClient::Typed('Y', ""));
    auto msgs = c.ReadAll();
    ASSERT_EQ(ErrorCode(msgs), "08P01");
    EXPECT_EQ(RawClient::Field(msgs[0].second, 'M'), "invalid frontend message type 89");
  }
  {
    // A Bind whose parameter count lies about its body.
    RawClient c(node_.port());
    ASSERT_TRUE(c.Startup());
    c.Send(RawClient::Typed('P', std::string("\0select $1::int\0\0\0", 18)));
    c.Send(RawClient::Typed('B', std::string("\0\0\0\0\0\x05\x00\x00\x00\x10", 10)));
    c.Send(RawClient::Typed('S', ""));
    auto msgs = c.ReadAll();
    EXPECT_EQ(ErrorCode(msgs), "08P01");
  }
}

TEST_F(ProtocolRobustnessTest, MaxConnections) {
  // keeper_ plus two more fill max_connections = 3.
  node_.Stop();
  node_.AppendConf("max_connections = 3");
  node_.AppendConf("superuser_reserved_connections = 0");
  node_.Start();
  PQfinish(keeper_);
  keeper_ = node_.Connect();
  PGconn* a = node_.Connect();
  // The readiness probe of Start() may still hold its slot for a moment after it disconnected
  // (as a PostgreSQL backend does until it exits): retry until the slot is free.
  PGconn* b = node_.Connect();
  for (int i = 0; i < 100 && PQstatus(b) != CONNECTION_OK; i++) {
    PQfinish(b);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    b = node_.Connect();
  }
  ASSERT_EQ(PQstatus(b), CONNECTION_OK);
  PGconn* d = node_.Connect();
  EXPECT_NE(PQstatus(d), CONNECTION_OK);
  EXPECT_NE(std::string(PQerrorMessage(d)).find("sorry, too many clients already"),
            std::string::npos)
      << PQerrorMessage(d);
  PQfinish(d);
  PQfinish(a);
  PQfinish(b);
  // Wait until the server has seen both sessions end before TearDown opens new ones.
  for (int i = 0; i < 200; i++) {
    PGresult* r = PQexec(keeper_, "select pid from pg_stat_activity");
    int n = PQntuples(r);
    PQclear(r);
    if (n == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace
}  // namespace walrep::testing
