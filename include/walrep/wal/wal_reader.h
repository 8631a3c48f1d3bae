// walrep: reading and verifying WAL records from pg_wal segment files.
//
// ReadRecord(lsn) gathers a record across page and segment boundaries, checks every page header
// (magic, info bits, pageaddr, continuation flag and length), the record's CRC and its prev-link,
// and decodes it. The first error after the last good record is the end of WAL: a torn write, a
// zeroed tail or a missing segment all end there, with pg_waldump's wording.
// Pages are read ahead in windows of kReadAhead bytes. WAL still being written (a standby's
// receiver appends while the startup thread reads) may be cached before it is complete, so a
// record that fails to read from the window is read again from the file before the error
// counts.
// Counterpart: xlogreader.c in PostgreSQL.
// Thread safety: a WalReader belongs to one thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "walrep/io/file_system.h"
#include "walrep/wal/timeline.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::wal {

class WalReader {
 public:
  // `fs` must outlive the reader. Segments are looked up as <wal_dir>/<tli><segno>.
  WalReader(io::FileSystem* fs, std::string wal_dir, TimelineId tli,
            uint64_t seg_size = kDefaultSegSize);
  // Follows `history`: a segment is read from the newest timeline of the history that began
  // at or before it and whose file exists (PostgreSQL's XLogFileReadAnyTLI), so WAL before a
  // switch point comes from the parent's files and the switch segment from the child's copy.
  WalReader(io::FileSystem* fs, std::string wal_dir, TimelineHistory history,
            uint64_t seg_size = kDefaultSegSize);
  // A newer history (a timeline switch found while following); the next read re-opens files.
  void SetHistory(TimelineHistory history);
  const TimelineHistory& history() const { return history_; }
  // The timeline whose file the last page was read from.
  TimelineId file_timeline() const { return file_tli_; }

  // Reads the record at `lsn`. `expected_prev`: the previous record's LSN, or an invalid Lsn
  // to only require prev < lsn (the first record read after a seek).
  Result<DecodedRecord> ReadRecord(Lsn lsn, Lsn expected_prev = Lsn());
  // Where the record after `rec` starts (the next segment after XLOG_SWITCH).
  Lsn NextRecordLsn(const DecodedRecord& rec) const;

  // Reads forward from `start` until the first invalid record; returns the LSN of the last
  // valid record and where the next one would go. `start` must hold a valid record.
  struct End {
    Lsn last_record;
    Lsn end;        // insert position for new WAL
    Status reason;  // why reading stopped
  };
  Result<End> FindEnd(Lsn start);

 private:
  static constexpr size_t kReadAhead = 128 * 1024;
  Result<DecodedRecord> ReadRecordOnce(Lsn lsn, Lsn expected_prev);
  // Corruption when the page at page_addr was written on an older timeline than the history
  // places that address on.
  Status CheckPageTimeline(const PageHeader& hdr, Lsn page_addr) const;
  // The page at pageaddr, valid until the next call.
  Result<std::string_view> ReadPage(Lsn pageaddr);
  uint32_t HeaderSizeAt(Lsn page) const {
    return page.value() % seg_size_ == 0 ? kLongPageHeaderSize : kShortPageHeaderSize;
  }

  io::FileSystem* const fs_;
  const std::string wal_dir_;
  TimelineHistory history_;
  const uint64_t seg_size_;
  TimelineId file_tli_ = 0;
  XLogSegNo open_segno_ = ~0ull;
  std::unique_ptr<io::RandomAccessFile> file_;
  std::string window_;  // bytes of segment open_segno_ from window_start_
  uint64_t window_start_ = 0;
};

}  // namespace walrep::wal
