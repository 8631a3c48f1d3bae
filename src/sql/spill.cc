// walrep: temporary files, the spilling tuplestore and the external sorter (see spill.h).
#include "spill.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "walrep/common/logging.h"

namespace walrep::sql {

namespace {

// Bytes a temporary file is read in, and buffered before a write (a page, as PostgreSQL's
// BufFile: a hash join may have hundreds of batch files open for writing at once).
constexpr size_t kIoChunk = 64 * 1024;
constexpr size_t kWriteBuffer = 8 * 1024;

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
bool Get(std::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

Status Corrupt() { return Status::Sql("XX001", "temporary file is corrupt"); }

}  // namespace

Status ExecResources::ChargeTempSpace(int64_t delta) {
  int64_t limit_kb = ctx_->settings().GetInt("temp_file_limit");
  if (limit_kb >= 0 && (temp_bytes_ + delta) / 1024 > limit_kb) {
    return Status::Sql("53400",
                       fmt::format("temporary file size exceeds temp_file_limit ({}kB)", limit_kb));
  }
  temp_bytes_ += delta;
  return Status::OK();
}

size_t ExecResources::WorkMem() const {
  return static_cast<size_t>(ctx_->settings().GetInt("work_mem")) * 1024;
}

size_t ExecResources::HashMem() const {
  double mult = 2.0;
  if (auto v = ctx_->settings().Get("hash_mem_multiplier")) mult = std::atof(v->c_str());
  return static_cast<size_t>(static_cast<double>(WorkMem()) * std::max(1.0, mult));
}

size_t RowMemory(const Row& row) {
  size_t n = sizeof(Row) + row.capacity() * sizeof(Value);
  for (const Value& v : row) {
    if (const auto* s = std::get_if<std::string>(&v.datum()); s && s->capacity() > 15) {
      n += s->capacity() + 1;
    } else if (v.is_array()) {
      n += RowMemory(v.as_array());
    }
  }
  return n;
}

void EncodeTempRow(const Row& row, std::string* out) {
  Put<uint16_t>(out, static_cast<uint16_t>(row.size()));
  for (const Value& v : row) {
    Put<int32_t>(out, v.type());
    const Value::Datum& d = v.datum();
    out->push_back(static_cast<char>(d.index()));
    switch (d.index()) {
      case 0:
        break;
      case 1:
        out->push_back(std::get<bool>(d) ? 1 : 0);
        break;
      case 2:
        Put<int64_t>(out, std::get<int64_t>(d));
        break;
      case 3:
        Put<double>(out, std::get<double>(d));
        break;
      case 4:
        Put<__int128>(out, std::get<Numeric>(d).mantissa);
        Put<int32_t>(out, std::get<Numeric>(d).scale);
        break;
      case 5: {
        const std::string& s = std::get<std::string>(d);
        Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
        out->append(s);
        break;
      }
      case 6: {
        const Interval& iv = std::get<Interval>(d);
        Put<int32_t>(out, iv.months);
        Put<int32_t>(out, iv.days);
        Put<int64_t>(out, iv.micros);
        break;
      }
      case 7:  // an array: its elements as a nested row
        EncodeTempRow(v.as_array(), out);
        break;
    }
  }
}

Result<Row> DecodeTempRow(std::string_view* in) {
  uint16_t n;
  if (!Get(in, &n)) return Corrupt();
  Row row;
  row.reserve(n);
  for (uint16_t i = 0; i < n; i++) {
    int32_t type;
    uint8_t tag;
    if (!Get(in, &type) || !Get(in, &tag)) return Corrupt();
    switch (tag) {
      case 0:
        row.push_back(Value::Null(type));
        break;
      case 1: {
        uint8_t b;
        if (!Get(in, &b)) return Corrupt();
        row.push_back(Value::Bool(b != 0));
        break;
      }
      case 2: {
        int64_t v;
        if (!Get(in, &v)) return Corrupt();
        row.push_back(Value::Int(type, v));
        break;
      }
      case 3: {
        double v;
        if (!Get(in, &v)) return Corrupt();
        row.push_back(Value::Float(type, v));
        break;
      }
      case 4: {
        Numeric num;
        int32_t scale;
        if (!Get(in, &num.mantissa) || !Get(in, &scale)) return Corrupt();
        num.scale = scale;
        row.push_back(Value::Num(num));
        break;
      }
      case 5: {
        uint32_t len;
        if (!Get(in, &len) || in->size() < len) return Corrupt();
        row.push_back(Value::Text(type, std::string(in->substr(0, len))));
        in->remove_prefix(len);
        break;
      }
      case 6: {
        Interval iv;
        if (!Get(in, &iv.months) || !Get(in, &iv.days) || !Get(in, &iv.micros)) return Corrupt();
        row.push_back(Value::Interv(iv));
        break;
      }
      case 7: {
        WALREP_ASSIGN_OR_RETURN(Row elems, DecodeTempRow(in));
        row.push_back(Value::Array(type, std::move(elems)));
        break;
      }
      default:
        return Corrupt();
    }
  }
  return row;
}

Result<std::unique_ptr<TempFile>> TempFile::Create(ExecResources* res) {
  static std::atomic<uint64_t> counter{0};
  SessionContext* ctx = res->ctx();
  io::FileSystem* fs = ctx->file_system();
  std::string dir = ctx->temp_file_dir();
  if (!fs->Exists(dir)) WALREP_RETURN_IF_ERROR(fs->CreateDir(dir));
  std::string path = fmt::format("{}/pgsql_tmp{}.{}", dir, ctx->backend_pid(), counter++);
  auto file = fs->OpenRandomAccess(path, /*create=*/true);
  if (!file.ok()) {
    return Status::Sql("58030", fmt::format("could not create temporary file \"{}\": {}", path,
                                            file.status().message()));
  }
  return std::unique_ptr<TempFile>(new TempFile(res, path, std::move(*file)));
}

TempFile::~TempFile() {
  file_.reset();
  SessionContext* ctx = res_->ctx();
  (void)ctx->file_system()->Remove(path_);
  res_->ReleaseTempSpace(static_cast<int64_t>(size_));
  ctx->CountTempFile(size_);
  int64_t log_kb = ctx->settings().GetInt("log_temp_files");
  if (log_kb >= 0 && size_ / 1024 >= static_cast<uint64_t>(log_kb)) {
    // As PostgreSQL: the path relative to the data directory.
    std::string shown = path_;
    if (size_t p = shown.rfind("base/pgsql_tmp/"); p != std::string::npos) shown = shown.substr(p);
    WALREP_LOG("temporary file: path \"{}\", size {}", shown, size_);
  }
}

Status TempFile::WriteRow(const Row& row) {
  size_t at = wbuf_.size();
  Put<uint32_t>(&wbuf_, 0);
  EncodeTempRow(row, &wbuf_);
  uint32_t len = static_cast<uint32_t>(wbuf_.size() - at - 4);
  std::memcpy(&wbuf_[at], &len, 4);
  rows_++;
  if (wbuf_.size() >= kWriteBuffer) return Flush();
  return Status::OK();
}

Status TempFile::Flush() {
  if (wbuf_.empty()) return Status::OK();
  WALREP_RETURN_IF_ERROR(res_->ChargeTempSpace(static_cast<int64_t>(wbuf_.size())));
  Status st = file_->WriteAt(size_, wbuf_);
  size_ += wbuf_.size();  // charged: released at removal whether or not the write succeeded
  wbuf_.clear();
  if (!st.ok()) {
    return Status::Sql(
        "58030", fmt::format("could not write to temporary file \"{}\": {}", path_, st.message()));
  }
  return Status::OK();
}

Status TempFile::Rewind() {
  WALREP_RETURN_IF_ERROR(Flush());
  rbuf_.clear();
  rpos_ = 0;
  roff_ = 0;
  return Status::OK();
}

Result<bool> TempFile::ReadRow(Row* row) {
  // Makes `n` bytes available at rpos_; false at the end of the file.
  auto fill = [&](size_t n) -> Result<bool> {
    if (rbuf_.size() - rpos_ >= n) return true;
    rbuf_.erase(0, rpos_);
    rpos_ = 0;
    while (rbuf_.size() < n && roff_ < size_) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(kIoChunk, n), size_ - roff_));
      auto got = file_->ReadAt(roff_, want);
      if (!got.ok()) {
        return Status::Sql("58030", fmt::format("could not read from temporary file \"{}\": {}",
                                                path_, got.status().message()));
      }
      if (got->empty()) break;
      roff_ += got->size();
      rbuf_ += *got;
    }
    return rbuf_.size() >= n;
  };
  WALREP_ASSIGN_OR_RETURN(bool more, fill(4));
  if (!more) {
    if (rbuf_.size() != rpos_) return Corrupt();
    return false;
  }
  uint32_t len;
  std::memcpy(&len, rbuf_.data() + rpos_, 4);
  WALREP_ASSIGN_OR_RETURN(more, fill(4 + static_cast<size_t>(len)));
  if (!more) return Corrupt();
  std::string_view body(rbuf_.data() + rpos_ + 4, len);
  WALREP_ASSIGN_OR_RETURN(*row, DecodeTempRow(&body));
  rpos_ += 4 + len;
  return true;
}

Tuplestore::~Tuplestore() { res_->TrackMemory(-mem_bytes_); }

Status Tuplestore::Append(Row row) {
  count_++;
  if (!file_) {
    size_t m = RowMemory(row);
    if (mem_bytes_ + static_cast<int64_t>(m) <= static_cast<int64_t>(budget_)) {
      mem_bytes_ += static_cast<int64_t>(m);
      res_->TrackMemory(static_cast<int64_t>(m));
      mem_.push_back(std::move(row));
      return Status::OK();
    }
    WALREP_ASSIGN_OR_RETURN(file_, TempFile::Create(res_));
    for (const Row& r : mem_) WALREP_RETURN_IF_ERROR(file_->WriteRow(r));
    mem_.clear();
    mem_.shrink_to_fit();
    res_->TrackMemory(-mem_bytes_);
    mem_bytes_ = 0;
  }
  return file_->WriteRow(row);
}

void Tuplestore::Rewind() {
  pos_ = 0;
  file_rewound_ = false;
}

Result<bool> Tuplestore::Next(Row* row) {
  if (!file_) {
    if (pos_ >= mem_.size()) return false;
    *row = mem_[pos_++];
    return true;
  }
  if (!file_rewound_) {
    WALREP_RETURN_IF_ERROR(file_->Rewind());
    file_rewound_ = true;
  }
  return file_->ReadRow(row);
}

Sorter::~Sorter() { res_->TrackMemory(-mem_bytes_); }

Result<bool> Sorter::Less(const Entry& a, const Entry& b) {
  WALREP_ASSIGN_OR_RETURN(int c, compare_(a.row, b.row));
  if (c != 0) return c < 0;
  return a.seq < b.seq;
}

bool Sorter::LessOrFail(const Entry& a, const Entry& b) {
  auto r = Less(a, b);
  if (!r.ok()) {
    if (error_.ok()) error_ = r.TakeStatus();
    return false;
  }
  return *r;
}

Status Sorter::Add(Row row) {
  WALREP_RETURN_IF_ERROR(error_);
  int64_t m = static_cast<int64_t>(RowMemory(row));
  auto less = [this](const Entry& a, const Entry& b) { return LessOrFail(a, b); };
  if (bound_ >= 0 && runs_.empty()) {
    // ORDER BY ... LIMIT: a max-heap of the best `bound_` rows seen so far.
    if (bound_ == 0) return Status::OK();
    heap_ = true;
    if (mem_.size() >= static_cast<size_t>(bound_)) {
      Entry e{std::move(row), seq_++};
      if (!less(e, mem_.front())) return error_;
      std::pop_heap(mem_.begin(), mem_.end(), less);
      int64_t removed = static_cast<int64_t>(RowMemory(mem_.back().row));
      mem_.back() = std::move(e);
      std::push_heap(mem_.begin(), mem_.end(), less);
      mem_bytes_ += m - removed;
      res_->TrackMemory(m - removed);
    } else {
      mem_.push_back(Entry{std::move(row), seq_++});
      std::push_heap(mem_.begin(), mem_.end(), less);
      mem_bytes_ += m;
      res_->TrackMemory(m);
    }
    max_mem_bytes_ = std::max(max_mem_bytes_, mem_bytes_);
    WALREP_RETURN_IF_ERROR(error_);
    // A bound too large for memory: the rows kept so far become the first run.
    if (mem_bytes_ > static_cast<int64_t>(budget_)) {
      heap_ = false;
      WALREP_RETURN_IF_ERROR(WriteRun());
    }
    return Status::OK();
  }
  mem_.push_back(Entry{std::move(row), seq_++});
  mem_bytes_ += m;
  res_->TrackMemory(m);
  max_mem_bytes_ = std::max(max_mem_bytes_, mem_bytes_);
  if (mem_bytes_ > static_cast<int64_t>(budget_)) return WriteRun();
  return Status::OK();
}

Status Sorter::SortMemory() {
  auto less = [this](const Entry& a, const Entry& b) { return LessOrFail(a, b); };
  if (heap_) {
    std::sort_heap(mem_.begin(), mem_.end(), less);
  } else {
    // Sorted in slices so that a cancel is noticed within a slice's time.
    constexpr size_t kSlice = 1 << 16;
    for (size_t i = 0; i < mem_.size(); i += kSlice) {
      std::sort(mem_.begin() + static_cast<ptrdiff_t>(i),
                mem_.begin() + static_cast<ptrdiff_t>(std::min(mem_.size(), i + kSlice)), less);
      WALREP_RETURN_IF_ERROR(res_->ctx()->CheckInterrupts());
    }
    for (size_t width = kSlice; width < mem_.size(); width *= 2) {
      for (size_t i = 0; i + width < mem_.size(); i += 2 * width) {
        std::inplace_merge(
            mem_.begin() + static_cast<ptrdiff_t>(i),
            mem_.begin() + static_cast<ptrdiff_t>(i + width),
            mem_.begin() + static_cast<ptrdiff_t>(std::min(mem_.size(), i + 2 * width)), less);
      }
      WALREP_RETURN_IF_ERROR(res_->ctx()->CheckInterrupts());
    }
  }
  return error_;
}

Status Sorter::WriteRun() {
  WALREP_RETURN_IF_ERROR(SortMemory());
  auto run = std::make_unique<Run>();
  WALREP_ASSIGN_OR_RETURN(run->file, TempFile::Create(res_));
  for (const Entry& e : mem_) WALREP_RETURN_IF_ERROR(run->file->WriteRow(e.row));
  WALREP_RETURN_IF_ERROR(run->file->Rewind());
  disk_bytes_ += run->file->size();
  runs_.push_back(std::move(run));
  mem_.clear();
  res_->TrackMemory(-mem_bytes_);
  mem_bytes_ = 0;
  return Status::OK();
}

// Merges `runs` (each rewound) into one run, keeping ties in run order.
Status Sorter::MergeRuns(std::vector<std::unique_ptr<Run>> runs, std::unique_ptr<Run>* out) {
  merging_ = std::move(runs);
  merge_heap_.clear();
  merge_loaded_ = false;
  auto merged = std::make_unique<Run>();
  WALREP_ASSIGN_OR_RETURN(merged->file, TempFile::Create(res_));
  Row row;
  uint64_t n = 0;
  while (true) {
    WALREP_ASSIGN_OR_RETURN(bool more, NextMerged(&row));
    if (!more) break;
    WALREP_RETURN_IF_ERROR(merged->file->WriteRow(row));
    if (++n % 4096 == 0) WALREP_RETURN_IF_ERROR(res_->ctx()->CheckInterrupts());
  }
  merging_.clear();
  WALREP_RETURN_IF_ERROR(merged->file->Rewind());
  *out = std::move(merged);
  return Status::OK();
}

// The next row of the merge of merging_: a heap of run indexes ordered by their current rows.
Result<bool> Sorter::NextMerged(Row* row) {
  auto greater = [this](size_t a, size_t b) {  // heap order: smallest on top
    auto c = compare_(merging_[a]->cur, merging_[b]->cur);
    if (!c.ok()) {
      if (error_.ok()) error_ = c.TakeStatus();
      return false;
    }
    return *c != 0 ? *c > 0 : a > b;
  };
  if (!merge_loaded_) {
    merge_loaded_ = true;  // first call for this merge: load each run's first row
    for (size_t i = 0; i < merging_.size(); i++) {
      WALREP_ASSIGN_OR_RETURN(bool more, merging_[i]->file->ReadRow(&merging_[i]->cur));
      if (more) merge_heap_.push_back(i);
    }
    std::make_heap(merge_heap_.begin(), merge_heap_.end(), greater);
    WALREP_RETURN_IF_ERROR(error_);
  }
  if (merge_heap_.empty()) return false;
  std::pop_heap(merge_heap_.begin(), merge_heap_.end(), greater);
  size_t i = merge_heap_.back();
  *row = std::move(merging_[i]->cur);
  WALREP_ASSIGN_OR_RETURN(bool more, merging_[i]->file->ReadRow(&merging_[i]->cur));
  if (more) {
    std::push_heap(merge_heap_.begin(), merge_heap_.end(), greater);
  } else {
    merge_heap_.pop_back();
  }
  WALREP_RETURN_IF_ERROR(error_);
  return true;
}

Status Sorter::Finish() {
  WALREP_RETURN_IF_ERROR(error_);
  if (runs_.empty()) return SortMemory();
  if (!mem_.empty()) WALREP_RETURN_IF_ERROR(WriteRun());
  // Each run being merged needs a read buffer: merge in passes of at most `fanin` runs.
  size_t fanin = std::max<size_t>(2, budget_ / kIoChunk);
  while (runs_.size() > fanin) {
    std::vector<std::unique_ptr<Run>> next;
    for (size_t i = 0; i < runs_.size(); i += fanin) {
      std::vector<std::unique_ptr<Run>> group;
      for (size_t j = i; j < std::min(runs_.size(), i + fanin); j++) {
        group.push_back(std::move(runs_[j]));
      }
      if (group.size() == 1) {
        next.push_back(std::move(group[0]));
        continue;
      }
      std::unique_ptr<Run> merged;
      WALREP_RETURN_IF_ERROR(MergeRuns(std::move(group), &merged));
      next.push_back(std::move(merged));
    }
    runs_ = std::move(next);
  }
  merging_ = std::move(runs_);
  runs_.clear();
  merge_heap_.clear();
  merge_loaded_ = false;
  return Status::OK();
}

Result<bool> Sorter::Next(Row* row) {
  if (!merging_.empty()) return NextMerged(row);
  if (pos_ >= mem_.size()) return false;
  *row = std::move(mem_[pos_++].row);
  return true;
}

std::string Sorter::MethodDetail() const {
  if (disk_bytes_ > 0) {
    return fmt::format("Sort Method: external merge  Disk: {}kB", (disk_bytes_ + 1023) / 1024);
  }
  return fmt::format("Sort Method: {}  Memory: {}kB", heap_ ? "top-N heapsort" : "quicksort",
                     (max_mem_bytes_ + 1023) / 1024);
}

}  // namespace walrep::sql
