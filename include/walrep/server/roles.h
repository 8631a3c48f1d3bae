// walrep: the role store — CREATE/ALTER/DROP ROLE and login lookups.
//
// Roles are rows of the catalog relation walrep_authid (global/1260, like PostgreSQL's
// pg_authid), so they are transactional, crash-safe and replicated to standbys like any data.
// Passwords are kept only as md5 or SCRAM-SHA-256 verifiers. `walrepctl init` writes the first
// superuser to global/walrep_roles (no engine runs at init); a primary moves that file's roles
// into the catalog at its first start and removes it.
// Thread safety: thread-safe (reads and writes go through transactions).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "walrep/access/engine.h"
#include "walrep/catalog/catalog.h"
#include "walrep/io/file_system.h"
#include "walrep/sql/session_context.h"

namespace walrep::server {

class RoleStore : public sql::RoleManager {
 public:
  // `fs` must outlive the store. `legacy_path` is global/walrep_roles.
  RoleStore(io::FileSystem* fs, std::string legacy_path)
      : fs_(fs), legacy_path_(std::move(legacy_path)) {}

  // Used by initialization: writes the file with a single superuser.
  static Status Initialize(io::FileSystem* fs, const std::string& path,
                           const std::string& superuser,
                           const std::optional<std::string>& password);
  // Once the engine runs: roles are read from and written to the catalog. A primary
  // (`writable`) first moves the roles of global/walrep_roles into it, durably, then removes
  // the file.
  Status Attach(access::Engine* engine, catalog::Catalog* catalog, bool writable);

  Status CreateRole(access::TxnContext& tx, const std::string& name, const sql::RoleOptions& opts,
                    const std::string& encryption) override;
  Status AlterRole(access::TxnContext& tx, const std::string& name, const sql::RoleOptions& opts,
                   const std::string& encryption) override;
  Status DropRole(access::TxnContext& tx, const std::string& name) override;
  Status SetRoleSetting(access::TxnContext& tx, const std::string& role, const std::string& setting,
                        const std::optional<std::string>& value) override;
  Result<std::optional<sql::RoleInfo>> Find(access::TxnContext& tx,
                                            const std::string& name) override;
  std::optional<sql::RoleInfo> Find(const std::string& name) const override;
  Result<std::vector<sql::RoleInfo>> List(access::TxnContext& tx) override;

  // The walrep_roles file format (one role per line, tab separated).
  static std::string Serialize(const std::map<std::string, sql::RoleInfo>& roles);
  static Result<std::map<std::string, sql::RoleInfo>> Deserialize(const std::string& text);

 private:
  struct Row {
    access::TupleId tid;
    sql::RoleInfo role;
  };
  Result<std::optional<Row>> FindRow(access::TxnContext& tx, const std::string& name) const;
  // Replaces the role's row (or inserts it when `old` is null).
  Status Write(access::TxnContext& tx, const Row* old, const sql::RoleInfo& role);
  static void Apply(sql::RoleInfo* r, const sql::RoleOptions& o, const std::string& encryption);

  io::FileSystem* const fs_;
  const std::string legacy_path_;
  access::Engine* engine_ = nullptr;
  catalog::Catalog* catalog_ = nullptr;
};

}  // namespace walrep::server
