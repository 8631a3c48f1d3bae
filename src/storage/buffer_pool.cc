// walrep: relation files and the buffer pool (see buffer_pool.h).
#include "walrep/storage/buffer_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <new>

#include "walrep/common/logging.h"

namespace walrep::storage {

// ---------------------------------------------------------------------------------------------
// Smgr

std::string Smgr::Path(const RelFileNode& r) const {
  if (r.spc == 1664) return fmt::format("{}/global/{}", data_dir_, r.rel);
  return fmt::format("{}/base/{}/{}", data_dir_, r.db, r.rel);
}

Smgr::FilePtr Smgr::OpenFile(uint64_t key) {
  MutexLock l(&files_mu_);
  auto it = files_.find(key);
  return it == files_.end() ? nullptr : it->second;
}

Result<Smgr::FilePtr> Smgr::File(const RelFileNode& r, bool create) {
  if (FilePtr f = OpenFile(Key(r))) return f;
  // Opened outside the lock; a racing opener's descriptor wins and this one is closed.
  WALREP_ASSIGN_OR_RETURN(std::unique_ptr<io::RandomAccessFile> f,
                          fs_->OpenRandomAccess(Path(r), create));
  MutexLock l(&files_mu_);
  auto [it, inserted] = files_.try_emplace(Key(r), std::move(f));
  (void)inserted;
  return it->second;
}

Status Smgr::Create(const RelFileNode& r) {
  std::string dir = Path(r).substr(0, Path(r).rfind('/'));
  WALREP_RETURN_IF_ERROR(fs_->CreateDir(dir));
  WALREP_ASSIGN_OR_RETURN(FilePtr f, File(r, true));
  (void)f;
  return fs_->SyncDir(dir);
}

Status Smgr::Unlink(const RelFileNode& r) {
  {
    MutexLock l(&files_mu_);
    files_.erase(Key(r));  // a reader or writer still using it keeps its descriptor until done
  }
  {
    MutexLock l(&dirty_mu_);
    dirty_files_.erase(Key(r));
  }
  return fs_->Remove(Path(r));
}

Result<BlockNumber> Smgr::NBlocks(const RelFileNode& r) {
  auto f = File(r, false);
  if (!f.ok()) {
    if (f.status().code() == Status::Code::kNotFound) return BlockNumber{0};
    return f.TakeStatus();
  }
  WALREP_ASSIGN_OR_RETURN(uint64_t size, (*f)->Size());
  return static_cast<BlockNumber>(size / kPageSize);
}

Status Smgr::Read(const RelFileNode& r, BlockNumber b, char* buf) {
  auto f = File(r, false);
  if (!f.ok()) {
    if (f.status().code() == Status::Code::kNotFound) {
      std::memset(buf, 0, kPageSize);
      return Status::OK();
    }
    return f.TakeStatus();
  }
  WALREP_ASSIGN_OR_RETURN(size_t got,
                          (*f)->ReadInto(static_cast<uint64_t>(b) * kPageSize, buf, kPageSize));
  if (got < kPageSize) std::memset(buf + got, 0, kPageSize - got);  // past the end: zeros
  return Status::OK();
}

bool Smgr::Prefetch(const RelFileNode& r, BlockNumber b) {
  auto f = File(r, false);
  if (!f.ok()) return false;
  (*f)->Prefetch(static_cast<uint64_t>(b) * kPageSize, kPageSize);
  return true;
}

Status Smgr::Write(const RelFileNode& r, BlockNumber b, const char* buf) {
  WALREP_ASSIGN_OR_RETURN(FilePtr f, File(r, true));
  ReaderMutexLock barrier(&sync_barrier_);
  WALREP_RETURN_IF_ERROR(
      f->WriteAt(static_cast<uint64_t>(b) * kPageSize, std::string_view(buf, kPageSize)));
  MutexLock l(&dirty_mu_);
  dirty_files_[Key(r)] = r;
  return Status::OK();
}

Status Smgr::Sync(const RelFileNode& r) {
  WALREP_ASSIGN_OR_RETURN(FilePtr f, File(r, true));
  {
    WriterMutexLock barrier(&sync_barrier_);
    MutexLock l(&dirty_mu_);
    dirty_files_.erase(Key(r));
  }
  return f->Sync();
}

Status Smgr::SyncAll() {
  std::unordered_map<uint64_t, RelFileNode> dirty;
  {
    WriterMutexLock barrier(&sync_barrier_);  // waits for writes in flight
    MutexLock l(&dirty_mu_);
    dirty.swap(dirty_files_);
  }
  for (const auto& [key, rel] : dirty) {
    FilePtr f = OpenFile(key);
    if (!f) continue;  // dropped since
    Status st = f->Sync();
    if (!st.ok()) {
      WALREP_FATAL("PANIC: could not fsync file \"{}\": {}", Path(rel), st.message());
      std::abort();  // never retry an fsync
    }
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// BufferPool::Handle

BufferPool::Handle& BufferPool::Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    Release();
    pool_ = o.pool_;
    frame_ = o.frame_;
    lock_ = o.lock_;
    exceptions_at_lock_ = o.exceptions_at_lock_;
    o.frame_ = nullptr;
    o.lock_ = 0;
  }
  return *this;
}

void BufferPool::Handle::Release() {
  if (!frame_) return;
  if (lock_ == 2 && std::uncaught_exceptions() > exceptions_at_lock_) {
    WALREP_FATAL("PANIC: an internal error interrupted a change to block {} of relation {}/{}/{}",
                 frame_->block, frame_->rel.spc, frame_->rel.db, frame_->rel.rel);
    std::abort();  // crash recovery rebuilds the page from WAL
  }
  Unlock();
  frame_->pins.fetch_sub(1);
  frame_ = nullptr;
}

char* BufferPool::Handle::data() { return frame_->data; }
BlockNumber BufferPool::Handle::block() const { return frame_->block; }
const RelFileNode& BufferPool::Handle::rel() const { return frame_->rel; }

void BufferPool::Handle::LockShared() {
  frame_->content.lock_shared();
  lock_ = 1;
}
void BufferPool::Handle::LockExclusive() {
  frame_->content.lock();
  lock_ = 2;
  exceptions_at_lock_ = std::uncaught_exceptions();
}
void BufferPool::Handle::Unlock() {
  if (lock_ == 1) frame_->content.unlock_shared();
  if (lock_ == 2) frame_->content.unlock();
  lock_ = 0;
}
void BufferPool::Handle::MarkDirty() { frame_->dirty.store(true); }

// ---------------------------------------------------------------------------------------------
// BufferPool

BufferPool::BufferPool(size_t frames, Smgr* smgr, wal::WalWriter* wal, bool checksums)
    : smgr_(smgr), wal_(wal), checksums_(checksums) {
  blocks_.reset(
      static_cast<char*>(std::aligned_alloc(4096, std::max<size_t>(frames, 1) * kPageSize)));
  if (!blocks_) throw std::bad_alloc();
  frames_.reserve(frames);
  for (size_t i = 0; i < frames; i++) {
    frames_.push_back(std::make_unique<Frame>());
    frames_.back()->data = blocks_.get() + i * kPageSize;
  }
}

BufferPool::~BufferPool() = default;

Status BufferPool::WriteFrame(Frame* f) {
  Page p(f->data);
  // WAL before data: the page may not reach disk before the WAL that describes it; in
  // recovery, not before the minimum recovery point has passed it.
  if (p.lsn().valid()) {
    if (wal::WalWriter* wal = wal_.load(std::memory_order_acquire)) {
      WALREP_RETURN_IF_ERROR(wal->Flush(p.lsn()));
    } else if (before_write_) {
      WALREP_RETURN_IF_ERROR(before_write_(p.lsn()));
    }
  }
  alignas(64) char copy[kPageSize];
  std::memcpy(copy, f->data, kPageSize);
  if (checksums_) Page(copy).SetChecksum(f->block);
  WALREP_RETURN_IF_ERROR(smgr_->Write(f->rel, f->block, copy));
  f->dirty.store(false);
  writes_++;
  return Status::OK();
}

Result<BufferPool::Frame*> BufferPool::GetFrame(const RelFileNode& r, BlockNumber b, bool fresh) {
  const PageKey key = Key(r, b);
  for (int attempt = 0; attempt < 1000; attempt++) {
    mu_.Lock();
    auto it = map_.find(key);
    if (it != map_.end()) {
      Frame* f = it->second;
      f->pins.fetch_add(1);
      f->usage = std::min(f->usage + 1, 5);
      mu_.Unlock();
      if (f->valid.load(std::memory_order_acquire)) return f;
      MutexLock io(&f->io);  // waits for a concurrent read-in
      if (!f->valid) {
        f->pins.fetch_sub(1);
        return Status::IOError(
            fmt::format("could not read block {} of relation {}/{}/{}", b, r.spc, r.db, r.rel));
      }
      return f;
    }
    // Clock sweep for an unpinned frame with no recent use.
    Frame* victim = nullptr;
    for (size_t n = 0; n < frames_.size() * 6 && !victim; n++) {
      Frame* f = frames_[hand_].get();
      hand_ = (hand_ + 1) % frames_.size();
      if (f->pins.load() != 0) continue;
      if (f->usage > 0) {
        f->usage--;
        continue;
      }
      victim = f;
    }
    if (!victim) {
      mu_.Unlock();
      return Status::Sql("53R00", "no unpinned buffers available");
    }
    victim->pins.store(1);
    if (victim->valid && victim->dirty.load()) {
      mu_.Unlock();
      {
        MutexLock io(&victim->io);
        std::shared_lock<std::shared_mutex> content(victim->content);
        Status st = WriteFrame(victim);
        if (!st.ok()) {
          victim->pins.fetch_sub(1);
          return st;
        }
      }
      mu_.Lock();
      // Someone may have wanted the old page meanwhile, or our key may have appeared.
      if (victim->pins.load() != 1 || victim->dirty.load() || map_.count(key)) {
        victim->pins.fetch_sub(1);
        mu_.Unlock();
        continue;
      }
    }
    if (victim->valid) map_.erase(Key(victim->rel, victim->block));
    victim->rel = r;
    victim->block = b;
    victim->valid = false;
    victim->usage = 1;
    map_[key] = victim;
    victim->io.Lock();
    mu_.Unlock();
    Status st;
    try {
      if (fresh) {
        std::memset(victim->data, 0, kPageSize);
      } else {
        st = smgr_->Read(r, b, victim->data);
        Page p(victim->data);
        if (st.ok() && checksums_ && !p.IsNew() && !p.VerifyChecksum(b)) {
          st = Status::Sql(
              "XX001", fmt::format("invalid page in block {} of relation {}", b, smgr_->Path(r)));
        }
      }
    } catch (...) {
      FinishReadIn(victim, key, false);  // an unexpected error must not leave io held
      throw;
    }
    FinishReadIn(victim, key, st.ok());
    if (!st.ok()) return st;
    return victim;
  }
  return Status::Sql("53R00", "no unpinned buffers available");
}

void BufferPool::FinishReadIn(Frame* f, const PageKey& key, bool ok) {
  f->dirty.store(false);
  f->valid.store(ok, std::memory_order_release);
  f->io.Unlock();
  if (ok) return;
  // Given up: later readers of the block find no frame, or this one invalid, and read again.
  MutexLock l(&mu_);
  map_.erase(key);
  f->pins.fetch_sub(1);
}

Result<BufferPool::Handle> BufferPool::Read(const RelFileNode& r, BlockNumber b) {
  WALREP_ASSIGN_OR_RETURN(Frame * f, GetFrame(r, b, false));
  Handle h;
  h.pool_ = this;
  h.frame_ = f;
  return h;
}

Result<BlockNumber> BufferPool::NBlocks(const RelFileNode& r) {
  const PageKey key = Key(r, 0);
  {
    MutexLock l(&mu_);
    auto it = sizes_.find(key);
    if (it != sizes_.end()) return it->second;
  }
  WALREP_ASSIGN_OR_RETURN(BlockNumber n, smgr_->NBlocks(r));
  MutexLock l(&mu_);
  auto [it, inserted] = sizes_.emplace(key, n);
  return it->second;
}

bool BufferPool::Contains(const RelFileNode& r, BlockNumber b) {
  MutexLock l(&mu_);
  return map_.count(Key(r, b)) > 0;
}

void BufferPool::NoteBlock(const RelFileNode& r, BlockNumber b) {
  auto n = NBlocks(r);
  MutexLock l(&mu_);
  BlockNumber& size = sizes_[Key(r, 0)];
  if (n.ok() && *n > size) size = *n;
  if (b + 1 > size) size = b + 1;
}

Result<BufferPool::Handle> BufferPool::Extend(const RelFileNode& r, uint16_t special_size) {
  MutexLock ext(&extend_mu_);
  WALREP_ASSIGN_OR_RETURN(BlockNumber n, NBlocks(r));
  WALREP_ASSIGN_OR_RETURN(Frame * f, GetFrame(r, n, true));
  Page::Init(f->data, special_size);
  f->dirty.store(true);
  {
    MutexLock l(&mu_);
    sizes_[Key(r, 0)] = n + 1;
  }
  Handle h;
  h.pool_ = this;
  h.frame_ = f;
  return h;
}

Status BufferPool::FlushAll() {
  for (auto& fp : frames_) {
    Frame* f = fp.get();
    if (!f->dirty.load()) continue;
    MutexLock io(&f->io);
    std::shared_lock<std::shared_mutex> content(f->content);
    if (f->valid && f->dirty.load()) WALREP_RETURN_IF_ERROR(WriteFrame(f));
  }
  return smgr_->SyncAll();
}

void BufferPool::DropRelation(const RelFileNode& r) {
  MutexLock l(&mu_);
  for (auto it = map_.begin(); it != map_.end();) {
    Frame* f = it->second;
    if (f->rel == r) {
      f->valid = false;
      f->dirty.store(false);
      it = map_.erase(it);
    } else {
      ++it;
    }
  }
  sizes_.erase(Key(r, 0));
}

}  // namespace walrep::storage
