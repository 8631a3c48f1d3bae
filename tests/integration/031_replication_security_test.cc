// walrep: replication security — replication connections obey pg_hba.conf (`replication`
// lines, `hostssl`/`hostnossl`), a role without REPLICATION cannot start a walsender,
// passwords never reach logs or the monitoring views, and standbys stream over TLS
// (sslmode=require) and verify the primary's certificate when asked (sslmode=verify-full).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "testing.h"

namespace walrep::testing {
namespace {

// IDENTIFY_SYSTEM over a physical replication connection through real psql.
CommandResult IdentifySystem(const Node& n, const std::string& user,
                             const std::string& extra = "") {
  return RunCommand({PgBin("psql"), "-X", "-A", "-t", "-c", "IDENTIFY_SYSTEM",
                     "host=127.0.0.1 port=" + std::to_string(n.port()) + " user=" + user +
                         " dbname=postgres replication=true " + extra});
}

void WriteHba(Node& n, const std::string& lines) {
  n.WriteFile("pg_hba.conf", "local all all trust\n" + lines);
}

TEST(ReplicationSecurityTest, ReplicationConnectionsObeyPgHba) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  // `all` does not cover replication connections: they need a `replication` line.
  WriteHba(p, "host all all 127.0.0.1/32 trust\n");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  CommandResult r = IdentifySystem(p, "postgres");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no pg_hba.conf entry for replication connection from host "
                       "\"127.0.0.1\", user \"postgres\", no encryption"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(p.Query("SELECT 1"), "1");  // ordinary connections still match `all`

  WriteHba(p,
           "host replication postgres 127.0.0.1/32 reject\nhost replication all 127.0.0.1/32 "
           "trust\nhost all all 127.0.0.1/32 trust\n");
  p.SafePsql("SELECT pg_reload_conf()");
  r = IdentifySystem(p, "postgres");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("pg_hba.conf rejects replication connection for host \"127.0.0.1\", user "
                       "\"postgres\", no encryption"),
            std::string::npos)
      << r.err;

  // A role without REPLICATION passes pg_hba.conf but cannot start a walsender.
  p.SafePsql("CREATE ROLE plain LOGIN");
  r = IdentifySystem(p, "plain");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("must be superuser or replication role to start walsender"),
            std::string::npos)
      << r.err;
  p.SafePsql("CREATE ROLE repl LOGIN REPLICATION");
  r = IdentifySystem(p, "repl");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("^[0-9]+\\|1\\|[0-9A-F]+/[0-9A-F]+\\|")))
      << r.out;
  // ... and a standby streams as that role.
  Node s("standby");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p, {"-U", "repl"}));
  ASSERT_NO_FATAL_FAILURE(s.Start());
  p.SafePsql("CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
  ASSERT_TRUE(WaitForReplay(p, s));
  EXPECT_EQ(s.Query("SELECT count(*) FROM t"), "1");
  EXPECT_EQ(p.Query("SELECT usename FROM pg_stat_replication"), "repl");
}

TEST(ReplicationSecurityTest, PasswordsNeverReachLogsOrViews) {
  const std::string secret = "S3cret-Repl-Pw";
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  WriteHba(p,
           "host replication repl 127.0.0.1/32 scram-sha-256\n"
           "host replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.SafePsql("CREATE ROLE repl LOGIN REPLICATION PASSWORD '" + secret + "'");
  Node s("standby");
  ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
  s.AppendConf("primary_conninfo = 'host=127.0.0.1 port=" + std::to_string(p.port()) +
                   " user=repl password=" + secret + " application_name=standby'",
               "postgresql.auto.conf");
  ASSERT_NO_FATAL_FAILURE(s.Start());
  ASSERT_TRUE(WaitUntil([&] {
    return p.Query("SELECT count(*) FROM pg_stat_replication WHERE usename = 'repl'") == "1";
  }));
  std::string conninfo = s.Query("SELECT conninfo FROM pg_stat_wal_receiver");
  EXPECT_NE(conninfo.find("password=********"), std::string::npos) << conninfo;
  EXPECT_NE(conninfo.find("user=repl"), std::string::npos) << conninfo;
  EXPECT_EQ(conninfo.find(secret), std::string::npos) << conninfo;
  EXPECT_EQ(p.Query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%" + secret +
                    "%' AND pid <> pg_backend_pid()"),
            "0");
  // A changed primary_conninfo is logged at the reload with the password masked.
  s.SafePsql(
      "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=" + std::to_string(p.port()) +
      " user=repl password=" + secret + "x application_name=standby'");
  s.SafePsql("SELECT pg_reload_conf()");
  ASSERT_TRUE(WaitUntil([&] {
    return s.Log().find("parameter \"primary_conninfo\" changed to") != std::string::npos;
  }));
  // The new (wrong) password fails authentication: the error names the user, not the password.
  ASSERT_TRUE(WaitUntil([&] {
    return s.Log().find("password authentication failed for user \"repl\"") != std::string::npos;
  }));
  EXPECT_EQ(s.Log().find(secret), std::string::npos);
  EXPECT_EQ(p.Log().find(secret), std::string::npos);
  // The right password again: streaming resumes. Only superusers may read primary_conninfo,
  // as in PostgreSQL.
  s.SafePsql(
      "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=" + std::to_string(p.port()) +
      " user=repl password=" + secret + " application_name=standby'");
  s.SafePsql("SELECT pg_reload_conf()");
  p.SafePsql("CREATE ROLE reader LOGIN");
  ASSERT_TRUE(WaitForReplay(p, s));
  CommandResult shown = s.Psql("SHOW primary_conninfo", "user=reader");
  EXPECT_NE(shown.exit_code, 0);
  EXPECT_EQ(shown.out.find(secret), std::string::npos);
}

class TlsReplicationTest : public ::testing::Test {
 protected:
  // A CA, and a server certificate for "localhost" it signed, in the primary's directory; a
  // second CA that signed nothing of ours.
  void MakeCertificates(const std::string& dir) {
    auto run = [](const std::vector<std::string>& argv) {
      CommandResult r = RunCommand(argv);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    };
    for (const char* ca : {"ca", "other_ca"}) {
      ASSERT_NO_FATAL_FAILURE(
          run({"openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj",
               std::string("/CN=walrep test ") + ca, "-newkey", "rsa:2048", "-keyout",
               dir + "/" + ca + ".key", "-out", dir + "/" + ca + ".crt"}));
    }
    ASSERT_NO_FATAL_FAILURE(
        run({"openssl", "req", "-new", "-nodes", "-subj", "/CN=localhost", "-newkey", "rsa:2048",
             "-keyout", dir + "/server.key", "-out", dir + "/server.csr"}));
    ASSERT_NO_FATAL_FAILURE(run({"openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA",
                                 dir + "/ca.crt", "-CAkey", dir + "/ca.key", "-CAcreateserial",
                                 "-days", "2", "-out", dir + "/server.crt"}));
    std::filesystem::permissions(dir + "/server.key", std::filesystem::perms::owner_read |
                                                          std::filesystem::perms::owner_write);
  }
  // A standby of p whose walreceiver connects with `conninfo_extra`.
  void StartStandby(Node& s, const Node& p, const std::string& conninfo_extra) {
    ASSERT_NO_FATAL_FAILURE(s.InitStandby(p));
    s.AppendConf("primary_conninfo = 'port=" + std::to_string(p.port()) + " user=postgres " +
                     conninfo_extra + "'",
                 "postgresql.auto.conf");
    ASSERT_NO_FATAL_FAILURE(s.Start());
  }
};

TEST_F(TlsReplicationTest, StandbysStreamOverTlsAndVerifyThePrimary) {
  Node p("primary");
  ASSERT_NO_FATAL_FAILURE(p.Init());
  ASSERT_NO_FATAL_FAILURE(MakeCertificates(p.data_dir()));
  p.AppendConf("ssl = on");
  // Replication only over TLS (base backups too: pg_basebackup's default sslmode=prefer).
  WriteHba(p,
           "hostnossl replication all 127.0.0.1/32 reject\n"
           "hostssl replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n");
  ASSERT_NO_FATAL_FAILURE(p.Start());
  const std::string ca = p.data_dir() + "/ca.crt";
  const std::string other_ca = p.data_dir() + "/other_ca.crt";

  Node required("required");
  ASSERT_NO_FATAL_FAILURE(StartStandby(required, p, "host=127.0.0.1 sslmode=require"));
  Node verified("verified");
  ASSERT_NO_FATAL_FAILURE(
      StartStandby(verified, p, "host=localhost sslmode=verify-full sslrootcert=" + ca));
  Node plain("plain");
  ASSERT_NO_FATAL_FAILURE(StartStandby(plain, p, "host=127.0.0.1 sslmode=disable"));
  Node wrong_ca("wrong_ca");
  ASSERT_NO_FATAL_FAILURE(
      StartStandby(wrong_ca, p, "host=localhost sslmode=verify-full sslrootcert=" + other_ca));
  Node wrong_host("wrong_host");
  ASSERT_NO_FATAL_FAILURE(
      StartStandby(wrong_host, p, "host=127.0.0.1 sslmode=verify-full sslrootcert=" + ca));

  p.SafePsql("CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 100)");
  ASSERT_TRUE(WaitForReplay(p, required));
  ASSERT_TRUE(WaitForReplay(p, verified));
  EXPECT_EQ(required.Query("SELECT sum(a) FROM t"), "5050");
  EXPECT_EQ(verified.Query("SELECT sum(a) FROM t"), "5050");
  EXPECT_EQ(p.Query("SELECT string_agg(application_name, ',' ORDER BY application_name) FROM "
                    "pg_stat_replication"),
            "required,verified");
  EXPECT_NE(verified.Query("SELECT conninfo FROM pg_stat_wal_receiver").find("sslmode=verify-full"),
            std::string::npos);

  // Without TLS the primary's pg_hba.conf refuses; a certificate from another CA, or one that
  // does not name the host connected to, is refused by the standby itself.
  EXPECT_TRUE(WaitUntil([&] {
    return plain.Log().find(
               "pg_hba.conf rejects replication connection for host \"127.0.0.1\", "
               "user \"postgres\", no encryption") != std::string::npos;
  }));
  EXPECT_TRUE(WaitUntil(
      [&] { return wrong_ca.Log().find("certificate verify failed") != std::string::npos; }));
  EXPECT_TRUE(WaitUntil([&] {
    return wrong_host.Log().find(
               "server certificate for \"localhost\" does not match host name "
               "\"127.0.0.1\"") != std::string::npos;
  }));
  for (Node* n : {&plain, &wrong_ca, &wrong_host}) {
    EXPECT_EQ(n->Query("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'"), "0")
        << n->log_file();
  }
  EXPECT_EQ(verified.Query("SELECT status FROM pg_stat_wal_receiver"), "streaming");
}

}  // namespace
}  // namespace walrep::testing
