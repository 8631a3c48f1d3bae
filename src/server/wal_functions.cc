// walrep: SQL functions over the server's WAL and files — pg_current_wal_lsn() and friends,
// pg_switch_wal(), pg_walfile_name(), pg_ls_waldir(), pg_control_checkpoint(),
// pg_database_size() (pg_relation_size and the other relation sizes: sql/pg_catalog.cc).
// Registered by the Server because they need its XLog; sql only sees the registry.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "walrep/server/server.h"
#include "walrep/sql/session_context.h"

namespace walrep::server {

namespace {
using sql::FunctionCall;
using sql::Value;
namespace oid = sql::oid;

Value LsnValue(Lsn l) { return Value::Int(oid::kPgLsn, static_cast<int64_t>(l.value())); }
Lsn ArgLsn(const Value& v) { return Lsn(static_cast<uint64_t>(v.as_int())); }

// pg_walfile_name() names the segment holding the byte before the LSN (XLByteToPrevSeg).
XLogSegNo PrevSeg(Lsn l) { return (l.value() - 1) / wal::kDefaultSegSize; }
}  // namespace

// pg_ls_dir / pg_stat_file / pg_read_binary_file: a path relative to the data directory, or an
// absolute one inside it. Unlike PostgreSQL, where superusers may read any file the server
// can, walrep never reads outside the data directory.
Result<std::string> Server::DataDirPath(const std::string& path) const {
  for (size_t start = 0; start <= path.size();) {
    size_t end = std::min(path.find('/', start), path.size());
    if (path.compare(start, end - start, "..") == 0) {
      return Status::Sql("42501", "reference to parent directory (\"..\") not allowed");
    }
    start = end + 1;
  }
  if (!path.empty() && path[0] == '/') {
    const std::string& dir = opts_.data_dir;
    if (path == dir || path.rfind(dir + "/", 0) == 0) return path;
    return Status::Sql("42501", "absolute path not allowed");
  }
  return opts_.data_dir + "/" + path;
}

// WAL control functions need a primary (PostgreSQL's wording).
Status Server::RequireNotInRecovery(const char* fn) {
  if (!xlog().in_recovery()) return Status::OK();
  return Status::Sql("55000", "recovery is in progress")
      .WithHint(fmt::format("{} cannot be executed during recovery.", fn));
}

void Server::RegisterWalFunctions() {
  // pg_promote(wait boolean DEFAULT true, wait_seconds integer DEFAULT 60).
  sql::FunctionDef promote;
  promote.name = "pg_promote";
  promote.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
    if (types.size() > 2) {
      return Status::Sql("42883", "function pg_promote with more than 2 arguments does not exist")
          .WithHint(
              "No function matches the given name and argument types. You might need to add "
              "explicit type casts.");
    }
    std::vector<int32_t> want = {oid::kBool, oid::kInt4};
    want.resize(types.size());
    types = want;
    return oid::kBool;
  };
  promote.eval = [this](FunctionCall& c) -> Result<Value> {
    if (!c.ctx.is_superuser()) {
      return Status::Sql("42501", "permission denied for function pg_promote");
    }
    bool wait = c.args.empty() || c.args[0].as_bool();
    int64_t secs = c.args.size() < 2 ? 60 : c.args[1].as_int();
    if (secs <= 0) {
      return Status::Sql("22023", "\"wait_seconds\" must not be negative or zero");
    }
    WALREP_RETURN_IF_ERROR(RequestPromote());
    if (!wait) return Value::Bool(true);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    while (in_recovery()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        c.ctx.AddNotice(
            "WARNING", "01000",
            fmt::format("server did not promote within {} second{}", secs, secs == 1 ? "" : "s"));
        return Value::Bool(false);
      }
      WALREP_RETURN_IF_ERROR(c.ctx.CheckInterrupts());
      c.ctx.InterruptibleSleep(10000);
    }
    return Value::Bool(true);
  };
  registry_.AddFunction(std::move(promote));

  auto lsn_fn = [this](const char* name, std::function<Lsn(wal::WalWriter&)> get) {
    registry_.AddFunction(
        sql::FixedFunction(name, {}, oid::kPgLsn, [this, get](FunctionCall&) -> Result<Value> {
          WALREP_RETURN_IF_ERROR(RequireNotInRecovery("WAL control functions"));
          return LsnValue(get(xlog().writer()));
        }));
  };
  lsn_fn("pg_current_wal_lsn", [](wal::WalWriter& w) { return w.write_lsn(); });
  lsn_fn("pg_current_wal_insert_lsn", [](wal::WalWriter& w) { return w.insert_lsn(); });
  lsn_fn("pg_current_wal_flush_lsn", [](wal::WalWriter& w) { return w.flush_lsn(); });
  registry_.AddFunction(sql::FixedFunction(
      "pg_switch_wal", {}, oid::kPgLsn, [this](FunctionCall& c) -> Result<Value> {
        if (!c.ctx.is_superuser()) {
          return Status::Sql("42501", "permission denied for function pg_switch_wal");
        }
        WALREP_RETURN_IF_ERROR(RequireNotInRecovery("WAL control functions"));
        WALREP_ASSIGN_OR_RETURN(Lsn end, xlog().SwitchWal());
        return LsnValue(end);
      }));
  registry_.AddFunction(sql::FixedFunction(
      "pg_create_restore_point", {oid::kText}, oid::kPgLsn,
      [this](FunctionCall& c) -> Result<Value> {
        if (!c.ctx.is_superuser()) {
          return Status::Sql("42501", "permission denied for function pg_create_restore_point");
        }
        if (in_recovery()) {
          return Status::Sql("55000", "recovery is in progress")
              .WithHint("WAL control functions cannot be executed during recovery.");
        }
        if (c.args[0].is_null()) return Value::Null(oid::kPgLsn);
        std::string name = c.args[0].as_string();
        if (name.size() >= 64) {
          return Status::Sql("22023", "value too long for restore point (maximum 63 characters)");
        }
        WALREP_ASSIGN_OR_RETURN(Lsn end, xlog().CreateRestorePoint(name));
        return LsnValue(end);
      }));
  registry_.AddFunction(sql::FixedFunction(
      "pg_walfile_name", {oid::kPgLsn}, oid::kText, [this](FunctionCall& c) -> Result<Value> {
        WALREP_RETURN_IF_ERROR(RequireNotInRecovery("pg_walfile_name()"));
        return Value::Text(
            oid::kText,
            wal::XLogFileName(xlog().timeline(), PrevSeg(ArgLsn(c.args[0])), wal::kDefaultSegSize));
      }));
  registry_.AddFunction(sql::FixedFunction("pg_wal_lsn_diff", {oid::kPgLsn, oid::kPgLsn},
                                           oid::kNumeric, [](FunctionCall& c) -> Result<Value> {
                                             __int128 d =
                                                 static_cast<__int128>(ArgLsn(c.args[0]).value()) -
                                                 static_cast<__int128>(ArgLsn(c.args[1]).value());
                                             return Value::Num(sql::Numeric{d, 0});
                                           }));
  {
    // pg_database_size(name | oid): walrep's one database, postgres (oid 5).
    sql::FunctionDef f;
    f.name = "pg_database_size";
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.size() != 1) {
        return Status::Sql("42883", "function pg_database_size does not exist");
      }
      bool by_oid = types[0] == oid::kOid || types[0] == oid::kInt4 || types[0] == oid::kInt8;
      types[0] = by_oid ? oid::kOid : oid::kText;
      return oid::kInt8;
    };
    f.eval = [this](FunctionCall& c) -> Result<Value> {
      const Value& db = c.args[0];
      bool ours = db.type() == oid::kOid ? db.as_int() == 5 : db.as_string() == "postgres";
      if (!ours) {
        return Status::Sql(
            "3D000", fmt::format("database {} does not exist",
                                 db.type() == oid::kOid ? fmt::format("with OID {}", db.as_int())
                                                        : "\"" + db.as_string() + "\""));
      }
      std::string dir = opts_.data_dir + "/base/5";
      WALREP_ASSIGN_OR_RETURN(auto names, fs_->ListDir(dir));
      int64_t total = 0;
      for (const auto& n : names) {
        // Pages still only in shared buffers count too, as if the file were extended.
        if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) continue;
        wal::RelFileNode rel{1663, 5, static_cast<uint32_t>(std::stoul(n))};
        WALREP_ASSIGN_OR_RETURN(storage::BlockNumber blocks, engine_->pool().NBlocks(rel));
        total += static_cast<int64_t>(blocks) * storage::kPageSize;
      }
      return Value::Int(oid::kInt8, total);
    };
    registry_.AddFunction(std::move(f));
  }
  {
    sql::TableFunctionDef f;
    f.name = "pg_walfile_name_offset";
    f.arg_types = {oid::kPgLsn};
    f.columns = {{"file_name", oid::kText}, {"file_offset", oid::kInt4}};
    f.rows = [this](sql::SessionContext&,
                    const std::vector<Value>& args) -> Result<std::vector<sql::Row>> {
      Lsn l = ArgLsn(args[0]);
      return std::vector<sql::Row>{
          {Value::Text(oid::kText,
                       wal::XLogFileName(xlog().timeline(), PrevSeg(l), wal::kDefaultSegSize)),
           Value::Int(oid::kInt4, static_cast<int64_t>(l.value() % wal::kDefaultSegSize))}};
    };
    registry_.AddTableFunction(std::move(f));
  }
  {
    // pg_ls_dir(dirname [, missing_ok [, include_dot_dirs]]): what pg_rewind lists the source with.
    sql::TableFunctionDef ls;
    ls.name = "pg_ls_dir";
    ls.returns_set = true;
    ls.arg_types = {oid::kText, oid::kBool, oid::kBool};
    ls.min_args = 1;
    ls.columns = {{"pg_ls_dir", oid::kText}};
    ls.rows = [this](sql::SessionContext& ctx,
                     const std::vector<Value>& args) -> Result<std::vector<sql::Row>> {
      if (!ctx.is_superuser())
        return Status::Sql("42501", "permission denied for function pg_ls_dir");
      std::vector<sql::Row> rows;
      if (args[0].is_null()) return rows;
      WALREP_ASSIGN_OR_RETURN(std::string dir, DataDirPath(args[0].as_string()));
      bool missing_ok = !args[1].is_null() && args[1].as_bool();
      bool dots = !args[2].is_null() && args[2].as_bool();
      struct stat st;
      if (::stat(dir.c_str(), &st) != 0) {
        if (missing_ok && errno == ENOENT) return rows;
        return Status::Sql(errno == ENOENT ? "58P01" : "58030",
                           fmt::format("could not open directory \"{}\": {}", args[0].as_string(),
                                       std::strerror(errno)));
      }
      if (!S_ISDIR(st.st_mode)) {
        return Status::Sql("42809", fmt::format("could not open directory \"{}\": {}",
                                                args[0].as_string(), std::strerror(ENOTDIR)));
      }
      WALREP_ASSIGN_OR_RETURN(auto names, fs_->ListDir(dir));
      std::sort(names.begin(), names.end());
      if (dots) {
        rows.push_back({Value::Text(oid::kText, ".")});
        rows.push_back({Value::Text(oid::kText, "..")});
      }
      for (const auto& n : names) rows.push_back({Value::Text(oid::kText, n)});
      return rows;
    };
    registry_.AddTableFunction(std::move(ls));
    // pg_stat_file(filename [, missing_ok]).
    sql::TableFunctionDef stat_file;
    stat_file.name = "pg_stat_file";
    stat_file.arg_types = {oid::kText, oid::kBool};
    stat_file.min_args = 1;
    stat_file.columns = {{"size", oid::kInt8},
                         {"access", oid::kTimestampTz},
                         {"modification", oid::kTimestampTz},
                         {"change", oid::kTimestampTz},
                         {"creation", oid::kTimestampTz},
                         {"isdir", oid::kBool}};
    stat_file.rows = [this](sql::SessionContext& ctx,
                            const std::vector<Value>& args) -> Result<std::vector<sql::Row>> {
      if (!ctx.is_superuser()) {
        return Status::Sql("42501", "permission denied for function pg_stat_file");
      }
      std::vector<sql::Row> rows;
      if (args[0].is_null()) return rows;
      WALREP_ASSIGN_OR_RETURN(std::string path, DataDirPath(args[0].as_string()));
      struct stat st;
      auto ts = [](time_t t) {
        return Value::Timestamp(oid::kTimestampTz, (t - kPgEpochUnixSeconds) * 1000000LL);
      };
      if (::stat(path.c_str(), &st) != 0) {
        bool missing_ok = !args[1].is_null() && args[1].as_bool();
        if (missing_ok && errno == ENOENT) {
          // PostgreSQL returns one row of NULLs.
          rows.push_back({Value::Null(oid::kInt8), Value::Null(oid::kTimestampTz),
                          Value::Null(oid::kTimestampTz), Value::Null(oid::kTimestampTz),
                          Value::Null(oid::kTimestampTz), Value::Null(oid::kBool)});
          return rows;
        }
        return Status::Sql(errno == ENOENT ? "58P01" : "58030",
                           fmt::format("could not stat file \"{}\": {}", args[0].as_string(),
                                       std::strerror(errno)));
      }
      rows.push_back({Value::Int(oid::kInt8, st.st_size), ts(st.st_atime), ts(st.st_mtime),
                      ts(st.st_ctime), Value::Null(oid::kTimestampTz),
                      Value::Bool(S_ISDIR(st.st_mode))});
      return rows;
    };
    registry_.AddTableFunction(std::move(stat_file));
  }
  {
    // pg_read_binary_file(filename [, offset, length [, missing_ok]]): pg_rewind fetches the
    // blocks it needs with it.
    sql::FunctionDef read;
    read.name = "pg_read_binary_file";
    read.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.size() != 1 && types.size() != 3 && types.size() != 4) {
        return Status::Sql("42883", "function pg_read_binary_file does not exist")
            .WithHint("No function matches the given name and argument types.");
      }
      types[0] = oid::kText;
      if (types.size() >= 3) types[1] = types[2] = oid::kInt8;
      if (types.size() == 4) types[3] = oid::kBool;
      return oid::kBytea;
    };
    read.eval = [this](FunctionCall& c) -> Result<Value> {
      if (!c.ctx.is_superuser()) {
        return Status::Sql("42501", "permission denied for function pg_read_binary_file");
      }
      WALREP_ASSIGN_OR_RETURN(std::string path, DataDirPath(c.args[0].as_string()));
      bool missing_ok = c.args.size() == 4 && c.args[3].as_bool();
      int64_t offset = c.args.size() >= 3 ? c.args[1].as_int() : 0;
      int64_t length = c.args.size() >= 3 ? c.args[2].as_int() : -1;
      if (c.args.size() >= 3 && length < 0) {
        return Status::Sql("22023", "requested length cannot be negative");
      }
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return Status::Sql("42809", fmt::format("could not read file \"{}\": {}",
                                                c.args[0].as_string(), std::strerror(EISDIR)));
      }
      auto f = fs_->OpenRandomAccess(path, false);
      if (!f.ok()) {
        if (missing_ok && !fs_->Exists(path)) return Value::Null(oid::kBytea);
        return Status::Sql("58P01", fmt::format("could not open file \"{}\" for reading: No such "
                                                "file or directory",
                                                c.args[0].as_string()));
      }
      WALREP_ASSIGN_OR_RETURN(uint64_t size, (*f)->Size());
      // A negative offset counts from the end of the file, as PostgreSQL's.
      uint64_t from = offset >= 0 ? static_cast<uint64_t>(offset)
                                  : size - std::min<uint64_t>(size, static_cast<uint64_t>(-offset));
      uint64_t n = from >= size ? 0 : size - from;
      if (length >= 0) n = std::min<uint64_t>(n, static_cast<uint64_t>(length));
      WALREP_ASSIGN_OR_RETURN(std::string data, (*f)->ReadAt(from, n));
      return Value::Text(oid::kBytea, std::move(data));
    };
    registry_.AddFunction(std::move(read));
  }
  {
    sql::TableFunctionDef f;
    f.name = "pg_ls_waldir";
    f.returns_set = true;
    f.columns = {{"name", oid::kText}, {"size", oid::kInt8}, {"modification", oid::kTimestampTz}};
    f.rows = [this](sql::SessionContext& ctx,
                    const std::vector<Value>&) -> Result<std::vector<sql::Row>> {
      if (!ctx.is_superuser()) {
        return Status::Sql("42501", "permission denied for function pg_ls_waldir");
      }
      std::string dir = xlog().wal_dir();
      WALREP_ASSIGN_OR_RETURN(auto names, fs_->ListDir(dir));
      std::sort(names.begin(), names.end());
      std::vector<sql::Row> rows;
      for (const auto& n : names) {
        struct stat st;
        if (::stat((dir + "/" + n).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        rows.push_back(
            {Value::Text(oid::kText, n), Value::Int(oid::kInt8, st.st_size),
             Value::Timestamp(oid::kTimestampTz, (st.st_mtime - kPgEpochUnixSeconds) * 1000000LL)});
      }
      return rows;
    };
    registry_.AddTableFunction(std::move(f));
  }
  {
    sql::TableFunctionDef f;
    f.name = "pg_control_checkpoint";
    f.columns = {{"checkpoint_lsn", oid::kPgLsn},
                 {"redo_lsn", oid::kPgLsn},
                 {"redo_wal_file", oid::kText},
                 {"timeline_id", oid::kInt4},
                 {"prev_timeline_id", oid::kInt4},
                 {"full_page_writes", oid::kBool},
                 {"next_xid", oid::kText},
                 {"next_oid", oid::kOid},
                 {"next_multixact_id", oid::kXid},
                 {"next_multi_offset", oid::kXid},
                 {"oldest_xid", oid::kXid},
                 {"oldest_xid_dbid", oid::kOid},
                 {"oldest_active_xid", oid::kXid},
                 {"oldest_multi_xid", oid::kXid},
                 {"oldest_multi_dbid", oid::kOid},
                 {"oldest_commit_ts_xid", oid::kXid},
                 {"newest_commit_ts_xid", oid::kXid},
                 {"checkpoint_time", oid::kTimestampTz}};
    f.rows = [this](sql::SessionContext&,
                    const std::vector<Value>&) -> Result<std::vector<sql::Row>> {
      storage::ControlFileData c = xlog().control();
      const auto& cp = c.checkpoint_copy;
      return std::vector<sql::Row>{
          {LsnValue(Lsn(c.checkpoint)), LsnValue(Lsn(cp.redo)),
           Value::Text(oid::kText,
                       wal::XLogFileName(cp.this_timeline,
                                         wal::SegmentOf(Lsn(cp.redo), wal::kDefaultSegSize),
                                         wal::kDefaultSegSize)),
           Value::Int(oid::kInt4, cp.this_timeline), Value::Int(oid::kInt4, cp.prev_timeline),
           Value::Bool(cp.full_page_writes != 0),
           Value::Text(oid::kText,
                       fmt::format("{}:{}", cp.next_xid >> 32, static_cast<uint32_t>(cp.next_xid))),
           Value::Int(oid::kOid, cp.next_oid), Value::Int(oid::kXid, cp.next_multi),
           Value::Int(oid::kXid, cp.next_multi_offset), Value::Int(oid::kXid, cp.oldest_xid),
           Value::Int(oid::kOid, cp.oldest_xid_db), Value::Int(oid::kXid, cp.oldest_active_xid),
           Value::Int(oid::kXid, cp.oldest_multi), Value::Int(oid::kOid, cp.oldest_multi_db),
           Value::Int(oid::kXid, cp.oldest_commit_ts_xid),
           Value::Int(oid::kXid, cp.newest_commit_ts_xid),
           Value::Timestamp(oid::kTimestampTz, (cp.time - kPgEpochUnixSeconds) * 1000000LL)}};
    };
    registry_.AddTableFunction(std::move(f));
  }
}

}  // namespace walrep::server
