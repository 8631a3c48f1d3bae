// walrep: pg_hba.conf and password authentication with real libpq clients.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing.h"

namespace walrep::testing {
namespace {

std::string ConnectError(const Node& n, const std::string& extra) {
  PGconn* c = n.Connect(extra);
  std::string err = PQstatus(c) == CONNECTION_OK ? "OK" : PQerrorMessage(c);
  PQfinish(c);
  return err;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pwfile = node_.data_dir() + ".pw";
    std::ofstream(pwfile) << "supersecret\n";
    node_.Init({"--auth=scram-sha-256", "--pwfile=" + pwfile});
    node_.WriteFile("pg_hba.conf",
                    "local all all trust\n"
                    "host all rejectme 127.0.0.1/32 reject\n"
                    "host all md5user 127.0.0.1/32 md5\n"
                    "host all clear 127.0.0.1/32 password\n"
                    "host all postgres,scramuser 127.0.0.1/32 scram-sha-256\n");
    node_.Start();
  }
  Node node_;
};

TEST_F(AuthTest, ScramRightPasswordInWrongPasswordOut) {
  EXPECT_EQ(ConnectError(node_, "password=supersecret"), "OK");
  std::string err = ConnectError(node_, "password=wrong");
  EXPECT_NE(err.find("password authentication failed for user \"postgres\""), std::string::npos)
      << err;
  // A role that does not exist fails the same way, at the end of a mock exchange.
  std::string ghost = ConnectError(node_, "user=scramuser password=x");
  EXPECT_NE(ghost.find("password authentication failed for user \"scramuser\""), std::string::npos)
      << ghost;
}

TEST_F(AuthTest, Md5AndClearTextPasswords) {
  std::string admin = "password=supersecret";
  EXPECT_EQ(node_.Query("set password_encryption = 'md5'; create role md5user login password 'm5'",
                        admin),
            "CREATE ROLE");
  EXPECT_EQ(node_.Query("create role clear login password 'c1'", admin), "CREATE ROLE");
  EXPECT_EQ(ConnectError(node_, "user=md5user password=m5"), "OK");
  EXPECT_NE(ConnectError(node_, "user=md5user password=bad").find("password authentication failed"),
            std::string::npos);
  EXPECT_EQ(ConnectError(node_, "user=clear password=c1"), "OK");
  EXPECT_NE(ConnectError(node_, "user=clear password=c2").find("password authentication failed"),
            std::string::npos);
  // ALTER ROLE changes the password; the old one stops working.
  EXPECT_EQ(node_.Query("alter role clear password 'c2'", admin), "ALTER ROLE");
  EXPECT_EQ(ConnectError(node_, "user=clear password=c2"), "OK");
  // md5 on a role with a SCRAM secret runs SCRAM, as PostgreSQL does.
  EXPECT_EQ(node_.Query("alter role md5user password 'scrammed'", admin), "ALTER ROLE");
  EXPECT_EQ(ConnectError(node_, "user=md5user password=scrammed"), "OK");
  // Roles without LOGIN are refused after authentication.
  EXPECT_EQ(node_.Query("alter role clear nologin", admin), "ALTER ROLE");
  EXPECT_NE(ConnectError(node_, "user=clear password=c2")
                .find("role \"clear\" is not permitted to log in"),
            std::string::npos);
}

TEST_F(AuthTest, RejectAndMissingLineAre28000) {
  std::string rej = ConnectError(node_, "user=rejectme");
  EXPECT_NE(rej.find("pg_hba.conf rejects connection for host \"127.0.0.1\", user \"rejectme\", "
                     "database \"postgres\", no encryption"),
            std::string::npos)
      << rej;
  std::string none = ConnectError(node_, "user=nobody");
  EXPECT_NE(none.find("no pg_hba.conf entry for host \"127.0.0.1\", user \"nobody\", database "
                      "\"postgres\", no encryption"),
            std::string::npos)
      << none;
  // The Unix socket line is trust.
  CommandResult r = RunCommand({PgBin("psql"), "-X", "-A", "-t", "-h", node_.socket_dir(), "-p",
                                std::to_string(node_.port()), "-U", "postgres", "-c", "select 7"});
  EXPECT_EQ(r.out, "7\n") << r.err;
}

TEST_F(AuthTest, NoClearTextOnDisk) {
  EXPECT_EQ(
      node_.Query("create role scramuser login password 'visible-secret'", "password=supersecret"),
      "CREATE ROLE");
  // Roles are rows of walrep_authid (global/1260, like pg_authid): after a checkpoint the
  // verifier is there, and the clear text is in no file at all (WAL included).
  EXPECT_EQ(node_.Query("checkpoint", "password=supersecret"), "CHECKPOINT");
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  EXPECT_NE(read(node_.data_dir() + "/global/1260").find("SCRAM-SHA-256$4096:"), std::string::npos);
  for (const auto& e : std::filesystem::recursive_directory_iterator(node_.data_dir())) {
    if (!e.is_regular_file()) continue;
    EXPECT_EQ(read(e.path().string()).find("visible-secret"), std::string::npos) << e.path();
  }
  EXPECT_EQ(ConnectError(node_, "user=scramuser password=visible-secret"), "OK");
}

}  // namespace
}  // namespace walrep::testing
