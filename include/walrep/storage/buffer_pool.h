// walrep: relation files and the shared buffer pool.
//
// Smgr maps a relation (wal::RelFileNode) to its file: base/<db>/<relfilenode> for tablespace
// 1663 (pg_default), global/<relfilenode> for 1664 (pg_global), and reads and writes 8 KB
// blocks through io::FileSystem.
//
// BufferPool caches blocks in `shared_buffers` frames with clock-sweep replacement. Rules:
//  - WAL before data: a dirty page is written only after WAL up to its pd_lsn is flushed.
//  - A frame is pinned while a Handle exists; pinned frames are never evicted.
//  - Page contents are protected by the frame's content lock (shared for reads, exclusive for
//    changes). Lock order: never hold two content locks except in block-number order of one
//    relation.
//  - With data checksums, every page read from disk is verified ("invalid page in block N of
//    relation ...", XX001) and every page written gets a checksum.
// Counterpart: smgr.c/md.c and bufmgr.c in PostgreSQL.
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "walrep/common/mutex.h"
#include "walrep/io/file_system.h"
#include "walrep/storage/page.h"
#include "walrep/wal/wal_writer.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::storage {

using wal::RelFileNode;

// Relation files are opened once and kept open; reads and writes are positional (pread/pwrite)
// and run under no lock of the Smgr's, so buffer misses of different backends, evictions and a
// checkpoint's writes proceed in parallel, and nothing waits behind an fsync (PostgreSQL's md.c
// keeps a descriptor per relation segment the same way). Lock rules: files_mu_ covers only the
// map of open files; a write holds sync_barrier_ shared from its pwrite until the file is noted
// dirty, and SyncAll takes it exclusively only to take the set of dirty files — so every write
// that finished before SyncAll began is in the set it fsyncs — then fsyncs with no lock held.
class Smgr {
 public:
  Smgr(io::FileSystem* fs, std::string data_dir) : fs_(fs), data_dir_(std::move(data_dir)) {}
  std::string Path(const RelFileNode& r) const;
  Status Create(const RelFileNode& r) EXCLUDES(files_mu_);
  Status Unlink(const RelFileNode& r) EXCLUDES(files_mu_, dirty_mu_);
  bool Exists(const RelFileNode& r) { return fs_->Exists(Path(r)); }
  io::FileSystem* fs() const { return fs_; }
  Result<BlockNumber> NBlocks(const RelFileNode& r) EXCLUDES(files_mu_);
  // Reads a block; a block at or past the end of the file reads as zeros.
  Status Read(const RelFileNode& r, BlockNumber b, char* buf) EXCLUDES(files_mu_);
  // Asks the kernel to read block b in ahead of a Read (recovery prefetching); false when the
  // relation has no file.
  bool Prefetch(const RelFileNode& r, BlockNumber b) EXCLUDES(files_mu_);
  Status Write(const RelFileNode& r, BlockNumber b, const char* buf)
      EXCLUDES(files_mu_, dirty_mu_, sync_barrier_);
  Status Sync(const RelFileNode& r) EXCLUDES(files_mu_, dirty_mu_, sync_barrier_);
  // Every file written since the last SyncAll; a failed fsync is a PANIC (never retried).
  Status SyncAll() EXCLUDES(files_mu_, dirty_mu_, sync_barrier_);

 private:
  using FilePtr = std::shared_ptr<io::RandomAccessFile>;
  // The open file (opening it on first use); NotFound when it does not exist and !create.
  Result<FilePtr> File(const RelFileNode& r, bool create) EXCLUDES(files_mu_);
  // The file if it is open (a written file stays open until it is unlinked), else null.
  FilePtr OpenFile(uint64_t key) EXCLUDES(files_mu_);
  static uint64_t Key(const RelFileNode& r) {
    return (static_cast<uint64_t>(r.db) << 32) ^ r.rel ^ (static_cast<uint64_t>(r.spc) << 48);
  }
  io::FileSystem* const fs_;
  const std::string data_dir_;
  Mutex files_mu_;
  std::unordered_map<uint64_t, FilePtr> files_ GUARDED_BY(files_mu_);
  SharedMutex sync_barrier_;
  Mutex dirty_mu_;
  std::unordered_map<uint64_t, RelFileNode> dirty_files_ GUARDED_BY(dirty_mu_);
};

class BufferPool {
 private:
  struct Frame;

 public:
  // A pinned buffer. Movable; unpins on destruction (and releases a held content lock). An
  // exception that unwinds through a handle holding the exclusive lock is a PANIC: the page may
  // be half-changed and not WAL-logged, as an error in PostgreSQL's critical section.
  class Handle {
   public:
    Handle() = default;
    Handle(Handle&& o) noexcept { *this = std::move(o); }
    Handle& operator=(Handle&& o) noexcept;
    ~Handle() { Release(); }
    Page page() { return Page(data()); }
    char* data();
    BlockNumber block() const;
    const RelFileNode& rel() const;
    void LockShared();
    void LockExclusive();
    void Unlock();
    // REQUIRES: exclusive lock. The page will be written back (after WAL up to its LSN).
    void MarkDirty();
    bool valid() const { return frame_ != nullptr; }

   private:
    friend class BufferPool;
    void Release();
    BufferPool* pool_ = nullptr;
    Frame* frame_ = nullptr;
    int lock_ = 0;                // 0 none, 1 shared, 2 exclusive
    int exceptions_at_lock_ = 0;  // std::uncaught_exceptions() when the exclusive lock was taken
  };

  // `wal` may be null (no WAL yet: bootstrap); it must outlive the pool.
  BufferPool(size_t frames, Smgr* smgr, wal::WalWriter* wal, bool checksums);
  ~BufferPool();

  Result<Handle> Read(const RelFileNode& r, BlockNumber b) EXCLUDES(mu_);
  // Appends a new, initialised page to the relation.
  Result<Handle> Extend(const RelFileNode& r, uint16_t special_size = 0) EXCLUDES(mu_);
  Result<BlockNumber> NBlocks(const RelFileNode& r) EXCLUDES(mu_);
  // Whether block b has a buffer (read in, or being read in) now.
  bool Contains(const RelFileNode& r, BlockNumber b) EXCLUDES(mu_);
  // Redo touched block b: the relation is at least b + 1 blocks long from now on.
  void NoteBlock(const RelFileNode& r, BlockNumber b) EXCLUDES(mu_);
  // Writes every dirty page (checkpoint) and syncs the files.
  Status FlushAll() EXCLUDES(mu_);
  // Forgets a relation's pages without writing them (DROP TABLE, TRUNCATE).
  void DropRelation(const RelFileNode& r) EXCLUDES(mu_);
  // From now on pages are written only after WAL up to their LSN is flushed (a primary; set
  // at the end of recovery while readers may be writing pages out).
  void set_wal(wal::WalWriter* w) { wal_.store(w, std::memory_order_release); }
  // Recovery: called with a page's LSN before the page is written while there is no WAL
  // writer (a standby moves its minimum recovery point past it). Set before any page is read.
  void set_before_write(std::function<Status(Lsn)> hook) { before_write_ = std::move(hook); }
  uint64_t writes() const { return writes_.load(); }

 private:
  // A page's identity, the buffer map's key.
  struct PageKey {
    uint32_t spc, db, rel;
    BlockNumber block;
    bool operator==(const PageKey&) const = default;
  };
  struct PageKeyHash {
    size_t operator()(const PageKey& k) const {
      uint64_t a = (static_cast<uint64_t>(k.rel) << 32) | k.block;
      uint64_t b = (static_cast<uint64_t>(k.spc) << 32) | k.db;
      return std::hash<uint64_t>()(a * 0x9E3779B97F4A7C15ull ^ b);
    }
  };
  struct Frame {
    RelFileNode rel;
    BlockNumber block = kInvalidBlock;
    // Set (release) once the page is read in; a pinned valid frame is never reassigned, so a
    // pinner that sees it set needs no further synchronisation.
    std::atomic<bool> valid{false};
    std::atomic<int> pins{0};
    int usage = 0;  // guarded by the pool mutex
    std::atomic<bool> dirty{false};
    std::shared_mutex content;
    Mutex io;              // held while the frame is being read in or written out
    char* data = nullptr;  // kPageSize bytes of the pool's block array
  };
  static PageKey Key(const RelFileNode& r, BlockNumber b) { return {r.spc, r.db, r.rel, b}; }
  Result<Frame*> GetFrame(const RelFileNode& r, BlockNumber b, bool fresh) EXCLUDES(mu_);
  // The end of GetFrame's read-in of f (ok: the page is valid; else the frame is given up).
  void FinishReadIn(Frame* f, const PageKey& key, bool ok) RELEASE(f->io) EXCLUDES(mu_);
  Status WriteFrame(Frame* f);  // REQUIRES: caller holds f->io and at least a shared lock

  Smgr* const smgr_;
  std::atomic<wal::WalWriter*> wal_;
  std::function<Status(Lsn)> before_write_;
  const bool checksums_;
  // The pages, one allocation; untouched (so not yet backed by memory) until a page is read
  // in: a server with a large shared_buffers starts at once.
  std::unique_ptr<char, void (*)(void*)> blocks_{nullptr, std::free};
  std::vector<std::unique_ptr<Frame>> frames_;
  Mutex mu_;
  std::unordered_map<PageKey, Frame*, PageKeyHash> map_ GUARDED_BY(mu_);
  size_t hand_ GUARDED_BY(mu_) = 0;
  // Relation sizes, cached (keyed by block 0's key).
  std::unordered_map<PageKey, BlockNumber, PageKeyHash> sizes_ GUARDED_BY(mu_);
  Mutex extend_mu_;
  std::atomic<uint64_t> writes_{0};
};

}  // namespace walrep::storage
