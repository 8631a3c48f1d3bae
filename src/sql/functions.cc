// walrep: built-in functions that need nothing below sql (no tables, no WAL).
// Functions that need server state reach it through SessionContext.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "spill.h"
#include "sql_internal.h"
#include "walrep/common/guc.h"
#include "walrep/common/regex.h"
#include "walrep/common/strings.h"

namespace walrep::sql {

namespace {

Value TextV(std::string s) { return Value::Text(oid::kText, std::move(s)); }

// pg_size_pretty: PostgreSQL keeps one extra bit while shifting so halves round away from zero.
std::string SizePretty(int64_t size) {
  static const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB"};
  const int64_t limit = 10 * 1024, limit2 = limit * 2 - 1;
  if (std::llabs(size) < limit) return fmt::format("{} bytes", size);
  size >>= 9;
  int unit = 0;
  while (std::llabs(size) >= limit2 && unit < 4) {
    size >>= 10;
    unit++;
  }
  int64_t half = (size + (size < 0 ? -1 : 1)) / 2;
  return fmt::format("{} {}", half, kUnits[unit]);
}

// A function of one argument whose type `accepts` allows (an unknown literal is taken as text),
// as PostgreSQL resolves one: other types have no implicit cast here, so they get 42883 at
// analysis instead of reaching `eval` (where reading a number as text was an internal error,
// finding 18). `result` 0: the argument's type.
FunctionDef OneArgFunction(std::string name, int32_t result, std::function<bool(int32_t)> accepts,
                           std::function<Result<Value>(FunctionCall&)> eval) {
  FunctionDef f;
  f.name = name;
  f.eval = std::move(eval);
  f.resolve = [name, result, accepts](std::vector<int32_t>& types) -> Result<int32_t> {
    if (types.size() == 1 && types[0] == oid::kUnknown && accepts(oid::kText)) {
      types[0] = oid::kText;
    }
    if (types.size() != 1 || !accepts(types[0])) return NoSuchFunction(name, types);
    return result == 0 ? types[0] : result;
  };
  return f;
}

bool IsTextOrBytea(int32_t t) { return IsStringType(t) || t == oid::kBytea; }

}  // namespace

void RegisterBuiltinFunctions(Registry* r) {
  {
    // regexp_replace(source, pattern, replacement [, flags]): the first match (every one with
    // flag g) replaced; PostgreSQL's flags (ParseRegexFlags) and replacement escapes.
    FunctionDef f;
    f.name = "regexp_replace";
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.size() < 3 || types.size() > 4) {
        return Status::Sql("42883", "function regexp_replace does not exist");
      }
      for (auto& t : types) t = oid::kText;
      return oid::kText;
    };
    f.eval = [](FunctionCall& c) -> Result<Value> {
      bool global = false;
      WALREP_ASSIGN_OR_RETURN(
          RegexOptions opts,
          ParseRegexFlags(c.args.size() > 3 ? c.args[3].as_string() : "", &global));
      WALREP_ASSIGN_OR_RETURN(auto re, Regex::Compile(c.args[1].as_string(), opts));
      SessionContext* ctx = &c.ctx;
      WALREP_ASSIGN_OR_RETURN(std::string out,
                              re->Replace(c.args[0].as_string(), c.args[2].as_string(), global,
                                          [ctx] { return ctx->CheckInterrupts(); }));
      return Value::Text(oid::kText, std::move(out));
    };
    r->AddFunction(std::move(f));
  }
  {
    // pg_settings: every setting as this session sees it, with PostgreSQL 15's columns.
    ViewDef v;
    v.name = "pg_settings";
    v.columns = {
        {"name", oid::kText},       {"setting", oid::kText},        {"unit", oid::kText},
        {"category", oid::kText},   {"short_desc", oid::kText},     {"extra_desc", oid::kText},
        {"context", oid::kText},    {"vartype", oid::kText},        {"source", oid::kText},
        {"min_val", oid::kText},    {"max_val", oid::kText},        {"enumvals", oid::kTextArray},
        {"boot_val", oid::kText},   {"reset_val", oid::kText},      {"sourcefile", oid::kText},
        {"sourceline", oid::kInt4}, {"pending_restart", oid::kBool}};
    v.rows = [](SessionContext& ctx) -> Result<std::vector<Row>> {
      std::vector<const GucDef*> defs;
      for (const auto& d : GucTable()) defs.push_back(&d);
      std::sort(defs.begin(), defs.end(), [](const GucDef* a, const GucDef* b) {
        return ToLower(a->name) < ToLower(b->name);
      });
      auto text = [](const std::string& t) { return Value::Text(oid::kText, t); };
      auto null = Value::Null(oid::kText);
      std::vector<Row> rows;
      const SessionSettings& ss = ctx.settings();
      for (const GucDef* d : defs) {
        if (!ss.CanSee(*d)) continue;
        std::string value = ss.Get(d->name).value_or(d->boot_value);
        std::string server = ss.server().Get(d->name).value_or(d->boot_value);
        static const char* kUnits[] = {"", "B", "kB", "MB", "8kB", "8kB", "ms", "s", "min"};
        std::string unit = kUnits[static_cast<int>(d->unit)];
        const char* source = "default";
        if (value != server) {
          source = "session";
        } else {
          switch (ss.server().SourceOf(d->name)) {
            case GucSource::kFile:
              source = "configuration file";
              break;
            case GucSource::kArgv:
              source = "command line";
              break;
            case GucSource::kClient:
              source = "client";
              break;
            default:
              break;
          }
        }
        bool numeric = d->type == GucType::kInt || d->type == GucType::kReal;
        auto bound = [&](double b) {
          return d->type == GucType::kInt ? fmt::format("{}", static_cast<int64_t>(b))
                                          : fmt::format("{}", b);
        };
        Value enums = Value::Null(oid::kTextArray);
        if (d->type == GucType::kEnum && d->enum_values) {
          ArrayElems e;
          std::string all = d->enum_values;
          size_t p = 0;
          while (p <= all.size()) {
            size_t c = all.find(',', p);
            e.push_back(text(all.substr(p, c == std::string::npos ? std::string::npos : c - p)));
            if (c == std::string::npos) break;
            p = c + 1;
          }
          enums = Value::Array(oid::kTextArray, std::move(e));
        }
        rows.push_back({text(d->name), text(value), unit.empty() ? null : text(unit),
                        text(d->group), text(d->description), null,
                        text(GucContextName(d->context)), text(GucTypeName(d->type)), text(source),
                        numeric ? text(bound(d->min)) : null, numeric ? text(bound(d->max)) : null,
                        enums, text(d->boot_value), text(server), null, Value::Null(oid::kInt4),
                        Value::Bool(false)});
      }
      return rows;
    };
    r->AddView(std::move(v));
  }
  {
    // The session's executor memory (PostgreSQL's view of the backend's memory contexts): walrep
    // tracks the rows its sorts, hashes, tuplestores and cursors hold, as one context.
    ViewDef v;
    v.name = "pg_backend_memory_contexts";
    v.columns = {
        {"name", oid::kText},       {"ident", oid::kText},       {"parent", oid::kText},
        {"level", oid::kInt4},      {"total_bytes", oid::kInt8}, {"total_nblocks", oid::kInt8},
        {"free_bytes", oid::kInt8}, {"free_chunks", oid::kInt8}, {"used_bytes", oid::kInt8}};
    v.rows = [](SessionContext& ctx) -> Result<std::vector<Row>> {
      std::vector<Row> rows;
      const Executor* ex = ctx.executor();
      if (!ex) return rows;
      int64_t used = ex->resources().memory();
      rows.push_back({Value::Text(oid::kText, "ExecutorState"), Value::Null(oid::kText),
                      Value::Null(oid::kText), Value::Int(oid::kInt4, 0),
                      Value::Int(oid::kInt8, used), Value::Int(oid::kInt8, 0),
                      Value::Int(oid::kInt8, 0), Value::Int(oid::kInt8, 0),
                      Value::Int(oid::kInt8, used)});
      return rows;
    };
    r->AddView(std::move(v));
  }
  r->AddFunction(FixedFunction("version", {}, oid::kText, [](FunctionCall& c) -> Result<Value> {
    return TextV(fmt::format("PostgreSQL {} on x86_64-pc-linux-gnu, compiled by walrep, 64-bit",
                             c.ctx.settings().Get("server_version").value_or("15")));
  }));
  r->AddFunction(
      FixedFunction("clock_timestamp", {}, oid::kTimestampTz, [](FunctionCall&) -> Result<Value> {
        return Value::Timestamp(oid::kTimestampTz, NowTimestamp());
      }));
  // random(): uniform in [0, 1), from a generator per thread (PostgreSQL's is per backend).
  r->AddFunction(FixedFunction("random", {}, oid::kFloat8, [](FunctionCall&) -> Result<Value> {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    return Value::Float(oid::kFloat8, std::uniform_real_distribution<double>(0.0, 1.0)(gen));
  }));
  r->AddFunction(FixedFunction("timeofday", {}, oid::kText, [](FunctionCall&) -> Result<Value> {
    return TextV(FormatTimestampTz(NowTimestamp(), 0));
  }));
  r->AddFunction(FixedFunction(
      "current_database", {}, oid::kName,
      [](FunctionCall& c) -> Result<Value> { return Value::Text(oid::kName, c.ctx.database()); }));
  r->AddFunction(
      FixedFunction("pg_backend_pid", {}, oid::kInt4, [](FunctionCall& c) -> Result<Value> {
        return Value::Int(oid::kInt4, c.ctx.backend_pid());
      }));
  r->AddFunction(FixedFunction(
      "pg_postmaster_start_time", {}, oid::kTimestampTz, [](FunctionCall& c) -> Result<Value> {
        return Value::Timestamp(oid::kTimestampTz, c.ctx.postmaster_start_time());
      }));
  r->AddFunction(FixedFunction(
      "pg_is_in_recovery", {}, oid::kBool,
      [](FunctionCall& c) -> Result<Value> { return Value::Bool(c.ctx.in_recovery()); }));
  r->AddFunction(
      FixedFunction("pg_reload_conf", {}, oid::kBool, [](FunctionCall& c) -> Result<Value> {
        if (!c.ctx.is_superuser()) {
          return Status::Sql("42501", "permission denied for function pg_reload_conf");
        }
        // Like PostgreSQL, the reload is requested and true returned;
        // walrep also tells the caller when the files had errors.
        Status st = c.ctx.ReloadConfig();
        if (!st.ok()) {
          c.ctx.AddNotice("WARNING", st.sqlstate(),
                          "configuration files contain errors; no changes "
                          "were applied",
                          st.message());
        }
        return Value::Bool(true);
      }));
  auto signal = [](bool terminate) {
    return [terminate](FunctionCall& c) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(
          bool ok, c.ctx.SignalBackend(static_cast<int32_t>(c.args[0].as_int()), terminate));
      return Value::Bool(ok);
    };
  };
  r->AddFunction(FixedFunction("pg_cancel_backend", {oid::kInt4}, oid::kBool, signal(false)));
  {
    FunctionDef f = FixedFunction("pg_terminate_backend", {oid::kInt4}, oid::kBool, signal(true));
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.empty() || types.size() > 2) {
        return Status::Sql("42883", "function pg_terminate_backend does not exist");
      }
      types = types.size() == 1 ? std::vector<int32_t>{oid::kInt4}
                                : std::vector<int32_t>{oid::kInt4, oid::kInt8};
      return oid::kBool;
    };
    r->AddFunction(f);
  }
  {
    FunctionDef f;
    f.name = "current_setting";
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.empty() || types.size() > 2) {
        return Status::Sql("42883", "function current_setting does not exist");
      }
      types = types.size() == 1 ? std::vector<int32_t>{oid::kText}
                                : std::vector<int32_t>{oid::kText, oid::kBool};
      return oid::kText;
    };
    f.eval = [](FunctionCall& c) -> Result<Value> {
      bool missing_ok = c.args.size() == 2 && c.args[1].as_bool();
      auto v = c.ctx.settings().Show(c.args[0].as_string());
      if (!v.ok()) {
        if (missing_ok) return Value::Null(oid::kText);
        return v.TakeStatus();
      }
      return TextV(*v);
    };
    r->AddFunction(f);
  }
  r->AddFunction(FixedFunction(
      "set_config", {oid::kText, oid::kText, oid::kBool}, oid::kText,
      [](FunctionCall& c) -> Result<Value> {
        // The executor reports whether a transaction is open through the local flag's semantics:
        // set_config(..., true) outside a transaction block has no lasting effect.
        const std::string& name = c.args[0].as_string();
        WALREP_RETURN_IF_ERROR(c.ctx.settings().Set(name, c.args[1].as_string(),
                                                    c.args[2].as_bool(), /*in_transaction=*/true));
        WALREP_ASSIGN_OR_RETURN(std::string shown, c.ctx.settings().Show(name));
        return TextV(shown);
      },
      /*strict=*/false));
  r->AddFunction(
      FixedFunction("pg_sleep", {oid::kFloat8}, oid::kVoid, [](FunctionCall& c) -> Result<Value> {
        double secs = c.args[0].as_double();
        auto deadline = NowTimestamp() + static_cast<int64_t>(secs * 1e6);
        c.ctx.SetWaitEvent("Timeout", "PgSleep");  // in pg_stat_activity, as PostgreSQL's
        Status st;
        while (st.ok()) {
          st = c.ctx.CheckInterrupts();
          int64_t left = deadline - NowTimestamp();
          if (!st.ok() || left <= 0) break;
          c.ctx.InterruptibleSleep(left);
        }
        c.ctx.SetWaitEvent("", "");
        WALREP_RETURN_IF_ERROR(st);
        return Value::Text(oid::kVoid, "");
      }));
  {
    FunctionDef f;
    f.name = "pg_size_pretty";
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.size() != 1) return Status::Sql("42883", "function pg_size_pretty does not exist");
      types[0] = types[0] == oid::kNumeric ? oid::kNumeric : oid::kInt8;
      return oid::kText;
    };
    f.eval = [](FunctionCall& c) -> Result<Value> {
      const Value& v = c.args[0];
      int64_t size = 0;
      if (v.type() != oid::kNumeric) {
        size = v.as_int();
      } else {
        WALREP_ASSIGN_OR_RETURN(Numeric whole, NumericRescale(v.as_numeric(), 0));
        if (whole.mantissa > INT64_MAX || whole.mantissa < INT64_MIN) {
          return Status::Sql("22003", "bigint out of range");
        }
        size = static_cast<int64_t>(whole.mantissa);
      }
      return TextV(SizePretty(size));
    };
    r->AddFunction(f);
  }
  r->AddFunction(
      OneArgFunction("upper", oid::kText, IsStringType, [](FunctionCall& c) -> Result<Value> {
        std::string s = c.args[0].as_string();
        for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return TextV(s);
      }));
  r->AddFunction(OneArgFunction(
      "lower", oid::kText, IsStringType,
      [](FunctionCall& c) -> Result<Value> { return TextV(ToLower(c.args[0].as_string())); }));
  r->AddFunction(FixedFunction("repeat", {oid::kText, oid::kInt4}, oid::kText,
                               [](FunctionCall& c) -> Result<Value> {
                                 std::string s = c.args[0].as_string();
                                 int64_t n = c.args[1].as_int();
                                 if (n > 0 && s.size() * static_cast<size_t>(n) > (1u << 30) - 1) {
                                   return Status::Sql("54000", "requested length too large");
                                 }
                                 std::string out;
                                 for (int64_t i = 0; i < n; i++) out += s;
                                 return TextV(out);
                               }));
  r->AddFunction(
      OneArgFunction("length", oid::kInt4, IsTextOrBytea, [](FunctionCall& c) -> Result<Value> {
        const Value& v = c.args[0];
        if (v.type() == oid::kBytea)
          return Value::Int(oid::kInt4, static_cast<int64_t>(v.as_string().size()));
        // Characters, not bytes: count UTF-8 lead bytes.
        int64_t n = 0;
        for (unsigned char ch : v.as_string()) n += (ch & 0xC0) != 0x80;
        return Value::Int(oid::kInt4, n);
      }));
  r->AddFunction(OneArgFunction("abs", 0, IsNumericCategory, [](FunctionCall& c) -> Result<Value> {
    const Value& v = c.args[0];
    if (v.type() == oid::kNumeric) {
      Numeric n = v.as_numeric();
      if (n.mantissa < 0) n.mantissa = -n.mantissa;
      return Value::Num(n);
    }
    if (v.type() == oid::kFloat8 || v.type() == oid::kFloat4) {
      return Value::Float(v.type(), std::fabs(v.as_double()));
    }
    return Value::Int(v.type(), v.as_int() < 0 ? -v.as_int() : v.as_int());
  }));
  {
    FunctionDef f;
    f.name = "round";
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.empty() || types.size() > 2)
        return Status::Sql("42883", "function round does not exist");
      if (types.size() == 2 || types[0] == oid::kNumeric || IsIntegerType(types[0]) ||
          types[0] == oid::kUnknown) {
        types[0] = oid::kNumeric;
        if (types.size() == 2) types[1] = oid::kInt4;
        return oid::kNumeric;
      }
      types[0] = oid::kFloat8;
      return oid::kFloat8;
    };
    f.eval = [](FunctionCall& c) -> Result<Value> {
      if (c.args[0].type() == oid::kFloat8)
        return Value::Float(oid::kFloat8, std::nearbyint(c.args[0].as_double()));
      int scale = c.args.size() == 2 ? static_cast<int>(c.args[1].as_int()) : 0;
      WALREP_ASSIGN_OR_RETURN(Numeric r,
                              NumericRescale(c.args[0].as_numeric(), std::max(0, scale)));
      return Value::Num(r);
    };
    r->AddFunction(f);
  }
  {
    FunctionDef f;
    f.name = "concat";
    f.strict = false;
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      for (auto& t : types) {
        if (t == oid::kUnknown) t = oid::kText;
      }
      return oid::kText;
    };
    f.eval = [](FunctionCall& c) -> Result<Value> {
      std::string out;
      FormatOptions fo;
      for (const auto& v : c.args) {
        if (!v.is_null()) out += ToText(v, fo);
      }
      return TextV(out);
    };
    r->AddFunction(f);
  }
  {
    // EXTRACT(field FROM source) and date_part(field, source).
    auto extract = [](bool as_numeric) {
      return [as_numeric](FunctionCall& c) -> Result<Value> {
        std::string field = ToLower(c.args[0].as_string());
        const Value& src = c.args[1];
        double out;
        if (src.type() == oid::kInterval) {
          const Interval& iv = src.as_interval();
          if (field == "epoch") {
            out = (static_cast<double>(iv.months) * 30 + iv.days) * 86400.0 + iv.micros / 1e6;
            if (as_numeric) {
              __int128 us =
                  (static_cast<__int128>(iv.months) * 30 + iv.days) * 86400000000LL + iv.micros;
              return Value::Num(Numeric{us, 6});
            }
          } else if (field == "day") {
            out = iv.days;
          } else if (field == "hour") {
            out = static_cast<double>(iv.micros / 3600000000LL);
          } else if (field == "minute") {
            out = static_cast<double>((iv.micros / 60000000LL) % 60);
          } else if (field == "second") {
            out = static_cast<double>(iv.micros % 60000000LL) / 1e6;
          } else {
            return Status::Sql("0A000", fmt::format("interval units \"{}\" not supported", field));
          }
        } else {
          int64_t us = src.as_int();
          if (src.type() == oid::kDate) us *= 86400000000LL;
          if (us == INT64_MAX || us == INT64_MIN) {  // infinity: the year and epoch are infinite
            if (field != "year" && field != "epoch")
              return Value::Null(as_numeric ? oid::kNumeric : oid::kFloat8);
            if (as_numeric) return Status::Sql("22003", "value overflows numeric format");
            return Value::Float(oid::kFloat8, us > 0 ? HUGE_VAL : -HUGE_VAL);
          }
          if (field == "epoch") {
            if (as_numeric) {
              return Value::Num(
                  Numeric{static_cast<__int128>(us) + kPgEpochUnixSeconds * 1000000LL, 6});
            }
            out = static_cast<double>(us) / 1e6 + kPgEpochUnixSeconds;
          } else {
            int64_t local =
                us +
                (src.type() == oid::kTimestampTz
                     ? static_cast<int64_t>(
                           ParseTimeZoneOffset(c.ctx.settings().Get("TimeZone").value_or("UTC"))
                               .value_or(0)) *
                           1000000
                     : 0);
            CivilTime t = BreakDownTimestamp(local);
            double y = static_cast<double>(t.year), mo = t.month, d = t.day,
                   h = static_cast<double>(t.hour), mi = static_cast<double>(t.minute),
                   s = static_cast<double>(t.second) + static_cast<double>(t.micros) / 1e6;
            if (field == "year")
              out = y;
            else if (field == "month")
              out = mo;
            else if (field == "day")
              out = d;
            else if (field == "hour")
              out = h;
            else if (field == "minute")
              out = mi;
            else if (field == "second")
              out = s;
            else
              return Status::Sql("0A000", fmt::format("unit \"{}\" not supported", field));
          }
        }
        if (as_numeric) return FromText(oid::kNumeric, fmt::format("{}", out), FormatOptions{});
        return Value::Float(oid::kFloat8, out);
      };
    };
    for (bool numeric : {true, false}) {
      FunctionDef f;
      f.name = numeric ? "extract" : "date_part";
      f.resolve = [numeric](std::vector<int32_t>& types) -> Result<int32_t> {
        if (types.size() != 2) return Status::Sql("42883", "function extract does not exist");
        types[0] = oid::kText;
        if (types[1] == oid::kUnknown) types[1] = oid::kTimestampTz;
        if (types[1] != oid::kTimestampTz && types[1] != oid::kTimestamp &&
            types[1] != oid::kDate && types[1] != oid::kInterval) {
          return Status::Sql("42883",
                             fmt::format("function {}(unknown, {}) does not exist",
                                         numeric ? "extract" : "date_part", TypeName(types[1])));
        }
        return numeric ? oid::kNumeric : oid::kFloat8;
      };
      f.eval = extract(numeric);
      r->AddFunction(f);
    }
  }
  {
    // generate_series(start, stop [, step]) over int4, int8 and numeric, and over time stamps
    // with an interval step; rows are produced as they are read.
    TableFunctionDef f;
    f.name = "generate_series";
    f.returns_set = true;
    f.arg_types = {oid::kInt4, oid::kInt4, oid::kInt4};
    f.min_args = 2;
    f.columns = {{"generate_series", oid::kInt4}};
    f.resolve = [](std::vector<int32_t>& types) -> Result<std::vector<ViewColumn>> {
      auto none = [&]() {
        std::string list;
        for (size_t i = 0; i < types.size(); i++) {
          list += (i ? ", " : "") + std::string(TypeName(types[i]));
        }
        return Status::Sql("42883",
                           fmt::format("function generate_series({}) does not exist", list));
      };
      if (types.size() < 2 || types.size() > 3) return none();
      bool any_ts = false, any_tstz = false, any_num = false, any_float = false, any_int8 = false;
      for (size_t i = 0; i < 2; i++) {
        int32_t t = types[i];
        any_ts |= t == oid::kTimestamp || t == oid::kDate;
        any_tstz |= t == oid::kTimestampTz;
        any_num |= t == oid::kNumeric;
        any_float |= t == oid::kFloat4 || t == oid::kFloat8;
        any_int8 |= t == oid::kInt8;
        if (t != oid::kUnknown && !IsNumericCategory(t) && t != oid::kTimestamp &&
            t != oid::kTimestampTz && t != oid::kDate) {
          return none();
        }
      }
      int32_t t;
      if (any_ts || any_tstz) {
        if (types.size() != 3 || (types[2] != oid::kInterval && types[2] != oid::kUnknown)) {
          return none();
        }
        t = any_tstz ? oid::kTimestampTz : oid::kTimestamp;
        types = {t, t, oid::kInterval};
      } else {
        t = any_num || any_float ? oid::kNumeric : any_int8 ? oid::kInt8 : oid::kInt4;
        if (types.size() == 3) {
          if (types[2] != oid::kUnknown && !IsNumericCategory(types[2])) return none();
          if (types[2] == oid::kNumeric || types[2] == oid::kFloat4 || types[2] == oid::kFloat8) {
            t = oid::kNumeric;
          } else if (types[2] == oid::kInt8 && t == oid::kInt4) {
            t = oid::kInt8;
          }
        }
        for (auto& x : types) x = t;
      }
      return std::vector<ViewColumn>{{"generate_series", t}};
    };
    f.stream = [](SessionContext&,
                  const std::vector<Value>& args) -> Result<TableFunctionDef::NextRowFn> {
      bool done = args[0].is_null() || args[1].is_null() || (args.size() > 2 && args[2].is_null());
      if (done) return TableFunctionDef::NextRowFn([](Row*) -> Result<bool> { return false; });
      int32_t t = args[0].type();
      if (t == oid::kTimestamp || t == oid::kTimestampTz) {
        Interval step = args.size() > 2 ? args[2].as_interval() : Interval{};
        if (step.months == 0 && step.days == 0 && step.micros == 0) {
          return Status::Sql("22023", "step size cannot equal zero");
        }
        bool up = step.months > 0 ||
                  (step.months == 0 && (step.days > 0 || (step.days == 0 && step.micros > 0)));
        int64_t cur = args[0].as_int(), stop = args[1].as_int();
        return TableFunctionDef::NextRowFn(
            [cur, stop, step, up, t](Row* row) mutable -> Result<bool> {
              if (up ? cur > stop : cur < stop) return false;
              *row = {Value::Timestamp(t, cur)};
              cur = AddInterval(cur, step);  // as timestamp + interval
              return true;
            });
      }
      if (t == oid::kNumeric) {
        Numeric lo = args[0].as_numeric(), hi = args[1].as_numeric();
        Numeric step = args.size() > 2 ? args[2].as_numeric() : NumericFromInt(1);
        if (step.mantissa == 0) return Status::Sql("22023", "step size cannot equal zero");
        int sc = std::max({lo.scale, hi.scale, step.scale});
        WALREP_ASSIGN_OR_RETURN(Numeric first, NumericRescale(lo, sc));
        WALREP_ASSIGN_OR_RETURN(Numeric last, NumericRescale(hi, sc));
        WALREP_ASSIGN_OR_RETURN(Numeric by, NumericRescale(step, sc));
        int out_scale = std::max(lo.scale, step.scale);
        return TableFunctionDef::NextRowFn([cur = std::optional<Numeric>(first), last, by,
                                            out_scale](Row* row) mutable -> Result<bool> {
          if (!cur) return false;
          if (by.mantissa > 0 ? cur->mantissa > last.mantissa : cur->mantissa < last.mantissa) {
            return false;
          }
          WALREP_ASSIGN_OR_RETURN(Numeric out, NumericRescale(*cur, out_scale));
          *row = {Value::Num(out)};
          auto next = NumericArith('+', *cur, by);
          cur = next.ok() ? std::optional<Numeric>(*next) : std::nullopt;  // past the range: done
          return true;
        });
      }
      int64_t cur = args[0].as_int(), stop = args[1].as_int();
      int64_t inc = args.size() > 2 ? args[2].as_int() : 1;
      if (inc == 0) return Status::Sql("22023", "step size cannot equal zero");
      return TableFunctionDef::NextRowFn(
          [cur, stop, inc, t, done = false](Row* row) mutable -> Result<bool> {
            if (done || (inc > 0 ? cur > stop : cur < stop)) return false;
            *row = {Value::Int(t, cur)};
            // Stops before the counter would overflow (PostgreSQL's generate_series does too).
            if (__builtin_add_overflow(cur, inc, &cur) ||
                (t == oid::kInt4 && (cur > INT32_MAX || cur < INT32_MIN))) {
              done = true;
            }
            return true;
          });
    };
    f.rows = [stream = f.stream](SessionContext& ctx,
                                 const std::vector<Value>& args) -> Result<std::vector<Row>> {
      WALREP_ASSIGN_OR_RETURN(auto next, stream(ctx, args));
      std::vector<Row> rows;
      Row row;
      while (true) {
        WALREP_ASSIGN_OR_RETURN(bool more, next(&row));
        if (!more) return rows;
        rows.push_back(std::move(row));
      }
    };
    r->AddTableFunction(std::move(f));
  }
}

}  // namespace walrep::sql
