// walrep: parse trees reused across statements that differ only in their literal constants.
//
// Clients that do not use prepared statements send the same statement again and again with
// other constants in it (pgbench's simple protocol sends `UPDATE pgbench_accounts SET abalance =
// abalance + -2341 WHERE aid = 52321;` thousands of times a second, each with new numbers).
// Parsing each through libpg_query costs the grammar plus a protobuf pack and unpack — more than
// the rest of such a statement's work. Here a statement's text is scanned once for literals
// (numbers and plain strings); the text with each literal replaced by a marker is the key of a
// template: the parse tree of an earlier statement of that shape. A new statement of the same
// shape gets a copy of the template's tree with its own constants in the A_Const nodes and every
// location shifted to its own text, as if the grammar had parsed it.
//
// A template is only used when it is provably the same tree: when it is learnt, every literal of
// its text must be exactly one A_Const node at the literal's location (or at the `-` folded into
// it, as the grammar negates numeric constants) holding the literal's own value. Text the
// scanner cannot classify with certainty — comments, escape or dollar-quoted strings,
// backslashes, numbers run into identifiers, string constants continued on another line — is
// never templated, and only single SELECT, INSERT, UPDATE and DELETE statements are (where no
// grammar rule reads a constant's value).
#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_map>

#include "sql_internal.h"
#include "walrep/common/mutex.h"

namespace walrep::sql {

namespace {

constexpr size_t kNone = std::string::npos;

struct Literal {
  size_t start = 0, len = 0;
  char kind = 'i';   // i: integer that fits int32, f: other number, s: string
  std::string text;  // the number as written, or the string's value
  int32_t ival = 0;
  size_t minus = kNone;  // a `-` before a number, with only white space between
};

struct Scan {
  std::string key;  // the text with each literal replaced by "\x01" and its kind
  std::vector<Literal> lits;
};

// ASCII classes as the SQL lexer sees them (locale-independent, unlike <cctype>).
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IdentStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool IdentChar(unsigned char c) { return IdentStart(c) || IsDigit(c) || c == '$'; }

// The literals of `s`, or nothing when the text has a construct this scanner does not classify.
std::optional<Scan> ScanLiterals(std::string_view s) {
  Scan out;
  out.key.reserve(s.size());
  const size_t n = s.size();
  size_t minus = kNone;
  size_t i = 0;
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 1) return std::nullopt;
    if (IsSpace(c)) {
      out.key += static_cast<char>(c);
      i++;
      continue;
    }
    if ((c == '-' && i + 1 < n && s[i + 1] == '-') || (c == '/' && i + 1 < n && s[i + 1] == '*')) {
      return std::nullopt;  // comments
    }
    size_t j = i;
    if (c == '\'') {
      // E'', B'', X'', N'' and U&'' are other kinds of constant.
      if (i > 0 && (IdentChar(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == '&')) {
        return std::nullopt;
      }
      Literal lit;
      lit.kind = 's';
      for (j = i + 1;; j++) {
        if (j >= n || s[j] == '\\') return std::nullopt;
        if (s[j] == '\'') {
          if (j + 1 < n && s[j + 1] == '\'') {
            lit.text += '\'';
            j++;
            continue;
          }
          break;
        }
        lit.text += s[j];
      }
      j++;
      size_t k = j;
      while (k < n && IsSpace(s[k])) k++;
      if (k < n && s[k] == '\'') return std::nullopt;  // 'a'<newline>'b' is one constant
      lit.start = i;
      lit.len = j - i;
      out.key += "\x01s";
      out.lits.push_back(std::move(lit));
      minus = kNone;
      i = j;
      continue;
    }
    if (IsDigit(c) || (c == '.' && i + 1 < n && IsDigit(s[i + 1]))) {
      bool is_float = false;
      while (j < n && IsDigit(s[j])) j++;
      if (j < n && s[j] == '.') {
        if (j + 1 < n && s[j + 1] == '.') return std::nullopt;
        is_float = true;
        j++;
        while (j < n && IsDigit(s[j])) j++;
      }
      if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (k >= n || !IsDigit(s[k])) return std::nullopt;
        is_float = true;
        j = k;
        while (j < n && IsDigit(s[j])) j++;
      }
      if (j < n && (IdentChar(static_cast<unsigned char>(s[j])) || s[j] == '.')) {
        return std::nullopt;
      }
      Literal lit;
      lit.start = i;
      lit.len = j - i;
      lit.text = std::string(s.substr(i, j - i));
      lit.minus = minus;
      // The lexer's rule: a decimal integer that fits int32 is an integer constant, any other
      // number a "float" constant kept as text.
      lit.kind = 'f';
      if (!is_float) {
        int64_t v = 0;
        bool fits = true;
        for (char d : lit.text) {
          v = v * 10 + (d - '0');
          if (v > INT32_MAX) {
            fits = false;
            break;
          }
        }
        if (fits) {
          lit.kind = 'i';
          lit.ival = static_cast<int32_t>(v);
        }
      }
      out.key += '\x01';
      out.key += lit.kind;
      out.lits.push_back(std::move(lit));
      minus = kNone;
      i = j;
      continue;
    }
    if (c == '"') {  // a quoted identifier, kept as it is
      for (j = i + 1;; j++) {
        if (j >= n) return std::nullopt;
        if (s[j] == '"') {
          if (j + 1 < n && s[j + 1] == '"') {
            j++;
            continue;
          }
          break;
        }
      }
      j++;
    } else if (c == '$') {  // a parameter; anything else is a dollar-quoted string
      j = i + 1;
      if (j >= n || !IsDigit(s[j])) return std::nullopt;
      while (j < n && IsDigit(s[j])) j++;
    } else if (IdentStart(c)) {
      while (j < n && IdentChar(static_cast<unsigned char>(s[j]))) j++;
    } else {
      j = i + 1;
    }
    out.key.append(s.substr(i, j - i));
    minus = c == '-' ? i : kNone;
    i = j;
  }
  return out;
}

// How to walk one protobuf-c message type: its message-valued fields (each with the plan of
// its type), its oneof groups (the Node message is one oneof over every node type) and its
// `location` fields.
struct MessagePlan {
  struct Child {
    uint32_t offset = 0, qoffset = 0;
    bool repeated = false;
    const MessagePlan* plan = nullptr;
  };
  std::vector<Child> messages;
  struct Oneof {
    uint32_t qoffset;
    std::vector<Child> by_id;  // plan == nullptr: no message field has that id
  };
  std::vector<Oneof> oneofs;
  std::vector<uint32_t> locations;
  bool is_const = false;  // A_Const
};

// The plan of every message type reachable from ParseResult, built once, read-only afterwards.
const MessagePlan& RootPlan() {
  static const MessagePlan* root = [] {
    auto* plans = new std::unordered_map<const ProtobufCMessageDescriptor*, MessagePlan>();
    // Node-based map: a plan's address never changes, so children can point at plans that are
    // filled in later.
    std::function<const MessagePlan*(const ProtobufCMessageDescriptor*)> build =
        [&](const ProtobufCMessageDescriptor* d) -> const MessagePlan* {
      auto [it, fresh] = plans->try_emplace(d);
      MessagePlan& plan = it->second;
      if (!fresh) return &plan;
      plan.is_const = d == &pg_query__a__const__descriptor;
      for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor* f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_INT32 && f->label != PROTOBUF_C_LABEL_REPEATED &&
            std::string_view(f->name) == "location") {
          plan.locations.push_back(f->offset);
        }
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        MessagePlan::Child c{f->offset, f->quantifier_offset, f->label == PROTOBUF_C_LABEL_REPEATED,
                             build(static_cast<const ProtobufCMessageDescriptor*>(f->descriptor))};
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
          plan.messages.push_back(c);
          continue;
        }
        auto o = std::find_if(plan.oneofs.begin(), plan.oneofs.end(),
                              [&](const auto& x) { return x.qoffset == f->quantifier_offset; });
        if (o == plan.oneofs.end()) {
          plan.oneofs.push_back({f->quantifier_offset, {}});
          o = plan.oneofs.end() - 1;
        }
        if (o->by_id.size() <= f->id) o->by_id.resize(f->id + 1);
        o->by_id[f->id] = c;
      }
      return &plan;
    };
    return build(&pg_query__parse_result__descriptor);
  }();
  return *root;
}

template <typename T>
T& At(void* msg, uint32_t off) {
  return *reinterpret_cast<T*>(static_cast<char*>(msg) + off);
}

// Calls fn(slot, plan) for the slot of every message directly under msg.
template <typename Fn>
void ForEachChild(ProtobufCMessage* msg, const MessagePlan& plan, Fn&& fn) {
  for (const auto& f : plan.messages) {
    if (f.repeated) {
      size_t count = At<size_t>(msg, f.qoffset);
      ProtobufCMessage** arr = At<ProtobufCMessage**>(msg, f.offset);
      for (size_t k = 0; k < count; k++) fn(&arr[k], *f.plan);
    } else {
      fn(&At<ProtobufCMessage*>(msg, f.offset), *f.plan);
    }
  }
  for (const auto& o : plan.oneofs) {
    uint32_t id = At<uint32_t>(msg, o.qoffset);
    if (id >= o.by_id.size() || !o.by_id[id].plan) continue;
    fn(&At<ProtobufCMessage*>(msg, o.by_id[id].offset), *o.by_id[id].plan);
  }
}

void CollectConsts(ProtobufCMessage* msg, const MessagePlan& plan,
                   std::vector<PgQuery__AConst*>* out) {
  if (!msg) return;
  if (plan.is_const) {
    out->push_back(reinterpret_cast<PgQuery__AConst*>(msg));
    return;
  }
  ForEachChild(msg, plan, [&](ProtobufCMessage** child, const MessagePlan& child_plan) {
    CollectConsts(*child, child_plan, out);
  });
}

// A template: a parsed statement whose literals each map to A_Const nodes.
struct Template {
  std::shared_ptr<ParseTree> tree;
  std::vector<Literal> lits;  // the template's own literals (positions in its text)
  std::vector<bool> negated;  // per literal: its A_Const sits on the `-` before it
  bool usable = false;
};

bool ConstHolds(const PgQuery__AConst* c, const Literal& lit, bool negated) {
  if (c->isnull) return false;
  switch (lit.kind) {
    case 'i':
      return c->val_case == PG_QUERY__A__CONST__VAL_IVAL && c->ival &&
             c->ival->ival == (negated ? -lit.ival : lit.ival);
    case 'f':
      return c->val_case == PG_QUERY__A__CONST__VAL_FVAL && c->fval && c->fval->fval &&
             c->fval->fval == (negated ? "-" + lit.text : lit.text);
    default:
      return !negated && c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval && c->sval->sval &&
             c->sval->sval == lit.text;
  }
}

// Whether every literal of the statement is exactly its own A_Const node in the tree.
void Learn(Template* t) {
  const PgQuery__ParseResult* r = t->tree->result;
  if (r->n_stmts != 1 || !r->stmts[0]->stmt) return;
  switch (r->stmts[0]->stmt->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT:
    case PG_QUERY__NODE__NODE_INSERT_STMT:
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT:
      break;
    default:
      return;
  }
  std::vector<PgQuery__AConst*> consts;
  CollectConsts(&t->tree->result->base, RootPlan(), &consts);
  std::vector<bool> used(consts.size(), false);
  for (const Literal& lit : t->lits) {
    int found = -1;
    bool negated = false;
    for (size_t k = 0; k < consts.size(); k++) {
      bool at_lit = consts[k]->location == static_cast<int>(lit.start);
      bool at_minus = lit.minus != kNone && consts[k]->location == static_cast<int>(lit.minus);
      if (!at_lit && !at_minus) continue;
      if (used[k] || found >= 0 || !ConstHolds(consts[k], lit, at_minus)) return;
      found = static_cast<int>(k);
      negated = at_minus;
    }
    if (found < 0) return;
    used[static_cast<size_t>(found)] = true;
    t->negated.push_back(negated);
  }
  t->usable = true;
}

// Copies a template's tree for a statement of the same shape (sharing the template's strings),
// giving its A_Const nodes the new literals and shifting locations to the new text.
class Instantiator {
 public:
  Instantiator(const Template& t, const std::vector<Literal>& lits, ParseTree* out)
      : t_(t), lits_(lits), out_(out) {}

  ProtobufCMessage* Copy(const ProtobufCMessage* src, const MessagePlan& plan) {
    if (!src) return nullptr;
    const size_t size = src->descriptor->sizeof_message;
    auto* dst = static_cast<ProtobufCMessage*>(out_->Allocate(size));
    std::memcpy(dst, src, size);
    // Repeated fields get arrays of their own before their elements are replaced.
    for (const auto& f : plan.messages) {
      size_t count = f.repeated ? At<size_t>(dst, f.qoffset) : 0;
      if (count == 0) continue;
      auto*& arr = At<ProtobufCMessage**>(dst, f.offset);
      auto** copy =
          static_cast<ProtobufCMessage**>(out_->Allocate(count * sizeof(ProtobufCMessage*)));
      std::memcpy(copy, arr, count * sizeof(ProtobufCMessage*));
      arr = copy;
    }
    ForEachChild(dst, plan, [&](ProtobufCMessage** child, const MessagePlan& child_plan) {
      *child = Copy(*child, child_plan);
    });
    for (uint32_t off : plan.locations) {
      int32_t& loc = At<int32_t>(dst, off);
      int32_t old = loc;
      loc = Shift(old);
      if (plan.is_const) Substitute(reinterpret_cast<PgQuery__AConst*>(dst), old);
    }
    return dst;
  }

 private:
  // A template location in the new text: moved by the length change of every literal before.
  int32_t Shift(int32_t loc) const {
    if (loc < 0) return loc;
    int64_t delta = 0;
    for (size_t k = 0; k < lits_.size() && t_.lits[k].start < static_cast<size_t>(loc); k++) {
      delta += static_cast<int64_t>(lits_[k].len) - static_cast<int64_t>(t_.lits[k].len);
    }
    return static_cast<int32_t>(loc + delta);
  }

  void Substitute(PgQuery__AConst* c, int32_t old) {
    for (size_t k = 0; k < lits_.size(); k++) {
      const Literal& tl = t_.lits[k];
      bool neg = t_.negated[k];
      if (static_cast<size_t>(old) != (neg ? tl.minus : tl.start)) continue;
      const Literal& lit = lits_[k];
      switch (lit.kind) {
        case 'i': {
          auto* v = New<PgQuery__Integer>();
          pg_query__integer__init(v);
          v->ival = neg ? -lit.ival : lit.ival;
          c->ival = v;
          break;
        }
        case 'f': {
          auto* v = New<PgQuery__Float>();
          pg_query__float__init(v);
          v->fval = Str((neg ? "-" : "") + lit.text);
          c->fval = v;
          break;
        }
        default: {
          auto* v = New<PgQuery__String>();
          pg_query__string__init(v);
          v->sval = Str(lit.text);
          c->sval = v;
          break;
        }
      }
      return;
    }
  }

  template <typename T>
  T* New() {
    return static_cast<T*>(out_->Allocate(sizeof(T)));
  }
  char* Str(const std::string& s) {
    char* p = static_cast<char*>(out_->Allocate(s.size() + 1));
    std::memcpy(p, s.c_str(), s.size() + 1);
    return p;
  }

  const Template& t_;
  const std::vector<Literal>& lits_;
  ParseTree* out_;
};

using TemplateCache = LruCache<std::shared_ptr<const Template>>;

TemplateCache& Templates() {
  static TemplateCache* cache = new TemplateCache(256);  // lives as long as the process
  return *cache;
}

}  // namespace

Result<std::shared_ptr<ParseTree>> ParseWithLiteralCache(
    const std::string& sql,
    const std::function<Result<std::shared_ptr<ParseTree>>(const std::string&)>& parse,
    bool* templated) {
  constexpr size_t kMaxText = 8192;
  *templated = false;
  std::optional<Scan> scan;
  if (sql.size() <= kMaxText) scan = ScanLiterals(sql);
  if (!scan || scan->lits.empty()) return parse(sql);
  if (auto hit = Templates().Get(scan->key)) {
    const Template* t = hit->get();
    if (!t->usable) return parse(sql);
    *templated = true;
    auto tree = std::make_shared<ParseTree>();
    tree->sql = sql;
    tree->base = t->tree;
    Instantiator inst(*t, scan->lits, tree.get());
    tree->result =
        reinterpret_cast<PgQuery__ParseResult*>(inst.Copy(&t->tree->result->base, RootPlan()));
    PgQuery__RawStmt* raw = tree->result->stmts[0];
    if (raw->stmt_len != 0) {
      raw->stmt_len += static_cast<int32_t>(sql.size()) - static_cast<int32_t>(t->tree->sql.size());
    }
    return tree;
  }
  WALREP_ASSIGN_OR_RETURN(std::shared_ptr<ParseTree> tree, parse(sql));
  auto t = std::make_shared<Template>();
  t->tree = tree;
  t->lits = std::move(scan->lits);
  Learn(t.get());
  *templated = t->usable;
  Templates().Put(scan->key, std::move(t));
  return tree;
}

}  // namespace walrep::sql
