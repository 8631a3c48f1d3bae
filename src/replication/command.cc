// walrep: replication command parser (see command.h).
#include "walrep/replication/command.h"

#include <fmt/format.h>

#include <cctype>

#include "walrep/common/strings.h"

namespace walrep::replication {

namespace {

enum class Tok { kWord, kQuoted, kString, kLsn, kNumber, kPunct, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // words as written; quoted identifiers and strings unquoted
};

Status SyntaxError() { return Status::Sql("42601", "syntax error"); }

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

Result<std::vector<Token>> Lex(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      i++;
      continue;
    }
    Token t;
    if (c == '"' || c == '\'') {
      t.kind = c == '"' ? Tok::kQuoted : Tok::kString;
      i++;
      while (true) {
        if (i >= s.size()) return SyntaxError();
        if (s[i] == c) {
          if (i + 1 < s.size() && s[i + 1] == c) {
            t.text += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        t.text += s[i++];
      }
      if (t.kind == Tok::kQuoted && t.text.empty()) return SyntaxError();
    } else if (IsHex(c)) {
      // An LSN (hex/hex), a number, or a word that starts with a hex letter.
      size_t j = i;
      while (j < s.size() && IsHex(s[j])) j++;
      if (j < s.size() && s[j] == '/' && j + 1 < s.size() && IsHex(s[j + 1])) {
        size_t k = j + 1;
        while (k < s.size() && IsHex(s[k])) k++;
        t.kind = Tok::kLsn;
        t.text = s.substr(i, k - i);
        i = k;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t k = i;
        while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) k++;
        if (k < s.size() && IsIdentChar(s[k])) return SyntaxError();
        t.kind = Tok::kNumber;
        t.text = s.substr(i, k - i);
        i = k;
      } else {
        size_t k = i;
        while (k < s.size() && IsIdentChar(s[k])) k++;
        t.kind = Tok::kWord;
        t.text = s.substr(i, k - i);
        i = k;
      }
    } else if (IsIdentStart(c)) {
      size_t k = i;
      while (k < s.size() && IsIdentChar(s[k])) k++;
      t.kind = Tok::kWord;
      t.text = s.substr(i, k - i);
      i = k;
    } else if (c == '(' || c == ')' || c == ',' || c == ';' || c == '.') {
      t.kind = Tok::kPunct;
      t.text = std::string(1, c);
      i++;
    } else {
      return SyntaxError();
    }
    out.push_back(std::move(t));
  }
  // One trailing semicolon is part of the command.
  if (!out.empty() && out.back().kind == Tok::kPunct && out.back().text == ";") out.pop_back();
  out.push_back(Token{});
  return out;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

  const Token& Peek() const { return toks_[pos_]; }
  Token Next() { return toks_[pos_ < toks_.size() - 1 ? pos_++ : pos_]; }
  bool AtEnd() const { return Peek().kind == Tok::kEnd; }
  bool PeekKeyword(const char* kw) const { return Peek().kind == Tok::kWord && Peek().text == kw; }
  bool TakeKeyword(const char* kw) {
    if (!PeekKeyword(kw)) return false;
    pos_++;
    return true;
  }
  bool TakePunct(char c) {
    if (Peek().kind != Tok::kPunct || Peek().text[0] != c) return false;
    pos_++;
    return true;
  }
  // An identifier: unquoted words fold to lower case.
  Result<std::string> Ident() {
    Token t = Next();
    if (t.kind == Tok::kWord) return ToLower(t.text);
    if (t.kind == Tok::kQuoted) return t.text;
    return SyntaxError();
  }
  Result<uint64_t> Number() {
    Token t = Next();
    if (t.kind != Tok::kNumber || t.text.size() > 10) return SyntaxError();
    return std::stoull(t.text);
  }
  // ( name [value] [, ...] )
  Result<std::vector<CommandOption>> OptionList() {
    std::vector<CommandOption> opts;
    if (!TakePunct('(')) return SyntaxError();
    while (true) {
      CommandOption o;
      Token n = Next();
      if (n.kind != Tok::kWord && n.kind != Tok::kQuoted) return SyntaxError();
      o.name = ToLower(n.text);
      const Token& v = Peek();
      if (v.kind == Tok::kString || v.kind == Tok::kNumber || v.kind == Tok::kWord ||
          v.kind == Tok::kQuoted) {
        o.value = Next().text;
      }
      opts.push_back(std::move(o));
      if (TakePunct(',')) continue;
      if (TakePunct(')')) break;
      return SyntaxError();
    }
    return opts;
  }

 private:
  std::vector<Token> toks_;
  size_t pos_ = 0;
};

struct KeywordKind {
  const char* word;
  CommandKind kind;
};
constexpr KeywordKind kCommands[] = {
    {"IDENTIFY_SYSTEM", CommandKind::kIdentifySystem},
    {"SHOW", CommandKind::kShow},
    {"TIMELINE_HISTORY", CommandKind::kTimelineHistory},
    {"CREATE_REPLICATION_SLOT", CommandKind::kCreateSlot},
    {"READ_REPLICATION_SLOT", CommandKind::kReadSlot},
    {"DROP_REPLICATION_SLOT", CommandKind::kDropSlot},
    {"START_REPLICATION", CommandKind::kStartReplication},
    {"BASE_BACKUP", CommandKind::kBaseBackup},
};

std::optional<CommandKind> FirstKeyword(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) i++;
  size_t j = i;
  while (j < text.size() && IsIdentChar(text[j])) j++;
  std::string w = text.substr(i, j - i);
  for (const auto& k : kCommands) {
    if (w == k.word) return k.kind;
  }
  return std::nullopt;
}

Status ParseTimeline(Parser& p, TimelineId* tli) {
  WALREP_ASSIGN_OR_RETURN(uint64_t n, p.Number());
  if (n == 0 || n > 0xFFFFFFFFull)
    return Status::Sql("42601", fmt::format("invalid timeline {}", n));
  *tli = static_cast<TimelineId>(n);
  return Status::OK();
}

}  // namespace

bool IsReplicationCommand(const std::string& text) { return FirstKeyword(text).has_value(); }

const char* CommandName(CommandKind kind) {
  for (const auto& k : kCommands) {
    if (k.kind == kind) return k.word;
  }
  return "";
}

Result<bool> OptionBool(const CommandOption& o) {
  if (!o.value) return true;
  std::string v = ToLower(*o.value);
  if (v == "true" || v == "on" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "off" || v == "0" || v == "no") return false;
  return Status::Sql("22023", fmt::format("{} requires a Boolean value", o.name));
}

Result<Command> ParseCommand(const std::string& text) {
  auto kind = FirstKeyword(text);
  if (!kind) return SyntaxError();
  WALREP_ASSIGN_OR_RETURN(auto toks, Lex(text));
  Parser p(std::move(toks));
  p.Next();  // the command keyword
  Command c;
  c.kind = *kind;
  switch (c.kind) {
    case CommandKind::kIdentifySystem:
      break;
    case CommandKind::kShow: {
      WALREP_ASSIGN_OR_RETURN(c.name, p.Ident());
      while (p.TakePunct('.')) {
        WALREP_ASSIGN_OR_RETURN(std::string part, p.Ident());
        c.name += "." + part;
      }
      break;
    }
    case CommandKind::kTimelineHistory:
      WALREP_RETURN_IF_ERROR(ParseTimeline(p, &c.tli));
      break;
    case CommandKind::kCreateSlot: {
      WALREP_ASSIGN_OR_RETURN(c.name, p.Ident());
      c.temporary = p.TakeKeyword("TEMPORARY");
      if (p.TakeKeyword("LOGICAL")) {
        c.logical = true;
        WALREP_ASSIGN_OR_RETURN(c.plugin, p.Ident());
        for (const char* legacy :
             {"EXPORT_SNAPSHOT", "NOEXPORT_SNAPSHOT", "USE_SNAPSHOT", "TWO_PHASE", "RESERVE_WAL"}) {
          if (p.TakeKeyword(legacy)) c.options.push_back({ToLower(legacy), std::nullopt});
        }
      } else if (p.TakeKeyword("PHYSICAL")) {
        if (p.TakeKeyword("RESERVE_WAL")) c.options.push_back({"reserve_wal", std::nullopt});
      } else {
        return SyntaxError();
      }
      if (c.options.empty() && p.Peek().kind == Tok::kPunct && p.Peek().text == "(") {
        WALREP_ASSIGN_OR_RETURN(c.options, p.OptionList());
      }
      break;
    }
    case CommandKind::kReadSlot: {
      WALREP_ASSIGN_OR_RETURN(c.name, p.Ident());
      break;
    }
    case CommandKind::kDropSlot: {
      WALREP_ASSIGN_OR_RETURN(c.name, p.Ident());
      c.wait = p.TakeKeyword("WAIT");
      break;
    }
    case CommandKind::kStartReplication: {
      if (p.TakeKeyword("SLOT")) {
        WALREP_ASSIGN_OR_RETURN(c.name, p.Ident());
      }
      if (p.TakeKeyword("LOGICAL")) {
        if (c.name.empty()) return SyntaxError();
        c.logical = true;
      } else {
        p.TakeKeyword("PHYSICAL");
      }
      Token l = p.Next();
      if (l.kind != Tok::kLsn) return SyntaxError();
      auto lsn = Lsn::Parse(l.text);
      if (!lsn) return SyntaxError();
      c.start = *lsn;
      if (c.logical) {
        if (p.Peek().kind == Tok::kPunct && p.Peek().text == "(") {
          WALREP_ASSIGN_OR_RETURN(c.options, p.OptionList());
        }
      } else if (p.TakeKeyword("TIMELINE")) {
        WALREP_RETURN_IF_ERROR(ParseTimeline(p, &c.tli));
      }
      break;
    }
    case CommandKind::kBaseBackup: {
      if (!p.AtEnd()) {
        WALREP_ASSIGN_OR_RETURN(c.options, p.OptionList());
      }
      break;
    }
  }
  if (!p.AtEnd()) return SyntaxError();
  return c;
}

}  // namespace walrep::replication
