// walrep: functions over arrays — array_to_string, array_upper/lower/length, cardinality,
// string_to_array, array_position, and unnest in FROM. Counterpart: PostgreSQL's
// utils/adt/arrayfuncs.c and array_userfuncs.c (one-dimensional arrays only).
#include <fmt/format.h>

#include "sql_internal.h"

namespace walrep::sql {

namespace {

// A function whose first argument is any array and whose other arguments have fixed types;
// `result` 0 means the array's element type.
FunctionDef ArrayFunction(std::string name, std::vector<int32_t> rest, int32_t result,
                          std::function<Result<Value>(FunctionCall&)> eval, size_t min_rest = ~0u) {
  FunctionDef f;
  f.name = name;
  f.eval = std::move(eval);
  if (min_rest == ~0u) min_rest = rest.size();
  f.resolve = [name, rest, result, min_rest](std::vector<int32_t>& types) -> Result<int32_t> {
    if (types.empty() || types.size() - 1 < min_rest || types.size() - 1 > rest.size()) {
      return NoSuchFunction(name, types);
    }
    if (types[0] == oid::kUnknown) types[0] = oid::kTextArray;
    if (!ElementTypeOf(types[0])) return NoSuchFunction(name, types);
    for (size_t i = 1; i < types.size(); i++) types[i] = rest[i - 1];
    return result ? result : ElementTypeOf(types[0]);
  };
  return f;
}

// The lower bound of an array's subscripts (int2vector and oidvector count from 0).
int64_t LowerBound(const Value& a) {
  return a.type() == oid::kInt2Vector || a.type() == oid::kOidVector ? 0 : 1;
}

}  // namespace

void RegisterArrayFunctions(Registry* r) {
  // array_to_string(arr, delimiter [, null_string]): NULL elements are skipped unless
  // null_string is given.
  FunctionDef a2s = ArrayFunction(
      "array_to_string", {oid::kText, oid::kText}, oid::kText,
      [](FunctionCall& c) -> Result<Value> {
        if (c.args[0].is_null() || c.args[1].is_null()) return Value::Null(oid::kText);
        std::optional<std::string> null_text;
        if (c.args.size() > 2 && !c.args[2].is_null()) null_text = c.args[2].as_string();
        std::string out;
        bool first = true;
        FormatOptions fo;
        for (const Value& e : c.args[0].as_array()) {
          if (e.is_null() && !null_text) continue;
          if (!first) out += c.args[1].as_string();
          first = false;
          out += e.is_null() ? *null_text : ToText(e, fo);
        }
        return Value::Text(oid::kText, out);
      },
      1);
  a2s.strict = false;
  r->AddFunction(std::move(a2s));
  auto bound = [](bool upper) {
    return [upper](FunctionCall& c) -> Result<Value> {
      const ArrayElems& e = c.args[0].as_array();
      if (e.empty() || c.args[1].as_int() != 1) return Value::Null(oid::kInt4);
      int64_t lo = LowerBound(c.args[0]);
      return Value::Int(oid::kInt4, upper ? lo + static_cast<int64_t>(e.size()) - 1 : lo);
    };
  };
  r->AddFunction(ArrayFunction("array_upper", {oid::kInt4}, oid::kInt4, bound(true)));
  r->AddFunction(ArrayFunction("array_lower", {oid::kInt4}, oid::kInt4, bound(false)));
  r->AddFunction(
      ArrayFunction("array_length", {oid::kInt4}, oid::kInt4, [](FunctionCall& c) -> Result<Value> {
        const ArrayElems& e = c.args[0].as_array();
        if (e.empty() || c.args[1].as_int() != 1) {
          return Value::Null(oid::kInt4);
        }
        return Value::Int(oid::kInt4, static_cast<int64_t>(e.size()));
      }));
  r->AddFunction(ArrayFunction("cardinality", {}, oid::kInt4, [](FunctionCall& c) -> Result<Value> {
    return Value::Int(oid::kInt4, static_cast<int64_t>(c.args[0].as_array().size()));
  }));
  {
    // array_position(arr, value): the first subscript holding value (IS NOT DISTINCT FROM).
    FunctionDef f;
    f.name = "array_position";
    f.strict = false;
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.size() != 2) return NoSuchFunction("array_position", types);
      if (!ElementTypeOf(types[0])) return NoSuchFunction("array_position", types);
      types[1] = ElementTypeOf(types[0]);
      return oid::kInt4;
    };
    f.eval = [](FunctionCall& c) -> Result<Value> {
      if (c.args[0].is_null()) return Value::Null(oid::kInt4);
      const ArrayElems& e = c.args[0].as_array();
      for (size_t i = 0; i < e.size(); i++) {
        bool same = e[i].is_null() == c.args[1].is_null();
        if (same && !e[i].is_null()) {
          WALREP_ASSIGN_OR_RETURN(int cmp, CompareValues(e[i], c.args[1]));
          same = cmp == 0;
        }
        if (same) return Value::Int(oid::kInt4, LowerBound(c.args[0]) + static_cast<int64_t>(i));
      }
      return Value::Null(oid::kInt4);
    };
    r->AddFunction(std::move(f));
  }
  {
    // array_remove(arr, value): arr without the elements equal to value (IS NOT DISTINCT).
    FunctionDef f;
    f.name = "array_remove";
    f.strict = false;
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.size() != 2) return NoSuchFunction("array_remove", types);
      if (types[0] == oid::kUnknown) {
        types[0] = ArrayTypeOf(types[1] == oid::kUnknown ? oid::kText : types[1]);
      }
      if (!ElementTypeOf(types[0])) return NoSuchFunction("array_remove", types);
      types[1] = ElementTypeOf(types[0]);
      return types[0];
    };
    f.eval = [](FunctionCall& c) -> Result<Value> {
      if (c.args[0].is_null()) return Value::Null(c.arg_types[0]);
      ArrayElems out;
      for (const Value& e : c.args[0].as_array()) {
        bool same = e.is_null() == c.args[1].is_null();
        if (same && !e.is_null()) {
          WALREP_ASSIGN_OR_RETURN(int cmp, CompareValues(e, c.args[1]));
          same = cmp == 0;
        }
        if (!same) out.push_back(e);
      }
      return Value::Array(c.arg_types[0], std::move(out));
    };
    r->AddFunction(std::move(f));
  }
  {
    // string_to_array(text, delimiter [, null_string]); a NULL delimiter splits into characters.
    FunctionDef f;
    f.name = "string_to_array";
    f.strict = false;
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.size() < 2 || types.size() > 3) return NoSuchFunction("string_to_array", types);
      for (auto& t : types) t = oid::kText;
      return oid::kTextArray;
    };
    f.eval = [](FunctionCall& c) -> Result<Value> {
      if (c.args[0].is_null()) return Value::Null(oid::kTextArray);
      const std::string& s = c.args[0].as_string();
      ArrayElems out;
      auto add = [&](std::string part) {
        bool is_null = c.args.size() > 2 && !c.args[2].is_null() && part == c.args[2].as_string();
        out.push_back(is_null ? Value::Null(oid::kText) : Value::Text(oid::kText, part));
      };
      if (s.empty()) return Value::Array(oid::kTextArray, {});
      if (c.args[1].is_null()) {
        for (char ch : s) add(std::string(1, ch));
      } else if (c.args[1].as_string().empty()) {
        add(s);
      } else {
        const std::string& d = c.args[1].as_string();
        size_t start = 0;
        while (true) {
          size_t at = s.find(d, start);
          add(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
          if (at == std::string::npos) break;
          start = at + d.size();
        }
      }
      return Value::Array(oid::kTextArray, std::move(out));
    };
    r->AddFunction(std::move(f));
  }
  {
    // pg_options_to_table(reloptions): "name=value" entries as (option_name, option_value).
    TableFunctionDef f;
    f.name = "pg_options_to_table";
    f.returns_set = true;
    f.arg_types = {oid::kTextArray};
    f.columns = {{"option_name", oid::kText}, {"option_value", oid::kText}};
    f.rows = [](SessionContext&, const std::vector<Value>& args) -> Result<std::vector<Row>> {
      std::vector<Row> rows;
      if (args[0].is_null()) return rows;
      for (const Value& e : args[0].as_array()) {
        if (e.is_null()) continue;
        const std::string& s = e.as_string();
        size_t eq = s.find('=');
        rows.push_back({Value::Text(oid::kText, s.substr(0, eq)),
                        eq == std::string::npos ? Value::Null(oid::kText)
                                                : Value::Text(oid::kText, s.substr(eq + 1))});
      }
      return rows;
    };
    r->AddTableFunction(std::move(f));
  }
  {
    // unnest(array [, array ...]): one row per element, in order; several arrays (in FROM, as
    // pg_rewind fetches with) side by side, the shorter ones padded with NULLs.
    TableFunctionDef f;
    f.name = "unnest";
    f.returns_set = true;
    f.arg_types = {oid::kTextArray};
    f.columns = {{"unnest", oid::kText}};
    f.resolve = [](std::vector<int32_t>& types) -> Result<std::vector<ViewColumn>> {
      if (types.empty()) return NoSuchFunction("unnest", types);
      std::vector<ViewColumn> cols;
      for (int32_t& t : types) {
        if (t == oid::kUnknown) t = oid::kTextArray;
        if (!ElementTypeOf(t)) return NoSuchFunction("unnest", types);
        cols.push_back({"unnest", ElementTypeOf(t)});
      }
      return cols;
    };
    f.rows = [](SessionContext&, const std::vector<Value>& args) -> Result<std::vector<Row>> {
      size_t n = 0;
      for (const Value& a : args) n = std::max(n, a.is_null() ? 0 : a.as_array().size());
      std::vector<Row> rows(n);
      for (const Value& a : args) {
        for (size_t i = 0; i < n; i++) {
          bool has = !a.is_null() && i < a.as_array().size();
          rows[i].push_back(has ? a.as_array()[i] : Value::Null(ElementTypeOf(a.type())));
        }
      }
      return rows;
    };
    r->AddTableFunction(std::move(f));
  }
}

}  // namespace walrep::sql
