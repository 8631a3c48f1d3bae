// walrep: statement analysis and execution (see executor.h).
#include "walrep/sql/executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <unordered_set>

#include "spill.h"
#include "sql_internal.h"
#include "walrep/common/strings.h"

namespace walrep::sql {

namespace {

// What a statement's iterators use while its rows are read: its parameters and evaluation
// state.
struct StatementState {
  std::vector<Value> params;
  EvalState st;
};

// A result's rows with what their iterators use (released after them): the statement's state,
// and for a cursor its plan.
class OwningStream : public RowStream {
 public:
  OwningStream(std::shared_ptr<RowStream> rows, std::vector<std::shared_ptr<const void>> owned)
      : rows_(std::move(rows)), owned_(std::move(owned)) {}
  ~OwningStream() override { rows_.reset(); }
  Result<bool> Next(Row* row) override { return rows_->Next(row); }

 private:
  std::shared_ptr<RowStream> rows_;
  std::vector<std::shared_ptr<const void>> owned_;
};

Status Unsupported(const PgQuery__Node* node) {
  return Status::NotSupported(fmt::format("{} is not supported", StatementKindName(node)));
}

// Renders the value list of SET / ALTER SYSTEM the way PostgreSQL flattens it.
Result<std::string> SetArgsToString(PgQuery__Node** args, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i++) {
    const PgQuery__Node* a = args[i];
    std::string piece;
    if (a->node_case == PG_QUERY__NODE__NODE_TYPE_CAST) a = a->type_cast->arg;
    if (a->node_case != PG_QUERY__NODE__NODE_A_CONST) {
      return Status::Sql("42601", "SET requires a constant value");
    }
    const auto* c = a->a_const;
    switch (c->val_case) {
      case PG_QUERY__A__CONST__VAL_IVAL:
        piece = std::to_string(c->ival ? c->ival->ival : 0);
        break;
      case PG_QUERY__A__CONST__VAL_FVAL:
        piece = c->fval->fval;
        break;
      case PG_QUERY__A__CONST__VAL_SVAL:
        piece = c->sval->sval;
        break;
      case PG_QUERY__A__CONST__VAL_BOOLVAL:
        piece = c->boolval->boolval ? "on" : "off";
        break;
      default:
        return Status::Sql("42601", "SET requires a constant value");
    }
    out += (i ? ", " : "") + piece;
  }
  return out;
}

std::string CanonicalSetName(const std::string& name) {
  std::string n = ToLower(name);
  if (n == "timezone") return "TimeZone";
  return name;
}

Result<RoleOptions> ParseRoleOptions(PgQuery__Node** opts, size_t n) {
  RoleOptions o;
  for (size_t i = 0; i < n; i++) {
    const auto* d = opts[i]->def_elem;
    std::string name = d->defname;
    auto boolarg = [&]() -> bool {
      return d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN
                 ? d->arg->boolean->boolval
                 : (d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_INTEGER
                        ? d->arg->integer->ival != 0
                        : true);
    };
    if (name == "canlogin") {
      o.login = boolarg();
    } else if (name == "superuser") {
      o.superuser = boolarg();
    } else if (name == "isreplication") {
      o.replication = boolarg();
    } else if (name == "createdb") {
      o.createdb = boolarg();
    } else if (name == "createrole") {
      o.createrole = boolarg();
    } else if (name == "inherit") {
      o.inherit = boolarg();
    } else if (name == "connectionlimit") {
      o.connection_limit =
          d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_INTEGER ? d->arg->integer->ival : -1;
    } else if (name == "password") {
      o.password_given = true;
      if (d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_STRING) {
        o.password = d->arg->string->sval;
      }
    } else if (name == "validUntil" || name == "bypassrls") {
      // Accepted and ignored: walrep has no password expiry or row-level security.
    } else {
      return Status::NotSupported(fmt::format("role option \"{}\" is not supported", name));
    }
  }
  return o;
}

}  // namespace

void SortDirection(const PgQuery__SortBy* sb, bool* desc, bool* nulls_first) {
  *desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
  *nulls_first = sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
                 (*desc && sb->sortby_nulls != PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST);
}

// An ORDER BY item that names an output column, by position (1-based; 42P10 when out of range)
// or by name: its index, or -1 for anything else.
Result<int> OutputColumnOf(const PgQuery__Node* n, const std::vector<ColumnDesc>& cols) {
  if (n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
      n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
    int pos = n->a_const->ival ? n->a_const->ival->ival : 0;
    if (pos < 1 || pos > static_cast<int>(cols.size())) {
      return Status::Sql("42P10", fmt::format("ORDER BY position {} is not in select list", pos))
          .WithPosition(n->a_const->location + 1);
    }
    return pos - 1;
  }
  if (n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && n->column_ref->n_fields == 1) {
    std::string name = StringNodeValue(n->column_ref->fields[0]);
    for (size_t c = 0; c < cols.size(); c++) {
      if (cols[c].name == name) return static_cast<int>(c);
    }
  }
  return -1;
}

// LIMIT and OFFSET of a query, as bigint expressions (null when absent).
Status CompileLimitOffset(CompileState& cs, const PgQuery__SelectStmt* s, ExprPtr* limit,
                          ExprPtr* offset) {
  if (s->limit_count) {
    WALREP_ASSIGN_OR_RETURN(*limit, CompileExpr(cs, s->limit_count));
    WALREP_ASSIGN_OR_RETURN(*limit, Coerce(cs, *limit, oid::kInt8, false));
  }
  if (s->limit_offset) {
    WALREP_ASSIGN_OR_RETURN(*offset, CompileExpr(cs, s->limit_offset));
    WALREP_ASSIGN_OR_RETURN(*offset, Coerce(cs, *offset, oid::kInt8, false));
  }
  return Status::OK();
}

// Their values for one execution: *off 0 and *lim -1 (all rows) when absent or NULL.
Status EvalLimitOffset(EvalState& st, const ExprPtr& limit, const ExprPtr& offset, int64_t* off,
                       int64_t* lim) {
  *off = 0;
  *lim = -1;
  if (offset) {
    WALREP_ASSIGN_OR_RETURN(Value v, offset->eval(st));
    if (!v.is_null()) *off = v.as_int();
    if (*off < 0) return Status::Sql("2201X", "OFFSET must not be negative");
  }
  if (limit) {
    WALREP_ASSIGN_OR_RETURN(Value v, limit->eval(st));
    if (!v.is_null()) {
      *lim = v.as_int();
      if (*lim < 0) return Status::Sql("2201W", "LIMIT must not be negative");
    }
  }
  return Status::OK();
}

// The run function of a query: its rows as the result set, streamed.
RunFn RunRows(RowSourceFn source, std::vector<ColumnDesc> cols) {
  return [source = std::move(source), cols = std::move(cols)](Executor&,
                                                              EvalState& st) -> Result<ExecResult> {
    WALREP_ASSIGN_OR_RETURN(RowIterPtr it, source(st));
    ExecResult r;
    r.returns_rows = true;
    r.columns = cols;
    r.rows = StreamOf(std::move(it));
    r.tag = "SELECT";
    return r;
  };
}

// Builds the plan of a SELECT and of utility statements.
namespace {
// WITH's queries, made visible to the statement that follows (cs.ctes).
Status PrepareWith(Executor& ex, CompileState& cs, const PgQuery__WithClause* with);
}  // namespace

struct ExecAccess {
  static Result<std::shared_ptr<Prepared>> PrepareSelect(Executor& ex, CompileState& cs,
                                                         std::shared_ptr<Prepared> p,
                                                         const PgQuery__SelectStmt* s);
  static Result<std::shared_ptr<Prepared>> PrepareUtility(Executor& ex, std::shared_ptr<Prepared> p,
                                                          const PgQuery__Node* node);
  // a UNION | INTERSECT | EXCEPT [ALL] b [ORDER BY output columns] [LIMIT ...]: the sides' rows
  // appended, and for UNION without ALL made distinct through a hash aggregate; INTERSECT and
  // EXCEPT count each row's copies per side in one.
  static Result<std::shared_ptr<Prepared>> PrepareSetOp(Executor& ex, CompileState& cs,
                                                        std::shared_ptr<Prepared> p,
                                                        const PgQuery__SelectStmt* s);
  static Result<std::shared_ptr<Prepared>> PrepareDeclareCursor(
      Executor& ex, std::shared_ptr<Prepared> p, const PgQuery__DeclareCursorStmt* d);
  // EXPLAIN [(options)] statement: the statement's plan, without costs (as COSTS OFF).
  static Result<std::shared_ptr<Prepared>> PrepareExplain(Executor& ex, std::shared_ptr<Prepared> p,
                                                          const PgQuery__ExplainStmt* es);
};

// EXPLAIN ANALYZE: the actual figures after the node's label, PostgreSQL's way (per loop).
std::string ActualText(const PlanActual& a) {
  if (a.loops == 0) return " (never executed)";
  double loops = static_cast<double>(a.loops);
  uint64_t rows = static_cast<uint64_t>(static_cast<double>(a.rows) / loops + 0.5);
  if (!a.timing) return fmt::format(" (actual rows={} loops={})", rows, a.loops);
  return fmt::format(" (actual time={:.3f}..{:.3f} rows={} loops={})", a.first_ms / loops,
                     a.total_ms / loops, rows, a.loops);
}

void MarkAnalyze(PlanNode* n, bool timing) {
  n->actual = PlanActual{};
  n->actual.analyze = true;
  n->actual.timing = timing;
  for (auto& c : n->children) MarkAnalyze(c.get(), timing);
}

Result<std::shared_ptr<Prepared>> ExecAccess::PrepareExplain(Executor& ex,
                                                             std::shared_ptr<Prepared> p,
                                                             const PgQuery__ExplainStmt* es) {
  static const std::set<std::string> kKnown = {
      "analyze", "verbose", "costs", "settings", "buffers", "wal", "timing", "summary", "format"};
  bool analyze = false, timing = true;
  std::optional<bool> summary;
  for (size_t i = 0; i < es->n_options; i++) {
    const auto* d = es->options[i]->def_elem;
    std::string name = d->defname;
    std::string val = "true";
    if (d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_STRING) {
      val = ToLower(StringNodeValue(d->arg));
    } else if (d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN) {
      val = d->arg->boolean->boolval ? "true" : "false";
    }
    if (!kKnown.count(name)) {
      return Status::Sql("42601", fmt::format("unrecognized EXPLAIN option \"{}\"", name));
    }
    bool on = val != "false" && val != "off" && val != "0";
    if (name == "analyze") analyze = on;
    if (name == "timing") timing = on;
    if (name == "summary") summary = on;
    if (name == "format" && val != "text") {
      return Status::NotSupported(fmt::format("EXPLAIN format \"{}\" is not supported", val));
    }
  }
  if (!analyze && es->n_options && !timing) {
    return Status::Sql("22023", "EXPLAIN option TIMING requires ANALYZE");
  }
  auto inner = std::make_shared<Prepared>();
  inner->stmt = p->stmt;
  inner->params = p->params;
  const PgQuery__Node* q = es->query;
  auto plan_start = std::chrono::steady_clock::now();
  if (q->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
    CompileState cs{ex.registry_, ex.ctx_, &ex, nullptr, p->params.get(),
                    nullptr,      {},      {},  nullptr, nullptr};
    WALREP_ASSIGN_OR_RETURN(inner, PrepareSelect(ex, cs, inner, q->select_stmt));
  } else if (analyze) {
    return Status::NotSupported(
        fmt::format("EXPLAIN ANALYZE of {} is not supported", StatementKindName(q)));
  } else {
    WALREP_ASSIGN_OR_RETURN(inner, PrepareUtility(ex, inner, q));
  }
  if (!inner->plan) {
    return Status::NotSupported(
        fmt::format("EXPLAIN of {} is not supported", StatementKindName(q)));
  }
  double plan_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - plan_start)
          .count();
  p->rows = true;
  p->cols = {ColumnDesc{"QUERY PLAN", oid::kText}};
  bool show_summary = summary.value_or(analyze);
  p->run = [inner, analyze, timing, show_summary, plan_ms, cols = p->cols](
               Executor&, EvalState& st) -> Result<ExecResult> {
    auto start = std::chrono::steady_clock::now();
    if (analyze) {
      // The query runs to its end; its rows are discarded.
      MarkAnalyze(inner->plan.get(), timing);
      WALREP_ASSIGN_OR_RETURN(RowIterPtr it, inner->source(st));
      Row row;
      while (true) {
        WALREP_ASSIGN_OR_RETURN(bool more, it->Next(&row));
        if (!more) break;
      }
    }
    double exec_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::vector<std::string> lines;
    std::function<void(const PlanNode&, int)> render = [&](const PlanNode& n, int depth) {
      // PostgreSQL's text layout: a child is "->  " indented under its parent, 6 columns a level.
      std::string pad =
          depth == 0 ? "" : std::string(static_cast<size_t>(6 * depth - 4), ' ') + "->  ";
      lines.push_back(pad + n.label + (analyze ? ActualText(n.actual) : ""));
      std::string indent(static_cast<size_t>(6 * depth + 2), ' ');
      for (const auto& d : n.details) lines.push_back(indent + d);
      if (analyze) {
        for (const auto& d : n.actual.details) lines.push_back(indent + d);
      }
      for (const auto& c : n.children) render(*c, depth + 1);
    };
    render(*inner->plan, 0);
    if (show_summary) {
      lines.push_back(fmt::format("Planning Time: {:.3f} ms", plan_ms));
      if (analyze) lines.push_back(fmt::format("Execution Time: {:.3f} ms", exec_ms));
    }
    std::vector<Row> rows;
    for (const auto& l : lines) rows.push_back(Row{Value::Text(oid::kText, l)});
    ExecResult r;
    r.returns_rows = true;
    r.columns = cols;
    r.rows = StreamOf(VectorIter(nullptr, std::move(rows)));
    r.tag = "EXPLAIN";
    return r;
  };
  return p;
}

Result<std::shared_ptr<Prepared>> ExecAccess::PrepareSetOp(Executor& ex, CompileState& cs,
                                                           std::shared_ptr<Prepared> p,
                                                           const PgQuery__SelectStmt* s) {
  const bool is_union = s->op == PG_QUERY__SET_OPERATION__SETOP_UNION;
  const bool intersect = s->op == PG_QUERY__SET_OPERATION__SETOP_INTERSECT;
  const char* op_name = is_union ? "UNION" : intersect ? "INTERSECT" : "EXCEPT";
  if (s->with_clause) WALREP_RETURN_IF_ERROR(PrepareWith(ex, cs, s->with_clause));
  WALREP_ASSIGN_OR_RETURN(auto left, PrepareSubSelect(ex, cs, s->larg));
  WALREP_ASSIGN_OR_RETURN(auto right, PrepareSubSelect(ex, cs, s->rarg));
  if (left->cols.size() != right->cols.size()) {
    return Status::Sql("42601",
                       fmt::format("each {} query must have the same number of columns", op_name));
  }
  // Each column's type: the sides' common type (integers widen, then numeric, then double
  // precision; strings become text; oid and reg* types meet at oid).

  p->cols = left->cols;
  for (size_t i = 0; i < p->cols.size(); i++) {
    int32_t lt = left->cols[i].type, rt = right->cols[i].type;
    int32_t t = CommonTypeOf(lt, rt);
    if (!t) {
      return Status::Sql("42804", fmt::format("{} types {} and {} cannot be matched", op_name,
                                              TypeName(lt), TypeName(rt)));
    }
    p->cols[i].type = t;
    p->cols[i].table_oid = 0;
    p->cols[i].attnum = 0;
  }
  // ORDER BY names output columns (or their positions), as PostgreSQL requires here.
  std::vector<SortColumn> sorts;
  for (size_t i = 0; i < s->n_sort_clause; i++) {
    const auto* sb = s->sort_clause[i]->sort_by;
    SortColumn k{0};
    SortDirection(sb, &k.desc, &k.nulls_first);
    WALREP_ASSIGN_OR_RETURN(int found, OutputColumnOf(sb->node, p->cols));
    if (found < 0) {
      return Status::NotSupported(
          "invalid UNION/INTERSECT/EXCEPT ORDER BY clause: only result column names can be used");
    }
    k.index = static_cast<size_t>(found);
    sorts.push_back(k);
  }
  ExprPtr limit, offset;
  WALREP_RETURN_IF_ERROR(CompileLimitOffset(cs, s, &limit, &offset));
  bool distinct = !s->all;
  PlanPtr append = MakePlan("Append", {left->plan, right->plan});
  // UNION removes duplicates with a hash aggregate; INTERSECT and EXCEPT count each distinct
  // row's copies on either side with one (PostgreSQL's HashSetOp), and emit it as often as
  // their rule says.
  PlanPtr agg;
  if (!is_union) {
    agg = MakePlan(
        fmt::format("HashSetOp {}{}", intersect ? "Intersect" : "Except", distinct ? "" : " All"),
        {append});
  } else if (distinct) {
    agg = MakePlan("HashAggregate", {append});
  }
  p->plan = agg ? agg : append;
  PlanPtr sort_plan, limit_plan;
  if (!sorts.empty()) p->plan = sort_plan = MakePlan("Sort", {p->plan});
  if (limit || offset) p->plan = limit_plan = MakePlan("Limit", {p->plan});
  p->rows = true;
  std::vector<int32_t> types;
  for (const auto& c : p->cols) types.push_back(c.type);
  // A side's rows converted to the column types.
  auto side = [types](std::shared_ptr<Prepared> sub) -> RowSourceFn {
    bool same = true;
    for (size_t i = 0; i < types.size(); i++) same &= sub->cols[i].type == types[i];
    return [sub, types, same](EvalState& st) -> Result<RowIterPtr> {
      WALREP_ASSIGN_OR_RETURN(RowIterPtr it, sub->source(st));
      if (same) return it;
      std::vector<ExprPtr> casts;
      for (size_t i = 0; i < types.size(); i++) {
        int32_t t = types[i];
        casts.push_back(MakeExpr(
            t, [i, t](EvalState& st) -> Result<Value> { return Cast((*st.row)[i], t, st.fmt); }));
      }
      return ProjectIter(st, std::move(it), std::move(casts), -1, nullptr);
    };
  };
  RowSourceFn lsrc = side(left), rsrc = side(right);
  if (!is_union) {
    // Each side's rows gain a column saying which side they came from.
    auto tag = [types](RowSourceFn src, int32_t which) -> RowSourceFn {
      return [src, which, types](EvalState& st) -> Result<RowIterPtr> {
        WALREP_ASSIGN_OR_RETURN(RowIterPtr it, src(st));
        std::vector<ExprPtr> cols;
        for (size_t i = 0; i < types.size(); i++) {
          cols.push_back(
              MakeExpr(types[i], [i](EvalState& st) -> Result<Value> { return (*st.row)[i]; }));
        }
        cols.push_back(MakeExpr(oid::kInt4, [which](EvalState&) -> Result<Value> {
          return Value::Int(oid::kInt4, which);
        }));
        return ProjectIter(st, std::move(it), std::move(cols), -1, nullptr);
      };
    };
    lsrc = tag(lsrc, 0);
    rsrc = tag(rsrc, 1);
  }
  p->source = [lsrc, rsrc, types, is_union, intersect, distinct, sorts, limit, offset, append, agg,
               sort_plan, limit_plan](EvalState& st) -> Result<RowIterPtr> {
    int64_t off, lim;
    WALREP_RETURN_IF_ERROR(EvalLimitOffset(st, limit, offset, &off, &lim));
    // Append: the left side's rows, then the right side's (opened when the left one ends).
    struct Sides {
      RowIterPtr cur;
      bool right_open = false;
    };
    auto sides = std::make_shared<Sides>();
    WALREP_ASSIGN_OR_RETURN(sides->cur, lsrc(st));
    RowIterPtr it = FunctionIter(append, [sides, rsrc, &st](Row* row) -> Result<bool> {
      while (true) {
        WALREP_ASSIGN_OR_RETURN(bool more, sides->cur->Next(row));
        if (more || sides->right_open) return more;
        WALREP_ASSIGN_OR_RETURN(sides->cur, rsrc(st));
        sides->right_open = true;
      }
    });
    const size_t n = types.size();
    std::vector<ExprPtr> cols;
    for (size_t i = 0; i < n; i++) {
      cols.push_back(
          MakeExpr(types[i], [i](EvalState& st) -> Result<Value> { return (*st.row)[i]; }));
    }
    if (!is_union) {
      // Per distinct row: its copies on the left, and on the right.
      auto aggs = std::make_shared<std::vector<AggSpec>>();
      for (int32_t which : {0, 1}) {
        AggSpec count{AggSpec::kCountStar, nullptr, oid::kInt8};
        count.filter = MakeExpr(oid::kBool, [n, which](EvalState& st) -> Result<Value> {
          return Value::Bool((*st.row)[n].as_int() == which);
        });
        aggs->push_back(std::move(count));
      }
      std::vector<int32_t> in_types = types;
      in_types.push_back(oid::kInt4);
      auto counted = std::make_shared<RowIterPtr>(
          HashAggIter(st, agg, std::move(it), std::move(cols), std::move(aggs), in_types));
      // The row, emitted as many times as INTERSECT [ALL] or EXCEPT [ALL] keeps it.
      struct Pending {
        Row row;
        int64_t left = 0;
      };
      auto pending = std::make_shared<Pending>();
      SessionContext* ctx = st.ctx;
      it = FunctionIter(
          nullptr, [counted, pending, n, intersect, distinct, ctx](Row* row) -> Result<bool> {
            uint64_t skipped = 0;
            while (pending->left == 0) {
              // Groups that emit nothing (all of them, for a set minus itself) go by unsent.
              if (++skipped % 1024 == 0) WALREP_RETURN_IF_ERROR(ctx->CheckInterrupts());
              WALREP_ASSIGN_OR_RETURN(bool more, (*counted)->Next(&pending->row));
              if (!more) return false;
              int64_t l = pending->row[n + 1].as_int(), r = pending->row[n + 2].as_int();
              if (distinct) {
                pending->left = l > 0 && (intersect ? r > 0 : r == 0);
              } else {
                pending->left = intersect ? std::min(l, r) : std::max<int64_t>(l - r, 0);
              }
              pending->row.resize(n);
            }
            pending->left--;
            *row = pending->row;
            return true;
          });
    } else if (distinct) {
      it = HashAggIter(st, agg, std::move(it), std::move(cols),
                       std::make_shared<const std::vector<AggSpec>>(), types);
    }
    if (sort_plan) {
      it = SortIter(st, sort_plan, std::move(it), sorts, lim >= 0 ? off + lim : -1);
    }
    if (limit_plan) it = LimitIter(limit_plan, std::move(it), off, lim);
    return it;
  };
  auto cols = p->cols;
  auto source = p->source;
  p->run = RunRows(source, cols);
  return p;
}

// DECLARE name [BINARY] [NO SCROLL] CURSOR [WITHOUT HOLD] FOR query: the query's plan starts,
// and FETCH pulls its rows as they are asked for (psql's FETCH_COUNT, JDBC's fetch size).
Result<std::shared_ptr<Prepared>> ExecAccess::PrepareDeclareCursor(
    Executor& ex, std::shared_ptr<Prepared> p, const PgQuery__DeclareCursorStmt* d) {
  constexpr int kScroll = 0x2, kHold = 0x20;
  bool hold = d->options & kHold;
  if (d->options & kScroll) {
    return Status::NotSupported("DECLARE SCROLL CURSOR is not supported");
  }
  if (!d->query || d->query->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) {
    return Status::Sql("42601", "DECLARE CURSOR must be a SELECT");
  }
  auto inner = std::make_shared<Prepared>();
  inner->stmt = p->stmt;
  inner->params = p->params;
  CompileState cs{ex.registry_, ex.ctx_, &ex, nullptr, p->params.get(),
                  nullptr,      {},      {},  nullptr, nullptr};
  WALREP_ASSIGN_OR_RETURN(inner, PrepareSelect(ex, cs, inner, d->query->select_stmt));
  std::string name = d->portalname;
  p->run = [inner, name, hold](Executor& e, EvalState& st) -> Result<ExecResult> {
    if (e.status_ != TxnStatus::kInBlock && !hold) {
      return Status::Sql("25P01", "DECLARE CURSOR can only be used in transaction blocks");
    }
    if (e.cursors_.count(name)) {
      return Status::Sql("42P03", fmt::format("cursor \"{}\" already exists", name));
    }
    WALREP_ASSIGN_OR_RETURN(RowIterPtr it, inner->source(st));
    // The cursor keeps the DECLARE statement's state (its parameters) and the plan.
    e.cursors_[name] = Executor::Cursor{
        inner->cols, std::make_shared<OwningStream>(
                         StreamOf(std::move(it)),
                         std::vector<std::shared_ptr<const void>>{st.owner.lock(), inner})};
    e.cursors_[name].hold = hold;
    return TagOnly("DECLARE CURSOR");
  };
  return p;
}

namespace {

// The text key of a row (equal rows of the same types have equal keys).
std::string RowKey(const Row& row, const FormatOptions& fo) {
  std::string key;
  for (const Value& v : row) {
    key += v.is_null() ? std::string("\x01N") : ToText(v, fo);
    key.push_back('\0');
  }
  return key;
}

// WITH RECURSIVE's iteration (PostgreSQL's RecursiveUnion): the non-recursive term's rows, then
// the recursive term run over the rows the previous round produced (its working table) until a
// round produces none. UNION (without ALL) drops rows already produced.
class RecursiveUnionIter : public RowIter {
 public:
  RecursiveUnionIter(EvalState& st, PlanPtr plan, RowIterPtr base, RowSourceFn recursive,
                     std::shared_ptr<std::vector<Row>> work, bool all)
      : RowIter(std::move(plan)),
        st_(st),
        current_(std::move(base)),
        recursive_(std::move(recursive)),
        work_(std::move(work)),
        all_(all) {}

 protected:
  Result<bool> Pull(Row* row) override {
    while (true) {
      WALREP_ASSIGN_OR_RETURN(bool more, current_->Next(row));
      if (more) {
        if (!all_ && !seen_.insert(RowKey(*row, st_.fmt)).second) continue;
        next_.push_back(*row);
        return true;
      }
      if (next_.empty()) return false;
      WALREP_RETURN_IF_ERROR(st_.ctx->CheckInterrupts());
      *work_ = std::move(next_);
      next_.clear();
      WALREP_ASSIGN_OR_RETURN(current_, recursive_(st_));
    }
  }

 private:
  EvalState& st_;
  RowIterPtr current_;
  RowSourceFn recursive_;
  std::shared_ptr<std::vector<Row>> work_;
  bool all_;
  std::vector<Row> next_;
  std::unordered_set<std::string> seen_;
};

Status PrepareWith(Executor& ex, CompileState& cs, const PgQuery__WithClause* with) {
  for (size_t i = 0; i < with->n_ctes; i++) {
    const auto* cte = with->ctes[i]->common_table_expr;
    if (!cte->ctequery || cte->ctequery->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) {
      return Status::NotSupported("data-modifying statements in WITH are not supported");
    }
    const PgQuery__SelectStmt* q = cte->ctequery->select_stmt;
    auto def = std::make_shared<CteDef>();
    def->name = cte->ctename;
    def->outer = cs.ctes;
    auto rename = [&](std::vector<ViewColumn>* cols) -> Status {
      if (cte->n_aliascolnames > cols->size()) {
        return Status::Sql("42P10", fmt::format("WITH query \"{}\" has {} columns available but {} "
                                                "columns specified",
                                                def->name, cols->size(), cte->n_aliascolnames));
      }
      for (size_t k = 0; k < cte->n_aliascolnames; k++) {
        (*cols)[k].name = StringNodeValue(cte->aliascolnames[k]);
      }
      return Status::OK();
    };
    auto columns_of = [](const Prepared& p) {
      std::vector<ViewColumn> cols;
      for (const auto& c : p.cols) cols.push_back(ViewColumn{c.name, c.type});
      return cols;
    };
    bool recursive = with->recursive && q->op == PG_QUERY__SET_OPERATION__SETOP_UNION;
    if (!recursive) {
      WALREP_ASSIGN_OR_RETURN(auto plan, PrepareSubSelect(ex, cs, q));
      def->columns = columns_of(*plan);
      WALREP_RETURN_IF_ERROR(rename(&def->columns));
      def->source = [plan](EvalState& st) { return plan->source(st); };
      cs.ctes = def;
      continue;
    }
    // The non-recursive term gives the columns; the recursive term reads the working table.
    WALREP_ASSIGN_OR_RETURN(auto base, PrepareSubSelect(ex, cs, q->larg));
    std::vector<ViewColumn> cols = columns_of(*base);
    WALREP_RETURN_IF_ERROR(rename(&cols));
    auto work = std::make_shared<std::vector<Row>>();
    auto self = std::make_shared<CteDef>(*def);
    self->columns = cols;
    PlanPtr scan = MakePlan(fmt::format("WorkTable Scan on {}", def->name));
    self->source = [work, scan](EvalState&) -> Result<RowIterPtr> {
      return VectorIter(scan, *work);
    };
    CompileState inner = cs;
    inner.ctes = self;
    WALREP_ASSIGN_OR_RETURN(auto rec, PrepareSubSelect(ex, inner, q->rarg));
    if (rec->cols.size() != cols.size()) {
      return Status::Sql("42601", "each UNION query must have the same number of columns");
    }
    for (size_t k = 0; k < cols.size(); k++) {
      if (rec->cols[k].type != cols[k].type &&
          CommonTypeOf(rec->cols[k].type, cols[k].type) != cols[k].type) {
        return Status::Sql("42804", fmt::format("recursive query \"{}\" column {} has type {} in "
                                                "non-recursive term but type {} overall",
                                                def->name, k + 1, TypeName(cols[k].type),
                                                TypeName(rec->cols[k].type)));
      }
    }
    bool all = q->all;
    PlanPtr plan = MakePlan("Recursive Union", {base->plan, rec->plan});
    def->columns = cols;
    def->source = [base, rec, work, all, plan](EvalState& st) -> Result<RowIterPtr> {
      WALREP_ASSIGN_OR_RETURN(RowIterPtr first, base->source(st));
      RowSourceFn next = [rec](EvalState& s) { return rec->source(s); };
      return RowIterPtr(
          std::make_unique<RecursiveUnionIter>(st, plan, std::move(first), next, work, all));
    };
    cs.ctes = def;
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<Prepared>> PrepareSubSelect(Executor& ex, CompileState& cs,
                                                   const PgQuery__SelectStmt* s) {
  auto sub = std::make_shared<Prepared>();
  CompileState own = cs;  // the query's FROM and aggregates must not leak into the caller's
  return ExecAccess::PrepareSelect(ex, own, sub, s);
}

Result<std::shared_ptr<Prepared>> ExecAccess::PrepareSelect(Executor& ex, CompileState& cs,
                                                            std::shared_ptr<Prepared> p,
                                                            const PgQuery__SelectStmt* s) {
  if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE) return PrepareSetOp(ex, cs, p, s);
  if (s->n_values_lists > 0) return Status::NotSupported("VALUES lists are not supported");
  if (s->into_clause) return Status::NotSupported("SELECT INTO is not supported");
  if (s->n_locking_clause) return Status::NotSupported("SELECT FOR UPDATE/SHARE is not supported");
  if (s->with_clause) WALREP_RETURN_IF_ERROR(PrepareWith(ex, cs, s->with_clause));
  cs.windows = nullptr;  // not in FROM (set for the select list below)
  WALREP_ASSIGN_OR_RETURN(FromPlan from, PrepareFrom(ex, cs, s, p.get()));
  std::shared_ptr<Scope> scope = from.scope;
  cs.scope = scope.get();
  auto aggs = std::make_shared<std::vector<AggSpec>>();
  cs.aggs = aggs.get();
  auto windows = std::make_shared<std::vector<WindowSpec>>();
  cs.windows = windows.get();
  auto srfs = std::make_shared<std::vector<TableFunctionSource>>();
  cs.srfs = srfs.get();
  std::vector<ExprPtr> targets;
  for (size_t i = 0; i < s->n_target_list; i++) {
    const auto* rt = s->target_list[i]->res_target;
    const PgQuery__Node* v = rt->val;
    if (v && v->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
        v->column_ref->fields[v->column_ref->n_fields - 1]->node_case ==
            PG_QUERY__NODE__NODE_A_STAR) {
      const auto* cr = v->column_ref;
      if (!from.rows) {
        return Status::Sql("42601", "SELECT * with no tables specified is not valid")
            .WithPosition(cr->location + 1);
      }
      // `*` lists the FROM clause's columns; `t.*` every column of t.
      std::string rel = cr->n_fields == 2 ? StringNodeValue(cr->fields[0]) : "";
      if (!rel.empty() &&
          std::find(scope->rels.begin(), scope->rels.end(), rel) == scope->rels.end()) {
        return Status::Sql("42P01", fmt::format("missing FROM-clause entry for table \"{}\"", rel))
            .WithPosition(cr->location + 1);
      }
      for (size_t c = 0; c < scope->columns.size(); c++) {
        const ScopeColumn& col = scope->columns[c];
        if (rel.empty() ? !col.star : col.rel != rel) continue;
        targets.push_back(
            MakeExpr(col.type, [c](EvalState& st) -> Result<Value> { return (*st.row)[c]; }));
        p->cols.push_back(ColumnDesc{col.name, col.type});
      }
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, v));
    if (e->type == oid::kUnknown) {
      WALREP_ASSIGN_OR_RETURN(e, Coerce(cs, e, oid::kText, false));
    }
    targets.push_back(e);
    std::string name = rt->name && *rt->name ? rt->name : FigureColname(v);
    p->cols.push_back(ColumnDesc{name, e->type});
  }
  cs.windows = nullptr;  // only the select list has window functions
  cs.srfs = nullptr;     // and set-returning functions
  ExprPtr where;
  if (s->where_clause) {
    cs.aggs = nullptr;  // aggregates are not allowed in WHERE
    auto w = CompileExpr(cs, s->where_clause);
    cs.aggs = aggs.get();
    if (!w.ok()) {
      Status st = w.TakeStatus();
      if (st.sqlstate() == "42803") {
        return Status::Sql("42803", "aggregate functions are not allowed in WHERE")
            .WithPosition(st.position());
      }
      return st;
    }
    where = *w;
    auto b = Coerce(cs, where, oid::kBool, false);
    if (!b.ok()) {
      return Status::Sql("42804", fmt::format("argument of WHERE must be type boolean, not type {}",
                                              TypeName(where->type)));
    }
    where = *b;
  }
  // ORDER BY: an output column name, a position, or an expression over the input.
  struct SortKey {
    int target = -1;
    ExprPtr expr;
    bool desc = false;
    bool nulls_first = false;
  };
  std::vector<SortKey> sorts;
  for (size_t i = 0; i < s->n_sort_clause; i++) {
    const auto* sb = s->sort_clause[i]->sort_by;
    SortKey k;
    SortDirection(sb, &k.desc, &k.nulls_first);
    const PgQuery__Node* n = sb->node;
    WALREP_ASSIGN_OR_RETURN(k.target, OutputColumnOf(n, p->cols));
    if (k.target < 0) {
      WALREP_ASSIGN_OR_RETURN(k.expr, CompileExpr(cs, n));
    }
    sorts.push_back(k);
  }
  ExprPtr limit, offset;
  WALREP_RETURN_IF_ERROR(CompileLimitOffset(cs, s, &limit, &offset));
  // GROUP BY: expressions, select-list positions or output names.
  std::vector<ExprPtr> group_by;
  for (size_t i = 0; i < s->n_group_clause; i++) {
    const PgQuery__Node* g = s->group_clause[i];
    if (g->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        g->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
      int pos = g->a_const->ival ? g->a_const->ival->ival : 0;
      if (pos < 1 || pos > static_cast<int>(s->n_target_list)) {
        return Status::Sql("42P10", fmt::format("GROUP BY position {} is not in select list", pos));
      }
      g = s->target_list[pos - 1]->res_target->val;
    } else if (g->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && g->column_ref->n_fields == 1) {
      std::string nm = StringNodeValue(g->column_ref->fields[0]);
      bool is_input = false;
      for (const auto& c : scope->columns) is_input |= c.name == nm;
      for (size_t t = 0; t < s->n_target_list && !is_input; t++) {
        const auto* rt = s->target_list[t]->res_target;
        if (rt->name && nm == rt->name) g = rt->val;
      }
    }
    cs.aggs = nullptr;
    auto e = CompileExpr(cs, g);
    cs.aggs = aggs.get();
    if (!e.ok()) return e.TakeStatus();
    group_by.push_back(*e);
  }
  ExprPtr having;
  if (s->having_clause) {
    WALREP_ASSIGN_OR_RETURN(having, CompileExpr(cs, s->having_clause));
    WALREP_ASSIGN_OR_RETURN(having, Coerce(cs, having, oid::kBool, false));
  }
  bool grouping = !group_by.empty() || !aggs->empty();
  if (grouping && !windows->empty()) {
    return Status::NotSupported("window functions with GROUP BY or aggregates are not supported");
  }
  if (!srfs->empty() && (grouping || !windows->empty())) {
    return Status::NotSupported(
        "set-returning functions in a select list with GROUP BY, aggregates or window functions "
        "are not supported");
  }
  bool distinct = s->n_distinct_clause > 0;
  if (distinct && s->distinct_clause[0] &&
      s->distinct_clause[0]->node_case != PG_QUERY__NODE__NODE__NOT_SET) {
    return Status::NotSupported("SELECT DISTINCT ON is not supported");
  }
  // The plan as EXPLAIN shows it: the steps run bottom-up in this order.
  p->plan = from.plan ? from.plan : MakePlan("Result");
  PlanPtr project_set_plan;
  if (!srfs->empty()) p->plan = project_set_plan = MakePlan("ProjectSet", {p->plan});
  PlanPtr agg_plan, sort_plan, distinct_plan, limit_plan;
  // Each window: its input sorted by partition and order keys, then the WindowAgg step.
  std::vector<PlanPtr> window_plans;
  for (size_t i = 0; i < windows->size(); i++) {
    p->plan = MakePlan("WindowAgg", {MakePlan("Sort", {p->plan})});
    window_plans.push_back(p->plan);
  }
  if (grouping) {
    p->plan = agg_plan = MakePlan(group_by.empty() ? "Aggregate" : "HashAggregate", {p->plan});
  }
  if (!sorts.empty()) p->plan = sort_plan = MakePlan("Sort", {p->plan});
  if (distinct) {
    p->plan = distinct_plan = MakePlan(sorts.empty() ? "HashAggregate" : "Unique", {p->plan});
  }
  if (limit || offset) p->plan = limit_plan = MakePlan("Limit", {p->plan});
  p->rows = true;
  // Each output row carries its sort keys after the select list until the sort has run.
  const size_t ncols = targets.size();
  std::vector<ExprPtr> outputs = targets;
  std::vector<SortColumn> sort_cols;
  for (size_t i = 0; i < sorts.size(); i++) {
    const SortKey& k = sorts[i];
    size_t at = k.expr ? outputs.size() : static_cast<size_t>(k.target);
    if (k.expr) outputs.push_back(k.expr);
    sort_cols.push_back(SortColumn{at, k.desc, k.nulls_first});
  }
  if (distinct && !sorts.empty()) {
    // DISTINCT after ORDER BY: equal rows must be adjacent, so every output column also sorts.
    for (size_t i = 0; i < ncols; i++) sort_cols.push_back(SortColumn{i, false, false});
  }
  std::vector<int32_t> in_types;
  for (const auto& c : scope->columns) in_types.push_back(c.type);
  std::vector<int32_t> out_types;
  for (const auto& t : targets) out_types.push_back(t->type);
  auto aggs_c = std::shared_ptr<const std::vector<AggSpec>>(aggs);
  auto windows_c = std::shared_ptr<const std::vector<WindowSpec>>(windows);
  auto srfs_c = std::shared_ptr<const std::vector<TableFunctionSource>>(srfs);
  RowSourceFn source =
      [rows = from.rows, where, grouping, group_by, aggs_c, in_types, outputs, windows_c, srfs_c,
       project_set_plan, window_plans, having, sort_cols, ncols, distinct, out_types, limit, offset,
       plans = std::vector<PlanPtr>{agg_plan, sort_plan, distinct_plan, limit_plan}](
          EvalState& st) -> Result<RowIterPtr> {
    int64_t off, lim;
    WALREP_RETURN_IF_ERROR(EvalLimitOffset(st, limit, offset, &off, &lim));
    RowIterPtr it;
    if (rows) {
      WALREP_ASSIGN_OR_RETURN(it, rows(st));
    } else {
      it = VectorIter(nullptr, {Row()});
    }
    if (where) it = FilterIter(st, std::move(it), where);
    if (project_set_plan) it = ProjectSetIter(st, project_set_plan, std::move(it), srfs_c);
    // Window functions: the row with its keys appended, sorted, then the function's value
    // appended in place of the keys.
    for (size_t w = 0; w < windows_c->size(); w++) {
      const WindowSpec& spec = (*windows_c)[w];
      size_t width = in_types.size() + w;
      std::vector<ExprPtr> with_keys;
      for (size_t i = 0; i < width; i++) {
        with_keys.push_back(
            MakeExpr(oid::kUnknown, [i](EvalState& s) -> Result<Value> { return (*s.row)[i]; }));
      }
      std::vector<SortColumn> keys;
      for (const auto& e : spec.partition) {
        keys.push_back(SortColumn{with_keys.size(), false, false});
        with_keys.push_back(e);
      }
      for (const auto& k : spec.order) {
        keys.push_back(SortColumn{with_keys.size(), k.desc, k.nulls_first});
        with_keys.push_back(k.expr);
      }
      if (spec.value) {
        with_keys.push_back(spec.value);
        with_keys.push_back(spec.fallback);
      }
      it = ProjectIter(st, std::move(it), std::move(with_keys), -1, nullptr);
      const PlanPtr& wp = window_plans[w];
      it = SortIter(st, wp->children[0], std::move(it), std::move(keys), -1);
      it = WindowIter(st, wp, std::move(it), spec, width);
    }
    if (grouping) {
      it = HashAggIter(st, plans[0], std::move(it), group_by, aggs_c, in_types);
      it = ProjectIter(st, std::move(it), outputs, static_cast<int>(in_types.size()), having);
    } else {
      it = ProjectIter(st, std::move(it), outputs, -1, nullptr);
    }
    if (plans[1]) {
      // ORDER BY ... LIMIT keeps only the first offset + limit rows (a top-N heap).
      int64_t bound = lim >= 0 && !distinct ? off + lim : -1;
      it = SortIter(st, plans[1], std::move(it), sort_cols, bound);
    }
    if (outputs.size() > ncols) it = TruncateIter(std::move(it), ncols);
    if (distinct) {
      if (plans[1]) {
        it = UniqueIter(plans[2], std::move(it), ncols);
      } else {
        std::vector<ExprPtr> cols;
        for (size_t i = 0; i < ncols; i++) {
          cols.push_back(
              MakeExpr(out_types[i], [i](EvalState& st) -> Result<Value> { return (*st.row)[i]; }));
        }
        it = HashAggIter(st, plans[2], std::move(it), std::move(cols),
                         std::make_shared<const std::vector<AggSpec>>(), out_types);
      }
    }
    if (plans[3]) it = LimitIter(plans[3], std::move(it), off, lim);
    return it;
  };
  p->source = source;
  auto cols = p->cols;
  p->run = RunRows(source, cols);
  return p;
}

Result<std::shared_ptr<Prepared>> ExecAccess::PrepareUtility(Executor& ex,
                                                             std::shared_ptr<Prepared> p,
                                                             const PgQuery__Node* node) {
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_PREPARE_STMT: {
      // PREPARE name [(types)] AS statement: analysed now, kept by name when it runs.
      const auto* ps = node->prepare_stmt;
      auto inner = std::make_shared<ParsedStatement>(*p->stmt);
      auto* raw = static_cast<PgQuery__RawStmt*>(inner->tree->Allocate(sizeof(PgQuery__RawStmt)));
      *raw = PG_QUERY__RAW_STMT__INIT;
      raw->stmt = ps->query;
      inner->raw = raw;
      std::vector<int32_t> types;
      CompileState cs{ex.registry_, ex.ctx_, &ex, nullptr, nullptr,
                      nullptr,      {},      {},  nullptr, nullptr};
      for (size_t i = 0; i < ps->n_argtypes; i++) {
        WALREP_ASSIGN_OR_RETURN(int32_t t, TypeNameOid(cs, ps->argtypes[i]->type_name));
        types.push_back(t);
      }
      WALREP_ASSIGN_OR_RETURN(auto prepared, ex.Prepare(inner, types));
      std::string name = ps->name;
      p->run = [name, prepared](Executor& e, EvalState&) -> Result<ExecResult> {
        if (e.named_.count(name)) {
          return Status::Sql("42P05",
                             fmt::format("prepared statement \"{}\" already exists", name));
        }
        e.named_[name] = prepared;
        return TagOnly("PREPARE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_EXECUTE_STMT: {
      // EXECUTE name [(values)]: the prepared statement with these parameters.
      const auto* es = node->execute_stmt;
      auto it = ex.named_.find(es->name);
      if (it == ex.named_.end()) {
        return Status::Sql("26000",
                           fmt::format("prepared statement \"{}\" does not exist", es->name));
      }
      auto target = it->second;
      const auto& want = target->param_types();
      if (es->n_params != want.size()) {
        return Status::Sql("42601", fmt::format("wrong number of parameters for prepared statement "
                                                "\"{}\"",
                                                es->name))
            .WithDetail(
                fmt::format("Expected {} parameters but got {}.", want.size(), es->n_params));
      }
      CompileState cs{ex.registry_, ex.ctx_, &ex, nullptr, p->params.get(),
                      nullptr,      {},      {},  nullptr, nullptr};
      std::vector<ExprPtr> args;
      for (size_t i = 0; i < es->n_params; i++) {
        WALREP_ASSIGN_OR_RETURN(ExprPtr a, CompileExpr(cs, es->params[i]));
        WALREP_ASSIGN_OR_RETURN(a, Coerce(cs, a, want[i], false));
        args.push_back(a);
      }
      p->cols = target->columns();
      p->rows = target->returns_rows();
      p->run = [target, args](Executor& e, EvalState& st) -> Result<ExecResult> {
        std::vector<Value> values;
        for (const auto& a : args) {
          WALREP_ASSIGN_OR_RETURN(Value v, a->eval(st));
          values.push_back(std::move(v));
        }
        return e.Execute(*target, values);
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT: {
      const auto* ds = node->deallocate_stmt;
      std::string name = ds->name ? ds->name : "";
      p->run = [name](Executor& e, EvalState&) -> Result<ExecResult> {
        if (name.empty()) {
          e.named_.clear();
          return TagOnly("DEALLOCATE ALL");
        }
        if (!e.named_.erase(name)) {
          return Status::Sql("26000",
                             fmt::format("prepared statement \"{}\" does not exist", name));
        }
        return TagOnly("DEALLOCATE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT: {
      const auto* v = node->variable_set_stmt;
      std::string name = v->name ? CanonicalSetName(v->name) : "";
      auto kind = v->kind;
      bool local = v->is_local;
      if (kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI) {
        // SET TRANSACTION ... / SET SESSION CHARACTERISTICS AS TRANSACTION ...
        std::vector<std::pair<std::string, std::string>> assigns;
        for (size_t i = 0; i < v->n_args; i++) {
          const auto* d = v->args[i]->def_elem;
          std::string opt = d->defname;
          std::string val;
          if (d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_A_CONST) {
            const auto* c = d->arg->a_const;
            if (c->val_case == PG_QUERY__A__CONST__VAL_SVAL) val = c->sval->sval;
            if (c->val_case == PG_QUERY__A__CONST__VAL_IVAL)
              val = c->ival && c->ival->ival ? "on" : "off";
          }
          bool session = name == "SESSION CHARACTERISTICS";
          if (opt == "transaction_isolation") {
            assigns.emplace_back(
                session ? "default_transaction_isolation" : "transaction_isolation", val);
          } else if (opt == "transaction_read_only") {
            assigns.emplace_back(
                session ? "default_transaction_read_only" : "transaction_read_only", val);
          } else {
            return Status::NotSupported(
                fmt::format("transaction option \"{}\" is not supported", opt));
          }
        }
        p->run = [assigns](Executor& e, EvalState& st) -> Result<ExecResult> {
          for (const auto& [n, val] : assigns) {
            bool txn_level = n == "transaction_isolation" || n == "transaction_read_only";
            WALREP_RETURN_IF_ERROR(st.ctx->settings().Set(n, val, txn_level, e.in_transaction()));
            if (n == "transaction_isolation" && e.in_transaction()) {
              e.txn().repeatable_read = val == "repeatable read" || val == "serializable";
            }
          }
          return TagOnly("SET");
        };
        return p;
      }
      if (kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) {
        p->run = [](Executor&, EvalState& st) -> Result<ExecResult> {
          st.ctx->settings().ResetAll();
          return TagOnly("RESET");
        };
        return p;
      }
      if (kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
          kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT) {
        bool is_reset = kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET;
        p->run = [name, is_reset](Executor&, EvalState& st) -> Result<ExecResult> {
          WALREP_RETURN_IF_ERROR(st.ctx->settings().Reset(name));
          return TagOnly(is_reset ? "RESET" : "SET");
        };
        return p;
      }
      if (kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_CURRENT) {
        return Status::NotSupported("SET ... FROM CURRENT is not supported");
      }
      WALREP_ASSIGN_OR_RETURN(std::string value, SetArgsToString(v->args, v->n_args));
      if (ToLower(name) == "timezone" && v->n_args == 1 &&
          v->args[0]->node_case == PG_QUERY__NODE__NODE_A_CONST &&
          v->args[0]->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
        int h = v->args[0]->a_const->ival ? v->args[0]->a_const->ival->ival : 0;
        value = fmt::format("{}{:02}:00", h < 0 ? '-' : '+', h < 0 ? -h : h);
      }
      p->run = [name, value, local](Executor& e, EvalState& st) -> Result<ExecResult> {
        if (local && e.txn_status() != TxnStatus::kInBlock) {
          st.ctx->AddNotice("WARNING", "25P01", "SET LOCAL can only be used in transaction blocks");
        }
        WALREP_RETURN_IF_ERROR(
            st.ctx->settings().Set(name, value, local, e.txn_status() == TxnStatus::kInBlock));
        return TagOnly("SET");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
      return PrepareDeclareCursor(ex, p, node->declare_cursor_stmt);
    case PG_QUERY__NODE__NODE_FETCH_STMT: {
      // FETCH [FORWARD] [n | ALL] / MOVE: the next rows of a cursor, pulled from its plan.
      const auto* f = node->fetch_stmt;
      std::string name = f->portalname;
      if (f->direction != PG_QUERY__FETCH_DIRECTION__FETCH_FORWARD ||
          (f->how_many == 0 && !f->ismove)) {
        return Status::Sql("55000", "cursor can only scan forward")
            .WithHint("Declare it with SCROLL option to enable backward scan.");
      }
      auto it = ex.cursors_.find(name);
      if (it == ex.cursors_.end()) {
        return Status::Sql("34000", fmt::format("cursor \"{}\" does not exist", name));
      }
      bool move = f->ismove;
      int64_t count = f->how_many;
      if (!move) {
        p->rows = true;
        p->cols = it->second.columns;
      }
      p->run = [name, move, count](Executor& e, EvalState&) -> Result<ExecResult> {
        auto it = e.cursors_.find(name);
        if (it == e.cursors_.end()) {
          return Status::Sql("34000", fmt::format("cursor \"{}\" does not exist", name));
        }
        Executor::Cursor& c = it->second;
        std::vector<Row> rows;
        int64_t n = 0;
        Row row;
        while (!c.done && n < count) {
          WALREP_ASSIGN_OR_RETURN(bool more, c.rows->Next(&row));
          if (!more) {
            c.done = true;
            break;
          }
          n++;
          if (!move) rows.push_back(std::move(row));
        }
        ExecResult r;
        if (move) {
          r.tag = fmt::format("MOVE {}", n);
          return r;
        }
        r.returns_rows = true;
        r.columns = c.columns;
        r.rows = StreamOf(VectorIter(nullptr, std::move(rows)));
        r.tag = "FETCH";
        return r;
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT: {
      std::string name =
          node->close_portal_stmt->portalname ? node->close_portal_stmt->portalname : "";
      p->run = [name](Executor& e, EvalState&) -> Result<ExecResult> {
        if (name.empty()) {
          e.cursors_.clear();  // CLOSE ALL
        } else if (!e.cursors_.erase(name)) {
          return Status::Sql("34000", fmt::format("cursor \"{}\" does not exist", name));
        }
        return TagOnly("CLOSE CURSOR");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT: {
      std::string name = CanonicalSetName(node->variable_show_stmt->name);
      p->rows = true;
      if (ToLower(name) == "all") {
        p->cols = {ColumnDesc{"name"}, ColumnDesc{"setting"}, ColumnDesc{"description"}};
        auto cols = p->cols;
        p->run = [cols](Executor&, EvalState& st) -> Result<ExecResult> {
          ExecResult r;
          r.returns_rows = true;
          r.columns = cols;
          std::vector<const GucDef*> defs;
          for (const auto& d : GucTable()) defs.push_back(&d);
          std::sort(defs.begin(), defs.end(), [](const GucDef* a, const GucDef* b) {
            return ToLower(a->name) < ToLower(b->name);
          });
          std::vector<Row> rows;
          for (const GucDef* d : defs) {
            if (!st.ctx->settings().CanSee(*d)) continue;
            rows.push_back({Value::Text(oid::kText, d->name),
                            Value::Text(oid::kText, st.ctx->settings().Show(d->name).value()),
                            Value::Text(oid::kText, d->description)});
          }
          r.rows = StreamOf(VectorIter(nullptr, std::move(rows)));
          r.tag = fmt::format("SHOW");
          return r;
        };
        return p;
      }
      WALREP_ASSIGN_OR_RETURN(std::string canon, SessionSettings::CanonicalName(name));
      p->cols = {ColumnDesc{canon}};
      auto cols = p->cols;
      p->run = [canon, cols](Executor&, EvalState& st) -> Result<ExecResult> {
        ExecResult r;
        r.returns_rows = true;
        r.columns = cols;
        WALREP_ASSIGN_OR_RETURN(std::string v, st.ctx->settings().Show(canon));
        r.rows = StreamOf(VectorIter(nullptr, {{Value::Text(oid::kText, v)}}));
        r.tag = "SHOW";
        return r;
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT: {
      const auto* v = node->alter_system_stmt->setstmt;
      std::string name = v->name ? CanonicalSetName(v->name) : "";
      std::optional<std::string> value;
      bool reset_all = v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL;
      if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE) {
        WALREP_ASSIGN_OR_RETURN(std::string s, SetArgsToString(v->args, v->n_args));
        value = s;
      }
      p->run = [name, value, reset_all](Executor& e, EvalState& st) -> Result<ExecResult> {
        if (!st.ctx->is_superuser()) {
          return Status::Sql("42501", "must be superuser to execute ALTER SYSTEM command");
        }
        if (e.txn_status() == TxnStatus::kInBlock) {
          return Status::Sql("25001", "ALTER SYSTEM cannot run inside a transaction block");
        }
        if (reset_all) {
          WALREP_RETURN_IF_ERROR(st.ctx->AlterSystem("", std::nullopt));
          return TagOnly("ALTER SYSTEM");
        }
        WALREP_ASSIGN_OR_RETURN(std::string canon, SessionSettings::CanonicalName(name));
        std::optional<std::string> stored;
        if (const GucDef* def = FindGuc(canon)) {
          if (def->context == GucContext::kInternal) {
            return Status::Sql("55P02", fmt::format("parameter \"{}\" cannot be changed", canon));
          }
          if (value) {
            // Validate now; the file keeps what the user wrote, as PostgreSQL does.
            WALREP_ASSIGN_OR_RETURN(std::string ok, ParseGucValue(*def, *value));
            (void)ok;
          }
        }
        WALREP_RETURN_IF_ERROR(st.ctx->AlterSystem(canon, value));
        return TagOnly("ALTER SYSTEM");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT: {
      const auto* c = node->create_role_stmt;
      std::string name = c->role;
      WALREP_ASSIGN_OR_RETURN(RoleOptions opts, ParseRoleOptions(c->options, c->n_options));
      if (!opts.login && c->stmt_type == PG_QUERY__ROLE_STMT_TYPE__ROLESTMT_USER) opts.login = true;
      std::string tag = c->stmt_type == PG_QUERY__ROLE_STMT_TYPE__ROLESTMT_USER    ? "CREATE ROLE"
                        : c->stmt_type == PG_QUERY__ROLE_STMT_TYPE__ROLESTMT_GROUP ? "CREATE ROLE"
                                                                                   : "CREATE ROLE";
      p->run = [name, opts, tag](Executor& e, EvalState& st) -> Result<ExecResult> {
        WALREP_RETURN_IF_ERROR(st.ctx->roles().CreateRole(
            e.txn(), name, opts,
            st.ctx->settings().Get("password_encryption").value_or("scram-sha-256")));
        return TagOnly(tag);
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT: {
      const auto* a = node->alter_role_stmt;
      auto spec = a->role;
      WALREP_ASSIGN_OR_RETURN(RoleOptions opts, ParseRoleOptions(a->options, a->n_options));
      p->run = [spec, opts](Executor& e, EvalState& st) -> Result<ExecResult> {
        std::string name = spec->roletype == PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_CSTRING
                               ? spec->rolename
                               : st.ctx->current_user();
        WALREP_RETURN_IF_ERROR(st.ctx->roles().AlterRole(
            e.txn(), name, opts,
            st.ctx->settings().Get("password_encryption").value_or("scram-sha-256")));
        return TagOnly("ALTER ROLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT: {
      // ALTER ROLE name SET setting = value / RESET setting / RESET ALL: session defaults
      // applied when the role logs in (below what the client's startup packet sets).
      const auto* a = node->alter_role_set_stmt;
      if (a->database && *a->database) {
        return Status::NotSupported("ALTER ROLE ... IN DATABASE is not supported");
      }
      if (!a->role || a->role->roletype == PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_PUBLIC) {
        return Status::NotSupported("ALTER ROLE ALL ... SET is not supported");
      }
      auto spec = a->role;
      const auto* v = a->setstmt;
      std::optional<std::string> value;
      std::string name;
      if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE) {
        WALREP_ASSIGN_OR_RETURN(name, SessionSettings::CanonicalName(CanonicalSetName(v->name)));
        WALREP_ASSIGN_OR_RETURN(std::string raw, SetArgsToString(v->args, v->n_args));
        value = raw;
        if (const GucDef* d = FindGuc(name)) {
          WALREP_ASSIGN_OR_RETURN(value, ParseGucValue(*d, raw));
          if (d->context == GucContext::kPostmaster || d->context == GucContext::kSighup ||
              d->context == GucContext::kInternal) {
            return Status::Sql("55P02", fmt::format("parameter \"{}\" cannot be set after "
                                                    "connection start",
                                                    name));
          }
        }
      } else if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET) {
        WALREP_ASSIGN_OR_RETURN(name, SessionSettings::CanonicalName(CanonicalSetName(v->name)));
      } else if (v->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) {
        return Status::NotSupported("this form of ALTER ROLE ... SET is not supported");
      }
      p->run = [spec, name, value](Executor& e, EvalState& st) -> Result<ExecResult> {
        std::string role = spec->roletype == PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_CSTRING
                               ? spec->rolename
                               : st.ctx->current_user();
        if (!st.ctx->is_superuser() && role != st.ctx->current_user()) {
          return Status::Sql("42501", "permission denied to set parameter for role");
        }
        WALREP_RETURN_IF_ERROR(st.ctx->roles().SetRoleSetting(e.txn(), role, name, value));
        return TagOnly("ALTER ROLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT: {
      const auto* d = node->drop_role_stmt;
      std::vector<std::string> names;
      for (size_t i = 0; i < d->n_roles; i++) names.push_back(d->roles[i]->role_spec->rolename);
      bool missing_ok = d->missing_ok;
      p->run = [names, missing_ok](Executor& e, EvalState& st) -> Result<ExecResult> {
        for (const auto& n : names) {
          WALREP_ASSIGN_OR_RETURN(auto role, st.ctx->roles().Find(e.txn(), n));
          if (!role) {
            if (missing_ok) {
              st.ctx->AddNotice("NOTICE", "00000",
                                fmt::format("role \"{}\" does not exist, skipping", n));
              continue;
            }
            return Status::Sql("42704", fmt::format("role \"{}\" does not exist", n));
          }
          if (n == st.ctx->current_user()) {
            return Status::Sql("55006", "current user cannot be dropped");
          }
          if (n == st.ctx->session_user()) {
            return Status::Sql("55006", "session user cannot be dropped");
          }
          WALREP_RETURN_IF_ERROR(st.ctx->roles().DropRole(e.txn(), n));
        }
        return TagOnly("DROP ROLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: {
      const auto* t = node->transaction_stmt;
      auto kind = t->kind;
      p->is_transaction_control = true;
      p->allowed_in_failed = kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT ||
                             kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK ||
                             kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO;
      std::string savepoint = t->savepoint_name ? t->savepoint_name : "";
      if (kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE ||
          kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED ||
          kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED) {
        return Status::NotSupported("prepared transactions are not supported");
      }
      (void)ex;
      // BEGIN / START TRANSACTION ISOLATION LEVEL ...
      std::optional<bool> repeatable_read;
      for (size_t i = 0; i < t->n_options; i++) {
        const auto* d = t->options[i]->def_elem;
        if (std::string(d->defname) == "transaction_isolation" && d->arg &&
            d->arg->node_case == PG_QUERY__NODE__NODE_A_CONST &&
            d->arg->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL) {
          std::string level = d->arg->a_const->sval->sval;
          repeatable_read = level == "repeatable read" || level == "serializable";
        }
      }
      p->run = [kind, savepoint, repeatable_read](Executor& e, EvalState&) -> Result<ExecResult> {
        WALREP_ASSIGN_OR_RETURN(ExecResult r, e.RunTransactionStmt(kind, savepoint));
        if (repeatable_read && e.in_transaction()) e.txn().repeatable_read = *repeatable_read;
        return r;
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_CHECK_POINT_STMT: {
      p->run = [](Executor&, EvalState& st) -> Result<ExecResult> {
        if (!st.ctx->is_superuser()) {
          return Status::Sql("42501", "must be superuser to do CHECKPOINT");
        }
        WALREP_RETURN_IF_ERROR(st.ctx->RequestCheckpoint());
        return TagOnly("CHECKPOINT");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_DISCARD_STMT: {
      p->run = [](Executor& e, EvalState& st) -> Result<ExecResult> {
        if (e.txn_status() == TxnStatus::kInBlock) {
          return Status::Sql("25001", "DISCARD ALL cannot run inside a transaction block");
        }
        st.ctx->settings().ResetAll();
        return TagOnly("DISCARD ALL");
      };
      return p;
    }
    default: {
      CompileState cs{ex.registry_, ex.ctx_, &ex, nullptr, p->params.get(),
                      nullptr,      {},      {},  nullptr, nullptr};
      WALREP_ASSIGN_OR_RETURN(auto prepared, PrepareTableStatement(ex, cs, p, node));
      if (prepared) return prepared;
      return Unsupported(node);
    }
  }
}

Executor::Executor(const Registry* registry, SessionContext* ctx, Database* db)
    : registry_(registry),
      ctx_(ctx),
      db_(db),
      lock_owner_(ctx->backend_pid()),
      resources_(std::make_unique<ExecResources>(ctx)),
      reg_resolver_(MakeCatalogResolver(this, ctx)) {
  lock_owner_.report_wait = [ctx](const char* type, const char* event) {
    ctx->SetWaitEvent(type ? type : "", event ? event : "");
  };
}

Executor::~Executor() {
  if (in_txn_) AbortTransaction();
  // The thread's resolver goes with its executor (another executor's stays).
  RegResolver* current = SetRegResolver(nullptr);
  if (current != reg_resolver_.get()) SetRegResolver(current);
}

void Executor::BeginTransaction() {
  in_txn_ = true;
  first_statement_ = true;
  txn_start_ = NowTimestamp();
  ctx_->settings().BeginTransaction();
  tx_ = access::TxnContext();
  undo_.clear();
  if (db_) {
    std::string iso =
        ctx_->settings().Get("default_transaction_isolation").value_or("read committed");
    tx_.repeatable_read = iso == "repeatable read" || iso == "serializable";
    tx_.snapshot = db_->engine->txm().TakeSnapshot(ctx_->backend_pid());
    tx_.locks = &lock_owner_;
    tx_.deadlock_timeout_ms = ctx_->settings().GetInt("deadlock_timeout");
    // Temporary tables are a primary's (none exist during recovery).
    tx_.temp_owner = ctx_->in_recovery() ? 0 : ctx_->backend_pid();
    access::AssignXidsFrom(&tx_, &db_->engine->txm(), &db_->engine->locks());
    SessionContext* ctx = ctx_;
    tx_.check_interrupts = [ctx]() {
      Status st = ctx->CheckInterrupts();
      if (!st.ok()) return st;
      return Status::OK();
    };
  }
}

Status Executor::PreCommitTemporaryTables() {
  WALREP_ASSIGN_OR_RETURN(auto tables, db_->catalog->ListTables(tx_));
  for (auto it = on_commit_.begin(); it != on_commit_.end();) {
    const catalog::TableDef* t = nullptr;
    for (const auto& x : tables) {
      if (x.oid == it->first) t = &x;
    }
    if (!t) {  // dropped, or its creation rolled back
      it = on_commit_.erase(it);
      continue;
    }
    tx_.ensure_xid();
    if (it->second == OnCommit::kDrop) {
      WALREP_RETURN_IF_ERROR(DropOwnedSequences(*this, *t));
      WALREP_RETURN_IF_ERROR(db_->catalog->DropTable(tx_, *t));
      it = on_commit_.erase(it);
    } else {
      // DELETE ROWS: the table gets new empty files, as TRUNCATE.
      WALREP_RETURN_IF_ERROR(db_->catalog->NewRelationFile(tx_, *t).status());
      ++it;
    }
  }
  return Status::OK();
}

Status Executor::DropTemporaryTables() {
  if (!db_ || !temp_tables_ || ctx_->in_recovery()) return Status::OK();
  if (in_txn_) AbortTransaction();
  BeginTransaction();
  Status st = [&]() -> Status {
    WALREP_ASSIGN_OR_RETURN(auto tables, db_->catalog->ListTables(tx_));
    for (const auto& t : tables) {
      if (t.persistence != 't' || t.temp_owner != tx_.temp_owner) continue;
      tx_.ensure_xid();
      WALREP_RETURN_IF_ERROR(access::LockRelation(db_->engine->env(), tx_, catalog::kDatabaseOid,
                                                  t.oid, access::LockMode::kAccessExclusive));
      WALREP_RETURN_IF_ERROR(db_->catalog->DropTable(tx_, t));
    }
    return Status::OK();
  }();
  on_commit_.clear();
  if (!st.ok()) {
    AbortTransaction();
    return st;
  }
  return CommitTransaction();
}

Status Executor::EndCursors(bool commit) {
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    Cursor& c = it->second;
    if (!c.hold || (!commit && !c.held)) {  // closed with its transaction
      it = cursors_.erase(it);
      continue;
    }
    if (commit && !c.held) {
      // The rest of its rows, read now with the transaction's snapshot, into a tuplestore
      // (PostgreSQL's holdable portal).
      auto store = std::make_unique<Tuplestore>(resources_.get(), resources_->WorkMem());
      Row row;
      while (!c.done) {
        WALREP_ASSIGN_OR_RETURN(bool more, c.rows->Next(&row));
        if (!more) break;
        WALREP_RETURN_IF_ERROR(store->Append(std::move(row)));
      }
      c.rows = StreamOf(TuplestoreIter(std::move(store)));
      c.done = false;
      c.held = true;
    }
    ++it;
  }
  return Status::OK();
}

Status Executor::CommitTransaction() {
  // A cursor lives until its transaction ends, unless it is WITH HOLD.
  if (Status held = EndCursors(/*commit=*/true); !held.ok()) {
    AbortTransaction();
    return held;
  }
  Status st;
  if (db_ && !on_commit_.empty()) {
    st = PreCommitTemporaryTables();
    if (!st.ok()) {
      AbortTransaction();
      return st;
    }
  }
  if (db_) {
    std::string level = ctx_->settings().Get("synchronous_commit").value_or("on");
    bool flush = level != "off";
    tx_.apply_feedback = level == "remote_apply";
    SessionContext* ctx = ctx_;
    st = db_->engine->CommitTransaction(tx_, flush,
                                        [ctx](Lsn end) { return ctx->WaitForSyncRep(end); });
  }
  ctx_->settings().CommitTransaction();
  tx_ = access::TxnContext();
  in_txn_ = false;
  return st;
}

void Executor::AbortTransaction() {
  EndCursors(/*commit=*/false).IgnoreError();  // closing cannot fail
  if (db_) db_->engine->AbortTransaction(tx_);
  ctx_->settings().AbortTransaction();
  tx_ = access::TxnContext();
  in_txn_ = false;
}

const FormatOptions& Executor::format_options() const {
  const SessionSettings& s = ctx_->settings();
  if (format_version_ != s.version()) {
    format_cache_.timezone_offset =
        ParseTimeZoneOffset(s.Get("TimeZone").value_or("UTC")).value_or(0);
    format_cache_.extra_float_digits = static_cast<int>(s.GetInt("extra_float_digits"));
    format_version_ = s.version();
  }
  return format_cache_;
}

namespace {

// A hot standby runs only read-only statements: PostgreSQL's PreventCommandIfReadOnly and
// PreventCommandDuringRecovery, with their command names.
Status CheckReadOnly(const PgQuery__Node* node) {
  const char* name = nullptr;
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_INSERT_STMT:
      name = "INSERT";
      break;
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
      name = "UPDATE";
      break;
    case PG_QUERY__NODE__NODE_DELETE_STMT:
      name = "DELETE";
      break;
    case PG_QUERY__NODE__NODE_CREATE_STMT:
      name = "CREATE TABLE";
      break;
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
      name = "CREATE TABLE AS";
      break;
    case PG_QUERY__NODE__NODE_INDEX_STMT:
      name = "CREATE INDEX";
      break;
    case PG_QUERY__NODE__NODE_DROP_STMT:
      switch (node->drop_stmt->remove_type) {
        case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
          name = "DROP INDEX";
          break;
        case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
          name = "DROP SEQUENCE";
          break;
        default:
          name = "DROP TABLE";
      }
      break;
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
      name = "ALTER TABLE";
      break;
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
      name = "TRUNCATE TABLE";
      break;
    case PG_QUERY__NODE__NODE_COPY_STMT:
      if (node->copy_stmt->is_from) name = "COPY FROM";
      break;
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
      name = "CREATE SEQUENCE";
      break;
    case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT:
      name = "CREATE ROLE";
      break;
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT:
      name = "ALTER ROLE";
      break;
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT:
      name = "DROP ROLE";
      break;
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
      return Status::Sql("25006", "cannot execute VACUUM during recovery");
    case PG_QUERY__NODE__NODE_LOCK_STMT:
      // Only locks that conflict with nothing replay takes (RowExclusiveLock or weaker).
      if (node->lock_stmt->mode > static_cast<int>(access::LockMode::kRowExclusive)) {
        return Status::Sql("25006", "cannot execute LOCK TABLE during recovery");
      }
      break;
    default:
      break;
  }
  if (!name) return Status::OK();
  return Status::Sql("25006", fmt::format("cannot execute {} in a read-only transaction", name));
}

}  // namespace

Result<std::shared_ptr<PreparedStatement>> Executor::Prepare(std::shared_ptr<ParsedStatement> stmt,
                                                             std::vector<int32_t> param_types) {
  SetRegResolver(reg_resolver_.get());
  auto p = std::make_shared<Prepared>();
  p->stmt = stmt;
  *p->params = std::move(param_types);
  if (!stmt->raw) {
    p->run = [](Executor&, EvalState&) -> Result<ExecResult> { return ExecResult{}; };
    return std::shared_ptr<PreparedStatement>(p);
  }
  const PgQuery__Node* node = stmt->raw->stmt;
  if (status_ == TxnStatus::kFailed && node->node_case != PG_QUERY__NODE__NODE_TRANSACTION_STMT) {
    return Status::Sql("25P02",
                       "current transaction is aborted, commands ignored until end of transaction "
                       "block");
  }
  if (ctx_->in_recovery()) WALREP_RETURN_IF_ERROR(CheckReadOnly(node));
  // Analysis reads the catalog, so the transaction (and its snapshot) starts here.
  if (db_ && !in_txn_) {
    BeginTransaction();
  } else if (db_ && !tx_.repeatable_read) {
    tx_.snapshot = db_->engine->txm().TakeSnapshot(ctx_->backend_pid());
  }
  if (db_) p->catalog_version = db_->engine->txm().catalog_version();
  tx_.lock_timeout_ms = ctx_->settings().GetInt("lock_timeout");
  tx_.lock_log = &p->locks;
  struct ClearLog {
    access::TxnContext* tx;
    ~ClearLog() { tx->lock_log = nullptr; }
  } clear_log{&tx_};
  if (node->node_case == PG_QUERY__NODE__NODE_EXPLAIN_STMT) {
    WALREP_ASSIGN_OR_RETURN(p, ExecAccess::PrepareExplain(*this, p, node->explain_stmt));
    return std::shared_ptr<PreparedStatement>(p);
  }
  if (node->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
    CompileState cs{registry_, ctx_, this, nullptr, p->params.get(),
                    nullptr,   {},   {},   nullptr, nullptr};
    WALREP_ASSIGN_OR_RETURN(p, ExecAccess::PrepareSelect(*this, cs, p, node->select_stmt));
    for (auto& t : *p->params) {
      if (t == 0) t = oid::kText;
    }
    return std::shared_ptr<PreparedStatement>(p);
  }
  WALREP_ASSIGN_OR_RETURN(p, ExecAccess::PrepareUtility(*this, p, node));
  return std::shared_ptr<PreparedStatement>(p);
}

void Executor::StartStatement() {
  stmt_start_ = NowTimestamp();
  if (!in_txn_) BeginTransaction();
  tx_.lock_timeout_ms = ctx_->settings().GetInt("lock_timeout");
  // READ COMMITTED: every statement sees what other transactions committed before it began.
  if (!first_statement_ && db_ && !tx_.repeatable_read) {
    tx_.snapshot = db_->engine->txm().TakeSnapshot(ctx_->backend_pid());
  }
  first_statement_ = false;
}

Result<ExecResult> Executor::Execute(const PreparedStatement& ps,
                                     const std::vector<Value>& params) {
  const auto& p = static_cast<const Prepared&>(ps);
  SetRegResolver(reg_resolver_.get());
  if (status_ == TxnStatus::kFailed && !p.allowed_in_failed && p.stmt->raw) {
    return Status::Sql("25P02",
                       "current transaction is aborted, commands ignored until end of transaction "
                       "block");
  }
  StartStatement();
  WALREP_ASSIGN_OR_RETURN(const Prepared* run, Revalidate(p));
  // The statement's evaluation state lives as long as its result's rows are being read.
  auto state = std::make_shared<StatementState>(StatementState{
      params, EvalState{ctx_, this, nullptr, nullptr, FormatOptions{}, nullptr, {}, 0, {}}});
  EvalState* st = &state->st;
  st->params = &state->params;
  st->owner = state;
  static std::atomic<uint64_t> runs{0};
  st->run_id = ++runs;
  st->fmt = format_options();
  Result<ExecResult> result = Status::OK();
  try {
    result = run->run(*this, *st);
  } catch (const std::bad_alloc&) {
    result = Status::Sql("53200", "out of memory");
  }
  // The next statement sees this one's effects (CommandCounterIncrement).
  tx_.cid++;
  if (result.ok()) {
    for (auto* rows : {&result->rows, &result->copy_out}) {
      if (*rows) {
        *rows = std::make_shared<OwningStream>(std::move(*rows),
                                               std::vector<std::shared_ptr<const void>>{state});
      }
    }
  }
  return result;
}

Result<const Prepared*> Executor::Revalidate(const Prepared& p) {
  const Prepared* current = p.replanned ? p.replanned.get() : &p;
  if (!db_ || current->locks.empty()) return current;
  for (const auto& [rel, mode] : current->locks) {
    WALREP_RETURN_IF_ERROR(
        access::LockRelation(db_->engine->env(), tx_, catalog::kDatabaseOid, rel, mode));
  }
  if (db_->engine->txm().catalog_version() == current->catalog_version) return current;
  // The tables it uses changed (or may have) since it was analysed: analyse it again, with the
  // parameter types it was given.
  WALREP_ASSIGN_OR_RETURN(auto fresh, Prepare(p.stmt, *p.params));
  auto fp = std::static_pointer_cast<const Prepared>(fresh);
  bool same = fp->cols.size() == p.cols.size() && *fp->params == *p.params;
  for (size_t i = 0; same && i < p.cols.size(); i++) same = fp->cols[i].type == p.cols[i].type;
  if (!same) return Status::Sql("0A000", "cached plan must not change result type");
  p.replanned = fp;
  return fp.get();
}

void Executor::OnError() {
  if (status_ == TxnStatus::kInBlock) {
    status_ = TxnStatus::kFailed;
    if (savepoints_.empty()) {
      // Nothing can bring the transaction back: it ends now, as PostgreSQL's does at the
      // error, so its locks (and row locks) do not outlive it until the client's ROLLBACK.
      AbortTransaction();
    } else if (db_) {
      // The locks taken since the last savepoint go (its failed subtransaction's).
      db_->engine->locks().ReleaseSince(&lock_owner_, savepoints_.back().lock_mark);
    }
    return;
  }
  if (status_ == TxnStatus::kIdle && in_txn_) AbortTransaction();
}

Status Executor::EndImplicitTransaction() {
  if (status_ == TxnStatus::kIdle && in_txn_) return CommitTransaction();
  return Status::OK();
}

// Counterpart: the transaction-block state machine of PostgreSQL's xact.c, for what walrep keeps
// per transaction today (settings, time stamps and savepoint names).
Result<ExecResult> Executor::RunTransactionStmt(int kind, const std::string& savepoint) {
  auto finish = [&](bool commit) -> Status {
    status_ = TxnStatus::kIdle;
    savepoints_.clear();
    undo_.clear();
    if (commit) return CommitTransaction();
    AbortTransaction();
    return Status::OK();
  };
  switch (kind) {
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
      if (status_ != TxnStatus::kIdle) {
        AddWarning("25001", "there is already a transaction in progress");
      } else {
        status_ = TxnStatus::kInBlock;
      }
      return TagOnly(kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN
                         ? "BEGIN"
                         : "START TRANSACTION");
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT: {
      if (status_ == TxnStatus::kIdle) {
        AddWarning("25P01", "there is no transaction in progress");
        WALREP_RETURN_IF_ERROR(finish(true));
        return TagOnly("COMMIT");
      }
      bool failed = status_ == TxnStatus::kFailed;
      WALREP_RETURN_IF_ERROR(finish(!failed));
      return TagOnly(failed ? "ROLLBACK" : "COMMIT");
    }
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
      if (status_ == TxnStatus::kIdle) AddWarning("25P01", "there is no transaction in progress");
      WALREP_RETURN_IF_ERROR(finish(false));
      return TagOnly("ROLLBACK");
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT:
      if (status_ != TxnStatus::kInBlock) {
        return Status::Sql("25P01", "SAVEPOINT can only be used in transaction blocks");
      }
      // From here on the heap records what ROLLBACK TO must undo.
      tx_.undo = &undo_;
      savepoints_.push_back(Savepoint{savepoint, undo_.size(), tx_.created_rels.size(),
                                      tx_.dropped_rels.size(), lock_owner_.Mark()});
      return TagOnly("SAVEPOINT");
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO: {
      bool release = kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE;
      if (status_ == TxnStatus::kIdle) {
        return Status::Sql("25P01",
                           fmt::format("{} can only be used in transaction blocks",
                                       release ? "RELEASE SAVEPOINT" : "ROLLBACK TO SAVEPOINT"));
      }
      auto it = std::find_if(savepoints_.rbegin(), savepoints_.rend(),
                             [&](const auto& sp) { return sp.name == savepoint; });
      if (it == savepoints_.rend()) {
        if (status_ == TxnStatus::kFailed && release) {
          return Status::Sql("25P02",
                             "current transaction is aborted, commands ignored until end "
                             "of transaction block");
        }
        return Status::Sql("3B001", fmt::format("savepoint \"{}\" does not exist", savepoint));
      }
      if (!release && db_) {
        // Inserted rows die, deleted and updated rows come back, row locks are released;
        // relation files created since go, files dropped since stay.
        WALREP_RETURN_IF_ERROR(access::HeapUndo(db_->engine->env(), tx_, it->undo_mark));
        std::vector<wal::RelFileNode> created(
            tx_.created_rels.begin() + static_cast<std::ptrdiff_t>(it->created_mark),
            tx_.created_rels.end());
        tx_.created_rels.resize(it->created_mark);
        tx_.dropped_rels.resize(it->dropped_mark);
        db_->engine->DropRelationFiles(created);
        db_->engine->locks().ReleaseSince(&lock_owner_, it->lock_mark);
      }
      // Savepoints above the named one go away; RELEASE removes the named one too.
      savepoints_.erase(release ? std::prev(it.base()) : it.base(), savepoints_.end());
      if (savepoints_.empty()) {  // nothing left to roll back to
        tx_.undo = nullptr;
        undo_.clear();
      }
      if (!release) status_ = TxnStatus::kInBlock;
      return TagOnly(release ? "RELEASE" : "ROLLBACK");
    }
  }
  return Status::NotSupported("this transaction command is not supported");
}

void Executor::AddWarning(const std::string& sqlstate, const std::string& msg) {
  ctx_->AddNotice("WARNING", sqlstate, msg);
}

}  // namespace walrep::sql
