// walrep: sql-private declarations shared by the parser, expression compiler and executor.
// Nothing here is visible outside src/sql; libpg_query's protobuf types stay inside this layer.
#pragma once

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "walrep/sql/executor.h"

namespace walrep::sql {

// Owns one unpacked parse result.
struct ParseTree {
  PgQuery__ParseResult* result = nullptr;
  std::string sql;
  ~ParseTree() {
    if (result) pg_query__parse_result__free_unpacked(result, nullptr);
  }
};

class ParsedStatement {
 public:
  std::shared_ptr<ParseTree> tree;
  PgQuery__RawStmt* raw = nullptr;  // null for an empty statement
  std::string text;
  int offset = 0;  // of the statement in the original string, for error positions
};

struct EvalState {
  SessionContext* ctx;
  const Executor* exec;
  const Row* row = nullptr;
  const std::vector<Value>* params = nullptr;
  FormatOptions fmt;
};

struct Expr {
  enum class Kind { kConst, kParam, kOther } kind = Kind::kOther;
  int32_t type = oid::kUnknown;
  int param_index = -1;
  Value constant;
  std::function<Result<Value>(EvalState&)> eval;
};
using ExprPtr = std::shared_ptr<Expr>;

// Columns visible to expressions (from the FROM clause).
struct Scope {
  std::string relname;
  std::string alias;
  std::vector<ViewColumn> columns;
};

struct CompileState {
  const Registry* registry;
  SessionContext* ctx;
  const Executor* exec = nullptr;
  const Scope* scope = nullptr;
  std::vector<int32_t>* param_types = nullptr;
};

Result<ExprPtr> CompileExpr(CompileState& cs, const PgQuery__Node* node);
// Converts an expression to `target`: unknown literals and untyped parameters take the type;
// other types need an implicit cast unless `explicit_cast`.
Result<ExprPtr> Coerce(CompileState& cs, ExprPtr e, int32_t target, bool explicit_cast);
ExprPtr ConstExpr(Value v);
// The column name PostgreSQL gives an unnamed target ("?column?", function name, type name).
std::string FigureColname(const PgQuery__Node* node);
// Evaluates a comparison of two values of comparable types: <0, 0, >0.
Result<int> CompareValues(const Value& a, const Value& b);
// Error position (1-based) for a parse-node location.
int ErrorPosition(const CompileState& cs, int location);
std::string StringNodeValue(const PgQuery__Node* node);
// Name of a statement node as a command tag ("CREATE TABLE") for messages.
std::string StatementKindName(const PgQuery__Node* node);

}  // namespace walrep::sql
