// walrep: the registry of built-in functions and system views.
//
// sql registers its own built-ins; upper layers (server, replication) add system views such as
// pg_stat_activity and pg_stat_replication, and functions, through this header only — the one
// place where a lower layer is reached from above by registration rather than by include
// (shared/DESIGN.md section 2). A Registry is filled before the server accepts connections and
// is read-only afterwards. Thread safety: immutable after setup; lookups are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "walrep/common/status.h"
#include "walrep/sql/value.h"

namespace walrep::sql {

class SessionContext;

struct ViewColumn {
  std::string name;
  int32_t type;
};

using Row = std::vector<Value>;
using ViewRowsFn = std::function<Result<std::vector<Row>>(SessionContext&)>;

struct ViewDef {
  std::string name;
  std::vector<ViewColumn> columns;
  ViewRowsFn rows;
};

struct FunctionCall {
  SessionContext& ctx;
  const std::vector<Value>& args;
  const std::vector<int32_t>& arg_types;
};

struct FunctionDef {
  std::string name;
  // Result type for these argument types, or an error (42883 when no overload fits).
  std::function<Result<int32_t>(std::vector<int32_t>& arg_types)> resolve;
  std::function<Result<Value>(FunctionCall& call)> eval;
  bool strict = true;  // any NULL argument gives NULL without calling eval
};

// A set-returning function usable in FROM (SELECT * FROM pg_ls_waldir()); in a select list
// it returns its first row as a record.
struct TableFunctionDef {
  std::string name;
  std::vector<int32_t> arg_types;
  size_t min_args = SIZE_MAX;  // trailing arguments may be left out (passed as NULL); default all
  std::vector<ViewColumn> columns;
  // A set-returning function (pg_ls_dir, unnest); otherwise it returns one row, a record in an
  // expression (pg_stat_file).
  bool returns_set = false;
  std::function<Result<std::vector<Row>>(SessionContext&, const std::vector<Value>&)> rows;
  // Optional, for overloaded functions: the argument types to coerce to (set in place) and the
  // result columns for these argument types (42883 when no overload fits).
  std::function<Result<std::vector<ViewColumn>>(std::vector<int32_t>& arg_types)> resolve;
  // Optional: the rows produced one at a time (instead of `rows`), for functions whose result
  // can be larger than memory (generate_series).
  using NextRowFn = std::function<Result<bool>(Row*)>;
  std::function<Result<NextRowFn>(SessionContext&, const std::vector<Value>&)> stream;
};

class Registry {
 public:
  Registry();  // with sql's built-in functions registered
  void AddView(ViewDef view);
  void AddTableFunction(TableFunctionDef fn);
  const TableFunctionDef* FindTableFunction(const std::string& name) const;
  void AddFunction(FunctionDef fn);
  const ViewDef* FindView(const std::string& name) const;
  const FunctionDef* FindFunction(const std::string& name) const;
  // Names of the registered functions (table functions included), sorted.
  std::vector<std::string> FunctionNames() const;

 private:
  std::map<std::string, ViewDef> views_;
  std::map<std::string, FunctionDef> functions_;
  std::map<std::string, TableFunctionDef> table_functions_;
};

// Helpers for function definitions with fixed signatures.
// `args`: expected argument types (unknown literals and parameters are coerced to them).
FunctionDef FixedFunction(std::string name, std::vector<int32_t> args, int32_t result,
                          std::function<Result<Value>(FunctionCall&)> eval, bool strict = true);
// PostgreSQL's 42883 "function name(types) does not exist", with its hint.
Status NoSuchFunction(const std::string& name, const std::vector<int32_t>& types);

void RegisterBuiltinFunctions(Registry* r);
void RegisterArrayFunctions(Registry* r);  // array_to_string, unnest, ...

}  // namespace walrep::sql
