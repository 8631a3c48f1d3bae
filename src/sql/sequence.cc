// walrep: sequences in SQL — CREATE/DROP SEQUENCE, serial columns, nextval/currval/setval/
// lastval, with PostgreSQL's defaults, bounds and error texts (commands/sequence.c).
#include "walrep/access/sequence.h"

#include <fmt/format.h>

#include <climits>
#include <set>

#include "sql_internal.h"
#include "walrep/common/strings.h"

namespace walrep::sql {

namespace {

using catalog::SequenceDef;
using catalog::TableDef;

std::pair<int64_t, int64_t> TypeRange(int32_t type) {
  if (type == oid::kInt2) return {INT16_MIN, INT16_MAX};
  if (type == oid::kInt4) return {INT32_MIN, INT32_MAX};
  return {INT64_MIN, INT64_MAX};
}

Result<int64_t> IntArg(const PgQuery__DefElem* d) {
  const PgQuery__Node* a = d->arg;
  if (a && a->node_case == PG_QUERY__NODE__NODE_INTEGER) return int64_t{a->integer->ival};
  if (a && a->node_case == PG_QUERY__NODE__NODE_FLOAT) {
    try {
      size_t used = 0;
      long long v = std::stoll(a->float_->fval, &used);
      if (used == std::string(a->float_->fval).size()) return int64_t{v};
    } catch (...) {
    }
  }
  return Status::Sql("22023", fmt::format("{} requires an integer value", d->defname));
}

// "s", "public.s", "\"S\"" → the relation name, as regclass input reads it.
std::string SequenceName(const std::string& text) {
  std::string name = text;
  if (name.rfind("public.", 0) == 0) name = name.substr(7);
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    return name.substr(1, name.size() - 2);
  }
  return ToLower(name);
}

Result<TableDef> LookupSequence(Executor& ex, const std::string& text, access::LockMode mode) {
  std::string name = SequenceName(text);
  WALREP_ASSIGN_OR_RETURN(auto t, ex.db()->catalog->GetTable(ex.txn(), name, mode));
  if (!t) return Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", name));
  if (t->kind != 'S') return Status::Sql("42809", fmt::format("\"{}\" is not a sequence", name));
  return *t;
}

// The sequence argument: a text expression, or a string literal cast to regclass.
Result<ExprPtr> SequenceArg(CompileState& cs, const PgQuery__Node* n) {
  if (n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast->type_name) {
    const auto* tn = n->type_cast->type_name;
    if (tn->n_names && StringNodeValue(tn->names[tn->n_names - 1]) == "regclass") {
      n = n->type_cast->arg;
    }
  }
  WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, n));
  return Coerce(cs, e, oid::kText, false);
}

}  // namespace

Result<SequenceDef> SequenceFromOptions(PgQuery__Node** options, size_t n, std::string* owned_by,
                                        int32_t type) {
  SequenceDef d;
  d.type_oid = type;
  std::optional<int64_t> increment, min, max, start, cache;
  std::set<std::string> seen;
  for (size_t i = 0; i < n; i++) {
    const auto* o = options[i]->def_elem;
    std::string name = o->defname;
    if (!seen.insert(name).second) return Status::Sql("42601", "conflicting or redundant options");
    if (name == "as") {
      const auto* tn = o->arg->type_name;
      std::string t;
      for (size_t k = 0; k < tn->n_names; k++) {
        std::string part = StringNodeValue(tn->names[k]);
        if (part != "pg_catalog") t += part;
      }
      auto type = LookupTypeName(t);
      if (!type.ok() || (*type != oid::kInt2 && *type != oid::kInt4 && *type != oid::kInt8)) {
        return Status::Sql("22023", "sequence type must be smallint, integer, or bigint");
      }
      d.type_oid = *type;
    } else if (name == "increment") {
      WALREP_ASSIGN_OR_RETURN(increment, IntArg(o));
    } else if (name == "minvalue") {  // NO MINVALUE: no argument, the default
      if (o->arg) {
        WALREP_ASSIGN_OR_RETURN(min, IntArg(o));
      }
    } else if (name == "maxvalue") {
      if (o->arg) {
        WALREP_ASSIGN_OR_RETURN(max, IntArg(o));
      }
    } else if (name == "start") {
      WALREP_ASSIGN_OR_RETURN(start, IntArg(o));
    } else if (name == "cache") {
      WALREP_ASSIGN_OR_RETURN(cache, IntArg(o));
    } else if (name == "cycle") {
      d.options.cycle =
          o->arg && o->arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN && o->arg->boolean->boolval;
    } else if (name == "owned_by") {
      const PgQuery__Node* a = o->arg;
      std::string text;
      for (size_t k = 0; a && a->node_case == PG_QUERY__NODE__NODE_LIST && k < a->list->n_items;
           k++) {
        text += (text.empty() ? "" : ".") + StringNodeValue(a->list->items[k]);
      }
      if (owned_by) *owned_by = text == "none" ? "" : text;
    } else {
      return Status::NotSupported(fmt::format("sequence option \"{}\" is not supported", name));
    }
  }
  auto [tmin, tmax] = TypeRange(d.type_oid);
  auto& opt = d.options;
  opt.increment = increment.value_or(1);
  if (opt.increment == 0) return Status::Sql("22023", "INCREMENT must not be zero");
  opt.max = max.value_or(opt.increment > 0 ? tmax : -1);
  opt.min = min.value_or(opt.increment > 0 ? 1 : tmin);
  if (opt.max < tmin || opt.max > tmax) {
    return Status::Sql("22023", fmt::format("MAXVALUE ({}) is out of range for sequence data type "
                                            "{}",
                                            opt.max, TypeName(d.type_oid)));
  }
  if (opt.min < tmin || opt.min > tmax) {
    return Status::Sql("22023", fmt::format("MINVALUE ({}) is out of range for sequence data type "
                                            "{}",
                                            opt.min, TypeName(d.type_oid)));
  }
  if (opt.min >= opt.max) {
    return Status::Sql(
        "22023", fmt::format("MINVALUE ({}) must be less than MAXVALUE ({})", opt.min, opt.max));
  }
  opt.start = start.value_or(opt.increment > 0 ? opt.min : opt.max);
  if (opt.start < opt.min) {
    return Status::Sql("22023", fmt::format("START value ({}) cannot be less than MINVALUE ({})",
                                            opt.start, opt.min));
  }
  if (opt.start > opt.max) {
    return Status::Sql("22023", fmt::format("START value ({}) cannot be greater than MAXVALUE ({})",
                                            opt.start, opt.max));
  }
  opt.cache = cache.value_or(1);
  if (opt.cache <= 0) {
    return Status::Sql("22023", fmt::format("CACHE ({}) must be greater than zero", opt.cache));
  }
  return d;
}

Result<TableDef> CreateSequence(Executor& ex, TableDef def, const TableDef* owner,
                                const std::string& column) {
  if (owner) {
    def.sequence.owner = owner->oid;
    def.sequence.owner_column = column;
  }
  ex.txn().ensure_xid();
  return ex.db()->catalog->CreateSequence(ex.txn(), std::move(def));
}

Status DropOwnedSequences(Executor& ex, const TableDef& table) {
  WALREP_ASSIGN_OR_RETURN(auto all, ex.db()->catalog->ListTables(ex.txn()));
  for (const auto& t : all) {
    if (t.kind == 'S' && t.sequence.owner == table.oid) {
      WALREP_RETURN_IF_ERROR(access::LockRelation(ex.db()->engine->env(), ex.txn(),
                                                  catalog::kDatabaseOid, t.oid,
                                                  access::LockMode::kAccessExclusive));
      WALREP_RETURN_IF_ERROR(ex.db()->catalog->DropTable(ex.txn(), t));
    }
  }
  return Status::OK();
}

namespace {

// OWNED BY [schema.]table.column: the table (locked AccessShare) and column; none for "".
Status SequenceOwner(Executor& e, const std::string& owned_by, std::optional<TableDef>* owner,
                     std::string* column) {
  if (owned_by.empty()) return Status::OK();
  size_t dot = owned_by.rfind('.');
  if (dot == std::string::npos) {
    return Status::Sql("42601", "invalid OWNED BY option")
        .WithHint("Specify OWNED BY table.column or OWNED BY NONE.");
  }
  std::string table = owned_by.substr(0, dot);
  if (table.rfind("public.", 0) == 0) table = table.substr(7);
  *column = owned_by.substr(dot + 1);
  WALREP_ASSIGN_OR_RETURN(
      *owner, e.db()->catalog->GetTable(e.txn(), table, access::LockMode::kAccessShare));
  if (!*owner || (*owner)->kind != 'r') {
    return Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", table));
  }
  if ((*owner)->column_index(*column) < 0) {
    return Status::Sql(
        "42703", fmt::format("column \"{}\" of relation \"{}\" does not exist", *column, table));
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<Prepared>> PrepareSequenceStatement(std::shared_ptr<Prepared> p,
                                                           const PgQuery__Node* node) {
  if (node->node_case == PG_QUERY__NODE__NODE_CREATE_SEQ_STMT) {
    const auto* c = node->create_seq_stmt;
    std::string owned_by;
    WALREP_ASSIGN_OR_RETURN(SequenceDef seq,
                            SequenceFromOptions(c->options, c->n_options, &owned_by));
    TableDef def;
    def.kind = 'S';
    def.name = c->sequence->relname;
    def.sequence = seq;
    bool if_not_exists = c->if_not_exists;
    p->run = [def, owned_by, if_not_exists](Executor& e, EvalState& st) -> Result<ExecResult> {
      WALREP_ASSIGN_OR_RETURN(bool taken, RelationNameTaken(e, st, def.name, if_not_exists));
      if (taken) return TagOnly("CREATE SEQUENCE");
      std::optional<TableDef> owner;
      std::string column;
      WALREP_RETURN_IF_ERROR(SequenceOwner(e, owned_by, &owner, &column));
      WALREP_RETURN_IF_ERROR(CreateSequence(e, def, owner ? &*owner : nullptr, column).status());
      return TagOnly("CREATE SEQUENCE");
    };
    return p;
  }
  if (node->node_case == PG_QUERY__NODE__NODE_ALTER_SEQ_STMT) {
    // ALTER SEQUENCE s OWNED BY t.c | NONE (what pg_dump's scripts use).
    const auto* a = node->alter_seq_stmt;
    std::string owned_by;
    bool only_owned_by = a->n_options > 0;
    for (size_t i = 0; i < a->n_options; i++) {
      only_owned_by &= std::string(a->options[i]->def_elem->defname) == "owned_by";
    }
    if (!only_owned_by) {
      return Status::NotSupported("ALTER SEQUENCE supports only OWNED BY");
    }
    WALREP_RETURN_IF_ERROR(SequenceFromOptions(a->options, a->n_options, &owned_by).status());
    std::string name = a->sequence->relname;
    bool missing_ok = a->missing_ok;
    p->run = [name, owned_by, missing_ok](Executor& e, EvalState& st) -> Result<ExecResult> {
      WALREP_ASSIGN_OR_RETURN(
          auto t, e.db()->catalog->GetTable(e.txn(), name, access::LockMode::kAccessExclusive));
      if (!t || t->kind != 'S') {
        if (!t && missing_ok) {
          st.ctx->AddNotice("NOTICE", "00000",
                            fmt::format("relation \"{}\" does not exist, skipping", name));
          return TagOnly("ALTER SEQUENCE");
        }
        return Status::Sql(t ? "42809" : "42P01",
                           t ? fmt::format("\"{}\" is not a sequence", name)
                             : fmt::format("relation \"{}\" does not exist", name));
      }
      std::optional<TableDef> owner;
      std::string column;
      WALREP_RETURN_IF_ERROR(SequenceOwner(e, owned_by, &owner, &column));
      t->sequence.owner = owner ? owner->oid : 0;
      t->sequence.owner_column = column;
      e.txn().ensure_xid();
      WALREP_RETURN_IF_ERROR(e.db()->catalog->AlterTable(e.txn(), *t));
      return TagOnly("ALTER SEQUENCE");
    };
    return p;
  }
  if (node->node_case != PG_QUERY__NODE__NODE_DROP_STMT ||
      node->drop_stmt->remove_type != PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE) {
    return std::shared_ptr<Prepared>();
  }
  const auto* d = node->drop_stmt;
  std::vector<std::string> names = DropStatementNames(d);
  bool missing_ok = d->missing_ok;
  bool cascade = d->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE;
  p->run = [names, missing_ok, cascade](Executor& e, EvalState& st) -> Result<ExecResult> {
    for (const auto& n : names) {
      WALREP_ASSIGN_OR_RETURN(
          auto t, e.db()->catalog->GetTable(e.txn(), n, access::LockMode::kAccessExclusive));
      if (!t) {
        if (!missing_ok) {
          return Status::Sql("42P01", fmt::format("sequence \"{}\" does not exist", n));
        }
        st.ctx->AddNotice("NOTICE", "00000",
                          fmt::format("sequence \"{}\" does not exist, skipping", n));
        continue;
      }
      if (t->kind != 'S') {
        return Status::Sql("42809", fmt::format("\"{}\" is not a sequence", n))
            .WithHint("Use DROP TABLE to remove a table.");
      }
      e.txn().ensure_xid();
      // A serial column's default depends on its sequence: RESTRICT refuses, CASCADE drops the
      // default.
      WALREP_ASSIGN_OR_RETURN(auto all, e.db()->catalog->ListTables(e.txn()));
      for (auto& owner : all) {
        if (owner.kind != 'r' || owner.oid != t->sequence.owner) continue;
        int ci = owner.column_index(t->sequence.owner_column);
        if (ci < 0 || owner.columns[static_cast<size_t>(ci)].default_expr.find("'" + n + "'") ==
                          std::string::npos) {
          continue;
        }
        if (!cascade) {
          return Status::Sql("2BP01", fmt::format("cannot drop sequence {} because other objects "
                                                  "depend on it",
                                                  n))
              .WithDetail(fmt::format("default value for column {} of table {} depends on "
                                      "sequence {}",
                                      t->sequence.owner_column, owner.name, n))
              .WithHint("Use DROP ... CASCADE to drop the dependent objects too.");
        }
        st.ctx->AddNotice("NOTICE", "00000",
                          fmt::format("drop cascades to default value for column {} of table {}",
                                      t->sequence.owner_column, owner.name));
        owner.columns[static_cast<size_t>(ci)].default_expr.clear();
        WALREP_RETURN_IF_ERROR(e.db()->catalog->AlterTable(e.txn(), owner));
      }
      WALREP_RETURN_IF_ERROR(e.db()->catalog->DropTable(e.txn(), *t));
    }
    return TagOnly("DROP SEQUENCE");
  };
  return p;
}

Result<ExprPtr> CompileSequenceFunction(CompileState& cs, const std::string& name,
                                        const PgQuery__FuncCall* fc) {
  if (name == "lastval" && fc->n_args == 0) {
    return MakeExpr(oid::kInt8, [](EvalState& st) -> Result<Value> {
      const auto& v = st.exec->last_sequence_value();
      if (!v) return Status::Sql("55000", "lastval is not yet defined in this session");
      return Value::Int(oid::kInt8, *v);
    });
  }
  bool next = name == "nextval" && fc->n_args == 1;
  bool curr = name == "currval" && fc->n_args == 1;
  bool set = name == "setval" && (fc->n_args == 2 || fc->n_args == 3);
  if (!next && !curr && !set) return ExprPtr();
  WALREP_ASSIGN_OR_RETURN(ExprPtr seq, SequenceArg(cs, fc->args[0]));
  ExprPtr value, called;
  if (set) {
    WALREP_ASSIGN_OR_RETURN(value, CompileExpr(cs, fc->args[1]));
    WALREP_ASSIGN_OR_RETURN(value, Coerce(cs, value, oid::kInt8, false));
    if (fc->n_args == 3) {
      WALREP_ASSIGN_OR_RETURN(called, CompileExpr(cs, fc->args[2]));
      WALREP_ASSIGN_OR_RETURN(called, Coerce(cs, called, oid::kBool, false));
    }
  }
  return MakeExpr(
      oid::kInt8, [seq, value, called, next, curr, fn = name](EvalState& st) -> Result<Value> {
        if (!st.exec || !st.exec->db()) return Status::Sql("42P01", "no sequences here");
        Executor& ex = *st.exec;
        WALREP_ASSIGN_OR_RETURN(Value arg, seq->eval(st));
        if (arg.is_null()) return Value::Null(oid::kInt8);
        WALREP_ASSIGN_OR_RETURN(TableDef t, LookupSequence(ex, arg.as_string(),
                                                           curr ? access::LockMode::kAccessShare
                                                                : access::LockMode::kRowExclusive));
        if (curr) {
          auto it = ex.sequence_values().find(t.oid);
          if (it == ex.sequence_values().end()) {
            return Status::Sql("55000", fmt::format("currval of sequence \"{}\" is not yet defined "
                                                    "in this session",
                                                    t.name));
          }
          return Value::Int(oid::kInt8, it->second);
        }
        if (st.ctx->in_recovery()) {
          return Status::Sql("25006",
                             fmt::format("cannot execute {}() in a read-only transaction", fn));
        }
        access::HeapEnv& env = ex.db()->engine->env();
        int64_t v;
        const access::SequenceOptions& o = t.sequence.options;
        if (next) {
          auto& cache = ex.sequence_caches()[t.oid];
          std::optional<int64_t> cached;
          if (cache.remaining > 0) cached = access::SequenceAdvance(o, cache.last);
          if (cached) {
            v = *cached;
            cache.remaining--;
          } else {
            int64_t fetched = 1;
            WALREP_ASSIGN_OR_RETURN(
                v, access::SequenceNext(env, t.rel, o, ex.txn(), t.name, o.cache, &fetched));
            cache.remaining = fetched - 1;
          }
          cache.last = v;
        } else {
          WALREP_ASSIGN_OR_RETURN(Value nv, value->eval(st));
          if (nv.is_null()) return Value::Null(oid::kInt8);
          bool is_called = true;
          if (called) {
            WALREP_ASSIGN_OR_RETURN(Value c, called->eval(st));
            if (c.is_null()) return Value::Null(oid::kInt8);
            is_called = c.as_bool();
          }
          v = nv.as_int();
          WALREP_RETURN_IF_ERROR(
              access::SequenceSet(env, t.rel, o, ex.txn(), t.name, v, is_called));
          ex.sequence_caches().erase(t.oid);  // as PostgreSQL: setval discards this session's cache
          if (!is_called) return Value::Int(oid::kInt8, v);  // currval stays as it was
        }
        ex.sequence_values()[t.oid] = v;
        ex.last_sequence_value() = v;
        return Value::Int(oid::kInt8, v);
      });
}

Result<std::vector<Row>> SequenceRows(Executor& ex, const TableDef& t) {
  WALREP_ASSIGN_OR_RETURN(access::SequenceState s,
                          access::SequenceRead(ex.db()->engine->env(), t.rel));
  return std::vector<Row>{Row{Value::Int(oid::kInt8, s.last_value),
                              Value::Int(oid::kInt8, s.log_cnt), Value::Bool(s.is_called)}};
}

}  // namespace walrep::sql
