// walrep: parse (libpg_query, the PostgreSQL 15 grammar), plan and execute SQL statements.
//
// ParseSql() splits a query string into statements. Executor::Prepare() analyses one statement
// (types of parameters and result columns are known afterwards, for Describe), and Execute()
// runs it with bound parameters, returning a result set independent of the wire protocol.
// The Executor also keeps the session's transaction-block state (idle / in block / failed).
// Statements libpg_query parses but walrep does not implement fail with 0A000 naming them.
// Thread safety: an Executor belongs to one session thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "walrep/access/engine.h"
#include "walrep/catalog/catalog.h"
#include "walrep/common/status.h"
#include "walrep/common/time.h"
#include "walrep/sql/registry.h"
#include "walrep/sql/session_context.h"
#include "walrep/sql/value.h"

namespace walrep::sql {

class ParsedStatement;  // one statement of a parsed string (opaque; owns its parse tree)
class PreparedStatement;
class Prepared;       // sql_internal.h
class ExecResources;  // spill.h

struct ColumnDesc {
  std::string name;
  int32_t type = oid::kText;
  int32_t typmod = -1;
  int32_t table_oid = 0;
  int16_t attnum = 0;
};

// COPY ... FROM STDIN: the session feeds CopyData payloads, then finishes or fails.
class CopyIn {
 public:
  virtual ~CopyIn() = default;
  virtual int columns() const = 0;
  virtual Status Feed(std::string_view data) = 0;
  virtual Result<uint64_t> Finish() = 0;  // rows loaded
};

// The rows of a result, produced as they are pulled: a SELECT's plan runs while the session
// sends its rows, so neither side holds the whole result. Valid until the transaction ends.
class RowStream {
 public:
  virtual ~RowStream() = default;
  // The next row; false at the end. An error ends the statement.
  virtual Result<bool> Next(Row* row) = 0;
};

struct ExecResult {
  bool returns_rows = false;
  std::vector<ColumnDesc> columns;
  std::shared_ptr<RowStream> rows;  // when returns_rows
  // CommandComplete tag, e.g. "INSERT 0 3", "SET". "SELECT" and "COPY" (COPY TO STDOUT) get the
  // number of rows sent appended by the session.
  std::string tag;
  std::shared_ptr<CopyIn> copy_in;  // COPY FROM STDIN: the session streams data in
  // COPY TO STDOUT: rows of one text value each, the CopyData payloads.
  std::shared_ptr<RowStream> copy_out;
  bool copy_header = false;  // the first copy_out line is a header (not counted)
  int copy_columns = -1;     // >= 0 for COPY TO STDOUT
};

// Reads a stream to its end (tests, callers that need every row).
Result<std::vector<Row>> DrainRows(RowStream& rows);

// Splits and parses; a syntax error is 42601 with the cursor position (1-based).
Result<std::vector<std::shared_ptr<ParsedStatement>>> ParseSql(const std::string& sql);
// The statement's own text (for pg_stat_activity and logs).
std::string StatementText(const ParsedStatement& stmt);
bool IsEmptyStatement(const ParsedStatement& stmt);

enum class TxnStatus { kIdle, kInBlock, kFailed };

// The storage engine and catalog a session works on (null in tests of table-less SQL).
struct Database {
  access::Engine* engine = nullptr;
  catalog::Catalog* catalog = nullptr;
};

// VACUUM of one table (the statement and autovacuum): prunes its pages, removes the index
// entries of rows no snapshot can see, then frees their line pointers; `tx` supplies the
// snapshot rules. One VACUUM runs at a time. Returns how many row versions went.
Result<uint64_t> VacuumTable(access::Engine* engine, const access::TxnContext& tx,
                             const catalog::TableDef& t, bool autovacuum = false);

class PreparedStatement {
 public:
  virtual ~PreparedStatement() = default;
  virtual const std::vector<int32_t>& param_types() const = 0;
  // Columns of the result; empty when the statement returns no rows (NoData).
  virtual const std::vector<ColumnDesc>& columns() const = 0;
  virtual bool returns_rows() const = 0;
};

class Executor {
 public:
  // `registry`, `ctx` and `db` must outlive the Executor; `db` may be null.
  Executor(const Registry* registry, SessionContext* ctx, Database* db = nullptr);
  ~Executor();

  // `param_types`: from Parse; 0 entries (and missing ones) are inferred from the statement.
  Result<std::shared_ptr<PreparedStatement>> Prepare(std::shared_ptr<ParsedStatement> stmt,
                                                     std::vector<int32_t> param_types);
  Result<ExecResult> Execute(const PreparedStatement& stmt, const std::vector<Value>& params);

  TxnStatus txn_status() const { return status_; }
  // An error ended the current statement: fails an explicit block, ends an implicit one.
  void OnError();
  // End of an implicit transaction (after a simple Query or at Sync).
  // Commits the implicit transaction of the statement(s) just run; a FATAL status means the
  // commit could not be acknowledged and the session must end.
  Status EndImplicitTransaction();
  TimestampTz transaction_start() const { return txn_start_; }
  // The engine transaction of the current statement (xid assigned on first write).
  access::TxnContext& txn() { return tx_; }
  Database* db() const { return db_; }
  const Registry* registry() const { return registry_; }
  TransactionId xid() const { return tx_.xid; }
  TimestampTz statement_start() const { return stmt_start_; }
  bool in_transaction() const { return in_txn_; }
  // Temporary file space and tracked memory of this session's statements.
  ExecResources& resources() { return *resources_; }
  const ExecResources& resources() const { return *resources_; }
  // Output formatting for this session's settings (cached until the settings change).
  const FormatOptions& format_options() const;
  // The last value nextval()/setval() gave this session, per sequence oid (currval, lastval).
  std::map<uint32_t, int64_t>& sequence_values() { return seq_values_; }
  std::optional<int64_t>& last_sequence_value() { return last_seq_value_; }
  // Values a CACHE > 1 sequence handed this session ahead of time: nextval() takes them before
  // touching the sequence again (PostgreSQL's per-backend sequence cache).
  struct SequenceCache {
    int64_t last = 0;       // the last value handed out
    int64_t remaining = 0;  // values after it that are this session's
  };
  std::map<uint32_t, SequenceCache>& sequence_caches() { return seq_caches_; }
  // CREATE TEMP TABLE ... ON COMMIT DELETE ROWS | DROP: what each commit does to the table.
  enum class OnCommit { kDeleteRows, kDrop };
  void SetOnCommit(uint32_t table_oid, OnCommit action) { on_commit_[table_oid] = action; }
  void NoteTemporaryTable() { temp_tables_ = true; }
  // At the end of the session: drops its temporary tables (in a transaction of their own).
  Status DropTemporaryTables();

 private:
  friend struct ExecAccess;
  void BeginTransaction();  // implicit or explicit; takes the first snapshot
  void StartStatement();
  Status CommitTransaction();
  void AbortTransaction();
  // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO (`kind`: libpg_query's enum).
  Result<ExecResult> RunTransactionStmt(int kind, const std::string& savepoint);
  void AddWarning(const std::string& sqlstate, const std::string& msg);
  // Before an execution: the statement's relation locks again, and a fresh analysis when the
  // catalog changed since it was prepared.
  Result<const Prepared*> Revalidate(const Prepared& p);

  const Registry* registry_;
  SessionContext* ctx_;
  Database* db_;
  access::TxnContext tx_;
  bool first_statement_ = true;
  TxnStatus status_ = TxnStatus::kIdle;
  bool in_txn_ = false;  // any transaction, implicit or explicit
  TimestampTz txn_start_ = 0;
  TimestampTz stmt_start_ = 0;
  struct Savepoint {
    std::string name;
    size_t undo_mark, created_mark, dropped_mark;  // sizes of the lists at its creation
    size_t lock_mark;                              // the lock owner's mark
  };
  std::vector<Savepoint> savepoints_;
  std::vector<access::UndoEntry> undo_;  // the transaction's changes since its first savepoint
  access::LockOwner lock_owner_;         // this session's heavyweight locks
  std::map<uint32_t, int64_t> seq_values_;
  std::map<uint32_t, SequenceCache> seq_caches_;
  std::optional<int64_t> last_seq_value_;
  std::unique_ptr<ExecResources> resources_;
  // Names of reg* values (regclass, regtype, ...), set as the thread's resolver while this
  // executor prepares and runs statements.
  std::unique_ptr<RegResolver> reg_resolver_;
  // Open cursors (DECLARE ... CURSOR): each pulls its query's rows as FETCH asks for them.
  struct Cursor {
    std::vector<ColumnDesc> columns;
    std::shared_ptr<RowStream> rows;
    bool done = false;
    bool hold = false;  // WITH HOLD: kept after its transaction commits
    bool held = false;  // its rows were kept at a commit (it no longer needs a transaction)
  };
  // At the end of a transaction: WITH HOLD cursors keep their remaining rows (at a commit), the
  // others close.
  Status EndCursors(bool commit);
  std::map<std::string, Cursor> cursors_;
  // SQL-level prepared statements (PREPARE / EXECUTE / DEALLOCATE), for the session.
  std::map<std::string, std::shared_ptr<PreparedStatement>> named_;
  std::map<uint32_t, OnCommit> on_commit_;
  bool temp_tables_ = false;  // the session created temporary tables
  // Runs the ON COMMIT actions of the session's temporary tables, as part of the transaction.
  Status PreCommitTemporaryTables();
  mutable FormatOptions format_cache_;
  mutable uint64_t format_version_ = ~0ull;
};

}  // namespace walrep::sql
