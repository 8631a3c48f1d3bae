// walrep: the executor's generic plan nodes as pull iterators — filters, projections, sorts,
// aggregation, LIMIT — and the stream a result set reads (see sql_internal.h).
#include <fmt/format.h>

#include <chrono>
#include <new>
#include <unordered_map>

#include "spill.h"
#include "sql_internal.h"

namespace walrep::sql {

namespace {

double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class VecIter : public RowIter {
 public:
  VecIter(PlanPtr plan, std::vector<Row> rows) : RowIter(std::move(plan)), rows_(std::move(rows)) {}

 protected:
  Result<bool> Pull(Row* row) override {
    if (pos_ >= rows_.size()) return false;
    *row = std::move(rows_[pos_++]);
    return true;
  }

 private:
  std::vector<Row> rows_;
  size_t pos_ = 0;
};

class FnIter : public RowIter {
 public:
  FnIter(PlanPtr plan, std::function<Result<bool>(Row*)> next)
      : RowIter(std::move(plan)), next_(std::move(next)) {}

 protected:
  Result<bool> Pull(Row* row) override { return next_(row); }

 private:
  std::function<Result<bool>(Row*)> next_;
};

}  // namespace

Result<bool> IsTrueFor(EvalState& st, const Expr& pred, const Row& row) {
  const Row* saved = st.row;
  st.row = &row;
  auto v = pred.eval(st);
  st.row = saved;
  if (!v.ok()) return v.TakeStatus();
  return !v->is_null() && v->as_bool();
}

namespace {

class Filter : public RowIter {
 public:
  Filter(EvalState& st, RowIterPtr child, ExprPtr pred)
      : st_(st), child_(std::move(child)), pred_(std::move(pred)) {}

 protected:
  Result<bool> Pull(Row* row) override {
    while (true) {
      WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(row));
      if (!more) return false;
      WALREP_ASSIGN_OR_RETURN(bool ok, IsTrueFor(st_, *pred_, *row));
      if (ok) return true;
    }
  }

 private:
  EvalState& st_;
  RowIterPtr child_;
  ExprPtr pred_;
};

class Truncate : public RowIter {
 public:
  Truncate(RowIterPtr child, size_t width) : child_(std::move(child)), width_(width) {}

 protected:
  Result<bool> Pull(Row* row) override {
    WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(row));
    if (more && row->size() > width_) row->resize(width_);
    return more;
  }

 private:
  RowIterPtr child_;
  size_t width_;
};

class Limit : public RowIter {
 public:
  Limit(PlanPtr plan, RowIterPtr child, int64_t offset, int64_t limit)
      : RowIter(std::move(plan)), child_(std::move(child)), offset_(offset), limit_(limit) {}

 protected:
  Result<bool> Pull(Row* row) override {
    if (limit_ >= 0 && returned_ >= limit_) return false;  // the child is not read further
    for (; offset_ > 0; offset_--) {
      WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(row));
      if (!more) return false;
    }
    WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(row));
    if (more) returned_++;
    return more;
  }

 private:
  RowIterPtr child_;
  int64_t offset_, limit_, returned_ = 0;
};

Result<int> CompareSortColumns(const std::vector<SortColumn>& keys, const Row& a, const Row& b) {
  for (const SortColumn& k : keys) {
    const Value &x = a[k.index], &y = b[k.index];
    if (x.is_null() || y.is_null()) {
      if (x.is_null() && y.is_null()) continue;
      return x.is_null() == k.nulls_first ? -1 : 1;
    }
    WALREP_ASSIGN_OR_RETURN(int c, CompareValues(x, y));
    if (c != 0) return k.desc ? -c : c;
  }
  return 0;
}

class Sort : public RowIter {
 public:
  Sort(EvalState& st, PlanPtr plan, RowIterPtr child, std::vector<SortColumn> keys, int64_t bound)
      : RowIter(plan),
        child_(std::move(child)),
        sorter_(
            &st.exec->resources(), st.exec->resources().WorkMem(),
            [keys = std::move(keys)](const Row& a, const Row& b) {
              return CompareSortColumns(keys, a, b);
            },
            bound),
        ctx_(st.ctx) {}

 protected:
  Result<bool> Pull(Row* row) override {
    if (!sorted_) {
      Row in;
      uint64_t n = 0;
      while (true) {
        WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(&in));
        if (!more) break;
        WALREP_RETURN_IF_ERROR(sorter_.Add(std::move(in)));
        if (++n % 1024 == 0) WALREP_RETURN_IF_ERROR(ctx_->CheckInterrupts());
      }
      WALREP_RETURN_IF_ERROR(sorter_.Finish());
      sorted_ = true;
      if (plan_ && plan_->actual.analyze) plan_->actual.details = {sorter_.MethodDetail()};
    }
    return sorter_.Next(row);
  }

 private:
  RowIterPtr child_;
  Sorter sorter_;
  SessionContext* ctx_;
  bool sorted_ = false;
};

class Unique : public RowIter {
 public:
  Unique(PlanPtr plan, RowIterPtr child, size_t width)
      : RowIter(std::move(plan)), child_(std::move(child)), width_(width) {}

 protected:
  Result<bool> Pull(Row* row) override {
    while (true) {
      WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(row));
      if (!more) return false;
      bool same = have_prev_;
      for (size_t i = 0; same && i < width_; i++) {
        const Value &a = (*row)[i], &b = prev_[i];
        if (a.is_null() || b.is_null()) {
          same = a.is_null() && b.is_null();
          continue;
        }
        WALREP_ASSIGN_OR_RETURN(int c, CompareValues(a, b));
        same = c == 0;
      }
      if (same) continue;
      prev_.assign(row->begin(), row->begin() + static_cast<ptrdiff_t>(width_));
      have_prev_ = true;
      return true;
    }
  }

 private:
  RowIterPtr child_;
  size_t width_;
  Row prev_;
  bool have_prev_ = false;
};

// One aggregate's running state.
struct Acc {
  int64_t count = 0;
  bool any = false;
  __int128 isum = 0;
  Numeric nsum;
  double fsum = 0;
  Value best;
  ArrayElems items;  // array_agg
  std::string text;  // string_agg
  // With DISTINCT or ORDER BY: rows of (sort keys..., value, delimiter), sorted at the end and
  // only then accumulated. A sorter, so that count(DISTINCT x) over a large table stays within
  // work_mem, as PostgreSQL's per-aggregate tuplesort does.
  std::unique_ptr<Sorter> sorted;
};

// Adds one value (and string_agg's delimiter) to an aggregate's state.
Status Accumulate(const AggSpec& a, Acc& acc, Value v, const Value& delim) {
  if (a.kind == AggSpec::kArrayAgg) {  // keeps NULLs
    acc.any = true;
    acc.items.push_back(std::move(v));
    return Status::OK();
  }
  if (v.is_null()) return Status::OK();
  if (a.kind == AggSpec::kStringAgg) {
    if (acc.any && !delim.is_null()) acc.text += delim.as_string();
    acc.text += v.as_string();
  }
  acc.count++;
  bool first = !acc.any;
  acc.any = true;
  switch (a.kind) {
    case AggSpec::kBoolAnd:
    case AggSpec::kBoolOr:
      if (first || v.as_bool() == (a.kind == AggSpec::kBoolOr)) acc.best = v;
      break;
    case AggSpec::kSum:
    case AggSpec::kAvg:
      if (IsIntegerType(v.type())) {
        acc.isum += v.as_int();
      } else if (v.type() == oid::kNumeric) {
        WALREP_ASSIGN_OR_RETURN(acc.nsum, NumericArith('+', acc.nsum, v.as_numeric()));
      } else {
        acc.fsum += v.as_double();
      }
      break;
    case AggSpec::kMin:
    case AggSpec::kMax: {
      if (acc.best.is_null()) {
        acc.best = std::move(v);
      } else {
        WALREP_ASSIGN_OR_RETURN(int c, CompareValues(v, acc.best));
        if (a.kind == AggSpec::kMin ? c < 0 : c > 0) acc.best = std::move(v);
      }
      break;
    }
    default:
      break;
  }
  return Status::OK();
}

// NULL sorts as `nulls_first` says; otherwise the type's order.
Result<int> CompareNullable(const Value& u, const Value& v, bool nulls_first) {
  if (u.is_null() || v.is_null()) {
    if (u.is_null() == v.is_null()) return 0;
    return u.is_null() == nulls_first ? -1 : 1;
  }
  return CompareValues(u, v);
}

// A sorted aggregate's rows: by its ORDER BY keys, then (for DISTINCT, whose duplicates must
// meet) by value and delimiter, NULLs last.
Sorter::Compare SortedAggOrder(const AggSpec& a) {
  return [&a](const Row& x, const Row& y) -> Result<int> {
    size_t n = a.order.size();
    for (size_t i = 0; i < x.size(); i++) {
      if (i == n && !a.distinct) break;  // ties keep their input order
      bool nulls_first = i < n && a.order[i].nulls_first;
      if (x[i].is_null() || y[i].is_null()) {  // where NULLs go does not turn with DESC
        WALREP_ASSIGN_OR_RETURN(int c, CompareNullable(x[i], y[i], nulls_first));
        if (c != 0) return c;
        continue;
      }
      WALREP_ASSIGN_OR_RETURN(int c, CompareValues(x[i], y[i]));
      if (c != 0) return i < n && a.order[i].desc ? -c : c;
    }
    return 0;
  };
}

// Runs a sorted aggregate's rows through Accumulate in order, each distinct one once with
// DISTINCT.
Status ReplaySorted(const AggSpec& a, Acc* acc) {
  std::unique_ptr<Sorter> sorted = std::move(acc->sorted);
  WALREP_RETURN_IF_ERROR(sorted->Finish());
  size_t n = a.order.size();
  Row row, prev;
  bool have_prev = false;
  while (true) {
    WALREP_ASSIGN_OR_RETURN(bool more, sorted->Next(&row));
    if (!more) break;
    if (a.distinct) {
      bool same = have_prev;
      for (size_t i = n; same && i < row.size(); i++) {
        WALREP_ASSIGN_OR_RETURN(int c, CompareNullable(row[i], prev[i], false));
        same = c == 0;
      }
      if (same) continue;
      prev = row;
      have_prev = true;
    }
    WALREP_RETURN_IF_ERROR(
        Accumulate(a, *acc, std::move(row[n]), row.size() > n + 1 ? row[n + 1] : Value()));
  }
  return Status::OK();
}

// Adds the current row (st.row) to each aggregate; returns the bytes sorted aggregates now hold
// in memory for it, which the caller counts against its own budget.
Result<int64_t> Advance(EvalState& st, const std::vector<AggSpec>& aggs, std::vector<Acc>* accs) {
  int64_t held = 0;
  for (size_t i = 0; i < aggs.size(); i++) {
    const AggSpec& a = aggs[i];
    Acc& acc = (*accs)[i];
    if (a.filter) {
      WALREP_ASSIGN_OR_RETURN(Value keep, a.filter->eval(st));
      if (keep.is_null() || !keep.as_bool()) continue;
    }
    if (a.kind == AggSpec::kCountStar) {
      acc.count++;
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(Value v, a.arg->eval(st));
    Value delim;
    if (a.arg2) {
      WALREP_ASSIGN_OR_RETURN(delim, a.arg2->eval(st));
    }
    if (!a.distinct && a.order.empty()) {
      WALREP_RETURN_IF_ERROR(Accumulate(a, acc, std::move(v), delim));
      continue;
    }
    // Values an aggregate ignores need not be sorted (array_agg keeps NULLs).
    if (v.is_null() && a.kind != AggSpec::kArrayAgg) continue;
    Row sort_row;
    for (const auto& k : a.order) {
      WALREP_ASSIGN_OR_RETURN(Value kv, k.expr->eval(st));
      sort_row.push_back(std::move(kv));
    }
    sort_row.push_back(std::move(v));
    if (a.arg2) sort_row.push_back(std::move(delim));
    if (!acc.sorted) {
      ExecResources* res = &st.exec->resources();
      acc.sorted = std::make_unique<Sorter>(res, res->WorkMem(), SortedAggOrder(a));
    }
    held += static_cast<int64_t>(RowMemory(sort_row));
    WALREP_RETURN_IF_ERROR(acc.sorted->Add(std::move(sort_row)));
  }
  return held;
}

Status Finalize(const std::vector<AggSpec>& aggs, std::vector<Acc>& accs, Row* out) {
  for (size_t i = 0; i < aggs.size(); i++) {
    const AggSpec& a = aggs[i];
    Acc& acc = accs[i];
    if (acc.sorted) WALREP_RETURN_IF_ERROR(ReplaySorted(a, &acc));
    int32_t rt = a.result_type;
    switch (a.kind) {
      case AggSpec::kCountStar:
      case AggSpec::kCount:
        out->push_back(Value::Int(oid::kInt8, acc.count));
        break;
      case AggSpec::kMin:
      case AggSpec::kMax:
      case AggSpec::kBoolAnd:
      case AggSpec::kBoolOr:
        out->push_back(acc.any ? acc.best : Value::Null(rt));
        break;
      case AggSpec::kArrayAgg:
        out->push_back(acc.any ? Value::Array(rt, acc.items) : Value::Null(rt));
        break;
      case AggSpec::kStringAgg:
        out->push_back(acc.any ? Value::Text(rt, acc.text) : Value::Null(rt));
        break;
      case AggSpec::kSum:
      case AggSpec::kAvg: {
        if (!acc.any) {
          out->push_back(Value::Null(rt));
          break;
        }
        bool is_avg = a.kind == AggSpec::kAvg;
        if (rt == oid::kFloat8) {
          out->push_back(Value::Float(oid::kFloat8, is_avg ? acc.fsum / acc.count : acc.fsum));
          break;
        }
        Numeric sum = acc.nsum;
        if (acc.isum != 0) {
          WALREP_ASSIGN_OR_RETURN(sum, NumericArith('+', sum, Numeric{acc.isum, 0}));
        }
        if (rt == oid::kInt8) {
          out->push_back(Value::Int(oid::kInt8, static_cast<int64_t>(sum.mantissa)));
          break;
        }
        if (is_avg) {
          WALREP_ASSIGN_OR_RETURN(sum, NumericArith('/', sum, Numeric{acc.count, 0}));
        }
        out->push_back(Value::Num(sum));
        break;
      }
    }
  }
  return Status::OK();
}

// Whether n values at a and at b are equal (NULLs equal NULLs), as window keys compare.
Result<bool> KeysEqual(const Value* a, const Value* b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (a[i].is_null() || b[i].is_null()) {
      if (a[i].is_null() != b[i].is_null()) return false;
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(int c, CompareValues(a[i], b[i]));
    if (c != 0) return false;
  }
  return true;
}

// row_number(), rank() and dense_rank() over rows sorted by (partition keys, order keys):
// counted as the rows go by.
class Window : public RowIter {
 public:
  Window(PlanPtr plan, RowIterPtr child, WindowSpec::Kind kind, size_t width, size_t npartition,
         size_t norder)
      : RowIter(std::move(plan)),
        child_(std::move(child)),
        kind_(kind),
        width_(width),
        npart_(npartition),
        norder_(norder) {}

 protected:
  Result<bool> Pull(Row* row) override {
    WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(row));
    if (!more) return false;
    bool same_partition = false, peer = false;
    if (have_prev_) {
      const Value* keys = row->data() + width_;
      WALREP_ASSIGN_OR_RETURN(same_partition, KeysEqual(keys, prev_.data(), npart_));
      WALREP_ASSIGN_OR_RETURN(peer, KeysEqual(keys + npart_, prev_.data() + npart_, norder_));
    }
    if (!same_partition) {
      number_ = rank_ = dense_ = 1;
    } else {
      number_++;
      if (!peer) {
        rank_ = number_;
        dense_++;
      }
    }
    have_prev_ = true;
    prev_.assign(row->begin() + static_cast<long>(width_), row->end());
    int64_t v = kind_ == WindowSpec::kRowNumber ? number_
                : kind_ == WindowSpec::kRank    ? rank_
                                                : dense_;
    row->resize(width_);
    row->push_back(Value::Int(oid::kInt8, v));
    return true;
  }

 private:
  RowIterPtr child_;
  WindowSpec::Kind kind_;
  size_t width_, npart_, norder_;
  bool have_prev_ = false;
  Row prev_;  // the previous row's keys
  int64_t number_ = 0, rank_ = 0, dense_ = 0;
};

// lag() and lead(): each partition's rows go to a tuplestore, and its values to a second one,
// both spilling past work_mem like PostgreSQL's partition tuplestore; the rows are then read
// back with the values store running `offset` rows ahead of or behind them.
class LeadLag : public RowIter {
 public:
  LeadLag(EvalState& st, PlanPtr plan, RowIterPtr child, const WindowSpec& spec, size_t width)
      : RowIter(std::move(plan)),
        st_(st),
        res_(&st.exec->resources()),
        child_(std::move(child)),
        width_(width),
        npart_(spec.partition.size()),
        value_at_(width + spec.partition.size() + spec.order.size()),
        type_(spec.type),
        offset_(spec.offset) {
    // How far ahead in the partition the value comes from (negative: behind).
    if (offset_) ahead_ = spec.kind == WindowSpec::kLead ? *offset_ : -*offset_;
  }

 protected:
  Result<bool> Pull(Row* row) override {
    while (true) {
      if (rows_) {
        WALREP_ASSIGN_OR_RETURN(bool more, rows_->Next(row));
        if (more) {
          WALREP_ASSIGN_OR_RETURN(Value v, ValueOf(*row));
          row->resize(width_);
          row->push_back(std::move(v));
          at_++;
          return true;
        }
        rows_.reset();
        values_.reset();
      }
      WALREP_ASSIGN_OR_RETURN(bool any, ReadPartition());
      if (!any) return false;
    }
  }

 private:
  // The function's value for the partition's row number at_ (0-based).
  Result<Value> ValueOf(const Row& row) {
    if (!offset_) return Value::Null(type_);
    int64_t from = at_ + ahead_;
    if (from < 0 || from >= static_cast<int64_t>(count_)) return row[value_at_ + 1];
    if (ahead_ == 0) return row[value_at_];
    Row v;
    WALREP_ASSIGN_OR_RETURN(bool more, values_->Next(&v));
    if (!more) return Status::Sql("XX000", "window values ended before their partition");
    return std::move(v[0]);
  }

  // The next partition into rows_ and values_, rewound (false when there is none).
  Result<bool> ReadPartition() {
    Row first;
    if (next_) {
      first = std::move(*next_);
      next_.reset();
    } else {
      if (done_) return false;
      WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(&first));
      if (!more) return false;
    }
    rows_ = std::make_unique<Tuplestore>(res_, res_->WorkMem());
    values_ = std::make_unique<Tuplestore>(res_, res_->WorkMem());
    Row keys(first.begin() + static_cast<long>(width_),
             first.begin() + static_cast<long>(width_ + npart_));
    Row r = std::move(first);
    uint64_t n = 0;
    while (true) {
      if (ahead_ != 0) WALREP_RETURN_IF_ERROR(values_->Append(Row{r[value_at_]}));
      WALREP_RETURN_IF_ERROR(rows_->Append(std::move(r)));
      if (++n % 1024 == 0) WALREP_RETURN_IF_ERROR(st_.ctx->CheckInterrupts());
      WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(&r));
      if (!more) {
        done_ = true;
        break;
      }
      WALREP_ASSIGN_OR_RETURN(bool same, KeysEqual(r.data() + width_, keys.data(), npart_));
      if (!same) {
        next_ = std::move(r);
        break;
      }
    }
    count_ = n;
    at_ = 0;
    rows_->Rewind();
    values_->Rewind();
    // lead: the values start `ahead_` rows on.
    Row skipped;
    for (int64_t i = 0; i < ahead_ && i < static_cast<int64_t>(count_); i++) {
      WALREP_RETURN_IF_ERROR(values_->Next(&skipped).status());
    }
    return true;
  }

  EvalState& st_;
  ExecResources* res_;
  RowIterPtr child_;
  size_t width_, npart_, value_at_;
  int32_t type_;
  std::optional<int64_t> offset_;
  int64_t ahead_ = 0;
  std::unique_ptr<Tuplestore> rows_, values_;
  uint64_t count_ = 0;
  int64_t at_ = 0;
  std::optional<Row> next_;  // the first row of the next partition, read already
  bool done_ = false;        // the child has no more rows
};

// A partition hash of a group key, different at each spill depth.
uint64_t HashKey(const std::string& key, int depth) {
  uint64_t h =
      (std::hash<std::string>()(key) + static_cast<uint64_t>(depth)) * 0x9e3779b97f4a7c15ULL;
  return h >> 32 ^ static_cast<uint64_t>(depth) * 0x85ebca6bULL;
}

// The text key of a value for hashing (equal values of one type have equal text).
void AppendKey(const Value& v, const FormatOptions& fo, std::string* key) {
  if (v.is_null()) {
    key->append("\x01N");
    key->push_back('\0');
    return;
  }
  int32_t t = v.type();
  if (t == oid::kInterval) {
    // Intervals compare by their span, a month being 30 days and a day 24 hours ('1 day' =
    // '24 hours'): the key is that span in whole days and the microseconds after them.
    constexpr int64_t kDay = 86400000000LL;
    const Interval& iv = v.as_interval();
    int64_t days = static_cast<int64_t>(iv.months) * 30 + iv.days + iv.micros / kDay;
    int64_t micros = iv.micros % kDay;
    if (micros < 0) {
      micros += kDay;
      days--;
    }
    key->append(fmt::format("\x02{}:{}", days, micros));
    key->push_back('\0');
    return;
  }
  size_t start = key->size();
  key->append(ToText(v, fo));
  // Values that compare equal hash equal, as PostgreSQL's hash functions make them: numerics
  // whatever their scale (1.0 and 1.00 are 1), and minus zero as zero.
  if (t == oid::kNumeric && key->find('.', start) != std::string::npos) {
    while (key->back() == '0') key->pop_back();
    if (key->back() == '.') key->pop_back();
  }
  if ((t == oid::kNumeric || t == oid::kFloat4 || t == oid::kFloat8) &&
      key->compare(start, std::string::npos, "-0") == 0) {
    key->erase(start, 1);
  }
  key->push_back('\0');
}

class HashAgg : public RowIter {
 public:
  static constexpr size_t kPartitions = 32;

  HashAgg(EvalState& st, PlanPtr plan, RowIterPtr child, std::vector<ExprPtr> group_by,
          std::shared_ptr<const std::vector<AggSpec>> aggs, std::vector<int32_t> in_types,
          int depth = 0)
      : RowIter(std::move(plan)),
        st_(st),
        res_(&st.exec->resources()),
        child_(std::move(child)),
        group_by_(std::move(group_by)),
        aggs_(std::move(aggs)),
        in_types_(std::move(in_types)),
        depth_(depth),
        budget_(res_->HashMem()) {}
  ~HashAgg() override { res_->TrackMemory(-mem_bytes_); }

 protected:
  Result<bool> Pull(Row* row) override {
    if (!built_) {
      WALREP_RETURN_IF_ERROR(Build());
      built_ = true;
    }
    while (true) {
      if (pos_ < groups_.size()) {
        Group& g = groups_[pos_++];
        *row = std::move(g.first);
        WALREP_RETURN_IF_ERROR(Finalize(*aggs_, g.accs, row));
        return true;
      }
      // The spilled partitions, one at a time, each by a HashAgg of its own.
      if (sub_) {
        WALREP_ASSIGN_OR_RETURN(bool more, sub_->Next(row));
        if (more) return true;
        sub_.reset();
      }
      if (next_part_ >= parts_.size()) return false;
      std::unique_ptr<TempFile> f = std::move(parts_[next_part_++]);
      if (!f) continue;
      WALREP_RETURN_IF_ERROR(f->Rewind());
      sub_ = std::make_unique<HashAgg>(st_, nullptr, TempFileIter(std::move(f)), group_by_, aggs_,
                                       in_types_, depth_ + 1);
    }
  }

 private:
  struct Group {
    Row first;
    std::vector<Acc> accs;
  };

  Status Build() {
    Row in;
    std::string key;
    uint64_t n = 0;
    while (true) {
      WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(&in));
      if (!more) break;
      if (++n % 1024 == 0) WALREP_RETURN_IF_ERROR(st_.ctx->CheckInterrupts());
      st_.row = &in;
      key.clear();
      for (const auto& g : group_by_) {
        WALREP_ASSIGN_OR_RETURN(Value v, g->eval(st_));
        AppendKey(v, st_.fmt, &key);
      }
      auto it = index_.find(key);
      if (it == index_.end()) {
        if (spilled_) {
          // Groups not in memory wait in a partition file.
          size_t p = HashKey(key, depth_) % kPartitions;
          if (!parts_[p]) {
            WALREP_ASSIGN_OR_RETURN(parts_[p], TempFile::Create(res_));
          }
          WALREP_RETURN_IF_ERROR(parts_[p]->WriteRow(in));
          continue;
        }
        int64_t m =
            static_cast<int64_t>(RowMemory(in) + key.size() * 2 + 64 + aggs_->size() * sizeof(Acc));
        mem_bytes_ += m;
        res_->TrackMemory(m);
        max_mem_ = std::max(max_mem_, mem_bytes_);
        it = index_.emplace(key, groups_.size()).first;
        groups_.push_back(Group{in, std::vector<Acc>(aggs_->size())});
      }
      WALREP_ASSIGN_OR_RETURN(int64_t held, Advance(st_, *aggs_, &groups_[it->second].accs));
      // Values sorted aggregates hold (their sorters count them in res_) take room from new
      // groups too. Past hash_mem, rows of new groups go to partition files.
      sorted_bytes_ += held;
      if (!spilled_ && mem_bytes_ + sorted_bytes_ > static_cast<int64_t>(budget_) &&
          !group_by_.empty()) {
        spilled_ = true;
        parts_.resize(kPartitions);
      }
    }
    st_.row = nullptr;
    index_.clear();
    if (groups_.empty() && group_by_.empty()) {
      Row nulls;
      for (int32_t t : in_types_) nulls.push_back(Value::Null(t));
      groups_.push_back(Group{std::move(nulls), std::vector<Acc>(aggs_->size())});
    }
    if (plan_ && plan_->actual.analyze && !group_by_.empty()) {  // as PostgreSQL: hashed only
      uint64_t disk = 0;
      size_t batches = 1;
      for (const auto& p : parts_) {
        if (!p) continue;
        disk += p->size();
        batches++;
      }
      std::string d =
          fmt::format("Batches: {}  Memory Usage: {}kB", batches, (max_mem_ + 1023) / 1024);
      if (spilled_) d += fmt::format("  Disk Usage: {}kB", (disk + 1023) / 1024);
      plan_->actual.details = {d};
    }
    return Status::OK();
  }

  EvalState& st_;
  ExecResources* res_;
  RowIterPtr child_;
  std::vector<ExprPtr> group_by_;
  std::shared_ptr<const std::vector<AggSpec>> aggs_;
  std::vector<int32_t> in_types_;
  int depth_;
  size_t budget_;
  bool built_ = false, spilled_ = false;
  std::unordered_map<std::string, size_t> index_;
  std::vector<Group> groups_;  // in order of first appearance
  size_t pos_ = 0;
  int64_t mem_bytes_ = 0, max_mem_ = 0;
  int64_t sorted_bytes_ = 0;  // what Advance reported sorted aggregates hold
  std::vector<std::unique_ptr<TempFile>> parts_;
  size_t next_part_ = 0;
  std::unique_ptr<HashAgg> sub_;
};

class Project : public RowIter {
 public:
  Project(EvalState& st, RowIterPtr child, std::vector<ExprPtr> exprs, int agg_from, ExprPtr having)
      : st_(st),
        child_(std::move(child)),
        exprs_(std::move(exprs)),
        agg_from_(agg_from),
        having_(std::move(having)) {}

 protected:
  Result<bool> Pull(Row* row) override {
    while (true) {
      WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(&in_));
      if (!more) return false;
      if (agg_from_ >= 0) {
        aggs_.assign(std::make_move_iterator(in_.begin() + agg_from_),
                     std::make_move_iterator(in_.end()));
        in_.resize(static_cast<size_t>(agg_from_));
        st_.aggs = &aggs_;
      }
      st_.row = &in_;
      if (having_) {
        WALREP_ASSIGN_OR_RETURN(Value ok, having_->eval(st_));
        if (ok.is_null() || !ok.as_bool()) continue;
      }
      row->clear();
      row->reserve(exprs_.size());
      for (const auto& e : exprs_) {
        WALREP_ASSIGN_OR_RETURN(Value v, e->eval(st_));
        row->push_back(std::move(v));
      }
      st_.row = nullptr;
      st_.aggs = nullptr;
      return true;
    }
  }

 private:
  EvalState& st_;
  RowIterPtr child_;
  std::vector<ExprPtr> exprs_;
  int agg_from_;
  ExprPtr having_;
  Row in_;
  std::vector<Value> aggs_;
};

class FileIter : public RowIter {
 public:
  explicit FileIter(std::unique_ptr<TempFile> file) : file_(std::move(file)) {}

 protected:
  Result<bool> Pull(Row* row) override { return file_->ReadRow(row); }

 private:
  std::unique_ptr<TempFile> file_;
};

class StoreIter : public RowIter {
 public:
  explicit StoreIter(std::unique_ptr<Tuplestore> store) : store_(std::move(store)) {
    store_->Rewind();
  }

 protected:
  Result<bool> Pull(Row* row) override { return store_->Next(row); }

 private:
  std::unique_ptr<Tuplestore> store_;
};

// A result set: the top iterator, with out-of-memory turned into the session's error.
class IterStream : public RowStream {
 public:
  explicit IterStream(RowIterPtr it) : it_(std::move(it)) {}
  Result<bool> Next(Row* row) override {
    try {
      return it_->Next(row);
    } catch (const std::bad_alloc&) {
      return Status::Sql("53200", "out of memory");
    }
  }

 private:
  RowIterPtr it_;
};

}  // namespace

RowIter::RowIter(PlanPtr plan) : plan_(std::move(plan)) {
  if (plan_ && plan_->actual.analyze) plan_->actual.loops++;
}

Result<bool> RowIter::Next(Row* row) {
  if (!plan_ || !plan_->actual.analyze) return Pull(row);
  PlanActual& a = plan_->actual;
  double start = a.timing ? NowMs() : 0;
  auto r = Pull(row);
  if (a.timing) {
    a.total_ms += NowMs() - start;
    if (first_) a.first_ms += a.total_ms;  // the loop's time to its first row (or its end)
  }
  first_ = false;
  if (r.ok() && *r) a.rows++;
  return r;
}

RowIterPtr VectorIter(PlanPtr plan, std::vector<Row> rows) {
  return std::make_unique<VecIter>(std::move(plan), std::move(rows));
}
RowIterPtr FunctionIter(PlanPtr plan, std::function<Result<bool>(Row*)> next) {
  return std::make_unique<FnIter>(std::move(plan), std::move(next));
}
RowIterPtr FilterIter(EvalState& st, RowIterPtr child, ExprPtr pred) {
  return std::make_unique<Filter>(st, std::move(child), std::move(pred));
}
RowIterPtr TruncateIter(RowIterPtr child, size_t width) {
  return std::make_unique<Truncate>(std::move(child), width);
}
RowIterPtr LimitIter(PlanPtr plan, RowIterPtr child, int64_t offset, int64_t limit) {
  return std::make_unique<Limit>(std::move(plan), std::move(child), offset, limit);
}
RowIterPtr SortIter(EvalState& st, PlanPtr plan, RowIterPtr child, std::vector<SortColumn> keys,
                    int64_t bound) {
  return std::make_unique<Sort>(st, std::move(plan), std::move(child), std::move(keys), bound);
}
RowIterPtr UniqueIter(PlanPtr plan, RowIterPtr child, size_t width) {
  return std::make_unique<Unique>(std::move(plan), std::move(child), width);
}
RowIterPtr HashAggIter(EvalState& st, PlanPtr plan, RowIterPtr child, std::vector<ExprPtr> group_by,
                       std::shared_ptr<const std::vector<AggSpec>> aggs,
                       std::vector<int32_t> in_types) {
  return std::make_unique<HashAgg>(st, std::move(plan), std::move(child), std::move(group_by),
                                   std::move(aggs), std::move(in_types));
}
RowIterPtr ProjectIter(EvalState& st, RowIterPtr child, std::vector<ExprPtr> exprs, int agg_from,
                       ExprPtr having) {
  return std::make_unique<Project>(st, std::move(child), std::move(exprs), agg_from,
                                   std::move(having));
}
RowIterPtr TempFileIter(std::unique_ptr<TempFile> file) {
  return std::make_unique<FileIter>(std::move(file));
}

RowIterPtr TuplestoreIter(std::unique_ptr<Tuplestore> store) {
  return std::make_unique<StoreIter>(std::move(store));
}

std::shared_ptr<RowStream> StreamOf(RowIterPtr it) {
  return std::make_shared<IterStream>(std::move(it));
}

Result<std::vector<Row>> DrainRows(RowStream& rows) {
  std::vector<Row> out;
  Row row;
  while (true) {
    WALREP_ASSIGN_OR_RETURN(bool more, rows.Next(&row));
    if (!more) return out;
    out.push_back(std::move(row));
  }
}

RowIterPtr WindowIter(EvalState& st, PlanPtr plan, RowIterPtr child, const WindowSpec& spec,
                      size_t width) {
  if (spec.kind == WindowSpec::kLag || spec.kind == WindowSpec::kLead) {
    return std::make_unique<LeadLag>(st, std::move(plan), std::move(child), spec, width);
  }
  return std::make_unique<Window>(std::move(plan), std::move(child), spec.kind, width,
                                  spec.partition.size(), spec.order.size());
}

namespace {

class ProjectSet : public RowIter {
 public:
  ProjectSet(EvalState& st, PlanPtr plan, RowIterPtr child,
             std::shared_ptr<const std::vector<TableFunctionSource>> srfs)
      : RowIter(std::move(plan)), st_(st), child_(std::move(child)), srfs_(std::move(srfs)) {}

 protected:
  Result<bool> Pull(Row* row) override {
    while (true) {
      if (iters_.empty()) {
        WALREP_ASSIGN_OR_RETURN(bool more, child_->Next(&in_));
        if (!more) return false;
        // The functions' arguments are evaluated over the input row.
        const Row* saved = st_.row;
        st_.row = &in_;
        for (const auto& f : *srfs_) {
          auto it = f.rows(st_);
          if (!it.ok()) {
            st_.row = saved;
            iters_.clear();
            return it.TakeStatus();
          }
          iters_.push_back(std::move(*it));
        }
        st_.row = saved;
      }
      Row out = in_;
      bool any = false;
      for (size_t i = 0; i < iters_.size(); i++) {
        Row r;
        bool more = false;
        if (iters_[i]) {
          WALREP_ASSIGN_OR_RETURN(more, iters_[i]->Next(&r));
          if (!more) iters_[i].reset();
        }
        any |= more;
        out.push_back(more ? std::move(r[0]) : Value::Null((*srfs_)[i].columns[0].type));
      }
      if (!any) {
        iters_.clear();
        continue;
      }
      *row = std::move(out);
      return true;
    }
  }

 private:
  EvalState& st_;
  RowIterPtr child_;
  std::shared_ptr<const std::vector<TableFunctionSource>> srfs_;
  Row in_;
  std::vector<RowIterPtr> iters_;  // empty between input rows; a finished function's is null
};

}  // namespace

RowIterPtr ProjectSetIter(EvalState& st, PlanPtr plan, RowIterPtr child,
                          std::shared_ptr<const std::vector<TableFunctionSource>> srfs) {
  return std::make_unique<ProjectSet>(st, std::move(plan), std::move(child), std::move(srfs));
}

}  // namespace walrep::sql
