// walrep: the system catalog (see catalog.h).
#include "walrep/catalog/catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace walrep::catalog {

namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) out += (i ? "," : "") + v[i];
  return out;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  if (s.empty()) return out;
  while (true) {
    size_t c = s.find(',', start);
    out.push_back(s.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

std::string F(const std::optional<std::string>& f) { return f.value_or(""); }

// Indexes in walrep_class: "name|relfilenode|col,col|flags|oid|constraint oid" entries joined
// by ';'; flags: 'u' unique, 'c' belongs to a constraint.
std::string EncodeIndexes(const std::vector<IndexDef>& v) {
  std::string out;
  for (const auto& i : v) {
    if (!out.empty()) out += ';';
    out += i.name + "|" + std::to_string(i.rel.rel) + "|" + Join(i.columns) + "|" +
           (i.unique ? "u" : "") + (i.constraint ? "c" : "") + "|" + std::to_string(i.oid) + "|" +
           std::to_string(i.constraint_oid);
  }
  return out;
}

std::vector<IndexDef> DecodeIndexes(const std::string& s) {
  std::vector<IndexDef> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(';', start);
    std::string one = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t a = one.find('|'), b = one.find('|', a + 1), c = one.find('|', b + 1);
    if (a != std::string::npos && b != std::string::npos && c != std::string::npos) {
      IndexDef d;
      d.name = one.substr(0, a);
      d.rel = wal::RelFileNode{1663, kDatabaseOid,
                               static_cast<uint32_t>(std::stoul(one.substr(a + 1, b - a - 1)))};
      d.columns = Split(one.substr(b + 1, c - b - 1));
      std::vector<std::string> rest;
      size_t p = c + 1;
      while (true) {
        size_t q = one.find('|', p);
        rest.push_back(one.substr(p, q == std::string::npos ? std::string::npos : q - p));
        if (q == std::string::npos) break;
        p = q + 1;
      }
      const std::string& flags = rest[0];
      d.unique = flags.find('u') != std::string::npos;
      d.constraint = flags.find('c') != std::string::npos;
      d.oid = rest.size() > 1 ? static_cast<uint32_t>(std::stoul(rest[1])) : d.rel.rel;
      d.constraint_oid = rest.size() > 2 ? static_cast<uint32_t>(std::stoul(rest[2])) : 0;
      out.push_back(d);
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// Sequences in walrep_class: "start,increment,min,max,cache,cycle,type,owner,column".
std::string EncodeSequence(const SequenceDef& d) {
  const auto& o = d.options;
  return fmt::format("{},{},{},{},{},{},{},{},{}", o.start, o.increment, o.min, o.max, o.cache,
                     o.cycle ? 1 : 0, d.type_oid, d.owner, d.owner_column);
}

Result<SequenceDef> DecodeSequence(const std::string& s) {
  std::vector<std::string> f = Split(s);
  if (f.size() != 9) return Status::Corruption("invalid sequence options in walrep_class");
  SequenceDef d;
  auto& o = d.options;
  o.start = std::stoll(f[0]);
  o.increment = std::stoll(f[1]);
  o.min = std::stoll(f[2]);
  o.max = std::stoll(f[3]);
  o.cache = std::stoll(f[4]);
  o.cycle = f[5] == "1";
  d.type_oid = std::stoi(f[6]);
  d.owner = static_cast<uint32_t>(std::stoul(f[7]));
  d.owner_column = f[8];
  return d;
}

// A transaction's own read of the catalog (TxnContext::catalog_view): what it read is what it
// would read again while its snapshot, command id and own catalog writes are unchanged.
struct TxnCatalogView {
  uint64_t writes = 0;
  access::CommandId cid = 0;
  TransactionId xmin = 0, xmax = 0;
  std::vector<TransactionId> xip;
  std::shared_ptr<const std::vector<TableDef>> tables;

  bool Serves(const access::TxnContext& tx) const {
    return writes == tx.catalog_writes && cid == tx.cid && xmin == tx.snapshot.xmin &&
           xmax == tx.snapshot.xmax && xip == tx.snapshot.xip;
  }
};

}  // namespace

int TableDef::column_index(const std::string& col) const {
  for (size_t i = 0; i < columns.size(); i++) {
    if (columns[i].name == col) return static_cast<int>(i);
  }
  return -1;
}

const SystemRelation* FindSystemRelation(std::string_view name) {
  for (const auto& s : kSystemRelations) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

const SystemRelation* FindSystemRelation(uint32_t oid) {
  for (const auto& s : kSystemRelations) {
    if (oid == s.rel.rel) return &s;
  }
  return nullptr;
}

Status Catalog::EnsureSystemRelations() {
  for (const auto& s : kSystemRelations) {
    if (!engine_->smgr().Exists(s.rel)) WALREP_RETURN_IF_ERROR(engine_->smgr().Create(s.rel));
  }
  return Status::OK();
}

Result<std::vector<std::pair<access::TupleId, access::Fields>>> Catalog::ReadRoleRows(
    access::TxnContext& tx) {
  std::vector<std::pair<access::TupleId, access::Fields>> rows;
  WALREP_RETURN_IF_ERROR(access::ForEachRow(
      engine_->env(), kAuthIdRel, tx, [&](access::TupleId tid, std::string& row) -> Status {
        WALREP_ASSIGN_OR_RETURN(access::Fields f, access::DecodeFields(row));
        rows.emplace_back(tid, std::move(f));
        return Status::OK();
      }));
  return rows;
}

Status Catalog::InsertRoleRow(access::TxnContext& tx, const access::Fields& row) {
  return access::HeapInsert(engine_->env(), kAuthIdRel, tx, access::EncodeFields(row)).status();
}

Status Catalog::DeleteRoleRow(access::TxnContext& tx, access::TupleId tid) {
  WALREP_ASSIGN_OR_RETURN(auto out, access::HeapDelete(engine_->env(), kAuthIdRel, tx, tid));
  if (out.kind != access::ModifyOutcome::kOk && out.kind != access::ModifyOutcome::kSelfModified) {
    return Status::Sql("40001", "could not serialize access due to concurrent update of a role");
  }
  return Status::OK();
}

Result<size_t> Catalog::RemoveUnreferencedFiles() {
  access::TxnContext tx;
  tx.snapshot = engine_->txm().TakeSnapshot();
  WALREP_ASSIGN_OR_RETURN(auto tables, ListTables(tx));
  std::set<uint32_t> used{kClassRel.rel, kAttributeRel.rel};
  for (const auto& t : tables) {
    used.insert(t.rel.rel);
    for (const auto& i : t.indexes) used.insert(i.rel.rel);
  }
  std::string dir = engine_->smgr().Path(wal::RelFileNode{1663, kDatabaseOid, 0});
  dir = dir.substr(0, dir.rfind('/'));
  WALREP_ASSIGN_OR_RETURN(auto names, engine_->smgr().fs()->ListDir(dir));
  std::vector<wal::RelFileNode> orphans;
  for (const auto& n : names) {
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) continue;
    uint32_t rel = static_cast<uint32_t>(std::stoul(n));
    if (!used.count(rel)) orphans.push_back(wal::RelFileNode{1663, kDatabaseOid, rel});
  }
  engine_->DropRelationFiles(orphans);
  return orphans.size();
}

Result<size_t> Catalog::PrepareUnloggedRelations(bool crashed) {
  access::TxnContext tx;
  access::AssignXidsFrom(&tx, &engine_->txm(), &engine_->locks());
  tx.snapshot = engine_->txm().TakeSnapshot();
  WALREP_ASSIGN_OR_RETURN(auto tables, ReadTables(tx));
  size_t changed = 0;
  for (const auto& t : tables) {
    if (t.logged()) continue;
    engine_->MarkUnlogged(t.rel);
    for (const auto& i : t.indexes) engine_->MarkUnlogged(i.rel);
    if (t.persistence == 't') {
      WALREP_RETURN_IF_ERROR(DropTable(tx, t));
    } else if (crashed && t.kind == 'r') {
      WALREP_RETURN_IF_ERROR(NewRelationFile(tx, t).status());
    } else {
      continue;
    }
    changed++;
  }
  if (changed == 0) {
    engine_->AbortTransaction(tx);
    return changed;
  }
  WALREP_RETURN_IF_ERROR(engine_->CommitTransaction(tx, /*flush=*/true, nullptr));
  return changed;
}

Result<std::shared_ptr<const std::vector<TableDef>>> Catalog::Tables(access::TxnContext& tx) {
  // REPEATABLE READ keeps its snapshot's catalog (a table dropped since stays readable until
  // the transaction ends); so does a transaction that changed the catalog itself.
  if (tx.catalog_written || tx.repeatable_read) {
    auto view = std::static_pointer_cast<const TxnCatalogView>(tx.catalog_view);
    if (view && view->Serves(tx)) return view->tables;
    auto fresh = std::make_shared<TxnCatalogView>();
    fresh->writes = tx.catalog_writes;
    fresh->cid = tx.cid;
    fresh->xmin = tx.snapshot.xmin;
    fresh->xmax = tx.snapshot.xmax;
    fresh->xip = tx.snapshot.xip;
    WALREP_ASSIGN_OR_RETURN(auto own, ReadTables(tx));
    fresh->tables = std::make_shared<const std::vector<TableDef>>(std::move(own));
    tx.catalog_view = fresh;
    return fresh->tables;
  }
  access::TransactionManager& txm = engine_->txm();
  uint64_t version = txm.catalog_version();
  {
    MutexLock l(&cache_mu_);
    if (cache_ && cache_version_ == version) return cache_;
  }
  // Read with a snapshot taken after the version: every change the version does not count yet
  // bumps it again when it becomes visible, so the cache can only be too old by a version.
  access::TxnContext fresh;
  fresh.snapshot = txm.TakeSnapshot();
  WALREP_ASSIGN_OR_RETURN(auto tables, ReadTables(fresh));
  auto shared = std::make_shared<const std::vector<TableDef>>(std::move(tables));
  MutexLock l(&cache_mu_);
  cache_ = shared;
  cache_version_ = version;
  return shared;
}

Result<std::vector<TableDef>> Catalog::ListTables(access::TxnContext& tx) {
  WALREP_ASSIGN_OR_RETURN(auto tables, Tables(tx));
  return *tables;
}

Result<std::vector<TableDef>> Catalog::ReadTables(access::TxnContext& tx) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  std::map<uint32_t, TableDef> tables;
  WALREP_RETURN_IF_ERROR(access::ForEachRow(
      engine_->env(), kClassRel, tx, [&](access::TupleId, std::string& row) -> Status {
        WALREP_ASSIGN_OR_RETURN(access::Fields f, access::DecodeFields(row));
        if (f.size() < 5) return Status::Corruption("invalid walrep_class row");
        TableDef t;
        t.oid = static_cast<uint32_t>(std::stoul(F(f[0])));
        t.name = F(f[1]);
        t.rel = wal::RelFileNode{1663, kDatabaseOid, static_cast<uint32_t>(std::stoul(F(f[2])))};
        t.kind = F(f[3]) == "S" ? 'S' : 'r';
        if (t.kind == 'S' && f.size() > 6) {
          WALREP_ASSIGN_OR_RETURN(t.sequence, DecodeSequence(F(f[6])));
        }
        t.primary_key = Split(F(f[4]));
        if (f.size() > 5) t.indexes = DecodeIndexes(F(f[5]));
        if (f.size() > 7 && !F(f[7]).empty()) {
          std::string p = F(f[7]);
          t.persistence = p[0];
          if (t.persistence == 't') t.temp_owner = std::stoi(p.substr(1));
        }
        if (f.size() > 8 && !F(f[8]).empty())
          t.type_oid = static_cast<uint32_t>(std::stoul(F(f[8])));
        tables[t.oid] = std::move(t);
        return Status::OK();
      }));
  std::map<uint32_t, std::map<int, ColumnDef>> cols;
  WALREP_RETURN_IF_ERROR(access::ForEachRow(
      engine_->env(), kAttributeRel, tx, [&](access::TupleId, std::string& row) -> Status {
        WALREP_ASSIGN_OR_RETURN(access::Fields f, access::DecodeFields(row));
        if (f.size() < 7) return Status::Corruption("invalid walrep_attribute row");
        ColumnDef c;
        c.name = F(f[2]);
        c.type_oid = std::stoi(F(f[3]));
        c.typmod = std::stoi(F(f[4]));
        c.not_null = F(f[5]) == "t";
        c.default_expr = F(f[6]);
        if (f.size() > 7) c.missing = f[7];
        cols[static_cast<uint32_t>(std::stoul(F(f[0])))][std::stoi(F(f[1]))] = c;
        return Status::OK();
      }));
  std::vector<TableDef> out;
  for (auto& [oid, t] : tables) {
    for (auto& [attnum, c] : cols[oid]) t.columns.push_back(c);
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::optional<TableDef>> Catalog::GetTable(access::TxnContext& tx, const std::string& name,
                                                  access::LockMode mode) {
  // As RangeVarGetRelidExtended: look up, lock, and look up again if a transaction that changed
  // the catalog ended meanwhile (the table may be gone, altered or another one by now).
  while (true) {
    uint64_t version = engine_->txm().catalog_version();
    WALREP_ASSIGN_OR_RETURN(auto tables, Tables(tx));
    // The session's own temporary table of that name comes first (pg_temp leads the
    // search_path); other sessions' temporary tables are not visible.
    const TableDef* match = nullptr;
    for (const auto& t : *tables) {
      if (t.name != name) continue;
      if (t.persistence == 't') {
        if (t.temp_owner != tx.temp_owner || tx.temp_owner == 0) continue;
        match = &t;
        break;
      }
      if (!match) match = &t;
    }
    std::optional<TableDef> found;
    if (match) found = *match;  // copies only the table asked for
    if (!found || mode == access::LockMode::kNoLock) return found;
    WALREP_RETURN_IF_ERROR(
        access::LockRelation(engine_->env(), tx, kDatabaseOid, found->oid, mode));
    if (engine_->txm().catalog_version() == version) return found;
  }
}

Status Catalog::InsertRows(access::TxnContext& tx, const TableDef& def) {
  access::Fields cls{
      std::to_string(def.oid),
      def.name,
      std::to_string(def.rel.rel),
      std::string(1, def.kind),
      Join(def.primary_key),
      EncodeIndexes(def.indexes),
      def.kind == 'S' ? EncodeSequence(def.sequence) : std::string(),
      def.persistence == 't' ? fmt::format("t{}", def.temp_owner) : std::string(1, def.persistence),
      std::to_string(def.type_oid)};
  WALREP_RETURN_IF_ERROR(
      access::HeapInsert(engine_->env(), kClassRel, tx, access::EncodeFields(cls)).status());
  for (size_t i = 0; i < def.columns.size(); i++) {
    const ColumnDef& c = def.columns[i];
    access::Fields att{std::to_string(def.oid),
                       std::to_string(i + 1),
                       c.name,
                       std::to_string(c.type_oid),
                       std::to_string(c.typmod),
                       std::string(c.not_null ? "t" : "f"),
                       c.default_expr,
                       c.missing};
    WALREP_RETURN_IF_ERROR(
        access::HeapInsert(engine_->env(), kAttributeRel, tx, access::EncodeFields(att)).status());
  }
  return Status::OK();
}

Status Catalog::DeleteRows(access::TxnContext& tx, uint32_t oid) {
  for (const auto& rel : {kClassRel, kAttributeRel, kAuthIdRel}) {
    std::vector<access::TupleId> victims;
    WALREP_RETURN_IF_ERROR(access::ForEachRow(
        engine_->env(), rel, tx, [&](access::TupleId tid, std::string& row) -> Status {
          WALREP_ASSIGN_OR_RETURN(access::Fields f, access::DecodeFields(row));
          if (!f.empty() && F(f[0]) == std::to_string(oid)) victims.push_back(tid);
          return Status::OK();
        }));
    for (const auto& tid : victims) {
      WALREP_ASSIGN_OR_RETURN(auto out, access::HeapDelete(engine_->env(), rel, tx, tid));
      if (out.kind != access::ModifyOutcome::kOk &&
          out.kind != access::ModifyOutcome::kSelfModified) {
        return Status::Sql("40001", "could not serialize access due to concurrent catalog update");
      }
    }
  }
  return Status::OK();
}

Result<TableDef> Catalog::CreateTable(access::TxnContext& tx, TableDef def) {
  WALREP_ASSIGN_OR_RETURN(def.oid, engine_->NewOid());
  WALREP_ASSIGN_OR_RETURN(def.type_oid, engine_->NewOid());
  def.rel = wal::RelFileNode{1663, kDatabaseOid, def.oid};
  if (!def.logged()) engine_->MarkUnlogged(def.rel);
  // The file exists (durably) before any catalog row or WAL record names it.
  WALREP_RETURN_IF_ERROR(engine_->smgr().Create(def.rel));
  tx.created_rels.push_back(def.rel);
  for (auto& idx : def.indexes) {
    WALREP_RETURN_IF_ERROR(CreateIndexFile(tx, &idx, {}, def.logged()));
  }
  WALREP_RETURN_IF_ERROR(InsertRows(tx, def));
  return def;
}

Result<TableDef> Catalog::CreateSequence(access::TxnContext& tx, TableDef def) {
  def.kind = 'S';
  WALREP_ASSIGN_OR_RETURN(def.oid, engine_->NewOid());
  def.rel = wal::RelFileNode{1663, kDatabaseOid, def.oid};
  WALREP_RETURN_IF_ERROR(engine_->smgr().Create(def.rel));
  tx.created_rels.push_back(def.rel);
  WALREP_RETURN_IF_ERROR(access::SequenceInit(engine_->env(), def.rel, def.sequence.options.start));
  WALREP_RETURN_IF_ERROR(InsertRows(tx, def));
  return def;
}

Status Catalog::DropTable(access::TxnContext& tx, const TableDef& def) {
  DropFiles(tx, def);
  return DeleteRows(tx, def.oid);
}

void Catalog::DropFiles(access::TxnContext& tx, const TableDef& def) {
  tx.dropped_rels.push_back(def.rel);
  for (const auto& idx : def.indexes) tx.dropped_rels.push_back(idx.rel);
}

Status Catalog::AlterTable(access::TxnContext& tx, const TableDef& def) {
  WALREP_RETURN_IF_ERROR(DeleteRows(tx, def.oid));
  return InsertRows(tx, def);
}

Status Catalog::CreateIndexFile(access::TxnContext& tx, IndexDef* index,
                                std::vector<std::pair<std::string, access::TupleId>> entries,
                                bool logged) {
  WALREP_ASSIGN_OR_RETURN(uint32_t relfile, engine_->NewOid());
  index->rel = wal::RelFileNode{1663, kDatabaseOid, relfile};
  // The index keeps its oid (and its constraint's) when TRUNCATE gives it a new file.
  if (index->oid == 0) index->oid = relfile;
  if (index->constraint && index->constraint_oid == 0) {
    WALREP_ASSIGN_OR_RETURN(index->constraint_oid, engine_->NewOid());
  }
  if (!logged) engine_->MarkUnlogged(index->rel);
  WALREP_RETURN_IF_ERROR(engine_->smgr().Create(index->rel));
  tx.created_rels.push_back(index->rel);
  return engine_->index(index->rel)->Build(std::move(entries));
}

Result<TableDef> Catalog::AddIndex(access::TxnContext& tx, const TableDef& def, IndexDef index,
                                   std::vector<std::pair<std::string, access::TupleId>> entries) {
  WALREP_RETURN_IF_ERROR(CreateIndexFile(tx, &index, std::move(entries), def.logged()));
  TableDef t = def;
  t.indexes.push_back(index);
  WALREP_RETURN_IF_ERROR(AlterTable(tx, t));
  return t;
}

Result<TableDef> Catalog::NewRelationFile(access::TxnContext& tx, const TableDef& def) {
  TableDef t = def;
  DropFiles(tx, def);
  WALREP_ASSIGN_OR_RETURN(uint32_t relfile, engine_->NewOid());
  t.rel = wal::RelFileNode{1663, kDatabaseOid, relfile};
  if (!t.logged()) engine_->MarkUnlogged(t.rel);
  WALREP_RETURN_IF_ERROR(engine_->smgr().Create(t.rel));
  tx.created_rels.push_back(t.rel);
  for (auto& idx : t.indexes) WALREP_RETURN_IF_ERROR(CreateIndexFile(tx, &idx, {}, t.logged()));
  WALREP_RETURN_IF_ERROR(AlterTable(tx, t));
  return t;
}

}  // namespace walrep::catalog
