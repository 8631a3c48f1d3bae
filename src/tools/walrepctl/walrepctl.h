// walrep: walrepctl subcommands. Each returns the process exit status.
// Flags, messages and exit codes follow initdb, pg_ctl and pg_controldata.
#pragma once

#include <string>
#include <vector>

namespace walrep::tools {

using Args = std::vector<std::string>;

int Init(const Args& args);          // initdb
int Start(const Args& args);         // pg_ctl start
int Stop(const Args& args);          // pg_ctl stop
int Restart(const Args& args);       // pg_ctl restart
int Reload(const Args& args);        // pg_ctl reload
int Promote(const Args& args);       // pg_ctl promote
int ServerStatus(const Args& args);  // pg_ctl status: 0 running, 3 not running, 4 no data dir
int ControlData(const Args& args);   // pg_controldata
int BaseBackup(const Args& args);    // pg_basebackup (plain format)
int Rewind(const Args& args);        // pg_rewind
int WalDump(const Args& args);       // pg_waldump of a data directory

const char* ConfSample();
// Directory holding this executable (walrepd lives beside walrepctl).
std::string SelfDir();

}  // namespace walrep::tools
