// walrep: PostgreSQL 15 WAL framing (see xlog_format.h).
#include "walrep/wal/xlog_format.h"

#include <fmt/format.h>

#include <cstring>

#include "walrep/common/crc32c.h"

namespace walrep::wal {

namespace {

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <typename T>
bool Get(std::string_view in, size_t* pos, T* v) {
  if (in.size() - *pos < sizeof(T)) return false;
  std::memcpy(v, in.data() + *pos, sizeof(T));
  *pos += sizeof(T);
  return true;
}

// Hole of a standard data page: pd_lower..pd_upper when the header looks sane.
void FindHole(const std::string& page, uint16_t* offset, uint16_t* length) {
  *offset = 0;
  *length = 0;
  if (page.size() != kBlcksz) return;
  uint16_t lower, upper;
  std::memcpy(&lower, page.data() + 12, 2);
  std::memcpy(&upper, page.data() + 14, 2);
  if (lower >= 24 && lower < upper && upper <= kBlcksz) {
    *offset = lower;
    *length = static_cast<uint16_t>(upper - lower);
  }
}

Status InvalidRecordLength(Lsn lsn, uint32_t got) {
  return Status::Corruption(
      fmt::format("invalid record length at {}: wanted 24, got {}", lsn.ToString(), got));
}

}  // namespace

std::string XLogFileName(TimelineId tli, XLogSegNo segno, uint64_t seg_size) {
  uint64_t per_id = 0x100000000ULL / seg_size;
  return fmt::format("{:08X}{:08X}{:08X}", tli, static_cast<uint32_t>(segno / per_id),
                     static_cast<uint32_t>(segno % per_id));
}

bool ParseXLogFileName(std::string_view name, uint64_t seg_size, TimelineId* tli,
                       XLogSegNo* segno) {
  if (name.size() != 24) return false;
  for (char c : name) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::islower(static_cast<unsigned char>(c)))
      return false;
  }
  auto hex = [&](size_t off) {
    return static_cast<uint32_t>(
        std::strtoul(std::string(name.substr(off, 8)).c_str(), nullptr, 16));
  };
  uint64_t per_id = 0x100000000ULL / seg_size;
  *tli = hex(0);
  *segno = static_cast<uint64_t>(hex(8)) * per_id + hex(16);
  return true;
}

std::string EncodePageHeader(const PageHeader& h) {
  std::string out;
  Put(&out, h.magic);
  Put(&out, h.info);
  Put(&out, h.tli);
  Put(&out, h.pageaddr);
  Put(&out, h.rem_len);
  Put(&out, uint32_t{0});
  if (h.info & kXlpLongHeader) {
    Put(&out, h.sysid);
    Put(&out, h.seg_size);
    Put(&out, h.blcksz);
  }
  return out;
}

Result<PageHeader> DecodePageHeader(std::string_view page, Lsn pageaddr, uint64_t seg_size) {
  PageHeader h;
  size_t pos = 0;
  uint32_t pad;
  if (!Get(page, &pos, &h.magic) || !Get(page, &pos, &h.info) || !Get(page, &pos, &h.tli) ||
      !Get(page, &pos, &h.pageaddr) || !Get(page, &pos, &h.rem_len) || !Get(page, &pos, &pad)) {
    return Status::Corruption("short WAL page");
  }
  uint64_t off = pageaddr.value() % seg_size;
  std::string where = fmt::format("offset {}", off);
  if (h.magic != kXlogPageMagic) {
    return Status::Corruption(
        fmt::format("invalid magic number {:04X} in log segment, {}", h.magic, where));
  }
  if (h.info & ~kXlpAllFlags) {
    return Status::Corruption(
        fmt::format("invalid info bits {:04X} in log segment, {}", h.info, where));
  }
  if (h.pageaddr != pageaddr.value()) {
    return Status::Corruption(fmt::format("unexpected pageaddr {} in log segment, {}",
                                          Lsn(h.pageaddr).ToString(), where));
  }
  if (off == 0) {
    if (!(h.info & kXlpLongHeader)) {
      return Status::Corruption(
          fmt::format("invalid info bits {:04X} in log segment, {}", h.info, where));
    }
    if (!Get(page, &pos, &h.sysid) || !Get(page, &pos, &h.seg_size) ||
        !Get(page, &pos, &h.blcksz)) {
      return Status::Corruption("short WAL page");
    }
    if (h.seg_size != seg_size || h.blcksz != kXlogBlcksz) {
      return Status::Corruption("WAL file has an unexpected segment or block size");
    }
  }
  return h;
}

RecordBuilder& RecordBuilder::AddBlock(BlockRef b) {
  blocks_.push_back(std::move(b));
  return *this;
}

RecordBuilder& RecordBuilder::SetMainData(std::string data) {
  main_ = std::move(data);
  return *this;
}

std::string RecordBuilder::BuildBody() const {
  std::string headers, payload;
  const RelFileNode* prev_rel = nullptr;
  for (const auto& b : blocks_) {
    uint8_t flags = b.fork & kBkpBlockForkMask;
    if (b.has_image) flags |= kBkpBlockHasImage;
    if (!b.data.empty()) flags |= kBkpBlockHasData;
    if (b.will_init) flags |= kBkpBlockWillInit;
    bool same_rel = prev_rel && *prev_rel == b.rnode;
    if (same_rel) flags |= kBkpBlockSameRel;
    Put(&headers, b.id);
    Put(&headers, flags);
    Put(&headers, static_cast<uint16_t>(b.data.size()));
    if (b.has_image) {
      uint16_t hole_off, hole_len;
      FindHole(b.image, &hole_off, &hole_len);
      uint8_t bimg = hole_len ? kBkpImageHasHole : 0;
      if (b.apply_image) bimg |= kBkpImageApply;
      Put(&headers, static_cast<uint16_t>(kBlcksz - hole_len));
      Put(&headers, hole_off);
      Put(&headers, bimg);
      payload.append(b.image, 0, hole_off ? hole_off : kBlcksz);
      if (hole_len) payload.append(b.image, hole_off + hole_len, std::string::npos);
    }
    if (!same_rel) {
      Put(&headers, b.rnode.spc);
      Put(&headers, b.rnode.db);
      Put(&headers, b.rnode.rel);
    }
    Put(&headers, b.block);
    payload += b.data;
    prev_rel = &b.rnode;
  }
  if (!main_.empty()) {
    if (main_.size() < 256) {
      Put(&headers, kBlockIdDataShort);
      Put(&headers, static_cast<uint8_t>(main_.size()));
    } else {
      Put(&headers, kBlockIdDataLong);
      Put(&headers, static_cast<uint32_t>(main_.size()));
    }
    payload += main_;
  }
  return headers + payload;
}

std::string AssembleRecord(uint32_t xid, Lsn prev, uint8_t info, uint8_t rmid,
                           std::string_view body) {
  std::string rec;
  rec.reserve(kRecordHeaderSize + body.size());
  Put(&rec, static_cast<uint32_t>(kRecordHeaderSize + body.size()));
  Put(&rec, xid);
  Put(&rec, prev.value());
  Put(&rec, info);
  Put(&rec, rmid);
  Put(&rec, uint16_t{0});
  uint32_t crc = crc32c::Value(body.data(), body.size());
  crc = crc32c::Extend(crc, rec.data(), 20);
  Put(&rec, crc);
  rec.append(body);
  return rec;
}

Result<DecodedRecord> DecodeRecord(std::string_view rec, Lsn lsn) {
  DecodedRecord d;
  d.lsn = lsn;
  size_t pos = 0;
  uint64_t prev;
  uint16_t pad;
  uint32_t crc;
  if (rec.size() < kRecordHeaderSize)
    return InvalidRecordLength(lsn, static_cast<uint32_t>(rec.size()));
  Get(rec, &pos, &d.tot_len);
  Get(rec, &pos, &d.xid);
  Get(rec, &pos, &prev);
  Get(rec, &pos, &d.info);
  Get(rec, &pos, &d.rmid);
  Get(rec, &pos, &pad);
  Get(rec, &pos, &crc);
  d.prev = Lsn(prev);
  if (d.tot_len < kRecordHeaderSize) return InvalidRecordLength(lsn, d.tot_len);
  if (d.tot_len != rec.size()) {
    return Status::Corruption(fmt::format("invalid record length at {}", lsn.ToString()));
  }
  if (d.rmid > kRmMaxBuiltin && d.rmid < kRmMinCustom) {
    return Status::Corruption(
        fmt::format("invalid resource manager ID {} at {}", d.rmid, lsn.ToString()));
  }
  uint32_t want = crc32c::Value(rec.data() + kRecordHeaderSize, rec.size() - kRecordHeaderSize);
  want = crc32c::Extend(want, rec.data(), 20);
  if (want != crc) {
    return Status::Corruption(
        fmt::format("incorrect resource manager data checksum in record at {}", lsn.ToString()));
  }
  // Block and main-data headers, then payloads in the same order.
  struct Pending {
    BlockRef ref;
    uint16_t data_len = 0;
    uint16_t image_len = 0;
    uint16_t hole_off = 0;
    uint8_t bimg = 0;
  };
  std::vector<Pending> blocks;
  uint32_t main_len = 0;
  auto bad = [&]() {
    return Status::Corruption(
        fmt::format("invalid block reference in record at {}", lsn.ToString()));
  };
  const RelFileNode* last_rel = nullptr;
  // Headers end where the remaining bytes equal the payload they announced (as xlogreader.c
  // decides): a record without main data has no terminator.
  size_t datatotal = 0;
  while (rec.size() - pos > datatotal) {
    uint8_t id = 0;
    Get(rec, &pos, &id);
    if (id == kBlockIdDataShort) {
      uint8_t l;
      if (!Get(rec, &pos, &l)) return bad();
      main_len = l;
      datatotal += main_len;
      break;
    }
    if (id == kBlockIdDataLong) {
      if (!Get(rec, &pos, &main_len)) return bad();
      datatotal += main_len;
      break;
    }
    if (id == 253 || id == 252) {  // replication origin / top-level xid: skip their values
      if (id == 253) {
        uint16_t origin;
        if (!Get(rec, &pos, &origin)) return bad();
      } else {
        uint32_t top;
        if (!Get(rec, &pos, &top)) return bad();
      }
      continue;
    }
    if (id > kMaxBlockId) {
      return Status::Corruption(fmt::format("invalid block_id {} at {}", id, lsn.ToString()));
    }
    Pending p;
    uint8_t flags;
    if (!Get(rec, &pos, &flags) || !Get(rec, &pos, &p.data_len)) return bad();
    p.ref.id = id;
    p.ref.fork = flags & kBkpBlockForkMask;
    p.ref.will_init = flags & kBkpBlockWillInit;
    p.ref.has_image = flags & kBkpBlockHasImage;
    if (((flags & kBkpBlockHasData) != 0) != (p.data_len > 0)) return bad();
    if (p.ref.has_image) {
      if (!Get(rec, &pos, &p.image_len) || !Get(rec, &pos, &p.hole_off) ||
          !Get(rec, &pos, &p.bimg)) {
        return bad();
      }
      if (p.bimg & ~(kBkpImageHasHole | kBkpImageApply)) {
        return Status::NotSupported("compressed full-page images are not supported");
      }
      p.ref.apply_image = p.bimg & kBkpImageApply;
    }
    if (!(flags & kBkpBlockSameRel)) {
      if (!Get(rec, &pos, &p.ref.rnode.spc) || !Get(rec, &pos, &p.ref.rnode.db) ||
          !Get(rec, &pos, &p.ref.rnode.rel)) {
        return bad();
      }
    } else {
      if (!last_rel) return bad();
      p.ref.rnode = *last_rel;
    }
    if (!Get(rec, &pos, &p.ref.block)) return bad();
    datatotal += p.data_len + (p.ref.has_image ? p.image_len : 0);
    blocks.push_back(std::move(p));
    last_rel = &blocks.back().ref.rnode;
  }
  for (auto& p : blocks) {
    if (p.ref.has_image) {
      if (rec.size() - pos < p.image_len) return bad();
      std::string_view img = rec.substr(pos, p.image_len);
      pos += p.image_len;
      if (p.bimg & kBkpImageHasHole) {
        uint32_t hole_len = kBlcksz - p.image_len;
        if (p.hole_off == 0 || hole_len == 0 || p.hole_off + hole_len > kBlcksz) return bad();
        p.ref.image.assign(img.substr(0, p.hole_off));
        p.ref.image.append(hole_len, '\0');
        p.ref.image.append(img.substr(p.hole_off));
      } else {
        if (p.image_len != kBlcksz) return bad();
        p.ref.image.assign(img);
      }
    }
    if (rec.size() - pos < p.data_len) return bad();
    p.ref.data.assign(rec.substr(pos, p.data_len));
    pos += p.data_len;
    d.blocks.push_back(std::move(p.ref));
  }
  if (rec.size() - pos != main_len) {
    return Status::Corruption(fmt::format("invalid record length at {}", lsn.ToString()));
  }
  d.main_data.assign(rec.substr(pos));
  return d;
}

std::string EncodeCheckPoint(const CheckPoint& c) {
  return std::string(reinterpret_cast<const char*>(&c), sizeof(c));
}

Result<CheckPoint> DecodeCheckPoint(std::string_view data) {
  if (data.size() != sizeof(CheckPoint)) return Status::Corruption("invalid checkpoint record");
  CheckPoint c;
  std::memcpy(&c, data.data(), sizeof(c));
  return c;
}

}  // namespace walrep::wal
