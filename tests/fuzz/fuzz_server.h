// walrep: an in-process walrep server for the fuzz targets that talk to it over a socket
// (frontend, sql): a fresh data directory made by walrepctl init, the server started once per
// fuzzing process on a free port of 127.0.0.1, and its log in the data directory. Inputs reach
// it through its listener (ServerPort) or straight through a session thread (ServeInProcess).
#pragma once

#include <string>

namespace walrep::fuzz {

// The server, started on first use; aborts the process if it cannot start.
int ServerPort();
// Runs a client session of that server on `fd` (one end of a socket pair; the session closes
// it) on a thread of a pool kept for the life of the process: no listener, no TCP and no thread
// start per input. A session still running when the next input comes takes a new thread.
void ServeInProcess(int fd);
// A fixture schema (tables with indexes, a sequence, rows) for the SQL the fuzzers send.
extern const char* const kFixtureSql;

}  // namespace walrep::fuzz
