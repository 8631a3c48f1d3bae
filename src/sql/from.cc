// walrep: the FROM clause — tables, system views, table functions and joins as row sources.
//
// Joins are nested loops over materialized inputs; when the join condition has equalities
// between a column of each side (ON a.x = b.y, or USING), the inner side is hashed on them
// first, so a join costs the size of its inputs and output rather than their product.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "sql_internal.h"

namespace walrep::sql {

namespace {

Status MissingRelation(const std::string& name, int location) {
  return Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", name))
      .WithPosition(location + 1);
}

// A table function in FROM becomes a one-off view over its rows for these arguments.
Result<const ViewDef*> PrepareTableFunction(CompileState& cs, const PgQuery__RangeFunction* rf,
                                            Prepared* p) {
  if (rf->n_functions != 1 || rf->lateral || rf->ordinality || rf->is_rowsfrom) {
    return Status::NotSupported("this form of function in FROM is not supported");
  }
  const PgQuery__Node* item = rf->functions[0];
  const PgQuery__Node* call = item->node_case == PG_QUERY__NODE__NODE_LIST && item->list->n_items
                                  ? item->list->items[0]
                                  : item;
  if (!call || call->node_case != PG_QUERY__NODE__NODE_FUNC_CALL) {
    return Status::NotSupported("this form of function in FROM is not supported");
  }
  const auto* fc = call->func_call;
  std::string name = StringNodeValue(fc->funcname[fc->n_funcname - 1]);
  const TableFunctionDef* tf = cs.registry->FindTableFunction(name);
  if (!tf || fc->n_args > tf->arg_types.size() ||
      fc->n_args < std::min(tf->min_args, tf->arg_types.size())) {
    return Status::Sql("42883", fmt::format("function {} does not exist", name))
        .WithPosition(fc->location + 1);
  }
  std::vector<ExprPtr> args;
  for (size_t i = 0; i < fc->n_args; i++) {
    WALREP_ASSIGN_OR_RETURN(ExprPtr a, CompileExpr(cs, fc->args[i]));
    WALREP_ASSIGN_OR_RETURN(a, Coerce(cs, a, tf->arg_types[i], false));
    args.push_back(a);
  }
  for (size_t i = fc->n_args; i < tf->arg_types.size(); i++) {
    args.push_back(ConstExpr(Value::Null(tf->arg_types[i])));
  }
  auto view = std::make_shared<ViewDef>();
  view->name = tf->name;
  view->columns = tf->columns;
  const TableFunctionDef* def = tf;
  view->rows = [def, args](SessionContext& ctx) -> Result<std::vector<Row>> {
    EvalState st{&ctx, nullptr, nullptr, nullptr, FormatOptions{}};
    std::vector<Value> vals;
    for (const auto& a : args) {
      WALREP_ASSIGN_OR_RETURN(Value v, a->eval(st));
      vals.push_back(std::move(v));
    }
    return def->rows(ctx, vals);
  };
  p->owned_views.push_back(view);
  return view.get();
}

FromPlan ViewSource(const ViewDef* view, const std::string& qualifier,
                    const std::vector<ViewColumn>& columns) {
  FromPlan f;
  f.scope->AddRelation(qualifier, columns);
  f.rows = [view](EvalState& st) { return view->rows(*st.ctx); };
  f.plan = MakePlan(fmt::format("Function Scan on {}", view->name));
  return f;
}

Result<FromPlan> PrepareItem(Executor& ex, CompileState& cs, const PgQuery__Node* node,
                             const PgQuery__Node* where, Prepared* p);

// Equalities `left column = right column` among the top-level AND terms of a join condition:
// pairs of (left index, right index) into the sides' rows.
void FindEquiKeys(const PgQuery__Node* n, const Scope& left, const Scope& right,
                  std::vector<std::pair<size_t, size_t>>* keys) {
  if (!n) return;
  if (n->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
      n->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
    for (size_t i = 0; i < n->bool_expr->n_args; i++) {
      FindEquiKeys(n->bool_expr->args[i], left, right, keys);
    }
    return;
  }
  if (n->node_case != PG_QUERY__NODE__NODE_A_EXPR) return;
  const auto* ae = n->a_expr;
  if (ae->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP || ae->n_name != 1 ||
      StringNodeValue(ae->name[0]) != "=") {
    return;
  }
  // Resolves a column reference in one side; -1 when it is not a plain column of that side.
  // A plain column of one side (a qualified name, or a bare one that side names once).
  auto resolve = [](const PgQuery__Node* e, const Scope& side) -> int {
    if (!e || e->node_case != PG_QUERY__NODE__NODE_COLUMN_REF) return -1;
    const auto* cr = e->column_ref;
    if (cr->n_fields > 2 ||
        cr->fields[cr->n_fields - 1]->node_case == PG_QUERY__NODE__NODE_A_STAR) {
      return -1;
    }
    return side.Find(cr->n_fields == 2 ? StringNodeValue(cr->fields[0]) : "",
                     StringNodeValue(cr->fields[cr->n_fields - 1]));
  };
  int l = resolve(ae->lexpr, left), r = resolve(ae->rexpr, right);
  if (l < 0 || r < 0) {
    l = resolve(ae->rexpr, left);
    r = resolve(ae->lexpr, right);
  }
  if (l < 0 || r < 0) return;
  keys->emplace_back(static_cast<size_t>(l), static_cast<size_t>(r));
}

// Types whose equal values have equal text, so rows can be hashed on that text.
bool HashableType(int32_t t) {
  switch (t) {
    case oid::kInt2:
    case oid::kInt4:
    case oid::kInt8:
    case oid::kText:
    case oid::kVarchar:
    case oid::kBool:
    case oid::kDate:
    case oid::kTimestamp:
    case oid::kTimestampTz:
    case oid::kOid:
      return true;
    default:
      return false;
  }
}

enum class JoinType { kInner, kLeft, kRight, kFull };

// Joins two prepared sides on `quals` (ON) or on the named columns (USING), or on nothing (a
// FROM list, whose WHERE clause `filter` may still supply equalities to hash on).
Result<FromPlan> JoinPlans(CompileState& cs, FromPlan left, FromPlan right, JoinType type,
                           const PgQuery__Node* quals, const std::vector<std::string>& using_cols,
                           const PgQuery__Node* filter = nullptr) {
  for (const auto& r : right.scope->rels) {
    if (std::find(left.scope->rels.begin(), left.scope->rels.end(), r) != left.scope->rels.end()) {
      return Status::Sql("42712", fmt::format("table name \"{}\" specified more than once", r));
    }
  }
  // The condition sees both sides side by side.
  Scope both = *left.scope;
  both.rels.insert(both.rels.end(), right.scope->rels.begin(), right.scope->rels.end());
  both.columns.insert(both.columns.end(), right.scope->columns.begin(), right.scope->columns.end());
  const size_t lwidth = left.scope->columns.size(), rwidth = right.scope->columns.size();
  std::vector<std::pair<size_t, size_t>> keys;
  ExprPtr cond;
  FromPlan out;
  std::vector<std::pair<size_t, size_t>> merged;  // USING: (left index, right index)
  if (!using_cols.empty()) {
    auto find = [](const Scope& s, const std::string& name, const char* side) -> Result<size_t> {
      int found = -1;
      for (size_t i = 0; i < s.columns.size(); i++) {
        if (s.columns[i].name != name || !s.columns[i].unqualified) continue;
        if (found >= 0) {
          return Status::Sql("42702", fmt::format("common column name \"{}\" appears more than "
                                                  "once in {} table",
                                                  name, side));
        }
        found = static_cast<int>(i);
      }
      if (found < 0) {
        return Status::Sql("42703", fmt::format("column \"{}\" specified in USING clause does "
                                                "not exist in {} table",
                                                name, side));
      }
      return static_cast<size_t>(found);
    };
    for (const std::string& name : using_cols) {
      WALREP_ASSIGN_OR_RETURN(size_t l, find(*left.scope, name, "left"));
      WALREP_ASSIGN_OR_RETURN(size_t r, find(*right.scope, name, "right"));
      merged.emplace_back(l, r);
      out.scope->columns.push_back(ScopeColumn{"", name, left.scope->columns[l].type});
    }
    keys = merged;
  } else if (quals) {
    CompileState own = cs;
    own.scope = &both;
    own.aggs = nullptr;
    WALREP_ASSIGN_OR_RETURN(cond, CompileExpr(own, quals));
    auto b = Coerce(own, cond, oid::kBool, false);
    if (!b.ok()) {
      return Status::Sql("42804", fmt::format("argument of JOIN/ON must be type boolean, not "
                                              "type {}",
                                              TypeName(cond->type)));
    }
    cond = *b;
    FindEquiKeys(quals, *left.scope, *right.scope, &keys);
  } else {
    FindEquiKeys(filter, *left.scope, *right.scope, &keys);
  }
  // Output: USING columns, then the left side's, then the right side's (USING columns of the
  // sides stay reachable only by their qualified names).
  out.scope->rels = both.rels;
  for (size_t i = 0; i < both.columns.size(); i++) {
    ScopeColumn c = both.columns[i];
    for (const auto& [l, r] : merged) {
      if (i == l || i == lwidth + r) c.star = c.unqualified = false;
    }
    out.scope->columns.push_back(c);
  }
  std::vector<std::pair<size_t, size_t>> hash_keys;
  for (const auto& [l, r] : keys) {
    int32_t lt = left.scope->columns[l].type, rt = right.scope->columns[r].type;
    if (lt == rt && HashableType(lt)) hash_keys.emplace_back(l, r);
  }
  std::vector<int32_t> ltypes, rtypes;
  for (const auto& c : left.scope->columns) ltypes.push_back(c.type);
  for (const auto& c : right.scope->columns) rtypes.push_back(c.type);
  // PostgreSQL's labels: "Hash Join", "Hash Left Join", ..., "Nested Loop", "Nested Loop Left
  // Join", ...
  static const char* kKinds[] = {"", " Left", " Right", " Full"};
  std::string kind = kKinds[static_cast<int>(type)];
  out.plan = MakePlan(!hash_keys.empty()         ? "Hash" + kind + " Join"
                      : type == JoinType::kInner ? std::string("Nested Loop")
                                                 : "Nested Loop" + kind + " Join");
  out.plan->children = {left.plan, hash_keys.empty() ? right.plan : MakePlan("Hash", {right.plan})};
  out.rows = [left = left.rows, right = right.rows, cond, merged, hash_keys, type, lwidth, rwidth,
              ltypes, rtypes](EvalState& st) -> Result<std::vector<Row>> {
    WALREP_ASSIGN_OR_RETURN(std::vector<Row> lrows, left(st));
    WALREP_ASSIGN_OR_RETURN(std::vector<Row> rrows, right(st));
    Row lnull, rnull;
    for (int32_t t : ltypes) lnull.push_back(Value::Null(t));
    for (int32_t t : rtypes) rnull.push_back(Value::Null(t));
    // Hash of the inner side on the equi-join keys; NULL keys never match.
    auto key_of = [&](const Row& row, bool is_left, std::string* key) {
      key->clear();
      for (const auto& [l, r] : hash_keys) {
        const Value& v = row[is_left ? l : r];
        if (v.is_null()) return false;
        *key += ToText(v, st.fmt);
        key->push_back('\0');
      }
      return true;
    };
    std::unordered_multimap<std::string, size_t> hash;
    std::string key;
    if (!hash_keys.empty()) {
      for (size_t i = 0; i < rrows.size(); i++) {
        if (key_of(rrows[i], false, &key)) hash.emplace(key, i);
      }
    }
    std::vector<bool> rmatched(rrows.size());
    std::vector<Row> out;
    auto emit = [&](const Row& l, const Row& r) {
      Row o;
      o.reserve(merged.size() + lwidth + rwidth);
      for (const auto& [li, ri] : merged) o.push_back(l[li].is_null() ? r[ri] : l[li]);
      o.insert(o.end(), l.begin(), l.end());
      o.insert(o.end(), r.begin(), r.end());
      out.push_back(std::move(o));
    };
    Row both;
    auto matches = [&](const Row& l, size_t ri) -> Result<bool> {
      const Row& r = rrows[ri];
      if (!merged.empty()) {
        for (const auto& [li, rj] : merged) {
          if (l[li].is_null() || r[rj].is_null()) return false;
          WALREP_ASSIGN_OR_RETURN(int c, CompareValues(l[li], r[rj]));
          if (c != 0) return false;
        }
        return true;
      }
      if (!cond) return true;
      both.assign(l.begin(), l.end());
      both.insert(both.end(), r.begin(), r.end());
      const Row* saved = st.row;
      st.row = &both;
      auto v = cond->eval(st);
      st.row = saved;
      if (!v.ok()) return v.TakeStatus();
      return !v->is_null() && v->as_bool();
    };
    for (const Row& l : lrows) {
      bool matched = false;
      auto visit = [&](size_t ri) -> Status {
        WALREP_ASSIGN_OR_RETURN(bool m, matches(l, ri));
        if (!m) return Status::OK();
        matched = true;
        rmatched[ri] = true;
        emit(l, rrows[ri]);
        return Status::OK();
      };
      if (!hash_keys.empty()) {
        if (key_of(l, true, &key)) {
          auto [b, e] = hash.equal_range(key);
          std::vector<size_t> hits;
          for (auto it = b; it != e; ++it) hits.push_back(it->second);
          std::sort(hits.begin(), hits.end());  // keep the inner side's order
          for (size_t ri : hits) WALREP_RETURN_IF_ERROR(visit(ri));
        }
      } else {
        for (size_t ri = 0; ri < rrows.size(); ri++) WALREP_RETURN_IF_ERROR(visit(ri));
      }
      if (!matched && (type == JoinType::kLeft || type == JoinType::kFull)) emit(l, rnull);
      WALREP_RETURN_IF_ERROR(st.ctx->CheckInterrupts());
    }
    if (type == JoinType::kRight || type == JoinType::kFull) {
      for (size_t ri = 0; ri < rrows.size(); ri++) {
        if (!rmatched[ri]) emit(lnull, rrows[ri]);
      }
    }
    return out;
  };
  return out;
}

Result<FromPlan> PrepareJoin(Executor& ex, CompileState& cs, const PgQuery__JoinExpr* j,
                             Prepared* p) {
  JoinType type;
  switch (j->jointype) {
    case PG_QUERY__JOIN_TYPE__JOIN_INNER:
      type = JoinType::kInner;
      break;
    case PG_QUERY__JOIN_TYPE__JOIN_LEFT:
      type = JoinType::kLeft;
      break;
    case PG_QUERY__JOIN_TYPE__JOIN_RIGHT:
      type = JoinType::kRight;
      break;
    case PG_QUERY__JOIN_TYPE__JOIN_FULL:
      type = JoinType::kFull;
      break;
    default:
      return Status::NotSupported("this kind of join is not supported");
  }
  WALREP_ASSIGN_OR_RETURN(FromPlan left, PrepareItem(ex, cs, j->larg, nullptr, p));
  WALREP_ASSIGN_OR_RETURN(FromPlan right, PrepareItem(ex, cs, j->rarg, nullptr, p));
  std::vector<std::string> using_cols;
  for (size_t i = 0; i < j->n_using_clause; i++) {
    using_cols.push_back(StringNodeValue(j->using_clause[i]));
  }
  if (j->is_natural) {
    // USING every column name both sides have (in the left side's order); none: a cross join.
    auto names = [](const Scope& s) {
      std::vector<std::string> out;
      for (const auto& c : s.columns) {
        if (c.unqualified && std::find(out.begin(), out.end(), c.name) == out.end()) {
          out.push_back(c.name);
        }
      }
      return out;
    };
    std::vector<std::string> right_names = names(*right.scope);
    for (const std::string& name : names(*left.scope)) {
      if (std::find(right_names.begin(), right_names.end(), name) != right_names.end()) {
        using_cols.push_back(name);
      }
    }
  }
  WALREP_ASSIGN_OR_RETURN(
      FromPlan out, JoinPlans(cs, std::move(left), std::move(right), type, j->quals, using_cols));
  if (j->alias) {
    // `(a JOIN b ...) AS j [(names)]`: the join's columns are j's; a and b are hidden, as in
    // PostgreSQL. Column aliases rename the columns * lists, in order.
    auto scope = std::make_shared<Scope>(*out.scope);
    const std::string alias = j->alias->aliasname;
    scope->rels = {alias};
    size_t renamed = 0;
    for (auto& c : scope->columns) {
      if (!c.star) {  // a side of a USING column: no longer reachable
        c.rel.clear();
        continue;
      }
      c.rel = alias;
      c.unqualified = true;
      if (renamed < j->alias->n_colnames) {
        c.name = StringNodeValue(j->alias->colnames[renamed++]);
      }
    }
    if (renamed < j->alias->n_colnames) {
      return Status::Sql("42601", fmt::format("join expression \"{}\" has {} columns available "
                                              "but {} columns specified",
                                              alias, renamed, j->alias->n_colnames));
    }
    out.scope = std::move(scope);
  }
  return out;
}

Result<FromPlan> PrepareItem(Executor& ex, CompileState& cs, const PgQuery__Node* node,
                             const PgQuery__Node* where, Prepared* p) {
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_RANGE_FUNCTION: {
      const auto* rf = node->range_function;
      WALREP_ASSIGN_OR_RETURN(const ViewDef* view, PrepareTableFunction(cs, rf, p));
      std::vector<ViewColumn> columns = view->columns;
      std::string qualifier = view->name;
      if (const auto* alias = rf->alias) {
        qualifier = alias->aliasname;
        // As in PostgreSQL: column aliases rename the columns in order; a bare alias also names
        // the column of a function that returns one.
        for (size_t i = 0; i < alias->n_colnames && i < columns.size(); i++) {
          columns[i].name = StringNodeValue(alias->colnames[i]);
        }
        if (alias->n_colnames == 0 && columns.size() == 1) columns[0].name = alias->aliasname;
      }
      return ViewSource(view, qualifier, columns);
    }
    case PG_QUERY__NODE__NODE_RANGE_VAR: {
      const auto* rv = node->range_var;
      std::string name = rv->relname;
      if (rv->schemaname && *rv->schemaname && std::string(rv->schemaname) != "pg_catalog") {
        name = std::string(rv->schemaname) + "." + name;
      }
      std::string qualifier = rv->alias ? rv->alias->aliasname : rv->relname;
      if (const ViewDef* view = cs.registry->FindView(name)) {
        FromPlan f = ViewSource(view, qualifier, view->columns);
        f.plan->label = fmt::format("Seq Scan on {}", view->name);
        return f;
      }
      if (!ex.db()) return MissingRelation(name, rv->location);
      FromPlan f;
      WALREP_ASSIGN_OR_RETURN(const ViewDef* view,
                              PrepareTableSource(ex, cs, name, where, p, &f.rows, &f.plan));
      if (!view) return MissingRelation(name, rv->location);
      if (rv->alias) f.plan->label += " " + qualifier;
      f.scope->AddRelation(qualifier, view->columns);
      return f;
    }
    case PG_QUERY__NODE__NODE_JOIN_EXPR:
      return PrepareJoin(ex, cs, node->join_expr, p);
    default:
      return Status::NotSupported("this FROM clause is not supported");
  }
}

}  // namespace

Result<FromPlan> PrepareFrom(Executor& ex, CompileState& cs, const PgQuery__SelectStmt* s,
                             Prepared* p) {
  if (s->n_from_clause == 0) return FromPlan{};
  // A lone item may use WHERE to pick an index; items of a list are joined (cross join, WHERE
  // filters afterwards).
  const PgQuery__Node* where = s->n_from_clause == 1 ? s->where_clause : nullptr;
  WALREP_ASSIGN_OR_RETURN(FromPlan f, PrepareItem(ex, cs, s->from_clause[0], where, p));
  for (size_t i = 1; i < s->n_from_clause; i++) {
    WALREP_ASSIGN_OR_RETURN(FromPlan next, PrepareItem(ex, cs, s->from_clause[i], nullptr, p));
    WALREP_ASSIGN_OR_RETURN(f, JoinPlans(cs, std::move(f), std::move(next), JoinType::kInner,
                                         nullptr, {}, s->where_clause));
  }
  return f;
}

}  // namespace walrep::sql
