// walrep: walrepctl waldump — pg_waldump's listing of a data directory's WAL, through the
// resource-manager table's descriptions (access::Describe), for walrep's own records too.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "walrep/access/rmgr.h"
#include "walrep/io/file_system.h"
#include "walrep/storage/control_file.h"
#include "walrep/wal/timeline.h"
#include "walrep/wal/wal_reader.h"
#include "walrepctl.h"

namespace walrep::tools {

int WalDump(const Args& args) {
  std::string dir;
  std::optional<Lsn> start, end;
  long limit = -1;
  auto fail = [](const std::string& msg) {
    std::fprintf(stderr, "walrepctl waldump: error: %s\n", msg.c_str());
    return 1;
  };
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (a.size() > 2 && a[0] == '-' && a[1] != '-') return a.substr(2);
      if (size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
        return a.substr(eq + 1);
      }
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    std::optional<std::string> v;
    if (a.rfind("-D", 0) == 0 || a.rfind("--pgdata", 0) == 0) {
      if (!(v = value())) return fail("option -D requires an argument");
      dir = *v;
    } else if (a.rfind("-s", 0) == 0 || a.rfind("--start", 0) == 0) {
      if (!(v = value()) || !(start = Lsn::Parse(*v))) return fail("invalid WAL location for -s");
    } else if (a.rfind("-e", 0) == 0 || a.rfind("--end", 0) == 0) {
      if (!(v = value()) || !(end = Lsn::Parse(*v))) return fail("invalid WAL location for -e");
    } else if (a.rfind("-n", 0) == 0 || a.rfind("--limit", 0) == 0) {
      if (!(v = value())) return fail("option -n requires an argument");
      limit = std::atol(v->c_str());
    } else {
      return fail("invalid argument \"" + a + "\"");
    }
  }
  if (dir.empty()) return fail("no data directory specified (-D)");
  io::FileSystem* fs = io::DefaultFileSystem();
  auto control = storage::ReadControlFile(fs, dir);
  if (!control.ok()) return fail(control.status().message());
  // The newest timeline's history decides which file holds each segment.
  TimelineId tli = wal::FindNewestTimeline(
      fs, dir + "/pg_wal", std::max<TimelineId>(control->checkpoint_copy.this_timeline, 1));
  wal::TimelineHistory history{wal::TimelineEntry{tli, Lsn(), Lsn()}};
  if (tli > 1) {
    auto h = wal::ReadTimelineHistory(fs, dir + "/pg_wal", tli);
    if (!h.ok()) return fail(h.status().message());
    history = *h;
  }
  wal::WalReader reader(fs, dir + "/pg_wal", history);
  Lsn p = start.value_or(Lsn(control->checkpoint_copy.redo));
  for (long n = 0; limit < 0 || n < limit; n++) {
    if (end && p >= *end) return 0;
    auto r = reader.ReadRecord(p);
    if (!r.ok()) {
      // As pg_waldump: the listing ends at the first record that cannot be read.
      std::fprintf(stderr, "walrepctl waldump: end of WAL at %s: %s\n", p.ToString().c_str(),
                   r.status().message().c_str());
      return n > 0 ? 0 : 1;
    }
    std::printf("%s\n", access::Describe(*r).c_str());
    p = reader.NextRecordLsn(*r);
  }
  return 0;
}

}  // namespace walrep::tools
