// walrep: expression compilation and evaluation.
//
// CompileExpr() turns a libpg_query node into an Expr whose result type is known before any row
// is seen (so Describe can answer), resolving operators the way PostgreSQL's parse_oper.c does for
// the built-in types walrep has: unknown literals take the type of the other operand, integers
// widen to the larger integer, then to numeric, then to double precision.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_set>

#include "sql_internal.h"
#include "walrep/common/regex.h"
#include "walrep/common/strings.h"

namespace walrep::sql {

ExprPtr MakeExpr(int32_t type, std::function<Result<Value>(EvalState&)> eval) {
  auto e = std::make_shared<Expr>();
  e->type = type;
  e->eval = std::move(eval);
  return e;
}

int IntRank(int32_t t) {
  switch (t) {
    case oid::kInt2:
      return 1;
    case oid::kInt4:
      return 2;
    case oid::kInt8:
      return 3;
    case oid::kNumeric:
      return 4;
    case oid::kFloat4:
      return 5;
    case oid::kFloat8:
      return 6;
  }
  return 0;
}

namespace {

// `st` pointing at `location` in the query text.
Status Err(const CompileState& cs, Status st, int location) {
  int pos = ErrorPosition(cs, location);
  return pos > 0 ? std::move(st).WithPosition(pos) : st;
}

Status Err(const CompileState& cs, std::string sqlstate, std::string msg, int location) {
  return Err(cs, Status::Sql(std::move(sqlstate), std::move(msg)), location);
}

int NodeLocation(const PgQuery__Node* n, int fallback);

bool IsTimeType(int32_t t) {
  return t == oid::kTimestampTz || t == oid::kTimestamp || t == oid::kDate;
}

// Implicit casts PostgreSQL allows between the types walrep has.
bool CanImplicitCast(int32_t from, int32_t to) {
  if (from == to) return true;
  if (IntRank(from) && IntRank(to)) return IntRank(from) <= IntRank(to);
  if (IsStringType(from) && IsStringType(to)) return true;
  if (from == oid::kDate && (to == oid::kTimestamp || to == oid::kTimestampTz)) return true;
  if (from == oid::kTimestamp && to == oid::kTimestampTz) return true;
  if (from == oid::kOid && IsIntegerType(to)) return true;
  // oid and the reg* types are binary-coercible both ways; integers become oids.
  if ((from == oid::kOid || IsRegType(from)) && (to == oid::kOid || IsRegType(to))) return true;
  if ((from == oid::kInt2 || from == oid::kInt4 || from == oid::kInt8) &&
      (IsRegType(to) || to == oid::kOid)) {
    return true;
  }
  // int2vector/oidvector are int2[]/oid[]; arrays of convertible elements convert.
  if (ElementTypeOf(from) && ElementTypeOf(to)) {
    return CanImplicitCast(ElementTypeOf(from), ElementTypeOf(to));
  }
  return false;
}

Numeric ToNumeric(const Value& v) {
  if (v.type() == oid::kNumeric) return v.as_numeric();
  return NumericFromInt(v.as_int());
}

double ToDouble(const Value& v) {
  if (v.type() == oid::kFloat4 || v.type() == oid::kFloat8) return v.as_double();
  if (v.type() == oid::kNumeric) return NumericToDouble(v.as_numeric());
  return static_cast<double>(v.as_int());
}

Result<Value> Arith(char op, const Value& a, const Value& b, int32_t type) {
  if (IsIntegerType(type)) {
    __int128 x = a.as_int(), y = b.as_int();
    switch (op) {
      case '+':
        return CheckedInt(type, x + y);
      case '-':
        return CheckedInt(type, x - y);
      case '*':
        return CheckedInt(type, x * y);
      case '/':
        if (y == 0) return Status::Sql("22012", "division by zero");
        return CheckedInt(type, x / y);
      case '%':
        if (y == 0) return Status::Sql("22012", "division by zero");
        return CheckedInt(type, x % y);
    }
  }
  if (type == oid::kNumeric) {
    WALREP_ASSIGN_OR_RETURN(Numeric r, NumericArith(op, ToNumeric(a), ToNumeric(b)));
    return Value::Num(r);
  }
  double x = ToDouble(a), y = ToDouble(b);
  switch (op) {
    case '+':
      return Value::Float(type, x + y);
    case '-':
      return Value::Float(type, x - y);
    case '*':
      return Value::Float(type, x * y);
    case '/':
      if (y == 0) return Status::Sql("22012", "division by zero");
      return Value::Float(type, x / y);
  }
  return Status::Sql("42883", "operator does not exist");
}

bool LikeMatch(std::string_view s, std::string_view p, bool icase) {
  size_t si = 0, pi = 0, star_p = std::string_view::npos, star_s = 0;
  auto eq = [&](char a, char b) {
    return icase ? std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b))
                 : a == b;
  };
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '\\' && pi + 1 < p.size() && eq(p[pi + 1], s[si])) {
      pi += 2;
      si++;
    } else if (pi < p.size() &&
               (p[pi] == '_' || (p[pi] != '%' && p[pi] != '\\' && eq(p[pi], s[si])))) {
      pi++;
      si++;
    } else if (pi < p.size() && p[pi] == '%') {
      star_p = pi++;
      star_s = si;
    } else if (star_p != std::string_view::npos) {
      pi = star_p + 1;
      si = ++star_s;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '%') pi++;
  return pi == p.size();
}

Result<ExprPtr> CompileOp(CompileState& cs, const std::string& op, ExprPtr l, ExprPtr r,
                          int location);
Result<ExprPtr> CompileArrayConcat(CompileState& cs, ExprPtr l, ExprPtr r, int location);
Result<ExprPtr> CompileRegexMatch(CompileState& cs, const std::string& op, ExprPtr l, ExprPtr r);

}  // namespace

Result<int32_t> TypeNameOid(const CompileState& cs, const PgQuery__TypeName* tn) {
  std::string name;
  for (size_t i = 0; i < tn->n_names; i++) {
    std::string part = StringNodeValue(tn->names[i]);
    if (part == "pg_catalog" && tn->n_names > 1) continue;
    name += (name.empty() ? "" : ".") + part;
  }
  // "char" (quoted, never schema-qualified by the grammar) is the one-byte type; the keyword
  // CHAR arrives as pg_catalog.bpchar.
  if (tn->n_names == 1 && name == "char") name = "\"char\"";
  auto r = LookupTypeName(name);
  if (!r.ok()) return Err(cs, "42704", r.status().message(), tn->location);
  if (tn->n_array_bounds > 0) {
    int32_t a = ArrayTypeOf(*r);
    if (!a) {
      return Err(cs, "0A000", fmt::format("arrays of type {} are not supported", TypeName(*r)),
                 tn->location);
    }
    return a;
  }
  return *r;
}

int32_t CommonTypeOf(int32_t lt, int32_t rt) {
  if (lt == oid::kUnknown && rt == oid::kUnknown) return oid::kText;
  if (lt == oid::kUnknown) return rt;
  if (rt == oid::kUnknown) return lt;
  if (lt == rt) return lt;
  if (IntRank(lt) && IntRank(rt)) return IntRank(lt) >= IntRank(rt) ? lt : rt;
  if (IsStringType(lt) && IsStringType(rt)) return oid::kText;
  auto oidish = [](int32_t t) { return t == oid::kOid || IsRegType(t); };
  if ((oidish(lt) || IsIntegerType(lt)) && (oidish(rt) || IsIntegerType(rt)) &&
      (oidish(lt) || oidish(rt))) {
    return oid::kOid;
  }
  if (ElementTypeOf(lt) && ElementTypeOf(rt) && CanImplicitCast(lt, rt)) return rt;
  if (ElementTypeOf(lt) && ElementTypeOf(rt) && CanImplicitCast(rt, lt)) return lt;
  if (IsTimeType(lt) && IsTimeType(rt)) {
    return (lt == oid::kTimestampTz || rt == oid::kTimestampTz) ? oid::kTimestampTz
                                                                : oid::kTimestamp;
  }
  return 0;
}

namespace {

// Chooses the common type of two operands; unknown and untyped parameters follow the other side.
Result<int32_t> CommonType(CompileState& cs, ExprPtr& l, ExprPtr& r, const std::string& op,
                           int location) {
  int32_t lt = l->type, rt = r->type;
  if (int32_t t = CommonTypeOf(lt, rt)) return t;
  return Err(cs, "42883",
             fmt::format("operator does not exist: {} {} {}", TypeName(lt), op, TypeName(rt)),
             location)
      .WithHint(
          "No operator matches the given name and argument types. You might need to add "
          "explicit type casts.");
}

Result<ExprPtr> CompileComparison(CompileState& cs, const std::string& op, ExprPtr l, ExprPtr r,
                                  int location) {
  WALREP_ASSIGN_OR_RETURN(int32_t t, CommonType(cs, l, r, op, location));
  WALREP_ASSIGN_OR_RETURN(l, Coerce(cs, l, t, false));
  WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, t, false));
  return MakeExpr(oid::kBool, [l, r, op](EvalState& st) -> Result<Value> {
    WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
    WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
    if (a.is_null() || b.is_null()) return Value::Null(oid::kBool);
    WALREP_ASSIGN_OR_RETURN(int c, CompareValues(a, b));
    bool res = op == "="                    ? c == 0
               : (op == "<>" || op == "!=") ? c != 0
               : op == "<"                  ? c < 0
               : op == ">"                  ? c > 0
               : op == "<="                 ? c <= 0
                                            : c >= 0;
    return Value::Bool(res);
  });
}

// array || array, array || element, element || array.
Result<ExprPtr> CompileArrayConcat(CompileState& cs, ExprPtr l, ExprPtr r, int location) {
  int32_t at = ElementTypeOf(l->type) ? l->type : r->type;
  if (at == oid::kInt2Vector || at == oid::kOidVector) at = ArrayTypeOf(ElementTypeOf(at));
  int32_t et = ElementTypeOf(at);
  // Each side is either the array type or its element type (unknown literals: the array).
  auto side = [&](ExprPtr e, bool* is_elem) -> Result<ExprPtr> {
    *is_elem = !ElementTypeOf(e->type) && e->type != oid::kUnknown;
    return Coerce(cs, e, *is_elem ? et : at, false);
  };
  bool le = false, re = false;
  auto lr = side(l, &le);
  auto rr = side(r, &re);
  if (!lr.ok() || !rr.ok()) {
    return Err(
        cs, "42883",
        fmt::format("operator does not exist: {} || {}", TypeName(l->type), TypeName(r->type)),
        location);
  }
  l = *lr;
  r = *rr;
  return MakeExpr(at, [l, r, le, re, at](EvalState& st) -> Result<Value> {
    WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
    WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
    ArrayElems out;
    for (const auto& [v, elem] : {std::pair<const Value&, bool>{a, le}, {b, re}}) {
      if (elem) {
        out.push_back(v);
      } else if (!v.is_null()) {
        out.insert(out.end(), v.as_array().begin(), v.as_array().end());
      }
    }
    if (a.is_null() && b.is_null()) return Value::Null(at);
    return Value::Array(at, std::move(out));
  });
}

// text ~ pattern (POSIX regular expressions, as PostgreSQL's textregexeq; * ignores case, !
// negates). A constant pattern is compiled once.
Result<ExprPtr> CompileRegexMatch(CompileState& cs, const std::string& op, ExprPtr l, ExprPtr r) {
  WALREP_ASSIGN_OR_RETURN(l, Coerce(cs, l, oid::kText, false));
  WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, oid::kText, false));
  bool negate = op[0] == '!';
  RegexOptions opts;
  opts.ignore_case = op.back() == '*';
  auto compile = [opts](const std::string& pattern) { return Regex::Compile(pattern, opts); };
  std::shared_ptr<const Regex> fixed;
  if (r->kind == Expr::Kind::kConst && !r->constant.is_null()) {
    WALREP_ASSIGN_OR_RETURN(fixed, compile(r->constant.as_string()));
  }
  return MakeExpr(oid::kBool, [l, r, negate, fixed, compile](EvalState& st) -> Result<Value> {
    WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
    std::shared_ptr<const Regex> re = fixed;
    if (!re) {
      WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
      if (b.is_null()) return Value::Null(oid::kBool);
      WALREP_ASSIGN_OR_RETURN(re, compile(b.as_string()));
    }
    if (a.is_null()) return Value::Null(oid::kBool);
    SessionContext* ctx = st.ctx;
    WALREP_ASSIGN_OR_RETURN(bool found,
                            re->Search(a.as_string(), [ctx] { return ctx->CheckInterrupts(); }));
    return Value::Bool(found != negate);
  });
}

Result<ExprPtr> CompileOp(CompileState& cs, const std::string& op, ExprPtr l, ExprPtr r,
                          int location) {
  if (!l) {  // prefix operator
    if (op == "-" || op == "+") {
      int32_t t = r->type == oid::kUnknown ? oid::kInt4 : r->type;
      if (r->kind == Expr::Kind::kConst && r->type == oid::kUnknown) t = oid::kNumeric;
      WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, t, false));
      if (!IntRank(t) && t != oid::kInterval) {
        return Err(cs, "42883", fmt::format("operator does not exist: {} {}", op, TypeName(t)),
                   location);
      }
      bool neg = op == "-";
      return MakeExpr(t, [r, t, neg](EvalState& st) -> Result<Value> {
        WALREP_ASSIGN_OR_RETURN(Value v, r->eval(st));
        if (v.is_null() || !neg) return v;
        if (t == oid::kInterval) {
          const Interval& i = v.as_interval();
          return Value::Interv(Interval{-i.months, -i.days, -i.micros});
        }
        return Arith('-', Value::Int(oid::kInt2, 0), v, t);
      });
    }
    return Err(cs, "42883", fmt::format("operator does not exist: {} {}", op, TypeName(r->type)),
               location);
  }
  if (op == "=" || op == "<>" || op == "!=" || op == "<" || op == ">" || op == "<=" || op == ">=") {
    return CompileComparison(cs, op, l, r, location);
  }
  if (op == "||" && (ElementTypeOf(l->type) || ElementTypeOf(r->type))) {
    return CompileArrayConcat(cs, l, r, location);
  }
  if (op == "~" || op == "~*" || op == "!~" || op == "!~*") return CompileRegexMatch(cs, op, l, r);
  if (op == "||") {
    WALREP_ASSIGN_OR_RETURN(l, Coerce(cs, l, oid::kText, true));
    WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, oid::kText, true));
    return MakeExpr(oid::kText, [l, r](EvalState& st) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
      WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
      if (a.is_null() || b.is_null()) return Value::Null(oid::kText);
      return Value::Text(oid::kText, a.as_string() + b.as_string());
    });
  }
  if (op == "~~" || op == "!~~" || op == "~~*" || op == "!~~*") {
    WALREP_ASSIGN_OR_RETURN(l, Coerce(cs, l, oid::kText, false));
    WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, oid::kText, false));
    bool negate = op[0] == '!';
    bool icase = op.back() == '*';
    return MakeExpr(oid::kBool, [l, r, negate, icase](EvalState& st) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
      WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
      if (a.is_null() || b.is_null()) return Value::Null(oid::kBool);
      return Value::Bool(LikeMatch(a.as_string(), b.as_string(), icase) != negate);
    });
  }
  if (op == "+" || op == "-" || op == "*" || op == "/" || op == "%") {
    int32_t lt = l->type, rt = r->type;
    char c = op[0];
    // Date/time arithmetic.
    if ((IsTimeType(lt) || lt == oid::kInterval) || (IsTimeType(rt) || rt == oid::kInterval)) {
      if (lt == oid::kUnknown)
        lt = (rt == oid::kInterval || IsTimeType(rt)) && c == '-' ? rt : oid::kInterval;
      if (rt == oid::kUnknown) rt = (c == '-' && IsTimeType(lt)) ? oid::kInterval : oid::kInterval;
      if (lt == oid::kDate && (rt == oid::kInt4 || rt == oid::kInt2) && (c == '+' || c == '-')) {
        WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, oid::kInt4, false));
        return MakeExpr(oid::kDate, [l, r, c](EvalState& st) -> Result<Value> {
          WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
          WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
          if (a.is_null() || b.is_null()) return Value::Null(oid::kDate);
          return Value::Int(oid::kDate, a.as_int() + (c == '+' ? b.as_int() : -b.as_int()));
        });
      }
      if (IsTimeType(lt) && IsTimeType(rt) && c == '-') {
        bool dates = lt == oid::kDate && rt == oid::kDate;
        int32_t t = dates                                                  ? oid::kDate
                    : (lt == oid::kTimestampTz || rt == oid::kTimestampTz) ? oid::kTimestampTz
                                                                           : oid::kTimestamp;
        WALREP_ASSIGN_OR_RETURN(l, Coerce(cs, l, t, false));
        WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, t, false));
        if (dates) {
          return MakeExpr(oid::kInt4, [l, r](EvalState& st) -> Result<Value> {
            WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
            WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
            if (a.is_null() || b.is_null()) return Value::Null(oid::kInt4);
            return Value::Int(oid::kInt4, a.as_int() - b.as_int());
          });
        }
        return MakeExpr(oid::kInterval, [l, r](EvalState& st) -> Result<Value> {
          WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
          WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
          if (a.is_null() || b.is_null()) return Value::Null(oid::kInterval);
          int64_t d = a.as_int() - b.as_int();
          // Whole days move into the day field, as PostgreSQL's timestamp_mi() justifies hours.
          return Value::Interv(
              Interval{0, static_cast<int32_t>(d / 86400000000LL), d % 86400000000LL});
        });
      }
      if ((IsTimeType(lt) && rt == oid::kInterval && (c == '+' || c == '-')) ||
          (lt == oid::kInterval && IsTimeType(rt) && c == '+')) {
        bool swap = lt == oid::kInterval;
        ExprPtr ts = swap ? r : l, iv = swap ? l : r;
        int32_t t = (swap ? rt : lt) == oid::kTimestampTz ? oid::kTimestampTz : oid::kTimestamp;
        WALREP_ASSIGN_OR_RETURN(ts, Coerce(cs, ts, t, false));
        WALREP_ASSIGN_OR_RETURN(iv, Coerce(cs, iv, oid::kInterval, false));
        int sign = c == '-' ? -1 : 1;
        return MakeExpr(t, [ts, iv, t, sign](EvalState& st) -> Result<Value> {
          WALREP_ASSIGN_OR_RETURN(Value a, ts->eval(st));
          WALREP_ASSIGN_OR_RETURN(Value b, iv->eval(st));
          if (a.is_null() || b.is_null()) return Value::Null(t);
          return Value::Timestamp(t, AddInterval(a.as_int(), b.as_interval(), sign));
        });
      }
      if (lt == oid::kInterval && rt == oid::kInterval && (c == '+' || c == '-')) {
        WALREP_ASSIGN_OR_RETURN(l, Coerce(cs, l, oid::kInterval, false));
        WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, oid::kInterval, false));
        int sign = c == '-' ? -1 : 1;
        return MakeExpr(oid::kInterval, [l, r, sign](EvalState& st) -> Result<Value> {
          WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
          WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
          if (a.is_null() || b.is_null()) return Value::Null(oid::kInterval);
          const Interval &x = a.as_interval(), &y = b.as_interval();
          return Value::Interv(Interval{x.months + sign * y.months, x.days + sign * y.days,
                                        x.micros + sign * y.micros});
        });
      }
      if (lt == oid::kInterval && IntRank(rt) && (c == '*' || c == '/')) {
        WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, oid::kFloat8, false));
        return MakeExpr(oid::kInterval, [l, r, c](EvalState& st) -> Result<Value> {
          WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
          WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
          if (a.is_null() || b.is_null()) return Value::Null(oid::kInterval);
          double f = b.as_double();
          if (c == '/') {
            if (f == 0) return Status::Sql("22012", "division by zero");
            f = 1 / f;
          }
          const Interval& x = a.as_interval();
          double total = (static_cast<double>(x.months) * 30 + x.days) * 86400e6 + x.micros;
          int64_t us = std::llround(total * f);
          return Value::Interv(
              Interval{0, static_cast<int32_t>(us / 86400000000LL), us % 86400000000LL});
        });
      }
      return Err(cs, "42883",
                 fmt::format("operator does not exist: {} {} {}", TypeName(l->type), op,
                             TypeName(r->type)),
                 location);
    }
    if (lt == oid::kPgLsn && rt == oid::kPgLsn && c == '-') {
      return MakeExpr(oid::kNumeric, [l, r](EvalState& st) -> Result<Value> {
        WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
        WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
        if (a.is_null() || b.is_null()) return Value::Null(oid::kNumeric);
        __int128 d = static_cast<__int128>(static_cast<uint64_t>(a.as_int())) -
                     static_cast<__int128>(static_cast<uint64_t>(b.as_int()));
        return Value::Num(Numeric{d, 0});
      });
    }
    if (lt == oid::kUnknown && rt == oid::kUnknown) {
      return Err(cs, "42725", fmt::format("operator is not unique: unknown {} unknown", op),
                 location)
          .WithHint(
              "Could not choose a best candidate operator. You might need to add explicit "
              "type casts.");
    }
    WALREP_ASSIGN_OR_RETURN(int32_t t, CommonType(cs, l, r, op, location));
    if (!IntRank(t)) {
      return Err(cs, "42883",
                 fmt::format("operator does not exist: {} {} {}", TypeName(l->type), op,
                             TypeName(r->type)),
                 location)
          .WithHint(
              "No operator matches the given name and argument types. You might need to "
              "add explicit type casts.");
    }
    if (t == oid::kFloat4)
      t = oid::kFloat8 == l->type || oid::kFloat8 == r->type ? oid::kFloat8 : t;
    if (c == '%' && (t == oid::kFloat4 || t == oid::kFloat8)) {
      return Err(cs, "42883", "operator does not exist: double precision % double precision",
                 location);
    }
    WALREP_ASSIGN_OR_RETURN(l, Coerce(cs, l, t, false));
    WALREP_ASSIGN_OR_RETURN(r, Coerce(cs, r, t, false));
    return MakeExpr(t, [l, r, c, t](EvalState& st) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(Value a, l->eval(st));
      WALREP_ASSIGN_OR_RETURN(Value b, r->eval(st));
      if (a.is_null() || b.is_null()) return Value::Null(t);
      return Arith(c, a, b, t);
    });
  }
  return Err(
      cs, "42883",
      fmt::format("operator does not exist: {} {} {}", TypeName(l->type), op, TypeName(r->type)),
      location);
}

Result<ExprPtr> CompileConst(const PgQuery__AConst* c) {
  if (c->isnull) return ConstExpr(Value::Null(oid::kUnknown));
  switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_IVAL:
      return ConstExpr(Value::Int(oid::kInt4, c->ival ? c->ival->ival : 0));
    case PG_QUERY__A__CONST__VAL_FVAL: {
      std::string s = c->fval->fval;
      if (s.find_first_of(".eE") == std::string::npos) {
        errno = 0;
        long long v = std::strtoll(s.c_str(), nullptr, 10);
        if (errno != ERANGE) return ConstExpr(Value::Int(oid::kInt8, v));
      }
      WALREP_ASSIGN_OR_RETURN(Numeric n, ParseNumeric(s));
      return ConstExpr(Value::Num(n));
    }
    case PG_QUERY__A__CONST__VAL_BOOLVAL:
      return ConstExpr(Value::Bool(c->boolval->boolval));
    case PG_QUERY__A__CONST__VAL_SVAL:
      return ConstExpr(Value::Text(oid::kUnknown, c->sval->sval));
    case PG_QUERY__A__CONST__VAL_BSVAL:
      return Status::NotSupported("bit-string constants are not supported");
    default:
      return ConstExpr(Value::Null(oid::kUnknown));
  }
}

Result<ExprPtr> CompileColumnRef(CompileState& cs, const PgQuery__ColumnRef* cr) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < cr->n_fields; i++) {
    if (cr->fields[i]->node_case == PG_QUERY__NODE__NODE_A_STAR) {
      return Err(cs, "42601", "\"*\" is not allowed here", cr->location);
    }
    parts.push_back(StringNodeValue(cr->fields[i]));
  }
  std::string col = parts.back();
  if (cs.scope && parts.size() <= 2) {
    const auto& rels = cs.scope->rels;
    bool here = parts.size() < 2 || std::find(rels.begin(), rels.end(), parts[0]) != rels.end();
    int found = here ? cs.scope->Find(parts.size() == 2 ? parts[0] : "", col) : Scope::kNone;
    if (found == Scope::kAmbiguous) {
      return Err(cs, "42702", fmt::format("column reference \"{}\" is ambiguous", col),
                 cr->location);
    }
    if (found >= 0) {
      size_t i = static_cast<size_t>(found);
      return MakeExpr(cs.scope->columns[i].type,
                      [i](EvalState& st) -> Result<Value> { return (*st.row)[i]; });
    }
  }
  // A column of an enclosing query (a correlated subquery), innermost first.
  for (size_t d = 0; d < cs.outer_scopes.size() && parts.size() <= 2; d++) {
    const Scope* outer = cs.outer_scopes[cs.outer_scopes.size() - 1 - d];
    if (!outer) continue;
    if (parts.size() == 2 &&
        std::find(outer->rels.begin(), outer->rels.end(), parts[0]) == outer->rels.end()) {
      continue;
    }
    int found = outer->Find(parts.size() == 2 ? parts[0] : "", col);
    if (found == Scope::kAmbiguous) {
      return Err(cs, "42702", fmt::format("column reference \"{}\" is ambiguous", col),
                 cr->location);
    }
    if (found < 0) continue;
    for (size_t k = 0; k <= d && k < cs.correlated.size(); k++) {
      *cs.correlated[cs.correlated.size() - 1 - k] = true;
    }
    size_t i = static_cast<size_t>(found);
    return MakeExpr(outer->columns[i].type, [i, d](EvalState& st) -> Result<Value> {
      if (st.outer_rows.size() <= d || !st.outer_rows[st.outer_rows.size() - 1 - d]) {
        return Status::Sql("XX000", "outer row of a correlated subquery is missing");
      }
      return (*st.outer_rows[st.outer_rows.size() - 1 - d])[i];
    });
  }
  if (cs.scope && parts.size() == 2 &&
      std::find(cs.scope->rels.begin(), cs.scope->rels.end(), parts[0]) == cs.scope->rels.end()) {
    return Err(cs, "42P01", fmt::format("missing FROM-clause entry for table \"{}\"", parts[0]),
               cr->location);
  }
  std::string full;
  for (const auto& p : parts) full += (full.empty() ? "" : ".") + p;
  return Err(cs, "42703", fmt::format("column \"{}\" does not exist", full), cr->location);
}

// lag(value [, offset [, default]]) and lead(...): the value and default meet at a common type;
// the offset is an integer constant (PostgreSQL also takes an expression evaluated per row).
Status CompileShiftArgs(CompileState& cs, const std::string& name, const PgQuery__FuncCall* fc,
                        WindowSpec* spec) {
  std::vector<ExprPtr> args;
  std::vector<int32_t> types;
  for (size_t i = 0; i < fc->n_args; i++) {
    WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, fc->args[i]));
    types.push_back(e->type);
    args.push_back(std::move(e));
  }
  if (args.empty() || args.size() > 3) return Err(cs, NoSuchFunction(name, types), fc->location);
  int32_t type = args.size() == 3 ? CommonTypeOf(args[0]->type, args[2]->type) : args[0]->type;
  if (!type) return Err(cs, NoSuchFunction(name, types), fc->location);
  if (type == oid::kUnknown) {
    return Status::Sql("42804",
                       "could not determine polymorphic type because input has type unknown");
  }
  WALREP_ASSIGN_OR_RETURN(spec->value, Coerce(cs, args[0], type, false));
  if (args.size() == 3) {
    WALREP_ASSIGN_OR_RETURN(spec->fallback, Coerce(cs, args[2], type, false));
  } else {
    spec->fallback = ConstExpr(Value::Null(type));
  }
  if (args.size() >= 2) {
    auto offset = Coerce(cs, args[1], oid::kInt4, false);
    if (!offset.ok()) return Err(cs, NoSuchFunction(name, types), fc->location);
    if ((*offset)->kind != Expr::Kind::kConst) {
      return Err(cs, "0A000",
                 fmt::format("{} with an offset that is not a constant is not supported", name),
                 NodeLocation(fc->args[1], fc->location));
    }
    const Value& v = (*offset)->constant;
    spec->offset = v.is_null() ? std::nullopt : std::optional<int64_t>(v.as_int());
  }
  spec->type = type;
  return Status::OK();
}

// name() OVER (PARTITION BY ... ORDER BY ...): a value the select's window step appends to
// each input row.
Result<ExprPtr> CompileWindowCall(CompileState& cs, const std::string& name,
                                  const PgQuery__FuncCall* fc) {
  static const std::map<std::string, WindowSpec::Kind> kKinds = {
      {"row_number", WindowSpec::kRowNumber},
      {"rank", WindowSpec::kRank},
      {"dense_rank", WindowSpec::kDenseRank},
      {"lag", WindowSpec::kLag},
      {"lead", WindowSpec::kLead}};
  auto kind = kKinds.find(name);
  bool shifts = kind != kKinds.end() &&
                (kind->second == WindowSpec::kLag || kind->second == WindowSpec::kLead);
  if (kind == kKinds.end() || (!shifts && fc->n_args != 0)) {
    return Err(cs, "0A000", fmt::format("window function {} is not supported", name), fc->location);
  }
  if (!cs.windows || !cs.scope) {
    return Err(cs, "42P20", "window functions are not allowed here", fc->location);
  }
  const auto* w = fc->over;
  if (w->refname && *w->refname) {
    return Err(cs, "0A000", "named windows are not supported", fc->location);
  }
  if (fc->agg_star || fc->agg_distinct || fc->n_agg_order) {
    return Err(cs, "0A000",
               fmt::format("DISTINCT, ORDER BY or * in window function {} is not supported", name),
               fc->location);
  }
  if (fc->agg_filter) {
    return Err(cs, "0A000", "FILTER is not implemented for non-aggregate window functions",
               fc->location);
  }
  WindowSpec spec{kind->second, {}, {}};
  std::vector<WindowSpec>* saved = cs.windows;
  std::vector<AggSpec>* saved_aggs = cs.aggs;
  cs.windows = nullptr;
  cs.aggs = nullptr;
  Status status = [&]() -> Status {
    if (shifts) WALREP_RETURN_IF_ERROR(CompileShiftArgs(cs, name, fc, &spec));
    for (size_t i = 0; i < w->n_partition_clause; i++) {
      WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, w->partition_clause[i]));
      spec.partition.push_back(e);
    }
    for (size_t i = 0; i < w->n_order_clause; i++) {
      const auto* sb = w->order_clause[i]->sort_by;
      AggSpec::OrderKey k;
      SortDirection(sb, &k.desc, &k.nulls_first);
      WALREP_ASSIGN_OR_RETURN(k.expr, CompileExpr(cs, sb->node));
      spec.order.push_back(k);
    }
    return Status::OK();
  }();
  cs.windows = saved;
  cs.aggs = saved_aggs;
  WALREP_RETURN_IF_ERROR(status);
  size_t at = cs.scope->columns.size() + cs.windows->size();
  int32_t type = spec.type;
  cs.windows->push_back(std::move(spec));
  return MakeExpr(type, [at](EvalState& st) -> Result<Value> { return (*st.row)[at]; });
}

// A set-returning function in a select list (SELECT pg_ls_dir('.'), 'x' || unnest(a)): its
// value is the one the select's ProjectSet step appends to each input row.
Result<ExprPtr> CompileSetReturningCall(CompileState& cs, const PgQuery__FuncCall* fc) {
  if (!cs.srfs || !cs.scope) {
    return Err(cs, "0A000", "set-returning functions are not allowed here", fc->location);
  }
  std::vector<TableFunctionSource>* saved = cs.srfs;
  std::vector<AggSpec>* saved_aggs = cs.aggs;
  cs.srfs = nullptr;  // nested set-returning functions are not supported
  cs.aggs = nullptr;
  auto fn = CompileTableFunctionCall(cs, fc);
  cs.srfs = saved;
  cs.aggs = saved_aggs;
  if (!fn.ok()) return fn.TakeStatus();
  if (fn->columns.size() != 1) {
    // Rows of several columns are records here (pg_ls_waldir() as "(name,size,modification)").
    fn->columns = {{fn->name, oid::kRecord}};
    fn->rows = [rows = std::move(fn->rows)](EvalState& st) -> Result<RowIterPtr> {
      WALREP_ASSIGN_OR_RETURN(RowIterPtr it, rows(st));
      auto shared = std::shared_ptr<RowIter>(std::move(it));
      return FunctionIter(nullptr, [shared, fo = st.fmt](Row* row) -> Result<bool> {
        Row r;
        WALREP_ASSIGN_OR_RETURN(bool more, shared->Next(&r));
        if (more) *row = {Value::Text(oid::kRecord, RecordText(r, fo))};
        return more;
      });
    };
  }
  int32_t type = fn->columns[0].type;
  size_t at = cs.scope->columns.size() + cs.srfs->size();
  cs.srfs->push_back(std::move(*fn));
  return MakeExpr(type, [at](EvalState& st) -> Result<Value> { return (*st.row)[at]; });
}

// Where an expression starts in the query text, for an error about it (`fallback` when its
// kind of node does not say).
int NodeLocation(const PgQuery__Node* n, int fallback) {
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_A_CONST:
      return n->a_const->location;
    case PG_QUERY__NODE__NODE_COLUMN_REF:
      return n->column_ref->location;
    case PG_QUERY__NODE__NODE_A_EXPR:
      return n->a_expr->location;
    case PG_QUERY__NODE__NODE_FUNC_CALL:
      return n->func_call->location;
    case PG_QUERY__NODE__NODE_TYPE_CAST:
      return n->type_cast->location;
    case PG_QUERY__NODE__NODE_PARAM_REF:
      return n->param_ref->location;
    default:
      return fallback;
  }
}

Result<ExprPtr> CompileFuncCall(CompileState& cs, const PgQuery__FuncCall* fc) {
  std::string name;
  for (size_t i = 0; i < fc->n_funcname; i++) {
    std::string part = StringNodeValue(fc->funcname[i]);
    if (part == "pg_catalog" && i + 1 < fc->n_funcname) continue;
    name += (name.empty() ? "" : ".") + part;
  }
  if (fc->over) return CompileWindowCall(cs, name, fc);
  static const std::map<std::string, AggSpec::Kind> kAggs = {{"count", AggSpec::kCount},
                                                             {"sum", AggSpec::kSum},
                                                             {"min", AggSpec::kMin},
                                                             {"max", AggSpec::kMax},
                                                             {"avg", AggSpec::kAvg},
                                                             {"array_agg", AggSpec::kArrayAgg},
                                                             {"string_agg", AggSpec::kStringAgg},
                                                             {"bool_and", AggSpec::kBoolAnd},
                                                             {"bool_or", AggSpec::kBoolOr},
                                                             {"every", AggSpec::kBoolAnd}};
  auto agg = kAggs.find(name);
  if (agg != kAggs.end() &&
      (fc->agg_star || fc->n_args == (agg->second == AggSpec::kStringAgg ? 2u : 1u))) {
    if (!cs.aggs) {
      return Err(cs, "42803", "aggregate functions are not allowed here", fc->location);
    }
    AggSpec spec{agg->second, nullptr, oid::kInt8};
    spec.distinct = fc->agg_distinct;
    if (fc->agg_star) {
      if (spec.kind != AggSpec::kCount) {
        return Err(cs, "42809",
                   fmt::format("{}(*) specified, but {} is not an aggregate function", name, name),
                   fc->location);
      }
      spec.kind = AggSpec::kCountStar;
    } else {
      std::vector<AggSpec>* saved = cs.aggs;
      cs.aggs = nullptr;  // no nested aggregates
      auto arg = CompileExpr(cs, fc->args[0]);
      cs.aggs = saved;
      if (!arg.ok()) return arg.TakeStatus();
      spec.arg = *arg;
      int32_t t = spec.arg->type;
      if (t == oid::kUnknown) {
        WALREP_ASSIGN_OR_RETURN(spec.arg, Coerce(cs, spec.arg, oid::kText, false));
        t = oid::kText;
      }
      switch (spec.kind) {
        case AggSpec::kCount:
          spec.result_type = oid::kInt8;
          break;
        case AggSpec::kSum:
        case AggSpec::kAvg:
          if (!IntRank(t)) {
            return Err(cs, "42883",
                       fmt::format("function {}({}) does not exist", name, TypeName(t)),
                       fc->location);
          }
          if (t == oid::kFloat4 || t == oid::kFloat8) {
            spec.result_type = oid::kFloat8;
          } else if (spec.kind == AggSpec::kSum && (t == oid::kInt2 || t == oid::kInt4)) {
            spec.result_type = oid::kInt8;
          } else {
            spec.result_type = oid::kNumeric;
          }
          break;
        case AggSpec::kArrayAgg: {
          spec.result_type = ArrayTypeOf(t);
          if (!spec.result_type) {
            return Err(cs, "0A000", fmt::format("arrays of type {} are not supported", TypeName(t)),
                       fc->location);
          }
          break;
        }
        case AggSpec::kStringAgg: {
          WALREP_ASSIGN_OR_RETURN(spec.arg, Coerce(cs, spec.arg, oid::kText, false));
          cs.aggs = nullptr;
          auto delim = CompileExpr(cs, fc->args[1]);
          cs.aggs = saved;
          if (!delim.ok()) return delim.TakeStatus();
          WALREP_ASSIGN_OR_RETURN(spec.arg2, Coerce(cs, *delim, oid::kText, false));
          spec.result_type = oid::kText;
          break;
        }
        case AggSpec::kBoolAnd:
        case AggSpec::kBoolOr: {
          WALREP_ASSIGN_OR_RETURN(spec.arg, Coerce(cs, spec.arg, oid::kBool, false));
          spec.result_type = oid::kBool;
          break;
        }
        default:
          spec.result_type = t;
      }
    }
    for (size_t i = 0; i < fc->n_agg_order; i++) {
      const auto* sb = fc->agg_order[i]->sort_by;
      if (spec.distinct) {
        // Sorting by anything else would not bring equal arguments together (PostgreSQL's
        // rule, checked on the expressions' text).
        WALREP_ASSIGN_OR_RETURN(std::string text, ExpressionText(sb->node));
        bool in_args = false;
        for (size_t j = 0; j < fc->n_args && !in_args; j++) {
          WALREP_ASSIGN_OR_RETURN(std::string arg, ExpressionText(fc->args[j]));
          in_args = arg == text;
        }
        if (!in_args) {
          return Err(cs, "42P10",
                     "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument "
                     "list",
                     NodeLocation(sb->node, fc->location));
        }
      }
      AggSpec::OrderKey k;
      SortDirection(sb, &k.desc, &k.nulls_first);
      std::vector<AggSpec>* saved = cs.aggs;
      cs.aggs = nullptr;
      auto e = CompileExpr(cs, sb->node);
      cs.aggs = saved;
      if (!e.ok()) return e.TakeStatus();
      k.expr = *e;
      spec.order.push_back(k);
    }
    if (fc->agg_filter) {
      std::vector<AggSpec>* saved = cs.aggs;
      cs.aggs = nullptr;
      auto f = CompileExpr(cs, fc->agg_filter);
      cs.aggs = saved;
      if (!f.ok()) return f.TakeStatus();
      auto b = Coerce(cs, *f, oid::kBool, false);
      if (!b.ok()) {
        return Err(cs, "42804",
                   fmt::format("argument of FILTER must be type boolean, not type {}",
                               TypeName((*f)->type)),
                   NodeLocation(fc->agg_filter, fc->location));
      }
      spec.filter = *b;
    }
    int slot = static_cast<int>(cs.aggs->size());
    int32_t rt = spec.result_type;
    cs.aggs->push_back(spec);
    return MakeExpr(rt, [slot](EvalState& st) -> Result<Value> {
      if (!st.aggs) return Status::Sql("XX000", "aggregate evaluated outside a group");
      return (*st.aggs)[static_cast<size_t>(slot)];
    });
  }
  if (fc->agg_star || fc->agg_distinct || fc->n_agg_order || fc->agg_filter) {
    if (agg == kAggs.end() && cs.registry->FindFunction(name)) {
      // An ordinary function called as an aggregate, in PostgreSQL's order of checks.
      std::string what = fc->agg_star       ? name + "(*)"
                         : fc->agg_distinct ? "DISTINCT"
                         : fc->n_agg_order  ? "ORDER BY"
                                            : "FILTER";
      return Err(cs, "42809",
                 fmt::format("{} specified, but {} is not an aggregate function", what, name),
                 fc->location);
    }
    return Err(cs, "0A000", fmt::format("aggregate function {} is not supported here", name),
               fc->location);
  }
  // Clock functions read the executor's transaction and statement start times.
  if ((name == "now" || name == "transaction_timestamp" || name == "statement_timestamp") &&
      fc->n_args == 0) {
    bool stmt = name == "statement_timestamp";
    return MakeExpr(oid::kTimestampTz, [stmt](EvalState& st) -> Result<Value> {
      return Value::Timestamp(oid::kTimestampTz,
                              stmt ? st.exec->statement_start() : st.exec->transaction_start());
    });
  }
  // txid_current() assigns the transaction an id, as in PostgreSQL.
  if ((name == "txid_current" || name == "pg_current_xact_id") && fc->n_args == 0) {
    return MakeExpr(oid::kInt8, [](EvalState& st) -> Result<Value> {
      if (!st.exec || !st.exec->db()) return Status::Sql("0A000", "no transaction manager");
      if (st.ctx->in_recovery()) {
        return Status::Sql("25006", "cannot assign TransactionIds during recovery");
      }
      return Value::Int(oid::kInt8, st.exec->txn().ensure_xid());
    });
  }
  WALREP_ASSIGN_OR_RETURN(ExprPtr seq, CompileSequenceFunction(cs, name, fc));
  if (seq) return seq;
  if (FindCatalogFunction(name)) {
    std::vector<ExprPtr> args;
    for (size_t i = 0; i < fc->n_args; i++) {
      WALREP_ASSIGN_OR_RETURN(ExprPtr a, CompileExpr(cs, fc->args[i]));
      args.push_back(a);
    }
    auto r = CompileCatalogFunction(cs, name, args);
    if (!r.ok()) {
      Status st = r.TakeStatus();
      int pos = ErrorPosition(cs, fc->location);
      return pos > 0 && st.position() == 0 ? std::move(st).WithPosition(pos) : st;
    }
    if (*r) return *r;
  }
  const TableFunctionDef* srf = cs.registry->FindTableFunction(name);
  if (srf && srf->returns_set) return CompileSetReturningCall(cs, fc);
  const FunctionDef* def = cs.registry->FindFunction(name);
  if (!def) {
    std::string sig;
    std::vector<ExprPtr> tmp;
    for (size_t i = 0; i < fc->n_args; i++) {
      auto a = CompileExpr(cs, fc->args[i]);
      sig += std::string(i ? ", " : "") + (a.ok() ? TypeName((*a)->type) : "unknown");
    }
    return Err(cs, "42883", fmt::format("function {}({}) does not exist", name, sig), fc->location)
        .WithHint(
            "No function matches the given name and argument types. You might need to add "
            "explicit type casts.");
  }
  std::vector<ExprPtr> args;
  std::vector<int32_t> types;
  for (size_t i = 0; i < fc->n_args; i++) {
    WALREP_ASSIGN_OR_RETURN(ExprPtr a, CompileExpr(cs, fc->args[i]));
    args.push_back(a);
    types.push_back(a->type);
  }
  std::vector<int32_t> wanted = types;
  auto rt = def->resolve(wanted);
  if (!rt.ok()) {
    Status st = rt.TakeStatus();
    int pos = ErrorPosition(cs, fc->location);
    return pos > 0 ? std::move(st).WithPosition(pos) : st;
  }
  for (size_t i = 0; i < args.size() && i < wanted.size(); i++) {
    WALREP_ASSIGN_OR_RETURN(args[i], Coerce(cs, args[i], wanted[i], false));
  }
  int32_t result_type = *rt;
  bool strict = def->strict;
  auto eval = def->eval;
  return MakeExpr(result_type,
                  [args, wanted, result_type, strict, eval](EvalState& st) -> Result<Value> {
                    std::vector<Value> vals;
                    vals.reserve(args.size());
                    for (const auto& a : args) {
                      WALREP_ASSIGN_OR_RETURN(Value v, a->eval(st));
                      if (strict && v.is_null()) return Value::Null(result_type);
                      vals.push_back(std::move(v));
                    }
                    FunctionCall call{*st.ctx, vals, wanted};
                    return eval(call);
                  });
}

Result<ExprPtr> CompileSqlValueFunction(CompileState& cs, const PgQuery__SQLValueFunction* f) {
  switch (f->op) {
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N:
      return MakeExpr(oid::kTimestampTz, [](EvalState& st) -> Result<Value> {
        return Value::Timestamp(oid::kTimestampTz, st.exec->transaction_start());
      });
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N:
      return MakeExpr(oid::kTimestamp, [](EvalState& st) -> Result<Value> {
        return Value::Timestamp(oid::kTimestamp,
                                st.exec->transaction_start() + st.fmt.timezone_offset * 1000000LL);
      });
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE:
      return MakeExpr(oid::kDate, [](EvalState& st) -> Result<Value> {
        return Cast(Value::Timestamp(oid::kTimestampTz, st.exec->transaction_start()), oid::kDate,
                    st.fmt);
      });
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_ROLE:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_USER:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_USER:
      return MakeExpr(oid::kName, [](EvalState& st) -> Result<Value> {
        return Value::Text(oid::kName, st.ctx->current_user());
      });
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_SESSION_USER:
      return MakeExpr(oid::kName, [](EvalState& st) -> Result<Value> {
        return Value::Text(oid::kName, st.ctx->session_user());
      });
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_CATALOG:
      return MakeExpr(oid::kName, [](EvalState& st) -> Result<Value> {
        return Value::Text(oid::kName, st.ctx->database());
      });
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_SCHEMA:
      return ConstExpr(Value::Text(oid::kName, "public"));
    default:
      return Err(cs, "0A000", "time-of-day values are not supported", f->location);
  }
}

}  // namespace

ExprPtr ConstExpr(Value v) {
  auto e = std::make_shared<Expr>();
  e->kind = Expr::Kind::kConst;
  e->type = v.type();
  e->constant = v;
  e->eval = [v](EvalState&) -> Result<Value> { return v; };
  return e;
}

int ErrorPosition(const CompileState& cs, int location) { return location >= 0 ? location + 1 : 0; }

Result<int> CompareValues(const Value& a, const Value& b) {
  int32_t t = a.type();
  if (t == oid::kNumeric || b.type() == oid::kNumeric) {
    if ((t == oid::kFloat8 || t == oid::kFloat4) ||
        (b.type() == oid::kFloat8 || b.type() == oid::kFloat4)) {
      double x = ToDouble(a), y = ToDouble(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return CompareNumeric(ToNumeric(a), ToNumeric(b));
  }
  const auto& da = a.datum();
  const auto& db = b.datum();
  if (a.is_array() && b.is_array()) {
    // Element by element (NULLs above values), then the shorter first: btree's array order.
    const ArrayElems &x = a.as_array(), &y = b.as_array();
    for (size_t i = 0; i < x.size() && i < y.size(); i++) {
      if (x[i].is_null() || y[i].is_null()) {
        if (x[i].is_null() != y[i].is_null()) return x[i].is_null() ? 1 : -1;
        continue;
      }
      WALREP_ASSIGN_OR_RETURN(int c, CompareValues(x[i], y[i]));
      if (c) return c;
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  if (std::holds_alternative<int64_t>(da) && std::holds_alternative<int64_t>(db)) {
    int64_t x = a.as_int(), y = b.as_int();
    if (t == oid::kPgLsn) {
      uint64_t ux = static_cast<uint64_t>(x), uy = static_cast<uint64_t>(y);
      return ux < uy ? -1 : ux > uy ? 1 : 0;
    }
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if ((std::holds_alternative<double>(da) || std::holds_alternative<int64_t>(da)) &&
      (std::holds_alternative<double>(db) || std::holds_alternative<int64_t>(db))) {
    double x = ToDouble(a), y = ToDouble(b);
    // NaN sorts above every other value, as in PostgreSQL.
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) ? (std::isnan(y) ? 0 : 1) : -1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (std::holds_alternative<bool>(da) && std::holds_alternative<bool>(db)) {
    return static_cast<int>(a.as_bool()) - static_cast<int>(b.as_bool());
  }
  if (std::holds_alternative<std::string>(da) && std::holds_alternative<std::string>(db)) {
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (std::holds_alternative<Interval>(da) && std::holds_alternative<Interval>(db)) {
    auto span = [](const Interval& i) {
      return (static_cast<__int128>(i.months) * 30 + i.days) * 86400000000LL + i.micros;
    };
    __int128 x = span(a.as_interval()), y = span(b.as_interval());
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return Status::Sql(
      "42883", fmt::format("could not compare {} with {}", TypeName(a.type()), TypeName(b.type())));
}

Result<ExprPtr> Coerce(CompileState& cs, ExprPtr e, int32_t target, bool explicit_cast) {
  if (e->type == target) return e;
  if (e->kind == Expr::Kind::kParam && cs.param_types &&
      (*cs.param_types)[static_cast<size_t>(e->param_index)] == 0) {
    (*cs.param_types)[static_cast<size_t>(e->param_index)] = target;
    e->type = target;
    return e;
  }
  if (e->kind == Expr::Kind::kConst) {
    // Fold casts of constants now, so bad literals fail at parse time, like PostgreSQL.
    FormatOptions fmt;
    if (cs.exec) fmt = cs.exec->format_options();
    if (!explicit_cast && e->type != oid::kUnknown && !CanImplicitCast(e->type, target)) {
      return Status::Sql(
          "42804", fmt::format("cannot cast type {} to {}", TypeName(e->type), TypeName(target)));
    }
    // Time-dependent literals ('now') must be evaluated at run time.
    if (!(target == oid::kTimestampTz || target == oid::kTimestamp || target == oid::kDate)) {
      WALREP_ASSIGN_OR_RETURN(Value v, Cast(e->constant, target, fmt));
      return ConstExpr(v);
    }
  }
  if (!explicit_cast && e->type != oid::kUnknown && !CanImplicitCast(e->type, target)) {
    return Status::Sql("42804", fmt::format("argument of type {} cannot be used as {}",
                                            TypeName(e->type), TypeName(target)));
  }
  ExprPtr inner = e;
  return MakeExpr(target, [inner, target](EvalState& st) -> Result<Value> {
    WALREP_ASSIGN_OR_RETURN(Value v, inner->eval(st));
    return Cast(v, target, st.fmt);
  });
}

std::string FigureColname(const PgQuery__Node* n) {
  // Mirrors PostgreSQL's FigureColnameInternal(): a name from a column or function is strong,
  // a type name from a cast is weak, anything else is "?column?".
  std::function<int(const PgQuery__Node*, std::string*)> fig = [&](const PgQuery__Node* node,
                                                                   std::string* name) -> int {
    if (!node) return 0;
    switch (node->node_case) {
      case PG_QUERY__NODE__NODE_COLUMN_REF: {
        const auto* cr = node->column_ref;
        const PgQuery__Node* last = cr->fields[cr->n_fields - 1];
        if (last->node_case == PG_QUERY__NODE__NODE_STRING) {
          *name = last->string->sval;
          return 2;
        }
        return 0;
      }
      case PG_QUERY__NODE__NODE_FUNC_CALL: {
        const auto* fc = node->func_call;
        *name = StringNodeValue(fc->funcname[fc->n_funcname - 1]);
        if (*name == "extract") *name = "extract";
        return 2;
      }
      case PG_QUERY__NODE__NODE_TYPE_CAST: {
        int s = fig(node->type_cast->arg, name);
        if (s <= 1) {
          const auto* tn = node->type_cast->type_name;
          std::string t = StringNodeValue(tn->names[tn->n_names - 1]);
          *name = t;
          return 1;
        }
        return s;
      }
      case PG_QUERY__NODE__NODE_CASE_EXPR: {
        int s = fig(node->case_expr->defresult, name);
        if (s <= 1) {
          *name = "case";
          return 1;
        }
        return s;
      }
      case PG_QUERY__NODE__NODE_COALESCE_EXPR:
        *name = "coalesce";
        return 2;
      case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
        *name = "array";
        return 2;
      case PG_QUERY__NODE__NODE_COLLATE_CLAUSE:
        return fig(node->collate_clause->arg, name);
      case PG_QUERY__NODE__NODE_A_INDIRECTION: {
        const auto* ind = node->a_indirection;
        for (size_t i = ind->n_indirection; i-- > 0;) {
          if (ind->indirection[i]->node_case == PG_QUERY__NODE__NODE_STRING) {
            *name = ind->indirection[i]->string->sval;
            return 2;
          }
        }
        return fig(ind->arg, name);
      }
      case PG_QUERY__NODE__NODE_SUB_LINK: {
        const auto* sl = node->sub_link;
        if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK) {
          *name = "exists";
          return 2;
        }
        if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK) {
          *name = "array";
          return 2;
        }
        // (SELECT x ...): the name of the subquery's column.
        if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK && sl->subselect &&
            sl->subselect->node_case == PG_QUERY__NODE__NODE_SELECT_STMT &&
            sl->subselect->select_stmt->n_target_list > 0) {
          const PgQuery__Node* t = sl->subselect->select_stmt->target_list[0];
          if (t->node_case == PG_QUERY__NODE__NODE_RES_TARGET) {
            if (t->res_target->name && *t->res_target->name) {
              *name = t->res_target->name;
              return 2;
            }
            std::string inner;
            if (fig(t->res_target->val, &inner) > 0) {
              *name = inner;
              return 2;
            }
          }
        }
        return 0;
      }
      case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
        *name = node->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST ? "greatest" : "least";
        return 2;
      case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
        switch (node->sqlvalue_function->op) {
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE:
            *name = "current_date";
            break;
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N:
            *name = "current_timestamp";
            break;
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N:
            *name = "localtimestamp";
            break;
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_ROLE:
            *name = "current_role";
            break;
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_USER:
            *name = "current_user";
            break;
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_USER:
            *name = "user";
            break;
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_SESSION_USER:
            *name = "session_user";
            break;
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_CATALOG:
            *name = "current_catalog";
            break;
          case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_SCHEMA:
            *name = "current_schema";
            break;
          default:
            *name = "?column?";
            return 0;
        }
        return 2;
      default:
        return 0;
    }
  };
  std::string name = "?column?";
  fig(n, &name);
  return name;
}

// x op ANY/ALL over `values` (`value(v)` gives each one): `test` compares x with *slot. True
// when some (ANY) or every (ALL) comparison is true, NULL when undecided for a NULL.
template <typename Range, typename Get>
Result<Value> Quantified(EvalState& st, const ExprPtr& test, Value* slot, bool all,
                         const Range& values, Get value) {
  bool saw_null = false;
  for (const auto& v : values) {
    *slot = value(v);
    WALREP_ASSIGN_OR_RETURN(Value r, test->eval(st));
    if (r.is_null()) {
      saw_null = true;
    } else if (r.as_bool() != all) {
      return Value::Bool(!all);  // ANY: a true one; ALL: a false one
    }
  }
  if (saw_null) return Value::Null(oid::kBool);
  return Value::Bool(all);
}

// x op ANY (array) / ALL (array).
Result<ExprPtr> CompileArrayQuantified(CompileState& cs, const PgQuery__AExpr* a, bool all) {
  std::string op = StringNodeValue(a->name[a->n_name - 1]);
  WALREP_ASSIGN_OR_RETURN(ExprPtr left, CompileExpr(cs, a->lexpr));
  WALREP_ASSIGN_OR_RETURN(ExprPtr arr, CompileExpr(cs, a->rexpr));
  if (arr->type == oid::kUnknown) {
    int32_t lt = left->type == oid::kUnknown ? oid::kText : left->type;
    int32_t at = ArrayTypeOf(lt);
    if (!at) return Err(cs, "0A000", "arrays of this type are not supported", a->location);
    WALREP_ASSIGN_OR_RETURN(arr, Coerce(cs, arr, at, false));
  }
  int32_t et = ElementTypeOf(arr->type);
  if (!et) {
    return Err(cs, "42809", fmt::format("op ANY/ALL (array) requires array on right side"),
               a->location);
  }
  auto slot = std::make_shared<Value>();
  ExprPtr right = MakeExpr(et, [slot](EvalState&) -> Result<Value> { return *slot; });
  WALREP_ASSIGN_OR_RETURN(ExprPtr test, CompileOp(cs, op, left, right, a->location));
  if (test->type != oid::kBool) {
    return Err(cs, "42809", "op ANY/ALL (array) requires operator to yield boolean", a->location);
  }
  return MakeExpr(oid::kBool, [arr, slot, test, all](EvalState& st) -> Result<Value> {
    WALREP_ASSIGN_OR_RETURN(Value v, arr->eval(st));
    if (v.is_null()) return Value::Null(oid::kBool);
    return Quantified(st, test, slot.get(), all, v.as_array(), [](const Value& e) { return e; });
  });
}

// ARRAY[a, b, ...]: the elements' common type.
Result<ExprPtr> CompileArrayConstructor(CompileState& cs, const PgQuery__AArrayExpr* a) {
  std::vector<ExprPtr> elems;
  int32_t t = oid::kUnknown;
  for (size_t i = 0; i < a->n_elements; i++) {
    if (a->elements[i]->node_case == PG_QUERY__NODE__NODE_A_ARRAY_EXPR) {
      return Err(cs, "0A000", "multidimensional arrays are not supported", a->location);
    }
    WALREP_ASSIGN_OR_RETURN(ExprPtr e, CompileExpr(cs, a->elements[i]));
    elems.push_back(e);
    if (e->type == oid::kUnknown || e->type == t) continue;
    int32_t common = CommonTypeOf(t, e->type);
    if (!common) {
      return Err(
          cs, "42804",
          fmt::format("ARRAY types {} and {} cannot be matched", TypeName(t), TypeName(e->type)),
          a->location);
    }
    t = common;
  }
  if (t == oid::kUnknown) t = oid::kText;
  int32_t at = ArrayTypeOf(t);
  if (!at) {
    return Err(cs, "0A000", fmt::format("arrays of type {} are not supported", TypeName(t)),
               a->location);
  }
  for (auto& e : elems) {
    WALREP_ASSIGN_OR_RETURN(e, Coerce(cs, e, t, false));
  }
  return MakeExpr(at, [elems, at](EvalState& st) -> Result<Value> {
    ArrayElems out;
    out.reserve(elems.size());
    for (const auto& e : elems) {
      WALREP_ASSIGN_OR_RETURN(Value v, e->eval(st));
      out.push_back(std::move(v));
    }
    return Value::Array(at, std::move(out));
  });
}

// arr[i] (one subscript; int2vector and oidvector count from 0, other arrays from 1). Out of
// range gives NULL, as in PostgreSQL.
Result<ExprPtr> CompileIndirection(CompileState& cs, const PgQuery__AIndirection* ind) {
  WALREP_ASSIGN_OR_RETURN(ExprPtr arr, CompileExpr(cs, ind->arg));
  for (size_t i = 0; i < ind->n_indirection; i++) {
    const PgQuery__Node* n = ind->indirection[i];
    if (n->node_case != PG_QUERY__NODE__NODE_A_INDICES || n->a_indices->is_slice) {
      return Status::Sql("0A000", "only single array subscripts are supported");
    }
    if (arr->type == oid::kName) {
      // name is a fixed array of "char" counted from 0 (typname[0] = '_').
      WALREP_ASSIGN_OR_RETURN(ExprPtr idx, CompileExpr(cs, n->a_indices->uidx));
      WALREP_ASSIGN_OR_RETURN(idx, Coerce(cs, idx, oid::kInt4, false));
      arr = MakeExpr(oid::kChar, [arr, idx](EvalState& st) -> Result<Value> {
        WALREP_ASSIGN_OR_RETURN(Value a, arr->eval(st));
        WALREP_ASSIGN_OR_RETURN(Value i, idx->eval(st));
        if (a.is_null() || i.is_null()) return Value::Null(oid::kChar);
        int64_t k = i.as_int();
        const std::string& name = a.as_string();
        if (k < 0 || k >= 64) return Value::Null(oid::kChar);
        return Value::Text(oid::kChar, k < static_cast<int64_t>(name.size())
                                           ? std::string(1, name[static_cast<size_t>(k)])
                                           : std::string());
      });
      continue;
    }
    int32_t et = ElementTypeOf(arr->type);
    if (!et) {
      return Status::Sql("42804", fmt::format("cannot subscript type {} because it does not "
                                              "support subscripting",
                                              TypeName(arr->type)));
    }
    WALREP_ASSIGN_OR_RETURN(ExprPtr idx, CompileExpr(cs, n->a_indices->uidx));
    WALREP_ASSIGN_OR_RETURN(idx, Coerce(cs, idx, oid::kInt4, false));
    int64_t lower = (arr->type == oid::kInt2Vector || arr->type == oid::kOidVector) ? 0 : 1;
    arr = MakeExpr(et, [arr, idx, et, lower](EvalState& st) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(Value a, arr->eval(st));
      WALREP_ASSIGN_OR_RETURN(Value i, idx->eval(st));
      if (a.is_null() || i.is_null()) return Value::Null(et);
      int64_t k = i.as_int() - lower;
      const ArrayElems& e = a.as_array();
      if (k < 0 || k >= static_cast<int64_t>(e.size())) return Value::Null(et);
      return e[static_cast<size_t>(k)];
    });
  }
  return arr;
}

// A subquery in an expression: (SELECT ...) as a value, EXISTS (...), x IN / op ANY / op ALL
// (...). Their rows are pulled through the same plan nodes as any query; an uncorrelated
// subquery runs once per execution of the statement, a correlated one (it reads columns of an
// enclosing query) once per row of that query.
Result<ExprPtr> CompileSubLink(CompileState& cs, const PgQuery__SubLink* sl) {
  if (!sl->subselect || sl->subselect->node_case != PG_QUERY__NODE__NODE_SELECT_STMT || !cs.exec) {
    return Err(cs, "0A000", "this kind of subquery is not supported", sl->location);
  }
  auto kind = sl->sub_link_type;
  if (kind != PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK &&
      kind != PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK &&
      kind != PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK &&
      kind != PG_QUERY__SUB_LINK_TYPE__ALL_SUBLINK &&
      kind != PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK) {
    return Err(cs, "0A000", "this kind of subquery is not supported", sl->location);
  }
  CompileState own = cs;
  own.scope = nullptr;
  own.aggs = nullptr;
  own.outer_scopes.push_back(cs.scope);
  auto correlated = std::make_shared<bool>(false);
  own.correlated.push_back(correlated.get());
  WALREP_ASSIGN_OR_RETURN(std::shared_ptr<Prepared> plan,
                          PrepareSubSelect(*cs.exec, own, sl->subselect->select_stmt));
  bool per_row = *correlated;
  // The subquery's rows for this execution of the statement (computed on first use).
  struct Cache {
    uint64_t run_id = 0;
    std::vector<Row> rows;
  };
  auto cache = std::make_shared<Cache>();
  size_t limit = kind == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK     ? 2
                 : kind == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK ? 1
                                                                   : SIZE_MAX;
  auto rows = [plan, cache, limit, per_row](EvalState& st) -> Result<const std::vector<Row>*> {
    if (!per_row && cache->run_id == st.run_id && st.run_id != 0) return &cache->rows;
    const Row* saved_row = st.row;
    const std::vector<Value>* saved_aggs = st.aggs;
    // A correlated subquery reads the current row of its enclosing query.
    st.outer_rows.push_back(saved_row);
    cache->rows.clear();
    Status status = [&]() -> Status {
      WALREP_ASSIGN_OR_RETURN(RowIterPtr it, plan->source(st));
      Row r;
      while (cache->rows.size() < limit) {
        WALREP_ASSIGN_OR_RETURN(bool more, it->Next(&r));
        if (!more) break;
        cache->rows.push_back(std::move(r));
      }
      return Status::OK();
    }();
    st.outer_rows.pop_back();
    st.row = saved_row;
    st.aggs = saved_aggs;
    WALREP_RETURN_IF_ERROR(status);
    cache->run_id = st.run_id;
    return &cache->rows;
  };
  if (kind == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK) {
    return MakeExpr(oid::kBool, [rows](EvalState& st) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(const std::vector<Row>* r, rows(st));
      return Value::Bool(!r->empty());
    });
  }
  if (plan->cols.size() != 1) {
    return Err(cs, "42601",
               plan->cols.size() > 1 ? "subquery has too many columns"
                                     : "subquery must return only one column",
               sl->location);
  }
  int32_t type = plan->cols[0].type;
  if (kind == PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK) {
    int32_t at = ArrayTypeOf(type == oid::kUnknown ? oid::kText : type);
    if (!at) {
      return Err(cs, "0A000", fmt::format("arrays of type {} are not supported", TypeName(type)),
                 sl->location);
    }
    return MakeExpr(at, [rows, at](EvalState& st) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(const std::vector<Row>* r, rows(st));
      ArrayElems out;
      out.reserve(r->size());
      for (const Row& row : *r) out.push_back(row[0]);
      return Value::Array(at, std::move(out));
    });
  }
  if (kind == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK) {
    return MakeExpr(type, [rows, type](EvalState& st) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(const std::vector<Row>* r, rows(st));
      if (r->size() > 1) {
        return Status::Sql("21000",
                           "more than one row returned by a subquery used as an "
                           "expression");
      }
      return r->empty() ? Value::Null(type) : (*r)[0][0];
    });
  }
  // x op ANY/ALL (subquery), x IN (subquery): the operator applied to each row's value.
  std::string op = "=";
  if (sl->n_oper_name > 0) op = StringNodeValue(sl->oper_name[sl->n_oper_name - 1]);
  WALREP_ASSIGN_OR_RETURN(ExprPtr left, CompileExpr(cs, sl->testexpr));
  auto slot = std::make_shared<Value>();
  ExprPtr right = MakeExpr(type, [slot](EvalState&) -> Result<Value> { return *slot; });
  WALREP_ASSIGN_OR_RETURN(ExprPtr test, CompileOp(cs, op, left, right, sl->location));
  if (test->type != oid::kBool) {
    return Err(cs, "42804", "operator of ANY/ALL must return type boolean", sl->location);
  }
  bool all = kind == PG_QUERY__SUB_LINK_TYPE__ALL_SUBLINK;
  if (!all && !per_row && op == "=" && left->type == type &&
      (IsIntegerType(type) || IsStringType(type) || type == oid::kBool)) {
    // x IN (subquery): a hash set of the subquery's values (PostgreSQL's hashed SubPlan), built
    // once per execution; equal values of these types have equal text.
    struct Hashed {
      uint64_t run_id = 0;
      std::unordered_set<std::string> values;
      bool has_null = false;
    };
    auto hashed = std::make_shared<Hashed>();
    return MakeExpr(oid::kBool, [rows, left, hashed](EvalState& st) -> Result<Value> {
      WALREP_ASSIGN_OR_RETURN(Value x, left->eval(st));
      if (hashed->run_id != st.run_id || st.run_id == 0) {
        WALREP_ASSIGN_OR_RETURN(const std::vector<Row>* r, rows(st));
        hashed->values.clear();
        hashed->has_null = false;
        for (const Row& row : *r) {
          if (row[0].is_null()) {
            hashed->has_null = true;
          } else {
            hashed->values.insert(ToText(row[0], st.fmt));
          }
        }
        hashed->run_id = st.run_id;
      }
      if (x.is_null()) {
        return hashed->values.empty() && !hashed->has_null ? Value::Bool(false)
                                                           : Value::Null(oid::kBool);
      }
      if (hashed->values.count(ToText(x, st.fmt))) return Value::Bool(true);
      return hashed->has_null ? Value::Null(oid::kBool) : Value::Bool(false);
    });
  }
  return MakeExpr(oid::kBool, [rows, slot, test, all](EvalState& st) -> Result<Value> {
    WALREP_ASSIGN_OR_RETURN(const std::vector<Row>* r, rows(st));
    return Quantified(st, test, slot.get(), all, *r, [](const Row& row) { return row[0]; });
  });
}

Result<ExprPtr> CompileExpr(CompileState& cs, const PgQuery__Node* node) {
  if (!node) return ConstExpr(Value::Null(oid::kUnknown));
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_A_CONST:
      return CompileConst(node->a_const);
    case PG_QUERY__NODE__NODE_PARAM_REF: {
      int n = node->param_ref->number;
      if (!cs.param_types || n < 1 || n > 65535) {
        return Err(cs, "42P02", fmt::format("there is no parameter ${}", n),
                   node->param_ref->location);
      }
      if (static_cast<size_t>(n) > cs.param_types->size()) cs.param_types->resize(n, 0);
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::kParam;
      e->param_index = n - 1;
      e->type = (*cs.param_types)[n - 1] ? (*cs.param_types)[n - 1] : oid::kUnknown;
      if ((*cs.param_types)[n - 1] == 0) e->kind = Expr::Kind::kParam;
      std::vector<int32_t>* types = cs.param_types;
      e->eval = [n, types](EvalState& st) -> Result<Value> {
        if (!st.params || static_cast<size_t>(n) > st.params->size()) {
          return Status::Sql("08P01", fmt::format("no value found for parameter {}", n));
        }
        const Value& v = (*st.params)[n - 1];
        int32_t want = (*types)[n - 1];
        if (want != 0 && v.type() != want) return Cast(v, want, st.fmt);
        return v;
      };
      // A parameter whose type is already known is not re-typed by Coerce.
      if ((*cs.param_types)[n - 1] != 0) e->kind = Expr::Kind::kOther;
      return ExprPtr(e);
    }
    case PG_QUERY__NODE__NODE_TYPE_CAST: {
      WALREP_ASSIGN_OR_RETURN(ExprPtr arg, CompileExpr(cs, node->type_cast->arg));
      WALREP_ASSIGN_OR_RETURN(int32_t t, TypeNameOid(cs, node->type_cast->type_name));
      auto r = Coerce(cs, arg, t, true);
      if (!r.ok()) {
        Status st = r.TakeStatus();
        int pos = ErrorPosition(cs, node->type_cast->location);
        if (st.position() == 0 && pos > 0) st = std::move(st).WithPosition(pos);
        if (arg->kind == Expr::Kind::kConst) {
          int apos = 0;
          if (node->type_cast->arg->node_case == PG_QUERY__NODE__NODE_A_CONST) {
            apos = ErrorPosition(cs, node->type_cast->arg->a_const->location);
          }
          if (apos > 0) st = std::move(st).WithPosition(apos);
        }
        return st;
      }
      return r;
    }
    case PG_QUERY__NODE__NODE_COLUMN_REF:
      return CompileColumnRef(cs, node->column_ref);
    case PG_QUERY__NODE__NODE_FUNC_CALL:
      return CompileFuncCall(cs, node->func_call);
    case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
      return CompileSqlValueFunction(cs, node->sqlvalue_function);
    case PG_QUERY__NODE__NODE_A_EXPR: {
      const auto* a = node->a_expr;
      std::string op = a->n_name ? StringNodeValue(a->name[a->n_name - 1]) : "";
      switch (a->kind) {
        case PG_QUERY__A__EXPR__KIND__AEXPR_OP: {
          ExprPtr l;
          if (a->lexpr) {
            WALREP_ASSIGN_OR_RETURN(l, CompileExpr(cs, a->lexpr));
          }
          WALREP_ASSIGN_OR_RETURN(ExprPtr r, CompileExpr(cs, a->rexpr));
          return CompileOp(cs, op, l, r, a->location);
        }
        case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
        case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL:
          return CompileArrayQuantified(cs, a, a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL);
        case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
        case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE: {
          WALREP_ASSIGN_OR_RETURN(ExprPtr l, CompileExpr(cs, a->lexpr));
          WALREP_ASSIGN_OR_RETURN(ExprPtr r, CompileExpr(cs, a->rexpr));
          return CompileOp(cs, op, l, r, a->location);
        }
        case PG_QUERY__A__EXPR__KIND__AEXPR_IN: {
          WALREP_ASSIGN_OR_RETURN(ExprPtr l, CompileExpr(cs, a->lexpr));
          if (!a->rexpr || a->rexpr->node_case != PG_QUERY__NODE__NODE_LIST) {
            return Err(cs, "0A000", "IN with a subquery is not supported", a->location);
          }
          std::vector<ExprPtr> tests;
          for (size_t i = 0; i < a->rexpr->list->n_items; i++) {
            WALREP_ASSIGN_OR_RETURN(ExprPtr r, CompileExpr(cs, a->rexpr->list->items[i]));
            WALREP_ASSIGN_OR_RETURN(ExprPtr t, CompileOp(cs, "=", l, r, a->location));
            tests.push_back(t);
          }
          bool negate = op == "<>";
          return MakeExpr(oid::kBool, [tests, negate](EvalState& st) -> Result<Value> {
            bool saw_null = false;
            for (const auto& t : tests) {
              WALREP_ASSIGN_OR_RETURN(Value v, t->eval(st));
              if (v.is_null()) {
                saw_null = true;
              } else if (v.as_bool()) {
                return Value::Bool(!negate);
              }
            }
            if (saw_null) return Value::Null(oid::kBool);
            return Value::Bool(negate);
          });
        }
        case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
        case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN: {
          WALREP_ASSIGN_OR_RETURN(ExprPtr x, CompileExpr(cs, a->lexpr));
          const auto* lst = a->rexpr->list;
          WALREP_ASSIGN_OR_RETURN(ExprPtr lo, CompileExpr(cs, lst->items[0]));
          WALREP_ASSIGN_OR_RETURN(ExprPtr hi, CompileExpr(cs, lst->items[1]));
          WALREP_ASSIGN_OR_RETURN(ExprPtr ge, CompileOp(cs, ">=", x, lo, a->location));
          WALREP_ASSIGN_OR_RETURN(ExprPtr le, CompileOp(cs, "<=", x, hi, a->location));
          bool negate = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN;
          return MakeExpr(oid::kBool, [ge, le, negate](EvalState& st) -> Result<Value> {
            WALREP_ASSIGN_OR_RETURN(Value g, ge->eval(st));
            WALREP_ASSIGN_OR_RETURN(Value l, le->eval(st));
            if ((!g.is_null() && !g.as_bool()) || (!l.is_null() && !l.as_bool())) {
              return Value::Bool(negate);
            }
            if (g.is_null() || l.is_null()) return Value::Null(oid::kBool);
            return Value::Bool(!negate);
          });
        }
        case PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT:
        case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT: {
          WALREP_ASSIGN_OR_RETURN(ExprPtr l, CompileExpr(cs, a->lexpr));
          WALREP_ASSIGN_OR_RETURN(ExprPtr r, CompileExpr(cs, a->rexpr));
          WALREP_ASSIGN_OR_RETURN(ExprPtr eq, CompileOp(cs, "=", l, r, a->location));
          bool distinct = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT;
          return MakeExpr(oid::kBool, [l, r, eq, distinct](EvalState& st) -> Result<Value> {
            WALREP_ASSIGN_OR_RETURN(Value x, l->eval(st));
            WALREP_ASSIGN_OR_RETURN(Value y, r->eval(st));
            bool same;
            if (x.is_null() || y.is_null()) {
              same = x.is_null() && y.is_null();
            } else {
              WALREP_ASSIGN_OR_RETURN(Value e, eq->eval(st));
              same = e.as_bool();
            }
            return Value::Bool(distinct ? !same : same);
          });
        }
        case PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF: {
          WALREP_ASSIGN_OR_RETURN(ExprPtr l, CompileExpr(cs, a->lexpr));
          WALREP_ASSIGN_OR_RETURN(ExprPtr r, CompileExpr(cs, a->rexpr));
          WALREP_ASSIGN_OR_RETURN(ExprPtr eq, CompileOp(cs, "=", l, r, a->location));
          return MakeExpr(l->type, [l, eq](EvalState& st) -> Result<Value> {
            WALREP_ASSIGN_OR_RETURN(Value x, l->eval(st));
            WALREP_ASSIGN_OR_RETURN(Value e, eq->eval(st));
            if (!e.is_null() && e.as_bool()) return Value::Null(x.type());
            return x;
          });
        }
        default:
          return Err(cs, "0A000", "this kind of expression is not supported", a->location);
      }
    }
    case PG_QUERY__NODE__NODE_BOOL_EXPR: {
      const auto* b = node->bool_expr;
      std::vector<ExprPtr> args;
      for (size_t i = 0; i < b->n_args; i++) {
        WALREP_ASSIGN_OR_RETURN(ExprPtr a, CompileExpr(cs, b->args[i]));
        auto c = Coerce(cs, a, oid::kBool, false);
        if (!c.ok()) {
          return Err(cs, "42804",
                     fmt::format("argument of {} must be type boolean, not type {}",
                                 b->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR  ? "AND"
                                 : b->boolop == PG_QUERY__BOOL_EXPR_TYPE__OR_EXPR ? "OR"
                                                                                  : "NOT",
                                 TypeName(a->type)),
                     b->location);
        }
        args.push_back(*c);
      }
      auto kind = b->boolop;
      return MakeExpr(oid::kBool, [args, kind](EvalState& st) -> Result<Value> {
        if (kind == PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR) {
          WALREP_ASSIGN_OR_RETURN(Value v, args[0]->eval(st));
          return v.is_null() ? v : Value::Bool(!v.as_bool());
        }
        bool is_and = kind == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR;
        bool saw_null = false;
        for (const auto& a : args) {
          WALREP_ASSIGN_OR_RETURN(Value v, a->eval(st));
          if (v.is_null()) {
            saw_null = true;
          } else if (v.as_bool() != is_and) {
            return Value::Bool(!is_and);
          }
        }
        return saw_null ? Value::Null(oid::kBool) : Value::Bool(is_and);
      });
    }
    case PG_QUERY__NODE__NODE_NULL_TEST: {
      WALREP_ASSIGN_OR_RETURN(ExprPtr a, CompileExpr(cs, node->null_test->arg));
      bool want_null = node->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL;
      return MakeExpr(oid::kBool, [a, want_null](EvalState& st) -> Result<Value> {
        WALREP_ASSIGN_OR_RETURN(Value v, a->eval(st));
        return Value::Bool(v.is_null() == want_null);
      });
    }
    case PG_QUERY__NODE__NODE_CASE_EXPR: {
      const auto* c = node->case_expr;
      ExprPtr arg;
      if (c->arg) {
        WALREP_ASSIGN_OR_RETURN(arg, CompileExpr(cs, c->arg));
      }
      std::vector<std::pair<ExprPtr, ExprPtr>> whens;
      std::vector<ExprPtr> results;
      for (size_t i = 0; i < c->n_args; i++) {
        const auto* w = c->args[i]->case_when;
        WALREP_ASSIGN_OR_RETURN(ExprPtr cond, CompileExpr(cs, w->expr));
        if (arg) {
          WALREP_ASSIGN_OR_RETURN(cond, CompileOp(cs, "=", arg, cond, w->location));
        } else {
          WALREP_ASSIGN_OR_RETURN(cond, Coerce(cs, cond, oid::kBool, false));
        }
        WALREP_ASSIGN_OR_RETURN(ExprPtr res, CompileExpr(cs, w->result));
        whens.emplace_back(cond, res);
        results.push_back(res);
      }
      ExprPtr def;
      if (c->defresult) {
        WALREP_ASSIGN_OR_RETURN(def, CompileExpr(cs, c->defresult));
        results.push_back(def);
      }
      int32_t t = oid::kUnknown;
      for (const auto& r : results) {
        if (r->type == oid::kUnknown) continue;
        if (t == oid::kUnknown || (IntRank(t) && IntRank(r->type) && IntRank(r->type) > IntRank(t)))
          t = r->type;
      }
      if (t == oid::kUnknown) t = oid::kText;
      for (auto& [cond, res] : whens) {
        WALREP_ASSIGN_OR_RETURN(res, Coerce(cs, res, t, false));
      }
      if (def) {
        WALREP_ASSIGN_OR_RETURN(def, Coerce(cs, def, t, false));
      }
      return MakeExpr(t, [whens, def, t](EvalState& st) -> Result<Value> {
        for (const auto& [cond, res] : whens) {
          WALREP_ASSIGN_OR_RETURN(Value v, cond->eval(st));
          if (!v.is_null() && v.as_bool()) return res->eval(st);
        }
        return def ? def->eval(st) : Result<Value>(Value::Null(t));
      });
    }
    case PG_QUERY__NODE__NODE_COALESCE_EXPR:
    case PG_QUERY__NODE__NODE_MIN_MAX_EXPR: {
      bool coalesce = node->node_case == PG_QUERY__NODE__NODE_COALESCE_EXPR;
      size_t n = coalesce ? node->coalesce_expr->n_args : node->min_max_expr->n_args;
      PgQuery__Node** nodes = coalesce ? node->coalesce_expr->args : node->min_max_expr->args;
      std::vector<ExprPtr> args;
      int32_t t = oid::kUnknown;
      for (size_t i = 0; i < n; i++) {
        WALREP_ASSIGN_OR_RETURN(ExprPtr a, CompileExpr(cs, nodes[i]));
        if (a->type != oid::kUnknown && (t == oid::kUnknown || (IntRank(t) && IntRank(a->type) &&
                                                                IntRank(a->type) > IntRank(t))))
          t = a->type;
        args.push_back(a);
      }
      if (t == oid::kUnknown) t = oid::kText;
      for (auto& a : args) {
        WALREP_ASSIGN_OR_RETURN(a, Coerce(cs, a, t, false));
      }
      bool greatest = !coalesce && node->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST;
      return MakeExpr(t, [args, t, coalesce, greatest](EvalState& st) -> Result<Value> {
        Value best = Value::Null(t);
        for (const auto& a : args) {
          WALREP_ASSIGN_OR_RETURN(Value v, a->eval(st));
          if (v.is_null()) continue;
          if (coalesce) return v;
          if (best.is_null()) {
            best = v;
            continue;
          }
          WALREP_ASSIGN_OR_RETURN(int c, CompareValues(v, best));
          if (greatest ? c > 0 : c < 0) best = v;
        }
        return best;
      });
    }
    case PG_QUERY__NODE__NODE_SUB_LINK:
      return CompileSubLink(cs, node->sub_link);
    case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
      return CompileArrayConstructor(cs, node->a_array_expr);
    case PG_QUERY__NODE__NODE_A_INDIRECTION:
      return CompileIndirection(cs, node->a_indirection);
    case PG_QUERY__NODE__NODE_COLLATE_CLAUSE: {
      // Text compares bytewise in walrep (the C collation); "default", "C" and "POSIX" are it.
      const auto* c = node->collate_clause;
      std::string coll = c->n_collname ? StringNodeValue(c->collname[c->n_collname - 1]) : "";
      if (coll != "default" && coll != "C" && coll != "POSIX" && coll != "ucs_basic") {
        return Err(cs, "42704",
                   fmt::format("collation \"{}\" for encoding \"UTF8\" does not exist", coll),
                   c->location);
      }
      return CompileExpr(cs, c->arg);
    }
    case PG_QUERY__NODE__NODE_BOOLEAN_TEST: {
      const auto* b = node->boolean_test;
      WALREP_ASSIGN_OR_RETURN(ExprPtr arg, CompileExpr(cs, b->arg));
      WALREP_ASSIGN_OR_RETURN(arg, Coerce(cs, arg, oid::kBool, false));
      auto test = b->booltesttype;
      return MakeExpr(oid::kBool, [arg, test](EvalState& st) -> Result<Value> {
        WALREP_ASSIGN_OR_RETURN(Value v, arg->eval(st));
        switch (test) {
          case PG_QUERY__BOOL_TEST_TYPE__IS_TRUE:
            return Value::Bool(!v.is_null() && v.as_bool());
          case PG_QUERY__BOOL_TEST_TYPE__IS_NOT_TRUE:
            return Value::Bool(v.is_null() || !v.as_bool());
          case PG_QUERY__BOOL_TEST_TYPE__IS_FALSE:
            return Value::Bool(!v.is_null() && !v.as_bool());
          case PG_QUERY__BOOL_TEST_TYPE__IS_NOT_FALSE:
            return Value::Bool(v.is_null() || v.as_bool());
          case PG_QUERY__BOOL_TEST_TYPE__IS_UNKNOWN:
            return Value::Bool(v.is_null());
          default:
            return Value::Bool(!v.is_null());
        }
      });
    }
    default: {
      return Status::NotSupported(
          fmt::format("expression type {} is not supported", StatementKindName(node)));
    }
  }
}

}  // namespace walrep::sql
