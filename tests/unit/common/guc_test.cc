// walrep: tests for the GUC table, value parsing, SHOW formatting and settings layers.
#include "walrep/common/guc.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "walrep/common/config_file.h"

namespace walrep {
namespace {

std::string Parse(const char* name, const char* value) {
  const GucDef* d = FindGuc(name);
  EXPECT_NE(d, nullptr) << name;
  auto r = ParseGucValue(*d, value);
  return r.ok() ? *r
                : "ERR " + r.status().sqlstate() + " " + r.status().message() +
                      (r.status().hint().empty() ? "" : " HINT " + r.status().hint());
}

std::string Show(const char* name, const char* value) {
  const GucDef* d = FindGuc(name);
  return ShowGucValue(*d, *ParseGucValue(*d, value));
}

TEST(GucTest, LookupIsCaseInsensitiveAndKeepsCanonicalName) {
  ASSERT_NE(FindGuc("timezone"), nullptr);
  EXPECT_STREQ(FindGuc("timezone")->name, "TimeZone");
  EXPECT_STREQ(FindGuc("DATESTYLE")->name, "DateStyle");
  EXPECT_EQ(FindGuc("wal_keep_segments"), nullptr);  // removed in PostgreSQL 13
  EXPECT_TRUE(IsCustomGucName("walrep.sync_commit_lossless"));
  EXPECT_FALSE(IsCustomGucName("nodot"));
}

TEST(GucTest, MemoryUnitsConvertToBaseUnit) {
  EXPECT_EQ(Parse("shared_buffers", "128MB"), "16384");  // 8kB blocks
  EXPECT_EQ(Parse("shared_buffers", "1GB"), "131072");
  EXPECT_EQ(Parse("work_mem", "4MB"), "4096");  // kB
  EXPECT_EQ(Parse("work_mem", "1TB"), "1073741824");
  EXPECT_EQ(Parse("max_wal_size", "2GB"), "2048");  // MB
  EXPECT_EQ(Parse("max_wal_size", "1.5GB"), "1536");
  EXPECT_EQ(Parse("wal_buffers", "16MB"), "2048");
  EXPECT_EQ(Parse("work_mem", "4 MB"), "4096");  // whitespace before the unit
  EXPECT_EQ(Parse("work_mem", "0x100"), "256");
}

TEST(GucTest, TimeUnitsConvertToBaseUnit) {
  EXPECT_EQ(Parse("checkpoint_timeout", "5min"), "300");
  EXPECT_EQ(Parse("checkpoint_timeout", "1h"), "3600");
  EXPECT_EQ(Parse("checkpoint_timeout", "1d"), "86400");
  EXPECT_EQ(Parse("wal_sender_timeout", "1s"), "1000");
  EXPECT_EQ(Parse("wal_sender_timeout", "2500us"), "2");  // rint(), like PostgreSQL
  EXPECT_EQ(Parse("statement_timeout", "0"), "0");
}

TEST(GucTest, UnitErrorsUsePostgresWording) {
  EXPECT_EQ(Parse("work_mem", "4mb"),
            "ERR 22023 invalid value for parameter \"work_mem\": \"4mb\" HINT Valid units for this "
            "parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\".");
  EXPECT_EQ(Parse("checkpoint_timeout", "5 years"),
            "ERR 22023 invalid value for parameter \"checkpoint_timeout\": \"5 years\" HINT Valid "
            "units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".");
  EXPECT_EQ(Parse("port", "70000"),
            "ERR 22023 70000 is outside the valid range for parameter \"port\" (1 .. 65535)");
  EXPECT_EQ(Parse("checkpoint_timeout", "10"),
            "ERR 22023 10 s is outside the valid range for parameter \"checkpoint_timeout\" (30 .. "
            "86400)");
  EXPECT_EQ(Parse("max_connections", "many"),
            "ERR 22023 invalid value for parameter \"max_connections\": \"many\"");
}

TEST(GucTest, EveryBooleanSpelling) {
  for (const char* t : {"on", "ON", "true", "t", "tr", "yes", "y", "1", "TRUE"}) {
    EXPECT_EQ(Parse("fsync", t), "on") << t;
  }
  for (const char* f : {"off", "of", "false", "f", "fal", "no", "n", "0", "OFF"}) {
    EXPECT_EQ(Parse("fsync", f), "off") << f;
  }
  EXPECT_EQ(Parse("fsync", "o"), "ERR 22023 parameter \"fsync\" requires a Boolean value");
  EXPECT_EQ(Parse("fsync", "2"), "ERR 22023 parameter \"fsync\" requires a Boolean value");
}

TEST(GucTest, EnumsAcceptCaseInsensitiveNamesAndBooleans) {
  EXPECT_EQ(Parse("synchronous_commit", "REMOTE_APPLY"), "remote_apply");
  EXPECT_EQ(Parse("synchronous_commit", "true"), "on");
  EXPECT_EQ(Parse("synchronous_commit", "0"), "off");
  EXPECT_EQ(Parse("wal_level", "hot_standby"),
            "ERR 22023 invalid value for parameter \"wal_level\": \"hot_standby\" HINT Available "
            "values: minimal, replica, logical.");
}

TEST(GucTest, ShowPicksTheLargestExactUnit) {
  EXPECT_EQ(Show("shared_buffers", "128MB"), "128MB");
  EXPECT_EQ(Show("shared_buffers", "131072kB"), "128MB");
  EXPECT_EQ(Show("shared_buffers", "1000"), "8000kB");
  EXPECT_EQ(Show("checkpoint_timeout", "300"), "5min");
  EXPECT_EQ(Show("wal_sender_timeout", "60000"), "1min");
  EXPECT_EQ(Show("wal_sender_timeout", "1500"), "1500ms");
  EXPECT_EQ(Show("max_wal_size", "1024"), "1GB");
  EXPECT_EQ(Show("statement_timeout", "0"), "0");
  EXPECT_EQ(Show("max_slot_wal_keep_size", "-1"), "-1");
  EXPECT_EQ(Show("checkpoint_completion_target", "0.9"), "0.9");
}

TEST(GucTest, ServerSettingsLayersFileThenCommandLine) {
  auto s = ServerSettings::Build({{"work_mem", "8MB", "f.conf", 1}, {"port", "6000", "f.conf", 2}},
                                 {{"port", "7000", "", 0}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->GetInt("work_mem"), 8192);
  EXPECT_EQ((*s)->GetInt("port"), 7000);
  EXPECT_EQ((*s)->SourceOf("port"), GucSource::kArgv);
  EXPECT_EQ((*s)->GetInt("wal_buffers"), 512);  // -1: shared_buffers / 32
  auto bad = ServerSettings::Build({{"wal_keep_segments", "32", "/d/postgresql.conf", 7}}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "unrecognized configuration parameter \"wal_keep_segments\" in file "
            "\"/d/postgresql.conf\" line 7");
  auto custom = ServerSettings::Build({{"walrep.thing", "x", "f", 1}}, {});
  ASSERT_TRUE(custom.ok());
  EXPECT_EQ((*custom)->GetString("walrep.thing"), "x");
}

TEST(GucTest, ReloadKeepsPostmasterSettingsAndReportsThem) {
  auto a = *ServerSettings::Build({{"port", "6000", "f", 1}, {"work_mem", "1MB", "f", 2}}, {});
  auto b = *ServerSettings::Build({{"port", "6001", "f", 1}, {"work_mem", "2MB", "f", 2}}, {});
  std::vector<std::string> rejected;
  auto c = a->ApplyReload(*b, &rejected);
  EXPECT_EQ(c->GetInt("port"), 6000);
  EXPECT_EQ(c->GetInt("work_mem"), 2048);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0], "port");
}

TEST(GucTest, SessionSetResetAndTransactions) {
  auto server = *ServerSettings::Build({}, {});
  SessionSettings s(server, /*superuser=*/false);
  ASSERT_TRUE(s.Set("work_mem", "64MB", false, false).ok());
  EXPECT_EQ(*s.Show("work_mem"), "64MB");
  EXPECT_EQ(s.Set("port", "1", false, false).message(),
            "parameter \"port\" cannot be changed without restarting the server");
  EXPECT_EQ(s.Set("wal_receiver_timeout", "1s", false, false).message(),
            "parameter \"wal_receiver_timeout\" cannot be changed now");
  EXPECT_EQ(s.Set("log_statement", "all", false, false).sqlstate(), "42501");
  EXPECT_EQ(s.Set("server_version", "16", false, false).sqlstate(), "55P02");
  EXPECT_EQ(s.Set("no_such_thing", "1", false, false).message(),
            "unrecognized configuration parameter \"no_such_thing\"");
  // SET inside a transaction is undone by ROLLBACK; SET LOCAL ends with the transaction.
  s.BeginTransaction();
  ASSERT_TRUE(s.Set("work_mem", "1MB", false, true).ok());
  ASSERT_TRUE(s.Set("statement_timeout", "5s", true, true).ok());
  EXPECT_EQ(*s.Show("statement_timeout"), "5s");
  s.AbortTransaction();
  EXPECT_EQ(*s.Show("work_mem"), "64MB");
  EXPECT_EQ(*s.Show("statement_timeout"), "0");
  s.BeginTransaction();
  ASSERT_TRUE(s.Set("work_mem", "2MB", false, true).ok());
  s.CommitTransaction();
  EXPECT_EQ(*s.Show("work_mem"), "2MB");
  ASSERT_TRUE(s.Reset("work_mem").ok());
  EXPECT_EQ(*s.Show("work_mem"), "4MB");
}

TEST(GucTest, ReportedParametersComeInPostgresOrder) {
  auto server = *ServerSettings::Build({}, {});
  SessionSettings s(server);
  auto v = s.ReportedValues();
  ASSERT_EQ(v.size(), 13u);
  EXPECT_EQ(v.front().first, "application_name");
  EXPECT_EQ(v[5].first, "integer_datetimes");
  EXPECT_EQ(v[5].second, "on");
  EXPECT_EQ(v.back().first, "TimeZone");
  s.TakeReportChanges();
  ASSERT_TRUE(s.Set("application_name", "x", false, false).ok());
  ASSERT_TRUE(s.Set("work_mem", "1MB", false, false).ok());  // not reported
  auto changes = s.TakeReportChanges();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].first, "application_name");
  EXPECT_TRUE(s.TakeReportChanges().empty());
}

// conf/postgresql.conf.sample and the table agree in both directions (PostgreSQL's
// 003_check_guc.pl does the same for its sample).
TEST(GucTest, SampleFileMatchesTable) {
  std::ifstream in(std::string(WALREP_SOURCE_DIR) + "/conf/postgresql.conf.sample");
  ASSERT_TRUE(in.good());
  std::regex line(R"(^#([A-Za-z_.]+) = (.*?)(\s+# \(restart\))?$)");
  std::set<std::string> in_file;
  std::string l;
  while (std::getline(in, l)) {
    std::smatch m;
    if (!std::regex_match(l, m, line)) continue;
    const GucDef* d = FindGuc(m[1].str());
    ASSERT_NE(d, nullptr) << "sample names unknown setting " << m[1];
    EXPECT_TRUE(d->in_sample) << m[1] << " is hidden but in the sample";
    EXPECT_EQ(m[3].matched, d->context == GucContext::kPostmaster) << m[1];
    // The sample's default must be what the table says.
    auto items = ParseConfigText(m[1].str() + " = " + m[2].str(), "sample");
    ASSERT_TRUE(items.ok()) << l;
    auto v = ParseGucValue(*d, (*items)[0].value);
    ASSERT_TRUE(v.ok()) << l;
    EXPECT_EQ(*v, *ParseGucValue(*d, d->boot_value)) << l;
    in_file.insert(d->name);
  }
  for (const auto& d : GucTable()) {
    if (d.in_sample) {
      EXPECT_TRUE(in_file.count(d.name)) << d.name << " missing from the sample";
    }
  }
}

// Found by fuzz_postgresql_conf: a huge or NaN integer setting was converted to an integer for
// its message (undefined behaviour).
TEST(GucTest, IntegersBeyondRangeAndNanAreRejected) {
  EXPECT_EQ(Parse("shared_buffers", "554e46"),
            "ERR 22023 invalid value for parameter \"shared_buffers\": \"554e46\" HINT Value "
            "exceeds integer range.");
  EXPECT_EQ(Parse("work_mem", "nan").substr(0, 9), "ERR 22023");
  EXPECT_EQ(Parse("checkpoint_completion_target", "nan").substr(0, 9), "ERR 22023");
}

}  // namespace
}  // namespace walrep
