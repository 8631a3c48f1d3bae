// walrep: the one table of settings. Names, units, boot values, ranges and contexts follow
// PostgreSQL 15; the descriptions are walrep's own words. Order is by group, as in the sample file.
// Append-only is not required here (nothing stores table positions), but keep groups together:
// conf/postgresql.conf.sample is checked against this table by tests/unit/common/guc_test.cc.
#include <climits>

#include "walrep/common/guc.h"

namespace walrep {
namespace {

using C = GucContext;
using U = GucUnit;
constexpr double kIntMax = INT_MAX;

GucDef B(const char* n, C c, const char* boot, const char* g, const char* d) {
  return GucDef{n, GucType::kBool, c, U::kNone, boot, 0, 0, nullptr, g, d};
}
GucDef I(const char* n, C c, U u, const char* boot, double mn, double mx, const char* g,
         const char* d) {
  return GucDef{n, GucType::kInt, c, u, boot, mn, mx, nullptr, g, d};
}
GucDef R(const char* n, C c, const char* boot, double mn, double mx, const char* g, const char* d) {
  return GucDef{n, GucType::kReal, c, U::kNone, boot, mn, mx, nullptr, g, d};
}
GucDef S(const char* n, C c, const char* boot, const char* g, const char* d) {
  return GucDef{n, GucType::kString, c, U::kNone, boot, 0, 0, nullptr, g, d};
}
GucDef E(const char* n, C c, const char* boot, const char* values, const char* g, const char* d) {
  return GucDef{n, GucType::kEnum, c, U::kNone, boot, 0, 0, values, g, d};
}
GucDef Report(GucDef d) {
  d.report = true;
  return d;
}
GucDef SuperuserOnly(GucDef d) {
  d.superuser_only = true;
  return d;
}
GucDef Hidden(GucDef d) {
  d.in_sample = false;
  return d;
}

constexpr const char* kFiles = "File Locations";
constexpr const char* kConn = "Connections and Authentication";
constexpr const char* kMem = "Resource Usage";
constexpr const char* kWal = "Write-Ahead Log";
constexpr const char* kRepl = "Replication";
constexpr const char* kQuery = "Query Tuning";
constexpr const char* kLog = "Reporting and Logging";
constexpr const char* kStats = "Statistics";
constexpr const char* kClient = "Client Connection Defaults";
constexpr const char* kLock = "Lock Management";
constexpr const char* kPreset = "Preset Options";

std::vector<GucDef> MakeTable() {
  return {
      // File locations.
      SuperuserOnly(
          S("data_directory", C::kPostmaster, "", kFiles, "Directory holding the cluster's data.")),
      SuperuserOnly(S("config_file", C::kPostmaster, "", kFiles, "The main configuration file.")),
      SuperuserOnly(
          S("hba_file", C::kPostmaster, "", kFiles, "The host-based authentication file.")),
      SuperuserOnly(S("ident_file", C::kPostmaster, "", kFiles, "The user name mapping file.")),
      S("external_pid_file", C::kPostmaster, "", kFiles, "An extra file to write the pid into."),

      // Connections and authentication.
      S("listen_addresses", C::kPostmaster, "localhost", kConn,
        "TCP addresses to listen on, comma separated; '*' for all."),
      I("port", C::kPostmaster, U::kNone, "5432", 1, 65535, kConn, "TCP port to listen on."),
      I("max_connections", C::kPostmaster, U::kNone, "100", 1, 262143, kConn,
        "Most client connections at once."),
      I("superuser_reserved_connections", C::kPostmaster, U::kNone, "3", 0, 262143, kConn,
        "Connection slots kept for superusers."),
      S("unix_socket_directories", C::kPostmaster, "/tmp", kConn,
        "Directories for the Unix-domain socket, comma separated."),
      S("unix_socket_group", C::kPostmaster, "", kConn, "Owning group of the Unix socket."),
      I("unix_socket_permissions", C::kPostmaster, U::kNone, "511", 0, 511, kConn,
        "Access permissions of the Unix socket."),
      S("bonjour_name", C::kPostmaster, "", kConn, "Bonjour service name (not used)."),
      I("tcp_keepalives_idle", C::kUser, U::kS, "0", 0, kIntMax, kConn,
        "Idle time before a TCP keepalive; 0 uses the system default."),
      I("tcp_keepalives_interval", C::kUser, U::kS, "0", 0, kIntMax, kConn,
        "Time between TCP keepalives; 0 uses the system default."),
      I("tcp_keepalives_count", C::kUser, U::kNone, "0", 0, kIntMax, kConn,
        "Lost keepalives before the connection is dropped; 0 uses the system default."),
      I("authentication_timeout", C::kSighup, U::kS, "60", 1, 600, kConn,
        "Time allowed to finish authentication."),
      E("password_encryption", C::kUser, "scram-sha-256", "md5,scram-sha-256", kConn,
        "How CREATE ROLE and ALTER ROLE store passwords."),
      B("ssl", C::kSighup, "off", kConn, "Accept SSL connections."),
      S("ssl_cert_file", C::kSighup, "server.crt", kConn, "Server certificate file."),
      S("ssl_key_file", C::kSighup, "server.key", kConn, "Server private key file."),
      S("ssl_ca_file", C::kSighup, "", kConn, "Certificate authority file."),
      S("ssl_ciphers", C::kSighup, "HIGH:MEDIUM:+3DES:!aNULL", kConn, "Allowed TLS ciphers."),
      E("ssl_min_protocol_version", C::kSighup, "TLSv1.2", "TLSv1,TLSv1.1,TLSv1.2,TLSv1.3", kConn,
        "Oldest TLS protocol version accepted."),

      // Resource usage.
      I("shared_buffers", C::kPostmaster, U::kBlocks, "16384", 16, 1073741823, kMem,
        "Size of the shared buffer pool."),
      I("temp_buffers", C::kUser, U::kBlocks, "1024", 100, 1073741823, kMem,
        "Buffers per session for temporary tables."),
      I("work_mem", C::kUser, U::kKB, "4096", 64, kIntMax, kMem,
        "Memory for a sort or hash before it spills to disk."),
      R("hash_mem_multiplier", C::kUser, "2", 1, 1000, kMem,
        "Multiple of work_mem a hash table may use before it spills to disk."),
      I("temp_file_limit", C::kSuperuser, U::kKB, "-1", -1, kIntMax, kMem,
        "Most temporary file space one session may use (-1: no limit)."),
      I("maintenance_work_mem", C::kUser, U::kKB, "65536", 1024, kIntMax, kMem,
        "Memory for maintenance operations such as VACUUM and CREATE INDEX."),
      I("max_worker_processes", C::kPostmaster, U::kNone, "8", 0, 262143, kMem,
        "Most background workers."),
      I("effective_io_concurrency", C::kUser, U::kNone, "1", 0, 1000, kMem,
        "Concurrent disk requests the storage can serve."),
      I("maintenance_io_concurrency", C::kUser, U::kNone, "10", 0, 1000, kMem,
        "Concurrent disk requests for maintenance work."),
      I("bgwriter_delay", C::kSighup, U::kMs, "200", 10, 10000, kMem,
        "Sleep between background writer rounds."),
      I("bgwriter_lru_maxpages", C::kSighup, U::kNone, "100", 0, 1073741823, kMem,
        "Most pages the background writer flushes per round."),
      R("bgwriter_lru_multiplier", C::kSighup, "2", 0, 10, kMem,
        "Multiple of recent buffer use to clean per round."),
      I("bgwriter_flush_after", C::kSighup, U::kBlocks, "64", 0, 256, kMem,
        "Pages written by the background writer before a flush is asked for."),
      I("max_prepared_transactions", C::kPostmaster, U::kNone, "0", 0, 262143, kMem,
        "Most prepared (two-phase) transactions."),

      // Write-ahead log.
      E("wal_level", C::kPostmaster, "replica", "minimal,replica,logical", kWal,
        "How much information the WAL carries."),
      B("fsync", C::kSighup, "on", kWal, "Force writes to disk with fsync."),
      E("synchronous_commit", C::kUser, "on", "local,remote_write,remote_apply,on,off", kWal,
        "How durable a commit must be before it is acknowledged."),
      E("wal_sync_method", C::kSighup, "fdatasync", "fsync,fdatasync,open_sync,open_datasync", kWal,
        "How WAL is forced to disk."),
      B("full_page_writes", C::kSighup, "on", kWal,
        "Log whole pages on their first change after a checkpoint."),
      Hidden(GucDef{"wal_consistency_checking", GucType::kString, C::kSighup, U::kNone, "", 0, 0,
                    "all,walrep_heap,walrep_btree,walrep_sequence", kWal,
                    "Resource managers whose records carry a page image that replay compares "
                    "with the page it produced."}),
      B("wal_log_hints", C::kPostmaster, "on", kWal,
        "Always on in walrep: every page change is WAL-logged (there are no hint bits)."),
      E("wal_compression", C::kSighup, "off", "pglz,lz4,zstd,on,off", kWal,
        "Compression of full-page images in WAL."),
      B("wal_init_zero", C::kSighup, "on", kWal, "Fill new WAL files with zeros."),
      B("wal_recycle", C::kSighup, "on", kWal, "Reuse old WAL files by renaming them."),
      I("wal_buffers", C::kPostmaster, U::kWalBlocks, "-1", -1, 262143, kWal,
        "WAL buffer space in shared memory; -1 sizes it from shared_buffers."),
      I("wal_writer_delay", C::kSighup, U::kMs, "200", 1, 10000, kWal,
        "Time between WAL writer rounds."),
      I("wal_writer_flush_after", C::kSighup, U::kWalBlocks, "128", 0, kIntMax, kWal,
        "WAL written by the WAL writer before it flushes."),
      I("wal_skip_threshold", C::kUser, U::kKB, "2048", 0, kIntMax, kWal,
        "Size of new relation data to sync rather than log with wal_level=minimal."),
      I("commit_delay", C::kSuperuser, U::kNone, "0", 0, 100000, kWal,
        "Microseconds to wait before a commit flush, to group more commits."),
      I("commit_siblings", C::kUser, U::kNone, "5", 0, 1000, kWal,
        "Concurrent transactions needed before commit_delay applies."),
      I("checkpoint_timeout", C::kSighup, U::kS, "300", 30, 86400, kWal,
        "Longest time between automatic checkpoints."),
      R("checkpoint_completion_target", C::kSighup, "0.9", 0, 1, kWal,
        "Fraction of the checkpoint interval to spread checkpoint writes over."),
      I("checkpoint_flush_after", C::kSighup, U::kBlocks, "32", 0, 256, kWal,
        "Pages written by a checkpoint before a flush is asked for."),
      I("checkpoint_warning", C::kSighup, U::kS, "30", 0, kIntMax, kWal,
        "Warn when WAL volume forces checkpoints closer than this."),
      I("max_wal_size", C::kSighup, U::kMB, "1024", 2, kIntMax, kWal,
        "WAL size that triggers a checkpoint."),
      I("min_wal_size", C::kSighup, U::kMB, "80", 2, kIntMax, kWal,
        "WAL kept for recycling below this size."),
      E("archive_mode", C::kPostmaster, "off", "always,on,off", kWal,
        "Archive completed WAL segments with archive_command."),
      SuperuserOnly(
          S("archive_command", C::kSighup, "", kWal, "Shell command that archives one WAL file.")),
      S("archive_library", C::kSighup, "", kWal, "Library that archives WAL files."),
      I("archive_timeout", C::kSighup, U::kS, "0", 0, 1073741823, kWal,
        "Force a segment switch after this long without one."),
      SuperuserOnly(S("restore_command", C::kSighup, "", kWal,
                      "Shell command that fetches an archived WAL file.")),
      SuperuserOnly(S("archive_cleanup_command", C::kSighup, "", kWal,
                      "Shell command run at every restart point.")),
      SuperuserOnly(S("recovery_end_command", C::kSighup, "", kWal,
                      "Shell command run once at recovery end.")),
      S("recovery_target_timeline", C::kPostmaster, "latest", kWal,
        "Timeline to recover into: current, latest or a number."),
      S("recovery_target", C::kPostmaster, "", kWal, "Set to 'immediate' to stop at consistency."),
      S("recovery_target_name", C::kPostmaster, "", kWal, "Restore point to stop at."),
      S("recovery_target_time", C::kPostmaster, "", kWal, "Time stamp to stop at."),
      S("recovery_target_xid", C::kPostmaster, "", kWal, "Transaction id to stop at."),
      S("recovery_target_lsn", C::kPostmaster, "", kWal, "WAL location to stop at."),
      B("recovery_target_inclusive", C::kPostmaster, "on", kWal,
        "Stop just after (on) or just before (off) the target."),
      E("recovery_target_action", C::kPostmaster, "pause", "pause,promote,shutdown", kWal,
        "What to do when the recovery target is reached."),
      E("recovery_prefetch", C::kSighup, "try", "off,on,try", kWal,
        "Prefetch blocks referenced in WAL during recovery."),
      I("wal_decode_buffer_size", C::kPostmaster, U::kBytes, "524288", 65536, 1073741823, kWal,
        "How far ahead of replay WAL is read to prefetch the blocks it references."),
      I("recovery_min_apply_delay", C::kSighup, U::kMs, "0", 0, kIntMax, kRepl,
        "Delay before replaying a commit on a standby."),

      // Replication: sending servers.
      I("max_wal_senders", C::kPostmaster, U::kNone, "10", 0, 262143, kRepl,
        "Most WAL sender threads at once."),
      I("max_replication_slots", C::kPostmaster, U::kNone, "10", 0, 262143, kRepl,
        "Most replication slots."),
      I("wal_keep_size", C::kSighup, U::kMB, "0", 0, kIntMax, kRepl,
        "WAL kept for standbys beyond what checkpoints need."),
      I("max_slot_wal_keep_size", C::kSighup, U::kMB, "-1", -1, kIntMax, kRepl,
        "Most WAL a replication slot may hold back; -1 for no limit."),
      I("idle_replication_slot_timeout", C::kSighup, U::kS, "0", 0, kIntMax, kRepl,
        "Invalidate replication slots inactive longer than this at a checkpoint; 0 disables."),
      I("wal_sender_timeout", C::kUser, U::kMs, "60000", 0, kIntMax, kRepl,
        "End a replication connection silent for this long."),
      B("track_commit_timestamp", C::kPostmaster, "off", kRepl, "Record commit time stamps."),
      // Replication: primary.
      S("synchronous_standby_names", C::kSighup, "", kRepl,
        "Standbys that acknowledge synchronous commits: FIRST n (...), ANY n (...), list or *."),
      B("walrep.auto_rewind", C::kPostmaster, "off", kRepl,
        "Rewind a standby whose history forked from its upstream's before it starts."),
      B("walrep.sync_commit_lossless", C::kSighup, "off", kRepl,
        "walrep: a commit waiting for synchronous standbys stays invisible until they confirm."),
      I("vacuum_defer_cleanup_age", C::kSighup, U::kNone, "0", 0, 1000000, kRepl,
        "Transactions by which VACUUM defers cleanup of dead rows."),
      // Replication: standbys.
      SuperuserOnly(
          S("primary_conninfo", C::kSighup, "", kRepl, "libpq connection string of the upstream.")),
      SuperuserOnly(S("primary_slot_name", C::kSighup, "", kRepl,
                      "Replication slot to use on the upstream.")),
      S("promote_trigger_file", C::kSighup, "", kRepl, "A file whose presence promotes a standby."),
      B("hot_standby", C::kPostmaster, "on", kRepl, "Answer read-only queries during recovery."),
      I("max_standby_archive_delay", C::kSighup, U::kMs, "30000", -1, kIntMax, kRepl,
        "How long replay of archived WAL waits for conflicting queries."),
      I("max_standby_streaming_delay", C::kSighup, U::kMs, "30000", -1, kIntMax, kRepl,
        "How long replay of streamed WAL waits for conflicting queries."),
      B("wal_receiver_create_temp_slot", C::kSighup, "off", kRepl,
        "Create a temporary slot on the upstream when no slot is configured."),
      I("wal_receiver_status_interval", C::kSighup, U::kS, "10", 0, 2147483, kRepl,
        "Longest time between status replies to the upstream."),
      B("hot_standby_feedback", C::kSighup, "off", kRepl,
        "Tell the upstream which rows standby queries still need."),
      I("wal_receiver_timeout", C::kSighup, U::kMs, "60000", 0, kIntMax, kRepl,
        "End a silent upstream connection after this long."),
      I("wal_retrieve_retry_interval", C::kSighup, U::kMs, "5000", 1, kIntMax, kRepl,
        "Wait before retrying to fetch WAL after a failure."),
      I("walrep.recovery_workers", C::kPostmaster, U::kNone, "1", 0, 64, kRepl,
        "walrep: threads that apply redo (1: the startup thread alone; 0: one per CPU core)."),

      // Query tuning.
      B("enable_seqscan", C::kUser, "on", kQuery, "Allow sequential scans."),
      B("enable_indexscan", C::kUser, "on", kQuery, "Allow index scans."),
      R("seq_page_cost", C::kUser, "1", 0, 1.79769e+308, kQuery, "Cost of a sequential page read."),
      R("random_page_cost", C::kUser, "4", 0, 1.79769e+308, kQuery, "Cost of a random page read."),
      I("effective_cache_size", C::kUser, U::kBlocks, "524288", 1, kIntMax, kQuery,
        "The planner's estimate of the cache available to one query."),

      // Reporting and logging.
      S("log_destination", C::kSighup, "stderr", kLog, "Where the server log goes."),
      B("logging_collector", C::kPostmaster, "off", kLog, "Collect stderr output into files."),
      E("log_min_messages", C::kSuperuser, "warning",
        "debug5,debug4,debug3,debug2,debug1,info,notice,warning,error,log,fatal,panic", kLog,
        "Lowest message level that is logged."),
      I("log_min_duration_statement", C::kSuperuser, U::kMs, "-1", -1, kIntMax, kLog,
        "Log statements that run at least this long; -1 disables."),
      B("log_checkpoints", C::kSighup, "on", kLog, "Log each checkpoint."),
      B("log_connections", C::kSuperuserBackend, "off", kLog, "Log each successful connection."),
      B("log_disconnections", C::kSuperuserBackend, "off", kLog, "Log the end of each session."),
      I("log_temp_files", C::kSuperuser, U::kKB, "-1", -1, kIntMax, kLog,
        "Log each temporary file at least this large when it is removed (-1: none, 0: all)."),
      B("log_replication_commands", C::kSuperuser, "off", kLog, "Log each replication command."),
      E("log_statement", C::kSuperuser, "none", "none,ddl,mod,all", kLog,
        "Which statements are logged."),
      S("log_line_prefix", C::kSighup, "%m [%p] ", kLog, "Prefix of each log line."),
      S("log_timezone", C::kSighup, "Etc/UTC", kLog, "Time zone of log time stamps."),
      S("cluster_name", C::kPostmaster, "", kLog, "Name shown in process titles and logs."),
      B("track_activities", C::kSuperuser, "on", kStats, "Track the command each session runs."),
      I("track_activity_query_size", C::kPostmaster, U::kBytes, "1024", 100, 1048576, kStats,
        "Bytes of a query kept for pg_stat_activity."),
      B("autovacuum", C::kSighup, "on", "Autovacuum", "Run the autovacuum launcher."),
      I("autovacuum_naptime", C::kSighup, U::kS, "60", 1, 2147483, "Autovacuum",
        "Sleep between autovacuum runs."),
      I("autovacuum_vacuum_threshold", C::kSighup, U::kNone, "50", 0, kIntMax, "Autovacuum",
        "Minimum number of row updates or deletes prior to vacuum."),
      R("autovacuum_vacuum_scale_factor", C::kSighup, "0.2", 0, 100, "Autovacuum",
        "Number of row updates or deletes prior to vacuum as a fraction of the live rows."),
      I("log_autovacuum_min_duration", C::kSighup, U::kMs, "-1", -1, kIntMax, kLog,
        "Logs each autovacuum that ran at least this long (0: all, -1: none)."),

      // Client connection defaults.
      E("client_min_messages", C::kUser, "notice",
        "debug5,debug4,debug3,debug2,debug1,log,notice,warning,error", kClient,
        "Lowest message level sent to the client."),
      S("search_path", C::kUser, "\"$user\", public", kClient, "Schema search order."),
      E("default_transaction_isolation", C::kUser, "read committed",
        "serializable,repeatable read,read committed,read uncommitted", kClient,
        "Isolation level of new transactions."),
      Report(B("default_transaction_read_only", C::kUser, "off", kClient,
               "Whether new transactions are read-only.")),
      Hidden(E("transaction_isolation", C::kUser, "read committed",
               "serializable,repeatable read,read committed,read uncommitted", kClient,
               "Isolation level of the current transaction.")),
      Hidden(B("transaction_read_only", C::kUser, "off", kClient,
               "Whether the current transaction is read-only.")),
      // Accepted for pg_dump's scripts and tools that set them; walrep has no row security
      // policies, function bodies, XML values or tablespaces besides pg_default, and its scans
      // never synchronize, so these change nothing.
      B("row_security", C::kUser, "on", kClient, "Whether row security policies apply."),
      B("check_function_bodies", C::kUser, "on", kClient,
        "Whether CREATE FUNCTION checks function bodies."),
      E("xmloption", C::kUser, "content", "content,document", kClient,
        "Whether XML values are documents or content fragments."),
      S("default_tablespace", C::kUser, "", kClient,
        "Tablespace of new relations (walrep: pg_default only)."),
      E("default_table_access_method", C::kUser, "heap", "heap", kClient,
        "Access method of new tables."),
      B("synchronize_seqscans", C::kUser, "on", kQuery,
        "Whether sequential scans synchronize (walrep's never do)."),
      B("quote_all_identifiers", C::kUser, "off", kClient,
        "Whether generated SQL quotes every identifier."),
      I("statement_timeout", C::kUser, U::kMs, "0", 0, kIntMax, kClient,
        "Cancel a statement that runs longer; 0 disables."),
      I("lock_timeout", C::kUser, U::kMs, "0", 0, kIntMax, kClient,
        "Cancel a lock wait that lasts longer; 0 disables."),
      I("idle_in_transaction_session_timeout", C::kUser, U::kMs, "0", 0, kIntMax, kClient,
        "End a session idle inside a transaction for longer; 0 disables."),
      I("idle_session_timeout", C::kUser, U::kMs, "0", 0, kIntMax, kClient,
        "End a session idle outside a transaction for longer; 0 disables."),
      Report(S("DateStyle", C::kUser, "ISO, MDY", kClient, "Display format of dates and times.")),
      Report(E("IntervalStyle", C::kUser, "postgres",
               "postgres,postgres_verbose,sql_standard,iso_8601", kClient,
               "Display format of intervals.")),
      Report(S("TimeZone", C::kUser, "Etc/UTC", kClient, "Time zone for time stamps.")),
      I("extra_float_digits", C::kUser, U::kNone, "1", -15, 3, kClient,
        "Digits shown for floating-point values."),
      Report(S("client_encoding", C::kUser, "UTF8", kClient, "Character set of the client.")),
      Report(S("application_name", C::kUser, "", kClient, "Name of the client application.")),
      S("lc_messages", C::kSuperuser, "C", kClient, "Language of messages."),
      S("lc_monetary", C::kUser, "C", kClient, "Locale for money amounts."),
      S("lc_numeric", C::kUser, "C", kClient, "Locale for numbers."),
      S("lc_time", C::kUser, "C", kClient, "Locale for dates and times."),
      S("default_text_search_config", C::kUser, "pg_catalog.simple", kClient,
        "Default text search configuration."),
      Report(B("standard_conforming_strings", C::kUser, "on", "Version Compatibility",
               "Backslashes in '...' strings are literal.")),
      I("max_locks_per_transaction", C::kPostmaster, U::kNone, "64", 10, kIntMax, kLock,
        "Lock table slots per transaction."),
      I("deadlock_timeout", C::kSuperuser, U::kMs, "1000", 1, kIntMax, kLock,
        "Wait on a lock this long before checking for a deadlock."),

      // Preset (read-only) options.
      Hidden(Report(S("server_version", C::kInternal, "15.0 (walrep 0.1.0)", kPreset,
                      "Server version, PostgreSQL-15 compatible."))),
      Hidden(I("server_version_num", C::kInternal, U::kNone, "150000", 150000, 150000, kPreset,
               "Server version as a number.")),
      Hidden(Report(
          S("server_encoding", C::kInternal, "UTF8", kPreset, "Character set of the database."))),
      Hidden(Report(B("integer_datetimes", C::kInternal, "on", kPreset,
                      "Date and time values are 64-bit integers."))),
      Hidden(Report(B("in_hot_standby", C::kInternal, "off", kPreset,
                      "Whether the server is a hot standby now."))),
      Hidden(Report(B("is_superuser", C::kInternal, "off", kPreset,
                      "Whether the session user is a superuser."))),
      Hidden(
          Report(S("session_authorization", C::kInternal, "", kPreset, "The session user name."))),
      Hidden(S("data_directory_mode", C::kInternal, "0700", kPreset,
               "Permissions of the data directory.")),
      Hidden(I("wal_segment_size", C::kInternal, U::kBytes, "16777216", 16777216, 16777216, kPreset,
               "Size of a WAL segment file.")),
      Hidden(I("block_size", C::kInternal, U::kNone, "8192", 8192, 8192, kPreset,
               "Size of a data page.")),
      Hidden(I("wal_block_size", C::kInternal, U::kNone, "8192", 8192, 8192, kPreset,
               "Size of a WAL page.")),
      Hidden(I("segment_size", C::kInternal, U::kBlocks, "131072", 131072, 131072, kPreset,
               "Pages per relation file segment.")),
      Hidden(
          B("data_checksums", C::kInternal, "off", kPreset, "Whether data pages carry checksums.")),
      Hidden(I("max_identifier_length", C::kInternal, U::kNone, "63", 63, 63, kPreset,
               "Longest identifier.")),
      Hidden(I("max_function_args", C::kInternal, U::kNone, "100", 100, 100, kPreset,
               "Most arguments of a function.")),
  };
}

}  // namespace

const std::vector<GucDef>& GucTable() {
  static const std::vector<GucDef> table = MakeTable();
  return table;
}

}  // namespace walrep
