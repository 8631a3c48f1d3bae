// walrep: postmaster.pid — stale files are replaced, live ones refuse a second server.
#include "walrep/server/pid_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "testing.h"

namespace walrep::server {
namespace {

std::string Line(const std::string& path, int n) {
  std::ifstream in(path);
  std::string l;
  for (int i = 0; i < n; i++) std::getline(in, l);
  return l;
}

TEST(PidFileTest, WritesPostgresLayout) {
  testing::TempDir dir;
  {
    PidFile f(dir.path());
    ASSERT_TRUE(f.Create(5433, "/tmp", "127.0.0.1").ok());
    ASSERT_TRUE(f.SetStatus("ready").ok());
    std::string p = dir.path() + "/postmaster.pid";
    EXPECT_EQ(Line(p, 1), std::to_string(::getpid()));
    EXPECT_EQ(Line(p, 2), dir.path());
    EXPECT_EQ(Line(p, 4), "5433");
    EXPECT_EQ(Line(p, 5), "/tmp");
    EXPECT_EQ(Line(p, 6), "127.0.0.1");
    EXPECT_EQ(Line(p, 8), "ready");
    EXPECT_EQ(PidFile::ReadPid(dir.path()), ::getpid());
  }
  EXPECT_EQ(PidFile::ReadPid(dir.path()), 0) << "removed at destruction";
}

TEST(PidFileTest, StaleFileIsReplacedLiveOneRefuses) {
  testing::TempDir dir;
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status;
  waitpid(child, &status, 0);  // `child` is now a pid with no process
  std::ofstream(dir.path() + "/postmaster.pid") << child << "\n" << dir.path() << "\n";
  PidFile f(dir.path());
  ASSERT_TRUE(f.Create(1, "", "").ok());
  EXPECT_EQ(PidFile::ReadPid(dir.path()), ::getpid());

  // Our own live pid in a file we did not create: a second server must refuse.
  testing::TempDir dir2;
  pid_t sleeper = fork();
  if (sleeper == 0) {
    pause();
    _exit(0);
  }
  std::ofstream(dir2.path() + "/postmaster.pid") << sleeper << "\n";
  PidFile g(dir2.path());
  Status st = g.Create(1, "", "");
  kill(sleeper, SIGKILL);
  waitpid(sleeper, &status, 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "lock file \"" + dir2.path() + "/postmaster.pid\" already exists");
  EXPECT_NE(st.hint().find("Is another postmaster (PID " + std::to_string(sleeper)),
            std::string::npos);
}

}  // namespace
}  // namespace walrep::server
