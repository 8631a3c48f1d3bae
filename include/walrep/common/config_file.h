// walrep: the postgresql.conf grammar.
//
// Lines are `name [=] value` with `#` comments. A value is a single-quoted string (where '' and
// backslash escapes stand for one character), or a bare token: a number with an optional unit,
// an identifier, or a path-like word. `include 'file'`, `include_if_exists 'file'` and
// `include_dir 'dir'` read more files, relative to the including file's directory; files in an
// include_dir are read in name order, and only those ending in ".conf".
// Counterpart: guc-file.l and ParseConfigFp() in PostgreSQL.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "walrep/common/guc.h"
#include "walrep/common/status.h"

namespace walrep {

// Parses configuration text; `file` names it in errors and anchors relative includes.
Result<std::vector<GucAssignment>> ParseConfigText(std::string_view text, const std::string& file,
                                                   int depth = 0);
// Reads and parses a file and everything it includes.
Result<std::vector<GucAssignment>> ParseConfigFile(const std::string& path, bool missing_ok = false,
                                                   int depth = 0);

// Renders postgresql.auto.conf: a header and one `name = 'value'` line per assignment.
std::string RenderAutoConf(const std::vector<std::pair<std::string, std::string>>& items);

}  // namespace walrep
