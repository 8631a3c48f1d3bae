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

Status RoleStore::Load() {
  WALREP_ASSIGN_OR_RETURN(std::string text, fs_->ReadFile(path_));
  WALREP_ASSIGN_OR_RETURN(auto roles, Deserialize(text));
  MutexLock l(&mu_);
  roles_ = std::move(roles);
  return Status::OK();
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

Status RoleStore::CreateRole(const std::string& name, const sql::RoleOptions& opts,
                             const std::string& encryption) {
  WALREP_RETURN_IF_ERROR(ValidName(name));
  MutexLock l(&mu_);
  if (roles_.count(name)) {
    return Status::Sql("42710", fmt::format("role \"{}\" already exists", name));
  }
  sql::RoleInfo r;
  r.name = name;
  Apply(&r, opts, encryption);
  auto saved = roles_;
  roles_[name] = r;
  Status st = SaveLocked();
  if (!st.ok()) roles_ = std::move(saved);
  return st;
}

Status RoleStore::AlterRole(const std::string& name, const sql::RoleOptions& opts,
                            const std::string& encryption) {
  MutexLock l(&mu_);
  auto it = roles_.find(name);
  if (it == roles_.end()) {
    return Status::Sql("42704", fmt::format("role \"{}\" does not exist", name));
  }
  auto saved = roles_;
  Apply(&it->second, opts, encryption);
  Status st = SaveLocked();
  if (!st.ok()) roles_ = std::move(saved);
  return st;
}

Status RoleStore::DropRole(const std::string& name) {
  MutexLock l(&mu_);
  auto it = roles_.find(name);
  if (it == roles_.end()) {
    return Status::Sql("42704", fmt::format("role \"{}\" does not exist", name));
  }
  auto saved = roles_;
  roles_.erase(it);
  Status st = SaveLocked();
  if (!st.ok()) roles_ = std::move(saved);
  return st;
}

std::optional<sql::RoleInfo> RoleStore::Find(const std::string& name) const {
  MutexLock l(&mu_);
  auto it = roles_.find(name);
  if (it == roles_.end()) return std::nullopt;
  return it->second;
}

Status RoleStore::SaveLocked() { return fs_->WriteFileDurably(path_, Serialize(roles_)); }

Status RoleStore::SetRoleSetting(const std::string& role, const std::string& setting,
                                 const std::optional<std::string>& value) {
  if (value && value->find_first_of("\t\n\r\x1f") != std::string::npos) {
    return Status::Sql("22023", fmt::format("invalid value for parameter \"{}\"", setting));
  }
  MutexLock l(&mu_);
  auto it = roles_.find(role);
  if (it == roles_.end()) {
    return Status::Sql("42704", fmt::format("role \"{}\" does not exist", role));
  }
  auto before = it->second.settings;
  if (setting.empty()) {
    it->second.settings.clear();
  } else if (value) {
    it->second.settings[setting] = *value;
  } else {
    it->second.settings.erase(setting);
  }
  Status st = SaveLocked();
  if (!st.ok()) it->second.settings = before;
  return st;
}

}  // namespace walrep::server
