// Fuzz target: WAL as a standby receives it from a (corrupt or hostile) primary. The input is the
// start of a WAL segment: it is read record by record with the reader recovery uses (page
// headers, continuation records, CRCs), every record is described through the resource-manager
// table as pg_waldump and walrep's logs do, and the input is also decoded as one record.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "walrep/access/rmgr.h"
#include "walrep/io/file_system.h"
#include "walrep/wal/wal_reader.h"
#include "walrep/wal/xlog_format.h"

namespace {

const std::string& WalDir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/walrep-fuzz-wal-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    return std::string(tmpl);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  walrep::Lsn seg_start = walrep::wal::SegmentStart(1, walrep::wal::kDefaultSegSize);
  auto one = walrep::wal::DecodeRecord(input, walrep::Lsn(seg_start.value() + 40));
  if (one.ok()) (void)walrep::access::Describe(*one);

  std::string path = WalDir() + "/" + walrep::wal::XLogFileName(1, 1, walrep::wal::kDefaultSegSize);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(input.data(), static_cast<std::streamsize>(input.size()));
  }
  walrep::io::FileSystem* fs = walrep::io::DefaultFileSystem();
  walrep::wal::WalReader reader(fs, WalDir(), 1);
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
