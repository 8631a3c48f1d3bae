// walrep: sql-private declarations shared by the parser, expression compiler and executor.
// Nothing here is visible outside src/sql; libpg_query's protobuf types stay inside this layer.
#pragma once

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "walrep/common/mutex.h"
#include "walrep/sql/executor.h"

namespace walrep::sql {

// Owns one unpacked parse result. Its nodes live in an arena (many small allocations, freed
// together), so unpacking and freeing a tree costs a few large allocations.
struct ParseTree {
  PgQuery__ParseResult* result = nullptr;
  std::string sql;
  // A tree copied from a template (literal_cache.cc) shares the template's strings.
  std::shared_ptr<const ParseTree> base;
  // The allocator protobuf-c unpacks with; freeing single nodes is a no-op.
  ProtobufCAllocator* allocator();
  void* Allocate(size_t n) { return Alloc(this, n); }

 private:
  static void* Alloc(void* self, size_t n);
  static void Free(void*, void*) {}
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* cur_ = nullptr;  // the block small allocations come from
  size_t used_ = 0;
  ProtobufCAllocator allocator_{&ParseTree::Alloc, &ParseTree::Free, this};
};

// The `capacity` most recently used entries of a string-keyed map, shared by sessions.
template <typename V>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}
  std::optional<V> Get(const std::string& key) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    lru_.splice(lru_.begin(), lru_, it->second.second);  // most recently used first
    return it->second.first;
  }
  void Put(const std::string& key, V value) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    if (map_.count(key)) return;
    lru_.push_front(key);
    map_.emplace(key, std::make_pair(std::move(value), lru_.begin()));
    if (map_.size() > capacity_) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
  }

 private:
  const size_t capacity_;
  Mutex mu_;
  std::list<std::string> lru_ GUARDED_BY(mu_);
  std::unordered_map<std::string, std::pair<V, std::list<std::string>::iterator>> map_
      GUARDED_BY(mu_);
};

// Parses `sql` with `parse`, or — when a recent statement had the same text up to its literal
// constants — copies that statement's tree with this one's constants (literal_cache.cc).
// *templated tells whether the statement's shape is cached there (so the caller need not cache
// the exact text).
Result<std::shared_ptr<ParseTree>> ParseWithLiteralCache(
    const std::string& sql,
    const std::function<Result<std::shared_ptr<ParseTree>>(const std::string&)>& parse,
    bool* templated);

class ParsedStatement {
 public:
  std::shared_ptr<ParseTree> tree;
  PgQuery__RawStmt* raw = nullptr;  // null for an empty statement
  std::string text;
  int offset = 0;  // of the statement in the original string, for error positions
};

struct EvalState {
  SessionContext* ctx;
  Executor* exec;
  const Row* row = nullptr;
  const std::vector<Value>* params = nullptr;
  FormatOptions fmt;
  const std::vector<Value>* aggs = nullptr;  // aggregate results of the current group
  // What owns this state while the statement's rows are read (a cursor keeps it).
  std::weak_ptr<const void> owner;
  // Which execution of its statement this is (uncorrelated subqueries run once per execution).
  uint64_t run_id = 0;
  // The rows of the enclosing queries while a correlated subquery runs (innermost last).
  std::vector<const Row*> outer_rows;
};

// An aggregate call found while compiling a select list.
struct AggSpec {
  enum Kind {
    kCountStar,
    kCount,
    kSum,
    kMin,
    kMax,
    kAvg,
    kArrayAgg,
    kStringAgg,
    kBoolAnd,
    kBoolOr
  } kind;
  std::shared_ptr<struct Expr> arg;
  int32_t result_type;
  std::shared_ptr<struct Expr> arg2 = nullptr;  // string_agg's delimiter
  // agg(x ORDER BY k [DESC] ...): the order of the values (what array_agg and string_agg
  // return depends on it).
  struct OrderKey {
    std::shared_ptr<struct Expr> expr;
    bool desc = false;
    bool nulls_first = false;
  };
  std::vector<OrderKey> order = {};
  bool distinct = false;                          // agg(DISTINCT x): each value once
  std::shared_ptr<struct Expr> filter = nullptr;  // agg(x) FILTER (WHERE f): rows where f is true
};

struct Expr {
  enum class Kind { kConst, kParam, kOther } kind = Kind::kOther;
  int32_t type = oid::kUnknown;
  int param_index = -1;
  Value constant;
  std::function<Result<Value>(EvalState&)> eval;
};
using ExprPtr = std::shared_ptr<Expr>;

// A column visible to expressions, at its position in the FROM clause's row.
struct ScopeColumn {
  std::string rel;  // the alias (or relation name) that qualifies it; "" for a USING column
  std::string name;
  int32_t type = oid::kUnknown;
  bool star = true;         // listed by SELECT *
  bool unqualified = true;  // found by its bare name (false for the sides of a USING column)
};

// Columns visible to expressions (from the FROM clause), in row order.
struct Scope {
  std::vector<std::string> rels;  // qualifiers in FROM order
  std::vector<ScopeColumn> columns;
  // Adds a relation's columns under one qualifier.
  void AddRelation(const std::string& qualifier, const std::vector<ViewColumn>& cols) {
    rels.push_back(qualifier);
    for (const auto& c : cols) columns.push_back(ScopeColumn{qualifier, c.name, c.type});
  }
  // This scope followed by `right`'s (a join's columns side by side); 42712 when both name
  // the same relation.
  Result<Scope> Join(const Scope& right) const;
  static constexpr int kNone = -1, kAmbiguous = -2;
  // The index of the column `rel.col` (`rel` empty: a bare name), kNone or kAmbiguous.
  int Find(const std::string& rel, const std::string& col) const {
    int found = kNone;
    for (size_t i = 0; i < columns.size(); i++) {
      const ScopeColumn& c = columns[i];
      if (c.name != col || (rel.empty() ? !c.unqualified : c.rel != rel)) continue;
      if (found != kNone) return kAmbiguous;
      found = static_cast<int>(i);
    }
    return found;
  }
};

struct CompileState {
  const Registry* registry;
  SessionContext* ctx;
  Executor* exec = nullptr;
  const Scope* scope = nullptr;
  std::vector<int32_t>* param_types = nullptr;
  std::vector<AggSpec>* aggs = nullptr;  // null where aggregates are not allowed
  // Inside a subquery of an expression: the scopes of the enclosing queries (innermost last;
  // null for one without FROM), and for each enclosing subquery a flag that a reference to an
  // outer column sets (its result then depends on the outer row: correlated).
  std::vector<const Scope*> outer_scopes;
  std::vector<bool*> correlated;
  // The WITH queries visible here (innermost first).
  std::shared_ptr<const struct CteDef> ctes;
  // Window functions of the select list (null where they are not allowed).
  std::vector<struct WindowSpec>* windows;
  // Set-returning functions of the select list (null where they are not allowed).
  std::vector<struct TableFunctionSource>* srfs = nullptr;
};

// A window function call: row_number(), rank(), dense_rank(), lag() or lead() OVER (PARTITION
// BY ... ORDER BY ...). Its value is appended to the input row (after the FROM clause's columns
// and the windows before it).
struct WindowSpec {
  enum Kind { kRowNumber, kRank, kDenseRank, kLag, kLead } kind;
  std::vector<ExprPtr> partition;
  std::vector<AggSpec::OrderKey> order;
  int32_t type = oid::kInt8;  // of the function's value
  // lag and lead: the value read `offset` rows away in the partition (behind for lag, ahead for
  // lead; a negative offset looks the other way; a null one gives null), and the value when
  // that row is outside the partition (evaluated at the current row).
  ExprPtr value = nullptr, fallback = nullptr;
  std::optional<int64_t> offset = 1;
};

Result<ExprPtr> CompileExpr(CompileState& cs, const PgQuery__Node* node);
// The type a type name denotes (int4[], "char", varchar, ...); 42704 when none.
Result<int32_t> TypeNameOid(const CompileState& cs, const PgQuery__TypeName* tn);
// ORDER BY's direction and NULLS placement (NULLS FIRST is the default for DESC).
void SortDirection(const PgQuery__SortBy* sb, bool* desc, bool* nulls_first);
// The type two values of types a and b meet at (unknown takes the other; integers widen,
// strings become text, oid and reg* types meet at oid...); 0 when there is none.
int32_t CommonTypeOf(int32_t a, int32_t b);
// The numeric types' widening order (int2 1 ... float8 6); 0 for other types.
int IntRank(int32_t t);
// Converts an expression to `target`: unknown literals and untyped parameters take the type;
// other types need an implicit cast unless `explicit_cast`.
Result<ExprPtr> Coerce(CompileState& cs, ExprPtr e, int32_t target, bool explicit_cast);
ExprPtr ConstExpr(Value v);
// An expression of a known result type computed by `eval`.
ExprPtr MakeExpr(int32_t type, std::function<Result<Value>(EvalState&)> eval);
// The column name PostgreSQL gives an unnamed target ("?column?", function name, type name).
std::string FigureColname(const PgQuery__Node* node);
// Evaluates a comparison of two values of comparable types: <0, 0, >0.
Result<int> CompareValues(const Value& a, const Value& b);
// Error position (1-based) for a parse-node location.
int ErrorPosition(const CompileState& cs, int location);
std::string StringNodeValue(const PgQuery__Node* node);
// The SQL text of an expression's parse tree, as libpg_query's deparser writes it: what a DEFAULT
// clause keeps (PostgreSQL keeps the tree; pg_get_expr writes it back the same way).
Result<std::string> ExpressionText(const PgQuery__Node* expr);

using RunFn = std::function<Result<ExecResult>(Executor&, EvalState&)>;

// What a plan node did in one execution (EXPLAIN ANALYZE); counted only when `analyze`.
struct PlanActual {
  bool analyze = false;
  bool timing = true;
  uint64_t rows = 0, loops = 0;
  double first_ms = 0, total_ms = 0;  // summed over loops
  std::vector<std::string> details;   // "Sort Method: external merge  Disk: 1024kB"
};

// A step of a plan as EXPLAIN shows it.
struct PlanNode {
  std::string label;                 // "Seq Scan on t", "Hash Join"
  std::vector<std::string> details;  // "Index Cond: (id = 1)"
  std::vector<std::shared_ptr<PlanNode>> children;
  PlanActual actual;
};
using PlanPtr = std::shared_ptr<PlanNode>;
inline PlanPtr MakePlan(std::string label, std::vector<PlanPtr> children = {}) {
  auto n = std::make_shared<PlanNode>();
  n->label = std::move(label);
  n->children = std::move(children);
  return n;
}

// The execution of a plan node: rows pulled one at a time (Volcano-style), so a result reaches
// the client while its scan runs and only sorts and hashes hold rows (within work_mem, spilling
// beyond it: spill.h). Iterators share their statement's EvalState, which outlives them.
class RowIter {
 public:
  explicit RowIter(PlanPtr plan = nullptr);
  virtual ~RowIter() = default;
  // The next row; false at the end.
  Result<bool> Next(Row* row);

 protected:
  virtual Result<bool> Pull(Row* row) = 0;
  PlanPtr plan_;

 private:
  bool first_ = true;
};
using RowIterPtr = std::unique_ptr<RowIter>;
// Opens a plan's execution (one loop of it).
using RowSourceFn = std::function<Result<RowIterPtr>(EvalState&)>;

// A WITH query: its columns and rows (each reference runs it; a recursive one runs its terms
// until no new rows come).
struct CteDef {
  std::string name;
  std::vector<ViewColumn> columns;
  RowSourceFn source;
  std::shared_ptr<const CteDef> outer;  // the next one out
};

// Whether `pred` is true (not false or NULL) for `row`; st.row is restored afterwards.
Result<bool> IsTrueFor(EvalState& st, const Expr& pred, const Row& row);

// Iterators (nodes.cc).
RowIterPtr VectorIter(PlanPtr plan, std::vector<Row> rows);
RowIterPtr FunctionIter(PlanPtr plan, std::function<Result<bool>(Row*)> next);
// Rows of `child` for which `pred` is true.
RowIterPtr FilterIter(EvalState& st, RowIterPtr child, ExprPtr pred);
// The first `width` values of each row.
RowIterPtr TruncateIter(RowIterPtr child, size_t width);
// Rows `offset`.. of `child`, at most `limit` (-1: all) of them.
RowIterPtr LimitIter(PlanPtr plan, RowIterPtr child, int64_t offset, int64_t limit);
// Sort keys: positions in the row.
struct SortColumn {
  size_t index;
  bool desc = false;
  bool nulls_first = false;
};
// The rows of `child` sorted (a top-N heap when `bound` >= 0); spills past work_mem.
RowIterPtr SortIter(EvalState& st, PlanPtr plan, RowIterPtr child, std::vector<SortColumn> keys,
                    int64_t bound);
// Drops a row equal in its first `width` values to the previous one (input sorted).
RowIterPtr UniqueIter(PlanPtr plan, RowIterPtr child, size_t width);
// Groups `child`'s rows on the values of `group_by` and computes `aggs` for each group: each
// output row is the group's first input row (padded with NULLs of `in_types` when there is no
// input) followed by the aggregate values. Without GROUP BY there is exactly one group. Hash
// tables past hash_mem spill to partition files, aggregated afterwards.
RowIterPtr HashAggIter(EvalState& st, PlanPtr plan, RowIterPtr child, std::vector<ExprPtr> group_by,
                       std::shared_ptr<const std::vector<AggSpec>> aggs,
                       std::vector<int32_t> in_types);
// Computes `exprs` over each row of `child`; with `agg_from` >= 0 the input rows are aggregate
// output (the values from `agg_from` on are the aggregates); with `having`, skips groups for
// which it is not true.
RowIterPtr ProjectIter(EvalState& st, RowIterPtr child, std::vector<ExprPtr> exprs, int agg_from,
                       ExprPtr having);
// Window function `spec` over `child`, whose rows are sorted by their partition and then order
// keys: each row's first `width` values, then the function's value. After the first `width`
// values come the partition keys, the order keys, and for lag and lead the value and fallback.
RowIterPtr WindowIter(EvalState& st, PlanPtr plan, RowIterPtr child, const WindowSpec& spec,
                      size_t width);
// The rows of `child`, each repeated with the next value of every set-returning function of
// the select list appended (NULL once one has no more), until all are done: PostgreSQL's
// ProjectSet. A row whose functions return nothing is dropped.
RowIterPtr ProjectSetIter(EvalState& st, PlanPtr plan, RowIterPtr child,
                          std::shared_ptr<const std::vector<struct TableFunctionSource>> srfs);
// Rows of a temporary file or a tuplestore, in order.
RowIterPtr TempFileIter(std::unique_ptr<class TempFile> file);
RowIterPtr TuplestoreIter(std::unique_ptr<class Tuplestore> store);

// The rows produced by an iterator, for a result set.
std::shared_ptr<RowStream> StreamOf(RowIterPtr it);

// A prepared statement: its run function and what Describe reports.
class Prepared : public PreparedStatement {
 public:
  std::shared_ptr<ParsedStatement> stmt;
  std::shared_ptr<std::vector<int32_t>> params = std::make_shared<std::vector<int32_t>>();
  std::vector<ColumnDesc> cols;
  bool rows = false;
  bool is_transaction_control = false;
  bool allowed_in_failed = false;  // ROLLBACK, COMMIT, ROLLBACK TO
  RunFn run;
  std::vector<std::shared_ptr<ViewDef>> owned_views;  // table functions used in FROM
  PlanPtr plan;        // what EXPLAIN shows: set for SELECT, INSERT, UPDATE and DELETE
  RowSourceFn source;  // a SELECT's rows (used by INSERT ... SELECT and subqueries in FROM)
  // The relation locks analysis took (taken again at each execution), and the catalog version
  // it read: when the catalog changed since, the statement is analysed again (PostgreSQL's plan
  // cache revalidation), and that version is kept here for the next executions.
  std::vector<std::pair<uint32_t, access::LockMode>> locks;
  uint64_t catalog_version = 0;
  mutable std::shared_ptr<const Prepared> replanned;

  const std::vector<int32_t>& param_types() const override { return *params; }
  const std::vector<ColumnDesc>& columns() const override { return cols; }
  bool returns_rows() const override { return rows; }
};

inline ExecResult TagOnly(std::string tag) {
  ExecResult r;
  r.tag = std::move(tag);
  return r;
}

// Statements over tables (dml.cc). Each returns nullptr when the node is not one of them.
Result<std::shared_ptr<Prepared>> PrepareTableStatement(Executor& ex, CompileState& cs,
                                                        std::shared_ptr<Prepared> p,
                                                        const PgQuery__Node* node);
// Table rows and constraints, shared by INSERT/UPDATE/DELETE and COPY (dml.cc).
Result<Value> ToColumnValue(const catalog::TableDef& t, size_t i, const Value& v,
                            const FormatOptions& fo);
// Inserts rows into the table (filling pages with one WAL record each) and its indexes,
// enforcing unique indexes (23505). On an error, *failed is the index of the row at fault.
Status InsertTableRows(Executor& ex, const catalog::TableDef& t, const std::vector<Row>& rows,
                       size_t* failed);
Result<std::shared_ptr<Prepared>> PrepareCopy(Executor& ex, std::shared_ptr<Prepared> p,
                                              const PgQuery__CopyStmt* c);

// A SELECT inside another statement (INSERT ... SELECT); its parameters are the caller's.
Result<std::shared_ptr<Prepared>> PrepareSubSelect(Executor& ex, CompileState& cs,
                                                   const PgQuery__SelectStmt* s);

// A table in FROM as a row source over the executor's current transaction: found through an
// index when `where` has equality or range terms on an index's leading columns (the caller still
// applies all of `where`), else a sequential scan.
// A sequential scan of a table's rows visible to the current statement.
RowIterPtr TableScanIter(EvalState& st, const catalog::TableDef& def, PlanPtr plan);
// `*plan` describes the scan chosen.
Result<const ViewDef*> PrepareTableSource(Executor& ex, CompileState& cs, const std::string& name,
                                          const PgQuery__Node* where, Prepared* p,
                                          RowSourceFn* rows, PlanPtr* plan);

// A FROM clause compiled (from.cc): the columns it makes visible and the rows it produces.
struct FromPlan {
  std::shared_ptr<Scope> scope = std::make_shared<Scope>();
  RowSourceFn rows;  // null without FROM: one empty row
  PlanPtr plan;      // null without FROM
  // LATERAL: the rows depend on the current row of the items to the left (read as the innermost
  // outer row), so it is run again for each of them.
  bool lateral = false;
};
// A set-returning function call (in FROM, or in a select list): its columns, and its rows for
// the arguments evaluated over the current row (produced one at a time when it streams them).
struct TableFunctionSource {
  std::string name;
  std::vector<ViewColumn> columns;
  RowSourceFn rows;
};
Result<TableFunctionSource> CompileTableFunctionCall(CompileState& cs, const PgQuery__FuncCall* fc);
// A lone FROM item may use `s`'s WHERE clause to pick an index.
Result<FromPlan> PrepareFrom(Executor& ex, CompileState& cs, const PgQuery__SelectStmt* s,
                             Prepared* p);
// For CREATE TABLE/INDEX/SEQUENCE: whether `name` is taken (tables, sequences and indexes share
// one namespace). Taken is 42P07, or with IF NOT EXISTS a notice and true (the caller skips).
Result<bool> RelationNameTaken(Executor& e, EvalState& st, const std::string& name,
                               bool if_not_exists, char persistence = 'p');
// 0A000 for an unlogged or temporary table during recovery (its contents are not replicated).
Status CheckReadableInRecovery(SessionContext& ctx, const catalog::TableDef& t);
// The object names of a DROP statement.
std::vector<std::string> DropStatementNames(const PgQuery__DropStmt* d);

// Sequences (sequence.cc).
// CREATE SEQUENCE options with PostgreSQL's defaults and checks; `*owned_by` gets "t.c" or "".
// `type` is the data type unless an AS option names another.
Result<catalog::SequenceDef> SequenceFromOptions(PgQuery__Node** options, size_t n,
                                                 std::string* owned_by, int32_t type = oid::kInt8);
// Creates a sequence, owned by the owner's column unless `owner` is null.
Result<catalog::TableDef> CreateSequence(Executor& ex, catalog::TableDef def,
                                         const catalog::TableDef* owner, const std::string& column);
// DROP TABLE: the table's serial sequences go with it.
Status DropOwnedSequences(Executor& ex, const catalog::TableDef& table);
// CREATE SEQUENCE, DROP SEQUENCE; nullptr for other statements.
Result<std::shared_ptr<Prepared>> PrepareSequenceStatement(std::shared_ptr<Prepared> p,
                                                           const PgQuery__Node* node);
// nextval, currval, setval, lastval; nullptr for other functions.
Result<ExprPtr> CompileSequenceFunction(CompileState& cs, const std::string& name,
                                        const PgQuery__FuncCall* fc);
// SELECT * FROM a sequence: last_value, log_cnt, is_called.
Result<std::vector<Row>> SequenceRows(Executor& ex, const catalog::TableDef& t);

// pg_catalog (pg_catalog.cc): PostgreSQL 15's catalog relations generated from walrep's
// catalog as the current transaction sees it.
// The columns of the catalog relation `name` (pg_class, pg_roles, ...), or null.
const std::vector<ViewColumn>* FindCatalogRelation(const std::string& name);
Result<std::vector<Row>> CatalogRelationRows(Executor& ex, SessionContext& ctx,
                                             const std::string& name);
uint32_t CatalogRelationOid(const std::string& name);  // its pg_class.oid
// A catalog function (format_type, pg_get_indexdef, pg_table_size, ...) over compiled
// arguments; null when `name` is none of them or the arguments do not fit.
Result<ExprPtr> CompileCatalogFunction(CompileState& cs, const std::string& name,
                                       std::vector<ExprPtr> args);
bool FindCatalogFunction(const std::string& name);
// The reg* types' names, looked up in the executor's catalog.
std::unique_ptr<RegResolver> MakeCatalogResolver(Executor* ex, SessionContext* ctx);

// Name of a statement node as a command tag ("CREATE TABLE") for messages.
std::string StatementKindName(const PgQuery__Node* node);

}  // namespace walrep::sql
