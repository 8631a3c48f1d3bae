// walrep: regular expressions — SQL's ~ operators and regexp_replace, and walrep's own parsing
// of text a client sent — on PCRE2, with bounded work.
//
// A match never recurses on the thread's stack (PCRE2 keeps its backtracking frames on the heap)
// and stops with an error past a step and a memory limit. libstdc++'s std::regex, which walrep
// used before, recursed once per subject character: `repeat('a', 300000) ~ '(a|b)*c'` overflowed
// a session thread's stack and took the whole server down, and so did a WAIT FOR LSN statement
// padded with 300,000 blanks (fuzz finding 9).
//
// Patterns are PostgreSQL's advanced regular expressions (AREs) as far as PCRE2 shares them —
// which covers what is commonly written: classes, bracket expressions with [:alpha:] and the
// like, bounds, non-greedy quantifiers, back references, lookahead and lookbehind, \d \s \w and
// their negations, embedded options. ARE's own escapes \m \M \y \Y \Z are translated; bounds
// above 255 are refused as PostgreSQL refuses them. Matching is by character (UTF-8), \w and
// case folding follow Unicode, '.' matches a newline and '$' only the end, as in PostgreSQL's
// default (not newline-sensitive) mode.
//
// Thread safety: a compiled Regex is immutable and may be used by any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "walrep/common/status.h"

struct pcre2_real_code_8;

namespace walrep {

struct RegexOptions {
  bool ignore_case = false;
  // Off with PostgreSQL's flags n and p: '.' and bracket expressions stop at a newline.
  bool dot_matches_newline = true;
  // On with flags n and w: ^ and $ also match after and before a newline.
  bool anchors_at_newlines = false;
  bool expanded = false;  // x: blanks and # comments in the pattern are ignored
  bool literal = false;   // q: the pattern is a plain string
};

// The flags argument of PostgreSQL's regexp functions ("gi", "n", ...); `global` receives g.
// An unknown flag is 22023 invalid regular expression option, as PostgreSQL reports it.
Result<RegexOptions> ParseRegexFlags(std::string_view flags, bool* global);

// Called between slices of a long search (about every few milliseconds of matching); an error it
// returns (a cancel, statement_timeout) ends the search with that error. PCRE2 never returns
// control on its own: `repeat('a', 300000) ~ 'b|()a*c'` tries each of 300,000 start positions in
// linear time, 25 s in one call (fuzz finding 20).
using RegexInterrupt = std::function<Status()>;

class Regex {
 public:
  // Compiles `pattern`; a bad one is 2201B "invalid regular expression: ..." with PostgreSQL's
  // text for the common mistakes (parentheses () not balanced, brackets [] not balanced,
  // quantifier operand invalid, invalid repetition count(s), invalid escape \ sequence).
  static Result<std::shared_ptr<const Regex>> Compile(std::string_view pattern,
                                                      const RegexOptions& opts = {});
  // For walrep's own fixed patterns: a pattern that does not compile is a bug, and aborts.
  static std::shared_ptr<const Regex> Fixed(std::string_view pattern,
                                            const RegexOptions& opts = {});
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // [begin, end) of the whole match, then of each capturing group (npos, npos for a group that
  // took no part).
  using Match = std::vector<std::pair<size_t, size_t>>;
  // The text of group `g` of `m`, a match in `subject` ("" for a group that took no part).
  static std::string_view Group(std::string_view subject, const Match& m, size_t g);

  // Whether `subject` contains a match. A match that would pass the limits is 2201B "regular
  // expression failed: ...".
  Result<bool> Search(std::string_view subject, const RegexInterrupt& interrupt = {}) const;
  // The first match starting at or after byte `from` (a character boundary), or none.
  Result<std::optional<Match>> Find(std::string_view subject, size_t from = 0,
                                    const RegexInterrupt& interrupt = {}) const;
  // A match of the whole of `subject`, or none.
  Result<std::optional<Match>> FullMatch(std::string_view subject) const;
  // PostgreSQL's regexp_replace: the first match (every one if `global`) replaced by
  // `replacement`, in which \1..\9 are the groups, \& the whole match and \\ a backslash (a
  // backslash before anything else stays as written).
  Result<std::string> Replace(std::string_view subject, std::string_view replacement, bool global,
                              const RegexInterrupt& interrupt = {}) const;

 private:
  Regex(pcre2_real_code_8* code, bool anchored) : code_(code), anchored_(anchored) {}
  Result<std::optional<Match>> Run(std::string_view subject, size_t from, uint32_t options,
                                   const RegexInterrupt& interrupt) const;

  pcre2_real_code_8* code_;
  bool anchored_;  // the pattern can match only at the start (it begins with ^, say)
};

}  // namespace walrep
