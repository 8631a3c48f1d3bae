// walrep: slotted pages (see page.h).
#include "walrep/storage/page.h"

#include <algorithm>
#include <vector>

#include "walrep/common/crc32c.h"

namespace walrep::storage {

namespace {
uint32_t MakeItemId(uint16_t off, ItemState s, uint16_t len) {
  return (static_cast<uint32_t>(off) & 0x7FFF) | (static_cast<uint32_t>(s) << 15) |
         (static_cast<uint32_t>(len & 0x7FFF) << 17);
}
uint16_t ItemOff(uint32_t id) { return static_cast<uint16_t>(id & 0x7FFF); }
ItemState ItemFlags(uint32_t id) { return static_cast<ItemState>((id >> 15) & 3); }
uint16_t ItemLen(uint32_t id) { return static_cast<uint16_t>(id >> 17); }
}  // namespace

void Page::Init(char* data, uint16_t special_size) {
  std::memset(data, 0, kPageSize);
  Page p(data);
  p.Put<uint16_t>(12, kPageHeaderSize);
  p.Put<uint16_t>(14, static_cast<uint16_t>(kPageSize - special_size));
  p.Put<uint16_t>(16, static_cast<uint16_t>(kPageSize - special_size));
  p.Put<uint16_t>(18, static_cast<uint16_t>(kPageSize | 4));
}

bool Page::IsNew() const { return Get<uint16_t>(18) == 0; }

size_t Page::FreeSpace() const {
  int space = static_cast<int>(upper()) - static_cast<int>(lower()) - static_cast<int>(kItemIdSize);
  return space > 0 ? static_cast<size_t>(space) : 0;
}

namespace {
constexpr uint16_t kHasFreeLines = 0x0001;  // pd_flags: some line pointer is unused
}  // namespace

OffsetNumber Page::AddItem(std::string_view item, OffsetNumber at) {
  size_t len = item.size();
  size_t aligned = (len + 7) & ~size_t{7};
  OffsetNumber off = at;
  if (!off && (Get<uint16_t>(10) & kHasFreeLines)) {
    for (OffsetNumber o = 1; o <= max_offset() && !off; o++) {
      if (ItemFlags(ItemId(o)) == ItemState::kUnused) off = o;
    }
    if (!off) Put<uint16_t>(10, static_cast<uint16_t>(Get<uint16_t>(10) & ~kHasFreeLines));
  }
  if (!off) off = static_cast<OffsetNumber>(max_offset() + 1);
  bool new_slot = off > max_offset();
  size_t need = aligned + (new_slot ? kItemIdSize * (off - max_offset()) : 0);
  if (static_cast<size_t>(upper() - lower()) < need || len > 0x7FFF) return 0;
  uint16_t new_upper = static_cast<uint16_t>(upper() - aligned);
  std::memcpy(d_ + new_upper, item.data(), len);
  if (new_slot) {
    // Slots skipped by an explicit offset stay unused.
    for (OffsetNumber o = static_cast<OffsetNumber>(max_offset() + 1); o < off; o++) {
      Put<uint16_t>(12, static_cast<uint16_t>(lower() + kItemIdSize));
      SetItemId(o, 0);
    }
    Put<uint16_t>(12, static_cast<uint16_t>(lower() + kItemIdSize));
  }
  SetItemId(off, MakeItemId(new_upper, ItemState::kNormal, static_cast<uint16_t>(len)));
  Put<uint16_t>(14, new_upper);
  return off;
}

bool Page::InsertItemAt(OffsetNumber at, std::string_view item) {
  size_t len = item.size();
  size_t aligned = (len + 7) & ~size_t{7};
  OffsetNumber n = max_offset();
  if (at < 1 || at > n + 1) return false;
  if (static_cast<size_t>(upper() - lower()) < aligned + kItemIdSize || len > 0x7FFF) return false;
  uint16_t new_upper = static_cast<uint16_t>(upper() - aligned);
  std::memcpy(d_ + new_upper, item.data(), len);
  size_t from = kPageHeaderSize + (at - 1) * kItemIdSize;
  std::memmove(d_ + from + kItemIdSize, d_ + from, (n - at + 1) * kItemIdSize);
  Put<uint16_t>(12, static_cast<uint16_t>(lower() + kItemIdSize));
  SetItemId(at, MakeItemId(new_upper, ItemState::kNormal, static_cast<uint16_t>(len)));
  Put<uint16_t>(14, new_upper);
  return true;
}

ItemState Page::state(OffsetNumber off) const {
  if (off < 1 || off > max_offset()) return ItemState::kUnused;
  return ItemFlags(ItemId(off));
}

std::string_view Page::Item(OffsetNumber off) const {
  uint32_t id = ItemId(off);
  return std::string_view(d_ + ItemOff(id), ItemLen(id));
}

char* Page::MutableItem(OffsetNumber off) { return d_ + ItemOff(ItemId(off)); }

void Page::SetState(OffsetNumber off, ItemState s) {
  uint32_t id = ItemId(off);
  if (s == ItemState::kUnused || s == ItemState::kDead) {
    SetItemId(off, MakeItemId(0, s, 0));
    if (s == ItemState::kUnused) {
      Put<uint16_t>(10, static_cast<uint16_t>(Get<uint16_t>(10) | kHasFreeLines));
    }
  } else {
    SetItemId(off, MakeItemId(ItemOff(id), s, ItemLen(id)));
  }
}

void Page::SetRedirect(OffsetNumber off, OffsetNumber target) {
  SetItemId(off, MakeItemId(target, ItemState::kRedirect, 0));
}

OffsetNumber Page::RedirectTarget(OffsetNumber off) const {
  if (state(off) != ItemState::kRedirect) return 0;
  return ItemOff(ItemId(off));
}

void Page::Compact() {
  struct Live {
    OffsetNumber off;
    std::string bytes;
  };
  std::vector<Live> live;
  for (OffsetNumber o = 1; o <= max_offset(); o++) {
    if (state(o) == ItemState::kNormal) live.push_back({o, std::string(Item(o))});
  }
  uint16_t up = Get<uint16_t>(16);
  for (const auto& l : live) {
    size_t aligned = (l.bytes.size() + 7) & ~size_t{7};
    up = static_cast<uint16_t>(up - aligned);
    std::memcpy(d_ + up, l.bytes.data(), l.bytes.size());
    SetItemId(l.off, MakeItemId(up, ItemState::kNormal, static_cast<uint16_t>(l.bytes.size())));
  }
  std::memset(d_ + lower(), 0, up - lower());
  Put<uint16_t>(14, up);
}

void Page::DeleteItems(const std::vector<OffsetNumber>& offsets) {
  char before[kPageSize];
  std::memcpy(before, d_, kPageSize);
  Page old(before);
  uint16_t special = Get<uint16_t>(16);
  std::memset(d_ + kPageHeaderSize, 0, special - kPageHeaderSize);
  Put<uint16_t>(12, kPageHeaderSize);
  Put<uint16_t>(14, special);
  Put<uint16_t>(10, static_cast<uint16_t>(Get<uint16_t>(10) & ~kHasFreeLines));
  size_t next = 0;
  for (OffsetNumber o = 1; o <= old.max_offset(); o++) {
    if (next < offsets.size() && offsets[next] == o) {
      next++;
      continue;
    }
    AddItem(old.Item(o));
  }
}

uint16_t Page::ComputeChecksum(BlockNumber block) const {
  uint32_t crc = crc32c::Value(d_, 8);
  static const char kZero[2] = {0, 0};
  crc = crc32c::Extend(crc, kZero, 2);
  crc = crc32c::Extend(crc, d_ + 10, kPageSize - 10);
  crc ^= block * 0x9E3779B1u;
  uint16_t folded = static_cast<uint16_t>((crc ^ (crc >> 16)) & 0xFFFF);
  return folded == 0 ? 1 : folded;  // 0 means "no checksum written yet"
}

}  // namespace walrep::storage
