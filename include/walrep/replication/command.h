// walrep: the replication command language of PostgreSQL 15 (walsender grammar).
//
// A replication connection sends commands as simple queries. A text is a replication command
// when its first word is one of the upper-case keywords (IDENTIFY_SYSTEM, SHOW, ...); anything
// else is SQL, which a physical walsender refuses with 0A000. Keywords are upper case only,
// identifiers fold to lower case unless double-quoted, strings use '' for a quote, LSNs are
// hex/hex, and one trailing semicolon is allowed. Grammar errors are 42601 "syntax error".
// Counterpart: repl_gram.y and repl_scanner.l in PostgreSQL.
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "walrep/common/lsn.h"
#include "walrep/common/status.h"

namespace walrep::replication {

enum class CommandKind {
  kIdentifySystem,
  kShow,
  kTimelineHistory,
  kCreateSlot,
  kReadSlot,
  kDropSlot,
  kStartReplication,
  kBaseBackup,
};

// One option of a parenthesised list: lower-cased name, and its value as written (strings
// unquoted); no value means "true".
struct CommandOption {
  std::string name;
  std::optional<std::string> value;
};

struct Command {
  CommandKind kind = CommandKind::kIdentifySystem;
  std::string name;    // SHOW parameter, or slot name
  TimelineId tli = 0;  // TIMELINE_HISTORY n / START_REPLICATION ... TIMELINE n (0: absent)
  Lsn start;           // START_REPLICATION
  bool temporary = false;
  bool logical = false;  // CREATE_REPLICATION_SLOT ... LOGICAL, START_REPLICATION ... LOGICAL
  bool wait = false;     // DROP_REPLICATION_SLOT ... WAIT
  std::string plugin;    // logical output plugin
  std::vector<CommandOption> options;
};

// True when `text` starts with a replication command keyword.
bool IsReplicationCommand(const std::string& text);
// Parses one command; 42601 on a grammar error.
Result<Command> ParseCommand(const std::string& text);
// The command's name as used in CommandComplete tags and logs ("START_REPLICATION").
const char* CommandName(CommandKind kind);
// Interprets a boolean option value as PostgreSQL's defGetBoolean does (no value = true).
Result<bool> OptionBool(const CommandOption& o);

}  // namespace walrep::replication
