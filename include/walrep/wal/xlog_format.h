// walrep: PostgreSQL 15 WAL framing — the format shared by the WAL writer and reader.
//
// Facts from shared/reference/wal-format.md, checked against PostgreSQL 15's pg_waldump.
// Everything on disk is little-endian (x86-64 native, as PostgreSQL writes it).
//
// Segment: 16 MB file named %08X%08X%08X (timeline, segno / 256, segno % 256), of 8 KB pages.
// Page header (24 bytes; the first page of a segment has the 40-byte long form):
//   +0 u16 xlp_magic (0xD110)  +2 u16 xlp_info  +4 u32 xlp_tli  +8 u64 xlp_pageaddr
//   +16 u32 xlp_rem_len  +20 pad4 | long: +24 u64 xlp_sysid  +32 u32 seg_size  +36 u32 blcksz
// Record (8-byte aligned start; may continue across pages and segments after their headers):
//   +0 u32 xl_tot_len  +4 u32 xl_xid  +8 u64 xl_prev  +16 u8 xl_info  +17 u8 xl_rmid
//   +18 u16 pad (zero)  +20 u32 xl_crc
//   then block headers, optional main-data header (0xFF u8 len | 0xFE u32 len), then block
//   images and data in header order, then main data.
//   xl_crc = CRC-32C over bytes [24, tot_len) first, then bytes [0, 20).
//
// Resource-manager ids are append-only: 0..21 are PostgreSQL's; walrep's own records use the
// custom range 128..255, documented in docs/wal-records.md. Never renumber an id.
// Thread safety: pure functions and values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/status.h"

namespace walrep::wal {

constexpr uint16_t kXlogPageMagic = 0xD110;
constexpr uint32_t kXlogBlcksz = 8192;
constexpr uint64_t kDefaultSegSize = 16 * 1024 * 1024;
constexpr uint32_t kShortPageHeaderSize = 24;
constexpr uint32_t kLongPageHeaderSize = 40;
constexpr uint32_t kRecordHeaderSize = 24;
constexpr uint32_t kBlcksz = 8192;  // data page size

// xlp_info bits.
constexpr uint16_t kXlpFirstIsContrecord = 0x0001;
constexpr uint16_t kXlpLongHeader = 0x0002;
constexpr uint16_t kXlpBkpRemovable = 0x0004;
constexpr uint16_t kXlpAllFlags = 0x000F;

// Resource managers (rmgrlist.h order; append-only).
enum RmgrId : uint8_t {
  kRmXlog = 0,
  kRmXact = 1,
  kRmSmgr = 2,
  kRmClog = 3,
  kRmDbase = 4,
  kRmTblspc = 5,
  kRmMultiXact = 6,
  kRmRelMap = 7,
  kRmStandby = 8,
  kRmHeap2 = 9,
  kRmHeap = 10,
  kRmBtree = 11,
  kRmSequence = 15,
  kRmMaxBuiltin = 21,
  kRmMinCustom = 128,
};

// RM_XLOG_ID info values.
constexpr uint8_t kXlogCheckpointShutdown = 0x00;
constexpr uint8_t kXlogCheckpointOnline = 0x10;
constexpr uint8_t kXlogNoop = 0x20;
constexpr uint8_t kXlogNextOid = 0x30;
constexpr uint8_t kXlogSwitch = 0x40;
constexpr uint8_t kXlogBackupEnd = 0x50;
constexpr uint8_t kXlogParameterChange = 0x60;
constexpr uint8_t kXlogRestorePoint = 0x70;  // xl_restore_point: int64 rp_time, char rp_name[64]
constexpr uint8_t kXlogEndOfRecovery = 0x90;
constexpr uint8_t kXlogFpi = 0xB0;
// RM_XACT_ID info values.
constexpr uint8_t kXactCommit = 0x00;
constexpr uint8_t kXactAbort = 0x20;
constexpr uint8_t kXactOpMask = 0x70;
constexpr uint8_t kXactHasInfo = 0x80;
// RM_STANDBY_ID info values.
constexpr uint8_t kStandbyLock = 0x00;  // xl_standby_locks: int32 nlocks, {xid, db, rel}...
constexpr uint8_t kStandbyRunningXacts = 0x10;

// Block reference flags.
constexpr uint8_t kBkpBlockForkMask = 0x0F;
constexpr uint8_t kBkpBlockHasImage = 0x10;
constexpr uint8_t kBkpBlockHasData = 0x20;
constexpr uint8_t kBkpBlockWillInit = 0x40;
constexpr uint8_t kBkpBlockSameRel = 0x80;
constexpr uint8_t kBkpImageHasHole = 0x01;
constexpr uint8_t kBkpImageApply = 0x02;
constexpr uint8_t kMaxBlockId = 32;
constexpr uint8_t kBlockIdDataShort = 255;
constexpr uint8_t kBlockIdDataLong = 254;

inline uint64_t MaxAlign(uint64_t x) { return (x + 7) & ~uint64_t{7}; }

// Segment arithmetic and file names.
inline XLogSegNo SegmentOf(Lsn lsn, uint64_t seg_size) { return lsn.value() / seg_size; }
inline Lsn SegmentStart(XLogSegNo segno, uint64_t seg_size) { return Lsn(segno * seg_size); }
std::string XLogFileName(TimelineId tli, XLogSegNo segno, uint64_t seg_size);
// True for a 24-hex-digit segment name; fills tli and segno.
bool ParseXLogFileName(std::string_view name, uint64_t seg_size, TimelineId* tli, XLogSegNo* segno);

struct PageHeader {
  uint16_t magic = kXlogPageMagic;
  uint16_t info = 0;
  TimelineId tli = 1;
  uint64_t pageaddr = 0;
  uint32_t rem_len = 0;
  // Long header only.
  uint64_t sysid = 0;
  uint32_t seg_size = 0;
  uint32_t blcksz = 0;
  uint32_t size() const {
    return (info & kXlpLongHeader) ? kLongPageHeaderSize : kShortPageHeaderSize;
  }
};
std::string EncodePageHeader(const PageHeader& h);
// Parses and checks a page header read at `pageaddr`; errors use pg_waldump's texts.
Result<PageHeader> DecodePageHeader(std::string_view page, Lsn pageaddr, uint64_t seg_size);

// PostgreSQL's RelFileNode: tablespace, database, relation file.
struct RelFileNode {
  uint32_t spc = 1663;  // pg_default
  uint32_t db = 0;
  uint32_t rel = 0;
  bool operator==(const RelFileNode&) const = default;
};

// A registered block: what a record changes in one page.
struct BlockRef {
  uint8_t id = 0;
  uint8_t fork = 0;
  RelFileNode rnode;
  uint32_t block = 0;
  bool will_init = false;
  bool has_image = false;
  bool apply_image = false;
  std::string image;  // the full 8192-byte page when has_image (hole restored on decode)
  std::string data;
};

// Builds the record body (everything after the 24-byte header).
// Counterpart: XLogRegisterBuffer/XLogRegisterData/XLogRecordAssemble in PostgreSQL.
class RecordBuilder {
 public:
  RecordBuilder& AddBlock(BlockRef b);
  RecordBuilder& SetMainData(std::string data);
  std::string BuildBody() const;

 private:
  std::vector<BlockRef> blocks_;
  std::string main_;
};

// The complete record with its header and CRC.
std::string AssembleRecord(uint32_t xid, Lsn prev, uint8_t info, uint8_t rmid,
                           std::string_view body);

struct DecodedRecord {
  Lsn lsn;      // of the header's first byte
  Lsn end_lsn;  // just after the last byte (not aligned)
  uint32_t tot_len = 0;
  TransactionId xid = 0;
  Lsn prev;
  uint8_t info = 0;
  uint8_t rmid = 0;
  std::vector<BlockRef> blocks;
  std::string main_data;
};

// Decodes and verifies a whole record (header + body); errors use pg_waldump's texts.
Result<DecodedRecord> DecodeRecord(std::string_view rec, Lsn lsn);

// CheckPoint (88 bytes), the main data of checkpoint records and the copy in pg_control.
#pragma pack(push, 1)
struct CheckPoint {
  uint64_t redo = 0;
  uint32_t this_timeline = 1;
  uint32_t prev_timeline = 1;
  uint8_t full_page_writes = 1;
  uint8_t pad1[7] = {};
  uint64_t next_xid = 0;  // FullTransactionId: epoch << 32 | xid
  uint32_t next_oid = 0;
  uint32_t next_multi = 1;
  uint32_t next_multi_offset = 0;
  uint32_t oldest_xid = 0;
  uint32_t oldest_xid_db = 1;
  uint32_t oldest_multi = 1;
  uint32_t oldest_multi_db = 1;
  uint32_t pad2 = 0;
  int64_t time = 0;  // Unix seconds
  uint32_t oldest_commit_ts_xid = 0;
  uint32_t newest_commit_ts_xid = 0;
  uint32_t oldest_active_xid = 0;
  uint32_t pad3 = 0;
};
#pragma pack(pop)
static_assert(sizeof(CheckPoint) == 88);

std::string EncodeCheckPoint(const CheckPoint& c);
Result<CheckPoint> DecodeCheckPoint(std::string_view data);

}  // namespace walrep::wal
