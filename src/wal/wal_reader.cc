// walrep: WAL reader (see wal_reader.h).
#include "walrep/wal/wal_reader.h"

#include <fmt/format.h>

#include <cstring>

namespace walrep::wal {

WalReader::WalReader(io::FileSystem* fs, std::string wal_dir, TimelineId tli, uint64_t seg_size)
    : fs_(fs), wal_dir_(std::move(wal_dir)), tli_(tli), seg_size_(seg_size) {}

Result<std::string> WalReader::ReadPage(Lsn pageaddr) {
  XLogSegNo segno = SegmentOf(pageaddr, seg_size_);
  if (segno != open_segno_ || !file_) {
    std::string path = wal_dir_ + "/" + XLogFileName(tli_, segno, seg_size_);
    auto f = fs_->OpenRandomAccess(path, false);
    if (!f.ok()) return f.TakeStatus();
    file_ = std::move(*f);
    open_segno_ = segno;
  }
  WALREP_ASSIGN_OR_RETURN(std::string page,
                          file_->ReadAt(pageaddr.value() % seg_size_, kXlogBlcksz));
  if (page.size() != kXlogBlcksz) {
    return Status::Corruption(fmt::format("could not read WAL page at {}", pageaddr.ToString()));
  }
  return page;
}

Result<DecodedRecord> WalReader::ReadRecord(Lsn lsn, Lsn expected_prev) {
  // A record LSN that falls on a page boundary means "after that page's header".
  if (lsn.value() % kXlogBlcksz == 0) lsn = lsn + HeaderSizeAt(lsn);
  Lsn page_addr(lsn.value() - lsn.value() % kXlogBlcksz);
  WALREP_ASSIGN_OR_RETURN(std::string page, ReadPage(page_addr));
  WALREP_ASSIGN_OR_RETURN(PageHeader hdr, DecodePageHeader(page, page_addr, seg_size_));
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
  rec.reserve(tot_len);
  size_t take = std::min<size_t>(tot_len, kXlogBlcksz - off);
  rec.append(page, off, take);
  Lsn pos = lsn + take;
  while (rec.size() < tot_len) {
    Lsn next_page(pos.value());  // pos is at a page boundary here
    WALREP_ASSIGN_OR_RETURN(page, ReadPage(next_page));
    WALREP_ASSIGN_OR_RETURN(hdr, DecodePageHeader(page, next_page, seg_size_));
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
    rec.append(page, hdr.size(), n);
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
