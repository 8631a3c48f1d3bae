// walrep: timelines and their history files (pg_wal/<TLI>.history).
//
// A timeline begins when a server ends recovery (promotion) at a switch point; its history file
// lists every ancestor with the LSN where it ended, oldest first, in PostgreSQL's format:
//   <parent tli>\t<switch X/X>\t<reason>\n
// with a blank line before each line that was appended to a parent's history. Recovery reads the
// history of the timeline it follows to know which timeline (which segment file name) holds each
// LSN; walsenders read it to end a historic timeline at its switch point.
// Counterpart: timeline.c (readTimeLineHistory, writeTimeLineHistory, tliOfPointInHistory,
// tliSwitchPoint, findNewestTimeLine) in PostgreSQL.
// Thread safety: free functions; the file system serialises nothing beyond its own calls.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/status.h"
#include "walrep/io/file_system.h"

namespace walrep::wal {

// One timeline of a history: WAL in [begin, end) belongs to `tli`. The first timeline begins at
// an invalid Lsn (the start of WAL); the newest one has an invalid `end` (it is still open).
struct TimelineEntry {
  TimelineId tli = 1;
  Lsn begin;
  Lsn end;
  bool operator==(const TimelineEntry&) const = default;
};
// Newest timeline first, as PostgreSQL's expectedTLEs.
using TimelineHistory = std::vector<TimelineEntry>;

std::string HistoryFileName(TimelineId tli);  // "00000002.history"

// Parses the text of `tli`'s history file (its ancestors); the result ends with `tli` itself.
// Errors: PostgreSQL's "syntax error in history file" / "invalid data in history file" texts.
Result<TimelineHistory> ParseTimelineHistory(std::string_view text, TimelineId tli);
// The history of `tli` from <wal_dir>/<tli>.history; timeline 1, or a timeline whose file does
// not exist, has itself alone (PostgreSQL's readTimeLineHistory).
Result<TimelineHistory> ReadTimelineHistory(io::FileSystem* fs, const std::string& wal_dir,
                                            TimelineId tli);
// Writes <wal_dir>/<new_tli>.history durably: the parent's history (if it has a file), then a
// blank line and `parent\tswitch\treason`. Refuses to overwrite an existing file.
Status WriteTimelineHistory(io::FileSystem* fs, const std::string& wal_dir, TimelineId new_tli,
                            TimelineId parent, Lsn switch_point, std::string_view reason);
// The highest timeline whose history file exists in wal_dir, counting up from `start`
// (PostgreSQL's findNewestTimeLine); `start` when there is none above it.
TimelineId FindNewestTimeline(io::FileSystem* fs, const std::string& wal_dir, TimelineId start);

// The timeline of `history` that holds `lsn`; 0 when none does.
TimelineId TimelineOfPoint(const TimelineHistory& history, Lsn lsn);
// Where `tli` ends in `history` (invalid: it is the newest and still open, or not in it).
Lsn TimelineSwitchPoint(const TimelineHistory& history, TimelineId tli);
bool TimelineInHistory(const TimelineHistory& history, TimelineId tli);
// The timelines whose file may hold segment `segno`, newest first: those of `history` that
// began at or before it (a timeline's switch segment, under its own name, also holds its
// parent's WAL up to the switch point). PostgreSQL's XLogFileReadAnyTLI order.
std::vector<TimelineId> TimelinesForSegment(const TimelineHistory& history, XLogSegNo segno,
                                            uint64_t seg_size);
// The timeline that follows `tli` in `history` (0 when `tli` is the newest).
TimelineId NextTimeline(const TimelineHistory& history, TimelineId tli);

}  // namespace walrep::wal
