// walrep: synchronous replication (see syncrep.h).
#include "walrep/replication/syncrep.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "walrep/common/strings.h"
#include "walrep/replication/walsender.h"

namespace walrep::replication {

namespace {

Status Invalid(const std::string& value, const std::string& detail) {
  return Status::Sql("22023",
                     fmt::format("invalid value for parameter \"synchronous_standby_names\": "
                                 "\"{}\"",
                                 value))
      .WithDetail(detail);
}

// Tokens of syncrep_gram.y: names (identifier characters or "quoted"), numbers, '*', '(',
// ')', ','.
struct Tok {
  enum Kind { kName, kQuoted, kNum, kPunct, kEnd } kind = kEnd;
  std::string text;
};

Result<std::vector<Tok>> Lex(const std::string& s) {
  std::vector<Tok> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      i++;
    } else if (c == '"') {
      Tok t{Tok::kQuoted, ""};
      i++;
      while (true) {
        if (i >= s.size()) return Invalid(s, "unterminated quoted identifier");
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            t.text += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        t.text += s[i++];
      }
      out.push_back(t);
    } else if (c == '(' || c == ')' || c == ',' || c == '*') {
      out.push_back({Tok::kPunct, std::string(1, c)});
      i++;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
               static_cast<unsigned char>(c) >= 0x80) {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' ||
                              s[j] == '$' || static_cast<unsigned char>(s[j]) >= 0x80)) {
        j++;
      }
      std::string w = s.substr(i, j - i);
      bool num = std::all_of(w.begin(), w.end(), [](char ch) { return std::isdigit(ch); });
      out.push_back({num ? Tok::kNum : Tok::kName, w});
      i = j;
    } else {
      return Invalid(s, fmt::format("syntax error at or near \"{}\"", std::string(1, c)));
    }
  }
  out.push_back({});
  return out;
}

}  // namespace

Result<SyncRule> SyncRule::Parse(const std::string& value) {
  SyncRule r;
  WALREP_ASSIGN_OR_RETURN(auto toks, Lex(value));
  if (toks.size() == 1) return r;  // empty: asynchronous
  size_t p = 0;
  auto peek = [&]() -> const Tok& { return toks[p]; };
  auto is_punct = [&](char c) { return peek().kind == Tok::kPunct && peek().text[0] == c; };
  auto syntax = [&]() {
    return Invalid(value, peek().kind == Tok::kEnd
                              ? std::string("syntax error at end of input")
                              : fmt::format("syntax error at or near \"{}\"", peek().text));
  };
  r.method = Method::kPriority;
  r.num_sync = 1;
  bool list_in_parens = false;
  if (peek().kind == Tok::kName && toks[p + 1].kind == Tok::kNum &&
      (EqualsIgnoreCase(peek().text, "first") || EqualsIgnoreCase(peek().text, "any"))) {
    r.method = EqualsIgnoreCase(peek().text, "any") ? Method::kQuorum : Method::kPriority;
    p++;
    r.num_sync = std::atoi(peek().text.c_str());
    p++;
    list_in_parens = true;
  } else if (peek().kind == Tok::kNum && toks[p + 1].kind == Tok::kPunct &&
             toks[p + 1].text == "(") {
    r.num_sync = std::atoi(peek().text.c_str());
    p++;
    list_in_parens = true;
  }
  if (list_in_parens) {
    if (!is_punct('(')) return syntax();
    p++;
  }
  while (true) {
    const Tok& t = peek();
    if (t.kind == Tok::kName || t.kind == Tok::kNum || t.kind == Tok::kQuoted) {
      r.names.push_back(t.text);
    } else if (t.kind == Tok::kPunct && t.text == "*") {
      r.names.push_back("*");
    } else {
      return syntax();
    }
    p++;
    if (is_punct(',')) {
      p++;
      continue;
    }
    break;
  }
  if (list_in_parens) {
    if (!is_punct(')')) return syntax();
    p++;
  }
  if (peek().kind != Tok::kEnd) return syntax();
  if (r.num_sync <= 0) {
    return Invalid(value, fmt::format("number of synchronous standbys ({}) must be greater than "
                                      "zero",
                                      r.num_sync));
  }
  return r;
}

int SyncRule::PriorityOf(const std::string& application_name) const {
  for (size_t i = 0; i < names.size(); i++) {
    if (names[i] == "*" || EqualsIgnoreCase(names[i], application_name)) {
      return method == Method::kQuorum ? 1 : static_cast<int>(i) + 1;
    }
  }
  return 0;
}

namespace {

// The walsenders that can count for the rule: named, streaming, with a flush position.
std::vector<size_t> Candidates(const SyncRule& rule, const std::vector<WalSndStatus>& senders) {
  std::vector<size_t> out;
  for (size_t i = 0; i < senders.size(); i++) {
    const WalSndStatus& w = senders[i];
    if ((w.state == "streaming" || w.state == "stopping") && w.flush.valid() &&
        rule.PriorityOf(w.application_name) > 0) {
      out.push_back(i);
    }
  }
  if (rule.method == SyncRule::Method::kPriority) {
    std::stable_sort(out.begin(), out.end(), [&](size_t a, size_t b) {
      return rule.PriorityOf(senders[a].application_name) <
             rule.PriorityOf(senders[b].application_name);
    });
  }
  return out;
}

}  // namespace

std::vector<SyncInfo> ComputeSyncStates(const SyncRule& rule,
                                        const std::vector<WalSndStatus>& senders) {
  std::vector<SyncInfo> out(senders.size());
  if (rule.method == SyncRule::Method::kNone) return out;
  auto cand = Candidates(rule, senders);
  for (size_t i = 0; i < senders.size(); i++) {
    out[i].priority = rule.PriorityOf(senders[i].application_name);
    if (out[i].priority > 0) out[i].state = "potential";
  }
  for (size_t k = 0; k < cand.size(); k++) {
    if (rule.method == SyncRule::Method::kQuorum) {
      out[cand[k]].state = "quorum";
    } else if (static_cast<int>(k) < rule.num_sync) {
      out[cand[k]].state = "sync";
    }
  }
  return out;
}

void SyncRep::Update(const SyncRule& rule, const std::vector<WalSndStatus>& senders) {
  bool was_active;
  {
    MutexLock l(&mu_);
    was_active = active_;
    active_ = rule.method != SyncRule::Method::kNone;
  }
  if (rule.method == SyncRule::Method::kNone) {
    if (was_active) {
      Kick();  // releases every waiting commit
      if (advance_hook_) advance_hook_();
    }
    return;
  }
  auto cand = Candidates(rule, senders);
  if (static_cast<int>(cand.size()) < rule.num_sync) return;  // the rule cannot be met now
  Lsn pos[3];
  for (int level = 0; level < 3; level++) {
    std::vector<Lsn> v;
    for (size_t i : cand) {
      const WalSndStatus& w = senders[i];
      v.push_back(level == kWrite ? w.write : level == kFlush ? w.flush : w.replay);
    }
    if (rule.method == SyncRule::Method::kPriority) {
      // The oldest position among the first num_sync standbys by priority.
      v.resize(static_cast<size_t>(rule.num_sync));
      pos[level] = *std::min_element(v.begin(), v.end());
    } else {
      // The num_sync-th newest position among all of them.
      std::sort(v.begin(), v.end(), std::greater<Lsn>());
      pos[level] = v[static_cast<size_t>(rule.num_sync) - 1];
    }
  }
  bool advanced = pos[kFlush] > pos_[kFlush].value();
  for (int level = 0; level < 3; level++) pos_[level].Advance(pos[level]);
  if (advanced && advance_hook_) advance_hook_();
}

bool SyncRep::active() const {
  MutexLock l(&mu_);
  return active_;
}

Status SyncRep::Wait(Lsn lsn, Level level, const std::function<Status()>& interrupted) {
  Status err;
  auto give_up = [&]() {
    if (!active()) return true;
    err = interrupted();
    return !err.ok();
  };
  auto r = pos_[level].WaitUntil(lsn, give_up);
  if (r.ok() || err.ok()) return Status::OK();  // reached, or synchronous replication is off
  return err;
}

void SyncRep::Kick() {
  for (auto& p : pos_) p.Kick();
}

}  // namespace walrep::replication
