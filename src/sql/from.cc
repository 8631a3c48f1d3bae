// walrep: the FROM clause — tables, system views, table functions and joins as row sources.
//
// Joins are nested loops over materialized inputs; when the join condition has equalities
// between a column of each side (ON a.x = b.y, or USING), the inner side is hashed on them
// first, so a join costs the size of its inputs and output rather than their product.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "spill.h"
#include "sql_internal.h"

namespace walrep::sql {

namespace {

Status MissingRelation(const std::string& name, int location) {
  return Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", name))
      .WithPosition(location + 1);
}

Result<TableFunctionSource> PrepareTableFunction(CompileState& cs,
                                                 const PgQuery__RangeFunction* rf) {
  if (rf->n_functions != 1 || rf->ordinality || rf->is_rowsfrom) {
    return Status::NotSupported("this form of function in FROM is not supported");
  }
  const PgQuery__Node* item = rf->functions[0];
  const PgQuery__Node* call = item->node_case == PG_QUERY__NODE__NODE_LIST && item->list->n_items
                                  ? item->list->items[0]
                                  : item;
  if (!call || call->node_case != PG_QUERY__NODE__NODE_FUNC_CALL) {
    return Status::NotSupported("this form of function in FROM is not supported");
  }
  return CompileTableFunctionCall(cs, call->func_call);
}

// Rows of a source, counted under the plan node `plan` (EXPLAIN ANALYZE).
RowSourceFn Counted(RowSourceFn rows, PlanPtr plan) {
  return [rows = std::move(rows), plan](EvalState& st) -> Result<RowIterPtr> {
    WALREP_ASSIGN_OR_RETURN(RowIterPtr it, rows(st));
    auto shared = std::shared_ptr<RowIter>(std::move(it));
    return FunctionIter(plan, [shared](Row* row) { return shared->Next(row); });
  };
}

FromPlan ViewSource(const ViewDef* view, const std::string& qualifier,
                    const std::vector<ViewColumn>& columns) {
  FromPlan f;
  f.scope->AddRelation(qualifier, columns);
  f.plan = MakePlan(fmt::format("Function Scan on {}", view->name));
  f.rows = [view, plan = f.plan](EvalState& st) -> Result<RowIterPtr> {
    WALREP_ASSIGN_OR_RETURN(auto rows, view->rows(*st.ctx));
    return VectorIter(plan, std::move(rows));
  };
  return f;
}

// `left`: the scope of the FROM items to the left, which a function's arguments and a LATERAL
// subquery may read (null for the first item).
Result<FromPlan> PrepareItem(Executor& ex, CompileState& cs, const PgQuery__Node* node,
                             const PgQuery__Node* where, Prepared* p, const Scope* left = nullptr);

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

// How many terms a condition's top-level AND has.
size_t CountAndTerms(const PgQuery__Node* n) {
  if (n && n->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
      n->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
    size_t total = 0;
    for (size_t i = 0; i < n->bool_expr->n_args; i++) total += CountAndTerms(n->bool_expr->args[i]);
    return total;
  }
  return 1;
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

struct JoinSpec {
  JoinType type;
  ExprPtr cond;                                      // ON condition, or null
  std::vector<std::pair<size_t, size_t>> merged;     // USING columns: (left, right) indexes
  std::vector<std::pair<size_t, size_t>> hash_keys;  // equalities to hash on
  // The hash keys are the whole condition: equal key texts are a match (no re-check).
  bool keys_decide = false;
  size_t lwidth, rwidth;
  Row lnull, rnull;  // a side's row of NULLs (outer joins)
  bool keep_left() const { return type == JoinType::kLeft || type == JoinType::kFull; }
  bool keep_right() const { return type == JoinType::kRight || type == JoinType::kFull; }
};

// What both join methods share: the match test, the output row, and a queue of output rows.
class JoinBase : public RowIter {
 public:
  JoinBase(EvalState& st, PlanPtr plan, std::shared_ptr<const JoinSpec> spec, RowIterPtr left,
           RowIterPtr right)
      : RowIter(std::move(plan)),
        st_(st),
        res_(&st.exec->resources()),
        spec_(std::move(spec)),
        left_(std::move(left)),
        right_(std::move(right)) {}

 protected:
  Result<bool> Matches(const Row& l, const Row& r) {
    const JoinSpec& j = *spec_;
    if (j.keys_decide) return true;
    if (!j.merged.empty()) {
      for (const auto& [li, rj] : j.merged) {
        if (l[li].is_null() || r[rj].is_null()) return false;
        WALREP_ASSIGN_OR_RETURN(int c, CompareValues(l[li], r[rj]));
        if (c != 0) return false;
      }
      return true;
    }
    if (!j.cond) return true;
    both_.assign(l.begin(), l.end());
    both_.insert(both_.end(), r.begin(), r.end());
    return IsTrueFor(st_, *j.cond, both_);
  }
  // USING columns, then the left side's, then the right side's.
  void Emit(const Row& l, const Row& r) {
    Row o;
    o.reserve(spec_->merged.size() + spec_->lwidth + spec_->rwidth);
    for (const auto& [li, ri] : spec_->merged) o.push_back(l[li].is_null() ? r[ri] : l[li]);
    o.insert(o.end(), l.begin(), l.end());
    o.insert(o.end(), r.begin(), r.end());
    pending_.push_back(std::move(o));
  }
  bool TakePending(Row* row) {
    if (pending_pos_ >= pending_.size()) {
      pending_.clear();
      pending_pos_ = 0;
      return false;
    }
    *row = std::move(pending_[pending_pos_++]);
    return true;
  }
  // The side's key text for hashing; false when a key value is NULL (it matches nothing).
  bool KeyOf(const Row& row, bool is_left, std::string* key) {
    key->clear();
    for (const auto& [l, r] : spec_->hash_keys) {
      const Value& v = row[is_left ? l : r];
      if (v.is_null()) return false;
      *key += ToText(v, st_.fmt);
      key->push_back('\0');
    }
    return true;
  }

  EvalState& st_;
  ExecResources* res_;
  std::shared_ptr<const JoinSpec> spec_;
  RowIterPtr left_, right_;
  uint64_t pulled_ = 0;

 private:
  Row both_;
  std::vector<Row> pending_;
  size_t pending_pos_ = 0;
};

// Nested loop: the inner side is read once into a tuplestore (spilling past work_mem) and
// scanned again for each outer row.
class NestLoop : public JoinBase {
 public:
  using JoinBase::JoinBase;

 protected:
  Result<bool> Pull(Row* row) override {
    if (!inner_) {
      inner_ = std::make_unique<Tuplestore>(res_, res_->WorkMem());
      Row r;
      while (true) {
        WALREP_ASSIGN_OR_RETURN(bool more, right_->Next(&r));
        if (!more) break;
        WALREP_RETURN_IF_ERROR(inner_->Append(std::move(r)));
      }
      if (spec_->keep_right()) matched_.assign(inner_->rows(), false);
    }
    while (true) {
      if (TakePending(row)) return true;
      if (done_) return false;
      if (!have_outer_) {
        WALREP_ASSIGN_OR_RETURN(bool more, left_->Next(&outer_));
        if (!more) {
          // Right and full joins: the inner rows nothing matched.
          if (spec_->keep_right()) {
            inner_->Rewind();
            Row r;
            for (size_t i = 0;; i++) {
              WALREP_ASSIGN_OR_RETURN(bool m, inner_->Next(&r));
              if (!m) break;
              if (!matched_[i]) Emit(spec_->lnull, r);
            }
          }
          done_ = true;
          continue;
        }
        have_outer_ = true;
        outer_matched_ = false;
        inner_->Rewind();
        inner_pos_ = 0;
      }
      // A bounded number of inner rows per call, so the queue stays small.
      Row r;
      for (int k = 0; k < 256; k++) {
        WALREP_ASSIGN_OR_RETURN(bool more, inner_->Next(&r));
        if (!more) {
          if (!outer_matched_ && spec_->keep_left()) Emit(outer_, spec_->rnull);
          have_outer_ = false;
          break;
        }
        size_t i = inner_pos_++;
        WALREP_ASSIGN_OR_RETURN(bool m, Matches(outer_, r));
        if (!m) continue;
        outer_matched_ = true;
        if (spec_->keep_right()) matched_[i] = true;
        Emit(outer_, r);
      }
      if (++pulled_ % 64 == 0) WALREP_RETURN_IF_ERROR(st_.ctx->CheckInterrupts());
    }
  }

 private:
  std::unique_ptr<Tuplestore> inner_;
  std::vector<bool> matched_;
  Row outer_;
  bool have_outer_ = false, outer_matched_ = false, done_ = false;
  size_t inner_pos_ = 0;
};

// Hash join on equalities: the inner (right) side is hashed on its key. Past hash_mem the
// inner side is split into batches by key hash (doubling their number as needed, as
// PostgreSQL's nodeHash): batch 0 stays in memory, the others wait in temporary files with the
// outer rows of the same batches, and are joined one batch at a time.
class HashJoin : public JoinBase {
 public:
  HashJoin(EvalState& st, PlanPtr plan, std::shared_ptr<const JoinSpec> spec, RowIterPtr left,
           RowIterPtr right)
      : JoinBase(st, std::move(plan), std::move(spec), std::move(left), std::move(right)),
        budget_(res_->HashMem()) {}
  ~HashJoin() override { res_->TrackMemory(-mem_); }

 protected:
  Result<bool> Pull(Row* row) override {
    if (!built_) {
      WALREP_RETURN_IF_ERROR(Build());
      built_ = true;
    }
    while (true) {
      if (TakePending(row)) return true;
      if (done_) return false;
      Row l;
      bool more;
      if (cur_batch_ == 0) {
        WALREP_ASSIGN_OR_RETURN(more, left_->Next(&l));
      } else if (outer_files_[cur_batch_]) {
        WALREP_ASSIGN_OR_RETURN(more, outer_files_[cur_batch_]->ReadRow(&l));
      } else {
        more = false;
      }
      if (more) {
        if (++pulled_ % 1024 == 0) WALREP_RETURN_IF_ERROR(st_.ctx->CheckInterrupts());
        WALREP_RETURN_IF_ERROR(Probe(l));
        continue;
      }
      // The batch's outer rows are done: its unmatched inner rows (right and full joins), then
      // the next batch.
      if (spec_->keep_right()) {
        for (size_t i = 0; i < inner_.size(); i++) {
          if (!matched_[i]) Emit(spec_->lnull, inner_[i]);
        }
      }
      outer_files_[cur_batch_].reset();
      if (++cur_batch_ < nbatch_) {
        WALREP_RETURN_IF_ERROR(LoadBatch(cur_batch_));
        continue;
      }
      if (null_inner_) {  // inner rows with a NULL key match nothing
        null_inner_->Rewind();
        Row r;
        while (true) {
          WALREP_ASSIGN_OR_RETURN(bool m, null_inner_->Next(&r));
          if (!m) break;
          Emit(spec_->lnull, r);
        }
      }
      ClearInner();
      done_ = true;
    }
  }

 private:
  static constexpr size_t kMaxBatches = 1 << 16;

  size_t BatchOf(const std::string& key) const {
    // Mixed, so that a batch's keys still spread over the hash table's buckets.
    uint64_t h = std::hash<std::string>()(key) * 0x9e3779b97f4a7c15ULL;
    return static_cast<size_t>((h >> 32) % nbatch_);
  }

  void AddInner(Row row, const std::string& key) {
    int64_t m = static_cast<int64_t>(RowMemory(row) + key.size() + 48);
    mem_ += m;
    res_->TrackMemory(m);
    max_mem_ = std::max(max_mem_, mem_);
    table_.emplace(key, inner_.size());
    inner_.push_back(std::move(row));
  }

  Status WriteTo(std::vector<std::unique_ptr<TempFile>>* files, size_t b, const Row& row) {
    if (!(*files)[b]) {
      WALREP_ASSIGN_OR_RETURN((*files)[b], TempFile::Create(res_));
    }
    return (*files)[b]->WriteRow(row);
  }

  void ClearInner() {
    inner_.clear();
    inner_.shrink_to_fit();
    table_.clear();
    res_->TrackMemory(-mem_);
    mem_ = 0;
  }

  // Doubles the number of batches; rows of the current batch that now belong to a later one
  // move to its file.
  Status IncreaseBatches() {
    nbatch_ *= 2;
    inner_files_.resize(nbatch_);
    outer_files_.resize(nbatch_);
    std::vector<Row> rows = std::move(inner_);
    ClearInner();
    std::string key;
    for (Row& r : rows) {
      KeyOf(r, false, &key);
      size_t b = BatchOf(key);
      if (b == cur_batch_) {
        AddInner(std::move(r), key);
      } else {
        WALREP_RETURN_IF_ERROR(WriteTo(&inner_files_, b, r));
      }
    }
    return Status::OK();
  }

  Status AddBuildRow(Row r) {
    std::string key;
    if (!KeyOf(r, false, &key)) {
      if (spec_->keep_right()) {
        if (!null_inner_) null_inner_ = std::make_unique<Tuplestore>(res_, res_->WorkMem());
        WALREP_RETURN_IF_ERROR(null_inner_->Append(std::move(r)));
      }
      return Status::OK();
    }
    size_t b = BatchOf(key);
    if (b != cur_batch_) return WriteTo(&inner_files_, b, r);
    AddInner(std::move(r), key);
    while (mem_ > static_cast<int64_t>(budget_) && nbatch_ < kMaxBatches) {
      WALREP_RETURN_IF_ERROR(IncreaseBatches());
    }
    return Status::OK();
  }

  Status Build() {
    inner_files_.resize(1);
    outer_files_.resize(1);
    Row r;
    uint64_t n = 0;
    while (true) {
      WALREP_ASSIGN_OR_RETURN(bool more, right_->Next(&r));
      if (!more) break;
      if (++n % 1024 == 0) WALREP_RETURN_IF_ERROR(st_.ctx->CheckInterrupts());
      WALREP_RETURN_IF_ERROR(AddBuildRow(std::move(r)));
    }
    inner_rows_ = n;
    matched_.assign(inner_.size(), false);
    ReportHash();
    return Status::OK();
  }

  Status LoadBatch(size_t b) {
    ClearInner();
    if (std::unique_ptr<TempFile> f = std::move(inner_files_[b])) {
      WALREP_RETURN_IF_ERROR(f->Rewind());
      Row r;
      while (true) {
        WALREP_ASSIGN_OR_RETURN(bool more, f->ReadRow(&r));
        if (!more) break;
        WALREP_RETURN_IF_ERROR(AddBuildRow(std::move(r)));
      }
    }
    matched_.assign(inner_.size(), false);
    if (outer_files_[b]) WALREP_RETURN_IF_ERROR(outer_files_[b]->Rewind());
    ReportHash();
    return Status::OK();
  }

  Status Probe(const Row& l) {
    std::string key;
    if (!KeyOf(l, true, &key)) {
      if (spec_->keep_left()) Emit(l, spec_->rnull);
      return Status::OK();
    }
    size_t b = BatchOf(key);
    if (b != cur_batch_) return WriteTo(&outer_files_, b, l);  // a later batch's row
    auto [first, last] = table_.equal_range(key);
    hits_.clear();
    for (auto it = first; it != last; ++it) hits_.push_back(it->second);
    std::sort(hits_.begin(), hits_.end());  // keep the inner side's order
    bool matched = false;
    for (size_t i : hits_) {
      WALREP_ASSIGN_OR_RETURN(bool m, Matches(l, inner_[i]));
      if (!m) continue;
      matched = true;
      matched_[i] = true;
      Emit(l, inner_[i]);
    }
    if (!matched && spec_->keep_left()) Emit(l, spec_->rnull);
    return Status::OK();
  }

  // EXPLAIN ANALYZE: the Hash node under the join.
  void ReportHash() {
    if (!plan_ || !plan_->actual.analyze || plan_->children.size() < 2) return;
    PlanNode& hash = *plan_->children[1];
    hash.actual.analyze = true;
    hash.actual.loops = 1;
    hash.actual.rows = inner_rows_;
    size_t buckets = 1024;
    while (buckets < table_.size()) buckets *= 2;
    hash.actual.details = {fmt::format("Buckets: {}  Batches: {}  Memory Usage: {}kB", buckets,
                                       nbatch_, (max_mem_ + 1023) / 1024)};
  }

  size_t budget_;
  bool built_ = false, done_ = false;
  std::vector<Row> inner_;  // the current batch's inner rows
  std::vector<bool> matched_;
  std::unordered_multimap<std::string, size_t> table_;
  std::vector<size_t> hits_;
  int64_t mem_ = 0, max_mem_ = 0;
  uint64_t inner_rows_ = 0;
  size_t nbatch_ = 1, cur_batch_ = 0;
  std::vector<std::unique_ptr<TempFile>> inner_files_, outer_files_;
  std::unique_ptr<Tuplestore> null_inner_;
};

// Joins two prepared sides on `quals` (ON) or on the named columns (USING), or on nothing (a
// FROM list, whose WHERE clause `filter` may still supply equalities to hash on).
Result<FromPlan> JoinPlans(CompileState& cs, FromPlan left, FromPlan right, JoinType type,
                           const PgQuery__Node* quals, const std::vector<std::string>& using_cols,
                           const PgQuery__Node* filter = nullptr) {
  // The condition sees both sides side by side.
  WALREP_ASSIGN_OR_RETURN(Scope both, left.scope->Join(*right.scope));
  const size_t lwidth = left.scope->columns.size(), rwidth = right.scope->columns.size();
  std::vector<std::pair<size_t, size_t>> keys;
  size_t quals_terms = 0;  // top-level AND terms of the ON condition
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
    quals_terms = CountAndTerms(quals);
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
  auto spec = std::make_shared<JoinSpec>();
  spec->type = type;
  spec->cond = cond;
  spec->merged = merged;
  spec->hash_keys = hash_keys;
  // Hashing compares the keys' text, which is equality for the hashable types: when the keys
  // are every term of the condition (or every USING column), a hash hit is a match.
  spec->keys_decide =
      !hash_keys.empty() && hash_keys.size() == keys.size() &&
      (merged.empty() ? cond && quals_terms == keys.size() : hash_keys.size() == merged.size());
  spec->lwidth = lwidth;
  spec->rwidth = rwidth;
  for (int32_t t : ltypes) spec->lnull.push_back(Value::Null(t));
  for (int32_t t : rtypes) spec->rnull.push_back(Value::Null(t));
  out.rows = [left = left.rows, right = right.rows, spec,
              plan = out.plan](EvalState& st) -> Result<RowIterPtr> {
    WALREP_ASSIGN_OR_RETURN(RowIterPtr l, left(st));
    WALREP_ASSIGN_OR_RETURN(RowIterPtr r, right(st));
    if (spec->hash_keys.empty()) {
      return RowIterPtr(std::make_unique<NestLoop>(st, plan, spec, std::move(l), std::move(r)));
    }
    return RowIterPtr(std::make_unique<HashJoin>(st, plan, spec, std::move(l), std::move(r)));
  };
  return out;
}

// A nested loop that runs the right side again for each left row, which the right side reads
// as its innermost outer row (LATERAL). LEFT: a left row without right rows (passing `quals`)
// comes once with NULLs.
class LateralLoop : public RowIter {
 public:
  LateralLoop(EvalState& st, PlanPtr plan, RowIterPtr left, RowSourceFn right, ExprPtr cond,
              bool left_join, std::vector<int32_t> right_types)
      : RowIter(std::move(plan)),
        st_(st),
        left_(std::move(left)),
        right_source_(std::move(right)),
        cond_(std::move(cond)),
        left_join_(left_join),
        right_types_(std::move(right_types)) {}

 protected:
  Result<bool> Pull(Row* row) override {
    while (true) {
      if (!right_) {
        WALREP_ASSIGN_OR_RETURN(bool more, left_->Next(&left_row_));
        if (!more) return false;
        // Left rows whose right side is empty return nothing: check for cancel here, as the
        // other joins do.
        if (++pulled_ % 64 == 0) WALREP_RETURN_IF_ERROR(st_.ctx->CheckInterrupts());
        matched_ = false;
        WALREP_RETURN_IF_ERROR(WithLeftRow([&]() -> Status {
          WALREP_ASSIGN_OR_RETURN(right_, right_source_(st_));
          return Status::OK();
        }));
      }
      Row r;
      bool more = false;
      WALREP_RETURN_IF_ERROR(WithLeftRow([&]() -> Status {
        WALREP_ASSIGN_OR_RETURN(more, right_->Next(&r));
        return Status::OK();
      }));
      if (!more) {
        right_.reset();
        if (left_join_ && !matched_) {
          *row = left_row_;
          for (int32_t t : right_types_) row->push_back(Value::Null(t));
          return true;
        }
        continue;
      }
      Row both = left_row_;
      both.insert(both.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
      if (cond_) {
        WALREP_ASSIGN_OR_RETURN(bool match, IsTrueFor(st_, *cond_, both));
        if (!match) continue;
      }
      matched_ = true;
      *row = std::move(both);
      return true;
    }
  }

 private:
  // Runs `fn` with the left row as the innermost outer row (only for that call, so outer rows
  // others pushed keep their depths between pulls).
  Status WithLeftRow(const std::function<Status()>& fn) {
    st_.outer_rows.push_back(&left_row_);
    Status s = fn();
    st_.outer_rows.pop_back();
    return s;
  }

  EvalState& st_;
  RowIterPtr left_;
  RowSourceFn right_source_;
  ExprPtr cond_;
  bool left_join_;
  std::vector<int32_t> right_types_;
  Row left_row_;
  RowIterPtr right_;
  bool matched_ = false;
  uint64_t pulled_ = 0;
};

// The top-level AND terms of `where` that read only the left side's columns (nothing of the
// right side or of an enclosing query), so that the left rows can be filtered before a LATERAL
// item runs for them — as PostgreSQL pushes them down: pg_rewind's file list calls pg_ls_dir
// only for rows WHERE parent.isdir.
void LeftOnlyTerms(CompileState& cs, const Scope& left, const PgQuery__Node* where,
                   std::vector<ExprPtr>* out) {
  if (!where) return;
  if (where->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
      where->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
    for (size_t i = 0; i < where->bool_expr->n_args; i++) {
      LeftOnlyTerms(cs, left, where->bool_expr->args[i], out);
    }
    return;
  }
  CompileState lcs = cs;
  lcs.scope = &left;
  lcs.outer_scopes.clear();
  lcs.correlated.clear();
  lcs.aggs = nullptr;
  lcs.windows = nullptr;
  lcs.srfs = nullptr;
  std::vector<int32_t> no_params;  // a term with a parameter stays in the WHERE filter
  lcs.param_types = &no_params;
  auto e = CompileExpr(lcs, where);
  if (!e.ok()) return;
  auto b = Coerce(lcs, *e, oid::kBool, false);
  if (b.ok() && no_params.empty()) out->push_back(*b);
}

Result<FromPlan> LateralJoin(CompileState& cs, FromPlan left, FromPlan right, JoinType type,
                             const PgQuery__Node* quals, const PgQuery__Node* where = nullptr) {
  std::vector<ExprPtr> left_filter;
  if (type == JoinType::kInner) LeftOnlyTerms(cs, *left.scope, where, &left_filter);
  FromPlan out;
  WALREP_ASSIGN_OR_RETURN(*out.scope, left.scope->Join(*right.scope));
  ExprPtr cond;
  if (quals) {
    CompileState qcs = cs;
    qcs.scope = out.scope.get();
    qcs.aggs = nullptr;
    WALREP_ASSIGN_OR_RETURN(cond, CompileExpr(qcs, quals));
    WALREP_ASSIGN_OR_RETURN(cond, Coerce(qcs, cond, oid::kBool, false));
  }
  std::vector<int32_t> right_types;
  for (const auto& c : right.scope->columns) right_types.push_back(c.type);
  out.plan = MakePlan("Nested Loop", {left.plan, right.plan});
  if (type == JoinType::kLeft) out.plan->label = "Nested Loop Left Join";
  bool left_join = type == JoinType::kLeft;
  out.rows = [lrows = left.rows, rrows = right.rows, cond, left_join, right_types, left_filter,
              plan = out.plan](EvalState& st) -> Result<RowIterPtr> {
    WALREP_ASSIGN_OR_RETURN(RowIterPtr l, lrows(st));
    for (const auto& f : left_filter) l = FilterIter(st, std::move(l), f);
    return RowIterPtr(
        std::make_unique<LateralLoop>(st, plan, std::move(l), rrows, cond, left_join, right_types));
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
  WALREP_ASSIGN_OR_RETURN(FromPlan right,
                          PrepareItem(ex, cs, j->rarg, nullptr, p, left.scope.get()));
  if (right.lateral) {
    if (type != JoinType::kInner && type != JoinType::kLeft) {
      return Status::Sql("42P10", "the join type of a LATERAL item must be INNER or LEFT");
    }
    return LateralJoin(cs, std::move(left), std::move(right), type, j->quals);
  }
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
                             const PgQuery__Node* where, Prepared* p, const Scope* left) {
  // Items to the right may read the left ones' columns (functions always, subqueries with
  // LATERAL), as correlated references to an outer row.
  auto lateral = std::make_shared<bool>(false);
  CompileState lcs = cs;
  if (left) {
    lcs.outer_scopes.push_back(left);
    lcs.correlated.push_back(lateral.get());
  }
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_RANGE_FUNCTION: {
      const auto* rf = node->range_function;
      WALREP_ASSIGN_OR_RETURN(TableFunctionSource fn, PrepareTableFunction(lcs, rf));
      std::string qualifier = fn.name;
      if (const auto* alias = rf->alias) {
        qualifier = alias->aliasname;
        // As in PostgreSQL: column aliases rename the columns in order; a bare alias also names
        // the column of a function that returns one.
        for (size_t i = 0; i < alias->n_colnames && i < fn.columns.size(); i++) {
          fn.columns[i].name = StringNodeValue(alias->colnames[i]);
        }
        if (alias->n_colnames == 0 && fn.columns.size() == 1) fn.columns[0].name = alias->aliasname;
      }
      FromPlan f;
      f.scope->AddRelation(qualifier, fn.columns);
      f.plan = MakePlan(fmt::format("Function Scan on {}", fn.name));
      f.rows = Counted(std::move(fn.rows), f.plan);
      f.lateral = *lateral;
      return f;
    }
    case PG_QUERY__NODE__NODE_RANGE_SUBSELECT: {
      // (SELECT ...) AS alias [(names)]: the query's rows as a relation.
      const auto* rs = node->range_subselect;
      if (!rs->subquery || rs->subquery->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) {
        return Status::NotSupported("this FROM clause is not supported");
      }
      if (!rs->alias) {
        return Status::Sql("42601", "subquery in FROM must have an alias");
      }
      CompileState own = rs->lateral ? lcs : cs;
      own.scope = nullptr;
      own.aggs = nullptr;
      WALREP_ASSIGN_OR_RETURN(auto sub, PrepareSubSelect(ex, own, rs->subquery->select_stmt));
      std::vector<ViewColumn> columns;
      for (const auto& c : sub->cols) columns.push_back(ViewColumn{c.name, c.type});
      const auto* alias = rs->alias;
      for (size_t i = 0; i < alias->n_colnames && i < columns.size(); i++) {
        columns[i].name = StringNodeValue(alias->colnames[i]);
      }
      if (alias->n_colnames > columns.size()) {
        return Status::Sql("42P10",
                           fmt::format("table \"{}\" has {} columns available but {} "
                                       "columns specified",
                                       alias->aliasname, columns.size(), alias->n_colnames));
      }
      FromPlan f;
      f.scope->AddRelation(alias->aliasname, columns);
      f.plan = MakePlan(fmt::format("Subquery Scan on {}", alias->aliasname), {sub->plan});
      f.rows = Counted([sub](EvalState& st) { return sub->source(st); }, f.plan);
      f.lateral = *lateral;
      return f;
    }
    case PG_QUERY__NODE__NODE_RANGE_VAR: {
      const auto* rv = node->range_var;
      std::string name = rv->relname;
      // public holds every table (pg_temp the session's temporary ones, found first anyway);
      // another schema is one of the registry's (information_schema.x).
      std::string schema = rv->schemaname ? rv->schemaname : "";
      if (!schema.empty() && schema != "pg_catalog" && schema != "public" && schema != "pg_temp") {
        name = schema + "." + name;
      }
      std::string qualifier = rv->alias ? rv->alias->aliasname : rv->relname;
      // A WITH query of this statement (or an enclosing one) hides tables of its name.
      if (!rv->schemaname || !*rv->schemaname) {
        for (const CteDef* c = cs.ctes.get(); c; c = c->outer.get()) {
          if (c->name != rv->relname) continue;
          FromPlan f;
          f.scope->AddRelation(qualifier, c->columns);
          f.plan = MakePlan(fmt::format("CTE Scan on {}", rv->relname));
          if (rv->alias) f.plan->label += " " + qualifier;
          auto source = c->source;
          f.rows = Counted([source](EvalState& st) { return source(st); }, f.plan);
          return f;
        }
      }
      // pg_catalog comes first in every search path, as in PostgreSQL.
      bool catalog_schema =
          !rv->schemaname || !*rv->schemaname || std::string(rv->schemaname) == "pg_catalog";
      std::string catalog_name = rv->relname;
      if (schema == "information_schema") {
        catalog_schema = true;
        catalog_name = schema + "." + catalog_name;
      }
      if (const auto* cols = catalog_schema ? FindCatalogRelation(catalog_name) : nullptr) {
        FromPlan f;
        f.scope->AddRelation(qualifier, *cols);
        // The system column tableoid (pg_dump selects it), not part of SELECT *.
        f.scope->columns.push_back(ScopeColumn{qualifier, "tableoid", oid::kOid, false});
        f.plan = MakePlan(fmt::format("Seq Scan on {}", rv->relname));
        if (rv->alias) f.plan->label += " " + qualifier;
        std::string rel = catalog_name;
        f.rows = [rel, plan = f.plan](EvalState& st) -> Result<RowIterPtr> {
          WALREP_ASSIGN_OR_RETURN(auto rows, CatalogRelationRows(*st.exec, *st.ctx, rel));
          Value tableoid = Value::Int(oid::kOid, CatalogRelationOid(rel));
          for (Row& r : rows) r.push_back(tableoid);
          return VectorIter(plan, std::move(rows));
        };
        return f;
      }
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
    WALREP_ASSIGN_OR_RETURN(FromPlan next,
                            PrepareItem(ex, cs, s->from_clause[i], nullptr, p, f.scope.get()));
    if (next.lateral) {
      WALREP_ASSIGN_OR_RETURN(f, LateralJoin(cs, std::move(f), std::move(next), JoinType::kInner,
                                             nullptr, s->where_clause));
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(f, JoinPlans(cs, std::move(f), std::move(next), JoinType::kInner,
                                         nullptr, {}, s->where_clause));
  }
  return f;
}

Result<TableFunctionSource> CompileTableFunctionCall(CompileState& cs,
                                                     const PgQuery__FuncCall* fc) {
  std::string name = StringNodeValue(fc->funcname[fc->n_funcname - 1]);
  const TableFunctionDef* tf = cs.registry->FindTableFunction(name);
  // Overloaded functions check their argument count in `resolve`.
  if (!tf || (!tf->resolve && (fc->n_args > tf->arg_types.size() ||
                               fc->n_args < std::min(tf->min_args, tf->arg_types.size())))) {
    return Status::Sql("42883", fmt::format("function {} does not exist", name))
        .WithPosition(fc->location + 1);
  }
  TableFunctionSource out;
  out.name = tf->name;
  out.columns = tf->columns;
  std::vector<ExprPtr> args;
  for (size_t i = 0; i < fc->n_args; i++) {
    WALREP_ASSIGN_OR_RETURN(ExprPtr a, CompileExpr(cs, fc->args[i]));
    args.push_back(a);
  }
  std::vector<int32_t> types = tf->arg_types;
  if (tf->resolve) {
    types.clear();
    for (const auto& a : args) types.push_back(a->type);
    auto cols = tf->resolve(types);
    if (!cols.ok()) return cols.TakeStatus().WithPosition(fc->location + 1);
    out.columns = *cols;
  }
  for (size_t i = 0; i < args.size(); i++) {
    WALREP_ASSIGN_OR_RETURN(args[i], Coerce(cs, args[i], types[i], false));
  }
  for (size_t i = args.size(); i < types.size() && !tf->resolve; i++) {
    args.push_back(ConstExpr(Value::Null(types[i])));
  }
  const TableFunctionDef* def = tf;
  out.rows = [def, args](EvalState& st) -> Result<RowIterPtr> {
    std::vector<Value> vals;
    for (const auto& a : args) {
      WALREP_ASSIGN_OR_RETURN(Value v, a->eval(st));
      vals.push_back(std::move(v));
    }
    if (def->stream) {
      WALREP_ASSIGN_OR_RETURN(auto next, def->stream(*st.ctx, vals));
      // A function's rows may never reach the client (a filter or a join above drops them):
      // cancel and statement_timeout are checked here too (docs/reliability.md, finding 19).
      return FunctionIter(nullptr,
                          [next = std::move(next), ctx = st.ctx,
                           n = uint64_t{0}](Row* row) mutable -> Result<bool> {
                            if (++n % 1024 == 0) WALREP_RETURN_IF_ERROR(ctx->CheckInterrupts());
                            return next(row);
                          });
    }
    WALREP_ASSIGN_OR_RETURN(auto rows, def->rows(*st.ctx, vals));
    return VectorIter(nullptr, std::move(rows));
  };
  return out;
}

Result<Scope> Scope::Join(const Scope& right) const {
  for (const auto& r : right.rels) {
    if (std::find(rels.begin(), rels.end(), r) != rels.end()) {
      return Status::Sql("42712", fmt::format("table name \"{}\" specified more than once", r));
    }
  }
  Scope both = *this;
  both.rels.insert(both.rels.end(), right.rels.begin(), right.rels.end());
  both.columns.insert(both.columns.end(), right.columns.begin(), right.columns.end());
  return both;
}

}  // namespace walrep::sql
