// walrep: with `walrepctl init -k` a damaged relation page is reported as a checksum failure,
// never returned as data; transaction ids show in txid_current() and pg_stat_activity.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing.h"

namespace walrep::testing {
namespace {

TEST(ChecksumsTest, FlippedByteIsAnError) {
  Node n;
  n.Init({"-k"});
  n.Start();
  EXPECT_EQ(n.SafePsql("show data_checksums"), "on");
  n.SafePsql("create table t (id int, v text)");
  n.SafePsql("insert into t values (1, 'one'), (2, 'two')");
  n.SafePsql("checkpoint");
  n.Stop();
  // The newest relation file in base/5 is t's (catalog files have ids below 16384).
  std::string path;
  for (const auto& e : std::filesystem::directory_iterator(n.data_dir() + "/base/5")) {
    std::string name = e.path().filename().string();
    if (std::stoul(name) >= 16384 && std::filesystem::file_size(e.path()) > 0) {
      path = e.path().string();
    }
  }
  ASSERT_FALSE(path.empty());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(8100);
    char c;
    f.get(c);
    f.seekp(8100);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  n.Start();
  CommandResult r = n.Psql("select * from t");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("invalid page in block 0 of relation"), std::string::npos) << r.err << r.out;
  EXPECT_EQ(r.out, "");
}

TEST(ChecksumsTest, TransactionIdsAreVisible) {
  Node n;
  n.Init();
  n.Start();
  PGconn* c = n.Connect();
  PGresult* r = PQexec(c, "begin; select txid_current()");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
  std::string xid = PQgetvalue(r, 0, 0);
  PQclear(r);
  EXPECT_GE(std::stol(xid), 3);
  EXPECT_EQ(n.SafePsql("select backend_xid from pg_stat_activity where backend_xid is not null"),
            xid);
  PQclear(PQexec(c, "commit"));
  PQfinish(c);
}

}  // namespace
}  // namespace walrep::testing
