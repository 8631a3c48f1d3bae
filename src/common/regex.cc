#include "walrep/common/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace walrep {

namespace {

// Steps and memory a match attempt at one start position may take before it is an error: far
// more than any sensible pattern needs (a 1 MB subject scanned by a simple pattern takes about
// a million steps), and bounded — PCRE2's own default heap limit is 20 GB. 50 million steps
// take about half a second; between start positions a search checks for cancel (Run).
constexpr uint32_t kMatchSteps = 50'000'000;
constexpr uint32_t kMatchHeapKb = 256 * 1024;
// PostgreSQL's RE_DUP_MAX: the largest count a bound {m,n} may name.
constexpr long kMaxRepeat = 255;

// Start positions the first slice of a search tries; later slices double or halve this so that
// each takes between kSliceFast and kSliceSlow.
constexpr size_t kFirstSlice = 64;
constexpr auto kSliceFast = std::chrono::milliseconds(1);
constexpr auto kSliceSlow = std::chrono::milliseconds(10);

// This thread's match context: the limits above, and the offset limit of the current slice.
pcre2_match_context* MatchContext() {
  thread_local std::unique_ptr<pcre2_match_context, void (*)(pcre2_match_context*)> ctx = [] {
    pcre2_match_context* c = pcre2_match_context_create(nullptr);
    if (!c) std::abort();
    pcre2_set_match_limit(c, kMatchSteps);
    pcre2_set_heap_limit(c, kMatchHeapKb);
    return std::unique_ptr<pcre2_match_context, void (*)(pcre2_match_context*)>(
        c, pcre2_match_context_free);
  }();
  return ctx.get();
}

Status Invalid(std::string_view what) {
  return Status::Sql("2201B", fmt::format("invalid regular expression: {}", what));
}

// At p[i], a '{': when a digit follows it starts a bound, `{m}`, `{m,}` or `{m,n}`, whose end
// (one past '}') is returned after checking it as PostgreSQL does; otherwise it is an ordinary
// character (npos).
Result<size_t> CheckBound(std::string_view p, size_t i) {
  size_t j = i + 1;
  auto number = [&](long* out) -> Status {
    long v = 0;
    while (j < p.size() && std::isdigit(static_cast<unsigned char>(p[j]))) {
      v = v * 10 + (p[j++] - '0');
      if (v > kMaxRepeat) return Invalid("invalid repetition count(s)");
    }
    *out = v;
    return Status::OK();
  };
  if (j >= p.size() || !std::isdigit(static_cast<unsigned char>(p[j]))) {
    return std::string_view::npos;
  }
  long lo = 0, hi = kMaxRepeat;
  WALREP_RETURN_IF_ERROR(number(&lo));
  if (j < p.size() && p[j] == ',') {
    j++;
    if (j < p.size() && std::isdigit(static_cast<unsigned char>(p[j]))) {
      WALREP_RETURN_IF_ERROR(number(&hi));
    }
  } else {
    hi = lo;
  }
  if (j >= p.size()) return Invalid("braces {} not balanced");
  if (p[j] != '}' || hi < lo) return Invalid("invalid repetition count(s)");
  return j + 1;
}

// An ARE in PCRE2's syntax: ARE's own escapes translated, bounds checked. Bracket expressions
// pass unchanged (their escapes and [:class:] items mean the same in both).
Result<std::string> Translate(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  size_t i = 0;
  while (i < p.size()) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 == p.size()) return Invalid("invalid escape \\ sequence");
      char e = p[i + 1];
      i += 2;
      switch (e) {
        case 'm':
          out += "\\b(?=\\w)";
          break;
        case 'M':
          out += "\\b(?<=\\w)";
          break;
        case 'y':
          out += "\\b";
          break;
        case 'Y':
          out += "\\B";
          break;
        case 'Z':
          out += "\\z";
          break;
        default:
          out += c;
          out += e;
      }
      continue;
    }
    if (c == '[') {
      // To the closing ']': one right after '[' or '[^' is a member; [:x:], [.x.] and [=x=]
      // items and escapes are copied whole, so no ']' inside them ends the expression.
      size_t j = i + 1;
      if (j < p.size() && p[j] == '^') j++;
      if (j < p.size() && p[j] == ']') j++;
      while (j < p.size() && p[j] != ']') {
        if (p[j] == '\\' && j + 1 < p.size()) {
          j += 2;
        } else if (p[j] == '[' && j + 1 < p.size() &&
                   (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
          char kind = p[j + 1];
          size_t close = p.find(std::string{kind, ']'}, j + 2);
          j = close == std::string_view::npos ? p.size() : close + 2;
        } else {
          j++;
        }
      }
      if (j >= p.size()) return Invalid("brackets [] not balanced");
      out.append(p.substr(i, j + 1 - i));
      i = j + 1;
      continue;
    }
    if (c == '{') {
      WALREP_ASSIGN_OR_RETURN(size_t end, CheckBound(p, i));
      if (end != std::string_view::npos) {
        out.append(p.substr(i, end - i));
        i = end;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

Status CompileError(int code) {
  switch (code) {
    case PCRE2_ERROR_MISSING_CLOSING_PARENTHESIS:
    case PCRE2_ERROR_UNMATCHED_CLOSING_PARENTHESIS:
      return Invalid("parentheses () not balanced");
    case PCRE2_ERROR_MISSING_SQUARE_BRACKET:
      return Invalid("brackets [] not balanced");
    case PCRE2_ERROR_QUANTIFIER_INVALID:
      return Invalid("quantifier operand invalid");
    case PCRE2_ERROR_QUANTIFIER_OUT_OF_ORDER:
    case PCRE2_ERROR_QUANTIFIER_TOO_BIG:
      return Invalid("invalid repetition count(s)");
    case PCRE2_ERROR_END_BACKSLASH:
      return Invalid("invalid escape \\ sequence");
    case PCRE2_ERROR_PATTERN_TOO_LARGE:
      return Invalid("regular expression is too complex");
    default: {
      PCRE2_UCHAR buf[256];
      if (pcre2_get_error_message(code, buf, sizeof buf) < 0) return Invalid("unknown error");
      return Invalid(reinterpret_cast<const char*>(buf));
    }
  }
}

// The length of the UTF-8 character starting with byte `b` (1 for a byte that starts none).
size_t CharLength(unsigned char b) {
  if (b >= 0xF0 && b < 0xF8) return 4;
  if (b >= 0xE0) return b < 0xF0 ? 3 : 1;
  if (b >= 0xC0) return 2;
  return 1;
}

}  // namespace

Result<RegexOptions> ParseRegexFlags(std::string_view flags, bool* global) {
  RegexOptions o;
  *global = false;
  for (char f : flags) {
    switch (f) {
      case 'g':
        *global = true;
        break;
      case 'i':
        o.ignore_case = true;
        break;
      case 'c':
        o.ignore_case = false;
        break;
      case 'n':
      case 'm':
        o.dot_matches_newline = false;
        o.anchors_at_newlines = true;
        break;
      case 'p':
        o.dot_matches_newline = false;
        o.anchors_at_newlines = false;
        break;
      case 'w':
        o.dot_matches_newline = true;
        o.anchors_at_newlines = true;
        break;
      case 's':
        o.dot_matches_newline = true;
        o.anchors_at_newlines = false;
        break;
      case 'x':
        o.expanded = true;
        break;
      case 't':
        o.expanded = false;
        break;
      case 'q':
        o.literal = true;
        break;
      case 'e':  // extended (ERE): what walrep's patterns are already, but for ARE's escapes
        break;
      case 'b':
        return Status::NotSupported("basic regular expressions (flag b) are not supported");
      default:
        return Status::Sql("22023", fmt::format("invalid regular expression option: \"{}\"", f));
    }
  }
  return o;
}

Result<std::shared_ptr<const Regex>> Regex::Compile(std::string_view pattern,
                                                    const RegexOptions& opts) {
  std::string translated;
  if (opts.literal) {
    translated = pattern;
  } else {
    WALREP_ASSIGN_OR_RETURN(translated, Translate(pattern));
  }
  uint32_t flags = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_USE_OFFSET_LIMIT;
  if (opts.ignore_case) flags |= PCRE2_CASELESS;
  if (opts.literal) {
    flags |= PCRE2_LITERAL;  // which allows no options about the pattern's syntax
  } else {
    flags |= PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C;
    if (opts.dot_matches_newline) flags |= PCRE2_DOTALL;
    flags |= opts.anchors_at_newlines ? PCRE2_MULTILINE : PCRE2_DOLLAR_ENDONLY;
    if (opts.expanded) flags |= PCRE2_EXTENDED;
  }
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()),
                                   translated.size(), flags, &error, &offset, nullptr);
  if (!code) return CompileError(error);
  uint32_t all = 0;
  pcre2_pattern_info(code, PCRE2_INFO_ALLOPTIONS, &all);
  return std::shared_ptr<const Regex>(new Regex(code, (all & PCRE2_ANCHORED) != 0));
}

std::shared_ptr<const Regex> Regex::Fixed(std::string_view pattern, const RegexOptions& opts) {
  auto re = Compile(pattern, opts);
  if (!re.ok()) {
    std::fprintf(stderr, "walrep: built-in regular expression %.*s: %s\n",
                 static_cast<int>(pattern.size()), pattern.data(), re.status().message().c_str());
    std::abort();
  }
  return *std::move(re);
}

Regex::~Regex() { pcre2_code_free(code_); }

Result<std::optional<Regex::Match>> Regex::Run(std::string_view subject, size_t from,
                                               uint32_t options,
                                               const RegexInterrupt& interrupt) const {
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
      pcre2_match_data_create_from_pattern(code_, nullptr), pcre2_match_data_free);
  if (!md) return Status::Sql("53200", "out of memory");
  pcre2_match_context* mctx = MatchContext();
  // The search goes in slices of start positions (PCRE2's offset limit: a match must start at
  // or before it), so that `interrupt` is asked between them. The step limit bounds the work at
  // one start position; without slices a search could try every position in one long call.
  bool anchored = anchored_ || (options & PCRE2_ANCHORED) != 0;
  size_t slice = kFirstSlice;
  int rc;
  while (true) {
    bool last = anchored || subject.size() - from <= slice;
    pcre2_set_offset_limit(mctx, last ? PCRE2_UNSET : from + slice);
    // Only a sliced search reads the clock: the common short match stays one call and nothing
    // more.
    auto began = last ? std::chrono::steady_clock::time_point{} : std::chrono::steady_clock::now();
    rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), from,
                     options, md.get(), mctx);
    if (rc != PCRE2_ERROR_NOMATCH || last) break;
    auto took = std::chrono::steady_clock::now() - began;
    if (interrupt) WALREP_RETURN_IF_ERROR(interrupt());
    from += slice + 1;
    while (from < subject.size() && (static_cast<unsigned char>(subject[from]) & 0xC0) == 0x80) {
      from++;  // to the next character's first byte
    }
    if (took < kSliceFast) {
      slice *= 2;
    } else if (took > kSliceSlow && slice > 1) {
      slice /= 2;
    }
  }
  if (rc == PCRE2_ERROR_NOMATCH) return std::optional<Match>();
  if (rc < 0) {
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(rc, buf, sizeof buf) < 0)
      return Status::Sql("XX000", "regular expression failed");
    return Status::Sql(
        "2201B", fmt::format("regular expression failed: {}", reinterpret_cast<const char*>(buf)));
  }
  uint32_t groups = pcre2_get_ovector_count(md.get());
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
  Match m;
  for (uint32_t g = 0; g < groups; g++) {
    bool set = ov[2 * g] != PCRE2_UNSET;
    m.emplace_back(set ? ov[2 * g] : std::string_view::npos,
                   set ? ov[2 * g + 1] : std::string_view::npos);
  }
  return std::optional<Match>(std::move(m));
}

std::string_view Regex::Group(std::string_view subject, const Match& m, size_t g) {
  if (g >= m.size() || m[g].first == std::string_view::npos) return {};
  return subject.substr(m[g].first, m[g].second - m[g].first);
}

Result<bool> Regex::Search(std::string_view subject, const RegexInterrupt& interrupt) const {
  WALREP_ASSIGN_OR_RETURN(auto m, Run(subject, 0, 0, interrupt));
  return m.has_value();
}

Result<std::optional<Regex::Match>> Regex::Find(std::string_view subject, size_t from,
                                                const RegexInterrupt& interrupt) const {
  return Run(subject, from, 0, interrupt);
}

Result<std::optional<Regex::Match>> Regex::FullMatch(std::string_view subject) const {
  return Run(subject, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, {});
}

Result<std::string> Regex::Replace(std::string_view subject, std::string_view replacement,
                                   bool global, const RegexInterrupt& interrupt) const {
  std::string out;
  size_t copied = 0, from = 0;
  while (from <= subject.size()) {
    WALREP_ASSIGN_OR_RETURN(auto m, Run(subject, from, 0, interrupt));
    if (!m) break;
    auto [begin, end] = (*m)[0];
    out.append(subject.substr(copied, begin - copied));
    for (size_t i = 0; i < replacement.size(); i++) {
      char c = replacement[i];
      if (c != '\\' || i + 1 == replacement.size()) {
        out += c;
        continue;
      }
      char n = replacement[i + 1];
      size_t group = n >= '1' && n <= '9' ? static_cast<size_t>(n - '0') : n == '&' ? 0 : 10;
      if (group < 10) {
        out.append(Group(subject, *m, group));
        i++;
      } else if (n == '\\') {
        out += '\\';
        i++;
      } else {
        out += c;  // the next character is copied on its own turn
      }
    }
    copied = end;
    if (!global) break;
    // After an empty match the next one is looked for a character further on.
    from = end > begin
               ? end
               : end + (end < subject.size() ? CharLength(static_cast<unsigned char>(subject[end]))
                                             : 1);
  }
  out.append(subject.substr(copied));
  return out;
}

}  // namespace walrep
