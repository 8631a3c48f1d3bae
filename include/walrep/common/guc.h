// walrep: the GUC (grand unified configuration) table and settings state.
//
// One table (guc_table.cc) lists every setting walrep knows, with PostgreSQL 15's names, units,
// defaults, ranges and contexts. Values are kept as canonical strings: integers in their base
// unit, booleans "on"/"off", enums by their canonical name. ShowGucValue() renders them the way
// PostgreSQL's SHOW does ("128MB", "5min").
//
// ServerSettings is the postmaster-level view (defaults < config files < command line); it is
// immutable once built and shared by shared_ptr, so a reload swaps in a new one.
// SessionSettings layers a session's own values over it (startup packet, SET, SET LOCAL).
// Thread safety: ServerSettings is immutable; a SessionSettings belongs to one session thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "walrep/common/status.h"

namespace walrep {

// Counterpart: GucContext in PostgreSQL guc.h. Ordered from least to most changeable.
enum class GucContext {
  kInternal,
  kPostmaster,
  kSighup,
  kSuperuserBackend,
  kBackend,
  kSuperuser,
  kUser
};
enum class GucType { kBool, kInt, kReal, kString, kEnum };
// Base unit of an integer or real setting.
enum class GucUnit { kNone, kBytes, kKB, kMB, kBlocks, kWalBlocks, kMs, kS, kMin };

struct GucDef {
  const char* name;  // canonical spelling, as SHOW names the column
  GucType type;
  GucContext context;
  GucUnit unit;
  const char* boot_value;  // canonical stored form
  double min = 0;
  double max = 0;
  const char* enum_values = nullptr;  // comma separated, canonical spellings first
  const char* group = "";
  const char* description = "";
  bool report = false;    // sent as ParameterStatus when it changes
  bool in_sample = true;  // appears in conf/postgresql.conf.sample
  // Readable by superusers only (PostgreSQL's GUC_SUPERUSER_ONLY): connection strings that may
  // hold passwords, commands, file locations. Others get 42501 from SHOW and do not see it in
  // SHOW ALL or pg_settings.
  bool superuser_only = false;
};

// All settings, in table order.
const std::vector<GucDef>& GucTable();
// Case-insensitive lookup; nullptr when unknown.
const GucDef* FindGuc(std::string_view name);
// A name with a dot is a custom (placeholder) setting, as in PostgreSQL.
bool IsCustomGucName(std::string_view name);

const char* GucContextName(GucContext c);  // "postmaster", "sighup", ...
const char* GucTypeName(GucType t);        // "bool", "integer", ...

// Parses user input (from a file, SET, -c) into the canonical stored form, with PostgreSQL's
// error texts (22023 invalid value / outside the valid range).
Result<std::string> ParseGucValue(const GucDef& def, std::string_view input);
// Renders a stored value as SHOW prints it.
std::string ShowGucValue(const GucDef& def, const std::string& stored);
// The value as an integer (base unit) / bool / double; REQUIRES: the matching type.
int64_t GucInt(const std::string& stored);
bool GucBool(const std::string& stored);
// Parses PostgreSQL's boolean spellings (on, off, true, false, yes, no, 1, 0 and prefixes).
std::optional<bool> ParseBool(std::string_view s);

enum class GucSource { kDefault, kFile, kArgv, kClient, kSession, kLocal };

// One name = value assignment with where it came from (file and line for config files).
struct GucAssignment {
  std::string name;
  std::string value;
  std::string file;  // empty for command-line values
  int line = 0;
};

class ServerSettings {
 public:
  // Builds settings from files' assignments and command-line (-c) assignments, validated.
  // Errors name the file and line as PostgreSQL does.
  static Result<std::shared_ptr<const ServerSettings>> Build(
      const std::vector<GucAssignment>& file_items, const std::vector<GucAssignment>& argv_items);

  // Stored value of a setting (custom settings included). nullopt when unknown.
  std::optional<std::string> Get(std::string_view name) const;
  GucSource SourceOf(std::string_view name) const;
  int64_t GetInt(std::string_view name) const;  // REQUIRES: known integer setting
  bool GetBool(std::string_view name) const;    // REQUIRES: known bool setting
  std::string GetString(std::string_view name) const;

  // Returns a copy where postmaster-context settings keep this object's values; `rejected`
  // receives the names that changed in `next` but need a restart.
  std::shared_ptr<const ServerSettings> ApplyReload(const ServerSettings& next,
                                                    std::vector<std::string>* rejected) const;

  // Overrides internal (read-only) settings such as data_directory or is_superuser defaults.
  void SetInternal(const std::string& name, const std::string& value);

 private:
  struct Entry {
    std::string value;
    GucSource source = GucSource::kDefault;
  };
  std::map<std::string, Entry> values_;  // key: lower-case name
};

// A session's settings over the server's. Owned by one session thread.
class SessionSettings {
 public:
  explicit SessionSettings(std::shared_ptr<const ServerSettings> server, bool superuser = true)
      : server_(std::move(server)), superuser_(superuser) {}

  void SetServer(std::shared_ptr<const ServerSettings> server) {
    server_ = std::move(server);
    version_++;
  }
  const ServerSettings& server() const { return *server_; }
  void SetSuperuser(bool s) { superuser_ = s; }
  // Whether this session may read the setting (superuser_only ones: superusers alone).
  bool CanSee(const GucDef& def) const { return !def.superuser_only || superuser_; }

  // Value as SHOW prints it. 42704 when unknown.
  Result<std::string> Show(std::string_view name) const;
  // Stored value; nullopt when unknown.
  std::optional<std::string> Get(std::string_view name) const;
  int64_t GetInt(std::string_view name) const;
  bool GetBool(std::string_view name) const;

  // Startup-packet value: becomes the value RESET returns to.
  Status SetClientDefault(std::string_view name, std::string_view value);
  // Per-session values of read-only settings (is_superuser, session_authorization, ...).
  void SetInternalForSession(const std::string& name, const std::string& value);
  // SET / SET LOCAL / set_config(). `value` is user input.
  Status Set(std::string_view name, std::string_view value, bool local, bool in_transaction);
  Status Reset(std::string_view name);
  void ResetAll();

  // Transaction hooks: SET inside a transaction is undone by ROLLBACK; SET LOCAL ends with it.
  void BeginTransaction();
  void CommitTransaction();
  void AbortTransaction();

  // Names of reported settings (ParameterStatus) whose SHOW value changed since the last call.
  std::vector<std::pair<std::string, std::string>> TakeReportChanges();
  // All reported settings with their current values, in PostgreSQL's startup order.
  std::vector<std::pair<std::string, std::string>> ReportedValues() const;

  // Changes whenever any value this session sees may have changed (SET, RESET, transaction
  // end, a new server snapshot), so callers can cache derived values.
  uint64_t version() const { return version_; }

  // Canonical name of a setting (or the name itself for custom settings); 42704 if unknown.
  static Result<std::string> CanonicalName(std::string_view name);
  // Checks whether SET may change this setting now.
  Status CheckSettable(const GucDef& def) const;

 private:
  std::shared_ptr<const ServerSettings> server_;
  bool superuser_;
  std::map<std::string, std::string> client_;  // lower-case name -> stored value
  std::map<std::string, std::string> session_;
  std::map<std::string, std::string> local_;
  std::optional<std::map<std::string, std::string>> saved_session_;  // at BEGIN
  std::map<std::string, std::string> last_reported_;
  uint64_t version_ = 0;
  uint64_t report_version_ = ~0ull;  // version_ at the last TakeReportChanges()
};

}  // namespace walrep
