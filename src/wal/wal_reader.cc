// walrep: WAL reader (see wal_reader.h).
#include "walrep/wal/wal_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace walrep::wal {

WalReader::WalReader(io::FileSystem* fs, std::string wal_dir, TimelineId tli, uint64_t seg_size)
    : WalReader(fs, std::move(wal_dir), TimelineHistory{TimelineEntry{tli, Lsn(), Lsn()}},
                seg_size) {}

WalReader::WalReader(io::FileSystem* fs, std::string wal_dir, TimelineHistory history,
                     uint64_t seg_size)
    : fs_(fs), wal_dir_(std::move(wal_dir)), history_(std::move(history)), seg_size_(seg_size) {}

void WalReader::SetHistory(TimelineHistory history) {
  history_ = std::move(history);
  file_.reset();
  window_.clear();
}

Result<std::string_view> WalReader::ReadPage(Lsn pageaddr) {
  XLogSegNo segno = SegmentOf(pageaddr, seg_size_);
  uint64_t off = pageaddr.value() % seg_size_;
  if (segno != open_segno_ || !file_) {
    Status missing;
    file_.reset();
    for (TimelineId tli : TimelinesForSegment(history_, segno, seg_size_)) {
      std::string path = wal_dir_ + "/" + XLogFileName(tli, segno, seg_size_);
      if (!fs_->Exists(path)) {
        if (missing.ok()) {
          missing = Status::NotFound(fmt::format("could not open file \"{}\"", path));
        }
        continue;
      }
      auto f = fs_->OpenRandomAccess(path, false);
      if (!f.ok()) return f.TakeStatus();
      file_ = std::move(*f);
      file_tli_ = tli;
      break;
    }
    if (!file_) return missing;
    open_segno_ = segno;
    window_.clear();
  }
  if (off < window_start_ || off + kXlogBlcksz > window_start_ + window_.size()) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(kReadAhead, seg_size_ - off));
    window_.clear();
    WALREP_ASSIGN_OR_RETURN(window_, file_->ReadAt(off, len));
    window_start_ = off;
  }
  if (off + kXlogBlcksz > window_start_ + window_.size()) {
    return Status::Corruption(fmt::format("could not read WAL page at {}", pageaddr.ToString()));
  }
  return std::string_view(window_).substr(off - window_start_, kXlogBlcksz);
}

Result<DecodedRecord> WalReader::ReadRecord(Lsn lsn, Lsn expected_prev) {
  auto rec = ReadRecordOnce(lsn, expected_prev);
  if (rec.ok() || window_.empty()) return rec;
  // The window may predate the record's bytes (WAL still arriving), or a newer timeline's copy
  // of the segment may have appeared: look the file up and read them afresh.
  window_.clear();
  file_.reset();
  return ReadRecordOnce(lsn, expected_prev);
}

Status WalReader::CheckPageTimeline(const PageHeader& hdr, Lsn page_addr) const {
  // A file of an older timeline holds, past that timeline's switch point, WAL the history does
  // not follow: the old primary's discarded writes, kept in a rewound server's pg_wal. Pages the
  // history places on a later timeline were written on that timeline or a later one
  // (PostgreSQL's reader rejects a page whose timeline goes backwards the same way).
  for (const auto& e : history_) {
    if (e.begin.valid() && page_addr >= e.begin && (!e.end.valid() || page_addr < e.end)) {
      if (hdr.tli < e.tli) {
        return Status::Corruption(fmt::format(
            "out-of-sequence timeline ID {} (after {}) in WAL segment {}, offset {}", hdr.tli,
            e.tli, XLogFileName(file_tli_, SegmentOf(page_addr, seg_size_), seg_size_),
            page_addr.value() % seg_size_));
      }
      break;
    }
  }
  return Status::OK();
}

Result<DecodedRecord> WalReader::ReadRecordOnce(Lsn lsn, Lsn expected_prev) {
  // A record LSN that falls on a page boundary means "after that page's header".
  if (lsn.value() % kXlogBlcksz == 0) lsn = lsn + HeaderSizeAt(lsn);
  Lsn page_addr(lsn.value() - lsn.value() % kXlogBlcksz);
  WALREP_ASSIGN_OR_RETURN(std::string_view page, ReadPage(page_addr));
  WALREP_ASSIGN_OR_RETURN(PageHeader hdr, DecodePageHeader(page, page_addr, seg_size_));
  WALREP_RETURN_IF_ERROR(CheckPageTimeline(hdr, page_addr));
  // Nor is a record at or past the switch point read from the older timeline's file (the page
  // holding the switch point is on both).
  if (Lsn end = TimelineSwitchPoint(history_, file_tli_); end.valid() && lsn >= end) {
    return Status::NotFound(
        fmt::format("WAL at {} is on a later timeline than file {}", lsn.ToString(),
                    XLogFileName(file_tli_, SegmentOf(lsn, seg_size_), seg_size_)));
  }
  uint32_t off = static_cast<uint32_t>(lsn.value() % kXlogBlcksz);
  if (off < hdr.size()) {
    return Status::Corruption(fmt::format("invalid record offset at {}", lsn.ToString()));
  }
  uint32_t tot_len;
  std::memcpy(&tot_len, page.data() + off, 4);
  if (tot_len < kRecordHeaderSize) {
    return Status::Corruption(
        fmt::format("invalid record length at {}: wanted 24, got {}", lsn.ToString(), tot_len));
  }
  if (tot_len > 1024u * 1024 * 1024) {
    return Status::Corruption(
        fmt::format("record length {} at {} too long", tot_len, lsn.ToString()));
  }
  std::string rec;
  // A corrupt or hostile length allocates nothing up front: the record grows as its
  // continuation pages arrive.
  rec.reserve(std::min<size_t>(tot_len, 1 << 20));
  size_t take = std::min<size_t>(tot_len, kXlogBlcksz - off);
  rec.append(page.substr(off, take));
  Lsn pos = lsn + take;
  while (rec.size() < tot_len) {
    Lsn next_page(pos.value());  // pos is at a page boundary here
    WALREP_ASSIGN_OR_RETURN(page, ReadPage(next_page));
    WALREP_ASSIGN_OR_RETURN(hdr, DecodePageHeader(page, next_page, seg_size_));
    WALREP_RETURN_IF_ERROR(CheckPageTimeline(hdr, next_page));
    if (!(hdr.info & kXlpFirstIsContrecord)) {
      return Status::Corruption(
          fmt::format("there is no contrecord flag at {}", next_page.ToString()));
    }
    uint32_t remaining = tot_len - static_cast<uint32_t>(rec.size());
    if (hdr.rem_len != remaining) {
      return Status::Corruption(fmt::format("invalid contrecord length {} (expected {}) at {}",
                                            hdr.rem_len, remaining, next_page.ToString()));
    }
    size_t n = std::min<size_t>(remaining, kXlogBlcksz - hdr.size());
    rec.append(page.substr(hdr.size(), n));
    pos = next_page + hdr.size() + n;
  }
  WALREP_ASSIGN_OR_RETURN(DecodedRecord d, DecodeRecord(rec, lsn));
  if (expected_prev.valid() ? d.prev != expected_prev : d.prev >= lsn) {
    return Status::Corruption(
        fmt::format("record with incorrect prev-link {} at {}", d.prev.ToString(), lsn.ToString()));
  }
  d.end_lsn = pos;
  return d;
}

Lsn WalReader::NextRecordLsn(const DecodedRecord& rec) const {
  if (rec.rmid == kRmXlog && (rec.info & 0xF0) == kXlogSwitch) {
    uint64_t seg = rec.end_lsn.value() / seg_size_;
    if (rec.end_lsn.value() % seg_size_) seg++;
    return Lsn(seg * seg_size_);
  }
  return Lsn(MaxAlign(rec.end_lsn.value()));
}

Result<WalReader::End> WalReader::FindEnd(Lsn start) {
  WALREP_ASSIGN_OR_RETURN(DecodedRecord rec, ReadRecord(start));
  End end{rec.lsn, NextRecordLsn(rec), Status::OK()};
  while (true) {
    auto next = ReadRecord(end.end, end.last_record);
    if (!next.ok()) {
      end.reason = next.TakeStatus();
      return end;
    }
    end.last_record = next->lsn;
    end.end = NextRecordLsn(*next);
  }
}

}  // namespace walrep::wal
