// walrep: statements over tables — CREATE/DROP/TRUNCATE/ALTER TABLE, INSERT, UPDATE, DELETE,
// VACUUM, and tables as row sources for SELECT. Rows are stored in the compact binary format of
// row_format.h; the catalog says the types.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "spill.h"
#include "sql_internal.h"
#include "walrep/common/strings.h"
#include "walrep/sql/row_format.h"

namespace walrep::sql {

namespace {

using catalog::ColumnDef;
using catalog::TableDef;

Status NoSuchTable(const std::string& name, int location) {
  Status st = Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", name));
  return location >= 0 ? std::move(st).WithPosition(location + 1) : st;
}

// A table named by a statement that reads or changes its rows (not a sequence: 42809), locked
// in `mode` for the rest of the transaction.
Result<TableDef> LookupTable(Executor& ex, const std::string& name, int location,
                             access::LockMode mode) {
  WALREP_ASSIGN_OR_RETURN(auto t, ex.db()->catalog->GetTable(ex.txn(), name, mode));
  if (!t) return NoSuchTable(name, location);
  if (t->kind == 'S')
    return Status::Sql("42809", fmt::format("cannot change sequence \"{}\"", name));
  return *t;
}

// Converts a value to a column's type, enforcing varchar/char lengths and NOT NULL.
Result<Value> ToColumn(const TableDef& t, size_t i, const Value& v, const FormatOptions& fo) {
  const ColumnDef& c = t.columns[i];
  if (v.is_null()) {
    if (c.not_null) {
      return Status::Sql("23502", fmt::format("null value in column \"{}\" of relation \"{}\" "
                                              "violates not-null constraint",
                                              c.name, t.name));
    }
    return Value::Null(c.type_oid);
  }
  WALREP_ASSIGN_OR_RETURN(Value out, Cast(v, c.type_oid, fo));
  if (c.type_oid == oid::kNumeric && c.typmod >= 4 && !out.is_null()) {
    // numeric(p, s): rounded to s digits after the point, and at most p - s before it.
    int precision = ((c.typmod - 4) >> 16) & 0xffff, scale = (c.typmod - 4) & 0xffff;
    WALREP_ASSIGN_OR_RETURN(Numeric n, NumericRescale(out.as_numeric(), scale));
    __int128 limit = 1;
    for (int i = 0; i < precision && i < 38; i++) limit *= 10;
    if (precision < 38 && (n.mantissa >= limit || n.mantissa <= -limit)) {
      return Status::Sql("22003", "numeric field overflow")
          .WithDetail(fmt::format("A field with precision {}, scale {} must round to an absolute "
                                  "value less than {}{}.",
                                  precision, scale, precision - scale > 0 ? "10^" : "1",
                                  precision - scale > 0 ? std::to_string(precision - scale) : ""));
    }
    return Value::Num(n);
  }
  if ((c.type_oid == oid::kVarchar || c.type_oid == oid::kBpchar) && c.typmod >= 4) {
    size_t n = static_cast<size_t>(c.typmod - 4);
    std::string s = out.as_string();
    size_t chars = 0;
    for (unsigned char ch : s) chars += (ch & 0xC0) != 0x80;
    if (chars > n) {
      std::string trimmed = std::string(Trim(s));
      if (trimmed.size() > n || c.type_oid == oid::kVarchar) {
        return Status::Sql(
            "22001",
            fmt::format("value too long for type {}({})",
                        c.type_oid == oid::kVarchar ? "character varying" : "character", n));
      }
      s = trimmed;
    }
    if (c.type_oid == oid::kBpchar) s.append(n - std::min(n, s.size()), ' ');
    out = Value::Text(c.type_oid, s);
  }
  return out;
}

Scope TableScope(const TableDef& t, const PgQuery__RangeVar* rv) {
  Scope s;
  std::vector<ViewColumn> cols;
  for (const auto& c : t.columns) cols.push_back(ViewColumn{c.name, c.type_oid});
  s.AddRelation(rv && rv->alias ? rv->alias->aliasname : t.name, cols);
  return s;
}

std::string RelName(const PgQuery__RangeVar* rv) { return rv->relname; }

// Compiles a RETURNING list over the table's columns.
Result<std::pair<std::vector<ExprPtr>, std::vector<ColumnDesc>>> CompileReturning(
    CompileState& cs, const TableDef& t, PgQuery__Node** list, size_t n) {
  std::vector<ExprPtr> exprs;
  std::vector<ColumnDesc> cols;
  for (size_t i = 0; i < n; i++) {
    const auto* rt = list[i]->res_target;
    const PgQuery__Node* v = rt->val;
    if (v->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
        v->column_ref->fields[v->column_ref->n_fields - 1]->node_case ==
            PG_QUERY__NODE__NODE_A_STAR) {
      for (size_t c = 0; c < t.columns.size(); c++) {
        auto e = std::make_shared<Expr>();
        e->type = t.columns[c].type_oid;
        e->eval = [c](EvalState& st) -> Result<Value> { return (*st.row)[c]; };
        exprs.push_back(e);
        cols.push_back(ColumnDesc{t.columns[c].name, t.columns[c].type_oid});
      }
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, v));
    if (e->type == oid::kUnknown) {
      WALREP_ASSIGN_OR_RETURN(e, Coerce(cs, e, oid::kText, false));
    }
    exprs.push_back(e);
    cols.push_back(ColumnDesc{rt->name && *rt->name ? rt->name : FigureColname(v), e->type});
  }
  return std::make_pair(exprs, cols);
}

// A default expression from its SQL text.
Result<ExprPtr> CompileDefault(CompileState& cs, const std::string& text) {
  auto parsed = ParseSql("SELECT " + text);
  if (!parsed.ok() || parsed->size() != 1 || !(*parsed)[0]->raw) {
    return Status::Sql("42601", fmt::format("invalid default expression: {}", text));
  }
  const auto* sel = (*parsed)[0]->raw->stmt->select_stmt;
  // Keep the parse tree alive as long as the compiled expression.
  auto holder = (*parsed)[0];
  WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, sel->target_list[0]->res_target->val));
  auto keep = std::make_shared<Expr>(*e);
  keep->eval = [e, holder](EvalState& st) { return e->eval(st); };
  return keep;
}

// Default value expressions of a table, compiled once per statement.
Result<std::vector<ExprPtr>> CompileDefaults(CompileState& cs, const TableDef& t) {
  std::vector<ExprPtr> out;
  for (const auto& c : t.columns) {
    if (c.default_expr.empty()) {
      out.push_back(nullptr);
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileDefault(cs, c.default_expr));
    out.push_back(e);
  }
  return out;
}

Result<Row> BuildRow(EvalState& st, const TableDef& t, const std::vector<ExprPtr>& defaults,
                     const std::vector<int>& target_cols, const std::vector<ExprPtr>& values) {
  Row row(t.columns.size());
  std::vector<bool> set(t.columns.size(), false);
  for (size_t i = 0; i < target_cols.size(); i++) {
    if (!values[i]) continue;  // DEFAULT
    WALREP_ASSIGN_OR_RETURN(Value v, values[i]->eval(st));
    row[static_cast<size_t>(target_cols[i])] = v;
    set[static_cast<size_t>(target_cols[i])] = true;
  }
  for (size_t c = 0; c < t.columns.size(); c++) {
    if (!set[c]) {
      if (defaults[c]) {
        WALREP_ASSIGN_OR_RETURN(row[c], defaults[c]->eval(st));
      } else {
        row[c] = Value::Null(t.columns[c].type_oid);
      }
    }
    WALREP_ASSIGN_OR_RETURN(row[c], ToColumn(t, c, row[c], st.fmt));
  }
  return row;
}

// Types whose values EncodeKey can order (numeric, floats and intervals cannot be indexed yet).
bool KeyTypeSupported(int32_t type) {
  return IsIntegerType(type) || IsStringType(type) || type == oid::kDate ||
         type == oid::kTimestamp || type == oid::kTimestampTz || type == oid::kPgLsn ||
         type == oid::kBool || type == oid::kBytea || type == oid::kNumeric ||
         type == oid::kFloat4 || type == oid::kFloat8;
}

Status CheckIndexable(const TableDef& t, const catalog::IndexDef& idx) {
  for (const auto& c : idx.columns) {
    int i = t.column_index(c);
    if (i < 0) return Status::Sql("42703", fmt::format("column \"{}\" does not exist", c));
    int32_t type = t.columns[static_cast<size_t>(i)].type_oid;
    if (!KeyTypeSupported(type)) {
      return Status::NotSupported(
          fmt::format("indexes on type {} are not supported yet", TypeName(type)));
    }
  }
  return Status::OK();
}

// A row's index key, in access::key's format.
Result<std::string> EncodeKey(const TableDef& t, const std::vector<std::string>& cols,
                              const Row& row, size_t ncols) {
  std::string key;
  for (size_t c = 0; c < ncols && c < cols.size(); c++) {
    const Value& v = row[static_cast<size_t>(t.column_index(cols[c]))];
    int32_t type = v.type();
    if (v.is_null()) {
      access::key::AppendNull(&key);
    } else if (IsIntegerType(type) || type == oid::kDate || type == oid::kTimestamp ||
               type == oid::kTimestampTz) {
      access::key::AppendInt(v.as_int(), &key);
    } else if (type == oid::kPgLsn) {
      access::key::AppendUnsigned(static_cast<uint64_t>(v.as_int()), &key);
    } else if (type == oid::kBool) {
      access::key::AppendBool(v.as_bool(), &key);
    } else if (type == oid::kNumeric) {
      access::key::AppendNumeric(v.as_numeric().mantissa, v.as_numeric().scale, &key);
    } else if (type == oid::kFloat4 || type == oid::kFloat8) {
      access::key::AppendFloat(v.as_double(), &key);
    } else if (IsStringType(type) || type == oid::kBytea) {
      access::key::AppendBytes(v.as_string(), &key);
    } else {
      return Status::NotSupported(
          fmt::format("indexes on type {} are not supported", TypeName(type)));
    }
  }
  return key;
}

Status DuplicateKey(const TableDef& t, const catalog::IndexDef& idx, const Row& row,
                    const char* message = "duplicate key value violates unique constraint \"{}\"",
                    const char* detail = "Key ({})=({}) already exists.") {
  std::string cols, vals;
  for (const auto& c : idx.columns) {
    cols += (cols.empty() ? "" : ", ") + c;
    const Value& v = row[static_cast<size_t>(t.column_index(c))];
    vals += (vals.empty() ? "" : ", ") +
            (v.is_null() ? std::string("null") : ToText(v, FormatOptions{}));
  }
  return Status::Sql("23505", fmt::format(fmt::runtime(message), idx.name))
      .WithDetail(fmt::format(fmt::runtime(detail), cols, vals));
}

// Writes a row (the heap part is `write_heap`, returning the new tid or an invalid one when
// nothing was written), then adds its index entries through the engine's uniqueness protocol.
Status StoreRow(Executor& ex, const TableDef& t, const Row& row, bool check_unique,
                const std::function<Result<access::TupleId>()>& write_heap) {
  WALREP_ASSIGN_OR_RETURN(access::TupleId new_tid, write_heap());
  if (!new_tid.valid()) return Status::OK();
  std::vector<access::Engine::IndexEntry> entries;
  for (const auto& idx : t.indexes) {
    access::Engine::IndexEntry e;
    e.index = idx.rel;
    WALREP_ASSIGN_OR_RETURN(e.key, EncodeKey(t, idx.columns, row, idx.columns.size()));
    bool has_null = false;  // NULLs are never equal
    for (const auto& c : idx.columns) {
      has_null |= row[static_cast<size_t>(t.column_index(c))].is_null();
    }
    e.check_unique = check_unique && idx.unique && !has_null;
    entries.push_back(std::move(e));
  }
  return ex.db()->engine->InsertIndexEntries(ex.txn(), t.rel, new_tid, entries, [&](size_t i) {
    return DuplicateKey(t, t.indexes[i], row);
  });
}

// Rows an UPDATE, DELETE or table rewrite reads before it writes (its scan must not see the
// versions it creates), each with its tid after its values, in a tuplestore that spills past
// work_mem.
Status AppendWithTid(Tuplestore& rows, access::TupleId tid, Row row) {
  row.push_back(Value::Int(oid::kInt8, tid.block));
  row.push_back(Value::Int(oid::kInt8, tid.off));
  return rows.Append(std::move(row));
}

// The tid AppendWithTid stored, taken off `row`.
access::TupleId TakeTid(Row& row) {
  access::TupleId tid{static_cast<storage::BlockNumber>(row[row.size() - 2].as_int()),
                      static_cast<storage::OffsetNumber>(row.back().as_int())};
  row.resize(row.size() - 2);
  return tid;
}

// ALTER TABLE ADD COLUMN with a volatile default (nextval, random, ...): every existing row
// gets a new version with its own value, as PostgreSQL's table rewrite gives it. `t` already
// has the columns; `cols` are their positions and compiled defaults.
Status RewriteWithDefaults(Executor& ex, EvalState& st, const TableDef& t,
                           const std::vector<std::pair<size_t, ExprPtr>>& cols) {
  access::HeapEnv& env = ex.db()->engine->env();
  Tuplestore rows(&ex.resources(), ex.resources().WorkMem());
  WALREP_RETURN_IF_ERROR(access::ForEachRow(env, t.rel, ex.txn(),
                                            [&](access::TupleId tid, std::string& bytes) -> Status {
                                              // statement_timeout and cancel reach the scan too
                                              // (found by fuzz_sql: a large table's rewrite ran on
                                              // past the timeout).
                                              if (rows.rows() % 1024 == 0)
                                                WALREP_RETURN_IF_ERROR(st.ctx->CheckInterrupts());
                                              WALREP_ASSIGN_OR_RETURN(Row row, DecodeRow(t, bytes));
                                              return AppendWithTid(rows, tid, std::move(row));
                                            }));
  Row row;
  while (true) {
    WALREP_ASSIGN_OR_RETURN(bool more, rows.Next(&row));
    if (!more) break;
    access::TupleId tid = TakeTid(row);
    WALREP_RETURN_IF_ERROR(st.ctx->CheckInterrupts());
    for (const auto& [ci, value] : cols) {
      WALREP_ASSIGN_OR_RETURN(Value v, value->eval(st));
      WALREP_ASSIGN_OR_RETURN(row[ci], ToColumn(t, ci, v, st.fmt));
      if (row[ci].is_null() && t.columns[ci].not_null) {
        return Status::Sql("23502", fmt::format("column \"{}\" of relation \"{}\" contains "
                                                "null values",
                                                t.columns[ci].name, t.name));
      }
    }
    WALREP_RETURN_IF_ERROR(StoreRow(ex, t, row, false, [&]() -> Result<access::TupleId> {
      access::TupleId new_tid;
      WALREP_ASSIGN_OR_RETURN(std::string bytes, EncodeRow(t, row));
      WALREP_ASSIGN_OR_RETURN(auto out,
                              access::HeapUpdate(env, t.rel, ex.txn(), tid, bytes, &new_tid, true));
      if (out.kind != access::ModifyOutcome::kOk) {
        return Status::Sql("40001", "could not serialize access due to concurrent update");
      }
      return out.hot ? access::TupleId{} : new_tid;
    }));
  }
  return Status::OK();
}

Status InsertRow(Executor& ex, const TableDef& t, const Row& row) {
  return StoreRow(ex, t, row, true, [&]() -> Result<access::TupleId> {
    WALREP_ASSIGN_OR_RETURN(std::string bytes, EncodeRow(t, row));
    return access::HeapInsert(ex.db()->engine->env(), t.rel, ex.txn(), bytes);
  });
}

// Whether the index's key differs between two versions of a row (as the index stores it: a
// version with an equal key can share its predecessor's entries).
Result<bool> KeyChanged(const TableDef& t, const catalog::IndexDef& idx, const Row& before,
                        const Row& after) {
  WALREP_ASSIGN_OR_RETURN(std::string a, EncodeKey(t, idx.columns, before, idx.columns.size()));
  WALREP_ASSIGN_OR_RETURN(std::string b, EncodeKey(t, idx.columns, after, idx.columns.size()));
  return a != b;
}

}  // namespace

Status CheckReadableInRecovery(SessionContext& ctx, const TableDef& t) {
  if (t.logged() || !ctx.in_recovery()) return Status::OK();
  return Status::NotSupported("cannot access temporary or unlogged relations during recovery");
}

Result<bool> RelationNameTaken(Executor& e, EvalState& st, const std::string& name,
                               bool if_not_exists, char persistence) {
  WALREP_ASSIGN_OR_RETURN(auto tables, e.db()->catalog->ListTables(e.txn()));
  for (const auto& t : tables) {
    // A temporary table's name is taken only among the session's own temporary relations
    // (pg_temp); other names among the permanent and unlogged ones.
    if ((t.persistence == 't') != (persistence == 't')) continue;
    if (t.persistence == 't' && t.temp_owner != e.txn().temp_owner) continue;
    bool taken = t.name == name;
    for (const auto& i : t.indexes) taken |= i.name == name;
    if (!taken) continue;
    if (!if_not_exists) {
      return Status::Sql("42P07", fmt::format("relation \"{}\" already exists", name));
    }
    st.ctx->AddNotice("NOTICE", "42P07",
                      fmt::format("relation \"{}\" already exists, skipping", name));
    return true;
  }
  return false;
}

namespace {

// A constraint's explicit name (CONSTRAINT name ...), or "" for the default.
std::string ConstraintName(const PgQuery__Constraint* con) {
  return con->conname && *con->conname ? std::string(con->conname) : std::string();
}

// The entries of a new index: the rows the transaction sees (each first passed to `check`); a
// unique index refuses duplicate keys as PostgreSQL's index build does.
Result<std::vector<std::pair<std::string, access::TupleId>>> IndexEntries(
    Executor& e, const TableDef& def, const catalog::IndexDef& idx,
    const std::function<Status(const Row&)>& check = nullptr) {
  std::vector<std::pair<std::string, access::TupleId>> entries;
  std::set<std::string> seen;
  // The caller holds a lock that keeps writers out (ShareLock or stronger), so every row
  // committed before it was granted is in, whatever the transaction's own snapshot: the build
  // reads with a snapshot taken now (and sees its own transaction's rows).
  access::TxnContext build = e.txn();
  build.snapshot = e.db()->engine->txm().TakeSnapshot();
  WALREP_RETURN_IF_ERROR(access::ForEachRow(
      e.db()->engine->env(), def.rel, build,
      [&](access::TupleId tid, std::string& bytes) -> Status {
        WALREP_ASSIGN_OR_RETURN(Row row, DecodeRow(def, bytes));
        if (check) WALREP_RETURN_IF_ERROR(check(row));
        WALREP_ASSIGN_OR_RETURN(std::string key,
                                EncodeKey(def, idx.columns, row, idx.columns.size()));
        bool has_null = false;
        for (const auto& c : idx.columns) {
          has_null |= row[static_cast<size_t>(def.column_index(c))].is_null();
        }
        if (idx.unique && !has_null && !seen.insert(key).second) {
          return DuplicateKey(def, idx, row, "could not create unique index \"{}\"",
                              "Key ({})=({}) is duplicated.");
        }
        entries.emplace_back(std::move(key), tid);
        return Status::OK();
      }));
  return entries;
}

// Equality lookups through an index: `values[i]` is the value for the index's column i.
struct IndexPath {
  catalog::IndexDef index;
  std::vector<std::pair<std::string, ExprPtr>> values;  // leading columns, in index order
  // Without equality terms: bounds on the leading column (either may be null).
  ExprPtr lower, upper;
  bool upper_inclusive = false;
};

// Finds top-level `column op constant` terms of WHERE (op: = < <= > >=, and BETWEEN) and an
// index whose leading columns the equalities cover, or else whose leading column is bounded.
// Constants are expressions without column references (literals, parameters, functions).
Result<std::optional<IndexPath>> ChooseIndex(CompileState& cs, const TableDef& t,
                                             const PgQuery__Node* where) {
  if (!where || t.indexes.empty()) return std::optional<IndexPath>();
  std::map<std::string, ExprPtr> eq, lower, upper;
  std::map<std::string, bool> upper_incl;
  // The constant side compiled and coerced to the column's type, or null when it is not one.
  auto constant = [&](int ci, const PgQuery__Node* other) -> ExprPtr {
    const Scope* saved = cs.scope;
    cs.scope = nullptr;  // a constant may not reference columns
    auto e = CompileExpr(cs, other);
    cs.scope = saved;
    if (!e.ok()) return nullptr;
    auto c = Coerce(cs, *e, t.columns[static_cast<size_t>(ci)].type_oid, false);
    return c.ok() ? *c : nullptr;
  };
  auto column = [&](const PgQuery__Node* n) -> int {
    if (!n || n->node_case != PG_QUERY__NODE__NODE_COLUMN_REF) return -1;
    const auto* cr = n->column_ref;
    return t.column_index(StringNodeValue(cr->fields[cr->n_fields - 1]));
  };
  std::function<void(const PgQuery__Node*)> walk = [&](const PgQuery__Node* n) {
    if (n->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
        n->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
      for (size_t i = 0; i < n->bool_expr->n_args; i++) walk(n->bool_expr->args[i]);
      return;
    }
    if (n->node_case != PG_QUERY__NODE__NODE_A_EXPR) return;
    const auto* ae = n->a_expr;
    if (ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN) {
      int ci = column(ae->lexpr);
      const PgQuery__Node* r = ae->rexpr;
      if (ci < 0 || !r || r->node_case != PG_QUERY__NODE__NODE_LIST || r->list->n_items != 2)
        return;
      ExprPtr lo = constant(ci, r->list->items[0]), hi = constant(ci, r->list->items[1]);
      if (!lo || !hi) return;
      const std::string& name = t.columns[static_cast<size_t>(ci)].name;
      lower[name] = lo;
      upper[name] = hi;
      upper_incl[name] = true;
      return;
    }
    if (ae->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP || ae->n_name != 1) return;
    std::string op = StringNodeValue(ae->name[0]);
    int ci = column(ae->lexpr);
    const PgQuery__Node* other = ae->rexpr;
    if (ci < 0) {  // constant op column: flip the operator
      ci = column(ae->rexpr);
      other = ae->lexpr;
      if (op == "<")
        op = ">";
      else if (op == ">")
        op = "<";
      else if (op == "<=")
        op = ">=";
      else if (op == ">=")
        op = "<=";
    }
    if (ci < 0 || !other) return;
    if (op != "=" && op != "<" && op != "<=" && op != ">" && op != ">=") return;
    ExprPtr e = constant(ci, other);
    if (!e) return;
    const std::string& name = t.columns[static_cast<size_t>(ci)].name;
    if (op == "=") {
      eq[name] = e;
    } else if (op[0] == '>') {
      lower[name] = e;  // > is scanned as >=; WHERE drops the equal keys
    } else {
      upper[name] = e;
      upper_incl[name] = op == "<=";
    }
  };
  walk(where);
  std::optional<IndexPath> best;
  for (const auto& idx : t.indexes) {
    IndexPath p{idx, {}, nullptr, nullptr, false};
    for (const auto& c : idx.columns) {
      auto it = eq.find(c);
      if (it == eq.end()) break;
      p.values.emplace_back(c, it->second);
    }
    if (!p.values.empty() && (!best || p.values.size() > best->values.size())) best = p;
  }
  if (best) return best;
  for (const auto& idx : t.indexes) {
    const std::string& c = idx.columns.front();
    if (!lower.count(c) && !upper.count(c)) continue;
    IndexPath p{idx,
                {},
                lower.count(c) ? lower[c] : nullptr,
                upper.count(c) ? upper[c] : nullptr,
                upper_incl[c]};
    return std::optional<IndexPath>(p);
  }
  return best;
}

PlanPtr ScanPlan(const TableDef& t, const std::optional<IndexPath>& path) {
  return MakePlan(path ? fmt::format("Index Scan using {} on {}", path->index.name, t.name)
                       : fmt::format("Seq Scan on {}", t.name));
}

// The visible rows of the tids, in order.
Result<std::vector<std::pair<access::TupleId, Row>>> FetchVisible(
    Executor& ex, EvalState& st, const TableDef& t, const std::vector<access::TupleId>& tids,
    std::set<access::TupleId>* dead) {
  std::vector<std::pair<access::TupleId, Row>> out;
  access::HeapEnv& env = ex.db()->engine->env();
  for (const auto& tid : tids) {
    access::TupleId version;  // the chain's visible version
    WALREP_ASSIGN_OR_RETURN(auto bytes, access::HeapFetch(env, t.rel, ex.txn(), tid, &version));
    if (!bytes) {
      TransactionId running = 0;
      WALREP_ASSIGN_OR_RETURN(auto state,
                              access::HeapTupleState(env, t.rel, ex.txn(), tid, &running));
      if (state == access::TupleState::kDeadToAll) dead->insert(tid);
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(Row row, DecodeRow(t, *bytes));
    out.emplace_back(version, std::move(row));
  }
  return out;
}

// The entries an index path finds (a superset of the matches: the caller applies the whole
// WHERE clause, which also drops NULLs and the equal keys of a strict bound). For an equality
// path *prefix is the key prefix looked up (its dead entries may be removed afterwards).
Result<std::vector<access::TupleId>> IndexTids(Executor& ex, EvalState& st, const TableDef& t,
                                               const IndexPath& path, std::string* prefix) {
  prefix->clear();
  if (!path.values.empty()) {
    Row probe(t.columns.size());
    for (const auto& [col, e] : path.values) {
      WALREP_ASSIGN_OR_RETURN(Value v, e->eval(st));
      if (v.is_null()) return std::vector<access::TupleId>();  // = NULL never matches
      probe[static_cast<size_t>(t.column_index(col))] = v;
    }
    WALREP_ASSIGN_OR_RETURN(*prefix, EncodeKey(t, path.index.columns, probe, path.values.size()));
    return ex.db()->engine->index(path.index.rel)->ScanPrefix(*prefix);
  }
  // A range of the leading column.
  auto bound = [&](const ExprPtr& e, std::string* key) -> Result<bool> {
    WALREP_ASSIGN_OR_RETURN(Value v, e->eval(st));
    if (v.is_null()) return false;  // a comparison with NULL matches nothing
    Row probe(t.columns.size());
    probe[static_cast<size_t>(t.column_index(path.index.columns.front()))] = v;
    WALREP_ASSIGN_OR_RETURN(*key, EncodeKey(t, path.index.columns, probe, 1));
    return true;
  };
  std::string lo, hi;
  if (path.lower) {
    WALREP_ASSIGN_OR_RETURN(bool ok, bound(path.lower, &lo));
    if (!ok) return std::vector<access::TupleId>();
  }
  if (path.upper) {
    WALREP_ASSIGN_OR_RETURN(bool ok, bound(path.upper, &hi));
    if (!ok) return std::vector<access::TupleId>();
    if (path.upper_inclusive) {
      // Past every key that starts with the bound: its prefix successor ("" when none).
      while (!hi.empty() && static_cast<unsigned char>(hi.back()) == 0xff) hi.pop_back();
      if (!hi.empty()) hi.back() = static_cast<char>(hi.back() + 1);
    }
  } else {
    hi = std::string(1, '\x02');  // non-NULL keys only (NULL's marker is 0x02)
  }
  if (!hi.empty() && hi <= lo) return std::vector<access::TupleId>();
  return ex.db()->engine->index(path.index.rel)->ScanRange(lo, hi);
}

// Entries of versions no snapshot can see are removed after an equality lookup, so that lookups
// of a key that is updated often (pgbench's branches) do not visit every old version again.
// Range scans leave them for VACUUM (removal is done by equality lookups).
Status RemoveDeadEntries(Executor& ex, EvalState& st, const IndexPath& path,
                         const std::string& prefix, const std::set<access::TupleId>& dead) {
  if (dead.empty() || prefix.empty() || st.ctx->in_recovery()) return Status::OK();
  return ex.db()->engine->index(path.index.rel)->RemoveEntries(prefix, dead);
}

// Rows (with tids) found through the index and visible to the transaction; the caller still
// applies the whole WHERE clause.
Result<std::vector<std::pair<access::TupleId, Row>>> IndexCandidates(Executor& ex, EvalState& st,
                                                                     const TableDef& t,
                                                                     const IndexPath& path) {
  std::string prefix;
  WALREP_ASSIGN_OR_RETURN(auto tids, IndexTids(ex, st, t, path, &prefix));
  std::set<access::TupleId> dead;
  WALREP_ASSIGN_OR_RETURN(auto out, FetchVisible(ex, st, t, tids, &dead));
  WALREP_RETURN_IF_ERROR(RemoveDeadEntries(ex, st, path, prefix, dead));
  return out;
}

// An index scan as an iterator: the index's entries first, then their rows a batch at a time.
RowIterPtr IndexScanIter(EvalState& st, const TableDef& t, const IndexPath& path, PlanPtr plan,
                         std::vector<access::TupleId> tids, std::string prefix) {
  struct Scan {
    std::vector<access::TupleId> tids;
    std::string prefix;
    size_t next = 0;
    std::vector<std::pair<access::TupleId, Row>> batch;
    size_t pos = 0;
    std::set<access::TupleId> dead;
  };
  auto scan = std::make_shared<Scan>();
  scan->tids = std::move(tids);
  scan->prefix = std::move(prefix);
  return FunctionIter(std::move(plan), [scan, t, path, &st](Row* row) -> Result<bool> {
    Executor& ex = *st.exec;
    while (scan->pos >= scan->batch.size()) {
      if (scan->next >= scan->tids.size()) {
        WALREP_RETURN_IF_ERROR(RemoveDeadEntries(ex, st, path, scan->prefix, scan->dead));
        scan->dead.clear();
        return false;
      }
      constexpr size_t kBatch = 256;
      size_t end = std::min(scan->tids.size(), scan->next + kBatch);
      std::vector<access::TupleId> part(scan->tids.begin() + static_cast<ptrdiff_t>(scan->next),
                                        scan->tids.begin() + static_cast<ptrdiff_t>(end));
      scan->next = end;
      WALREP_ASSIGN_OR_RETURN(scan->batch, FetchVisible(ex, st, t, part, &scan->dead));
      scan->pos = 0;
      WALREP_RETURN_IF_ERROR(st.ctx->CheckInterrupts());
    }
    *row = std::move(scan->batch[scan->pos++].second);
    return true;
  });
}

}  // namespace
namespace {

struct Modify {
  enum Kind { kUpdate, kDelete } kind;
  TableDef table;
  ExprPtr where;
  std::optional<IndexPath> path;              // equality lookup through an index instead of a scan
  std::vector<std::pair<int, ExprPtr>> sets;  // column index, new value
  std::vector<ExprPtr> returning;
};

// Runs UPDATE or DELETE: scan, filter, modify; READ COMMITTED re-checks updated rows.
Result<ExecResult> RunModify(Executor& ex, EvalState& st, const Modify& m,
                             const std::vector<ColumnDesc>& ret_cols) {
  access::HeapEnv& env = ex.db()->engine->env();
  access::TxnContext& tx = ex.txn();
  tx.ensure_xid();
  // Matching rows first (AppendWithTid).
  ExecResources& res = ex.resources();
  Tuplestore matches(&res, res.WorkMem());
  auto keep = [&](access::TupleId tid, Row row) -> Status {
    st.row = &row;
    if (m.where) {
      WALREP_ASSIGN_OR_RETURN(Value ok, m.where->eval(st));
      if (ok.is_null() || !ok.as_bool()) return Status::OK();
    }
    return AppendWithTid(matches, tid, std::move(row));
  };
  if (m.path) {
    WALREP_ASSIGN_OR_RETURN(auto found, IndexCandidates(ex, st, m.table, *m.path));
    for (auto& [tid, row] : found) WALREP_RETURN_IF_ERROR(keep(tid, std::move(row)));
  } else {
    WALREP_RETURN_IF_ERROR(access::ForEachRow(
        env, m.table.rel, tx, [&](access::TupleId tid, std::string& bytes) -> Status {
          WALREP_ASSIGN_OR_RETURN(Row row, DecodeRow(m.table, bytes));
          return keep(tid, std::move(row));
        }));
  }
  ExecResult r;
  r.returns_rows = !m.returning.empty();
  r.columns = ret_cols;
  auto returned = std::make_unique<Tuplestore>(&res, res.WorkMem());
  uint64_t count = 0;
  Row row;
  while (true) {
    WALREP_ASSIGN_OR_RETURN(bool more, matches.Next(&row));
    if (!more) break;
    access::TupleId tid = TakeTid(row);
    while (true) {
      WALREP_RETURN_IF_ERROR(st.ctx->CheckInterrupts());
      access::ModifyOutcome out;
      Row new_row;
      if (m.kind == Modify::kUpdate) {
        new_row = row;
        st.row = &row;
        for (const auto& [col, e] : m.sets) {
          WALREP_ASSIGN_OR_RETURN(Value v, e->eval(st));
          WALREP_ASSIGN_OR_RETURN(new_row[static_cast<size_t>(col)],
                                  ToColumn(m.table, static_cast<size_t>(col), v, st.fmt));
        }
        bool unique_key_changed = false, any_key_changed = false;
        for (const auto& idx : m.table.indexes) {
          WALREP_ASSIGN_OR_RETURN(bool changed, KeyChanged(m.table, idx, row, new_row));
          any_key_changed |= changed;
          unique_key_changed |= changed && idx.unique;
        }
        // A version whose index keys are all unchanged may be heap-only (HOT): then it gets no
        // index entries; every other new version gets entries in every index.
        WALREP_RETURN_IF_ERROR(
            StoreRow(ex, m.table, new_row, unique_key_changed, [&]() -> Result<access::TupleId> {
              access::TupleId new_tid;
              WALREP_ASSIGN_OR_RETURN(std::string bytes, EncodeRow(m.table, new_row));
              WALREP_ASSIGN_OR_RETURN(out, access::HeapUpdate(env, m.table.rel, tx, tid, bytes,
                                                              &new_tid, !any_key_changed));
              return out.kind == access::ModifyOutcome::kOk && !out.hot ? new_tid
                                                                        : access::TupleId{};
            }));
      } else {
        WALREP_ASSIGN_OR_RETURN(out, access::HeapDelete(env, m.table.rel, tx, tid));
      }
      if (out.kind == access::ModifyOutcome::kOk) {
        count++;
        if (!m.returning.empty()) {
          const Row& src = m.kind == Modify::kUpdate ? new_row : row;
          st.row = &src;
          Row ret;
          for (const auto& e : m.returning) {
            WALREP_ASSIGN_OR_RETURN(Value v, e->eval(st));
            ret.push_back(std::move(v));
          }
          WALREP_RETURN_IF_ERROR(returned->Append(std::move(ret)));
        }
        break;
      }
      if (out.kind != access::ModifyOutcome::kUpdated) break;  // deleted or already ours
      // READ COMMITTED: re-evaluate WHERE on the newest version, as EvalPlanQual does.
      WALREP_ASSIGN_OR_RETURN(
          auto latest, access::HeapFetchLatest(env, m.table.rel, tx, out.next, out.next_xmin));
      if (!latest) break;
      WALREP_ASSIGN_OR_RETURN(row, DecodeRow(m.table, *latest));
      tid = out.next;
      st.row = &row;
      if (m.where) {
        WALREP_ASSIGN_OR_RETURN(Value ok, m.where->eval(st));
        if (ok.is_null() || !ok.as_bool()) break;
      }
    }
  }
  st.row = nullptr;
  if (r.returns_rows) r.rows = StreamOf(TuplestoreIter(std::move(returned)));
  r.tag = fmt::format("{} {}", m.kind == Modify::kUpdate ? "UPDATE" : "DELETE", count);
  return r;
}

}  // namespace

Result<uint64_t> VacuumTable(access::Engine* engine, const access::TxnContext& tx,
                             const TableDef& t, bool autovacuum) {
  std::vector<wal::RelFileNode> indexes, unique;
  for (const auto& idx : t.indexes) {
    indexes.push_back(idx.rel);
    if (idx.unique) unique.push_back(idx.rel);
  }
  return engine->Vacuum(tx, t.rel, indexes, unique, autovacuum);
}

// The typmod of a column type as written (varchar(n), char(n), numeric(p[, s])), PostgreSQL's
// encoding: n + 4, ((p << 16) | s) + 4; -1 when none.
Result<int32_t> ColumnTypmod(int32_t type, const PgQuery__TypeName* tn) {
  std::vector<int64_t> mods;
  for (size_t i = 0; i < tn->n_typmods; i++) {
    const PgQuery__Node* m = tn->typmods[i];
    if (m->node_case != PG_QUERY__NODE__NODE_A_CONST || !m->a_const->ival) {
      return Status::Sql("22023", "type modifiers must be simple constants or identifiers");
    }
    mods.push_back(m->a_const->ival->ival);
  }
  if (type == oid::kVarchar || type == oid::kBpchar) {
    if (mods.empty()) return type == oid::kBpchar ? 1 + 4 : -1;  // char means char(1)
    if (mods[0] < 1) {
      return Status::Sql("22023", fmt::format("length for type {} must be at least 1",
                                              type == oid::kVarchar ? "varchar" : "char"));
    }
    return static_cast<int32_t>(mods[0] + 4);
  }
  if (type == oid::kNumeric && !mods.empty()) {
    int64_t p = mods[0], s = mods.size() > 1 ? mods[1] : 0;
    if (p < 1 || p > 1000) {
      return Status::Sql("22023",
                         fmt::format("NUMERIC precision {} must be between 1 and 1000", p));
    }
    if (s < 0 || s > p) {
      return Status::Sql("22023",
                         fmt::format("NUMERIC scale {} must be between 0 and precision {}", s, p));
    }
    return static_cast<int32_t>(((p << 16) | s) + 4);
  }
  return -1;
}

Result<Value> ToColumnValue(const TableDef& t, size_t i, const Value& v, const FormatOptions& fo) {
  return ToColumn(t, i, v, fo);
}
Status InsertTableRows(Executor& ex, const TableDef& t, const std::vector<Row>& rows,
                       size_t* failed) {
  std::vector<std::string> encoded;
  encoded.reserve(rows.size());
  for (const auto& row : rows) {
    WALREP_ASSIGN_OR_RETURN(std::string bytes, EncodeRow(t, row));
    encoded.push_back(std::move(bytes));
  }
  auto tids = access::HeapMultiInsert(ex.db()->engine->env(), t.rel, ex.txn(), encoded);
  if (!tids.ok()) {
    // Find the row at fault, one at a time (the transaction fails either way).
    for (*failed = 0; *failed < rows.size(); (*failed)++) {
      WALREP_RETURN_IF_ERROR(InsertRow(ex, t, rows[*failed]));
    }
    return tids.TakeStatus();
  }
  for (*failed = 0; *failed < rows.size(); (*failed)++) {
    // A batch is a page of rows, each with its index entries: cancel and statement_timeout
    // are seen within it, not only between batches.
    if (*failed % 64 == 63) WALREP_RETURN_IF_ERROR(ex.resources().ctx()->CheckInterrupts());
    WALREP_RETURN_IF_ERROR(StoreRow(ex, t, rows[*failed], true,
                                    [&]() -> Result<access::TupleId> { return (*tids)[*failed]; }));
  }
  return Status::OK();
}

RowIterPtr TableScanIter(EvalState& st, const TableDef& def, PlanPtr plan) {
  // A page at a time, with the statement's snapshot (a suspended portal keeps it while later
  // statements of its transaction run).
  struct Scan {
    access::TxnContext tx;
    std::unique_ptr<access::HeapScan> scan;
    std::string bytes;
    uint64_t n = 0;
  };
  auto scan = std::make_shared<Scan>();
  const access::TxnContext& cur = st.exec->txn();
  scan->tx.xid = cur.xid;
  scan->tx.cid = cur.cid;
  scan->tx.snapshot = cur.snapshot;
  scan->tx.repeatable_read = cur.repeatable_read;
  scan->scan = std::make_unique<access::HeapScan>(st.exec->db()->engine->env(), def.rel, scan->tx);
  return FunctionIter(std::move(plan), [scan, def, &st](Row* row) -> Result<bool> {
    if (++scan->n % 1024 == 0) WALREP_RETURN_IF_ERROR(st.ctx->CheckInterrupts());
    access::TupleId tid;
    WALREP_ASSIGN_OR_RETURN(bool more, scan->scan->Next(&tid, &scan->bytes));
    if (!more) return false;
    WALREP_ASSIGN_OR_RETURN(*row, DecodeRow(def, scan->bytes));
    return true;
  });
}

Result<const ViewDef*> PrepareTableSource(Executor& ex, CompileState& cs, const std::string& name,
                                          const PgQuery__Node* where, Prepared* p,
                                          RowSourceFn* rows, PlanPtr* plan) {
  WALREP_ASSIGN_OR_RETURN(
      auto t, ex.db()->catalog->GetTable(ex.txn(), name, access::LockMode::kAccessShare));
  if (!t) return static_cast<const ViewDef*>(nullptr);
  WALREP_RETURN_IF_ERROR(CheckReadableInRecovery(*cs.ctx, *t));
  auto view = std::make_shared<ViewDef>();
  view->name = t->name;
  p->owned_views.push_back(view);
  TableDef def = *t;
  if (def.kind == 'S') {
    view->columns = {
        {"last_value", oid::kInt8}, {"log_cnt", oid::kInt8}, {"is_called", oid::kBool}};
    *plan = MakePlan(fmt::format("Seq Scan on {}", def.name));
    PlanPtr scan_plan = *plan;
    *rows = [def, scan_plan](EvalState& st) -> Result<RowIterPtr> {
      WALREP_ASSIGN_OR_RETURN(auto rows, SequenceRows(*st.exec, def));
      return VectorIter(scan_plan, std::move(rows));
    };
    return view.get();
  }
  for (const auto& c : t->columns) view->columns.push_back(ViewColumn{c.name, c.type_oid});
  WALREP_ASSIGN_OR_RETURN(std::optional<IndexPath> path, ChooseIndex(cs, def, where));
  *plan = ScanPlan(def, path);
  PlanPtr scan_plan = *plan;
  *rows = [def, path, scan_plan](EvalState& st) -> Result<RowIterPtr> {
    Executor& ex = *st.exec;
    if (path) {
      std::string prefix;
      WALREP_ASSIGN_OR_RETURN(auto tids, IndexTids(ex, st, def, *path, &prefix));
      return IndexScanIter(st, def, *path, scan_plan, std::move(tids), std::move(prefix));
    }
    return TableScanIter(st, def, scan_plan);
  };
  return view.get();
}

// The last part of each possibly qualified name.
std::vector<std::string> DropStatementNames(const PgQuery__DropStmt* d) {
  std::vector<std::string> names;
  for (size_t i = 0; i < d->n_objects; i++) {
    const PgQuery__Node* o = d->objects[i];
    if (o->node_case == PG_QUERY__NODE__NODE_LIST && o->list->n_items) {
      names.push_back(StringNodeValue(o->list->items[o->list->n_items - 1]));
    }
  }
  return names;
}

namespace {

// DROP INDEX [IF EXISTS] name, ...: the index of a PRIMARY KEY or UNIQUE constraint cannot be
// dropped alone.
Result<std::shared_ptr<Prepared>> PrepareDropIndex(std::shared_ptr<Prepared> p,
                                                   const PgQuery__DropStmt* d) {
  std::vector<std::string> names = DropStatementNames(d);
  bool missing_ok = d->missing_ok;
  p->run = [names, missing_ok](Executor& e, EvalState& st) -> Result<ExecResult> {
    // One catalog read and one rewrite per table: rows written by this command are not
    // visible to it, so the catalog is not read again between the names.
    WALREP_ASSIGN_OR_RETURN(auto tables, e.db()->catalog->ListTables(e.txn()));
    std::set<size_t> changed;
    for (const auto& n : names) {
      bool found = false;
      for (size_t ti = 0; ti < tables.size() && !found; ti++) {
        TableDef& t = tables[ti];
        auto it = std::find_if(t.indexes.begin(), t.indexes.end(),
                               [&](const catalog::IndexDef& i) { return i.name == n; });
        if (it == t.indexes.end()) continue;
        if (it->constraint) {
          return Status::Sql("2BP01",
                             fmt::format("cannot drop index {} because constraint {} on table {} "
                                         "requires it",
                                         n, n, t.name))
              .WithHint(fmt::format("You can drop constraint {} on table {} instead.", n, t.name));
        }
        // As PostgreSQL: the table is locked ACCESS EXCLUSIVE while its index goes.
        WALREP_RETURN_IF_ERROR(access::LockRelation(e.db()->engine->env(), e.txn(),
                                                    catalog::kDatabaseOid, t.oid,
                                                    access::LockMode::kAccessExclusive));
        e.txn().dropped_rels.push_back(it->rel);  // the file goes after commit
        t.indexes.erase(it);
        changed.insert(ti);
        found = true;
      }
      if (found) continue;
      if (!missing_ok) return Status::Sql("42704", fmt::format("index \"{}\" does not exist", n));
      st.ctx->AddNotice("NOTICE", "00000", fmt::format("index \"{}\" does not exist, skipping", n));
    }
    if (!changed.empty()) e.txn().ensure_xid();
    for (size_t ti : changed)
      WALREP_RETURN_IF_ERROR(e.db()->catalog->AlterTable(e.txn(), tables[ti]));
    return TagOnly("DROP INDEX");
  };
  return p;
}

}  // namespace

Result<std::shared_ptr<Prepared>> PrepareTableStatement(Executor& ex, CompileState& cs,
                                                        std::shared_ptr<Prepared> p,
                                                        const PgQuery__Node* node) {
  if (!ex.db()) return std::shared_ptr<Prepared>();
  WALREP_ASSIGN_OR_RETURN(auto seq, PrepareSequenceStatement(p, node));
  if (seq) return seq;
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_CREATE_STMT: {
      const auto* c = node->create_stmt;
      if (c->n_inh_relations || c->partspec || c->of_typename) {
        return Status::NotSupported("inheritance, partitioning and typed tables are not supported");
      }
      TableDef def;
      def.name = RelName(c->relation);
      const char* rp = c->relation->relpersistence;
      def.persistence = rp && *rp ? *rp : 'p';
      if (c->relation->schemaname && std::string(c->relation->schemaname) == "pg_temp") {
        def.persistence = 't';
        def.name = c->relation->relname;
      }
      auto on_commit = c->oncommit;
      if ((on_commit == PG_QUERY__ON_COMMIT_ACTION__ONCOMMIT_DELETE_ROWS ||
           on_commit == PG_QUERY__ON_COMMIT_ACTION__ONCOMMIT_DROP) &&
          def.persistence != 't') {
        return Status::Sql("42P16", "ON COMMIT can only be used on temporary tables");
      }
      std::vector<std::pair<std::string, std::vector<std::string>>> uniques;  // name, columns
      struct Serial {
        std::string sequence, column;
        int32_t type;
      };
      std::vector<Serial> serials;
      auto add_pk = [&](PgQuery__Node** keys, size_t n) -> Status {
        if (!def.primary_key.empty()) {
          return Status::Sql("42P16", fmt::format("multiple primary keys for table \"{}\" are not "
                                                  "allowed",
                                                  def.name));
        }
        for (size_t i = 0; i < n; i++) def.primary_key.push_back(StringNodeValue(keys[i]));
        return Status::OK();
      };
      for (size_t i = 0; i < c->n_table_elts; i++) {
        const PgQuery__Node* e = c->table_elts[i];
        if (e->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF) {
          const auto* cd = e->column_def;
          ColumnDef col;
          col.name = cd->colname;
          std::string tname;
          for (size_t k = 0; k < cd->type_name->n_names; k++) {
            std::string part = StringNodeValue(cd->type_name->names[k]);
            if (part == "pg_catalog") continue;
            tname += part;
          }
          // serial: an integer column whose default draws from a sequence it owns.
          static const std::map<std::string, int32_t> kSerials = {
              {"smallserial", oid::kInt2}, {"serial2", oid::kInt2},   {"serial", oid::kInt4},
              {"serial4", oid::kInt4},     {"bigserial", oid::kInt8}, {"serial8", oid::kInt8}};
          if (auto it = kSerials.find(tname); it != kSerials.end()) {
            col.type_oid = it->second;
            std::string seq = def.name + "_" + col.name + "_seq";
            col.default_expr = fmt::format("nextval('{}'::regclass)", seq);
            serials.push_back({seq, col.name, it->second});
          } else {
            auto t = LookupTypeName(tname);
            if (!t.ok()) {
              return Status::Sql("42704", fmt::format("type \"{}\" does not exist", tname))
                  .WithPosition(cd->type_name->location + 1);
            }
            col.type_oid = *t;
          }
          WALREP_ASSIGN_OR_RETURN(col.typmod, ColumnTypmod(col.type_oid, cd->type_name));
          col.not_null = cd->is_not_null || !col.default_expr.empty();
          for (size_t k = 0; k < cd->n_constraints; k++) {
            const auto* con = cd->constraints[k]->constraint;
            switch (con->contype) {
              case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL:
                col.not_null = true;
                break;
              case PG_QUERY__CONSTR_TYPE__CONSTR_NULL:
                col.not_null = false;
                break;
              case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT: {
                WALREP_ASSIGN_OR_RETURN(col.default_expr, ExpressionText(con->raw_expr));
                break;
              }
              case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
                col.not_null = true;
                if (!def.primary_key.empty()) {
                  return Status::Sql("42P16", fmt::format("multiple primary keys for table \"{}\" "
                                                          "are not allowed",
                                                          def.name));
                }
                def.primary_key.push_back(col.name);
                break;
              case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
                uniques.push_back({ConstraintName(cd->constraints[k]->constraint), {col.name}});
                break;
              case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
              case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
                return Status::NotSupported("CHECK and FOREIGN KEY constraints are not supported");
              default:
                break;
            }
          }
          if (def.column_index(col.name) >= 0) {
            return Status::Sql("42701",
                               fmt::format("column \"{}\" specified more than once", col.name));
          }
          def.columns.push_back(col);
        } else if (e->node_case == PG_QUERY__NODE__NODE_CONSTRAINT) {
          const auto* con = e->constraint;
          if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) {
            WALREP_RETURN_IF_ERROR(add_pk(con->keys, con->n_keys));
          } else if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE) {
            std::vector<std::string> cols;
            for (size_t i = 0; i < con->n_keys; i++) cols.push_back(StringNodeValue(con->keys[i]));
            uniques.push_back({ConstraintName(con), cols});
          } else {
            return Status::NotSupported(
                "only PRIMARY KEY and UNIQUE table constraints are supported");
          }
        } else {
          return Status::NotSupported("this table element is not supported");
        }
      }
      for (const auto& k : def.primary_key) {
        int i = def.column_index(k);
        if (i < 0) {
          return Status::Sql("42703", fmt::format("column \"{}\" named in key does not exist", k));
        }
        def.columns[static_cast<size_t>(i)].not_null = true;
      }
      if (!def.primary_key.empty()) {
        def.indexes.push_back(
            catalog::IndexDef{def.name + "_pkey", {}, def.primary_key, true, true, 0, 0});
      }
      for (auto& [name, cols] : uniques) {  // UNIQUE: an index named <table>_<cols>_key
        for (const auto& k : cols) {
          if (def.column_index(k) < 0) {
            return Status::Sql("42703",
                               fmt::format("column \"{}\" named in key does not exist", k));
          }
        }
        if (name.empty()) {
          name = def.name;
          for (const auto& k : cols) name += "_" + k;
          name += "_key";
        }
        def.indexes.push_back(catalog::IndexDef{name, {}, cols, true, true, 0, 0});
      }
      for (const auto& idx : def.indexes) WALREP_RETURN_IF_ERROR(CheckIndexable(def, idx));
      bool if_not_exists = c->if_not_exists;
      p->run = [def, if_not_exists, serials, on_commit](Executor& e,
                                                        EvalState& st) -> Result<ExecResult> {
        WALREP_ASSIGN_OR_RETURN(bool taken,
                                RelationNameTaken(e, st, def.name, if_not_exists, def.persistence));
        if (taken) return TagOnly("CREATE TABLE");
        e.txn().ensure_xid();
        TableDef d = def;
        if (d.persistence == 't') {
          d.temp_owner = e.txn().temp_owner;
          e.NoteTemporaryTable();
        }
        WALREP_ASSIGN_OR_RETURN(TableDef created, e.db()->catalog->CreateTable(e.txn(), d));
        if (on_commit == PG_QUERY__ON_COMMIT_ACTION__ONCOMMIT_DELETE_ROWS) {
          e.SetOnCommit(created.oid, Executor::OnCommit::kDeleteRows);
        } else if (on_commit == PG_QUERY__ON_COMMIT_ACTION__ONCOMMIT_DROP) {
          e.SetOnCommit(created.oid, Executor::OnCommit::kDrop);
        }
        for (const auto& sr : serials) {
          WALREP_RETURN_IF_ERROR(
              RelationNameTaken(e, st, sr.sequence, false, d.persistence).status());
          TableDef seq;
          seq.name = sr.sequence;
          // A temporary table's sequences are temporary too (an unlogged one's stay logged).
          if (d.persistence == 't') {
            seq.persistence = 't';
            seq.temp_owner = d.temp_owner;
          }
          WALREP_ASSIGN_OR_RETURN(seq.sequence, SequenceFromOptions(nullptr, 0, nullptr, sr.type));
          WALREP_RETURN_IF_ERROR(CreateSequence(e, seq, &created, sr.column).status());
        }
        return TagOnly("CREATE TABLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_INDEX_STMT: {
      const auto* is = node->index_stmt;
      if (is->where_clause) return Status::NotSupported("partial indexes are not supported");
      if (is->access_method && *is->access_method && std::string(is->access_method) != "btree") {
        return Status::NotSupported(
            fmt::format("access method \"{}\" is not supported", is->access_method));
      }
      if (is->n_index_including_params) {
        return Status::NotSupported("INCLUDE columns are not supported");
      }
      catalog::IndexDef idx;
      idx.unique = is->unique;
      for (size_t i = 0; i < is->n_index_params; i++) {
        const auto* el = is->index_params[i]->index_elem;
        if (!el->name || !*el->name) {
          return Status::NotSupported("indexes on expressions are not supported");
        }
        idx.columns.push_back(el->name);
      }
      std::string table = is->relation->relname;
      idx.name = is->idxname && *is->idxname ? std::string(is->idxname) : std::string();
      if (idx.name.empty()) {  // PostgreSQL's default: table_col1_col2_idx (_key when unique)
        idx.name = table;
        for (const auto& c : idx.columns) idx.name += "_" + c;
        idx.name += idx.unique ? "_key" : "_idx";
      }
      bool if_not_exists = is->if_not_exists;
      int location = is->relation->location;
      p->run = [idx, table, if_not_exists, location](Executor& e,
                                                     EvalState& st) -> Result<ExecResult> {
        // ShareLock: writers wait until the index is built from every row (and readers go on).
        WALREP_ASSIGN_OR_RETURN(TableDef def,
                                LookupTable(e, table, location, access::LockMode::kShare));
        WALREP_RETURN_IF_ERROR(CheckIndexable(def, idx));
        WALREP_ASSIGN_OR_RETURN(bool taken, RelationNameTaken(e, st, idx.name, if_not_exists));
        if (taken) return TagOnly("CREATE INDEX");
        WALREP_ASSIGN_OR_RETURN(auto entries, IndexEntries(e, def, idx));
        e.txn().ensure_xid();
        WALREP_RETURN_IF_ERROR(
            e.db()->catalog->AddIndex(e.txn(), def, idx, std::move(entries)).status());
        return TagOnly("CREATE INDEX");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_DROP_STMT: {
      const auto* d = node->drop_stmt;
      if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX) return PrepareDropIndex(p, d);
      if (d->remove_type != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE) return std::shared_ptr<Prepared>();
      std::vector<std::string> names = DropStatementNames(d);
      bool missing_ok = d->missing_ok;
      p->run = [names, missing_ok](Executor& e, EvalState& st) -> Result<ExecResult> {
        for (const auto& n : names) {
          WALREP_ASSIGN_OR_RETURN(
              auto t, e.db()->catalog->GetTable(e.txn(), n, access::LockMode::kAccessExclusive));
          if (!t) {
            if (missing_ok) {
              st.ctx->AddNotice("NOTICE", "00000",
                                fmt::format("table \"{}\" does not exist, skipping", n));
              continue;
            }
            return Status::Sql("42P01", fmt::format("table \"{}\" does not exist", n));
          }
          if (t->kind != 'r') {
            return Status::Sql("42809", fmt::format("\"{}\" is not a table", n))
                .WithHint("Use DROP SEQUENCE to remove a sequence.");
          }
          e.txn().ensure_xid();
          WALREP_RETURN_IF_ERROR(e.db()->catalog->DropTable(e.txn(), *t));
          WALREP_RETURN_IF_ERROR(DropOwnedSequences(e, *t));
        }
        return TagOnly("DROP TABLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_LOCK_STMT: {
      const auto* l = node->lock_stmt;
      std::vector<std::string> names;
      for (size_t i = 0; i < l->n_relations; i++) {
        names.push_back(l->relations[i]->range_var->relname);
      }
      if (l->mode < 1 || l->mode >= access::kNumLockModes) {
        return Status::Sql("22023", "unrecognized lock mode");
      }
      auto mode = static_cast<access::LockMode>(l->mode);
      bool nowait = l->nowait;
      p->run = [names, mode, nowait](Executor& e, EvalState&) -> Result<ExecResult> {
        // The lock would be released at once: surely a mistake, as PostgreSQL says.
        if (e.txn_status() != TxnStatus::kInBlock) {
          return Status::Sql("25P01", "LOCK TABLE can only be used in transaction blocks");
        }
        catalog::Catalog& cat = *e.db()->catalog;
        for (const auto& n : names) {
          if (nowait) {
            WALREP_ASSIGN_OR_RETURN(auto t, cat.GetTable(e.txn(), n, access::LockMode::kNoLock));
            if (!t) return NoSuchTable(n, -1);
            Status st = access::LockRelation(e.db()->engine->env(), e.txn(), catalog::kDatabaseOid,
                                             t->oid, mode, /*nowait=*/true);
            if (st.code() == Status::Code::kRetry) {
              return Status::Sql("55P03",
                                 fmt::format("could not obtain lock on relation \"{}\"", n));
            }
            WALREP_RETURN_IF_ERROR(st);
          }
          // Locks (unless NOWAIT took it already) and checks the table is still there.
          WALREP_ASSIGN_OR_RETURN(auto t, cat.GetTable(e.txn(), n, mode));
          if (!t) return NoSuchTable(n, -1);
          if (t->kind != 'r') return Status::Sql("42809", fmt::format("\"{}\" is not a table", n));
        }
        return TagOnly("LOCK TABLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT: {
      const auto* t = node->truncate_stmt;
      std::vector<std::string> names;
      for (size_t i = 0; i < t->n_relations; i++)
        names.push_back(t->relations[i]->range_var->relname);
      p->run = [names](Executor& e, EvalState&) -> Result<ExecResult> {
        for (const auto& n : names) {
          WALREP_ASSIGN_OR_RETURN(TableDef def,
                                  LookupTable(e, n, -1, access::LockMode::kAccessExclusive));
          e.txn().ensure_xid();
          WALREP_RETURN_IF_ERROR(e.db()->catalog->NewRelationFile(e.txn(), def).status());
        }
        return TagOnly("TRUNCATE TABLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT: {
      const auto* a = node->alter_table_stmt;
      bool owner_only = a->n_cmds > 0;
      for (size_t i = 0; i < a->n_cmds; i++) {
        owner_only &=
            a->cmds[i]->alter_table_cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_ChangeOwner;
      }
      if (a->objtype != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE &&
          !(owner_only && a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE)) {
        return std::shared_ptr<Prepared>();
      }
      std::string name = RelName(a->relation);
      struct AddedColumn {
        ColumnDef col;
        ExprPtr default_value;  // compiled; null: none
        bool per_row = false;   // volatile: evaluated for each existing row (a rewrite)
      };
      std::vector<AddedColumn> add_cols;
      std::vector<std::string> pk;
      std::string pk_name;
      std::vector<catalog::IndexDef> add_uniques;
      std::vector<std::pair<std::string, std::optional<std::string>>> set_defaults;
      std::optional<std::string> new_owner;
      for (size_t i = 0; i < a->n_cmds; i++) {
        const auto* cmd = a->cmds[i]->alter_table_cmd;
        if (cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn) {
          const auto* cd = cmd->def->column_def;
          std::string tname;
          for (size_t k = 0; k < cd->type_name->n_names; k++) {
            std::string part = StringNodeValue(cd->type_name->names[k]);
            if (part != "pg_catalog") tname += part;
          }
          if (tname.find("serial") != std::string::npos) {
            return Status::NotSupported(
                "ADD COLUMN of a serial column (which rewrites the table) is not supported");
          }
          auto type = LookupTypeName(tname);
          if (!type.ok()) {
            return Status::Sql("42704", fmt::format("type \"{}\" does not exist", tname))
                .WithPosition(cd->type_name->location + 1);
          }
          ColumnDef col;
          col.name = cd->colname;
          col.type_oid = *type;
          WALREP_ASSIGN_OR_RETURN(col.typmod, ColumnTypmod(col.type_oid, cd->type_name));
          col.not_null = cd->is_not_null;
          for (size_t k = 0; k < cd->n_constraints; k++) {
            const auto* con = cd->constraints[k]->constraint;
            if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL) {
              col.not_null = true;
            } else if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT) {
              WALREP_ASSIGN_OR_RETURN(col.default_expr, ExpressionText(con->raw_expr));
            } else if (con->contype != PG_QUERY__CONSTR_TYPE__CONSTR_NULL) {
              return Status::NotSupported(
                  "constraints other than NOT NULL and DEFAULT in ADD COLUMN are not supported");
            }
          }
          ExprPtr def_expr;
          bool per_row = false;
          if (!col.default_expr.empty()) {
            // Existing rows get the default's value at ALTER time, as PostgreSQL's "missing
            // value"; a volatile default gets a value per row, as PostgreSQL's table rewrite.
            std::string lower = ToLower(col.default_expr);
            for (const char* f :
                 {"nextval(", "random(", "clock_timestamp(", "timeofday(", "gen_random_uuid("}) {
              per_row |= lower.find(f) != std::string::npos;
            }
            const Scope* saved = cs.scope;
            cs.scope = nullptr;
            auto compiled = CompileDefault(cs, col.default_expr);
            cs.scope = saved;
            if (!compiled.ok()) return compiled.TakeStatus();
            WALREP_ASSIGN_OR_RETURN(def_expr, Coerce(cs, *compiled, col.type_oid, true));
          }
          add_cols.push_back({col, def_expr, per_row});
        } else if (cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint &&
                   cmd->def->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) {
          const auto* con = cmd->def->constraint;
          for (size_t k = 0; k < con->n_keys; k++) pk.push_back(StringNodeValue(con->keys[k]));
          pk_name = ConstraintName(con);
        } else if (cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint &&
                   cmd->def->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE) {
          // ADD [CONSTRAINT name] UNIQUE (cols): a unique index that belongs to the constraint.
          const auto* con = cmd->def->constraint;
          catalog::IndexDef idx{ConstraintName(con), {}, {}, true, true, 0, 0};
          for (size_t k = 0; k < con->n_keys; k++) {
            idx.columns.push_back(StringNodeValue(con->keys[k]));
          }
          if (idx.name.empty()) {
            idx.name = name;
            for (const auto& k : idx.columns) idx.name += "_" + k;
            idx.name += "_key";
          }
          add_uniques.push_back(idx);
        } else if (cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_ColumnDefault) {
          // ALTER COLUMN c SET DEFAULT expr | DROP DEFAULT: checked against the column's type
          // when it runs; kept as text, like CREATE TABLE's defaults.
          std::optional<std::string> text;
          if (cmd->def) {
            WALREP_ASSIGN_OR_RETURN(text, ExpressionText(cmd->def));
            WALREP_RETURN_IF_ERROR(CompileDefault(cs, *text).status());
          }
          set_defaults.emplace_back(cmd->name, text);
        } else if (cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_ChangeOwner) {
          new_owner = cmd->newowner && cmd->newowner->rolename ? cmd->newowner->rolename : "";
        } else {
          return Status::NotSupported("this ALTER TABLE action is not supported");
        }
      }
      std::string tag =
          a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE ? "ALTER SEQUENCE" : "ALTER TABLE";
      p->run = [name, add_cols, pk, pk_name, add_uniques, set_defaults, new_owner, owner_only, tag](
                   Executor& e, EvalState& st) -> Result<ExecResult> {
        TableDef def;
        if (owner_only) {  // OWNER TO applies to sequences too (ALTER TABLE seq OWNER TO ...)
          WALREP_ASSIGN_OR_RETURN(
              auto t, e.db()->catalog->GetTable(e.txn(), name, access::LockMode::kAccessExclusive));
          if (!t) return NoSuchTable(name, -1);
          def = *t;
        } else {
          WALREP_ASSIGN_OR_RETURN(def,
                                  LookupTable(e, name, -1, access::LockMode::kAccessExclusive));
        }
        if (new_owner) {
          // walrep keeps no owners: every relation belongs to the superuser init created.
          WALREP_ASSIGN_OR_RETURN(auto roles, st.ctx->roles().List(e.txn()));
          bool exists = false, bootstrap = false;
          for (const auto& r : roles) {
            if (r.name != *new_owner) continue;
            exists = true;
            bootstrap = r.oid == 10;
          }
          if (!exists) {
            return Status::Sql("42704", fmt::format("role \"{}\" does not exist", *new_owner));
          }
          if (!bootstrap) {
            return Status::NotSupported(
                "walrep relations are owned by the superuser that walrepctl init created");
          }
          if (owner_only) return TagOnly(tag);
        }
        for (const auto& [col, text] : set_defaults) {
          int ci = def.column_index(col);
          if (ci < 0) {
            return Status::Sql(
                "42703", fmt::format("column \"{}\" of relation \"{}\" does not exist", col, name));
          }
          def.columns[static_cast<size_t>(ci)].default_expr = text.value_or("");
        }
        bool has_rows = false;  // NOT NULL without a default needs an empty table
        if (!add_cols.empty()) {
          access::HeapScan scan(e.db()->engine->env(), def.rel, e.txn());
          access::TupleId tid;
          std::string row;
          WALREP_ASSIGN_OR_RETURN(has_rows, scan.Next(&tid, &row));
        }
        std::vector<std::pair<size_t, ExprPtr>> rewrite;  // per-row defaults to fill in
        for (const auto& [c, value, per_row] : add_cols) {
          if (def.column_index(c.name) >= 0) {
            return Status::Sql(
                "42701",
                fmt::format("column \"{}\" of relation \"{}\" already exists", c.name, name));
          }
          def.columns.push_back(c);
          size_t ci = def.columns.size() - 1;
          if (per_row) {
            rewrite.emplace_back(ci, value);
            continue;
          }
          if (value) {
            WALREP_ASSIGN_OR_RETURN(Value v, value->eval(st));
            if (!v.is_null()) {  // a NULL default is no default (the check below applies)
              WALREP_ASSIGN_OR_RETURN(v, ToColumnValue(def, ci, v, st.fmt));
              def.columns[ci].missing = ToText(v, FormatOptions{});
            }
          }
          if (c.not_null && !def.columns[ci].missing && has_rows) {
            return Status::Sql("23502", fmt::format("column \"{}\" of relation \"{}\" contains "
                                                    "null values",
                                                    c.name, name));
          }
        }
        if (!rewrite.empty() && has_rows) {
          if (!pk.empty()) {
            return Status::NotSupported(
                "ADD PRIMARY KEY together with ADD COLUMN with a volatile default is not "
                "supported");
          }
          WALREP_RETURN_IF_ERROR(RewriteWithDefaults(e, st, def, rewrite));
        }
        if (!pk.empty()) {
          if (!def.primary_key.empty()) {
            return Status::Sql("42P16",
                               fmt::format("multiple primary keys for table \"{}\" are not "
                                           "allowed",
                                           name));
          }
          for (const auto& k : pk) {
            int i = def.column_index(k);
            if (i < 0)
              return Status::Sql(
                  "42703", fmt::format("column \"{}\" of relation \"{}\" does not exist", k, name));
            def.columns[static_cast<size_t>(i)].not_null = true;
          }
          def.primary_key = pk;
          // Existing rows must already satisfy the key; they become the index's entries.
          catalog::IndexDef pkey{
              pk_name.empty() ? name + "_pkey" : pk_name, {}, pk, true, true, 0, 0};
          WALREP_RETURN_IF_ERROR(CheckIndexable(def, pkey));
          WALREP_ASSIGN_OR_RETURN(
              auto entries, IndexEntries(e, def, pkey, [&](const Row& row) -> Status {
                for (const auto& k : pk) {
                  if (row[static_cast<size_t>(def.column_index(k))].is_null()) {
                    return Status::Sql(
                        "23502",
                        fmt::format("column \"{}\" of relation \"{}\" contains null values", k,
                                    name));
                  }
                }
                return Status::OK();
              }));
          e.txn().ensure_xid();
          WALREP_ASSIGN_OR_RETURN(
              def, e.db()->catalog->AddIndex(e.txn(), def, pkey, std::move(entries)));
        } else {
          e.txn().ensure_xid();
          WALREP_RETURN_IF_ERROR(e.db()->catalog->AlterTable(e.txn(), def));
        }
        for (const auto& idx : add_uniques) {
          for (const auto& k : idx.columns) {
            if (def.column_index(k) < 0) {
              return Status::Sql("42703",
                                 fmt::format("column \"{}\" named in key does not exist", k));
            }
          }
          WALREP_ASSIGN_OR_RETURN(bool taken, RelationNameTaken(e, st, idx.name, false));
          (void)taken;
          WALREP_RETURN_IF_ERROR(CheckIndexable(def, idx));
          WALREP_ASSIGN_OR_RETURN(auto entries, IndexEntries(e, def, idx));
          WALREP_ASSIGN_OR_RETURN(def,
                                  e.db()->catalog->AddIndex(e.txn(), def, idx, std::move(entries)));
        }
        return TagOnly("ALTER TABLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_VACUUM_STMT: {
      const auto* v = node->vacuum_stmt;
      std::vector<std::string> names;
      for (size_t i = 0; i < v->n_rels; i++) {
        names.push_back(v->rels[i]->vacuum_relation->relation->relname);
      }
      bool is_vacuum = v->is_vacuumcmd;
      p->run = [names, is_vacuum](Executor& e, EvalState&) -> Result<ExecResult> {
        if (e.txn_status() == TxnStatus::kInBlock) {
          return Status::Sql("25001", fmt::format("{} cannot run inside a transaction block",
                                                  is_vacuum ? "VACUUM" : "ANALYZE"));
        }
        if (is_vacuum) {
          std::vector<TableDef> tables;
          // The system catalog: all of it in a database-wide VACUUM, as in PostgreSQL.
          std::vector<wal::RelFileNode> system;
          if (names.empty()) {
            for (const auto& sys : catalog::kSystemRelations) system.push_back(sys.rel);
            WALREP_ASSIGN_OR_RETURN(auto all, e.db()->catalog->ListTables(e.txn()));
            for (const auto& t : all) {
              if (t.kind != 'r') continue;
              // Gone since the list was read: nothing to vacuum.
              WALREP_ASSIGN_OR_RETURN(
                  auto locked, e.db()->catalog->GetTable(e.txn(), t.name,
                                                         access::LockMode::kShareUpdateExclusive));
              if (locked && locked->kind == 'r') tables.push_back(*locked);
            }
          } else {
            for (const auto& n : names) {
              if (const catalog::SystemRelation* sys = catalog::FindSystemRelation(n)) {
                system.push_back(sys->rel);
                continue;
              }
              WALREP_ASSIGN_OR_RETURN(
                  TableDef t, LookupTable(e, n, -1, access::LockMode::kShareUpdateExclusive));
              tables.push_back(t);
            }
          }
          for (const auto& rel : system) {
            WALREP_RETURN_IF_ERROR(e.db()->engine->Vacuum(e.txn(), rel, {}, {}, false).status());
          }
          for (const auto& t : tables) {
            WALREP_RETURN_IF_ERROR(VacuumTable(e.db()->engine, e.txn(), t).status());
          }
        }
        return TagOnly(is_vacuum ? "VACUUM" : "ANALYZE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_INSERT_STMT: {
      const auto* ins = node->insert_stmt;
      if (ins->on_conflict_clause || ins->with_clause) {
        return Status::NotSupported("ON CONFLICT and WITH in INSERT are not supported");
      }
      WALREP_ASSIGN_OR_RETURN(TableDef t,
                              LookupTable(ex, RelName(ins->relation), ins->relation->location,
                                          access::LockMode::kRowExclusive));
      std::vector<int> target_cols;
      if (ins->n_cols == 0) {
        for (size_t i = 0; i < t.columns.size(); i++) target_cols.push_back(static_cast<int>(i));
      } else {
        for (size_t i = 0; i < ins->n_cols; i++) {
          const auto* rt = ins->cols[i]->res_target;
          int idx = t.column_index(rt->name);
          if (idx < 0) {
            return Status::Sql("42703",
                               fmt::format("column \"{}\" of relation \"{}\" does not exist",
                                           rt->name, t.name))
                .WithPosition(rt->location + 1);
          }
          target_cols.push_back(idx);
        }
      }
      const auto* sel = ins->select_stmt ? ins->select_stmt->select_stmt : nullptr;
      std::vector<std::vector<ExprPtr>> rows;
      std::shared_ptr<Prepared> query;         // INSERT ... SELECT
      auto current = std::make_shared<Row>();  // its row being inserted
      if (sel && sel->n_values_lists > 0) {
        for (size_t r = 0; r < sel->n_values_lists; r++) {
          const auto* lst = sel->values_lists[r]->list;
          if (r > 0 && lst->n_items != sel->values_lists[0]->list->n_items) {
            return Status::Sql("42601", "VALUES lists must all be the same length");
          }
          if (ins->n_cols == 0 && lst->n_items < target_cols.size() && r == 0) {
            // Without a column list, values fill the leading columns; the rest get defaults.
            target_cols.resize(lst->n_items);
          }
          if (lst->n_items != target_cols.size()) {
            return Status::Sql("42601", lst->n_items > target_cols.size()
                                            ? "INSERT has more expressions than target columns"
                                            : "INSERT has more target columns than expressions");
          }
          std::vector<ExprPtr> vals;
          for (size_t i = 0; i < lst->n_items; i++) {
            if (lst->items[i]->node_case == PG_QUERY__NODE__NODE_SET_TO_DEFAULT) {
              vals.push_back(nullptr);
              continue;
            }
            WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, lst->items[i]));
            int32_t col_type = t.columns[static_cast<size_t>(target_cols[i])].type_oid;
            WALREP_ASSIGN_OR_RETURN(e, Coerce(cs, e, col_type, true));
            vals.push_back(e);
          }
          rows.push_back(std::move(vals));
        }
      } else if (!sel) {
        rows.emplace_back();  // DEFAULT VALUES
        target_cols.clear();
      } else {
        // INSERT ... SELECT: the query's columns feed the target columns through assignment
        // casts; each result row is placed in `current` before the row is built.
        WALREP_ASSIGN_OR_RETURN(query, PrepareSubSelect(ex, cs, sel));
        size_t n = query->cols.size();
        if (ins->n_cols == 0 && n < target_cols.size()) target_cols.resize(n);
        if (n != target_cols.size()) {
          return Status::Sql("42601", n > target_cols.size()
                                          ? "INSERT has more expressions than target columns"
                                          : "INSERT has more target columns than expressions");
        }
        std::vector<ExprPtr> vals;
        for (size_t i = 0; i < n; i++) {
          auto slot = std::make_shared<Expr>();
          slot->type = query->cols[i].type;
          slot->eval = [current, i](EvalState&) -> Result<Value> { return (*current)[i]; };
          int32_t col_type = t.columns[static_cast<size_t>(target_cols[i])].type_oid;
          WALREP_ASSIGN_OR_RETURN(ExprPtr e, Coerce(cs, slot, col_type, true));
          vals.push_back(e);
        }
        rows.push_back(std::move(vals));
      }
      p->plan = MakePlan(fmt::format("Insert on {}", t.name),
                         {query             ? query->plan
                          : rows.size() > 1 ? MakePlan("Values Scan on \"*VALUES*\"")
                                            : MakePlan("Result")});
      WALREP_ASSIGN_OR_RETURN(auto defaults, CompileDefaults(cs, t));
      Scope scope = TableScope(t, ins->relation);
      auto scope_ptr = std::make_shared<Scope>(scope);
      cs.scope = scope_ptr.get();
      WALREP_ASSIGN_OR_RETURN(auto ret,
                              CompileReturning(cs, t, ins->returning_list, ins->n_returning_list));
      p->rows = !ret.first.empty();
      p->cols = ret.second;
      auto cols = p->cols;
      p->run = [t, target_cols, rows, defaults, ret, cols, scope_ptr, query, current](
                   Executor& e, EvalState& st) -> Result<ExecResult> {
        ExecResult r;
        r.returns_rows = !ret.first.empty();
        r.columns = cols;
        ExecResources& res = e.resources();
        auto returned = std::make_unique<Tuplestore>(&res, res.WorkMem());
        uint64_t count = 0;
        // RETURNING values of an inserted row, kept in a tuplestore.
        auto returning = [&](const Row& row) -> Status {
          count++;
          if (!r.returns_rows) return Status::OK();
          st.row = &row;
          Row out;
          for (const auto& x : ret.first) {
            WALREP_ASSIGN_OR_RETURN(Value v, x->eval(st));
            out.push_back(std::move(v));
          }
          st.row = nullptr;
          return returned->Append(std::move(out));
        };
        auto insert = [&](const std::vector<ExprPtr>& vals) -> Status {
          WALREP_ASSIGN_OR_RETURN(Row row, BuildRow(st, t, defaults, target_cols, vals));
          WALREP_RETURN_IF_ERROR(InsertRow(e, t, row));
          return returning(row);
        };
        if (query) {
          // The query's rows stream into the table, a page-filling batch at a time (one WAL
          // record per page, as COPY); its scans never see the rows inserted here (they carry
          // this command's id, which its snapshot does not see).
          WALREP_ASSIGN_OR_RETURN(RowIterPtr source, query->source(st));
          std::vector<Row> batch;
          auto flush = [&]() -> Status {
            size_t failed = 0;
            WALREP_RETURN_IF_ERROR(InsertTableRows(e, t, batch, &failed));
            batch.clear();
            return Status::OK();
          };
          Row row;
          while (true) {
            WALREP_ASSIGN_OR_RETURN(bool more, source->Next(&row));
            if (!more) break;
            if (count % 1024 == 0) WALREP_RETURN_IF_ERROR(st.ctx->CheckInterrupts());
            st.row = nullptr;
            *current = std::move(row);
            WALREP_ASSIGN_OR_RETURN(Row built,
                                    BuildRow(st, t, defaults, target_cols, rows.front()));
            WALREP_RETURN_IF_ERROR(returning(built));
            batch.push_back(std::move(built));
            if (batch.size() >= 1000) WALREP_RETURN_IF_ERROR(flush());
          }
          if (!batch.empty()) WALREP_RETURN_IF_ERROR(flush());
        } else {
          for (const auto& vals : rows) WALREP_RETURN_IF_ERROR(insert(vals));
        }
        if (r.returns_rows) r.rows = StreamOf(TuplestoreIter(std::move(returned)));
        r.tag = fmt::format("INSERT 0 {}", count);
        return r;
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT: {
      bool update = node->node_case == PG_QUERY__NODE__NODE_UPDATE_STMT;
      const PgQuery__RangeVar* rv =
          update ? node->update_stmt->relation : node->delete_stmt->relation;
      if ((update && (node->update_stmt->n_from_clause || node->update_stmt->with_clause)) ||
          (!update && (node->delete_stmt->n_using_clause || node->delete_stmt->with_clause))) {
        return Status::NotSupported("FROM, USING and WITH in UPDATE/DELETE are not supported");
      }
      Modify m;
      m.kind = update ? Modify::kUpdate : Modify::kDelete;
      WALREP_ASSIGN_OR_RETURN(
          m.table, LookupTable(ex, RelName(rv), rv->location, access::LockMode::kRowExclusive));
      auto scope = std::make_shared<Scope>(TableScope(m.table, rv));
      cs.scope = scope.get();
      const PgQuery__Node* where =
          update ? node->update_stmt->where_clause : node->delete_stmt->where_clause;
      if (where) {
        WALREP_ASSIGN_OR_RETURN(m.where, CompileExpr(cs, where));
        WALREP_ASSIGN_OR_RETURN(m.where, Coerce(cs, m.where, oid::kBool, false));
        WALREP_ASSIGN_OR_RETURN(m.path, ChooseIndex(cs, m.table, where));
      }
      p->plan = MakePlan(fmt::format("{} on {}", update ? "Update" : "Delete", m.table.name),
                         {ScanPlan(m.table, m.path)});
      if (update) {
        for (size_t i = 0; i < node->update_stmt->n_target_list; i++) {
          const auto* rt = node->update_stmt->target_list[i]->res_target;
          int idx = m.table.column_index(rt->name);
          if (idx < 0) {
            return Status::Sql("42703",
                               fmt::format("column \"{}\" of relation \"{}\" does not exist",
                                           rt->name, m.table.name))
                .WithPosition(rt->location + 1);
          }
          ExprPtr e;
          if (rt->val->node_case == PG_QUERY__NODE__NODE_SET_TO_DEFAULT) {
            WALREP_ASSIGN_OR_RETURN(auto defaults, CompileDefaults(cs, m.table));
            e = defaults[static_cast<size_t>(idx)] ? defaults[static_cast<size_t>(idx)]
                                                   : ConstExpr(Value::Null(oid::kUnknown));
          } else {
            WALREP_ASSIGN_OR_RETURN(e, CompileExpr(cs, rt->val));
          }
          WALREP_ASSIGN_OR_RETURN(
              e, Coerce(cs, e, m.table.columns[static_cast<size_t>(idx)].type_oid, true));
          m.sets.emplace_back(idx, e);
        }
      }
      PgQuery__Node** rl =
          update ? node->update_stmt->returning_list : node->delete_stmt->returning_list;
      size_t rn =
          update ? node->update_stmt->n_returning_list : node->delete_stmt->n_returning_list;
      WALREP_ASSIGN_OR_RETURN(auto ret, CompileReturning(cs, m.table, rl, rn));
      m.returning = ret.first;
      p->rows = !ret.first.empty();
      p->cols = ret.second;
      auto cols = p->cols;
      p->run = [m, cols, scope](Executor& e, EvalState& st) -> Result<ExecResult> {
        return RunModify(e, st, m, cols);
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_COPY_STMT:
      return PrepareCopy(ex, p, node->copy_stmt);
    default:
      return std::shared_ptr<Prepared>();
  }
}

}  // namespace walrep::sql
