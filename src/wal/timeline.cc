// walrep: timeline history files (see timeline.h).
#include "walrep/wal/timeline.h"

#include <fmt/format.h>

#include <cctype>

namespace walrep::wal {

std::string HistoryFileName(TimelineId tli) { return fmt::format("{:08X}.history", tli); }

Result<TimelineHistory> ParseTimelineHistory(std::string_view text, TimelineId tli) {
  TimelineHistory oldest_first;
  Lsn prev_end;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    size_t i = 0;
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) i++;
    if (i == line.size() || line[i] == '#') continue;  // blank lines and comments
    line.remove_prefix(i);
    // <tli> <whitespace> <hi>/<lo> <whitespace> <reason>
    size_t j = 0;
    while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j]))) j++;
    size_t k = j;
    while (k < line.size() && std::isspace(static_cast<unsigned char>(line[k]))) k++;
    size_t m = k;
    while (m < line.size() && !std::isspace(static_cast<unsigned char>(line[m]))) m++;
    auto lsn = Lsn::Parse(line.substr(k, m - k));
    if (j == 0 || j > 10) {
      return Status::Corruption("syntax error in history file: " + std::string(line))
          .WithHint("Expected a numeric timeline ID.");
    }
    if (!lsn) {
      return Status::Corruption("syntax error in history file: " + std::string(line))
          .WithHint("Expected a write-ahead log switchpoint location.");
    }
    uint64_t id = std::stoull(std::string(line.substr(0, j)));
    if (id == 0 || id > 0xFFFFFFFFull || (!oldest_first.empty() && id <= oldest_first.back().tli)) {
      return Status::Corruption("invalid data in history file: " + std::string(line))
          .WithHint("Timeline IDs must be in increasing sequence.");
    }
    TimelineEntry e;
    e.tli = static_cast<TimelineId>(id);
    e.begin = prev_end;
    e.end = *lsn;
    prev_end = *lsn;
    oldest_first.push_back(e);
  }
  if (!oldest_first.empty() && tli <= oldest_first.back().tli) {
    return Status::Corruption("invalid data in history file")
        .WithHint("Timeline IDs must be less than child timeline's ID.");
  }
  TimelineHistory h;
  h.push_back(TimelineEntry{tli, prev_end, Lsn()});
  for (auto it = oldest_first.rbegin(); it != oldest_first.rend(); ++it) h.push_back(*it);
  return h;
}

Result<TimelineHistory> ReadTimelineHistory(io::FileSystem* fs, const std::string& wal_dir,
                                            TimelineId tli) {
  std::string path = wal_dir + "/" + HistoryFileName(tli);
  if (tli == 1 || !fs->Exists(path)) return TimelineHistory{TimelineEntry{tli, Lsn(), Lsn()}};
  WALREP_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path));
  auto h = ParseTimelineHistory(text, tli);
  if (!h.ok()) {
    Status st = h.TakeStatus();
    return Status::Corruption(fmt::format("{} (file \"{}\")", st.message(), path))
        .WithHint(st.hint());
  }
  return h;
}

Status WriteTimelineHistory(io::FileSystem* fs, const std::string& wal_dir, TimelineId new_tli,
                            TimelineId parent, Lsn switch_point, std::string_view reason) {
  std::string path = wal_dir + "/" + HistoryFileName(new_tli);
  if (fs->Exists(path)) {
    return Status::IOError(fmt::format("history file \"{}\" already exists", path));
  }
  std::string text;
  std::string parent_path = wal_dir + "/" + HistoryFileName(parent);
  bool parent_has_file = parent != 1 && fs->Exists(parent_path);
  if (parent_has_file) {
    WALREP_ASSIGN_OR_RETURN(text, fs->ReadFile(parent_path));
    if (!text.empty() && text.back() != '\n') text.push_back('\n');
  }
  text += fmt::format("{}{}\t{}\t{}\n", parent_has_file ? "\n" : "", parent,
                      switch_point.ToString(), reason);
  return fs->WriteFileDurably(path, text);
}

TimelineId FindNewestTimeline(io::FileSystem* fs, const std::string& wal_dir, TimelineId start) {
  TimelineId newest = start;
  for (TimelineId probe = start + 1; fs->Exists(wal_dir + "/" + HistoryFileName(probe)); probe++) {
    newest = probe;
  }
  return newest;
}

TimelineId TimelineOfPoint(const TimelineHistory& history, Lsn lsn) {
  for (const auto& e : history) {
    if ((!e.begin.valid() || lsn >= e.begin) && (!e.end.valid() || lsn < e.end)) return e.tli;
  }
  return 0;
}

Lsn TimelineSwitchPoint(const TimelineHistory& history, TimelineId tli) {
  for (const auto& e : history) {
    if (e.tli == tli) return e.end;
  }
  return Lsn();
}

bool TimelineInHistory(const TimelineHistory& history, TimelineId tli) {
  for (const auto& e : history) {
    if (e.tli == tli) return true;
  }
  return false;
}

std::vector<TimelineId> TimelinesForSegment(const TimelineHistory& history, XLogSegNo segno,
                                            uint64_t seg_size) {
  std::vector<TimelineId> out;
  for (const auto& e : history) {
    if (e.begin.valid() && e.begin.value() / seg_size > segno) continue;
    out.push_back(e.tli);
  }
  return out;
}

TimelineId NextTimeline(const TimelineHistory& history, TimelineId tli) {
  for (size_t i = 1; i < history.size(); i++) {
    if (history[i].tli == tli) return history[i - 1].tli;
  }
  return 0;
}

}  // namespace walrep::wal
