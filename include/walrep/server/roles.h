// walrep: the role store — CREATE/ALTER/DROP ROLE and login lookups.
//
// Roles live in memory and in global/walrep_roles, rewritten durably (write, fsync, rename,
// fsync directory) on every change before the change is acknowledged. Passwords are kept only
// as md5 or SCRAM-SHA-256 verifiers. The storage issue moves roles into the catalog so they
// replicate; the interface stays.
// Thread safety: thread-safe (one mutex; file I/O happens under it, roles change rarely).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "walrep/common/mutex.h"
#include "walrep/io/file_system.h"
#include "walrep/sql/session_context.h"

namespace walrep::server {

class RoleStore : public sql::RoleManager {
 public:
  // `fs` must outlive the store. `path` is the roles file.
  RoleStore(io::FileSystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}

  Status Load();
  // Used by initialization: writes a file with a single superuser.
  static Status Initialize(io::FileSystem* fs, const std::string& path,
                           const std::string& superuser,
                           const std::optional<std::string>& password);

  Status CreateRole(const std::string& name, const sql::RoleOptions& opts,
                    const std::string& encryption) override;
  Status AlterRole(const std::string& name, const sql::RoleOptions& opts,
                   const std::string& encryption) override;
  Status DropRole(const std::string& name) override;
  Status SetRoleSetting(const std::string& role, const std::string& setting,
                        const std::optional<std::string>& value) override;
  std::optional<sql::RoleInfo> Find(const std::string& name) const override;

  static std::string Serialize(const std::map<std::string, sql::RoleInfo>& roles);
  static Result<std::map<std::string, sql::RoleInfo>> Deserialize(const std::string& text);

 private:
  Status SaveLocked() REQUIRES(mu_);
  static void Apply(sql::RoleInfo* r, const sql::RoleOptions& o, const std::string& encryption);

  io::FileSystem* const fs_;
  const std::string path_;
  mutable Mutex mu_;
  std::map<std::string, sql::RoleInfo> roles_ GUARDED_BY(mu_);
};

}  // namespace walrep::server
