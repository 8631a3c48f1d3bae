// Fuzz target: SQL text → libpg_query → walrep's analysis and executor, on one connection to an
// in-process walrep server with a fixture schema (fuzz_server.cc). Statements that parse but
// walrep rejects must get an error, never a crash (nor an "internal error", which the harness
// counts as one). Inputs that would only make the run slow
// (sleeps, removing the statement timeout, huge series) are skipped; a session left in a
// transaction is rolled back before the next input. Every kInputsPerRestore inputs the database
// is put back to the fixture: what inputs commit would otherwise pile up (a 60 MB table from one
// seed, copies of it from mutations) and slow every later input that scans it.
//
// Speed is what lets this target reach millions of inputs, and its own time profile says where
// it goes: every kInputsPerProfile inputs (and at exit) the harness prints how many inputs took
// how long ("sql-times: ..."). Measured on the seed corpus, a fifth of the inputs' time went to the
// few inputs that ran until statement_timeout (then 1 s); an input that runs that long is repeating
// a loop, so the timeout is 250 ms, still enough to sort past work_mem and spill. With libFuzzer's
// -entropic_scale_per_exec_time (scripts/fuzz.sh) most inputs take under 1 ms, and at 1,000
// inputs/s a restore (about 0.45 s under ASan) every 1,000 inputs took nearly half the time: it
// comes every 3,000.
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "fuzz_server.h"

namespace {

constexpr int kInputsPerRestore = 3000;
constexpr int kInputsPerProfile = 100000;
// Every statement ends within statement_timeout (250 ms) and a restore within seconds: an input
// still running after this long has found the server stuck.
constexpr int kStuckSeconds = 20;

std::string ConnInfo(const char* options) {
  return "host=127.0.0.1 port=" + std::to_string(walrep::fuzz::ServerPort()) +
         " dbname=postgres options='" + options + "'";
}

PGconn* connection = nullptr;

PGconn* Connection() {
  if (connection && PQstatus(connection) == CONNECTION_OK) return connection;
  if (connection) PQfinish(connection);
  connection = PQconnectdb(ConnInfo("-c statement_timeout=250 -c work_mem=1MB").c_str());
  // Notices and warnings are the server's answers too, not news: libpq would print each.
  PQsetNoticeProcessor(
      connection, [](void*, const char*) {}, nullptr);
  return connection;
}

// The first column of `sql`'s rows (none if it fails).
std::vector<std::string> Column(PGconn* c, const char* sql) {
  std::vector<std::string> out;
  PGresult* r = PQexec(c, sql);
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    for (int i = 0; i < PQntuples(r); i++) out.emplace_back(PQgetvalue(r, i, 0));
  }
  PQclear(r);
  return out;
}

// "DROP <what> a, b, c" for the objects `query` lists, or nothing if it lists none.
void DropAll(PGconn* c, const char* what, const char* query) {
  std::string sql;
  for (const std::string& name : Column(c, query)) {
    char* quoted = PQescapeIdentifier(c, name.c_str(), name.size());
    if (!quoted) continue;
    sql += (sql.empty() ? std::string("DROP ") + what + " " : std::string(", ")) + quoted;
    PQfreemem(quoted);
  }
  if (!sql.empty()) PQclear(PQexec(c, sql.c_str()));
}

// Drops every table, sequence, role and replication slot inputs made or changed, clears ALTER
// SYSTEM's file, and loads the fixture again. Best effort: what cannot be dropped now (a role
// another session still uses) is dropped at the next restore; only a fixture that cannot be
// loaded again is reported, as the inputs after it would test less.
void RestoreFixture() {
  PGconn* c = PQconnectdb(ConnInfo("-c statement_timeout=60000").c_str());
  for (const std::string& slot : Column(c, "SELECT slot_name FROM pg_replication_slots")) {
    const char* values[] = {slot.c_str()};
    PQclear(PQexecParams(c, "SELECT pg_drop_replication_slot($1)", 1, nullptr, values, nullptr,
                         nullptr, 0));
  }
  DropAll(c, "TABLE",
          "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = "
          "'public'::regnamespace");
  DropAll(c, "SEQUENCE",
          "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = "
          "'public'::regnamespace");
  for (const std::string& role :
       Column(c,
              "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> "
              "current_user")) {
    char* quoted = PQescapeIdentifier(c, role.c_str(), role.size());
    if (!quoted) continue;
    PQclear(PQexec(c, (std::string("DROP ROLE ") + quoted).c_str()));
    PQfreemem(quoted);
  }
  PQclear(PQexec(c, "ALTER SYSTEM RESET ALL"));
  PGresult* r = PQexec(c, walrep::fuzz::kFixtureSql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "fuzz_sql: reloading the fixture failed: %s", PQerrorMessage(c));
  }
  PQclear(r);
  PQfinish(c);
}

bool Skipped(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* word : {"sleep", "timeout", "reset", "terminate", "cancel", "promote", "discard",
                           "set session", "reload"}) {
    if (text.find(word) != std::string::npos) return true;
  }
  return text.find('\0') != std::string::npos;
}

// Every row of `sql`, its values joined by '|', to stderr.
void PrintRows(PGconn* c, const char* sql) {
  PGresult* r = PQexec(c, sql);
  std::fprintf(stderr, "fuzz_sql: %s\n", sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) std::fprintf(stderr, "  %s", PQerrorMessage(c));
  for (int i = 0; i < PQntuples(r); i++) {
    std::string line;
    for (int j = 0; j < PQnfields(r); j++)
      line += (j ? "|" : "") + std::string(PQgetvalue(r, i, j));
    std::fprintf(stderr, "  %s\n", line.c_str());
  }
  PQclear(r);
}

// When an input has run for kStuckSeconds, prints once what the server's sessions wait for and
// every thread's stack (gdb), so that a hang leaves more than libFuzzer's -timeout report of the
// client waiting.
std::atomic<int64_t> input_started_ms{0};  // 0: between inputs

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void StartWatchdog() {
  std::thread([] {
    int64_t reported = 0;
    while (true) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      int64_t started = input_started_ms.load();
      if (started == 0 || started == reported || NowMs() - started < kStuckSeconds * 1000) continue;
      reported = started;
      std::fprintf(stderr, "fuzz_sql: an input has run for %d s\n", kStuckSeconds);
      PGconn* c = PQconnectdb(ConnInfo("-c statement_timeout=5000").c_str());
      PrintRows(c,
                "SELECT pid, state, wait_event_type, wait_event, backend_xmin, query FROM "
                "pg_stat_activity");
      PrintRows(c, "SELECT locktype, relation, transactionid, pid, mode, granted FROM pg_locks");
      PQfinish(c);
      std::string gdb = "gdb -batch -p " + std::to_string(::getpid()) +
                        " -ex 'thread apply all bt' 1>&2 2>/dev/null";
      if (std::system(gdb.c_str()) != 0) std::fprintf(stderr, "fuzz_sql: %s failed\n", gdb.c_str());
    }
  }).detach();
}

// How many inputs (restores included) took how long, and their total time.
class TimeProfile {
 public:
  void Add(double ms) {
    size_t i = 0;
    while (i < kLimitsMs.size() && ms >= kLimitsMs[i]) i++;
    count_[i]++;
    seconds_[i] += ms / 1000;
  }
  // "sql-times: <1ms 900 (0.4s) ... >=1000ms 3 (3.0s)"
  void Print() const {
    std::string line = "sql-times:";
    for (size_t i = 0; i < count_.size(); i++) {
      char part[64];
      bool last = i == kLimitsMs.size();
      std::snprintf(part, sizeof(part), " %s%gms %ld (%.1fs)", last ? ">=" : "<",
                    kLimitsMs[last ? i - 1 : i], count_[i], seconds_[i]);
      line += part;
    }
    std::fprintf(stderr, "%s\n", line.c_str());
  }

 private:
  static constexpr std::array<double, 7> kLimitsMs = {1, 3, 10, 30, 100, 300, 1000};
  std::array<long, kLimitsMs.size() + 1> count_{};
  std::array<double, kLimitsMs.size() + 1> seconds_{};
};

TimeProfile* Profile() {
  static TimeProfile* profile = [] {
    auto* p = new TimeProfile;
    std::atexit([] { Profile()->Print(); });
    return p;
  }();
  return profile;
}

void RunInput(const uint8_t* data, size_t size) {
  static int inputs = 0;
  if (++inputs % kInputsPerRestore == 0) {
    // A fresh session afterwards too: nothing an input SET or prepared outlives the restore.
    PQfinish(Connection());
    connection = nullptr;
    RestoreFixture();
  }
  std::string text(reinterpret_cast<const char*>(data), size);
  if (Skipped(text)) return;
  PGconn* c = Connection();
  if (!PQsendQuery(c, text.c_str())) return;
  while (PGresult* r = PQgetResult(c)) {
    // The session's safety net turned an exception into "XX000 internal error": the server
    // lives on, but walrep had no answer of its own for this input — a finding, saved as one.
    const char* message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (message && std::string(message).rfind("internal error", 0) == 0) {
      std::fprintf(stderr, "fuzz_sql: the server answered \"%s\"\n", message);
      std::abort();
    }
    switch (PQresultStatus(r)) {
      case PGRES_COPY_IN:
        PQputCopyData(c, "1\t2\n", 4);
        PQputCopyEnd(c, nullptr);
        break;
      case PGRES_COPY_OUT: {
        char* buf = nullptr;
        while (PQgetCopyData(c, &buf, 0) > 0) PQfreemem(buf);
        break;
      }
      default:
        break;
    }
    PQclear(r);
  }
  if (PQtransactionStatus(c) != PQTRANS_IDLE) PQclear(PQexec(c, "ROLLBACK"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static long inputs = 0;
  static bool watching = (StartWatchdog(), true);
  (void)watching;
  auto start = std::chrono::steady_clock::now();
  input_started_ms.store(NowMs());
  RunInput(data, size);
  input_started_ms.store(0);
  Profile()->Add(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  if (++inputs % kInputsPerProfile == 0) Profile()->Print();
  return 0;
}
