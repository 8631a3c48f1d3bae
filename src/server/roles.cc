// walrep: the role store (see roles.h).
//
// File format, one role per line, tab separated:
//   name  login  superuser  replication  createdb  createrole  inherit  connlimit  verifier
//   [settings]
// Booleans are 0/1; the verifier is empty when the role has no password. Settings (ALTER ROLE
// ... SET) are name=value pairs separated by 0x1F. Role names and values cannot contain tabs,
// newlines or 0x1F (walrep refuses them).
#include "walrep/server/roles.h"

#include <fmt/format.h>

#include <algorithm>

#include "walrep/common/strings.h"
#include "walrep/protocol/auth.h"

namespace walrep::server {

namespace {
Status ValidName(const std::string& name) {
  if (name.empty() || name.find_first_of("\t\n\r") != std::string::npos) {
    return Status::Sql("42602", fmt::format("invalid role name \"{}\"", name));
  }
  if (name.rfind("pg_", 0) == 0) {
    return Status::Sql("42939", fmt::format("role name \"{}\" is reserved", name))
        .WithDetail("Role names starting with \"pg_\" are reserved.");
  }
  return Status::OK();
}
}  // namespace

std::string RoleStore::Serialize(const std::map<std::string, sql::RoleInfo>& roles) {
  std::string out;
  for (const auto& [name, r] : roles) {
    std::string settings;
    for (const auto& [k, v] : r.settings) {
      if (!settings.empty()) settings += '\x1f';
      settings += k + "=" + v;
    }
    out += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", r.name, int(r.login),
                       int(r.superuser), int(r.replication), int(r.createdb), int(r.createrole),
                       int(r.inherit), r.connection_limit, r.password, settings);
  }
  return out;
}

Result<std::map<std::string, sql::RoleInfo>> RoleStore::Deserialize(const std::string& text) {
  std::map<std::string, sql::RoleInfo> roles;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    line_no++;
    if (line.empty()) continue;
    std::vector<std::string> f;
    size_t s = 0;
    while (true) {
      size_t t = line.find('\t', s);
      f.push_back(line.substr(s, t == std::string::npos ? std::string::npos : t - s));
      if (t == std::string::npos) break;
      s = t + 1;
    }
    if (f.size() != 9 && f.size() != 10) {
      return Status::Corruption(fmt::format("invalid role file line {}", line_no));
    }
    sql::RoleInfo r;
    r.name = f[0];
    r.login = f[1] == "1";
    r.superuser = f[2] == "1";
    r.replication = f[3] == "1";
    r.createdb = f[4] == "1";
    r.createrole = f[5] == "1";
    r.inherit = f[6] == "1";
    r.connection_limit = std::atoi(f[7].c_str());
    r.password = f[8];
    if (f.size() == 10) {
      size_t p = 0;
      while (p < f[9].size()) {
        size_t e = f[9].find('\x1f', p);
        std::string kv = f[9].substr(p, e == std::string::npos ? std::string::npos : e - p);
        p = e == std::string::npos ? f[9].size() : e + 1;
        size_t eq = kv.find('=');
        if (eq != std::string::npos) r.settings[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    roles[r.name] = r;
  }
  return roles;
}

namespace {

access::Fields EncodeRole(const sql::RoleInfo& r) {
  std::string settings;
  for (const auto& [k, v] : r.settings) {
    if (!settings.empty()) settings += '\x1f';
    settings += k + "=" + v;
  }
  auto b = [](bool v) { return std::string(v ? "t" : "f"); };
  return access::Fields{
      r.name,        b(r.login),      b(r.superuser),       b(r.replication),
      b(r.createdb), b(r.createrole), b(r.inherit),         std::to_string(r.connection_limit),
      r.password,    settings,        std::to_string(r.oid)};
}

Result<sql::RoleInfo> DecodeRole(const access::Fields& f) {
  if (f.size() != 10 && f.size() != 11) return Status::Corruption("invalid walrep_authid row");
  auto s = [&](size_t i) { return f[i].value_or(""); };
  sql::RoleInfo r;
  r.name = s(0);
  r.login = s(1) == "t";
  r.superuser = s(2) == "t";
  r.replication = s(3) == "t";
  r.createdb = s(4) == "t";
  r.createrole = s(5) == "t";
  r.inherit = s(6) == "t";
  r.connection_limit = std::atoi(s(7).c_str());
  r.password = s(8);
  std::string settings = s(9);
  size_t p = 0;
  while (p < settings.size()) {
    size_t e = settings.find('\x1f', p);
    std::string kv = settings.substr(p, e == std::string::npos ? std::string::npos : e - p);
    p = e == std::string::npos ? settings.size() : e + 1;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) r.settings[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (f.size() > 10) r.oid = static_cast<uint32_t>(std::strtoul(s(10).c_str(), nullptr, 10));
  return r;
}

}  // namespace

Status RoleStore::Attach(access::Engine* engine, catalog::Catalog* catalog, bool writable) {
  engine_ = engine;
  catalog_ = catalog;
  if (!writable || !fs_->Exists(legacy_path_)) return Status::OK();
  WALREP_ASSIGN_OR_RETURN(std::string text, fs_->ReadFile(legacy_path_));
  WALREP_ASSIGN_OR_RETURN(auto roles, Deserialize(text));
  access::TransactionManager& txm = engine_->txm();
  access::TxnContext tx;
  tx.snapshot = txm.TakeSnapshot();
  access::AssignXidsFrom(&tx, &txm);
  for (auto& [name, role] : roles) {
    WALREP_ASSIGN_OR_RETURN(auto existing, FindRow(tx, name));
    if (existing) continue;
    // The superuser init made is PostgreSQL's bootstrap superuser, oid 10.
    if (role.oid == 0 && role.superuser && roles.size() == 1) role.oid = 10;
    if (role.oid == 0) {
      WALREP_ASSIGN_OR_RETURN(role.oid, engine_->NewOid());
    }
    WALREP_RETURN_IF_ERROR(Write(tx, nullptr, role));
  }
  WALREP_RETURN_IF_ERROR(engine_->CommitTransaction(tx, /*flush=*/true, nullptr));
  // The roles are durable in the catalog: the file goes.
  WALREP_RETURN_IF_ERROR(fs_->Remove(legacy_path_));
  return fs_->SyncDir(legacy_path_.substr(0, legacy_path_.rfind('/')));
}

Result<std::optional<RoleStore::Row>> RoleStore::FindRow(access::TxnContext& tx,
                                                         const std::string& name) const {
  if (!catalog_) return std::optional<Row>();
  WALREP_ASSIGN_OR_RETURN(auto rows, catalog_->ReadRoleRows(tx));
  for (auto& [tid, f] : rows) {
    if (f.empty() || f[0].value_or("") != name) continue;
    WALREP_ASSIGN_OR_RETURN(sql::RoleInfo r, DecodeRole(f));
    return std::optional<Row>(Row{tid, std::move(r)});
  }
  return std::optional<Row>();
}

Status RoleStore::Write(access::TxnContext& tx, const Row* old, const sql::RoleInfo& role) {
  if (old) WALREP_RETURN_IF_ERROR(catalog_->DeleteRoleRow(tx, old->tid));
  return catalog_->InsertRoleRow(tx, EncodeRole(role));
}

Status RoleStore::Initialize(io::FileSystem* fs, const std::string& path,
                             const std::string& superuser,
                             const std::optional<std::string>& password) {
  sql::RoleInfo r;
  r.name = superuser;
  r.login = r.superuser = r.replication = r.createdb = r.createrole = true;
  if (password) r.password = protocol::NewScramVerifier(*password);
  return fs->WriteFileDurably(path, Serialize({{superuser, r}}));
}

void RoleStore::Apply(sql::RoleInfo* r, const sql::RoleOptions& o, const std::string& encryption) {
  if (o.login) r->login = *o.login;
  if (o.superuser) r->superuser = *o.superuser;
  if (o.replication) r->replication = *o.replication;
  if (o.createdb) r->createdb = *o.createdb;
  if (o.createrole) r->createrole = *o.createrole;
  if (o.inherit) r->inherit = *o.inherit;
  if (o.connection_limit) r->connection_limit = *o.connection_limit;
  if (o.password_given) {
    if (!o.password || o.password->empty()) {
      r->password.clear();
    } else if (protocol::IsMd5Verifier(*o.password) || protocol::IsScramVerifier(*o.password)) {
      r->password = *o.password;  // already a verifier, as PostgreSQL accepts
    } else if (encryption == "md5") {
      r->password = protocol::Md5Verifier(*o.password, r->name);
    } else {
      r->password = protocol::NewScramVerifier(*o.password);
    }
  }
}

Status RoleStore::CreateRole(access::TxnContext& tx, const std::string& name,
                             const sql::RoleOptions& opts, const std::string& encryption) {
  WALREP_RETURN_IF_ERROR(ValidName(name));
  WALREP_ASSIGN_OR_RETURN(auto existing, FindRow(tx, name));
  if (existing) return Status::Sql("42710", fmt::format("role \"{}\" already exists", name));
  sql::RoleInfo r;
  r.name = name;
  WALREP_ASSIGN_OR_RETURN(r.oid, engine_->NewOid());
  Apply(&r, opts, encryption);
  return Write(tx, nullptr, r);
}

Result<std::vector<sql::RoleInfo>> RoleStore::List(access::TxnContext& tx) {
  std::vector<sql::RoleInfo> out;
  if (!catalog_) return out;
  WALREP_ASSIGN_OR_RETURN(auto rows, catalog_->ReadRoleRows(tx));
  for (auto& [tid, f] : rows) {
    WALREP_ASSIGN_OR_RETURN(sql::RoleInfo r, DecodeRole(f));
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const sql::RoleInfo& a, const sql::RoleInfo& b) { return a.oid < b.oid; });
  return out;
}

Status RoleStore::AlterRole(access::TxnContext& tx, const std::string& name,
                            const sql::RoleOptions& opts, const std::string& encryption) {
  WALREP_ASSIGN_OR_RETURN(auto row, FindRow(tx, name));
  if (!row) return Status::Sql("42704", fmt::format("role \"{}\" does not exist", name));
  sql::RoleInfo r = row->role;
  Apply(&r, opts, encryption);
  return Write(tx, &*row, r);
}

Status RoleStore::DropRole(access::TxnContext& tx, const std::string& name) {
  WALREP_ASSIGN_OR_RETURN(auto row, FindRow(tx, name));
  if (!row) return Status::Sql("42704", fmt::format("role \"{}\" does not exist", name));
  return catalog_->DeleteRoleRow(tx, row->tid);
}

Result<std::optional<sql::RoleInfo>> RoleStore::Find(access::TxnContext& tx,
                                                     const std::string& name) {
  WALREP_ASSIGN_OR_RETURN(auto row, FindRow(tx, name));
  if (!row) return std::optional<sql::RoleInfo>();
  return std::optional<sql::RoleInfo>(std::move(row->role));
}

std::optional<sql::RoleInfo> RoleStore::Find(const std::string& name) const {
  if (!catalog_) return std::nullopt;
  access::TxnContext tx;
  tx.snapshot = engine_->txm().TakeSnapshot();
  auto row = FindRow(tx, name);
  if (!row.ok() || !*row) return std::nullopt;
  return (*row)->role;
}

Status RoleStore::SetRoleSetting(access::TxnContext& tx, const std::string& role,
                                 const std::string& setting,
                                 const std::optional<std::string>& value) {
  if (value && value->find_first_of("\t\n\r\x1f") != std::string::npos) {
    return Status::Sql("22023", fmt::format("invalid value for parameter \"{}\"", setting));
  }
  WALREP_ASSIGN_OR_RETURN(auto row, FindRow(tx, role));
  if (!row) return Status::Sql("42704", fmt::format("role \"{}\" does not exist", role));
  sql::RoleInfo r = row->role;
  if (setting.empty()) {
    r.settings.clear();
  } else if (value) {
    r.settings[setting] = *value;
  } else {
    r.settings.erase(setting);
  }
  return Write(tx, &*row, r);
}

}  // namespace walrep::server
