// Fuzz target: WAL as a standby receives it from a (corrupt or hostile) primary. The input is the
// start of a WAL segment: it is read record by record with the reader recovery uses (page
// headers, continuation records, CRCs), every record is described through the resource-manager
// table as pg_waldump and walrep's logs do, and the input is also decoded as one record.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "walrep/access/rmgr.h"
#include "walrep/io/file_system.h"
#include "walrep/wal/wal_reader.h"
#include "walrep/wal/xlog_format.h"

namespace {

// The input as the one WAL segment of an in-memory pg_wal: no file written per input, and reads
// return only the bytes there are (the POSIX file system allocates and zero-fills the reader's
// whole read-ahead window first).
class InputFile : public walrep::io::RandomAccessFile {
 public:
  explicit InputFile(std::string_view data) : data_(data) {}
  walrep::Result<std::string> ReadAt(uint64_t offset, size_t n) override {
    if (offset >= data_.size()) return std::string();
    return std::string(data_.substr(offset, n));
  }
  walrep::Status WriteAt(uint64_t, std::string_view) override {
    return walrep::Status::IOError("read-only");
  }
  walrep::Status Sync() override { return walrep::Status::OK(); }
  walrep::Result<uint64_t> Size() override { return data_.size(); }

 private:
  std::string_view data_;
};

class InputFileSystem : public walrep::io::FileSystemWrapper {
 public:
  InputFileSystem(std::string path, std::string_view data)
      : FileSystemWrapper(walrep::io::DefaultFileSystem()), path_(std::move(path)), data_(data) {}
  bool Exists(const std::string& path) override { return path == path_; }
  walrep::Result<std::unique_ptr<walrep::io::RandomAccessFile>> OpenRandomAccess(
      const std::string& path, bool create) override {
    if (path != path_ || create) return walrep::Status::NotFound(path);
    return std::unique_ptr<walrep::io::RandomAccessFile>(new InputFile(data_));
  }

 private:
  std::string path_;
  std::string_view data_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  walrep::Lsn seg_start = walrep::wal::SegmentStart(1, walrep::wal::kDefaultSegSize);
  auto one = walrep::wal::DecodeRecord(input, walrep::Lsn(seg_start.value() + 40));
  if (one.ok()) (void)walrep::access::Describe(*one);

  const std::string dir = "pg_wal";
  InputFileSystem fs(dir + "/" + walrep::wal::XLogFileName(1, 1, walrep::wal::kDefaultSegSize),
                     input);
  walrep::wal::WalReader reader(&fs, dir, 1);
  walrep::Lsn lsn(seg_start.value() + walrep::wal::kLongPageHeaderSize);
  for (int i = 0; i < 1000; i++) {
    auto rec = reader.ReadRecord(lsn);
    if (!rec.ok()) break;
    (void)walrep::access::Describe(*rec);
    walrep::Lsn next = reader.NextRecordLsn(*rec);
    if (next <= lsn) break;
    lsn = next;
  }
  return 0;
}
