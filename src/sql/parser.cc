// walrep: parsing with libpg_query's protobuf output (the PostgreSQL 15 grammar).
#include <fmt/format.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <optional>
#include <unordered_map>

#include "sql_internal.h"
#include "walrep/common/mutex.h"
#include "walrep/common/regex.h"

namespace walrep::sql {

ProtobufCAllocator* ParseTree::allocator() { return &allocator_; }

void* ParseTree::Alloc(void* self, size_t n) {
  auto* t = static_cast<ParseTree*>(self);
  n = (n + 15) & ~size_t{15};
  constexpr size_t kBlock = 16384;
  if (n > kBlock / 4) {  // a large allocation gets its own block
    t->blocks_.push_back(std::make_unique<char[]>(n));
    return t->blocks_.back().get();
  }
  if (!t->cur_ || t->used_ + n > kBlock) {
    t->blocks_.push_back(std::make_unique<char[]>(kBlock));
    t->cur_ = t->blocks_.back().get();
    t->used_ = 0;
  }
  void* p = t->cur_ + t->used_;
  t->used_ += n;
  return p;
}

namespace {

// Recently parsed texts and their (immutable) trees, shared by all sessions: clients repeat
// statements (BEGIN, COMMIT, the text of every extended-protocol Parse), and libpg_query's
// protobuf round trip costs more than the rest of a short statement's analysis.
using ParseCache = LruCache<std::vector<std::shared_ptr<ParsedStatement>>>;
constexpr size_t kMaxCachedText = 8192;

ParseCache& Cache() {
  static ParseCache* cache = new ParseCache(256);  // lives as long as the process
  return *cache;
}

Result<std::shared_ptr<ParseTree>> ParseWhole(const std::string& sql) {
  PgQueryProtobufParseResult r = pg_query_parse_protobuf(sql.c_str());
  if (r.error) {
    std::string msg = r.error->message ? r.error->message : "syntax error";
    int pos = r.error->cursorpos;
    pg_query_free_protobuf_parse_result(r);
    Status st = Status::Sql("42601", msg);
    return pos > 0 ? std::move(st).WithPosition(pos) : st;
  }
  auto tree = std::make_shared<ParseTree>();
  tree->sql = sql;
  tree->result = pg_query__parse_result__unpack(
      tree->allocator(), r.parse_tree.len, reinterpret_cast<const uint8_t*>(r.parse_tree.data));
  pg_query_free_protobuf_parse_result(r);
  if (!tree->result) return Status::Sql("XX000", "could not decode parse tree");
  return tree;
}

// `WAIT FOR LSN 'X/Y' [WITH (TIMEOUT 'duration' [, NO_THROW])]` — PostgreSQL 19's syntax,
// which the PostgreSQL 15 grammar cannot parse — becomes a call of its function form,
// walrep_wait_for_lsn(lsn, timeout_ms, no_throw), whose one-row result is the status.
// Returns nullopt when `sql` is not such a statement.
Result<std::optional<std::string>> RewriteWaitForLsn(const std::string& sql) {
  // A cheap test first: every statement passes here.
  size_t b = 0;
  while (b < sql.size() && std::isspace(static_cast<unsigned char>(sql[b]))) b++;
  if (sql.size() - b < 4 || (sql[b] | 0x20) != 'w' || (sql[b + 1] | 0x20) != 'a' ||
      (sql[b + 2] | 0x20) != 'i' || (sql[b + 3] | 0x20) != 't') {
    return std::optional<std::string>();
  }
  RegexOptions icase;
  icase.ignore_case = true;
  static const auto head = Regex::Fixed(R"(^\s*WAIT\s+FOR\s+LSN\b)", icase);
  WALREP_ASSIGN_OR_RETURN(bool wait, head->Search(sql));
  if (!wait) return std::optional<std::string>();
  static const auto whole = Regex::Fixed(
      R"(^\s*WAIT\s+FOR\s+LSN\s+'([0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8})'\s*(?:WITH\s*\(([^)]*)\))?\s*;?\s*$)",
      icase);
  WALREP_ASSIGN_OR_RETURN(auto m, whole->FullMatch(sql));
  if (!m) {
    return Status::Sql("42601", "syntax error in WAIT FOR LSN")
        .WithHint("WAIT FOR LSN 'X/Y' [WITH (TIMEOUT 'duration' [, NO_THROW])]");
  }
  int64_t timeout_ms = 0;
  bool no_throw = false;
  bool has_options = (*m)[2].first != std::string::npos;
  std::string options(Regex::Group(sql, *m, 2));
  static const auto timeout = Regex::Fixed(
      R"(^\s*TIMEOUT\s+'?\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|min|h)?\s*'?\s*$)", icase);
  static const auto nothrow = Regex::Fixed(R"(^\s*NO_THROW\s*$)", icase);
  size_t pos = 0;
  while (has_options && pos <= options.size()) {
    size_t comma = options.find(',', pos);
    std::string opt =
        options.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    WALREP_ASSIGN_OR_RETURN(auto o, timeout->FullMatch(opt));
    WALREP_ASSIGN_OR_RETURN(auto nt, nothrow->FullMatch(opt));
    if (o) {
      double v = std::strtod(std::string(Regex::Group(opt, *o, 1)).c_str(), nullptr);
      std::string unit(Regex::Group(opt, *o, 2));
      if (unit.empty()) unit = "ms";
      for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      double scale = unit == "us"    ? 0.001
                     : unit == "s"   ? 1000
                     : unit == "min" ? 60000
                     : unit == "h"   ? 3600000
                                     : 1;
      // Milliseconds in an int, as PostgreSQL's timeouts (and beyond that, not a number
      // std::stod would even return: it threw, and the exception ended the server).
      if (!(v * scale <= INT_MAX)) {
        return Status::Sql("22023", "timeout of WAIT FOR LSN is out of range");
      }
      timeout_ms = static_cast<int64_t>(v * scale);
      if (timeout_ms <= 0) {
        return Status::Sql("22023", "timeout of WAIT FOR LSN must be positive");
      }
    } else if (nt) {
      no_throw = true;
    } else {
      return Status::Sql("42601", fmt::format("unrecognized WAIT FOR LSN option \"{}\"", opt));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return std::optional<std::string>(
      fmt::format("SELECT walrep_wait_for_lsn('{}', {}, {}) AS status", Regex::Group(sql, *m, 1),
                  timeout_ms, no_throw ? "true" : "false"));
}

}  // namespace

Result<std::string> ExpressionText(const PgQuery__Node* expr) {
  // libpg_query deparses whole statements: this deparses `SELECT <expr>` and keeps what follows
  // the SELECT.
  PgQuery__ResTarget target = PG_QUERY__RES_TARGET__INIT;
  target.val = const_cast<PgQuery__Node*>(expr);
  PgQuery__Node target_node = PG_QUERY__NODE__INIT;
  target_node.node_case = PG_QUERY__NODE__NODE_RES_TARGET;
  target_node.res_target = &target;
  PgQuery__Node* targets[] = {&target_node};
  PgQuery__SelectStmt select = PG_QUERY__SELECT_STMT__INIT;
  select.n_target_list = 1;
  select.target_list = targets;
  select.limit_option = PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_DEFAULT;
  select.op = PG_QUERY__SET_OPERATION__SETOP_NONE;
  PgQuery__Node stmt = PG_QUERY__NODE__INIT;
  stmt.node_case = PG_QUERY__NODE__NODE_SELECT_STMT;
  stmt.select_stmt = &select;
  PgQuery__RawStmt raw = PG_QUERY__RAW_STMT__INIT;
  raw.stmt = &stmt;
  PgQuery__RawStmt* raws[] = {&raw};
  PgQuery__ParseResult result = PG_QUERY__PARSE_RESULT__INIT;
  result.n_stmts = 1;
  result.stmts = raws;
  std::string packed(pg_query__parse_result__get_packed_size(&result), '\0');
  pg_query__parse_result__pack(&result, reinterpret_cast<uint8_t*>(packed.data()));
  PgQueryDeparseResult d = pg_query_deparse_protobuf(PgQueryProtobuf{packed.size(), packed.data()});
  std::optional<std::string> text;
  if (!d.error && d.query && std::string_view(d.query).substr(0, 7) == "SELECT ") {
    text = d.query + 7;
  }
  pg_query_free_deparse_result(d);
  if (!text) return Status::Sql("42601", "could not read the expression back from its parse tree");
  return *text;
}

Result<std::vector<std::shared_ptr<ParsedStatement>>> ParseSql(const std::string& sql) {
  if (auto hit = Cache().Get(sql)) return *hit;
  WALREP_ASSIGN_OR_RETURN(std::optional<std::string> wait, RewriteWaitForLsn(sql));
  if (wait) return ParseSql(*wait);
  bool templated = false;
  WALREP_ASSIGN_OR_RETURN(std::shared_ptr<ParseTree> tree,
                          ParseWithLiteralCache(sql, ParseWhole, &templated));
  std::vector<std::shared_ptr<ParsedStatement>> out;
  for (size_t i = 0; i < tree->result->n_stmts; i++) {
    auto st = std::make_shared<ParsedStatement>();
    st->tree = tree;
    st->raw = tree->result->stmts[i];
    int loc = st->raw->stmt_location;
    int len = st->raw->stmt_len;
    st->offset = loc;
    st->text = len == 0 ? sql.substr(static_cast<size_t>(loc))
                        : sql.substr(static_cast<size_t>(loc), static_cast<size_t>(len));
    // Trim leading whitespace (the text is shown in pg_stat_activity).
    size_t b = 0;
    while (b < st->text.size() && std::isspace(static_cast<unsigned char>(st->text[b]))) b++;
    st->text = st->text.substr(b);
    out.push_back(std::move(st));
  }
  if (!templated && sql.size() <= kMaxCachedText) Cache().Put(sql, out);
  return out;
}

std::string StatementText(const ParsedStatement& stmt) { return stmt.text; }
bool IsEmptyStatement(const ParsedStatement& stmt) { return stmt.raw == nullptr; }

std::string StringNodeValue(const PgQuery__Node* node) {
  if (node && node->node_case == PG_QUERY__NODE__NODE_STRING && node->string) {
    return node->string->sval;
  }
  return "";
}

std::string StatementKindName(const PgQuery__Node* n) {
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_INSERT_STMT:
      return "INSERT";
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
      return "UPDATE";
    case PG_QUERY__NODE__NODE_DELETE_STMT:
      return "DELETE";
    case PG_QUERY__NODE__NODE_MERGE_STMT:
      return "MERGE";
    case PG_QUERY__NODE__NODE_SELECT_STMT:
      return "SELECT";
    case PG_QUERY__NODE__NODE_CREATE_STMT:
      return "CREATE TABLE";
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
      return "CREATE TABLE AS";
    case PG_QUERY__NODE__NODE_DROP_STMT:
      return "DROP";
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
      return "TRUNCATE TABLE";
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
      return "ALTER TABLE";
    case PG_QUERY__NODE__NODE_INDEX_STMT:
      return "CREATE INDEX";
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
      return "CREATE SEQUENCE";
    case PG_QUERY__NODE__NODE_ALTER_SEQ_STMT:
      return "ALTER SEQUENCE";
    case PG_QUERY__NODE__NODE_VIEW_STMT:
      return "CREATE VIEW";
    case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
      return "CREATE FUNCTION";
    case PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT:
      return "CREATE SCHEMA";
    case PG_QUERY__NODE__NODE_CREATEDB_STMT:
      return "CREATE DATABASE";
    case PG_QUERY__NODE__NODE_DROPDB_STMT:
      return "DROP DATABASE";
    case PG_QUERY__NODE__NODE_COPY_STMT:
      return "COPY";
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
      return "VACUUM";
    case PG_QUERY__NODE__NODE_CHECK_POINT_STMT:
      return "CHECKPOINT";
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT:
      return "EXPLAIN";
    case PG_QUERY__NODE__NODE_PREPARE_STMT:
      return "PREPARE";
    case PG_QUERY__NODE__NODE_EXECUTE_STMT:
      return "EXECUTE";
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
      return "DEALLOCATE";
    case PG_QUERY__NODE__NODE_LISTEN_STMT:
      return "LISTEN";
    case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
      return "UNLISTEN";
    case PG_QUERY__NODE__NODE_NOTIFY_STMT:
      return "NOTIFY";
    case PG_QUERY__NODE__NODE_LOCK_STMT:
      return "LOCK TABLE";
    case PG_QUERY__NODE__NODE_GRANT_STMT:
      return "GRANT";
    case PG_QUERY__NODE__NODE_GRANT_ROLE_STMT:
      return "GRANT ROLE";
    case PG_QUERY__NODE__NODE_DO_STMT:
      return "DO";
    case PG_QUERY__NODE__NODE_DISCARD_STMT:
      return "DISCARD";
    case PG_QUERY__NODE__NODE_COMMENT_STMT:
      return "COMMENT";
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
      return "DECLARE CURSOR";
    case PG_QUERY__NODE__NODE_FETCH_STMT:
      return "FETCH";
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
      return "CLOSE CURSOR";
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
      return "SET";
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
      return "SHOW";
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
      return "transaction control";
    case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT:
      return "CREATE ROLE";
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT:
      return "ALTER ROLE";
    case PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT:
      return "ALTER ROLE SET";
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT:
      return "DROP ROLE";
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT:
      return "ALTER SYSTEM";
    case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT:
      return "CREATE TRIGGER";
    case PG_QUERY__NODE__NODE_RULE_STMT:
      return "CREATE RULE";
    case PG_QUERY__NODE__NODE_CLUSTER_STMT:
      return "CLUSTER";
    case PG_QUERY__NODE__NODE_REINDEX_STMT:
      return "REINDEX";
    case PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT:
      return "CREATE PUBLICATION";
    case PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT:
      return "CREATE SUBSCRIPTION";
    case PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT:
      return "CREATE EXTENSION";
    case PG_QUERY__NODE__NODE_RENAME_STMT:
      return "ALTER ... RENAME";
    case PG_QUERY__NODE__NODE_CALL_STMT:
      return "CALL";
    case PG_QUERY__NODE__NODE_LOAD_STMT:
      return "LOAD";
    default:
      break;
  }
  const ProtobufCFieldDescriptor* f = nullptr;
  for (unsigned i = 0; i < pg_query__node__descriptor.n_fields; i++) {
    if (pg_query__node__descriptor.fields[i].id == static_cast<unsigned>(n->node_case)) {
      f = &pg_query__node__descriptor.fields[i];
    }
  }
  return f ? f->name : "this statement";
}

}  // namespace walrep::sql
