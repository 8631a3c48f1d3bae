// walrep: pg_catalog — PostgreSQL 15's system catalogs, derived from walrep's own catalog.
//
// walrep keeps tables, columns, indexes, sequences and roles in its walrep_class /
// walrep_attribute / walrep_authid relations (catalog.h). PostgreSQL's tools (psql's \d
// commands, pg_dump, drivers) read pg_class, pg_attribute, pg_type, ...; here each of those is a
// relation whose rows are generated from walrep's catalog as the statement's transaction sees it
// (so they are consistent with the session's snapshot, and the same on a primary and on a hot
// standby), with PostgreSQL 15's columns (pg_catalog_columns.inc), OIDs and conventions. The
// catalog functions those tools call (format_type, pg_get_indexdef, pg_table_is_visible, ...)
// and the reg* types' name lookups (RegResolver) live here too.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "sql_internal.h"
#include "walrep/common/regex.h"
#include "walrep/common/strings.h"

namespace walrep::sql {

namespace {

// quote_ident: double quotes unless the name is a lower-case identifier that is not a reserved
// word.
std::string QuoteIdentifier(const std::string& name) {
  static const char* const kReserved[] = {"all",          "analyse",
                                          "analyze",      "and",
                                          "any",          "array",
                                          "as",           "asc",
                                          "asymmetric",   "both",
                                          "case",         "cast",
                                          "check",        "collate",
                                          "column",       "constraint",
                                          "create",       "current_catalog",
                                          "current_date", "current_role",
                                          "current_time", "current_timestamp",
                                          "current_user", "default",
                                          "deferrable",   "desc",
                                          "distinct",     "do",
                                          "else",         "end",
                                          "except",       "false",
                                          "fetch",        "for",
                                          "foreign",      "from",
                                          "grant",        "group",
                                          "having",       "in",
                                          "initially",    "intersect",
                                          "into",         "lateral",
                                          "leading",      "limit",
                                          "localtime",    "localtimestamp",
                                          "not",          "null",
                                          "offset",       "on",
                                          "only",         "or",
                                          "order",        "placing",
                                          "primary",      "references",
                                          "returning",    "select",
                                          "session_user", "some",
                                          "symmetric",    "table",
                                          "then",         "to",
                                          "trailing",     "true",
                                          "union",        "unique",
                                          "user",         "using",
                                          "variadic",     "when",
                                          "where",        "window",
                                          "with"};
  bool plain = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) plain = false;
  }
  for (const char* k : kReserved) {
    if (name == k) plain = false;
  }
  if (plain) return name;
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The schemas of search_path that exist, in order ("$user" names none: walrep has no schema
// per role).
std::vector<std::string> SearchPathSchemas(SessionContext& ctx) {
  std::vector<std::string> out;
  std::string path = ctx.settings().Get("search_path").value_or("");
  size_t p = 0;
  while (p <= path.size()) {
    size_t c = path.find(',', p);
    std::string item(Trim(path.substr(p, c == std::string::npos ? std::string::npos : c - p)));
    if (item.size() >= 2 && item.front() == '"') item = item.substr(1, item.size() - 2);
    if (item == "public" || item == "pg_catalog" || item == "information_schema") {
      out.push_back(item);
    }
    if (c == std::string::npos) break;
    p = c + 1;
  }
  return out;
}

// Whether public is on the search path: names of its relations are then shown unqualified.
bool PublicVisible(SessionContext& ctx) {
  auto schemas = SearchPathSchemas(ctx);
  return std::find(schemas.begin(), schemas.end(), "public") != schemas.end();
}

// Fixed OIDs, as PostgreSQL's initdb assigns them.
constexpr uint32_t kPgToastNs = 99, kPgCatalogNs = 11, kPublicNs = 2200,
                   kInformationSchemaNs = 13183, kPgTempNs = 12300;
constexpr uint32_t kBootstrapSuperuser = 10, kDatabaseOwnerRole = 6171;
constexpr uint32_t kHeapAm = 2, kBtreeAm = 403, kHashAm = 405;
constexpr uint32_t kDefaultCollation = 100, kCCollation = 950, kPosixCollation = 951;
constexpr uint32_t kDefaultTablespace = 1663, kGlobalTablespace = 1664;
// pg_class oids of the catalogs (classoid columns, regclass lookups of catalog names).
constexpr uint32_t kPgClassOid = 1259, kPgTypeOid = 1247, kPgProcOid = 1255, kPgAttributeOid = 1249,
                   kPgNamespaceOid = 2615, kPgConstraintOid = 2606, kPgIndexOid = 2610,
                   kPgDatabaseOid = 1262, kPgExtensionOid = 3079, kPgAttrDefOid = 2604;

struct RelColumns {
  const char* name;
  std::vector<ViewColumn> columns;
};

const std::vector<RelColumns>& CatalogColumns() {
  static const std::vector<RelColumns> rels = {
#include "pg_catalog_columns.inc"
  };
  return rels;
}

// The pg_class oid of a catalog relation: PostgreSQL's where a tool may hard-code it, else one of
// a reserved range below FirstNormalObjectId.
uint32_t CatalogRelOid(const std::string& name) {
  static const std::map<std::string, uint32_t> known = {{"pg_class", kPgClassOid},
                                                        {"pg_type", kPgTypeOid},
                                                        {"pg_proc", kPgProcOid},
                                                        {"pg_attribute", kPgAttributeOid},
                                                        {"pg_namespace", kPgNamespaceOid},
                                                        {"pg_constraint", kPgConstraintOid},
                                                        {"pg_index", kPgIndexOid},
                                                        {"pg_database", kPgDatabaseOid},
                                                        {"pg_extension", kPgExtensionOid},
                                                        {"pg_authid", 1260},
                                                        {"pg_attrdef", 2604},
                                                        {"pg_depend", 2608},
                                                        {"pg_description", 2609},
                                                        {"pg_inherits", 2611},
                                                        {"pg_am", 2601},
                                                        {"pg_tablespace", 1213},
                                                        {"pg_collation", 3456},
                                                        {"pg_sequence", 2224},
                                                        {"pg_auth_members", 1261},
                                                        {"pg_shdescription", 2396},
                                                        {"pg_trigger", 2620},
                                                        {"pg_rewrite", 2618},
                                                        {"pg_policy", 3256},
                                                        {"pg_publication", 6104},
                                                        {"pg_statistic_ext", 3381},
                                                        {"pg_foreign_table", 3118},
                                                        {"pg_partitioned_table", 3350},
                                                        {"pg_language", 2612},
                                                        {"pg_operator", 2617},
                                                        {"pg_cast", 2605},
                                                        {"pg_opclass", 2616},
                                                        {"pg_roles", 12001},
                                                        {"pg_user", 12006},
                                                        {"pg_tables", 12020},
                                                        {"pg_indexes", 12030},
                                                        {"pg_sequences", 12035},
                                                        {"pg_views", 12015},
                                                        {"pg_matviews", 12025}};
  auto it = known.find(name);
  if (it != known.end()) return it->second;
  const auto& rels = CatalogColumns();
  for (size_t i = 0; i < rels.size(); i++) {
    if (name == rels[i].name) return 12100 + static_cast<uint32_t>(i);
  }
  return 0;
}

constexpr const char* kInfoPrefix = "information_schema.";

// The namespace and unqualified name of a catalog relation ("information_schema.tables").
std::pair<uint32_t, std::string> CatalogRelNamespace(const std::string& name) {
  if (name.rfind(kInfoPrefix, 0) == 0) {
    return {13183, name.substr(std::string(kInfoPrefix).size())};
  }
  return {11, name};
}

bool IsCatalogView(const std::string& name) {
  if (name.rfind(kInfoPrefix, 0) == 0) return true;
  return name == "pg_roles" || name == "pg_user" || name == "pg_tables" || name == "pg_indexes" ||
         name == "pg_sequences" || name == "pg_views" || name == "pg_matviews" ||
         name == "pg_seclabels" || name == "pg_stats" || name == "pg_prepared_xacts" ||
         name == "pg_available_extensions";
}

// Physical properties of a type, as pg_type and pg_attribute show them.
struct TypeInfo {
  int32_t oid;
  const char* name;
  int16_t len;
  bool byval;
  char align, storage, category;
  bool preferred;
};

const std::vector<TypeInfo>& BuiltinTypes() {
  static const std::vector<TypeInfo> types = [] {
    std::vector<TypeInfo> t = {
        {oid::kBool, "bool", 1, true, 'c', 'p', 'B', true},
        {oid::kBytea, "bytea", -1, false, 'i', 'x', 'U', false},
        {oid::kChar, "char", 1, true, 'c', 'p', 'Z', false},
        {oid::kName, "name", 64, false, 'c', 'p', 'S', false},
        {oid::kInt8, "int8", 8, true, 'd', 'p', 'N', false},
        {oid::kInt2, "int2", 2, true, 's', 'p', 'N', false},
        {oid::kInt2Vector, "int2vector", -1, false, 'i', 'p', 'A', false},
        {oid::kInt4, "int4", 4, true, 'i', 'p', 'N', false},
        {oid::kRegproc, "regproc", 4, true, 'i', 'p', 'N', false},
        {oid::kText, "text", -1, false, 'i', 'x', 'S', true},
        {oid::kOid, "oid", 4, true, 'i', 'p', 'N', true},
        {oid::kXid, "xid", 4, true, 'i', 'p', 'U', false},
        {oid::kOidVector, "oidvector", -1, false, 'i', 'p', 'A', false},
        {oid::kPgNodeTree, "pg_node_tree", -1, false, 'i', 'x', 'Z', false},
        {oid::kFloat4, "float4", 4, true, 'i', 'p', 'N', false},
        {oid::kFloat8, "float8", 8, true, 'd', 'p', 'N', true},
        {oid::kUnknown, "unknown", -2, false, 'c', 'p', 'X', false},
        {oid::kInet, "inet", -1, false, 'i', 'm', 'I', true},
        {oid::kAclitem, "aclitem", 16, false, 'd', 'p', 'U', false},
        {oid::kBpchar, "bpchar", -1, false, 'i', 'x', 'S', false},
        {oid::kVarchar, "varchar", -1, false, 'i', 'x', 'S', false},
        {oid::kDate, "date", 4, true, 'i', 'p', 'D', false},
        {oid::kTimestamp, "timestamp", 8, true, 'd', 'p', 'D', false},
        {oid::kTimestampTz, "timestamptz", 8, true, 'd', 'p', 'D', true},
        {oid::kInterval, "interval", 16, false, 'd', 'p', 'T', true},
        {oid::kNumeric, "numeric", -1, false, 'i', 'm', 'N', false},
        {oid::kRegprocedure, "regprocedure", 4, true, 'i', 'p', 'N', false},
        {oid::kRegoper, "regoper", 4, true, 'i', 'p', 'N', false},
        {oid::kRegclass, "regclass", 4, true, 'i', 'p', 'N', false},
        {oid::kRegtype, "regtype", 4, true, 'i', 'p', 'N', false},
        {oid::kRecord, "record", -1, false, 'd', 'x', 'P', false},
        {oid::kVoid, "void", 4, true, 'i', 'p', 'P', false},
        {oid::kPgLsn, "pg_lsn", 8, true, 'd', 'p', 'U', false},
        {oid::kRegnamespace, "regnamespace", 4, true, 'i', 'p', 'N', false},
        {oid::kRegrole, "regrole", 4, true, 'i', 'p', 'N', false},
    };
    return t;
  }();
  return types;
}

const TypeInfo* FindType(int32_t type) {
  for (const auto& t : BuiltinTypes()) {
    if (t.oid == type) return &t;
  }
  return nullptr;
}

bool Collatable(int32_t type) {
  return type == oid::kText || type == oid::kVarchar || type == oid::kBpchar || type == oid::kName;
}

// The relations, roles and namespaces one statement sees.
struct CatalogInfo {
  std::vector<catalog::TableDef> tables;
  std::vector<RoleInfo> roles;
  uint32_t temp_ns = 0;  // the session's temporary namespace when it has temporary tables
};

Result<CatalogInfo> LoadCatalog(Executor& ex, SessionContext& ctx) {
  CatalogInfo info;
  if (!ex.db() || !ex.db()->catalog) return info;
  access::TxnContext fresh;
  access::TxnContext* tx = &ex.txn();
  if (!ex.in_transaction()) {  // a reg* value printed after its statement's transaction ended
    fresh.snapshot = ex.db()->engine->txm().TakeSnapshot();
    fresh.temp_owner = ex.txn().temp_owner;
    tx = &fresh;
  }
  WALREP_ASSIGN_OR_RETURN(auto tables, ex.db()->catalog->ListTables(*tx));
  for (auto& t : tables) {
    if (t.persistence == 't') {
      if (t.temp_owner != tx->temp_owner || tx->temp_owner == 0) continue;
      info.temp_ns = kPgTempNs;
    }
    info.tables.push_back(std::move(t));
  }
  WALREP_ASSIGN_OR_RETURN(info.roles, ctx.roles().List(*tx));
  return info;
}

uint32_t NamespaceOf(const catalog::TableDef& t) {
  return t.persistence == 't' ? kPgTempNs : kPublicNs;
}

std::string SchemaName(const catalog::TableDef& t) {
  return t.persistence == 't' ? "pg_temp_1" : "public";
}

Value NameValue(std::string s) { return Value::Text(oid::kName, std::move(s)); }

// PostgreSQL's predefined roles (pg_authid rows every cluster has).
const std::vector<std::pair<uint32_t, const char*>>& PredefinedRoles() {
  static const std::vector<std::pair<uint32_t, const char*>> roles = {
      {6171, "pg_database_owner"},     {6181, "pg_read_all_data"},
      {6182, "pg_write_all_data"},     {3373, "pg_monitor"},
      {3374, "pg_read_all_settings"},  {3375, "pg_read_all_stats"},
      {3377, "pg_stat_scan_tables"},   {4569, "pg_read_server_files"},
      {4570, "pg_write_server_files"}, {4571, "pg_execute_server_program"},
      {4200, "pg_signal_backend"},     {4544, "pg_checkpoint"}};
  return roles;
}

std::optional<std::string> RoleName(const CatalogInfo& info, int64_t id) {
  for (const auto& r : info.roles) {
    if (r.oid == id) return r.name;
  }
  for (const auto& [oid, name] : PredefinedRoles()) {
    if (oid == id) return std::string(name);
  }
  return std::nullopt;
}

// A row of a relation, by column name; columns not set get their type's neutral value.
class RowBuilder {
 public:
  // `all_null`: every column not set is NULL (information_schema's convention).
  explicit RowBuilder(const std::vector<ViewColumn>& cols, bool all_null = false)
      : cols_(cols), row_(cols.size()) {
    for (size_t i = 0; i < cols.size(); i++) {
      int32_t t = cols[i].type;
      if (all_null) {
        row_[i] = Value::Null(t);
      } else if (t == oid::kBool) {
        row_[i] = Value::Bool(false);
      } else if (IsIntegerType(t) || IsRegType(t) || t == oid::kXid) {
        row_[i] = Value::Int(t, 0);
      } else if (t == oid::kFloat4) {
        row_[i] = Value::Float(t, 0);
      } else {
        row_[i] = Value::Null(t);
      }
    }
  }
  RowBuilder& Set(const char* col, Value v) {
    for (size_t i = 0; i < cols_.size(); i++) {
      if (cols_[i].name == col) {
        int32_t t = cols_[i].type;
        if (v.is_null()) {
          row_[i] = Value::Null(t);
        } else if (v.type() == t) {
          row_[i] = std::move(v);
        } else if (v.is_array()) {
          row_[i] = Value::Array(t, v.as_array());
        } else {
          row_[i] =
              v.datum().index() == 2 ? Value::Int(t, v.as_int()) : Value::Text(t, ToText(v, {}));
        }
        return *this;
      }
    }
    return *this;
  }
  RowBuilder& Int(const char* col, int64_t v) { return Set(col, Value::Int(oid::kInt8, v)); }
  RowBuilder& Text(const char* col, std::string v) { return Set(col, Value::Text(oid::kText, v)); }
  RowBuilder& Char(const char* col, char c) {
    return Set(col, Value::Text(oid::kChar, c ? std::string(1, c) : std::string()));
  }
  RowBuilder& Bool(const char* col, bool b) { return Set(col, Value::Bool(b)); }
  Row Take() { return std::move(row_); }

 private:
  const std::vector<ViewColumn>& cols_;
  Row row_;
};

Value Int2Vector(const std::vector<int64_t>& v, int32_t type = oid::kInt2Vector) {
  ArrayElems e;
  int32_t et = ElementTypeOf(type);
  for (int64_t x : v) e.push_back(Value::Int(et, x));
  return Value::Array(type, std::move(e));
}

Value TextArray(const std::vector<std::string>& v) {
  ArrayElems e;
  for (const auto& s : v) e.push_back(Value::Text(oid::kText, s));
  return Value::Array(oid::kTextArray, std::move(e));
}

bool IsPrimaryKey(const catalog::TableDef& t, const catalog::IndexDef& i) {
  return i.constraint && !t.primary_key.empty() && i.columns == t.primary_key &&
         i.name.size() > 5 && i.name.substr(i.name.size() - 5) == "_pkey";
}

int Attnum(const catalog::TableDef& t, const std::string& col) { return t.column_index(col) + 1; }

// The default expression of a column as pg_get_expr deparses it: libpg_query's deparser
// normalizes the text; a string literal gets the cast PostgreSQL's analysis adds.
std::string DeparseDefault(const std::string& text, int32_t type, int32_t typmod);

std::string FormatType(int32_t type, int32_t typmod);

// "a, \"B\"": an index's or constraint's columns.
std::string ColumnList(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + QuoteIdentifier(c);
  return out;
}

std::string IndexDef(const catalog::TableDef& t, const catalog::IndexDef& i) {
  std::string cols = ColumnList(i.columns);
  return fmt::format("CREATE {}INDEX {} ON {}.{} USING btree ({})", i.unique ? "UNIQUE " : "",
                     QuoteIdentifier(i.name), SchemaName(t), QuoteIdentifier(t.name), cols);
}

// Each relation's rows.
using RowsFn = std::function<Result<std::vector<Row>>(const CatalogInfo&,
                                                      const std::vector<ViewColumn>&, Executor&)>;

Value PublicSchemaAcl() {
  return Value::Array(oid::kAclitemArray,
                      {Value::Text(oid::kAclitem, "pg_database_owner=UC/pg_database_owner"),
                       Value::Text(oid::kAclitem, "=U/pg_database_owner")});
}

constexpr const char* kPublicComment = "standard public schema";

std::vector<Row> NamespaceRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  auto add = [&](uint32_t oid, const char* name, uint32_t owner, Value acl) {
    rows.push_back(RowBuilder(cols)
                       .Int("oid", oid)
                       .Set("nspname", NameValue(name))
                       .Int("nspowner", owner)
                       .Set("nspacl", std::move(acl))
                       .Take());
  };
  Value none = Value::Null(oid::kAclitemArray);
  add(kPgToastNs, "pg_toast", kBootstrapSuperuser, none);
  add(kPgCatalogNs, "pg_catalog", kBootstrapSuperuser, none);
  // public's privileges as initdb leaves them (also in pg_init_privs, so pg_dump adds no GRANT).
  add(kPublicNs, "public", kDatabaseOwnerRole, PublicSchemaAcl());
  add(kInformationSchemaNs, "information_schema", kBootstrapSuperuser, none);
  if (info.temp_ns) add(info.temp_ns, "pg_temp_1", kBootstrapSuperuser, none);
  return rows;
}

Result<std::vector<Row>> ClassRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols,
                                   Executor& ex) {
  std::vector<Row> rows;
  auto blocks = [&](const wal::RelFileNode& rel) -> int64_t {
    if (!ex.db()) return 0;
    auto n = ex.db()->engine->pool().NBlocks(rel);
    return n.ok() ? static_cast<int64_t>(*n) : 0;
  };
  for (const auto& t : info.tables) {
    bool seq = t.kind == 'S';
    RowBuilder b(cols);
    b.Int("oid", t.oid)
        .Set("relname", NameValue(t.name))
        .Int("relnamespace", NamespaceOf(t))
        .Int("reltype", t.type_oid)
        .Int("relowner", kBootstrapSuperuser)
        .Int("relam", seq ? 0 : kHeapAm)
        .Int("relfilenode", t.rel.rel)
        .Int("relpages", blocks(t.rel))
        .Set("reltuples", Value::Float(oid::kFloat4, seq ? 1 : -1))
        .Bool("relhasindex", !t.indexes.empty())
        .Char("relpersistence", t.persistence)
        .Char("relkind", seq ? 'S' : 'r')
        .Int("relnatts", seq ? 3 : static_cast<int64_t>(t.columns.size()))
        .Bool("relispopulated", true)
        .Char("relreplident", seq ? 'n' : 'd')
        .Int("relfrozenxid", seq ? 0 : 3)
        .Int("relminmxid", seq ? 0 : 1);
    rows.push_back(b.Take());
    for (const auto& i : t.indexes) {
      rows.push_back(RowBuilder(cols)
                         .Int("oid", i.oid)
                         .Set("relname", NameValue(i.name))
                         .Int("relnamespace", NamespaceOf(t))
                         .Int("relowner", kBootstrapSuperuser)
                         .Int("relam", kBtreeAm)
                         .Int("relfilenode", i.rel.rel)
                         .Int("relpages", blocks(i.rel))
                         .Set("reltuples", Value::Float(oid::kFloat4, -1))
                         .Char("relpersistence", t.persistence)
                         .Char("relkind", 'i')
                         .Int("relnatts", static_cast<int64_t>(i.columns.size()))
                         .Bool("relispopulated", true)
                         .Char("relreplident", 'n')
                         .Take());
    }
  }
  // The catalogs themselves (so that 'pg_class'::regclass and \dS find them).
  for (const auto& rel : CatalogColumns()) {
    auto [ns, relname] = CatalogRelNamespace(rel.name);
    rows.push_back(RowBuilder(cols)
                       .Int("oid", CatalogRelOid(rel.name))
                       .Set("relname", NameValue(relname))
                       .Int("relnamespace", ns)
                       .Int("relowner", kBootstrapSuperuser)
                       .Int("relam", IsCatalogView(rel.name) ? 0 : kHeapAm)
                       .Set("reltuples", Value::Float(oid::kFloat4, -1))
                       .Char("relpersistence", 'p')
                       .Char("relkind", IsCatalogView(rel.name) ? 'v' : 'r')
                       .Int("relnatts", static_cast<int64_t>(rel.columns.size()))
                       .Bool("relispopulated", true)
                       .Char("relreplident", IsCatalogView(rel.name) ? 'n' : 'd')
                       .Take());
  }
  return rows;
}

void AddAttribute(RowBuilder& b, uint32_t rel, const std::string& name, int attnum, int32_t type,
                  int32_t typmod, bool not_null) {
  const TypeInfo* ti = FindType(type);
  b.Int("attrelid", rel)
      .Set("attname", NameValue(name))
      .Int("atttypid", type)
      .Int("attstattarget", -1)
      .Int("attlen", ti ? ti->len : -1)
      .Int("attnum", attnum)
      .Int("attcacheoff", -1)
      .Int("atttypmod", typmod)
      .Bool("attbyval", ti && ti->byval)
      .Char("attalign", ti ? ti->align : 'i')
      .Char("attstorage", ti ? ti->storage : 'x')
      .Char("attcompression", 0)
      .Bool("attnotnull", not_null)
      .Char("attidentity", 0)
      .Char("attgenerated", 0)
      .Bool("attislocal", true)
      .Int("attcollation", Collatable(type) ? kDefaultCollation : 0);
}

std::vector<Row> AttributeRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  for (const auto& t : info.tables) {
    if (t.kind == 'S') {
      const char* names[] = {"last_value", "log_cnt", "is_called"};
      int32_t types[] = {oid::kInt8, oid::kInt8, oid::kBool};
      for (int i = 0; i < 3; i++) {
        RowBuilder b(cols);
        AddAttribute(b, t.oid, names[i], i + 1, types[i], -1, true);
        rows.push_back(b.Take());
      }
      continue;
    }
    for (size_t i = 0; i < t.columns.size(); i++) {
      const auto& c = t.columns[i];
      RowBuilder b(cols);
      AddAttribute(b, t.oid, c.name, static_cast<int>(i + 1), c.type_oid, c.typmod, c.not_null);
      b.Bool("atthasdef", !c.default_expr.empty()).Bool("atthasmissing", c.missing.has_value());
      rows.push_back(b.Take());
    }
    for (const auto& idx : t.indexes) {
      for (size_t k = 0; k < idx.columns.size(); k++) {
        int ci = t.column_index(idx.columns[k]);
        if (ci < 0) continue;
        const auto& c = t.columns[static_cast<size_t>(ci)];
        RowBuilder b(cols);
        AddAttribute(b, idx.oid, c.name, static_cast<int>(k + 1), c.type_oid, c.typmod, false);
        rows.push_back(b.Take());
      }
    }
  }
  for (const auto& rel : CatalogColumns()) {
    for (size_t i = 0; i < rel.columns.size(); i++) {
      RowBuilder b(cols);
      AddAttribute(b, CatalogRelOid(rel.name), rel.columns[i].name, static_cast<int>(i + 1),
                   rel.columns[i].type, -1, !IsCatalogView(rel.name));
      rows.push_back(b.Take());
    }
  }
  return rows;
}

uint32_t AttrDefOid(const catalog::TableDef& t, size_t attnum) {
  return static_cast<uint32_t>((static_cast<uint64_t>(t.oid) * 1600 + attnum) & 0x7fffffff);
}

std::vector<Row> AttrDefRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  for (const auto& t : info.tables) {
    for (size_t i = 0; i < t.columns.size(); i++) {
      const auto& c = t.columns[i];
      if (c.default_expr.empty()) continue;
      rows.push_back(
          RowBuilder(cols)
              .Int("oid", AttrDefOid(t, i + 1))
              .Int("adrelid", t.oid)
              .Int("adnum", static_cast<int64_t>(i + 1))
              .Set("adbin", Value::Text(oid::kPgNodeTree,
                                        DeparseDefault(c.default_expr, c.type_oid, c.typmod)))
              .Take());
    }
  }
  return rows;
}

std::vector<Row> TypeRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  auto base = [&](int32_t oid, const std::string& name, int16_t len, bool byval, char type,
                  char category, bool preferred, int32_t elem, int32_t array, char align,
                  char storage, uint32_t relid) {
    return RowBuilder(cols)
        .Int("oid", oid)
        .Set("typname", NameValue(name))
        .Int("typnamespace", kPgCatalogNs)
        .Int("typowner", kBootstrapSuperuser)
        .Int("typlen", len)
        .Bool("typbyval", byval)
        .Char("typtype", type)
        .Char("typcategory", category)
        .Bool("typispreferred", preferred)
        .Bool("typisdefined", true)
        .Char("typdelim", ',')
        .Int("typrelid", relid)
        .Int("typelem", elem)
        .Int("typarray", array)
        .Char("typalign", align)
        .Char("typstorage", storage)
        .Int("typtypmod", -1)
        .Int("typcollation", Collatable(oid) ? kDefaultCollation : 0);
  };
  for (const auto& t : BuiltinTypes()) {
    rows.push_back(base(t.oid, t.name, t.len, t.byval, t.category == 'P' ? 'p' : 'b', t.category,
                        t.preferred, ElementTypeOf(t.oid), ArrayTypeOf(t.oid), t.align, t.storage,
                        0)
                       .Take());
    if (int32_t a = ArrayTypeOf(t.oid)) {
      rows.push_back(base(a, std::string("_") + t.name, -1, false, 'b', 'A', false, t.oid, 0,
                          t.align == 'd' ? 'd' : 'i', 'x', 0)
                         .Take());
    }
  }
  for (const auto& t : info.tables) {
    if (t.type_oid == 0) continue;
    RowBuilder b = base(static_cast<int32_t>(t.type_oid), t.name, -1, false, 'c', 'C', false, 0, 0,
                        'd', 'x', t.oid);
    b.Int("typnamespace", NamespaceOf(t));
    rows.push_back(b.Take());
  }
  return rows;
}

// The btree operator class of a key column's type (pg_index.indclass).
uint32_t OpClass(int32_t type) {
  switch (type) {
    case oid::kInt2:
      return 1979;
    case oid::kInt4:
      return 1978;
    case oid::kInt8:
      return 3124;
    case oid::kText:
    case oid::kVarchar:
      return 3126;
    case oid::kBpchar:
      return 426;
    case oid::kName:
      return 1986;
    case oid::kNumeric:
      return 3125;
    case oid::kFloat4:
      return 1970;
    case oid::kFloat8:
      return 3123;
    case oid::kBool:
      return 424;
    case oid::kDate:
      return 3122;
    case oid::kTimestamp:
      return 3128;
    case oid::kTimestampTz:
      return 3127;
    case oid::kInterval:
      return 1982;
    case oid::kOid:
      return 1981;
    case oid::kBytea:
      return 428;
  }
  return 0;
}

std::vector<Row> IndexRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  for (const auto& t : info.tables) {
    for (const auto& i : t.indexes) {
      std::vector<int64_t> keys, colls, classes, options;
      for (const auto& c : i.columns) {
        int n = Attnum(t, c);
        keys.push_back(n);
        int32_t type = n > 0 ? t.columns[static_cast<size_t>(n - 1)].type_oid : 0;
        colls.push_back(Collatable(type) ? kDefaultCollation : 0);
        classes.push_back(OpClass(type));
        options.push_back(0);
      }
      rows.push_back(RowBuilder(cols)
                         .Int("indexrelid", i.oid)
                         .Int("indrelid", t.oid)
                         .Int("indnatts", static_cast<int64_t>(keys.size()))
                         .Int("indnkeyatts", static_cast<int64_t>(keys.size()))
                         .Bool("indisunique", i.unique)
                         .Bool("indisprimary", IsPrimaryKey(t, i))
                         .Bool("indimmediate", true)
                         .Bool("indisvalid", true)
                         .Bool("indisready", true)
                         .Bool("indislive", true)
                         .Set("indkey", Int2Vector(keys))
                         .Set("indcollation", Int2Vector(colls, oid::kOidVector))
                         .Set("indclass", Int2Vector(classes, oid::kOidVector))
                         .Set("indoption", Int2Vector(options))
                         .Take());
    }
  }
  return rows;
}

std::vector<Row> ConstraintRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  for (const auto& t : info.tables) {
    for (const auto& i : t.indexes) {
      if (!i.constraint) continue;
      ArrayElems keys;
      for (const auto& c : i.columns) keys.push_back(Value::Int(oid::kInt2, Attnum(t, c)));
      rows.push_back(RowBuilder(cols)
                         .Int("oid", i.constraint_oid ? i.constraint_oid : i.oid)
                         .Set("conname", NameValue(i.name))
                         .Int("connamespace", NamespaceOf(t))
                         .Char("contype", IsPrimaryKey(t, i) ? 'p' : 'u')
                         .Bool("convalidated", true)
                         .Int("conrelid", t.oid)
                         .Int("conindid", i.oid)
                         .Char("confupdtype", ' ')
                         .Char("confdeltype", ' ')
                         .Char("confmatchtype", ' ')
                         .Bool("conislocal", true)
                         .Bool("connoinherit", true)
                         .Set("conkey", Value::Array(oid::kInt2Array, std::move(keys)))
                         .Take());
    }
  }
  return rows;
}

std::vector<Row> SequenceRowsOf(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  for (const auto& t : info.tables) {
    if (t.kind != 'S') continue;
    const auto& o = t.sequence.options;
    rows.push_back(RowBuilder(cols)
                       .Int("seqrelid", t.oid)
                       .Int("seqtypid", t.sequence.type_oid)
                       .Int("seqstart", o.start)
                       .Int("seqincrement", o.increment)
                       .Int("seqmax", o.max)
                       .Int("seqmin", o.min)
                       .Int("seqcache", o.cache)
                       .Bool("seqcycle", o.cycle)
                       .Take());
  }
  return rows;
}

// pg_depend: a serial column's sequence belongs to its column ('a'), an index to its constraint
// or table ('i' / 'a'), a table's row type to the table ('i').
std::vector<Row> DependRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  auto add = [&](uint32_t classid, uint32_t objid, int objsub, uint32_t refclassid,
                 uint32_t refobjid, int refobjsub, char type) {
    rows.push_back(RowBuilder(cols)
                       .Int("classid", classid)
                       .Int("objid", objid)
                       .Int("objsubid", objsub)
                       .Int("refclassid", refclassid)
                       .Int("refobjid", refobjid)
                       .Int("refobjsubid", refobjsub)
                       .Char("deptype", type)
                       .Take());
  };
  for (const auto& t : info.tables) {
    if (t.kind == 'S' && t.sequence.owner) {
      for (const auto& owner : info.tables) {
        if (owner.oid == t.sequence.owner) {
          add(kPgClassOid, t.oid, 0, kPgClassOid, owner.oid, Attnum(owner, t.sequence.owner_column),
              'a');
        }
      }
    }
    if (t.type_oid) add(kPgTypeOid, t.type_oid, 0, kPgClassOid, t.oid, 0, 'i');
    // A default belongs to its column ('a') and needs the sequences it names ('n').
    for (size_t i = 0; i < t.columns.size(); i++) {
      const std::string& expr = t.columns[i].default_expr;
      if (expr.empty()) continue;
      uint32_t ad = AttrDefOid(t, i + 1);
      add(kPgAttrDefOid, ad, 0, kPgClassOid, t.oid, static_cast<int>(i + 1), 'a');
      static const auto kSeq = Regex::Fixed("nextval\\('(?:public\\.)?([^']+)'");
      auto m = kSeq->Find(expr);
      if (m.ok() && m->has_value()) {
        for (const auto& seq : info.tables) {
          if (seq.kind == 'S' && seq.name == Regex::Group(expr, **m, 1)) {
            add(kPgAttrDefOid, ad, 0, kPgClassOid, seq.oid, 0, 'n');
          }
        }
      }
    }
    for (const auto& i : t.indexes) {
      if (i.constraint) {
        add(kPgClassOid, i.oid, 0, kPgConstraintOid, i.constraint_oid, 0, 'i');
        for (const auto& c : i.columns) {
          add(kPgConstraintOid, i.constraint_oid, 0, kPgClassOid, t.oid, Attnum(t, c), 'a');
        }
      } else {
        for (const auto& c : i.columns)
          add(kPgClassOid, i.oid, 0, kPgClassOid, t.oid, Attnum(t, c), 'a');
      }
    }
  }
  return rows;
}

std::vector<Row> AuthIdRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols,
                            bool password_visible) {
  std::vector<Row> rows;
  for (const auto& [oid, name] : PredefinedRoles()) {
    rows.push_back(RowBuilder(cols)
                       .Int("oid", oid)
                       .Set("rolname", NameValue(name))
                       .Bool("rolinherit", true)
                       .Int("rolconnlimit", -1)
                       .Take());
  }
  for (const auto& r : info.roles) {
    RowBuilder b(cols);
    b.Int("oid", r.oid)
        .Set("rolname", NameValue(r.name))
        .Bool("rolsuper", r.superuser)
        .Bool("rolinherit", r.inherit)
        .Bool("rolcreaterole", r.createrole)
        .Bool("rolcreatedb", r.createdb)
        .Bool("rolcanlogin", r.login)
        .Bool("rolreplication", r.replication)
        .Bool("rolbypassrls", r.superuser)
        .Int("rolconnlimit", r.connection_limit);
    if (password_visible) {
      if (!r.password.empty()) b.Text("rolpassword", r.password);
    } else {
      b.Text("rolpassword", "********");
    }
    if (!r.settings.empty()) {
      std::vector<std::string> config;
      for (const auto& [k, v] : r.settings) config.push_back(k + "=" + v);
      b.Set("rolconfig", TextArray(config));
    }
    rows.push_back(b.Take());
  }
  return rows;
}

std::vector<Row> UserRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  for (const auto& r : info.roles) {
    if (!r.login) continue;
    rows.push_back(RowBuilder(cols)
                       .Set("usename", NameValue(r.name))
                       .Int("usesysid", r.oid)
                       .Bool("usecreatedb", r.createdb)
                       .Bool("usesuper", r.superuser)
                       .Bool("userepl", r.replication)
                       .Bool("usebypassrls", r.superuser)
                       .Text("passwd", "********")
                       .Take());
  }
  return rows;
}

std::vector<Row> TablesViewRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols,
                                const RoleInfo* owner) {
  std::vector<Row> rows;
  std::string owner_name = owner ? owner->name : "postgres";
  for (const auto& t : info.tables) {
    if (t.kind != 'r') continue;
    rows.push_back(RowBuilder(cols)
                       .Set("schemaname", NameValue(SchemaName(t)))
                       .Set("tablename", NameValue(t.name))
                       .Set("tableowner", NameValue(owner_name))
                       .Bool("hasindexes", !t.indexes.empty())
                       .Take());
  }
  return rows;
}

std::vector<Row> IndexesViewRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols) {
  std::vector<Row> rows;
  for (const auto& t : info.tables) {
    for (const auto& i : t.indexes) {
      rows.push_back(RowBuilder(cols)
                         .Set("schemaname", NameValue("public"))
                         .Set("tablename", NameValue(t.name))
                         .Set("indexname", NameValue(i.name))
                         .Text("indexdef", IndexDef(t, i))
                         .Take());
    }
  }
  return rows;
}

std::vector<Row> SequencesViewRows(const CatalogInfo& info, const std::vector<ViewColumn>& cols,
                                   Executor& ex, const RoleInfo* owner) {
  std::vector<Row> rows;
  for (const auto& t : info.tables) {
    if (t.kind != 'S') continue;
    const auto& o = t.sequence.options;
    RowBuilder b(cols);
    b.Set("schemaname", NameValue("public"))
        .Set("sequencename", NameValue(t.name))
        .Set("sequenceowner", NameValue(owner ? owner->name : "postgres"))
        .Set("data_type", Value::Int(oid::kRegtype, t.sequence.type_oid))
        .Int("start_value", o.start)
        .Int("min_value", o.min)
        .Int("max_value", o.max)
        .Int("increment_by", o.increment)
        .Bool("cycle", o.cycle)
        .Int("cache_size", o.cache);
    auto state = SequenceRows(ex, t);
    if (state.ok() && !state->empty() && (*state)[0].size() >= 3 && (*state)[0][2].as_bool()) {
      b.Set("last_value", (*state)[0][0]);
    }
    rows.push_back(b.Take());
  }
  return rows;
}

std::vector<Row> DatabaseRows(const std::vector<ViewColumn>& cols) {
  return {RowBuilder(cols)
              .Int("oid", catalog::kDatabaseOid)
              .Set("datname", NameValue("postgres"))
              .Int("datdba", kBootstrapSuperuser)
              .Int("encoding", 6)
              .Char("datlocprovider", 'c')
              .Bool("datallowconn", true)
              .Int("datconnlimit", -1)
              .Int("datfrozenxid", 3)
              .Int("datminmxid", 1)
              .Int("dattablespace", kDefaultTablespace)
              .Text("datcollate", "C")
              .Text("datctype", "C")
              .Take()};
}

// information_schema's views (SQL-standard names and spellings).
std::string SqlDataType(int32_t type) {
  if (ElementTypeOf(type) && type != oid::kInt2Vector && type != oid::kOidVector) return "ARRAY";
  switch (type) {
    case oid::kVarchar:
      return "character varying";
    case oid::kBpchar:
      return "character";
    case oid::kTimestamp:
      return "timestamp without time zone";
    case oid::kTimestampTz:
      return "timestamp with time zone";
  }
  return FormatType(type, -1);
}

std::vector<Row> InformationSchemaRows(const std::string& view, const CatalogInfo& info,
                                       const std::vector<ViewColumn>& cols,
                                       const std::string& owner) {
  std::vector<Row> rows;
  auto text = [](const std::string& s) { return Value::Text(oid::kVarchar, s); };
  auto yes = [&](bool b) { return text(b ? "YES" : "NO"); };
  if (view == "schemata") {
    for (const char* ns : {"pg_toast", "pg_catalog", "public", "information_schema"}) {
      rows.push_back(RowBuilder(cols, true)
                         .Set("catalog_name", NameValue("postgres"))
                         .Set("schema_name", NameValue(ns))
                         .Set("schema_owner",
                              NameValue(std::string(ns) == "public" ? "pg_database_owner" : owner))
                         .Take());
    }
    return rows;
  }
  for (const auto& t : info.tables) {
    if (view == "tables" && t.kind == 'r') {
      rows.push_back(
          RowBuilder(cols, true)
              .Set("table_catalog", NameValue("postgres"))
              .Set("table_schema", NameValue(SchemaName(t)))
              .Set("table_name", NameValue(t.name))
              .Set("table_type", text(t.persistence == 't' ? "LOCAL TEMPORARY" : "BASE TABLE"))
              .Set("is_insertable_into", text("YES"))
              .Set("is_typed", text("NO"))
              .Set("commit_action",
                   t.persistence == 't' ? text("PRESERVE") : Value::Null(oid::kVarchar))
              .Take());
    } else if (view == "columns" && t.kind == 'r') {
      for (size_t i = 0; i < t.columns.size(); i++) {
        const auto& c = t.columns[i];
        RowBuilder b(cols, true);
        b.Set("table_catalog", NameValue("postgres"))
            .Set("table_schema", NameValue(SchemaName(t)))
            .Set("table_name", NameValue(t.name))
            .Set("column_name", NameValue(c.name))
            .Set("ordinal_position", Value::Int(oid::kInt4, static_cast<int64_t>(i + 1)))
            .Set("column_default", c.default_expr.empty()
                                       ? Value::Null(oid::kVarchar)
                                       : text(DeparseDefault(c.default_expr, c.type_oid, c.typmod)))
            .Set("is_nullable", yes(!c.not_null))
            .Set("data_type", text(SqlDataType(c.type_oid)))
            .Set("udt_catalog", NameValue("postgres"))
            .Set("udt_schema", NameValue("pg_catalog"))
            .Set("udt_name", NameValue(FindType(c.type_oid) ? FindType(c.type_oid)->name
                                                            : FormatType(c.type_oid, -1)))
            .Set("dtd_identifier", NameValue(std::to_string(i + 1)))
            .Set("is_self_referencing", text("NO"))
            .Set("is_identity", text("NO"))
            .Set("is_generated", text("NEVER"))
            .Set("is_updatable", text("YES"));
        if (ElementTypeOf(c.type_oid) && FindType(ElementTypeOf(c.type_oid))) {
          b.Set("udt_name",
                NameValue(std::string("_") + FindType(ElementTypeOf(c.type_oid))->name));
        }
        auto i4 = [](int64_t v) { return Value::Int(oid::kInt4, v); };
        if ((c.type_oid == oid::kVarchar || c.type_oid == oid::kBpchar) && c.typmod >= 4) {
          b.Set("character_maximum_length", i4(c.typmod - 4))
              .Set("character_octet_length", i4((c.typmod - 4) * 4));
        } else if (c.type_oid == oid::kText || c.type_oid == oid::kVarchar) {
          b.Set("character_octet_length", i4(1073741824));
        }
        int precision = c.type_oid == oid::kInt2     ? 16
                        : c.type_oid == oid::kInt4   ? 32
                        : c.type_oid == oid::kInt8   ? 64
                        : c.type_oid == oid::kFloat4 ? 24
                        : c.type_oid == oid::kFloat8 ? 53
                                                     : 0;
        if (precision) {
          b.Set("numeric_precision", i4(precision)).Set("numeric_precision_radix", i4(2));
          if (IsIntegerType(c.type_oid)) b.Set("numeric_scale", i4(0));
        } else if (c.type_oid == oid::kNumeric) {
          b.Set("numeric_precision_radix", i4(10));
          if (c.typmod >= 4) {
            b.Set("numeric_precision", i4(((c.typmod - 4) >> 16) & 0xffff))
                .Set("numeric_scale", i4((c.typmod - 4) & 0xffff));
          }
        }
        if (c.type_oid == oid::kDate) b.Set("datetime_precision", i4(0));
        if (c.type_oid == oid::kTimestamp || c.type_oid == oid::kTimestampTz ||
            c.type_oid == oid::kInterval) {
          b.Set("datetime_precision", i4(6));
        }
        rows.push_back(b.Take());
      }
    } else if (view == "table_constraints" || view == "key_column_usage") {
      auto add_constraint = [&](const std::string& con, const char* type,
                                const std::vector<std::string>& columns) {
        if (view == "table_constraints") {
          rows.push_back(RowBuilder(cols, true)
                             .Set("constraint_catalog", NameValue("postgres"))
                             .Set("constraint_schema", NameValue(SchemaName(t)))
                             .Set("constraint_name", NameValue(con))
                             .Set("table_catalog", NameValue("postgres"))
                             .Set("table_schema", NameValue(SchemaName(t)))
                             .Set("table_name", NameValue(t.name))
                             .Set("constraint_type", text(type))
                             .Set("is_deferrable", text("NO"))
                             .Set("initially_deferred", text("NO"))
                             .Set("enforced", text("YES"))
                             .Set("nulls_distinct", std::string(type) == "UNIQUE"
                                                        ? text("YES")
                                                        : Value::Null(oid::kVarchar))
                             .Take());
          return;
        }
        if (columns.empty()) return;
        for (size_t k = 0; k < columns.size(); k++) {
          rows.push_back(
              RowBuilder(cols, true)
                  .Set("constraint_catalog", NameValue("postgres"))
                  .Set("constraint_schema", NameValue(SchemaName(t)))
                  .Set("constraint_name", NameValue(con))
                  .Set("table_catalog", NameValue("postgres"))
                  .Set("table_schema", NameValue(SchemaName(t)))
                  .Set("table_name", NameValue(t.name))
                  .Set("column_name", NameValue(columns[k]))
                  .Set("ordinal_position", Value::Int(oid::kInt4, static_cast<int64_t>(k + 1)))
                  .Take());
        }
      };
      if (t.kind != 'r') continue;
      for (const auto& i : t.indexes) {
        if (i.constraint)
          add_constraint(i.name, IsPrimaryKey(t, i) ? "PRIMARY KEY" : "UNIQUE", i.columns);
      }
      // NOT NULL columns are CHECK constraints named <namespace oid>_<table oid>_<attnum>_not_null.
      for (size_t i = 0; i < t.columns.size(); i++) {
        if (!t.columns[i].not_null) continue;
        add_constraint(fmt::format("{}_{}_{}_not_null", NamespaceOf(t), t.oid, i + 1), "CHECK", {});
      }
    } else if (view == "sequences" && t.kind == 'S') {
      const auto& o = t.sequence.options;
      int bits = t.sequence.type_oid == oid::kInt2   ? 16
                 : t.sequence.type_oid == oid::kInt4 ? 32
                                                     : 64;
      rows.push_back(RowBuilder(cols, true)
                         .Set("sequence_catalog", NameValue("postgres"))
                         .Set("sequence_schema", NameValue(SchemaName(t)))
                         .Set("sequence_name", NameValue(t.name))
                         .Set("data_type", text(FormatType(t.sequence.type_oid, -1)))
                         .Set("numeric_precision", Value::Int(oid::kInt4, bits))
                         .Set("numeric_precision_radix", Value::Int(oid::kInt4, 2))
                         .Set("numeric_scale", Value::Int(oid::kInt4, 0))
                         .Set("start_value", text(std::to_string(o.start)))
                         .Set("minimum_value", text(std::to_string(o.min)))
                         .Set("maximum_value", text(std::to_string(o.max)))
                         .Set("increment", text(std::to_string(o.increment)))
                         .Set("cycle_option", yes(o.cycle))
                         .Take());
    }
  }
  if (view == "tables") {  // the catalogs, as PostgreSQL lists them to a superuser
    for (const auto& rel : CatalogColumns()) {
      auto [ns, relname] = CatalogRelNamespace(rel.name);
      rows.push_back(
          RowBuilder(cols, true)
              .Set("table_catalog", NameValue("postgres"))
              .Set("table_schema", NameValue(ns == 11 ? "pg_catalog" : "information_schema"))
              .Set("table_name", NameValue(relname))
              .Set("table_type", text(IsCatalogView(rel.name) ? "VIEW" : "BASE TABLE"))
              .Set("is_insertable_into", text("NO"))
              .Set("is_typed", text("NO"))
              .Take());
    }
  }
  return rows;
}

// PostgreSQL 15's pg_proc rows of the functions walrep has (pg_proc_rows.inc).
struct ProcRow {
  uint32_t oid;
  const char* name;
  char kind;
  bool retset;
  uint32_t rettype;
  int nargs;
  const char* argtypes;  // oidvector text
  const char *result, *arguments, *identity;
};

const std::vector<ProcRow>& ProcRows() {
  static const std::vector<ProcRow> rows = {
#include "pg_proc_rows.inc"
  };
  return rows;
}

const ProcRow* FindProc(int64_t oid) {
  for (const auto& p : ProcRows()) {
    if (p.oid == oid) return &p;
  }
  return nullptr;
}

std::vector<Row> ProcRowsFor(const std::vector<ViewColumn>& cols, const Registry* registry);
std::set<std::string> AllFunctionNames(const Registry* registry);

// Each relation name with its rows; relations not listed here are empty (pg_policy,
// pg_trigger, pg_inherits, ...: walrep has none of those objects).
Result<std::vector<Row>> RelationRows(const std::string& name, const std::vector<ViewColumn>& cols,
                                      const CatalogInfo& info, Executor& ex, SessionContext& ctx) {
  const RoleInfo* owner = nullptr;
  for (const auto& r : info.roles) {
    if (r.oid == kBootstrapSuperuser) owner = &r;
  }
  if (name.rfind(kInfoPrefix, 0) == 0) {
    return InformationSchemaRows(name.substr(std::string(kInfoPrefix).size()), info, cols,
                                 owner ? owner->name : "postgres");
  }
  if (name == "pg_namespace") return NamespaceRows(info, cols);
  if (name == "pg_class") return ClassRows(info, cols, ex);
  if (name == "pg_attribute") return AttributeRows(info, cols);
  if (name == "pg_attrdef") return AttrDefRows(info, cols);
  if (name == "pg_type") return TypeRows(info, cols);
  if (name == "pg_index") return IndexRows(info, cols);
  if (name == "pg_constraint") return ConstraintRows(info, cols);
  if (name == "pg_sequence") return SequenceRowsOf(info, cols);
  if (name == "pg_depend") return DependRows(info, cols);
  if (name == "pg_database") return DatabaseRows(cols);
  if (name == "pg_authid") return AuthIdRows(info, cols, true);
  if (name == "pg_roles") return AuthIdRows(info, cols, false);
  if (name == "pg_user") return UserRows(info, cols);
  if (name == "pg_tables") return TablesViewRows(info, cols, owner);
  if (name == "pg_indexes") return IndexesViewRows(info, cols);
  if (name == "pg_sequences") return SequencesViewRows(info, cols, ex, owner);
  if (name == "pg_proc") return ProcRowsFor(cols, ex.registry());
  if (name == "walrep_functions") {
    std::vector<Row> rows;
    for (const auto& n : AllFunctionNames(ex.registry()))
      rows.push_back({Value::Text(oid::kText, n)});
    return rows;
  }
  if (name == "pg_description") {
    return std::vector<Row>{RowBuilder(cols)
                                .Int("objoid", kPublicNs)
                                .Int("classoid", kPgNamespaceOid)
                                .Text("description", kPublicComment)
                                .Take()};
  }
  if (name == "pg_init_privs") {
    return std::vector<Row>{RowBuilder(cols)
                                .Int("objoid", kPublicNs)
                                .Int("classoid", kPgNamespaceOid)
                                .Char("privtype", 'i')
                                .Set("initprivs", PublicSchemaAcl())
                                .Take()};
  }
  if (name == "pg_am") {
    std::vector<Row> rows;
    for (auto [oid, am, type] : {std::tuple<uint32_t, const char*, char>{kHeapAm, "heap", 't'},
                                 {kBtreeAm, "btree", 'i'},
                                 {kHashAm, "hash", 'i'}}) {
      rows.push_back(RowBuilder(cols)
                         .Int("oid", oid)
                         .Set("amname", NameValue(am))
                         .Char("amtype", type)
                         .Take());
    }
    return rows;
  }
  if (name == "pg_tablespace") {
    std::vector<Row> rows;
    for (auto [oid, ts] : {std::pair<uint32_t, const char*>{kDefaultTablespace, "pg_default"},
                           {kGlobalTablespace, "pg_global"}}) {
      rows.push_back(RowBuilder(cols)
                         .Int("oid", oid)
                         .Set("spcname", NameValue(ts))
                         .Int("spcowner", kBootstrapSuperuser)
                         .Take());
    }
    return rows;
  }
  if (name == "pg_collation") {
    std::vector<Row> rows;
    for (auto [oid, coll, provider] :
         {std::tuple<uint32_t, const char*, char>{kDefaultCollation, "default", 'd'},
          {kCCollation, "C", 'c'},
          {kPosixCollation, "POSIX", 'c'}}) {
      RowBuilder b(cols);
      b.Int("oid", oid)
          .Set("collname", NameValue(coll))
          .Int("collnamespace", kPgCatalogNs)
          .Int("collowner", kBootstrapSuperuser)
          .Char("collprovider", provider)
          .Bool("collisdeterministic", true)
          .Int("collencoding", -1);
      if (provider == 'c') b.Text("collcollate", coll).Text("collctype", coll);
      rows.push_back(b.Take());
    }
    return rows;
  }
  return std::vector<Row>{};
}

class CatalogResolver : public RegResolver {
 public:
  explicit CatalogResolver(Executor* ex, SessionContext* ctx) : ex_(ex), ctx_(ctx) {}

  std::optional<std::string> Name(int32_t type, int64_t id) override {
    switch (type) {
      case oid::kRegtype:
        if (FindType(static_cast<int32_t>(id)) || ElementTypeOf(static_cast<int32_t>(id))) {
          return FormatType(static_cast<int32_t>(id), -1);
        }
        break;
      case oid::kRegnamespace:
        for (auto [ns, name] : Namespaces()) {
          if (ns == id) return std::string(name);
        }
        return std::nullopt;
      default:
        break;
    }
    auto info = LoadCatalog(*ex_, *ctx_);
    if (!info.ok()) return std::nullopt;
    if (type == oid::kRegrole) return RoleName(*info, id);
    if (type == oid::kRegtype) {
      for (const auto& t : info->tables) {
        if (t.type_oid == id) return QuoteIdentifier(t.name);
      }
      return std::nullopt;
    }
    if (type == oid::kRegclass) {
      // Qualified when its schema is not on the search path, as regclassout does.
      std::string schema = PublicVisible(*ctx_) ? "" : "public.";
      for (const auto& t : info->tables) {
        if (t.oid == id) return schema + QuoteIdentifier(t.name);
        for (const auto& i : t.indexes) {
          if (i.oid == id) return schema + QuoteIdentifier(i.name);
        }
      }
      for (const auto& rel : CatalogColumns()) {
        if (CatalogRelOid(rel.name) == id) return std::string(rel.name);
      }
    }
    return std::nullopt;
  }

  Result<int64_t> Oid(int32_t type, std::string_view raw) override {
    std::string name(raw);
    std::string schema;
    if (size_t dot = name.find('.'); dot != std::string::npos) {
      schema = name.substr(0, dot);
      name = name.substr(dot + 1);
    }
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
    } else {
      name = ToLower(name);
    }
    switch (type) {
      case oid::kRegtype: {
        auto t = LookupTypeName(raw);
        if (t.ok()) return *t;
        break;
      }
      case oid::kRegnamespace:
        for (auto [ns, nsname] : Namespaces()) {
          if (name == nsname) return ns;
        }
        return Status::Sql("3F000", fmt::format("schema \"{}\" does not exist", name));
      default:
        break;
    }
    WALREP_ASSIGN_OR_RETURN(CatalogInfo info, LoadCatalog(*ex_, *ctx_));
    if (type == oid::kRegrole) {
      for (const auto& r : info.roles) {
        if (r.name == name) return r.oid;
      }
      for (const auto& [oid, rname] : PredefinedRoles()) {
        if (name == rname) return oid;
      }
      return Status::Sql("42704", fmt::format("role \"{}\" does not exist", name));
    }
    if (type == oid::kRegclass || type == oid::kRegtype) {
      if (schema.empty() || schema == "pg_catalog") {
        for (const auto& rel : CatalogColumns()) {
          if (name == rel.name) return CatalogRelOid(rel.name);
        }
      }
      if (schema != "pg_catalog") {
        for (const auto& t : info.tables) {
          if (type == oid::kRegtype && t.name == name) return t.type_oid;
          if (type != oid::kRegclass) continue;
          if (t.name == name) return t.oid;
          for (const auto& i : t.indexes) {
            if (i.name == name) return i.oid;
          }
        }
      }
      if (type == oid::kRegtype) {
        return Status::Sql("42704", fmt::format("type \"{}\" does not exist", raw));
      }
      return Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", raw));
    }
    if (type == oid::kRegproc || type == oid::kRegprocedure) {
      return Status::Sql("42883", fmt::format("function \"{}\" does not exist", raw));
    }
    return Status::Sql("42704", fmt::format("object \"{}\" does not exist", raw));
  }

 private:
  static std::vector<std::pair<uint32_t, const char*>> Namespaces() {
    return {{kPgToastNs, "pg_toast"},
            {kPgCatalogNs, "pg_catalog"},
            {kPublicNs, "public"},
            {kInformationSchemaNs, "information_schema"},
            {kPgTempNs, "pg_temp_1"}};
  }
  Executor* ex_;
  SessionContext* ctx_;
};

std::string FormatType(int32_t type, int32_t typmod) {
  if (type == 0) return "-";
  if (int32_t elem = ElementTypeOf(type);
      elem && type != oid::kInt2Vector && type != oid::kOidVector) {
    return FormatType(elem, typmod) + "[]";
  }
  switch (type) {
    case oid::kVarchar:
      return typmod >= 4 ? fmt::format("character varying({})", typmod - 4) : "character varying";
    case oid::kBpchar:
      return typmod >= 4 ? fmt::format("character({})", typmod - 4) : "bpchar";
    case oid::kNumeric:
      if (typmod >= 4) {
        int32_t t = typmod - 4;
        return fmt::format("numeric({},{})", (t >> 16) & 0xffff, t & 0xffff);
      }
      return "numeric";
    case oid::kTimestamp:
      return typmod >= 0 ? fmt::format("timestamp({}) without time zone", typmod)
                         : "timestamp without time zone";
    case oid::kTimestampTz:
      return typmod >= 0 ? fmt::format("timestamp({}) with time zone", typmod)
                         : "timestamp with time zone";
    case oid::kInterval:
      return "interval";
  }
  if (!FindType(type)) return "???";
  return TypeName(type);
}

std::string DeparseDefault(const std::string& text, int32_t type, int32_t typmod) {
  std::string sql = "SELECT " + text;
  PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql.c_str());
  std::string out = text;
  if (!parsed.error) {
    PgQueryDeparseResult d = pg_query_deparse_protobuf(parsed.parse_tree);
    if (!d.error && d.query && std::string_view(d.query).substr(0, 7) == "SELECT ") {
      out = d.query + 7;
    }
    pg_query_free_deparse_result(d);
  }
  pg_query_free_protobuf_parse_result(parsed);
  // A literal coerced to the column's type shows the cast PostgreSQL's analysis adds (numbers
  // that fit the column's type directly do not).
  static const auto kString = Regex::Fixed("^'([^']|'')*'$"),
                    kNegative = Regex::Fixed("^-[0-9.]+$"),
                    kNumber = Regex::Fixed("^[0-9]+(\\.[0-9]+)?$");
  auto matches = [&out](const Regex& re) {
    auto m = re.FullMatch(out);
    return m.ok() && m->has_value();
  };
  if (matches(*kString)) return out + "::" + FormatType(type, typmod);
  if (matches(*kNegative)) return "'" + out + "'::" + FormatType(type, typmod);
  if (matches(*kNumber) && out.find('.') != std::string::npos && type != oid::kNumeric) {
    return out + "::" + FormatType(type, typmod);
  }
  return out;
}

// A function of the catalog: its arguments' types, result type, and body.
struct CatalogFunction {
  std::vector<int32_t> args;
  size_t min_args;
  int32_t result;
  bool strict;
  std::function<Result<Value>(EvalState&, const std::vector<Value>&)> eval;
};

Result<CatalogInfo> Info(EvalState& st) { return LoadCatalog(*st.exec, *st.ctx); }

const catalog::TableDef* FindRelation(const CatalogInfo& info, int64_t id,
                                      const catalog::IndexDef** index) {
  for (const auto& t : info.tables) {
    if (t.oid == id) return &t;
    for (const auto& i : t.indexes) {
      if (i.oid == id) {
        if (index) *index = &i;
        return &t;
      }
    }
  }
  return nullptr;
}

// Bytes of a relation's main fork (pages still only in shared buffers count).
Result<int64_t> RelationBytes(EvalState& st, const wal::RelFileNode& rel) {
  WALREP_ASSIGN_OR_RETURN(auto n, st.exec->db()->engine->pool().NBlocks(rel));
  return static_cast<int64_t>(n) * 8192;
}

// Which sizes a pg_*_size function adds up.
enum class SizeOf { kRelation, kTable, kIndexes, kTotal };

Result<Value> RelationSize(EvalState& st, int64_t id, SizeOf what) {
  WALREP_ASSIGN_OR_RETURN(CatalogInfo info, Info(st));
  const catalog::IndexDef* index = nullptr;
  const catalog::TableDef* t = FindRelation(info, id, &index);
  if (!t) {
    // A system catalog relation (pg_class, pg_attribute, pg_authid): a heap without indexes.
    const catalog::SystemRelation* sys =
        id >= 0 && id <= UINT32_MAX ? catalog::FindSystemRelation(static_cast<uint32_t>(id))
                                    : nullptr;
    if (!sys) return Value::Null(oid::kInt8);
    if (what == SizeOf::kIndexes) return Value::Int(oid::kInt8, 0);
    WALREP_ASSIGN_OR_RETURN(int64_t n, RelationBytes(st, sys->rel));
    return Value::Int(oid::kInt8, n);
  }
  if (index) {
    WALREP_ASSIGN_OR_RETURN(int64_t n, RelationBytes(st, index->rel));
    return Value::Int(oid::kInt8, what == SizeOf::kIndexes ? 0 : n);
  }
  int64_t total = 0;
  if (what != SizeOf::kIndexes) {
    WALREP_ASSIGN_OR_RETURN(total, RelationBytes(st, t->rel));
  }
  if (what == SizeOf::kIndexes || what == SizeOf::kTotal) {
    for (const auto& i : t->indexes) {
      WALREP_ASSIGN_OR_RETURN(int64_t n, RelationBytes(st, i.rel));
      total += n;
    }
  }
  return Value::Int(oid::kInt8, total);
}

const std::map<std::string, CatalogFunction>& CatalogFunctions() {
  static const std::map<std::string, CatalogFunction> fns = [] {
    std::map<std::string, CatalogFunction> m;
    auto always = [](bool v) {
      return [v](EvalState&, const std::vector<Value>&) -> Result<Value> { return Value::Bool(v); };
    };
    auto null_text = [](EvalState&, const std::vector<Value>&) -> Result<Value> {
      return Value::Null(oid::kText);
    };
    m["format_type"] = {
        {oid::kOid, oid::kInt4},
        2,
        oid::kText,
        false,
        [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
          if (a[0].is_null()) return Value::Null(oid::kText);
          int32_t typmod = a[1].is_null() ? -1 : static_cast<int32_t>(a[1].as_int());
          return Value::Text(oid::kText, FormatType(static_cast<int32_t>(a[0].as_int()), typmod));
        }};
    m["pg_get_userbyid"] = {{oid::kOid},
                            1,
                            oid::kName,
                            true,
                            [](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
                              WALREP_ASSIGN_OR_RETURN(CatalogInfo info, Info(st));
                              auto name = RoleName(info, a[0].as_int());
                              return Value::Text(
                                  oid::kName,
                                  name ? *name : fmt::format("unknown (OID={})", a[0].as_int()));
                            }};
    for (const char* f : {"pg_table_is_visible", "pg_type_is_visible", "pg_function_is_visible",
                          "pg_collation_is_visible", "pg_operator_is_visible",
                          "pg_opclass_is_visible", "pg_conversion_is_visible"}) {
      m[f] = {{oid::kOid}, 1, oid::kBool, true, always(true)};
    }
    for (const char* f : {"has_table_privilege", "has_schema_privilege", "has_database_privilege",
                          "has_sequence_privilege", "has_function_privilege",
                          "has_tablespace_privilege", "has_any_column_privilege"}) {
      m[f] = {{oid::kText, oid::kText, oid::kText}, 2, oid::kBool, true, always(true)};
    }
    m["has_column_privilege"] = {
        {oid::kText, oid::kText, oid::kText, oid::kText}, 3, oid::kBool, true, always(true)};
    m["pg_relation_is_publishable"] = {
        {oid::kRegclass},
        1,
        oid::kBool,
        true,
        [](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
          WALREP_ASSIGN_OR_RETURN(CatalogInfo info, Info(st));
          const catalog::IndexDef* index = nullptr;
          const catalog::TableDef* t = FindRelation(info, a[0].as_int(), &index);
          return Value::Bool(t && !index && t->kind == 'r' && t->persistence == 'p');
        }};
    m["pg_get_indexdef"] = {
        {oid::kOid, oid::kInt4, oid::kBool},
        1,
        oid::kText,
        true,
        [](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
          WALREP_ASSIGN_OR_RETURN(CatalogInfo info, Info(st));
          const catalog::IndexDef* index = nullptr;
          const catalog::TableDef* t = FindRelation(info, a[0].as_int(), &index);
          if (!index) return Value::Null(oid::kText);
          int64_t col = a.size() > 1 ? a[1].as_int() : 0;
          if (col > 0) {
            if (col > static_cast<int64_t>(index->columns.size())) return Value::Null(oid::kText);
            return Value::Text(oid::kText,
                               QuoteIdentifier(index->columns[static_cast<size_t>(col - 1)]));
          }
          return Value::Text(oid::kText, IndexDef(*t, *index));
        }};
    m["pg_get_constraintdef"] = {
        {oid::kOid, oid::kBool},
        1,
        oid::kText,
        true,
        [](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
          WALREP_ASSIGN_OR_RETURN(CatalogInfo info, Info(st));
          for (const auto& t : info.tables) {
            for (const auto& i : t.indexes) {
              if (!i.constraint || (i.constraint_oid ? i.constraint_oid : i.oid) != a[0].as_int()) {
                continue;
              }
              return Value::Text(
                  oid::kText, fmt::format("{} ({})", IsPrimaryKey(t, i) ? "PRIMARY KEY" : "UNIQUE",
                                          ColumnList(i.columns)));
            }
          }
          return Value::Null(oid::kText);
        }};
    // pg_node_tree values hold the deparsed expression already. Relation names in the expression
    // ('seq'::regclass) are qualified when public is not on the search path, as ruleutils does.
    m["pg_get_expr"] = {{oid::kPgNodeTree, oid::kOid, oid::kBool},
                        2,
                        oid::kText,
                        true,
                        [](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
                          std::string e = a[0].as_string();
                          if (!PublicVisible(*st.ctx)) {
                            static const auto kRel = Regex::Fixed("'([^'.]+)'::regclass");
                            WALREP_ASSIGN_OR_RETURN(
                                e, kRel->Replace(e, "'public.\\1'::regclass", /*global=*/true));
                          }
                          return Value::Text(oid::kText, e);
                        }};
    // acldefault(kind, owner): the privileges an object of that kind has while its ACL is
    // NULL (the owner has all; PUBLIC some kinds' usage).
    m["acldefault"] = {{oid::kChar, oid::kOid},
                       2,
                       oid::kAclitemArray,
                       true,
                       [](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
                         WALREP_ASSIGN_OR_RETURN(CatalogInfo info, Info(st));
                         std::string owner = QuoteIdentifier(
                             RoleName(info, a[1].as_int()).value_or(std::to_string(a[1].as_int())));
                         std::string kind = a[0].as_string();
                         std::string pub, own;
                         switch (kind.empty() ? ' ' : kind[0]) {
                           case 'r':
                             own = "arwdDxt";
                             break;
                           case 's':
                             own = "rwU";
                             break;
                           case 'd':
                             pub = "Tc";
                             own = "CTc";
                             break;
                           case 'f':
                             pub = "X";
                             own = "X";
                             break;
                           case 'l':
                           case 'T':
                             pub = "U";
                             own = "U";
                             break;
                           case 'F':
                           case 'S':
                             own = "U";
                             break;
                           case 'n':
                             own = "UC";
                             break;
                           case 't':
                             own = "C";
                             break;
                           case 'L':
                             own = "rw";
                             break;
                           case 'p':
                             own = "sA";
                             break;
                           default:
                             return Status::Sql(
                                 "22023",
                                 fmt::format("unrecognized object type abbreviation: {}", kind));
                         }
                         ArrayElems e;
                         if (!pub.empty())
                           e.push_back(Value::Text(oid::kAclitem, "=" + pub + "/" + owner));
                         e.push_back(Value::Text(oid::kAclitem, owner + "=" + own + "/" + owner));
                         return Value::Array(oid::kAclitemArray, std::move(e));
                       }};
    // walrep has only the built-in tablespaces, which are in the data directory ("").
    m["pg_tablespace_location"] = {{oid::kOid},
                                   1,
                                   oid::kText,
                                   true,
                                   [](EvalState&, const std::vector<Value>&) -> Result<Value> {
                                     return Value::Text(oid::kText, "");
                                   }};
    m["quote_literal"] = {{oid::kText},
                          1,
                          oid::kText,
                          true,
                          [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
                            return Value::Text(oid::kText, QuoteLiteral(a[0].as_string()));
                          }};
    m["pg_get_triggerdef"] = {{oid::kOid, oid::kBool}, 1, oid::kText, true, null_text};
    m["pg_get_viewdef"] = {{oid::kOid, oid::kBool}, 1, oid::kText, true, null_text};
    m["pg_get_ruledef"] = {{oid::kOid, oid::kBool}, 1, oid::kText, true, null_text};
    m["pg_get_functiondef"] = {{oid::kOid}, 1, oid::kText, true, null_text};
    m["pg_get_partkeydef"] = {{oid::kOid}, 1, oid::kText, true, null_text};
    m["pg_get_serial_sequence"] = {{oid::kText, oid::kText},
                                   2,
                                   oid::kText,
                                   true,
                                   [](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
                                     WALREP_ASSIGN_OR_RETURN(CatalogInfo info, Info(st));
                                     std::string table = a[0].as_string();
                                     if (table.rfind("public.", 0) == 0) table = table.substr(7);
                                     for (const auto& t : info.tables) {
                                       if (t.kind != 'S' || !t.sequence.owner) continue;
                                       for (const auto& owner : info.tables) {
                                         if (owner.oid == t.sequence.owner && owner.name == table &&
                                             t.sequence.owner_column == a[1].as_string()) {
                                           return Value::Text(oid::kText,
                                                              "public." + QuoteIdentifier(t.name));
                                         }
                                       }
                                     }
                                     return Value::Null(oid::kText);
                                   }};
    m["obj_description"] = {{oid::kOid, oid::kName},
                            1,
                            oid::kText,
                            true,
                            [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
                              bool ns = a.size() < 2 || a[1].as_string() == "pg_namespace";
                              if (ns && a[0].as_int() == kPublicNs) {
                                return Value::Text(oid::kText, kPublicComment);
                              }
                              return Value::Null(oid::kText);
                            }};
    m["col_description"] = {{oid::kOid, oid::kInt4}, 2, oid::kText, true, null_text};
    m["shobj_description"] = {{oid::kOid, oid::kName}, 2, oid::kText, true, null_text};
    m["pg_get_statisticsobjdef_columns"] = {{oid::kOid}, 1, oid::kText, true, null_text};
    m["pg_get_function_result"] = {{oid::kOid},
                                   1,
                                   oid::kText,
                                   true,
                                   [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
                                     const ProcRow* p = FindProc(a[0].as_int());
                                     return p ? Value::Text(oid::kText, p->result)
                                              : Value::Null(oid::kText);
                                   }};
    m["pg_get_function_arguments"] = {{oid::kOid},
                                      1,
                                      oid::kText,
                                      true,
                                      [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
                                        const ProcRow* p = FindProc(a[0].as_int());
                                        return p ? Value::Text(oid::kText, p->arguments)
                                                 : Value::Null(oid::kText);
                                      }};
    m["pg_get_function_identity_arguments"] = {
        {oid::kOid},
        1,
        oid::kText,
        true,
        [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
          const ProcRow* p = FindProc(a[0].as_int());
          return p ? Value::Text(oid::kText, p->identity) : Value::Null(oid::kText);
        }};
    m["pg_encoding_to_char"] = {
        {oid::kInt4},
        1,
        oid::kName,
        true,
        [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
          return NameValue(a[0].as_int() == 6 ? "UTF8" : a[0].as_int() == 0 ? "SQL_ASCII" : "");
        }};
    m["pg_char_to_encoding"] = {{oid::kName},
                                1,
                                oid::kInt4,
                                true,
                                [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
                                  std::string e = ToLower(a[0].as_string());
                                  return Value::Int(oid::kInt4, e == "utf8" || e == "utf-8" ? 6
                                                                : e == "sql_ascii"          ? 0
                                                                                            : -1);
                                }};
    m["quote_ident"] = {{oid::kText},
                        1,
                        oid::kText,
                        true,
                        [](EvalState&, const std::vector<Value>& a) -> Result<Value> {
                          return Value::Text(oid::kText, QuoteIdentifier(a[0].as_string()));
                        }};
    // current_schemas(implicit): search_path's schemas (pg_catalog first when implicit and not
    // listed).
    m["current_schemas"] = {{oid::kBool},
                            1,
                            oid::kNameArray,
                            true,
                            [](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
                              auto schemas = SearchPathSchemas(*st.ctx);
                              ArrayElems e;
                              if (a[0].as_bool() && std::find(schemas.begin(), schemas.end(),
                                                              "pg_catalog") == schemas.end()) {
                                e.push_back(NameValue("pg_catalog"));
                              }
                              for (const auto& n : schemas) e.push_back(NameValue(n));
                              return Value::Array(oid::kNameArray, std::move(e));
                            }};
    auto size = [](SizeOf what) {
      return [what](EvalState& st, const std::vector<Value>& a) -> Result<Value> {
        return RelationSize(st, a[0].as_int(), what);
      };
    };
    m["pg_relation_size"] = {
        {oid::kRegclass, oid::kText}, 1, oid::kInt8, true, size(SizeOf::kRelation)};
    m["pg_table_size"] = {{oid::kRegclass}, 1, oid::kInt8, true, size(SizeOf::kTable)};
    m["pg_indexes_size"] = {{oid::kRegclass}, 1, oid::kInt8, true, size(SizeOf::kIndexes)};
    m["pg_total_relation_size"] = {{oid::kRegclass}, 1, oid::kInt8, true, size(SizeOf::kTotal)};
    return m;
  }();
  return fns;
}

// Every function name walrep answers: the registry's, the catalog functions, and those the
// expression compiler handles itself (aggregates, window functions, clocks, sequences).
std::set<std::string> AllFunctionNames(const Registry* registry) {
  std::set<std::string> names = {"count",
                                 "sum",
                                 "min",
                                 "max",
                                 "avg",
                                 "array_agg",
                                 "string_agg",
                                 "bool_and",
                                 "bool_or",
                                 "every",
                                 "row_number",
                                 "rank",
                                 "dense_rank",
                                 "now",
                                 "transaction_timestamp",
                                 "statement_timestamp",
                                 "txid_current",
                                 "pg_current_xact_id",
                                 "nextval",
                                 "currval",
                                 "setval",
                                 "lastval"};
  if (registry) {
    for (auto& n : registry->FunctionNames()) names.insert(n);
  }
  for (const auto& [n, f] : CatalogFunctions()) names.insert(n);
  return names;
}

std::vector<Row> ProcRowsFor(const std::vector<ViewColumn>& cols, const Registry* registry) {
  std::set<std::string> names = AllFunctionNames(registry);
  std::vector<Row> rows;
  for (const auto& p : ProcRows()) {
    if (!names.count(p.name)) continue;
    auto argtypes = FromText(oid::kOidVector, p.argtypes, FormatOptions{});
    rows.push_back(RowBuilder(cols)
                       .Int("oid", p.oid)
                       .Set("proname", NameValue(p.name))
                       .Int("pronamespace", kPgCatalogNs)
                       .Int("proowner", kBootstrapSuperuser)
                       .Int("prolang", 12)
                       .Set("procost", Value::Float(oid::kFloat4, 1))
                       .Set("prorows", Value::Float(oid::kFloat4, p.retset ? 1000 : 0))
                       .Char("prokind", p.kind)
                       .Bool("proisstrict", true)
                       .Bool("proretset", p.retset)
                       .Char("provolatile", 'v')
                       .Char("proparallel", 's')
                       .Int("pronargs", p.nargs)
                       .Int("prorettype", p.rettype)
                       .Set("proargtypes", argtypes.ok() ? *argtypes : Value::Null(oid::kOidVector))
                       .Text("prosrc", p.name)
                       .Take());
  }
  return rows;
}

}  // namespace

std::unique_ptr<RegResolver> MakeCatalogResolver(Executor* ex, SessionContext* ctx) {
  return std::make_unique<CatalogResolver>(ex, ctx);
}

const std::vector<ViewColumn>* FindCatalogRelation(const std::string& name) {
  // walrep's own: the names of the functions it has.
  static const std::vector<ViewColumn> functions = {{"name", oid::kText}};
  if (name == "walrep_functions") return &functions;
  for (const auto& rel : CatalogColumns()) {
    if (name == rel.name) return &rel.columns;
  }
  return nullptr;
}

Result<std::vector<Row>> CatalogRelationRows(Executor& ex, SessionContext& ctx,
                                             const std::string& name) {
  const std::vector<ViewColumn>* cols = FindCatalogRelation(name);
  if (!cols) return Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", name));
  WALREP_ASSIGN_OR_RETURN(CatalogInfo info, LoadCatalog(ex, ctx));
  return RelationRows(name, *cols, info, ex, ctx);
}

uint32_t CatalogRelationOid(const std::string& name) { return CatalogRelOid(name); }

bool FindCatalogFunction(const std::string& name) { return CatalogFunctions().count(name) > 0; }

Result<ExprPtr> CompileCatalogFunction(CompileState& cs, const std::string& name,
                                       std::vector<ExprPtr> args) {
  auto it = CatalogFunctions().find(name);
  if (it == CatalogFunctions().end() || !cs.exec) return ExprPtr();
  const CatalogFunction& f = it->second;
  if (args.size() < f.min_args || args.size() > f.args.size()) return ExprPtr();
  for (size_t i = 0; i < args.size(); i++) {
    int32_t want = f.args[i];
    // Privilege functions take names or oids; both are compared as text.
    if (want == oid::kText && args[i]->type != oid::kUnknown) {
      WALREP_ASSIGN_OR_RETURN(args[i], Coerce(cs, args[i], oid::kText, true));
      continue;
    }
    WALREP_ASSIGN_OR_RETURN(args[i], Coerce(cs, args[i], want, false));
  }
  auto eval = f.eval;
  bool strict = f.strict;
  int32_t result = f.result;
  return MakeExpr(result, [args, eval, strict, result](EvalState& st) -> Result<Value> {
    std::vector<Value> vals;
    for (const auto& a : args) {
      WALREP_ASSIGN_OR_RETURN(Value v, a->eval(st));
      if (strict && v.is_null()) return Value::Null(result);
      vals.push_back(std::move(v));
    }
    return eval(st, vals);
  });
}

}  // namespace walrep::sql
