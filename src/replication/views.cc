// walrep: replication's system views and functions — pg_stat_replication,
// pg_replication_slots, pg_create_physical_replication_slot(), pg_drop_replication_slot().
#include <fmt/format.h>

#include <chrono>

#include "walrep/replication/archiver.h"
#include "walrep/replication/startup.h"
#include "walrep/replication/walreceiver.h"
#include "walrep/replication/walsender.h"
#include "walrep/sql/registry.h"
#include "walrep/sql/session_context.h"
#include "walrep/storage/recovery_prefetch.h"

namespace walrep::replication {

namespace {
using sql::Value;
namespace oid = sql::oid;

Value LsnOrNull(Lsn l) {
  return l.valid() ? Value::Int(oid::kPgLsn, static_cast<int64_t>(l.value()))
                   : Value::Null(oid::kPgLsn);
}
Value LagOrNull(int64_t us) {
  return us < 0 ? Value::Null(oid::kInterval) : Value::Interv(sql::Interval{0, 0, us});
}
Value TextOrNull(const std::string& s, int32_t type = oid::kText) {
  return s.empty() ? Value::Null(type) : Value::Text(type, s);
}
Status RequireReplicationPrivilege(sql::SessionContext& ctx) {
  if (ctx.is_superuser()) return Status::OK();
  auto role = ctx.roles().Find(ctx.current_user());
  if (role && role->replication) return Status::OK();
  return Status::Sql("42501", "must be superuser or replication role to use replication slots");
}
}  // namespace

void RegisterReplicationViews(sql::Registry* r, ReplicationEnv* env) {
  {
    sql::ViewDef v;
    v.name = "pg_stat_replication";
    v.columns = {{"pid", oid::kInt4},
                 {"usesysid", oid::kOid},
                 {"usename", oid::kName},
                 {"application_name", oid::kText},
                 {"client_addr", oid::kInet},
                 {"client_hostname", oid::kText},
                 {"client_port", oid::kInt4},
                 {"backend_start", oid::kTimestampTz},
                 {"backend_xmin", oid::kXid},
                 {"state", oid::kText},
                 {"sent_lsn", oid::kPgLsn},
                 {"write_lsn", oid::kPgLsn},
                 {"flush_lsn", oid::kPgLsn},
                 {"replay_lsn", oid::kPgLsn},
                 {"write_lag", oid::kInterval},
                 {"flush_lag", oid::kInterval},
                 {"replay_lag", oid::kInterval},
                 {"sync_priority", oid::kInt4},
                 {"sync_state", oid::kText},
                 {"reply_time", oid::kTimestampTz}};
    v.rows = [env](sql::SessionContext& ctx) -> Result<std::vector<sql::Row>> {
      std::vector<sql::Row> rows;
      bool su = ctx.is_superuser();
      std::string me = ctx.current_user();
      auto senders = env->registry->List();
      std::vector<SyncInfo> sync(senders.size());
      if (env->sync_rule) sync = ComputeSyncStates(*env->sync_rule(), senders);
      for (size_t si = 0; si < senders.size(); si++) {
        const WalSndStatus& w = senders[si];
        sql::Row row;
        row.push_back(Value::Int(oid::kInt4, w.pid));
        row.push_back(Value::Int(oid::kOid, 10));
        row.push_back(Value::Text(oid::kName, w.user));
        row.push_back(Value::Text(oid::kText, w.application_name));
        if (!su && w.user != me) {
          // PostgreSQL shows only who and what to roles without pg_read_all_stats.
          for (size_t i = row.size(); i < 20; i++) row.push_back(Value::Null(oid::kText));
          rows.push_back(std::move(row));
          continue;
        }
        row.push_back(TextOrNull(w.client_addr, oid::kInet));
        row.push_back(Value::Null(oid::kText));
        row.push_back(Value::Int(oid::kInt4, w.client_port));
        row.push_back(Value::Timestamp(oid::kTimestampTz, w.backend_start));
        row.push_back(w.xmin ? Value::Int(oid::kXid, w.xmin) : Value::Null(oid::kXid));
        row.push_back(Value::Text(oid::kText, w.state));
        row.push_back(LsnOrNull(w.sent));
        row.push_back(LsnOrNull(w.write));
        row.push_back(LsnOrNull(w.flush));
        row.push_back(LsnOrNull(w.replay));
        row.push_back(LagOrNull(w.write_lag_us));
        row.push_back(LagOrNull(w.flush_lag_us));
        row.push_back(LagOrNull(w.replay_lag_us));
        row.push_back(Value::Int(oid::kInt4, sync[si].priority));
        row.push_back(Value::Text(oid::kText, sync[si].state));
        row.push_back(w.reply_time ? Value::Timestamp(oid::kTimestampTz, w.reply_time)
                                   : Value::Null(oid::kTimestampTz));
        rows.push_back(std::move(row));
      }
      return rows;
    };
    r->AddView(std::move(v));
  }
  {
    sql::ViewDef v;
    v.name = "pg_replication_slots";
    v.columns = {{"slot_name", oid::kName},
                 {"plugin", oid::kName},
                 {"slot_type", oid::kText},
                 {"datoid", oid::kOid},
                 {"database", oid::kName},
                 {"temporary", oid::kBool},
                 {"active", oid::kBool},
                 {"active_pid", oid::kInt4},
                 {"xmin", oid::kXid},
                 {"catalog_xmin", oid::kXid},
                 {"restart_lsn", oid::kPgLsn},
                 {"confirmed_flush_lsn", oid::kPgLsn},
                 {"wal_status", oid::kText},
                 {"safe_wal_size", oid::kInt8},
                 {"two_phase", oid::kBool},
                 // PostgreSQL 17 and 18's columns.
                 {"inactive_since", oid::kTimestampTz},
                 {"conflicting", oid::kBool},
                 {"invalidation_reason", oid::kText}};
    v.rows = [env](sql::SessionContext&) -> Result<std::vector<sql::Row>> {
      std::vector<sql::Row> rows;
      for (const SlotInfo& s : env->slots->List()) {
        SlotWalStatus w = env->slot_wal_status ? env->slot_wal_status(s) : SlotWalStatus{};
        rows.push_back(
            {Value::Text(oid::kName, s.name), Value::Null(oid::kName),
             Value::Text(oid::kText, "physical"), Value::Null(oid::kOid), Value::Null(oid::kName),
             Value::Bool(s.temporary), Value::Bool(s.active_pid != 0),
             s.active_pid ? Value::Int(oid::kInt4, s.active_pid) : Value::Null(oid::kInt4),
             s.xmin ? Value::Int(oid::kXid, s.xmin) : Value::Null(oid::kXid),
             Value::Null(oid::kXid), LsnOrNull(s.restart_lsn), Value::Null(oid::kPgLsn),
             w.status ? Value::Text(oid::kText, w.status) : Value::Null(oid::kText),
             w.safe_wal_size ? Value::Int(oid::kInt8, *w.safe_wal_size) : Value::Null(oid::kInt8),
             Value::Bool(false),
             s.inactive_since ? Value::Timestamp(oid::kTimestampTz, s.inactive_since)
                              : Value::Null(oid::kTimestampTz),
             Value::Null(oid::kBool),  // logical slots only
             s.invalidation_reason.empty() ? Value::Null(oid::kText)
                                           : Value::Text(oid::kText, s.invalidation_reason)});
      }
      return rows;
    };
    r->AddView(std::move(v));
  }
  {
    sql::TableFunctionDef f;
    f.name = "pg_create_physical_replication_slot";
    f.arg_types = {oid::kName, oid::kBool, oid::kBool};
    f.min_args = 1;
    f.columns = {{"slot_name", oid::kName}, {"lsn", oid::kPgLsn}};
    f.rows = [env](sql::SessionContext& ctx,
                   const std::vector<Value>& args) -> Result<std::vector<sql::Row>> {
      WALREP_RETURN_IF_ERROR(RequireReplicationPrivilege(ctx));
      if (args[0].is_null()) return std::vector<sql::Row>{};
      std::string name = args[0].as_string();
      bool reserve = !args[1].is_null() && args[1].as_bool();
      bool temporary = !args[2].is_null() && args[2].as_bool();
      Lsn restart = reserve ? env->redo_pointer() : Lsn();
      WALREP_RETURN_IF_ERROR(env->slots->Create(name, temporary, restart, ctx.backend_pid()));
      return std::vector<sql::Row>{{Value::Text(oid::kName, name), LsnOrNull(restart)}};
    };
    r->AddTableFunction(std::move(f));
  }
  {
    sql::ViewDef v;
    v.name = "pg_stat_wal_receiver";
    v.columns = {{"pid", oid::kInt4},
                 {"status", oid::kText},
                 {"receive_start_lsn", oid::kPgLsn},
                 {"receive_start_tli", oid::kInt4},
                 {"written_lsn", oid::kPgLsn},
                 {"flushed_lsn", oid::kPgLsn},
                 {"received_tli", oid::kInt4},
                 {"last_msg_send_time", oid::kTimestampTz},
                 {"last_msg_receipt_time", oid::kTimestampTz},
                 {"latest_end_lsn", oid::kPgLsn},
                 {"latest_end_time", oid::kTimestampTz},
                 {"slot_name", oid::kText},
                 {"sender_host", oid::kText},
                 {"sender_port", oid::kInt4},
                 {"conninfo", oid::kText}};
    v.rows = [env](sql::SessionContext& ctx) -> Result<std::vector<sql::Row>> {
      std::vector<sql::Row> rows;
      if (!env->receiver) return rows;
      WalReceiverStatus w = env->receiver->status();
      if (!w.connected && w.pid == 0) return rows;
      auto ts = [](TimestampTz t) {
        return t ? Value::Timestamp(oid::kTimestampTz, t) : Value::Null(oid::kTimestampTz);
      };
      auto tli = [](TimelineId t) {
        return t ? Value::Int(oid::kInt4, t) : Value::Null(oid::kInt4);
      };
      sql::Row row{Value::Int(oid::kInt4, w.pid),
                   Value::Text(oid::kText, w.status),
                   LsnOrNull(w.receive_start_lsn),
                   tli(w.receive_start_tli),
                   LsnOrNull(w.written),
                   LsnOrNull(w.flushed),
                   tli(w.received_tli),
                   ts(w.last_msg_send_time),
                   ts(w.last_msg_receipt_time),
                   LsnOrNull(w.latest_end_lsn),
                   ts(w.latest_end_time),
                   TextOrNull(w.slot_name),
                   TextOrNull(w.sender_host),
                   w.sender_port ? Value::Int(oid::kInt4, w.sender_port) : Value::Null(oid::kInt4),
                   TextOrNull(w.conninfo)};
      if (!ctx.is_superuser()) {
        for (size_t i = 2; i < row.size(); i++) row[i] = Value::Null(row[i].type());
      }
      rows.push_back(std::move(row));
      return rows;
    };
    r->AddView(std::move(v));
  }
  {
    sql::ViewDef v;
    v.name = "pg_stat_recovery_prefetch";
    v.columns = {{"stats_reset", oid::kTimestampTz},
                 {"prefetch", oid::kInt8},
                 {"hit", oid::kInt8},
                 {"skip_init", oid::kInt8},
                 {"skip_new", oid::kInt8},
                 {"skip_fpw", oid::kInt8},
                 {"skip_rep", oid::kInt8},
                 {"wal_distance", oid::kInt4},
                 {"block_distance", oid::kInt4},
                 {"io_depth", oid::kInt4}};
    v.rows = [env](sql::SessionContext&) -> Result<std::vector<sql::Row>> {
      // One row on every server, as PostgreSQL's (zeros where nothing was replayed).
      storage::RecoveryPrefetcher::Stats s =
          env->prefetcher ? env->prefetcher->stats() : storage::RecoveryPrefetcher::Stats();
      auto count = [](uint64_t n) { return Value::Int(oid::kInt8, static_cast<int64_t>(n)); };
      auto gauge = [](int64_t n) { return Value::Int(oid::kInt4, n); };
      return std::vector<sql::Row>{
          {s.stats_reset ? Value::Timestamp(oid::kTimestampTz, s.stats_reset)
                         : Value::Null(oid::kTimestampTz),
           count(s.prefetch), count(s.hit), count(s.skip_init), count(s.skip_new),
           count(s.skip_fpw), count(s.skip_rep), gauge(s.wal_distance), gauge(s.block_distance),
           gauge(s.io_depth)}};
    };
    r->AddView(std::move(v));
  }
  {
    // Beyond PostgreSQL: how far and how fast this standby replays (one row, on a standby).
    sql::ViewDef v;
    v.name = "walrep_stat_replay";
    v.columns = {{"replay_lsn", oid::kPgLsn},
                 {"workers", oid::kInt4},
                 {"records", oid::kInt8},
                 {"worker_records", oid::kInt8},
                 {"apply_queue_depth", oid::kInt8},
                 {"replay_mb_per_second", oid::kFloat8},
                 {"records_per_second", oid::kFloat8}};
    v.rows = [env](sql::SessionContext&) -> Result<std::vector<sql::Row>> {
      std::vector<sql::Row> rows;
      if (!env->startup || !env->in_recovery()) return rows;
      Startup::ReplayStats s = env->startup->replay_stats();
      rows.push_back({LsnOrNull(s.replayed), Value::Int(oid::kInt4, s.workers),
                      Value::Int(oid::kInt8, static_cast<int64_t>(s.records)),
                      Value::Int(oid::kInt8, static_cast<int64_t>(s.worker_records)),
                      Value::Int(oid::kInt8, static_cast<int64_t>(s.queued)),
                      Value::Float(oid::kFloat8, s.bytes_per_second / (1024.0 * 1024.0)),
                      Value::Float(oid::kFloat8, s.records_per_second)});
      return rows;
    };
    r->AddView(std::move(v));
  }
  {
    sql::ViewDef v;
    v.name = "pg_stat_archiver";
    v.columns = {{"archived_count", oid::kInt8},
                 {"last_archived_wal", oid::kText},
                 {"last_archived_time", oid::kTimestampTz},
                 {"failed_count", oid::kInt8},
                 {"last_failed_wal", oid::kText},
                 {"last_failed_time", oid::kTimestampTz},
                 {"stats_reset", oid::kTimestampTz}};
    v.rows = [env](sql::SessionContext&) -> Result<std::vector<sql::Row>> {
      ArchiverStats a = env->archiver ? env->archiver->stats() : ArchiverStats();
      auto text = [](const std::string& s) {
        return s.empty() ? Value::Null(oid::kText) : Value::Text(oid::kText, s);
      };
      auto time = [](TimestampTz t) {
        return t ? Value::Timestamp(oid::kTimestampTz, t) : Value::Null(oid::kTimestampTz);
      };
      return std::vector<sql::Row>{{Value::Int(oid::kInt8, a.archived_count),
                                    text(a.last_archived_wal), time(a.last_archived_time),
                                    Value::Int(oid::kInt8, a.failed_count), text(a.last_failed_wal),
                                    time(a.last_failed_time), time(a.stats_reset)}};
    };
    r->AddView(std::move(v));
  }
  r->AddFunction(sql::FixedFunction(
      "pg_stat_reset_shared", {oid::kText}, oid::kVoid,
      [env](sql::FunctionCall& c) -> Result<Value> {
        if (!c.ctx.is_superuser()) {
          return Status::Sql("42501", "permission denied for function pg_stat_reset_shared");
        }
        std::string target = c.args[0].as_string();
        if (target == "archiver") {
          if (env->archiver) env->archiver->ResetStats();
        } else if (target == "recovery_prefetch") {
          if (env->prefetcher) env->prefetcher->Reset();
        } else if (target != "bgwriter" && target != "wal") {
          // (walrep keeps no bgwriter or WAL statistics: nothing to reset there.)
          return Status::Sql("22023", fmt::format("unrecognized reset target: \"{}\"", target))
              .WithHint(
                  "Target must be \"archiver\", \"bgwriter\", \"recovery_prefetch\", or "
                  "\"wal\".");
        }
        return Value::Null(oid::kVoid);
      }));
  auto recovery_fn = [r](const char* name, int32_t type,
                         std::function<Result<Value>(sql::FunctionCall&)> fn) {
    r->AddFunction(sql::FixedFunction(name, {}, type, std::move(fn)));
  };
  auto require_recovery = [env]() -> Status {
    if (env->startup && env->in_recovery()) return Status::OK();
    return Status::Sql("55000", "recovery is not in progress")
        .WithHint("Recovery control functions can only be executed during recovery.");
  };
  recovery_fn("pg_last_wal_receive_lsn", oid::kPgLsn, [env](sql::FunctionCall&) -> Result<Value> {
    return env->receiver ? LsnOrNull(env->receiver->flushed().value()) : Value::Null(oid::kPgLsn);
  });
  recovery_fn("pg_last_wal_replay_lsn", oid::kPgLsn, [env](sql::FunctionCall&) -> Result<Value> {
    return env->startup ? LsnOrNull(env->startup->replayed().value()) : Value::Null(oid::kPgLsn);
  });
  recovery_fn("pg_last_xact_replay_timestamp", oid::kTimestampTz,
              [env](sql::FunctionCall&) -> Result<Value> {
                TimestampTz t = env->startup ? env->startup->last_xact_replay_time() : 0;
                return t ? Value::Timestamp(oid::kTimestampTz, t) : Value::Null(oid::kTimestampTz);
              });
  // Beyond PostgreSQL: replication lag in seconds that stays 0 on an idle primary (see
  // WalReceiver::ReplicationLag); NULL on a primary or while not streaming.
  recovery_fn("walrep_replication_lag", oid::kFloat8, [env](sql::FunctionCall&) -> Result<Value> {
    if (!env->receiver || !env->startup || !env->in_recovery()) return Value::Null(oid::kFloat8);
    auto lag = env->receiver->ReplicationLag(env->startup->replayed().value(), NowTimestamp());
    if (!lag) return Value::Null(oid::kFloat8);
    return Value::Float(oid::kFloat8, static_cast<double>(*lag) / 1e6);
  });
  // Read-your-writes: waits until this standby has replayed `lsn` (woken by replay), for at
  // most timeout_ms (0: no limit). The function form of WAIT FOR LSN.
  {
    sql::FunctionDef f;
    f.name = "walrep_wait_for_lsn";
    f.resolve = [](std::vector<int32_t>& types) -> Result<int32_t> {
      if (types.empty() || types.size() > 3) {
        return Status::Sql("42883", "function walrep_wait_for_lsn does not exist")
            .WithHint("walrep_wait_for_lsn(lsn pg_lsn [, timeout_ms bigint [, no_throw bool]])");
      }
      std::vector<int32_t> want = {oid::kPgLsn, oid::kInt8, oid::kBool};
      want.resize(types.size());
      types = want;
      return oid::kText;
    };
    f.eval = [env](sql::FunctionCall& c) -> Result<Value> {
      Lsn target(static_cast<uint64_t>(c.args[0].as_int()));
      int64_t timeout_ms = c.args.size() > 1 ? c.args[1].as_int() : 0;
      bool no_throw = c.args.size() > 2 && c.args[2].as_bool();
      if (timeout_ms < 0) return Status::Sql("22023", "\"timeout\" must not be negative");
      auto not_in_recovery = [&](Lsn replayed, bool ended_while_waiting) -> Result<Value> {
        if (no_throw) return Value::Text(oid::kText, "not in recovery");
        Status st = Status::Sql("55000", "recovery is not in progress");
        if (ended_while_waiting) {
          return std::move(st).WithDetail(
              fmt::format("Recovery ended before replaying target LSN {}; last replay LSN {}.",
                          target.ToString(), replayed.ToString()));
        }
        return std::move(st).WithHint(
            "Waiting for the replay LSN can only be executed during recovery.");
      };
      if (!env->startup || !env->in_recovery()) return not_in_recovery(Lsn(), false);
      LsnWaiter& replayed = env->startup->replayed();
      auto deadline = timeout_ms > 0
                          ? std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms)
                          : std::chrono::steady_clock::time_point::max();
      while (replayed.value() < target) {
        if (!env->in_recovery()) return not_in_recovery(replayed.value(), true);
        if (std::chrono::steady_clock::now() >= deadline) {
          if (no_throw) return Value::Text(oid::kText, "timeout");
          return Status::Sql("57014", fmt::format("timed out while waiting for target LSN {} to "
                                                  "be replayed; current replay LSN {}",
                                                  target.ToString(), replayed.value().ToString()));
        }
        WALREP_RETURN_IF_ERROR(c.ctx.CheckInterrupts());
        // Woken by replay reaching the target and by a promotion (Kick); the bound only keeps
        // cancel requests prompt.
        auto until =
            std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
        // Reaching the target, a promotion or the bound: the loop looks again either way.
        (void)replayed.WaitUntil(
            target, [env] { return !env->in_recovery(); }, until);
      }
      return Value::Text(oid::kText, "success");
    };
    r->AddFunction(std::move(f));
  }
  recovery_fn("pg_is_wal_replay_paused", oid::kBool,
              [env, require_recovery](sql::FunctionCall&) -> Result<Value> {
                WALREP_RETURN_IF_ERROR(require_recovery());
                return Value::Bool(env->startup->paused());
              });
  recovery_fn("pg_get_wal_replay_pause_state", oid::kText,
              [env, require_recovery](sql::FunctionCall&) -> Result<Value> {
                WALREP_RETURN_IF_ERROR(require_recovery());
                return Value::Text(oid::kText, env->startup->paused() ? "paused" : "not paused");
              });
  recovery_fn("pg_wal_replay_pause", oid::kVoid,
              [env, require_recovery](sql::FunctionCall& c) -> Result<Value> {
                if (!c.ctx.is_superuser()) {
                  return Status::Sql("42501", "permission denied for function pg_wal_replay_pause");
                }
                WALREP_RETURN_IF_ERROR(require_recovery());
                env->startup->Pause();
                return Value::Null(oid::kVoid);
              });
  recovery_fn("pg_wal_replay_resume", oid::kVoid,
              [env, require_recovery](sql::FunctionCall& c) -> Result<Value> {
                if (!c.ctx.is_superuser()) {
                  return Status::Sql("42501",
                                     "permission denied for function pg_wal_replay_resume");
                }
                WALREP_RETURN_IF_ERROR(require_recovery());
                env->startup->Resume();
                return Value::Null(oid::kVoid);
              });
  r->AddFunction(sql::FixedFunction("pg_drop_replication_slot", {oid::kName}, oid::kVoid,
                                    [env](sql::FunctionCall& c) -> Result<Value> {
                                      WALREP_RETURN_IF_ERROR(RequireReplicationPrivilege(c.ctx));
                                      WALREP_RETURN_IF_ERROR(env->slots->Drop(
                                          c.args[0].as_string(), false, c.ctx.backend_pid()));
                                      return Value::Null(oid::kVoid);
                                    }));
}

}  // namespace walrep::replication
