// walrep: GUC value parsing, SHOW formatting and the server/session settings layers.
// Counterpart: parse_int(), parse_real(), _ShowOption() and set_config_option() in PostgreSQL
// guc.c.
#include "walrep/common/guc.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "walrep/common/strings.h"
#include "walrep/common/time.h"

namespace walrep {

namespace {

struct UnitConv {
  const char* name;
  double factor;  // in bytes for memory, in ms for time
};
constexpr UnitConv kMemUnits[] = {{"TB", 1024.0 * 1024 * 1024 * 1024},
                                  {"GB", 1024.0 * 1024 * 1024},
                                  {"MB", 1024.0 * 1024},
                                  {"kB", 1024.0},
                                  {"B", 1.0}};
constexpr UnitConv kTimeUnits[] = {{"d", 86400000.0}, {"h", 3600000.0}, {"min", 60000.0},
                                   {"s", 1000.0},     {"ms", 1.0},      {"us", 0.001}};

bool IsMemoryUnit(GucUnit u) {
  return u == GucUnit::kBytes || u == GucUnit::kKB || u == GucUnit::kMB || u == GucUnit::kBlocks ||
         u == GucUnit::kWalBlocks;
}
bool IsTimeUnit(GucUnit u) { return u == GucUnit::kMs || u == GucUnit::kS || u == GucUnit::kMin; }

double BaseFactor(GucUnit u) {
  switch (u) {
    case GucUnit::kBytes:
      return 1;
    case GucUnit::kKB:
      return 1024;
    case GucUnit::kMB:
      return 1024.0 * 1024;
    case GucUnit::kBlocks:
    case GucUnit::kWalBlocks:
      return 8192;
    case GucUnit::kMs:
      return 1;
    case GucUnit::kS:
      return 1000;
    case GucUnit::kMin:
      return 60000;
    case GucUnit::kNone:
      return 1;
  }
  return 1;
}

const char* BaseUnitName(GucUnit u) {
  switch (u) {
    case GucUnit::kBytes:
      return "B";
    case GucUnit::kKB:
      return "kB";
    case GucUnit::kMB:
      return "MB";
    case GucUnit::kBlocks:
    case GucUnit::kWalBlocks:
      return "8kB";
    case GucUnit::kMs:
      return "ms";
    case GucUnit::kS:
      return "s";
    case GucUnit::kMin:
      return "min";
    case GucUnit::kNone:
      return "";
  }
  return "";
}

Status InvalidValue(const GucDef& def, std::string_view input) {
  return Status::Sql("22023",
                     fmt::format("invalid value for parameter \"{}\": \"{}\"", def.name, input));
}

// Parses a number followed by an optional unit; returns the value in the setting's base unit.
Result<double> ParseNumberWithUnit(const GucDef& def, std::string_view input) {
  std::string s(Trim(input));
  if (s.empty()) return InvalidValue(def, input);
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  double v;
  // Integers may be written in hex or octal, as strtol(base 0) accepts; anything with a
  // fraction or exponent is read as a double.
  long long iv = std::strtoll(begin, &end, 0);
  if (end != begin && (*end == '.' || *end == 'e' || *end == 'E')) {
    v = std::strtod(begin, &end);
  } else {
    v = static_cast<double>(iv);
  }
  if (end == begin || errno == ERANGE) return InvalidValue(def, input);
  std::string_view rest = Trim(std::string_view(end));
  if (rest.empty()) return v;
  const char* hint = nullptr;
  if (IsMemoryUnit(def.unit)) {
    hint = "Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\".";
    for (const auto& u : kMemUnits) {
      if (rest == u.name) return v * u.factor / BaseFactor(def.unit);
    }
  } else if (IsTimeUnit(def.unit)) {
    hint = "Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".";
    for (const auto& u : kTimeUnits) {
      if (rest == u.name) return v * u.factor / BaseFactor(def.unit);
    }
  }
  Status st = InvalidValue(def, input);
  if (hint) st = std::move(st).WithHint(hint);
  return st;
}

std::unordered_map<std::string, const GucDef*> BuildIndex() {
  std::unordered_map<std::string, const GucDef*> idx;
  for (const auto& d : GucTable()) idx[ToLower(d.name)] = &d;
  return idx;
}

std::string FormatReal(double v) { return fmt::format("{}", v); }

}  // namespace

const GucDef* FindGuc(std::string_view name) {
  static const auto idx = BuildIndex();
  auto it = idx.find(ToLower(name));
  return it == idx.end() ? nullptr : it->second;
}

bool IsCustomGucName(std::string_view name) {
  size_t dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < name.size();
}

const char* GucContextName(GucContext c) {
  switch (c) {
    case GucContext::kInternal:
      return "internal";
    case GucContext::kPostmaster:
      return "postmaster";
    case GucContext::kSighup:
      return "sighup";
    case GucContext::kSuperuserBackend:
      return "superuser-backend";
    case GucContext::kBackend:
      return "backend";
    case GucContext::kSuperuser:
      return "superuser";
    case GucContext::kUser:
      return "user";
  }
  return "";
}

const char* GucTypeName(GucType t) {
  switch (t) {
    case GucType::kBool:
      return "bool";
    case GucType::kInt:
      return "integer";
    case GucType::kReal:
      return "real";
    case GucType::kString:
      return "string";
    case GucType::kEnum:
      return "enum";
  }
  return "";
}

std::optional<bool> ParseBool(std::string_view in) {
  std::string s = ToLower(Trim(in));
  if (s.empty()) return std::nullopt;
  auto prefix_of = [&](std::string_view word) { return word.substr(0, s.size()) == s; };
  if (s.size() <= 4 && prefix_of("true")) return true;
  if (s.size() <= 5 && prefix_of("false")) return false;
  if (s.size() <= 3 && prefix_of("yes")) return true;
  if (s.size() <= 2 && prefix_of("no")) return false;
  if (s == "on") return true;
  if (s.size() >= 2 && s.size() <= 3 && prefix_of("off")) return false;
  if (s == "1") return true;
  if (s == "0") return false;
  return std::nullopt;
}

Result<std::string> ParseGucValue(const GucDef& def, std::string_view input) {
  switch (def.type) {
    case GucType::kBool: {
      auto b = ParseBool(input);
      if (!b) {
        return Status::Sql("22023",
                           fmt::format("parameter \"{}\" requires a Boolean value", def.name));
      }
      return std::string(*b ? "on" : "off");
    }
    case GucType::kInt: {
      WALREP_ASSIGN_OR_RETURN(double v, ParseNumberWithUnit(def, input));
      v = std::rint(v);
      // Found by fuzz_postgresql_conf: 554e46 (or nan) was converted to an integer for the
      // message, which is undefined behaviour. PostgreSQL's wording for these.
      if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) {
        return Status::Sql("22023", fmt::format("invalid value for parameter \"{}\": \"{}\"",
                                                def.name, input))
            .WithHint("Value exceeds integer range.");
      }
      if (v < def.min || v > def.max) {
        const char* unit = BaseUnitName(def.unit);
        return Status::Sql(
            "22023",
            fmt::format("{}{}{} is outside the valid range for parameter \"{}\" ({} .. {})",
                        static_cast<long long>(v), *unit ? " " : "", unit, def.name,
                        static_cast<long long>(def.min), static_cast<long long>(def.max)));
      }
      return std::to_string(static_cast<long long>(v));
    }
    case GucType::kReal: {
      WALREP_ASSIGN_OR_RETURN(double v, ParseNumberWithUnit(def, input));
      if (std::isnan(v) || v < def.min || v > def.max) {
        return Status::Sql(
            "22023",
            fmt::format("{} is outside the valid range for parameter \"{}\" ({} .. {})",
                        FormatReal(v), def.name, FormatReal(def.min), FormatReal(def.max)));
      }
      return FormatReal(v);
    }
    case GucType::kString:
      if (def.enum_values) {
        // A list setting: comma-separated words, each one of enum_values (case-insensitive),
        // stored in their canonical spellings.
        auto allowed = SplitTrim(def.enum_values, ',');
        std::string out;
        for (const auto& item : SplitTrim(input, ',')) {
          if (item.empty()) continue;
          auto it = std::find_if(allowed.begin(), allowed.end(),
                                 [&](const std::string& a) { return EqualsIgnoreCase(a, item); });
          if (it == allowed.end()) {
            return InvalidValue(def, input)
                .WithDetail(fmt::format("Unrecognized key word: \"{}\".", item));
          }
          out += (out.empty() ? "" : ",") + *it;
        }
        return out;
      }
      if ((EqualsIgnoreCase(def.name, "TimeZone") || EqualsIgnoreCase(def.name, "log_timezone")) &&
          !ParseTimeZoneOffset(input)) {
        return InvalidValue(def, input)
            .WithHint("walrep accepts UTC and fixed offsets such as '+05:30'.");
      }
      return std::string(input);
    case GucType::kEnum: {
      std::string want = ToLower(Trim(input));
      auto values = SplitTrim(def.enum_values, ',');
      for (const auto& v : values) {
        if (ToLower(v) == want) return v;
      }
      // Enums that offer on/off also take every boolean spelling, as PostgreSQL's do.
      bool has_on = false, has_off = false;
      for (const auto& v : values) {
        has_on |= v == "on";
        has_off |= v == "off";
      }
      if (has_on && has_off) {
        if (auto b = ParseBool(input)) return std::string(*b ? "on" : "off");
      }
      std::string hint = "Available values: ";
      for (size_t i = 0; i < values.size(); i++) hint += (i ? ", " : "") + values[i];
      return InvalidValue(def, input).WithHint(hint + ".");
    }
  }
  return InvalidValue(def, input);
}

int64_t GucInt(const std::string& stored) { return std::strtoll(stored.c_str(), nullptr, 10); }
bool GucBool(const std::string& stored) { return stored == "on"; }

std::string ShowGucValue(const GucDef& def, const std::string& stored) {
  if (def.type != GucType::kInt || def.unit == GucUnit::kNone) return stored;
  long long v = GucInt(stored);
  if (v <= 0) return stored;
  // Pick the largest unit that represents the value exactly, as PostgreSQL's SHOW does.
  if (IsMemoryUnit(def.unit)) {
    double bytes = static_cast<double>(v) * BaseFactor(def.unit);
    for (const auto& u : kMemUnits) {
      double q = bytes / u.factor;
      if (q == std::floor(q)) return fmt::format("{}{}", static_cast<long long>(q), u.name);
    }
  } else {
    double ms = static_cast<double>(v) * BaseFactor(def.unit);
    for (const auto& u : kTimeUnits) {
      double q = ms / u.factor;
      if (q == std::floor(q)) return fmt::format("{}{}", static_cast<long long>(q), u.name);
    }
  }
  return stored;
}

// ---------------------------------------------------------------------------------------------
// ServerSettings

Result<std::shared_ptr<const ServerSettings>> ServerSettings::Build(
    const std::vector<GucAssignment>& file_items, const std::vector<GucAssignment>& argv_items) {
  auto s = std::make_shared<ServerSettings>();
  for (const auto& d : GucTable()) s->values_[ToLower(d.name)] = Entry{d.boot_value};
  auto apply = [&](const GucAssignment& a, GucSource src) -> Status {
    const GucDef* def = FindGuc(a.name);
    if (!def) {
      if (IsCustomGucName(a.name)) {
        s->values_[ToLower(a.name)] = Entry{a.value, src};
        return Status::OK();
      }
      if (a.file.empty()) {
        return Status::Sql("42704",
                           fmt::format("unrecognized configuration parameter \"{}\"", a.name));
      }
      return Status::Sql("42704",
                         fmt::format("unrecognized configuration parameter \"{}\" in file \"{}\" "
                                     "line {}",
                                     a.name, a.file, a.line));
    }
    if (def->context == GucContext::kInternal) {
      return Status::Sql("55P02", fmt::format("parameter \"{}\" cannot be changed", def->name));
    }
    auto v = ParseGucValue(*def, a.value);
    if (!v.ok()) {
      Status st = v.TakeStatus();
      if (a.file.empty()) return st;
      return Status::Sql(st.sqlstate(),
                         fmt::format("{} in file \"{}\" line {}", st.message(), a.file, a.line))
          .WithHint(st.hint());
    }
    s->values_[ToLower(def->name)] = Entry{*v, src};
    return Status::OK();
  };
  for (const auto& a : file_items) WALREP_RETURN_IF_ERROR(apply(a, GucSource::kFile));
  for (const auto& a : argv_items) WALREP_RETURN_IF_ERROR(apply(a, GucSource::kArgv));
  // wal_buffers = -1: 1/32 of shared_buffers, at least 64kB and at most one 16MB segment.
  if (s->GetInt("wal_buffers") == -1) {
    int64_t blocks = std::clamp<int64_t>(s->GetInt("shared_buffers") / 32, 8, 2048);
    s->values_["wal_buffers"].value = std::to_string(blocks);
  }
  return std::shared_ptr<const ServerSettings>(std::move(s));
}

std::optional<std::string> ServerSettings::Get(std::string_view name) const {
  auto it = values_.find(ToLower(name));
  if (it == values_.end()) return std::nullopt;
  return it->second.value;
}

GucSource ServerSettings::SourceOf(std::string_view name) const {
  auto it = values_.find(ToLower(name));
  return it == values_.end() ? GucSource::kDefault : it->second.source;
}

int64_t ServerSettings::GetInt(std::string_view name) const {
  return GucInt(Get(name).value_or("0"));
}
bool ServerSettings::GetBool(std::string_view name) const {
  return GucBool(Get(name).value_or(""));
}
std::string ServerSettings::GetString(std::string_view name) const {
  return Get(name).value_or("");
}

void ServerSettings::SetInternal(const std::string& name, const std::string& value) {
  values_[ToLower(name)] = Entry{value, GucSource::kDefault};
}

std::shared_ptr<const ServerSettings> ServerSettings::ApplyReload(
    const ServerSettings& next, std::vector<std::string>* rejected) const {
  auto out = std::make_shared<ServerSettings>(next);
  for (const auto& d : GucTable()) {
    std::string key = ToLower(d.name);
    const std::string& mine = values_.at(key).value;
    if (d.context == GucContext::kInternal || d.context == GucContext::kPostmaster) {
      if (out->values_[key].value != mine && d.context == GucContext::kPostmaster &&
          rejected != nullptr) {
        rejected->push_back(d.name);
      }
      out->values_[key] = values_.at(key);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SessionSettings

Result<std::string> SessionSettings::CanonicalName(std::string_view name) {
  if (const GucDef* d = FindGuc(name)) return std::string(d->name);
  if (IsCustomGucName(name)) return ToLower(name);
  return Status::Sql("42704", fmt::format("unrecognized configuration parameter \"{}\"", name));
}

std::optional<std::string> SessionSettings::Get(std::string_view name) const {
  std::string key = ToLower(name);
  for (const auto* m : {&local_, &session_, &client_}) {
    auto it = m->find(key);
    if (it != m->end()) return it->second;
  }
  // A transaction's read-only state starts as the session's default (a hot standby's sessions
  // default to read-only), as PostgreSQL's XactReadOnly.
  if (key == "transaction_read_only") return Get("default_transaction_read_only");
  return server_->Get(key);
}

int64_t SessionSettings::GetInt(std::string_view name) const {
  return GucInt(Get(name).value_or("0"));
}
bool SessionSettings::GetBool(std::string_view name) const {
  return GucBool(Get(name).value_or(""));
}

Result<std::string> SessionSettings::Show(std::string_view name) const {
  const GucDef* def = FindGuc(name);
  if (def && !CanSee(*def)) {
    return Status::Sql("42501", fmt::format("must be superuser or have privileges of "
                                            "pg_read_all_settings to examine \"{}\"",
                                            def->name));
  }
  auto v = Get(name);
  if (!v) {
    return Status::Sql("42704", fmt::format("unrecognized configuration parameter \"{}\"", name));
  }
  return def ? ShowGucValue(*def, *v) : *v;
}

Status SessionSettings::CheckSettable(const GucDef& def) const {
  switch (def.context) {
    case GucContext::kInternal:
      return Status::Sql("55P02", fmt::format("parameter \"{}\" cannot be changed", def.name));
    case GucContext::kPostmaster:
      return Status::Sql("55P02",
                         fmt::format("parameter \"{}\" cannot be changed without restarting the "
                                     "server",
                                     def.name));
    case GucContext::kSighup:
      return Status::Sql("55P02", fmt::format("parameter \"{}\" cannot be changed now", def.name));
    case GucContext::kSuperuserBackend:
    case GucContext::kBackend:
      return Status::Sql("55P02", fmt::format("parameter \"{}\" cannot be set after connection "
                                              "start",
                                              def.name));
    case GucContext::kSuperuser:
      if (!superuser_) {
        return Status::Sql("42501",
                           fmt::format("permission denied to set parameter \"{}\"", def.name));
      }
      return Status::OK();
    case GucContext::kUser:
      return Status::OK();
  }
  return Status::OK();
}

Status SessionSettings::SetClientDefault(std::string_view name, std::string_view value) {
  version_++;
  const GucDef* def = FindGuc(name);
  if (!def) {
    if (!IsCustomGucName(name)) {
      return Status::Sql("42704", fmt::format("unrecognized configuration parameter \"{}\"", name));
    }
    client_[ToLower(name)] = std::string(value);
    return Status::OK();
  }
  // At connection start backend-context settings may still be set.
  if (def->context == GucContext::kInternal || def->context == GucContext::kPostmaster ||
      def->context == GucContext::kSighup) {
    return CheckSettable(*def);
  }
  if ((def->context == GucContext::kSuperuser || def->context == GucContext::kSuperuserBackend) &&
      !superuser_) {
    return Status::Sql("42501",
                       fmt::format("permission denied to set parameter \"{}\"", def->name));
  }
  WALREP_ASSIGN_OR_RETURN(std::string v, ParseGucValue(*def, value));
  client_[ToLower(def->name)] = v;
  return Status::OK();
}

void SessionSettings::SetInternalForSession(const std::string& name, const std::string& value) {
  version_++;
  client_[ToLower(name)] = value;
}

Status SessionSettings::Set(std::string_view name, std::string_view value, bool local,
                            bool in_transaction) {
  version_++;
  const GucDef* def = FindGuc(name);
  std::string stored;
  std::string key;
  if (def) {
    WALREP_RETURN_IF_ERROR(CheckSettable(*def));
    WALREP_ASSIGN_OR_RETURN(stored, ParseGucValue(*def, value));
    key = ToLower(def->name);
  } else if (IsCustomGucName(name)) {
    stored = std::string(value);
    key = ToLower(name);
  } else {
    return Status::Sql("42704", fmt::format("unrecognized configuration parameter \"{}\"", name));
  }
  if (local) {
    if (in_transaction) local_[key] = stored;
    return Status::OK();
  }
  local_.erase(key);
  session_[key] = stored;
  return Status::OK();
}

Status SessionSettings::Reset(std::string_view name) {
  WALREP_ASSIGN_OR_RETURN(std::string canon, CanonicalName(name));
  if (const GucDef* def = FindGuc(canon)) WALREP_RETURN_IF_ERROR(CheckSettable(*def));
  std::string key = ToLower(canon);
  version_++;
  session_.erase(key);
  local_.erase(key);
  return Status::OK();
}

void SessionSettings::ResetAll() {
  version_++;
  session_.clear();
  local_.clear();
}

void SessionSettings::BeginTransaction() { saved_session_ = session_; }
void SessionSettings::CommitTransaction() {
  version_++;
  saved_session_.reset();
  local_.clear();
}
void SessionSettings::AbortTransaction() {
  version_++;
  if (saved_session_) session_ = std::move(*saved_session_);
  saved_session_.reset();
  local_.clear();
}

std::vector<std::pair<std::string, std::string>> SessionSettings::ReportedValues() const {
  // PostgreSQL 15 sends these in this order at connection start.
  static const char* kOrder[] = {"application_name",
                                 "client_encoding",
                                 "DateStyle",
                                 "default_transaction_read_only",
                                 "in_hot_standby",
                                 "integer_datetimes",
                                 "IntervalStyle",
                                 "is_superuser",
                                 "server_encoding",
                                 "server_version",
                                 "session_authorization",
                                 "standard_conforming_strings",
                                 "TimeZone"};
  std::vector<std::pair<std::string, std::string>> out;
  for (const char* n : kOrder) out.emplace_back(n, Show(n).value());
  return out;
}

std::vector<std::pair<std::string, std::string>> SessionSettings::TakeReportChanges() {
  std::vector<std::pair<std::string, std::string>> changed;
  if (report_version_ == version_) return changed;  // nothing can have changed
  report_version_ = version_;
  for (auto& [name, value] : ReportedValues()) {
    auto it = last_reported_.find(name);
    if (it == last_reported_.end() || it->second != value) {
      if (it != last_reported_.end()) changed.emplace_back(name, value);
      last_reported_[name] = value;
    }
  }
  return changed;
}

}  // namespace walrep
