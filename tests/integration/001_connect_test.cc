// walrep: PostgreSQL 15 clients connect over TCP, the Unix socket and TLS, and see a 15.x server.
#include <gtest/gtest.h>

#include "testing.h"

namespace walrep::testing {
namespace {

TEST(ConnectTest, PsqlOverTcpAndUnixSocket) {
  Node n;
  n.Init();
  n.Start();
  EXPECT_NE(n.SafePsql("select version()").find("PostgreSQL 15"), std::string::npos);
  CommandResult unix_sock =
      RunCommand({PgBin("psql"), "-X", "-A", "-t", "-h", n.socket_dir(), "-p",
                  std::to_string(n.port()), "-U", "postgres", "-c", "select 1 + 1, current_user"});
  EXPECT_EQ(unix_sock.exit_code, 0) << unix_sock.err;
  EXPECT_EQ(unix_sock.out, "2|postgres\n");
  CommandResult ready =
      RunCommand({PgBin("pg_isready"), "-h", "127.0.0.1", "-p", std::to_string(n.port())});
  EXPECT_EQ(ready.exit_code, 0) << ready.out << ready.err;
  EXPECT_NE(ready.out.find("accepting connections"), std::string::npos);
}

TEST(ConnectTest, StartupParametersLookLikePostgres15) {
  Node n;
  n.Init();
  n.Start();
  PGconn* c = n.Connect("application_name=probe options='-c work_mem=3MB'");
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  EXPECT_GE(PQserverVersion(c), 150000);
  EXPECT_LT(PQserverVersion(c), 160000);
  EXPECT_STREQ(PQparameterStatus(c, "integer_datetimes"), "on");
  EXPECT_STREQ(PQparameterStatus(c, "server_encoding"), "UTF8");
  EXPECT_STREQ(PQparameterStatus(c, "standard_conforming_strings"), "on");
  EXPECT_STREQ(PQparameterStatus(c, "application_name"), "probe");
  EXPECT_STREQ(PQparameterStatus(c, "is_superuser"), "on");
  EXPECT_STREQ(PQparameterStatus(c, "in_hot_standby"), "off");
  EXPECT_GT(PQbackendPID(c), 0);
  PGresult* r = PQexec(c, "show work_mem");
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "3MB");
  PQclear(r);
  PQfinish(c);

  PGconn* bad = n.Connect("options='-c no_such_setting=1'");
  EXPECT_NE(PQstatus(bad), CONNECTION_OK);
  EXPECT_NE(std::string(PQerrorMessage(bad))
                .find("unrecognized configuration parameter \"no_such_setting\""),
            std::string::npos);
  PQfinish(bad);
  PGconn* nodb = n.Connect("dbname=nosuchdb");
  EXPECT_NE(std::string(PQerrorMessage(nodb)).find("database \"nosuchdb\" does not exist"),
            std::string::npos);
  PQfinish(nodb);
}

TEST(ConnectTest, SslRequire) {
  Node n;
  n.Init();
  CommandResult cert =
      RunCommand({"openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj",
                  "/CN=localhost", "-newkey", "rsa:2048", "-keyout", n.data_dir() + "/server.key",
                  "-out", n.data_dir() + "/server.crt"});
  ASSERT_EQ(cert.exit_code, 0) << cert.err;
  n.AppendConf("ssl = on");
  n.Start();
  CommandResult r = n.Psql("select 'tls ok'", "sslmode=require");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "tls ok\n");
  PGconn* c = n.Connect("sslmode=require");
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  EXPECT_EQ(PQsslInUse(c), 1);
  EXPECT_NE(std::string(PQsslAttribute(c, "protocol")).find("TLSv1."), std::string::npos);
  PQfinish(c);
  // Without ssl the server answers 'N' and sslmode=require fails, as with PostgreSQL.
  Node plain("plain");
  plain.Init();
  plain.Start();
  CommandResult no = plain.Psql("select 1", "sslmode=require");
  EXPECT_NE(no.exit_code, 0);
  EXPECT_NE(no.err.find("server does not support SSL"), std::string::npos) << no.err;
}

}  // namespace
}  // namespace walrep::testing
