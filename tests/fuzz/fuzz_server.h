// walrep: an in-process walrep server for the fuzz targets that talk to it over a socket
// (frontend, sql): a fresh data directory made by walrepctl init, the server started once per
// fuzzing process on a free port of 127.0.0.1, and its log in the data directory.
#pragma once

#include <string>

namespace walrep::fuzz {

// The server, started on first use; aborts the process if it cannot start.
int ServerPort();
// A fixture schema (tables with indexes, a sequence, rows) for the SQL the fuzzers send.
extern const char* const kFixtureSql;

}  // namespace walrep::fuzz
