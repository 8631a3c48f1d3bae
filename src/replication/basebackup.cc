// walrep: BASE_BACKUP (see basebackup.h).
#include "walrep/replication/basebackup.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include "walrep/common/crc32c.h"
#include "walrep/common/logging.h"
#include "walrep/common/strings.h"
#include "walrep/protocol/message.h"
#include "walrep/storage/control_file.h"
#include "walrep/wal/xlog_format.h"

namespace walrep::replication {

namespace {

constexpr size_t kChunk = 32768;

// Data directory entries a backup never copies (PostgreSQL's excludeFiles), and directories
// sent empty (excludeDirContents).
const std::set<std::string> kExcludedFiles = {
    "postmaster.pid", "postmaster.opts", "pg_internal.init", "backup_label",   "backup_label.old",
    "tablespace_map", "backup_manifest", "current_logfiles", "standby.signal", "recovery.signal"};
const std::set<std::string> kEmptyDirs = {"pg_stat_tmp", "pg_replslot",  "pg_dynshmem", "pg_notify",
                                          "pg_serial",   "pg_snapshots", "pg_subtrans", "pg_wal"};

std::string Hex(const unsigned char* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; i++) s += fmt::format("{:02x}", p[i]);
  return s;
}

// Incremental manifest checksum.
class Checksummer {
 public:
  explicit Checksummer(const std::string& alg) : alg_(alg) {
    const EVP_MD* md = alg == "SHA224"   ? EVP_sha224()
                       : alg == "SHA256" ? EVP_sha256()
                       : alg == "SHA384" ? EVP_sha384()
                       : alg == "SHA512" ? EVP_sha512()
                                         : nullptr;
    if (md) {
      ctx_ = EVP_MD_CTX_new();
      EVP_DigestInit_ex(ctx_, md, nullptr);
    }
  }
  ~Checksummer() {
    if (ctx_) EVP_MD_CTX_free(ctx_);
  }
  void Update(std::string_view d) {
    if (ctx_) {
      EVP_DigestUpdate(ctx_, d.data(), d.size());
    } else {
      crc_ = crc32c::Extend(crc_, d.data(), d.size());
    }
  }
  std::string Final() {
    if (ctx_) {
      unsigned char out[EVP_MAX_MD_SIZE];
      unsigned int n = 0;
      EVP_DigestFinal_ex(ctx_, out, &n);
      return Hex(out, n);
    }
    unsigned char b[4];
    std::memcpy(b, &crc_, 4);  // little-endian memory order, as PostgreSQL prints it
    return Hex(b, 4);
  }

 private:
  std::string alg_;
  EVP_MD_CTX* ctx_ = nullptr;
  uint32_t crc_ = 0;
};

std::string Octal(uint64_t v, int digits) { return fmt::format("{:0{}o}", v, digits); }

std::string GmtTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

struct Options {
  std::string label = "base backup";
  bool progress = false;
  bool fast = false;
  bool wal = false;
  bool wait = true;
  int64_t max_rate = 0;  // KiB/s
  bool manifest = false;
  bool force_encode = false;
  std::string checksum_alg = "CRC32C";
  std::string target = "client";
  std::string target_detail;
  bool gzip = false;
  int gzip_level = Z_DEFAULT_COMPRESSION;
  bool tablespace_map = false;
};

Result<Options> ParseOptions(const Command& cmd) {
  Options o;
  std::set<std::string> seen;
  for (const auto& opt : cmd.options) {
    if (!seen.insert(opt.name).second) {
      return Status::Sql("42601", fmt::format("duplicate option \"{}\"", opt.name));
    }
    std::string v = opt.value.value_or("");
    if (opt.name == "label") {
      o.label = v;
    } else if (opt.name == "progress") {
      WALREP_ASSIGN_OR_RETURN(o.progress, OptionBool(opt));
    } else if (opt.name == "checkpoint") {
      std::string l = ToLower(v);
      if (l != "fast" && l != "spread") {
        return Status::Sql("42601", fmt::format("unrecognized checkpoint type: \"{}\"", v));
      }
      o.fast = l == "fast";
    } else if (opt.name == "wal") {
      WALREP_ASSIGN_OR_RETURN(o.wal, OptionBool(opt));
    } else if (opt.name == "wait") {
      WALREP_ASSIGN_OR_RETURN(o.wait, OptionBool(opt));
    } else if (opt.name == "max_rate") {
      int64_t r = std::atoll(v.c_str());
      if (r != 0 && (r < 32 || r > 1048576)) {
        return Status::Sql("22003", fmt::format("{} is outside the valid range for parameter "
                                                "\"MAX_RATE\" ({} .. {})",
                                                r, 32, 1048576));
      }
      o.max_rate = r;
    } else if (opt.name == "manifest") {
      std::string l = ToLower(v);
      if (l == "yes" || l == "true" || l == "on" || l == "1") {
        o.manifest = true;
      } else if (l == "force-encode") {
        o.manifest = o.force_encode = true;
      } else if (l != "no" && l != "false" && l != "off" && l != "0") {
        return Status::Sql("42601", fmt::format("unrecognized manifest option: \"{}\"", v));
      }
    } else if (opt.name == "manifest_checksums") {
      std::string u = v;
      for (auto& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (u != "NONE" && u != "CRC32C" && u != "SHA224" && u != "SHA256" && u != "SHA384" &&
          u != "SHA512") {
        return Status::Sql("22023", fmt::format("unrecognized checksum algorithm: \"{}\"", v));
      }
      o.checksum_alg = u;
    } else if (opt.name == "target") {
      o.target = ToLower(v);
      if (o.target != "client" && o.target != "server" && o.target != "blackhole") {
        return Status::Sql("42704", fmt::format("unrecognized target: \"{}\"", v));
      }
    } else if (opt.name == "target_detail") {
      o.target_detail = v;
    } else if (opt.name == "compression") {
      std::string l = ToLower(v);
      if (l == "gzip") {
        o.gzip = true;
      } else if (l == "lz4" || l == "zstd") {
        return Status::Sql("0A000",
                           fmt::format("{} compression is not supported by this build", l));
      } else if (l != "none") {
        return Status::Sql("42601", fmt::format("unrecognized compression algorithm: \"{}\"", v));
      }
    } else if (opt.name == "compression_detail") {
      std::string d = v.rfind("level=", 0) == 0 ? v.substr(6) : v;
      o.gzip_level = std::atoi(d.c_str());
      if (o.gzip_level < 1 || o.gzip_level > 9) {
        return Status::Sql("22023",
                           fmt::format("compression algorithm \"gzip\" expects a compression "
                                       "level between 1 and 9 (got {})",
                                       o.gzip_level));
      }
    } else if (opt.name == "tablespace_map") {
      WALREP_ASSIGN_OR_RETURN(o.tablespace_map, OptionBool(opt));
    } else if (opt.name == "verify_checksums") {
      WALREP_RETURN_IF_ERROR(OptionBool(opt).status());
    } else {
      return Status::Sql("42601", fmt::format("unrecognized base backup option: \"{}\"", opt.name));
    }
  }
  if (o.target == "server" && o.target_detail.empty()) {
    return Status::Sql("42601", "target \"server\" requires a target detail");
  }
  if (o.target != "server" && !o.target_detail.empty()) {
    return Status::Sql("42601",
                       fmt::format("target \"{}\" does not accept a target detail", o.target));
  }
  return o;
}

protocol::FieldDesc Field(const char* name, int32_t type, int16_t typlen) {
  protocol::FieldDesc f;
  f.name = name;
  f.type_oid = type;
  f.typlen = typlen;
  f.typmod = 0;
  return f;
}

void SendPosition(protocol::Connection* conn, Lsn lsn, TimelineId tli) {
  conn->Write(protocol::RowDescriptionMessage({Field("recptr", 25, -1), Field("tli", 20, -1)}));
  conn->Write(protocol::DataRowMessage({lsn.ToString(), std::to_string(tli)}));
  conn->Write(protocol::CommandCompleteMessage("SELECT"));
}

// The archive as it leaves: tar bytes, optionally gzipped, sent as CopyData 'd' (or written
// to a server-side file, or dropped for the blackhole target), with throttling and progress.
class ArchiveSink {
 public:
  ArchiveSink(protocol::Connection* conn, io::FileSystem* fs, const Options& o,
              const std::function<Status()>& check)
      : conn_(conn), fs_(fs), o_(o), check_(check), started_(std::chrono::steady_clock::now()) {}
  ~ArchiveSink() {
    if (gz_open_) deflateEnd(&zs_);
  }

  Status Begin(const std::string& name) {
    if (o_.gzip) {
      std::memset(&zs_, 0, sizeof(zs_));
      if (deflateInit2(&zs_, o_.gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return Status::IOError("could not initialize compression library");
      }
      gz_open_ = true;
    }
    std::string n = name + (o_.gzip ? ".gz" : "");
    if (o_.target == "server") {
      WALREP_RETURN_IF_ERROR(fs_->CreateDirs(o_.target_detail));
      WALREP_ASSIGN_OR_RETURN(file_, fs_->NewWritableFile(o_.target_detail + "/" + n));
    }
    conn_->Write(protocol::MessageBuilder('d').Int8('n').String(n).String("").Finish());
    return conn_->Flush();
  }

  // Uncompressed tar bytes.
  Status Write(std::string_view data) {
    done_ += data.size();
    if (!o_.gzip) return Emit(data);
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs_.avail_in = static_cast<uInt>(data.size());
    return Deflate(Z_NO_FLUSH);
  }

  Status End() {
    if (o_.gzip) {
      zs_.avail_in = 0;
      WALREP_RETURN_IF_ERROR(Deflate(Z_FINISH));
      deflateEnd(&zs_);
      gz_open_ = false;
    }
    if (file_) {
      // Durable before the backup reports success, as PostgreSQL's server target.
      WALREP_RETURN_IF_ERROR(file_->Sync());
      WALREP_RETURN_IF_ERROR(file_->Close());
      WALREP_RETURN_IF_ERROR(fs_->SyncDir(o_.target_detail));
      file_.reset();
    }
    return Progress(true);
  }

  Status Progress(bool force) {
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_progress_ < std::chrono::seconds(1)) return Status::OK();
    last_progress_ = now;
    conn_->Write(
        protocol::MessageBuilder('d').Int8('p').Int64(static_cast<int64_t>(done_)).Finish());
    return conn_->Flush();
  }

  uint64_t done() const { return done_; }

 private:
  Status Deflate(int flush) {
    char out[kChunk];
    do {
      zs_.next_out = reinterpret_cast<Bytef*>(out);
      zs_.avail_out = sizeof(out);
      int rc = deflate(&zs_, flush);
      if (rc == Z_STREAM_ERROR) return Status::IOError("could not compress data");
      size_t n = sizeof(out) - zs_.avail_out;
      if (n) WALREP_RETURN_IF_ERROR(Emit(std::string_view(out, n)));
    } while (zs_.avail_out == 0);
    return Status::OK();
  }

  Status Emit(std::string_view data) {
    WALREP_RETURN_IF_ERROR(check_());
    sent_ += data.size();
    if (o_.target == "client") {
      while (!data.empty()) {
        size_t n = std::min(data.size(), kChunk);
        conn_->Write(protocol::MessageBuilder('d').Int8('d').Bytes(data.substr(0, n)).Finish());
        data.remove_prefix(n);
      }
      WALREP_RETURN_IF_ERROR(conn_->Flush());
    } else if (o_.target == "server") {
      WALREP_RETURN_IF_ERROR(file_->Append(data));
    }
    if (o_.max_rate > 0) {
      // Sleep until the bytes sent so far fit MAX_RATE KiB per second.
      double due = static_cast<double>(sent_) / (static_cast<double>(o_.max_rate) * 1024.0);
      auto target = started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(due));
      if (target > std::chrono::steady_clock::now()) std::this_thread::sleep_until(target);
    }
    return Progress(false);
  }

  protocol::Connection* conn_;
  io::FileSystem* const fs_;
  const Options& o_;
  const std::function<Status()>& check_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_progress_{};
  uint64_t done_ = 0, sent_ = 0;
  z_stream zs_{};
  bool gz_open_ = false;
  std::unique_ptr<io::WritableFile> file_;  // the server target's archive
};

struct ManifestEntry {
  std::string path;
  uint64_t size;
  int64_t mtime;
  std::string checksum;
};

class TarWriter {
 public:
  TarWriter(ArchiveSink* sink, io::FileSystem* fs, const Options& o,
            std::vector<ManifestEntry>* manifest)
      : sink_(sink), fs_(fs), o_(o), manifest_(manifest) {}

  Status Dir(const std::string& name, int64_t mtime) {
    return sink_->Write(TarHeader(name, 0, mtime, true));
  }

  Status Content(const std::string& name, std::string_view data, int64_t mtime, bool listed) {
    WALREP_RETURN_IF_ERROR(sink_->Write(TarHeader(name, data.size(), mtime, false)));
    WALREP_RETURN_IF_ERROR(sink_->Write(data));
    WALREP_RETURN_IF_ERROR(Pad(data.size()));
    if (listed) Note(name, data.size(), mtime, ManifestChecksum(o_.checksum_alg, data));
    return Status::OK();
  }

  // Streams a file from disk; the size is fixed when it starts (a file that grows meanwhile is
  // cut, one that shrinks is padded with zeros — replay of the WAL repairs both). A file removed
  // before it is opened is left out; one that cannot be read fails the backup.
  Status File(const std::string& name, const std::string& path, bool listed) {
    Result<io::FileInfo> info = fs_->Stat(path);
    if (info.status().code() == Status::Code::kNotFound) return Status::OK();
    WALREP_RETURN_IF_ERROR(info.status());
    auto file = fs_->OpenRandomAccess(path, false);
    if (file.status().code() == Status::Code::kNotFound) return Status::OK();
    WALREP_RETURN_IF_ERROR(file.status());
    const uint64_t size = info->size;
    WALREP_RETURN_IF_ERROR(sink_->Write(TarHeader(name, size, info->mtime, false)));
    Checksummer sum(o_.checksum_alg);
    constexpr uint64_t kReadSize = 1 << 20;
    for (uint64_t off = 0; off < size; off += kReadSize) {
      size_t want = static_cast<size_t>(std::min(size - off, kReadSize));
      WALREP_ASSIGN_OR_RETURN(std::string chunk, (*file)->ReadAt(off, want));
      chunk.resize(want, '\0');
      sum.Update(chunk);
      WALREP_RETURN_IF_ERROR(sink_->Write(chunk));
    }
    WALREP_RETURN_IF_ERROR(Pad(size));
    if (listed) Note(name, size, info->mtime, sum.Final());
    return Status::OK();
  }

  Status Trailer() { return sink_->Write(std::string(1024, '\0')); }

 private:
  Status Pad(uint64_t size) {
    size_t pad = (512 - size % 512) % 512;
    return pad ? sink_->Write(std::string(pad, '\0')) : Status::OK();
  }
  void Note(const std::string& name, uint64_t size, int64_t mtime, std::string sum) {
    if (manifest_) manifest_->push_back({name, size, mtime, std::move(sum)});
  }

  ArchiveSink* sink_;
  io::FileSystem* const fs_;
  const Options& o_;
  std::vector<ManifestEntry>* manifest_;
};

// The data directory in the order PostgreSQL's sendDir uses (sorted here for stable output),
// pg_control kept for last.
Status SendDirectory(io::FileSystem* fs, TarWriter& tar, const std::string& root,
                     const std::string& rel) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  WALREP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string path = rel.empty() ? name : rel + "/" + name;
    if (kExcludedFiles.count(name) && rel.empty()) continue;
    if (path == "global/pg_control") continue;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) continue;
    Result<io::FileInfo> st = fs->Stat(dir + "/" + name);
    if (st.status().code() == Status::Code::kNotFound) continue;  // removed meanwhile
    WALREP_RETURN_IF_ERROR(st.status());
    if (st->is_dir) {
      WALREP_RETURN_IF_ERROR(tar.Dir(path + "/", st->mtime));
      if (rel.empty() && kEmptyDirs.count(name)) {
        if (name == "pg_wal")
          WALREP_RETURN_IF_ERROR(tar.Dir("./pg_wal/archive_status/", st->mtime));
        continue;
      }
      WALREP_RETURN_IF_ERROR(SendDirectory(fs, tar, root, path));
    } else if (st->is_regular) {
      WALREP_RETURN_IF_ERROR(tar.File(path, dir + "/" + name, true));
    }
  }
  return Status::OK();
}

// The bytes of the regular files under `dir`, pg_wal's left out (the PROGRESS estimate); what
// cannot be listed counts as nothing.
uint64_t EstimateSize(io::FileSystem* fs, const std::string& dir) {
  auto names = fs->ListDir(dir);
  if (!names.ok()) return 0;
  uint64_t total = 0;
  for (const std::string& name : *names) {
    auto st = fs->Stat(dir + "/" + name);
    if (!st.ok()) continue;
    if (st->is_dir && name != "pg_wal") total += EstimateSize(fs, dir + "/" + name);
    if (st->is_regular) total += st->size;
  }
  return total;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string BuildManifest(const Options& o, const std::vector<ManifestEntry>& files, TimelineId tli,
                          Lsn start, Lsn end) {
  std::string m = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n";
  for (size_t i = 0; i < files.size(); i++) {
    const auto& f = files[i];
    std::string path =
        o.force_encode
            ? fmt::format("\"Encoded-Path\": \"{}\"",
                          Hex(reinterpret_cast<const unsigned char*>(f.path.data()), f.path.size()))
            : fmt::format("\"Path\": {}", JsonString(f.path));
    m += fmt::format("{{ {}, \"Size\": {}, \"Last-Modified\": \"{} GMT\"", path, f.size,
                     GmtTime(f.mtime));
    if (o.checksum_alg != "NONE") {
      m += fmt::format(", \"Checksum-Algorithm\": \"{}\", \"Checksum\": \"{}\"", o.checksum_alg,
                       f.checksum);
    }
    m += i + 1 < files.size() ? " },\n" : " }\n";
  }
  m += "],\n\"WAL-Ranges\": [\n";
  m += fmt::format("{{ \"Timeline\": {}, \"Start-LSN\": \"{}\", \"End-LSN\": \"{}\" }}\n", tli,
                   start.ToString(), end.ToString());
  m += "],\n";
  Checksummer sha("SHA256");
  sha.Update(m);
  m += fmt::format("\"Manifest-Checksum\": \"{}\"}}\n", sha.Final());
  return m;
}

}  // namespace

std::string TarHeader(const std::string& name, uint64_t size, int64_t mtime, bool dir) {
  char h[512];
  std::memset(h, 0, sizeof(h));
  auto put = [&](size_t off, size_t len, const std::string& v) {
    std::memcpy(h + off, v.data(), std::min(len, v.size()));
  };
  if (name.size() <= 99) {
    put(0, 100, name);
  } else {
    // ustar splits long names at a '/' into prefix (155) and name (100).
    size_t cut = name.rfind('/', name.size() - 2);
    while (cut != std::string::npos && name.size() - cut - 1 > 99) cut = std::string::npos;
    put(0, 100, cut == std::string::npos ? name.substr(0, 99) : name.substr(cut + 1));
    if (cut != std::string::npos) put(345, 155, name.substr(0, cut));
  }
  put(100, 8, Octal(dir ? 0700 : 0600, 7) + " ");
  put(108, 8, Octal(static_cast<uint64_t>(::getuid()), 7) + " ");
  put(116, 8, Octal(static_cast<uint64_t>(::getgid()), 7) + " ");
  put(124, 12, Octal(size, 11) + " ");
  put(136, 12, Octal(static_cast<uint64_t>(mtime), 11) + " ");
  std::memset(h + 148, ' ', 8);
  h[156] = dir ? '5' : '0';
  put(257, 6, std::string("ustar\0", 6));
  put(263, 2, "00");
  put(265, 32, "postgres");
  put(297, 32, "postgres");
  put(329, 8, Octal(0, 7) + " ");
  put(337, 8, Octal(0, 7) + " ");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::string chk = Octal(sum, 6);
  std::memcpy(h + 148, chk.data(), 6);
  h[154] = '\0';
  h[155] = ' ';
  return std::string(h, sizeof(h));
}

std::string ManifestChecksum(const std::string& algorithm, std::string_view data) {
  Checksummer c(algorithm);
  c.Update(data);
  return c.Final();
}

Status SendBaseBackup(ReplicationEnv* env, const Command& cmd, protocol::Connection* conn,
                      const std::function<Status()>& check_interrupts) {
  WALREP_ASSIGN_OR_RETURN(Options o, ParseOptions(cmd));
  if (!env->backup_start || !env->backup_stop) {
    return Status::Sql("0A000", "base backups are not supported by this server");
  }
  WALREP_ASSIGN_OR_RETURN(ReplicationEnv::BackupStart start, env->backup_start(o.fast));
  TimelineId tli = start.timeline;
  int64_t start_time = std::time(nullptr);
  SendPosition(conn, start.redo, tli);
  // The size estimate (KiB) only with PROGRESS, as PostgreSQL.
  std::optional<std::string> size;
  if (o.progress) {
    size = std::to_string(EstimateSize(env->fs, env->data_dir) / 1024);
  }
  conn->Write(protocol::RowDescriptionMessage(
      {Field("spcoid", 26, 4), Field("spclocation", 25, -1), Field("size", 20, 8)}));
  conn->Write(protocol::DataRowMessage({std::nullopt, std::nullopt, size}));
  conn->Write(protocol::CommandCompleteMessage("SELECT"));
  conn->Write(protocol::MessageBuilder('H').Int8(0).Int16(0).Finish());
  WALREP_RETURN_IF_ERROR(conn->Flush());

  ArchiveSink sink(conn, env->fs, o, check_interrupts);
  std::vector<ManifestEntry> files;
  TarWriter tar(&sink, env->fs, o, o.manifest ? &files : nullptr);
  WALREP_RETURN_IF_ERROR(sink.Begin("base.tar"));
  std::string label = fmt::format(
      "START WAL LOCATION: {} (file {})\nCHECKPOINT LOCATION: {}\nBACKUP METHOD: streamed\n"
      "BACKUP FROM: {}\nSTART TIME: {} UTC\nLABEL: {}\nSTART TIMELINE: {}\n",
      start.redo.ToString(),
      wal::XLogFileName(tli, wal::SegmentOf(start.redo, wal::kDefaultSegSize),
                        wal::kDefaultSegSize),
      start.checkpoint.ToString(), start.from_standby ? "standby" : "primary", GmtTime(start_time),
      o.label, tli);
  WALREP_RETURN_IF_ERROR(tar.Content("backup_label", label, start_time, true));
  if (o.tablespace_map) WALREP_RETURN_IF_ERROR(tar.Content("tablespace_map", "", start_time, true));
  WALREP_RETURN_IF_ERROR(SendDirectory(env->fs, tar, env->data_dir, ""));
  Lsn end;
  if (start.from_standby) {
    // No BACKUP_END record can be written on a standby: the copy of pg_control carries the
    // backup's end, where a server restored from it becomes consistent (PostgreSQL's
    // backupEndPoint from minRecoveryPoint).
    WALREP_ASSIGN_OR_RETURN(end, env->backup_stop(start.redo));
    WALREP_ASSIGN_OR_RETURN(storage::ControlFileData control,
                            storage::ReadControlFile(env->fs, env->data_dir));
    control.backup_start_point = start.redo.value();
    control.backup_end_point = end.value();
    control.backup_end_required = 1;
    control.min_recovery_point = end.value();
    control.min_recovery_point_tli = tli;
    WALREP_RETURN_IF_ERROR(tar.Content("global/pg_control", storage::EncodeControlFile(control),
                                       std::time(nullptr), true));
  } else {
    WALREP_RETURN_IF_ERROR(
        tar.File("global/pg_control", env->data_dir + "/global/pg_control", true));
    WALREP_ASSIGN_OR_RETURN(end, env->backup_stop(start.redo));
    // The backup history file (PostgreSQL's <segment>.<offset>.backup), for the archive.
    const uint64_t seg_size = wal::kDefaultSegSize;
    std::string name = fmt::format(
        "{}.{:08X}.backup", wal::XLogFileName(tli, wal::SegmentOf(start.redo, seg_size), seg_size),
        static_cast<uint32_t>(start.redo.value() % seg_size));
    std::string history = fmt::format(
        "START WAL LOCATION: {} (file {})\nSTOP WAL LOCATION: {} (file {})\nCHECKPOINT "
        "LOCATION: {}\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: {} UTC\n"
        "LABEL: {}\nSTART TIMELINE: {}\nSTOP TIME: {} UTC\nSTOP TIMELINE: {}\n",
        start.redo.ToString(),
        wal::XLogFileName(tli, wal::SegmentOf(start.redo, seg_size), seg_size), end.ToString(),
        wal::XLogFileName(tli, wal::SegmentOf(Lsn(end.value() - 1), seg_size), seg_size),
        start.checkpoint.ToString(), GmtTime(start_time), o.label, tli, GmtTime(std::time(nullptr)),
        tli);
    WALREP_RETURN_IF_ERROR(env->fs->WriteFileDurably(env->data_dir + "/pg_wal/" + name, history));
    if (env->archive_notify) env->archive_notify(name);
  }
  if (o.wal) {
    // Every segment from the start through the one holding the end, under pg_wal/.
    XLogSegNo first = wal::SegmentOf(start.redo, wal::kDefaultSegSize);
    XLogSegNo last = wal::SegmentOf(Lsn(end.value() - 1), wal::kDefaultSegSize);
    for (XLogSegNo s = first; s <= last; s++) {
      std::string seg = wal::XLogFileName(tli, s, wal::kDefaultSegSize);
      std::string path = env->data_dir + "/pg_wal/" + seg;
      if (!env->fs->Exists(path)) {
        return Status::Sql("58P01", fmt::format("could not find WAL file \"{}\"", seg));
      }
      WALREP_RETURN_IF_ERROR(tar.File("pg_wal/" + seg, path, false));
    }
  }
  WALREP_RETURN_IF_ERROR(tar.Trailer());
  WALREP_RETURN_IF_ERROR(sink.End());
  if (o.wait) {
    conn->Write(protocol::NoticeMessage(
        protocol::NoticeSeverity::kNotice, "00000",
        "WAL archiving is not enabled; you must ensure that all required WAL segments are "
        "copied through other means to complete the backup"));
  }
  if (o.manifest) {
    std::string m = BuildManifest(o, files, tli, start.redo, end);
    conn->Write(protocol::MessageBuilder('d').Int8('m').Finish());
    // The contents go only to a client target (a server target keeps its copy, below).
    for (size_t off = 0; o.target == "client" && off < m.size(); off += kChunk) {
      conn->Write(protocol::MessageBuilder('d')
                      .Int8('d')
                      .Bytes(std::string_view(m).substr(off, kChunk))
                      .Finish());
    }
    if (o.target == "server") {
      WALREP_RETURN_IF_ERROR(env->fs->WriteFileDurably(o.target_detail + "/backup_manifest", m));
    }
  }
  conn->Write(protocol::EmptyMessage('c'));
  SendPosition(conn, end, tli);
  WALREP_LOG("base backup \"{}\" done: start {}, end {}", o.label, start.redo.ToString(),
             end.ToString());
  return conn->Flush();
}

}  // namespace walrep::replication
