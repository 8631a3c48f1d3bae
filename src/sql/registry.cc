// walrep: registry of functions and system views (see registry.h).
#include "walrep/sql/registry.h"

#include <fmt/format.h>

#include "walrep/common/strings.h"

namespace walrep::sql {

Registry::Registry() {
  RegisterBuiltinFunctions(this);
  RegisterArrayFunctions(this);
}

void Registry::AddView(ViewDef view) {
  std::string key = ToLower(view.name);
  views_[key] = std::move(view);
}

void Registry::AddFunction(FunctionDef fn) {
  std::string key = ToLower(fn.name);
  functions_[key] = std::move(fn);
}

void Registry::AddTableFunction(TableFunctionDef fn) {
  std::string key = ToLower(fn.name);
  if (fn.returns_set) {  // in a select list: the select's ProjectSet step (expr.cc)
    table_functions_[key] = std::move(fn);
    return;
  }
  // Called in an expression, a function of one row yields it as a record, like PostgreSQL's
  // composite-returning functions: (a,b,c).
  TableFunctionDef copy = fn;
  FunctionDef f =
      FixedFunction(fn.name, fn.arg_types, oid::kRecord, [copy](FunctionCall& c) -> Result<Value> {
        std::vector<Value> args = c.args;
        for (size_t i = args.size(); i < copy.arg_types.size(); i++) {
          args.push_back(Value::Null(copy.arg_types[i]));
        }
        WALREP_ASSIGN_OR_RETURN(std::vector<Row> rows, copy.rows(c.ctx, args));
        if (rows.empty()) return Value::Null(oid::kRecord);
        return Value::Text(oid::kRecord, RecordText(rows[0], FormatOptions()));
      });
  if (fn.min_args < fn.arg_types.size()) {
    auto full = f.resolve;
    size_t min = fn.min_args;
    std::vector<int32_t> all = fn.arg_types;
    f.resolve = [full, min, all](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.size() < min || types.size() > all.size()) return full(types);
      types.assign(all.begin(), all.begin() + static_cast<long>(types.size()));
      return oid::kRecord;
    };
  }
  AddFunction(std::move(f));
  table_functions_[key] = std::move(fn);
}

const TableFunctionDef* Registry::FindTableFunction(const std::string& name) const {
  std::string n = ToLower(name);
  if (n.rfind("pg_catalog.", 0) == 0) n = n.substr(11);
  auto it = table_functions_.find(n);
  return it == table_functions_.end() ? nullptr : &it->second;
}

const ViewDef* Registry::FindView(const std::string& name) const {
  std::string n = ToLower(name);
  if (n.rfind("pg_catalog.", 0) == 0) n = n.substr(11);
  auto it = views_.find(n);
  return it == views_.end() ? nullptr : &it->second;
}

const FunctionDef* Registry::FindFunction(const std::string& name) const {
  std::string n = ToLower(name);
  if (n.rfind("pg_catalog.", 0) == 0) n = n.substr(11);
  auto it = functions_.find(n);
  return it == functions_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::FunctionNames() const {
  std::vector<std::string> names;
  for (const auto& [name, f] : functions_) names.push_back(name);
  return names;
}

Status NoSuchFunction(const std::string& name, const std::vector<int32_t>& types) {
  std::string sig;
  for (size_t i = 0; i < types.size(); i++)
    sig += (i ? ", " : "") + std::string(TypeName(types[i]));
  return Status::Sql("42883", fmt::format("function {}({}) does not exist", name, sig))
      .WithHint(
          "No function matches the given name and argument types. You might need to add "
          "explicit type casts.");
}

FunctionDef FixedFunction(std::string name, std::vector<int32_t> args, int32_t result,
                          std::function<Result<Value>(FunctionCall&)> eval, bool strict) {
  FunctionDef f;
  f.name = name;
  f.strict = strict;
  f.eval = std::move(eval);
  f.resolve = [name, args, result](std::vector<int32_t>& types) -> Result<int32_t> {
    if (types.size() != args.size()) return NoSuchFunction(name, types);
    types = args;
    return result;
  };
  return f;
}

}  // namespace walrep::sql
