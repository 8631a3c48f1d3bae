// Fuzz target: timeline history files (as fetched from a primary with TIMELINE_HISTORY or
// restored from an archive), and the lookups recovery makes in the parsed history.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "walrep/wal/timeline.h"
#include "walrep/wal/xlog_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  walrep::TimelineId tli = data[0] % 8 + 1;
  auto h = walrep::wal::ParseTimelineHistory(
      std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), tli);
  if (!h.ok()) return 0;
  for (uint64_t v : {0ul, 0x1000000ul, 0x2000028ul, ~0ul}) {
    (void)walrep::wal::TimelineOfPoint(*h, walrep::Lsn(v));
  }
  for (walrep::TimelineId t = 1; t <= 9; t++) {
    (void)walrep::wal::TimelineSwitchPoint(*h, t);
    (void)walrep::wal::TimelineInHistory(*h, t);
    (void)walrep::wal::NextTimeline(*h, t);
    (void)walrep::wal::TimelinesForSegment(*h, t, walrep::wal::kDefaultSegSize);
  }
  return 0;
}
