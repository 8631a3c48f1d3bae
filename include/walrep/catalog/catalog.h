// walrep: the system catalog — tables and their columns, stored in heap relations so that
// they are WAL-logged, crash-safe, transactional (a rolled-back CREATE TABLE leaves nothing
// visible) and replicated like any data.
//
// Relations (database 5, like PostgreSQL's "postgres"):
//   walrep_class     (relfilenode 1259): oid, name, relfilenode, kind ('r' table, 'S' sequence),
//                                        primary key, indexes, sequence options, persistence,
//                                        row type oid
//   walrep_attribute (relfilenode 1249): table oid, attnum, name, type oid, typmod, not null,
//                                        default expression (SQL text), missing value
// Rows are encoded with access::EncodeFields, values as text. Lookups read the catalog with the
// caller's snapshot, so DDL follows MVCC like everything else.
// Thread safety: thread-safe; per-call transaction context.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "walrep/access/engine.h"
#include "walrep/access/sequence.h"

namespace walrep::catalog {

constexpr uint32_t kDatabaseOid = 5;
inline const wal::RelFileNode kClassRel{1663, kDatabaseOid, 1259};
inline const wal::RelFileNode kAttributeRel{1663, kDatabaseOid, 1249};
// Roles, shared by the cluster like PostgreSQL's pg_authid (global/1260); the server's role
// store encodes their rows.
inline const wal::RelFileNode kAuthIdRel{1664, 0, 1260};

// The relations above, by the names PostgreSQL gives their counterparts (their oids are the
// relation file numbers). DDL and role changes leave dead rows in them as DML does in a table,
// so VACUUM and autovacuum clean them too; their rows are read through the catalog only.
struct SystemRelation {
  const char* name;  // "pg_class"
  wal::RelFileNode rel;
};
inline const SystemRelation kSystemRelations[] = {
    {"pg_class", kClassRel}, {"pg_attribute", kAttributeRel}, {"pg_authid", kAuthIdRel}};
// The system relation named `name` or with oid `oid`; null if none is.
const SystemRelation* FindSystemRelation(std::string_view name);
const SystemRelation* FindSystemRelation(uint32_t oid);

struct ColumnDef {
  std::string name;
  int32_t type_oid = 25;
  int32_t typmod = -1;
  bool not_null = false;
  std::string default_expr;  // SQL text; empty = none
  // The value rows written before ADD COLUMN read (the default then); none = NULL.
  std::optional<std::string> missing;
};

struct IndexDef {
  std::string name;
  wal::RelFileNode rel;
  std::vector<std::string> columns;
  bool unique = false;
  bool constraint = false;      // made by PRIMARY KEY or UNIQUE: DROP INDEX refuses it (2BP01)
  uint32_t oid = 0;             // pg_class.oid of the index (its first relfilenode)
  uint32_t constraint_oid = 0;  // pg_constraint.oid when `constraint`
};

// A sequence's definition (its current value lives in its relation's page).
struct SequenceDef {
  access::SequenceOptions options;
  int32_t type_oid = 20;  // AS smallint | integer | bigint
  uint32_t owner = 0;     // OWNED BY: the table's oid (0 = none); dropped with it
  std::string owner_column;
};

struct TableDef {
  uint32_t oid = 0;
  char kind = 'r';  // 'r' table, 'S' sequence (one namespace, as pg_class)
  std::string name;
  wal::RelFileNode rel;
  std::vector<ColumnDef> columns;
  std::vector<std::string> primary_key;  // column names
  std::vector<IndexDef> indexes;
  SequenceDef sequence;  // kind 'S'
  // pg_class.relpersistence: 'p' permanent, 'u' unlogged (not WAL-logged, emptied after a
  // crash, empty on standbys), 't' temporary (also: seen only by the session `temp_owner`).
  char persistence = 'p';
  int32_t temp_owner = 0;
  uint32_t type_oid = 0;  // pg_type.oid of a table's row type (pg_class.reltype)
  bool logged() const { return persistence == 'p'; }
  int column_index(const std::string& col) const;
};

class Catalog {
 public:
  explicit Catalog(access::Engine* engine) : engine_(engine) {}

  // Creates the catalog relation files when they do not exist yet.
  Status EnsureSystemRelations();
  // walrep_authid rows visible to tx, and their changes (as part of tx).
  Result<std::vector<std::pair<access::TupleId, access::Fields>>> ReadRoleRows(
      access::TxnContext& tx);
  Status InsertRoleRow(access::TxnContext& tx, const access::Fields& row);
  Status DeleteRoleRow(access::TxnContext& tx, access::TupleId tid);
  // At startup, before any transaction: removes relation files that no committed catalog row
  // names (left by crashed transactions). Returns how many.
  Result<size_t> RemoveUnreferencedFiles();
  // Before a primary accepts sessions (at startup, and at the end of a promotion): the unlogged
  // relations are marked as such (their changes are not WAL-logged), temporary tables — whose
  // sessions are gone — are dropped, and when `crashed` (crash recovery, or a promotion)
  // unlogged tables get new empty files, as PostgreSQL's init forks do; in one transaction.
  // Returns how many tables were dropped or emptied.
  Result<size_t> PrepareUnloggedRelations(bool crashed);

  // READ COMMITTED lookups read the catalog as last committed (what a new statement snapshot
  // sees), from a cache rebuilt when a transaction that changed the catalog ends; REPEATABLE
  // READ, and a transaction that changed the catalog itself, read it with their own snapshot.
  // `mode`: the lock tx takes on the table found (held to the end of tx), after which the
  // definition returned is current.
  Result<std::optional<TableDef>> GetTable(access::TxnContext& tx, const std::string& name,
                                           access::LockMode mode);
  Result<std::vector<TableDef>> ListTables(access::TxnContext& tx);
  // Assigns the oid and relation file; creates the files of the table and of each of
  // def.indexes (empty); inserts the catalog rows.
  Result<TableDef> CreateTable(access::TxnContext& tx, TableDef def);
  // CREATE SEQUENCE: assigns the oid and relation file, whose page gets the start value.
  Result<TableDef> CreateSequence(access::TxnContext& tx, TableDef def);
  // Drops a table or a sequence (a table's owned sequences are the caller's to drop).
  Status DropTable(access::TxnContext& tx, const TableDef& def);
  // Rewrites a table's catalog rows (ALTER TABLE); the relation file stays.
  Status AlterTable(access::TxnContext& tx, const TableDef& def);
  // CREATE INDEX: a new index relation, built from `entries` (encoded key, heap tid).
  Result<TableDef> AddIndex(access::TxnContext& tx, const TableDef& def, IndexDef index,
                            std::vector<std::pair<std::string, access::TupleId>> entries);
  // TRUNCATE: the table (and each index) gets a new, empty relation file.
  Result<TableDef> NewRelationFile(access::TxnContext& tx, const TableDef& def);

  // How many times the catalog relations were read (a lookup no cache could serve).
  uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }

 private:
  // A new relation file for the index (index->rel is set), built from entries.
  Status CreateIndexFile(access::TxnContext& tx, IndexDef* index,
                         std::vector<std::pair<std::string, access::TupleId>> entries,
                         bool logged = true);
  // The table's files (and its indexes') go when tx commits.
  static void DropFiles(access::TxnContext& tx, const TableDef& def);
  Status InsertRows(access::TxnContext& tx, const TableDef& def);
  Result<std::vector<TableDef>> ReadTables(access::TxnContext& tx);  // no cache
  // The tables tx sees: the shared cache, or its own read (see GetTable).
  Result<std::shared_ptr<const std::vector<TableDef>>> Tables(access::TxnContext& tx);
  Status DeleteRows(access::TxnContext& tx, uint32_t oid);
  access::Engine* const engine_;
  std::atomic<uint64_t> reads_{0};
  Mutex cache_mu_;
  uint64_t cache_version_ GUARDED_BY(cache_mu_) = ~0ull;
  std::shared_ptr<const std::vector<TableDef>> cache_ GUARDED_BY(cache_mu_);
};

}  // namespace walrep::catalog
