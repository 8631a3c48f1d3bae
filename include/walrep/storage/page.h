// walrep: 8 KB data pages, laid out like PostgreSQL's slotted pages.
//
//   +0  u64 pd_lsn        LSN of the last WAL record that changed the page
//   +8  u16 pd_checksum   (data checksums) CRC-32C of the page, folded to 16 bits, with the
//                         block number mixed in, computed with this field zero
//   +10 u16 pd_flags
//   +12 u16 pd_lower      end of the line-pointer array
//   +14 u16 pd_upper      start of tuple space (tuples grow down from the end)
//   +16 u16 pd_special    start of the special space (8192 for heap pages)
//   +18 u16 pd_pagesize_version  8192 | 4
//   +20 u32 pd_prune_xid
//   +24 line pointers, 4 bytes each: lp_off (15 bits) | lp_flags (2 bits) | lp_len (15 bits)
// Offsets (line pointer numbers) are 1-based, as in PostgreSQL.
// Thread safety: a Page is a view over a buffer; callers hold the buffer's content lock.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/status.h"

namespace walrep::storage {

constexpr uint32_t kPageSize = 8192;
constexpr uint32_t kPageHeaderSize = 24;
constexpr uint32_t kItemIdSize = 4;
using BlockNumber = uint32_t;
using OffsetNumber = uint16_t;
constexpr BlockNumber kInvalidBlock = 0xFFFFFFFF;

enum class ItemState : uint8_t { kUnused = 0, kNormal = 1, kRedirect = 2, kDead = 3 };

class Page {
 public:
  explicit Page(char* data) : d_(data) {}

  static void Init(char* data, uint16_t special_size = 0);
  bool IsNew() const;  // all-zero page (never initialised)

  Lsn lsn() const { return Lsn(Get<uint64_t>(0)); }
  void set_lsn(Lsn l) { Put<uint64_t>(0, l.value()); }
  uint16_t lower() const { return Get<uint16_t>(12); }
  uint16_t upper() const { return Get<uint16_t>(14); }
  OffsetNumber max_offset() const {
    return static_cast<OffsetNumber>((lower() - kPageHeaderSize) / kItemIdSize);
  }
  size_t FreeSpace() const;  // bytes available for one new item including its line pointer

  // Adds an item at the first unused line pointer or a new one (or at `at`, when redo must
  // reproduce an offset); returns the offset, or 0 when it does not fit.
  OffsetNumber AddItem(std::string_view item, OffsetNumber at = 0);
  // Inserts an item at offset `at` (1 .. max_offset() + 1), moving the line pointers from `at`
  // on up by one, as index pages keep items in order; false when it does not fit.
  bool InsertItemAt(OffsetNumber at, std::string_view item);
  ItemState state(OffsetNumber off) const;
  std::string_view Item(OffsetNumber off) const;
  char* MutableItem(OffsetNumber off);
  // kUnused line pointers may be taken by the next AddItem (the page remembers it has some, as
  // PostgreSQL's PD_HAS_FREE_LINES). A redirect is set with SetRedirect.
  void SetState(OffsetNumber off, ItemState s);
  // A redirect line pointer (the root of a HOT chain whose first versions are gone) points at
  // the offset of the chain's first remaining version.
  void SetRedirect(OffsetNumber off, OffsetNumber target);
  OffsetNumber RedirectTarget(OffsetNumber off) const;
  // Rewrites tuple space without dead, unused and redirect items; line pointers keep their
  // numbers.
  void Compact();
  // Removes the items at `offsets` (ascending, each at most max_offset()) and compacts the page:
  // the items after a removed one move down, as in an index page, where no one keeps offsets.
  // Copies raw bytes only, so it is cheap enough to run for every insert that finds dead index
  // entries. Kept items must be normal ones.
  void DeleteItems(const std::vector<OffsetNumber>& offsets);

  uint16_t ComputeChecksum(BlockNumber block) const;
  void SetChecksum(BlockNumber block) { Put<uint16_t>(8, ComputeChecksum(block)); }
  bool VerifyChecksum(BlockNumber block) const {
    return Get<uint16_t>(8) == ComputeChecksum(block);
  }

  char* data() { return d_; }
  const char* data() const { return d_; }

 private:
  template <typename T>
  T Get(size_t off) const {
    T v;
    std::memcpy(&v, d_ + off, sizeof(T));
    return v;
  }
  template <typename T>
  void Put(size_t off, T v) {
    std::memcpy(d_ + off, &v, sizeof(T));
  }
  uint32_t ItemId(OffsetNumber off) const { return Get<uint32_t>(kPageHeaderSize + (off - 1) * 4); }
  void SetItemId(OffsetNumber off, uint32_t v) {
    Put<uint32_t>(kPageHeaderSize + (off - 1) * 4, v);
  }

  char* d_;
};

}  // namespace walrep::storage
