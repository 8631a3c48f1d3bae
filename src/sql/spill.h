// walrep: what the executor's memory-hungry nodes use to stay within work_mem — temporary files
// under base/pgsql_tmp (PostgreSQL's fd.c names and accounting), a row codec for them, a
// tuplestore that spills, and a sorter that sorts in memory, keeps a bounded top-N heap, or runs
// an external merge sort (PostgreSQL's tuplesort.c, with runs of work_mem and a multi-pass
// merge).
// Thread safety: everything here belongs to one session thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "walrep/common/status.h"
#include "walrep/io/file_system.h"
#include "walrep/sql/registry.h"
#include "walrep/sql/session_context.h"

namespace walrep::sql {

// The resources of one session's executor: temporary file space (temp_file_limit) and the
// memory its nodes hold (pg_backend_memory_contexts).
class ExecResources {
 public:
  explicit ExecResources(SessionContext* ctx) : ctx_(ctx) {}
  SessionContext* ctx() const { return ctx_; }
  // Memory of rows held by sorts, hashes and tuplestores: `delta` bytes more (or fewer).
  void TrackMemory(int64_t delta) {
    memory_ += delta;
    if (memory_ > peak_memory_) peak_memory_ = memory_;
  }
  int64_t memory() const { return memory_; }
  int64_t peak_memory() const { return peak_memory_; }
  // temp_file_limit: `delta` more bytes in temporary files (53400 past the limit).
  Status ChargeTempSpace(int64_t delta);
  void ReleaseTempSpace(int64_t bytes) { temp_bytes_ -= bytes; }
  // work_mem (and hash_mem_multiplier for hashes) in bytes.
  size_t WorkMem() const;
  size_t HashMem() const;

 private:
  SessionContext* ctx_;
  int64_t memory_ = 0, peak_memory_ = 0;
  int64_t temp_bytes_ = 0;
};

// Approximate bytes a row holds in memory.
size_t RowMemory(const Row& row);
// Appends a row to `out` in the temporary-file format; DecodeTempRow reads one back from the
// front of `in`, advancing it.
void EncodeTempRow(const Row& row, std::string* out);
Result<Row> DecodeTempRow(std::string_view* in);

// A temporary file base/pgsql_tmp/pgsql_tmpPID.N: rows written sequentially, then read back
// from the start (any number of times). Removed (and logged under log_temp_files, counted in
// pg_stat_database) when destroyed.
class TempFile {
 public:
  static Result<std::unique_ptr<TempFile>> Create(ExecResources* res);
  ~TempFile();
  Status WriteRow(const Row& row);
  // Ends writing (flushes) and starts reading from the beginning.
  Status Rewind();
  // The next row; false at the end.
  Result<bool> ReadRow(Row* row);
  uint64_t size() const { return size_; }
  uint64_t rows() const { return rows_; }

 private:
  TempFile(ExecResources* res, std::string path, std::unique_ptr<io::RandomAccessFile> file)
      : res_(res), path_(std::move(path)), file_(std::move(file)) {}
  Status Flush();
  ExecResources* res_;
  std::string path_;
  std::unique_ptr<io::RandomAccessFile> file_;
  std::string wbuf_;
  uint64_t size_ = 0;  // bytes written, flushed or not
  uint64_t rows_ = 0;
  std::string rbuf_;
  size_t rpos_ = 0;
  uint64_t roff_ = 0;  // file offset after rbuf_
};

// Rows appended, then read back in order, any number of times; past `budget` bytes they go to a
// temporary file (PostgreSQL's tuplestore).
class Tuplestore {
 public:
  Tuplestore(ExecResources* res, size_t budget) : res_(res), budget_(budget) {}
  ~Tuplestore();
  Status Append(Row row);
  void Rewind();
  Result<bool> Next(Row* row);
  uint64_t rows() const { return count_; }
  bool spilled() const { return file_ != nullptr; }

 private:
  ExecResources* res_;
  size_t budget_;
  std::vector<Row> mem_;
  int64_t mem_bytes_ = 0;
  std::unique_ptr<TempFile> file_;
  bool file_rewound_ = false;
  size_t pos_ = 0;
  uint64_t count_ = 0;
};

// Sorts rows by `compare` (<0, 0, >0; ties keep their input order). With a `bound` (ORDER BY ...
// LIMIT n) only the first `bound` rows are kept, in a heap.
class Sorter {
 public:
  using Compare = std::function<Result<int>(const Row&, const Row&)>;
  Sorter(ExecResources* res, size_t budget, Compare compare, int64_t bound = -1)
      : res_(res), budget_(budget), compare_(std::move(compare)), bound_(bound) {}
  ~Sorter();
  Status Add(Row row);
  // After the last Add: the sorted rows are read with Next.
  Status Finish();
  Result<bool> Next(Row* row);
  // EXPLAIN ANALYZE: "Sort Method: quicksort  Memory: 25kB" and the like.
  std::string MethodDetail() const;

 private:
  struct Entry {
    Row row;
    uint64_t seq;
  };
  struct Run {
    std::unique_ptr<TempFile> file;
    Row cur;
  };
  Result<bool> Less(const Entry& a, const Entry& b);
  // Less() for std algorithms: a comparison error is kept in error_ (and counts as false).
  bool LessOrFail(const Entry& a, const Entry& b);
  Status SortMemory();
  Status WriteRun();
  Status MergeRuns(std::vector<std::unique_ptr<Run>> runs, std::unique_ptr<Run>* out);
  Result<bool> NextMerged(Row* row);

  ExecResources* res_;
  size_t budget_;
  Compare compare_;
  int64_t bound_;
  Status error_;  // the first comparison error (std::sort cannot return one)
  std::vector<Entry> mem_;
  int64_t mem_bytes_ = 0, max_mem_bytes_ = 0;
  uint64_t seq_ = 0;
  bool heap_ = false;  // mem_ is a max-heap of the best `bound_` rows
  std::vector<std::unique_ptr<Run>> runs_;
  uint64_t disk_bytes_ = 0;
  size_t pos_ = 0;
  // The final merge: one reader per run and a heap of their current rows.
  std::vector<std::unique_ptr<Run>> merging_;
  std::vector<size_t> merge_heap_;
  bool merge_loaded_ = false;
};

}  // namespace walrep::sql
