// walrep: statements over tables — CREATE/DROP/TRUNCATE/ALTER TABLE, INSERT, UPDATE, DELETE,
// VACUUM, and tables as row sources for SELECT. Rows are stored as access::Fields holding each
// column's text form; the catalog says the types.
#include <fmt/format.h>

#include <set>

#include "sql_internal.h"
#include "walrep/common/strings.h"

namespace walrep::sql {

namespace {

using catalog::ColumnDef;
using catalog::TableDef;

Status NoSuchTable(const std::string& name, int location) {
  Status st = Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", name));
  return location >= 0 ? std::move(st).WithPosition(location + 1) : st;
}

Status ReadOnlyError(const char* what) {
  return Status::Sql("25006", fmt::format("cannot execute {} in a read-only transaction", what));
}

Result<TableDef> LookupTable(Executor& ex, const std::string& name, int location) {
  WALREP_ASSIGN_OR_RETURN(auto t, ex.db()->catalog->GetTable(ex.txn(), name));
  if (!t) return NoSuchTable(name, location);
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

std::string EncodeRow(const Row& row, const FormatOptions& fo) {
  access::Fields f;
  for (const auto& v : row) {
    if (v.is_null()) {
      f.emplace_back(std::nullopt);
    } else {
      f.emplace_back(ToText(v, fo));
    }
  }
  return access::EncodeFields(f);
}

Result<Row> DecodeRow(const TableDef& t, std::string_view bytes, const FormatOptions& fo) {
  WALREP_ASSIGN_OR_RETURN(access::Fields f, access::DecodeFields(bytes));
  Row row;
  for (size_t i = 0; i < t.columns.size(); i++) {
    // Columns added by ALTER TABLE after a row was written read as NULL.
    if (i >= f.size() || !f[i]) {
      row.push_back(Value::Null(t.columns[i].type_oid));
      continue;
    }
    // Stored text is always in UTC / ISO form, whatever the reader's TimeZone.
    WALREP_ASSIGN_OR_RETURN(Value v, FromText(t.columns[i].type_oid, *f[i], FormatOptions{}));
    row.push_back(std::move(v));
  }
  (void)fo;
  return row;
}

Scope TableScope(const TableDef& t, const PgQuery__RangeVar* rv) {
  Scope s;
  s.relname = t.name;
  if (rv && rv->alias) s.alias = rv->alias->aliasname;
  for (const auto& c : t.columns) s.columns.push_back(ViewColumn{c.name, c.type_oid});
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

// Default value expressions of a table, compiled once per statement.
Result<std::vector<ExprPtr>> CompileDefaults(CompileState& cs, const TableDef& t) {
  std::vector<ExprPtr> out;
  for (const auto& c : t.columns) {
    if (c.default_expr.empty()) {
      out.push_back(nullptr);
      continue;
    }
    auto parsed = ParseSql("SELECT " + c.default_expr);
    if (!parsed.ok() || parsed->empty()) return Status::Sql("XX000", "invalid stored default");
    const auto* sel = (*parsed)[0]->raw->stmt->select_stmt;
    // Keep the parse tree alive as long as the compiled expression.
    auto holder = (*parsed)[0];
    WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, sel->target_list[0]->res_target->val));
    auto keep = std::make_shared<Expr>(*e);
    keep->eval = [e, holder](EvalState& st) { return e->eval(st); };
    out.push_back(keep);
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

// Checks PRIMARY KEY uniqueness against every live version, waiting for in-progress inserters.
Status CheckPrimaryKey(Executor& ex, const TableDef& t, const Row& row,
                       const access::TupleId* self) {
  if (t.primary_key.empty()) return Status::OK();
  std::vector<size_t> idx;
  for (const auto& k : t.primary_key) idx.push_back(static_cast<size_t>(t.column_index(k)));
  for (size_t i : idx) {
    if (row[i].is_null()) {
      return Status::Sql("23502", fmt::format("null value in column \"{}\" of relation \"{}\" "
                                              "violates not-null constraint",
                                              t.columns[i].name, t.name));
    }
  }
  // A snapshot that sees everything committed now; in-progress rows of others are waited for.
  access::TxnContext probe = ex.txn();
  probe.snapshot = ex.db()->engine->txm().TakeSnapshot();
  FormatOptions fo;
  return access::ForEachRow(
      ex.db()->engine->env(), t.rel, probe, [&](access::TupleId tid, std::string& bytes) -> Status {
        if (self && tid == *self) return Status::OK();
        WALREP_ASSIGN_OR_RETURN(Row other, DecodeRow(t, bytes, fo));
        bool same = true;
        for (size_t i : idx) {
          auto c = CompareValues(row[i], other[i]);
          if (!c.ok() || *c != 0) {
            same = false;
            break;
          }
        }
        if (same) {
          std::string cols, vals;
          for (size_t i : idx) {
            cols += (cols.empty() ? "" : ", ") + t.columns[i].name;
            vals += (vals.empty() ? "" : ", ") + ToText(row[i], fo);
          }
          return Status::Sql("23505", fmt::format("duplicate key value violates unique constraint "
                                                  "\"{}_pkey\"",
                                                  t.name))
              .WithDetail(fmt::format("Key ({})=({}) already exists.", cols, vals));
        }
        return Status::OK();
      });
}

}  // namespace
Status CheckPrimaryKeyChange(Executor& ex, const TableDef& t, const Row& before, const Row& after,
                             access::TupleId self);
namespace {

struct Modify {
  enum Kind { kUpdate, kDelete } kind;
  TableDef table;
  ExprPtr where;
  std::vector<std::pair<int, ExprPtr>> sets;  // column index, new value
  std::vector<ExprPtr> returning;
};

// Runs UPDATE or DELETE: scan, filter, modify; READ COMMITTED re-checks updated rows.
Result<ExecResult> RunModify(Executor& ex, EvalState& st, const Modify& m,
                             const std::vector<ColumnDesc>& ret_cols) {
  if (ex.db()->read_only) return ReadOnlyError(m.kind == Modify::kUpdate ? "UPDATE" : "DELETE");
  access::HeapEnv& env = ex.db()->engine->env();
  access::TxnContext& tx = ex.txn();
  tx.ensure_xid();
  // Collect matching rows first: the scan must not see versions this statement creates.
  std::vector<std::pair<access::TupleId, Row>> matches;
  WALREP_RETURN_IF_ERROR(access::ForEachRow(
      env, m.table.rel, tx, [&](access::TupleId tid, std::string& bytes) -> Status {
        WALREP_ASSIGN_OR_RETURN(Row row, DecodeRow(m.table, bytes, st.fmt));
        st.row = &row;
        if (m.where) {
          WALREP_ASSIGN_OR_RETURN(Value ok, m.where->eval(st));
          if (ok.is_null() || !ok.as_bool()) return Status::OK();
        }
        matches.emplace_back(tid, std::move(row));
        return Status::OK();
      }));
  ExecResult r;
  r.returns_rows = !m.returning.empty();
  r.columns = ret_cols;
  uint64_t count = 0;
  for (auto& [tid0, row0] : matches) {
    access::TupleId tid = tid0;
    Row row = row0;
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
        WALREP_RETURN_IF_ERROR(CheckPrimaryKeyChange(ex, m.table, row, new_row, tid));
        access::TupleId new_tid;
        WALREP_ASSIGN_OR_RETURN(out, access::HeapUpdate(env, m.table.rel, tx, tid,
                                                        EncodeRow(new_row, st.fmt), &new_tid));
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
          r.rows.push_back(std::move(ret));
        }
        break;
      }
      if (out.kind != access::ModifyOutcome::kUpdated) break;  // deleted or already ours
      // READ COMMITTED: re-evaluate WHERE on the newest version, as EvalPlanQual does.
      WALREP_ASSIGN_OR_RETURN(auto latest, access::HeapFetchLatest(env, m.table.rel, tx, out.next));
      if (!latest) break;
      WALREP_ASSIGN_OR_RETURN(row, DecodeRow(m.table, *latest, st.fmt));
      tid = out.next;
      st.row = &row;
      if (m.where) {
        WALREP_ASSIGN_OR_RETURN(Value ok, m.where->eval(st));
        if (ok.is_null() || !ok.as_bool()) break;
      }
    }
  }
  st.row = nullptr;
  r.tag = fmt::format("{} {}", m.kind == Modify::kUpdate ? "UPDATE" : "DELETE", count);
  return r;
}

}  // namespace

// An UPDATE that changes primary-key columns must keep them unique.
Status CheckPrimaryKeyChange(Executor& ex, const TableDef& t, const Row& before, const Row& after,
                             access::TupleId self) {
  bool changed = false;
  for (const auto& k : t.primary_key) {
    size_t i = static_cast<size_t>(t.column_index(k));
    auto c = CompareValues(before[i], after[i]);
    changed |= before[i].is_null() != after[i].is_null() || !c.ok() || *c != 0;
  }
  if (!changed) return Status::OK();
  return CheckPrimaryKey(ex, t, after, &self);
}

Result<Value> ToColumnValue(const TableDef& t, size_t i, const Value& v, const FormatOptions& fo) {
  return ToColumn(t, i, v, fo);
}
Status CheckPrimaryKeyForInsert(Executor& ex, const TableDef& t, const Row& row) {
  return CheckPrimaryKey(ex, t, row, nullptr);
}
std::string EncodeTableRow(const Row& row, const FormatOptions& fo) { return EncodeRow(row, fo); }
Result<Row> DecodeTableRow(const TableDef& t, std::string_view bytes) {
  return DecodeRow(t, bytes, FormatOptions{});
}

Result<const ViewDef*> PrepareTableSource(Executor& ex, CompileState& cs, const std::string& name,
                                          Prepared* p, bool* found) {
  (void)cs;
  WALREP_ASSIGN_OR_RETURN(auto t, ex.db()->catalog->GetTable(ex.txn(), name));
  *found = t.has_value();
  if (!t) return static_cast<const ViewDef*>(nullptr);
  auto view = std::make_shared<ViewDef>();
  view->name = t->name;
  for (const auto& c : t->columns) view->columns.push_back(ViewColumn{c.name, c.type_oid});
  TableDef def = *t;
  Executor* exec = &ex;
  view->rows = [def, exec](SessionContext&) -> Result<std::vector<Row>> {
    std::vector<Row> rows;
    WALREP_RETURN_IF_ERROR(access::ForEachRow(
        exec->db()->engine->env(), def.rel, exec->txn(),
        [&](access::TupleId, std::string& bytes) -> Status {
          WALREP_ASSIGN_OR_RETURN(Row row, DecodeRow(def, bytes, exec->format_options()));
          rows.push_back(std::move(row));
          return Status::OK();
        }));
    return rows;
  };
  p->owned_views.push_back(view);
  return view.get();
}

Result<std::shared_ptr<Prepared>> PrepareTableStatement(Executor& ex, CompileState& cs,
                                                        std::shared_ptr<Prepared> p,
                                                        const PgQuery__Node* node) {
  if (!ex.db()) return std::shared_ptr<Prepared>();
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_CREATE_STMT: {
      const auto* c = node->create_stmt;
      if (c->n_inh_relations || c->partspec || c->of_typename) {
        return Status::NotSupported("inheritance, partitioning and typed tables are not supported");
      }
      TableDef def;
      def.name = RelName(c->relation);
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
          bool serial = tname == "serial" || tname == "bigserial" || tname == "smallserial" ||
                        tname == "serial4" || tname == "serial8";
          if (serial) {
            return Status::NotSupported(
                "serial columns need sequences, which are not supported yet");
          }
          auto t = LookupTypeName(tname);
          if (!t.ok()) {
            return Status::Sql("42704", fmt::format("type \"{}\" does not exist", tname))
                .WithPosition(cd->type_name->location + 1);
          }
          col.type_oid = *t;
          if (cd->type_name->n_typmods > 0 &&
              (col.type_oid == oid::kVarchar || col.type_oid == oid::kBpchar)) {
            const PgQuery__Node* m = cd->type_name->typmods[0];
            if (m->node_case == PG_QUERY__NODE__NODE_A_CONST && m->a_const->ival) {
              col.typmod = m->a_const->ival->ival + 4;
            }
          } else if (col.type_oid == oid::kBpchar) {
            col.typmod = 1 + 4;  // char means char(1)
          }
          col.not_null = cd->is_not_null;
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
                // Keep the SQL text of the default, taken from the statement.
                const std::string& sql = p->stmt->tree->sql;
                size_t from = static_cast<size_t>(con->location);
                size_t kw = sql.find_first_of(" \t\n", from);
                size_t end = sql.size();
                // The default runs to the next comma or parenthesis at depth 0.
                int depth = 0;
                bool quote = false;
                for (size_t q = kw; q < sql.size(); q++) {
                  char ch = sql[q];
                  if (ch == '\'') quote = !quote;
                  if (quote) continue;
                  if (ch == '(') depth++;
                  if (ch == ')') {
                    if (depth == 0) {
                      end = q;
                      break;
                    }
                    depth--;
                  }
                  if (ch == ',' && depth == 0) {
                    end = q;
                    break;
                  }
                }
                std::string text(Trim(sql.substr(kw, end - kw)));
                // Strip a trailing NOT NULL / PRIMARY KEY / etc. written after the default.
                static const char* kStops[] = {" not null",   " null",  " primary key", " unique",
                                               " references", " check", " constraint"};
                std::string lower = ToLower(text);
                size_t cut = text.size();
                for (const char* stop : kStops) {
                  size_t at = lower.find(stop);
                  if (at != std::string::npos && at < cut) cut = at;
                }
                col.default_expr = std::string(Trim(text.substr(0, cut)));
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
                return Status::NotSupported("UNIQUE constraints are not supported yet");
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
          } else {
            return Status::NotSupported("only PRIMARY KEY table constraints are supported");
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
      bool if_not_exists = c->if_not_exists;
      p->run = [def, if_not_exists](Executor& e, EvalState& st) -> Result<ExecResult> {
        if (e.db()->read_only) return ReadOnlyError("CREATE TABLE");
        WALREP_ASSIGN_OR_RETURN(auto existing, e.db()->catalog->GetTable(e.txn(), def.name));
        if (existing) {
          if (if_not_exists) {
            st.ctx->AddNotice("NOTICE", "42P07",
                              fmt::format("relation \"{}\" already exists, skipping", def.name));
            return TagOnly("CREATE TABLE");
          }
          return Status::Sql("42P07", fmt::format("relation \"{}\" already exists", def.name));
        }
        e.txn().ensure_xid();
        WALREP_RETURN_IF_ERROR(e.db()->catalog->CreateTable(e.txn(), def).status());
        return TagOnly("CREATE TABLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_DROP_STMT: {
      const auto* d = node->drop_stmt;
      if (d->remove_type != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE) return std::shared_ptr<Prepared>();
      std::vector<std::string> names;
      for (size_t i = 0; i < d->n_objects; i++) {
        const PgQuery__Node* o = d->objects[i];
        if (o->node_case == PG_QUERY__NODE__NODE_LIST && o->list->n_items) {
          names.push_back(StringNodeValue(o->list->items[o->list->n_items - 1]));
        }
      }
      bool missing_ok = d->missing_ok;
      p->run = [names, missing_ok](Executor& e, EvalState& st) -> Result<ExecResult> {
        if (e.db()->read_only) return ReadOnlyError("DROP TABLE");
        for (const auto& n : names) {
          WALREP_ASSIGN_OR_RETURN(auto t, e.db()->catalog->GetTable(e.txn(), n));
          if (!t) {
            if (missing_ok) {
              st.ctx->AddNotice("NOTICE", "00000",
                                fmt::format("table \"{}\" does not exist, skipping", n));
              continue;
            }
            return Status::Sql("42P01", fmt::format("table \"{}\" does not exist", n));
          }
          e.txn().ensure_xid();
          WALREP_RETURN_IF_ERROR(e.db()->catalog->DropTable(e.txn(), *t));
        }
        return TagOnly("DROP TABLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT: {
      const auto* t = node->truncate_stmt;
      std::vector<std::string> names;
      for (size_t i = 0; i < t->n_relations; i++)
        names.push_back(t->relations[i]->range_var->relname);
      p->run = [names](Executor& e, EvalState&) -> Result<ExecResult> {
        if (e.db()->read_only) return ReadOnlyError("TRUNCATE TABLE");
        for (const auto& n : names) {
          WALREP_ASSIGN_OR_RETURN(TableDef def, LookupTable(e, n, -1));
          e.txn().ensure_xid();
          WALREP_RETURN_IF_ERROR(e.db()->catalog->NewRelationFile(e.txn(), def).status());
        }
        return TagOnly("TRUNCATE TABLE");
      };
      return p;
    }
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT: {
      const auto* a = node->alter_table_stmt;
      if (a->objtype != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE) return std::shared_ptr<Prepared>();
      std::string name = RelName(a->relation);
      std::vector<ColumnDef> add_cols;
      std::vector<std::string> pk;
      for (size_t i = 0; i < a->n_cmds; i++) {
        const auto* cmd = a->cmds[i]->alter_table_cmd;
        if (cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn) {
          const auto* cd = cmd->def->column_def;
          std::string tname;
          for (size_t k = 0; k < cd->type_name->n_names; k++) {
            std::string part = StringNodeValue(cd->type_name->names[k]);
            if (part != "pg_catalog") tname += part;
          }
          WALREP_ASSIGN_OR_RETURN(int32_t type, LookupTypeName(tname));
          ColumnDef col;
          col.name = cd->colname;
          col.type_oid = type;
          col.not_null = cd->is_not_null;
          for (size_t k = 0; k < cd->n_constraints; k++) {
            if (cd->constraints[k]->constraint->contype != PG_QUERY__CONSTR_TYPE__CONSTR_NULL) {
              return Status::NotSupported(
                  "constraints and defaults in ADD COLUMN are not supported");
            }
          }
          if (col.not_null) return Status::NotSupported("ADD COLUMN ... NOT NULL is not supported");
          add_cols.push_back(col);
        } else if (cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint &&
                   cmd->def->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) {
          const auto* con = cmd->def->constraint;
          for (size_t k = 0; k < con->n_keys; k++) pk.push_back(StringNodeValue(con->keys[k]));
        } else {
          return Status::NotSupported("this ALTER TABLE action is not supported");
        }
      }
      p->run = [name, add_cols, pk](Executor& e, EvalState&) -> Result<ExecResult> {
        if (e.db()->read_only) return ReadOnlyError("ALTER TABLE");
        WALREP_ASSIGN_OR_RETURN(TableDef def, LookupTable(e, name, -1));
        for (const auto& c : add_cols) {
          if (def.column_index(c.name) >= 0) {
            return Status::Sql(
                "42701",
                fmt::format("column \"{}\" of relation \"{}\" already exists", c.name, name));
          }
          def.columns.push_back(c);
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
          // Existing rows must already satisfy the key.
          std::set<std::string> seen;
          WALREP_RETURN_IF_ERROR(access::ForEachRow(
              e.db()->engine->env(), def.rel, e.txn(),
              [&](access::TupleId, std::string& bytes) -> Status {
                WALREP_ASSIGN_OR_RETURN(Row row, DecodeRow(def, bytes, FormatOptions{}));
                std::string key;
                for (const auto& k : pk) {
                  const Value& v = row[static_cast<size_t>(def.column_index(k))];
                  if (v.is_null()) {
                    return Status::Sql(
                        "23502",
                        fmt::format("column \"{}\" of relation \"{}\" contains null values", k,
                                    name));
                  }
                  key += ToText(v, FormatOptions{}) + '\0';
                }
                if (!seen.insert(key).second) {
                  return Status::Sql(
                      "23505", fmt::format("could not create unique index \"{}_pkey\"", name));
                }
                return Status::OK();
              }));
        }
        e.txn().ensure_xid();
        WALREP_RETURN_IF_ERROR(e.db()->catalog->AlterTable(e.txn(), def));
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
          if (names.empty()) {
            WALREP_ASSIGN_OR_RETURN(tables, e.db()->catalog->ListTables(e.txn()));
          } else {
            for (const auto& n : names) {
              WALREP_ASSIGN_OR_RETURN(TableDef t, LookupTable(e, n, -1));
              tables.push_back(t);
            }
          }
          for (const auto& t : tables) {
            WALREP_RETURN_IF_ERROR(access::HeapVacuum(e.db()->engine->env(), t.rel).status());
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
                              LookupTable(ex, RelName(ins->relation), ins->relation->location));
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
        return Status::NotSupported("INSERT ... SELECT is not supported");
      }
      WALREP_ASSIGN_OR_RETURN(auto defaults, CompileDefaults(cs, t));
      Scope scope = TableScope(t, ins->relation);
      auto scope_ptr = std::make_shared<Scope>(scope);
      cs.scope = scope_ptr.get();
      WALREP_ASSIGN_OR_RETURN(auto ret,
                              CompileReturning(cs, t, ins->returning_list, ins->n_returning_list));
      p->rows = !ret.first.empty();
      p->cols = ret.second;
      auto cols = p->cols;
      p->run = [t, target_cols, rows, defaults, ret, cols, scope_ptr](
                   Executor& e, EvalState& st) -> Result<ExecResult> {
        if (e.db()->read_only) return ReadOnlyError("INSERT");
        ExecResult r;
        r.returns_rows = !ret.first.empty();
        r.columns = cols;
        for (const auto& vals : rows) {
          WALREP_ASSIGN_OR_RETURN(Row row, BuildRow(st, t, defaults, target_cols, vals));
          WALREP_RETURN_IF_ERROR(CheckPrimaryKey(e, t, row, nullptr));
          WALREP_RETURN_IF_ERROR(
              access::HeapInsert(e.db()->engine->env(), t.rel, e.txn(), EncodeRow(row, st.fmt))
                  .status());
          if (r.returns_rows) {
            st.row = &row;
            Row out;
            for (const auto& x : ret.first) {
              WALREP_ASSIGN_OR_RETURN(Value v, x->eval(st));
              out.push_back(std::move(v));
            }
            r.rows.push_back(std::move(out));
            st.row = nullptr;
          }
        }
        r.tag = fmt::format("INSERT 0 {}", rows.size());
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
      WALREP_ASSIGN_OR_RETURN(m.table, LookupTable(ex, RelName(rv), rv->location));
      auto scope = std::make_shared<Scope>(TableScope(m.table, rv));
      cs.scope = scope.get();
      const PgQuery__Node* where =
          update ? node->update_stmt->where_clause : node->delete_stmt->where_clause;
      if (where) {
        WALREP_ASSIGN_OR_RETURN(m.where, CompileExpr(cs, where));
        WALREP_ASSIGN_OR_RETURN(m.where, Coerce(cs, m.where, oid::kBool, false));
      }
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
