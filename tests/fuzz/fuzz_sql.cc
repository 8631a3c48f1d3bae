// Fuzz target: SQL text → libpg_query → walrep's analysis and executor, on one connection to an
// in-process walrep server with a fixture schema (fuzz_server.cc). Statements that parse but
// walrep rejects must get an error, never a crash. Inputs that would only make the run slow
// (sleeps, removing the statement timeout, huge series) are skipped; a session left in a
// transaction is rolled back before the next input.
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_server.h"

namespace {

PGconn* Connection() {
  static PGconn* conn = nullptr;
  if (conn && PQstatus(conn) == CONNECTION_OK) return conn;
  if (conn) PQfinish(conn);
  std::string info = "host=127.0.0.1 port=" + std::to_string(walrep::fuzz::ServerPort()) +
                     " dbname=postgres options='-c statement_timeout=3000 -c work_mem=1MB'";
  conn = PQconnectdb(info.c_str());
  return conn;
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (Skipped(text)) return 0;
  PGconn* c = Connection();
  if (!PQsendQuery(c, text.c_str())) return 0;
  while (PGresult* r = PQgetResult(c)) {
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
  return 0;
}
