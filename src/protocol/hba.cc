// walrep: pg_hba.conf parsing and matching (see hba.h).
#include "walrep/protocol/hba.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <netdb.h>

#include <cstring>

#include "walrep/common/strings.h"

namespace walrep::protocol {

namespace {

constexpr char kKeyword = '\x01';

struct Token {
  std::string text;
  bool quoted = false;
};

// Splits a line into whitespace-separated fields, each a comma list of tokens.
Result<std::vector<std::vector<Token>>> Tokenize(const std::string& line, const std::string& file,
                                                 int line_no) {
  std::vector<std::vector<Token>> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) i++;
    if (i >= line.size() || line[i] == '#') break;
    std::vector<Token> field;
    while (true) {
      Token t;
      bool in_quote = false;
      while (i < line.size()) {
        char c = line[i];
        if (c == '"') {
          in_quote = !in_quote;
          t.quoted = true;
          i++;
          continue;
        }
        if (!in_quote && (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '#'))
          break;
        t.text.push_back(c);
        i++;
      }
      if (in_quote) {
        return Status::Sql("F0000", fmt::format("unterminated quoted string in file \"{}\" line {}",
                                                file, line_no));
      }
      field.push_back(std::move(t));
      if (i < line.size() && line[i] == ',') {
        i++;
        continue;
      }
      break;
    }
    fields.push_back(std::move(field));
  }
  return fields;
}

bool ParseIp(const std::string& s, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, s.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    return true;
  }
  return false;
}

void MaskFromBits(int family, int bits, sockaddr_storage* mask) {
  std::memset(mask, 0, sizeof(*mask));
  mask->ss_family = static_cast<sa_family_t>(family);
  uint8_t* p;
  int len;
  if (family == AF_INET) {
    p = reinterpret_cast<uint8_t*>(&reinterpret_cast<sockaddr_in*>(mask)->sin_addr);
    len = 4;
  } else {
    p = reinterpret_cast<uint8_t*>(&reinterpret_cast<sockaddr_in6*>(mask)->sin6_addr);
    len = 16;
  }
  for (int i = 0; i < len; i++) {
    int b = std::min(8, std::max(0, bits - 8 * i));
    p[i] = static_cast<uint8_t>(b == 0 ? 0 : (0xff << (8 - b)) & 0xff);
  }
}

// Raw address bytes of an IPv4 / IPv6 address; IPv4-mapped IPv6 becomes IPv4.
std::string AddrBytes(const sockaddr_storage& a, int* family) {
  if (a.ss_family == AF_INET) {
    *family = AF_INET;
    auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    return std::string(reinterpret_cast<const char*>(&v4->sin_addr), 4);
  }
  if (a.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    const auto* b = reinterpret_cast<const char*>(&v6->sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      *family = AF_INET;
      return std::string(b + 12, 4);
    }
    *family = AF_INET6;
    return std::string(b, 16);
  }
  *family = 0;
  return {};
}

bool InNet(const sockaddr_storage& client, const sockaddr_storage& addr,
           const sockaddr_storage& mask) {
  int fc, fa, fm;
  std::string c = AddrBytes(client, &fc), a = AddrBytes(addr, &fa), m = AddrBytes(mask, &fm);
  if (fc != fa || fa != fm || c.empty()) return false;
  for (size_t i = 0; i < c.size(); i++) {
    if ((c[i] & m[i]) != (a[i] & m[i])) return false;
  }
  return true;
}

bool MatchSameHostOrNet(const sockaddr_storage& client, bool net) {
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return false;
  bool found = false;
  for (ifaddrs* i = ifs; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
      continue;
    sockaddr_storage a{}, m{};
    size_t len = i->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    std::memcpy(&a, i->ifa_addr, len);
    if (net && i->ifa_netmask) {
      std::memcpy(&m, i->ifa_netmask, len);
    } else {
      MaskFromBits(i->ifa_addr->sa_family, 128, &m);
    }
    found = InNet(client, a, m);
  }
  freeifaddrs(ifs);
  return found;
}

bool MatchDatabase(const HbaLine& l, const HbaRequest& r) {
  for (const auto& d : l.databases) {
    if (d == std::string(1, kKeyword) + "replication") {
      if (r.physical_replication) return true;
      continue;
    }
    if (r.physical_replication) continue;  // only the replication keyword matches these
    if (d == std::string(1, kKeyword) + "all") return true;
    if (d == std::string(1, kKeyword) + "sameuser" || d == std::string(1, kKeyword) + "samerole") {
      if (r.database == r.user) return true;
      continue;
    }
    if (d == r.database) return true;
  }
  return false;
}

bool MatchUser(const HbaLine& l, const HbaRequest& r) {
  for (const auto& u : l.users) {
    if (u == std::string(1, kKeyword) + "all") return true;
    // "+role" means members of role; walrep has no role membership yet, so a role is a member
    // of itself only.
    if (!u.empty() && u[0] == '+' && u.substr(1) == r.user) return true;
    if (u == r.user) return true;
  }
  return false;
}

}  // namespace

const char* AuthMethodName(AuthMethod m) {
  switch (m) {
    case AuthMethod::kTrust:
      return "trust";
    case AuthMethod::kReject:
      return "reject";
    case AuthMethod::kPassword:
      return "password";
    case AuthMethod::kMd5:
      return "md5";
    case AuthMethod::kScramSha256:
      return "scram-sha-256";
  }
  return "";
}

std::string FormatAddress(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof(buf));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

Result<std::shared_ptr<const HbaConfig>> HbaConfig::Parse(const std::string& text,
                                                          const std::string& file) {
  auto cfg = std::make_shared<HbaConfig>();
  int line_no = 0;
  for (const std::string& line : [&] {
         std::vector<std::string> ls;
         size_t p = 0;
         while (p <= text.size()) {
           size_t nl = text.find('\n', p);
           ls.push_back(text.substr(p, nl == std::string::npos ? std::string::npos : nl - p));
           if (nl == std::string::npos) break;
           p = nl + 1;
         }
         return ls;
       }()) {
    line_no++;
    WALREP_ASSIGN_OR_RETURN(auto fields, Tokenize(line, file, line_no));
    if (fields.empty()) continue;
    auto err = [&](const std::string& msg) {
      return Status::Sql("F0000", fmt::format("{} in file \"{}\" line {}", msg, file, line_no))
          .WithDetail(std::string(Trim(line)));
    };
    HbaLine l;
    l.line_no = line_no;
    l.raw = std::string(Trim(line));
    const std::string type = fields[0][0].text;
    if (type == "local") {
      l.type = HbaConnType::kLocal;
    } else if (type == "host") {
      l.type = HbaConnType::kHost;
    } else if (type == "hostssl") {
      l.type = HbaConnType::kHostSsl;
    } else if (type == "hostnossl") {
      l.type = HbaConnType::kHostNoSsl;
    } else {
      return err(fmt::format("invalid connection type \"{}\"", type));
    }
    size_t need = l.type == HbaConnType::kLocal ? 4 : 5;
    if (fields.size() < need) return err("end-of-line before authentication method");
    auto names = [&](const std::vector<Token>& f, const std::vector<std::string>& keywords) {
      std::vector<std::string> out;
      for (const auto& t : f) {
        bool kw = false;
        for (const auto& k : keywords) kw |= (!t.quoted && t.text == k);
        out.push_back(kw ? std::string(1, kKeyword) + t.text : t.text);
      }
      return out;
    };
    l.databases = names(fields[1], {"all", "sameuser", "samerole", "replication"});
    l.users = names(fields[2], {"all"});
    size_t idx = 3;
    if (l.type != HbaConnType::kLocal) {
      const std::string a = fields[3][0].text;
      idx = 4;
      if (a == "all") {
        l.addr_kind = HbaLine::AddrKind::kAll;
      } else if (a == "samehost") {
        l.addr_kind = HbaLine::AddrKind::kSameHost;
      } else if (a == "samenet") {
        l.addr_kind = HbaLine::AddrKind::kSameNet;
      } else {
        l.addr_kind = HbaLine::AddrKind::kCidr;
        size_t slash = a.find('/');
        std::string ip = slash == std::string::npos ? a : a.substr(0, slash);
        if (!ParseIp(ip, &l.addr)) {
          // A host name: resolve it once, as PostgreSQL would on every connection.
          addrinfo* res = nullptr;
          if (getaddrinfo(ip.c_str(), nullptr, nullptr, &res) != 0 || !res) {
            return err(fmt::format("invalid IP address \"{}\"", ip));
          }
          std::memcpy(&l.addr, res->ai_addr, res->ai_addrlen);
          freeaddrinfo(res);
        }
        if (slash != std::string::npos) {
          int bits = std::atoi(a.c_str() + slash + 1);
          int maxbits = l.addr.ss_family == AF_INET ? 32 : 128;
          if (bits < 0 || bits > maxbits) {
            return err(fmt::format("invalid CIDR mask in address \"{}\"", a));
          }
          MaskFromBits(l.addr.ss_family, bits, &l.mask);
        } else if (fields.size() > 5 && ParseIp(fields[4][0].text, &l.mask)) {
          idx = 5;
        } else {
          MaskFromBits(l.addr.ss_family, l.addr.ss_family == AF_INET ? 32 : 128, &l.mask);
        }
      }
    }
    if (idx >= fields.size()) return err("end-of-line before authentication method");
    const std::string m = fields[idx][0].text;
    if (m == "trust") {
      l.method = AuthMethod::kTrust;
    } else if (m == "reject") {
      l.method = AuthMethod::kReject;
    } else if (m == "password") {
      l.method = AuthMethod::kPassword;
    } else if (m == "md5") {
      l.method = AuthMethod::kMd5;
    } else if (m == "scram-sha-256") {
      l.method = AuthMethod::kScramSha256;
    } else {
      return err(fmt::format("invalid authentication method \"{}\"", m));
    }
    cfg->lines_.push_back(std::move(l));
  }
  return std::shared_ptr<const HbaConfig>(std::move(cfg));
}

const HbaLine* HbaConfig::Match(const HbaRequest& r) const {
  for (const auto& l : lines_) {
    if (r.local != (l.type == HbaConnType::kLocal)) continue;
    if (l.type == HbaConnType::kHostSsl && !r.ssl) continue;
    if (l.type == HbaConnType::kHostNoSsl && r.ssl) continue;
    if (!r.local) {
      switch (l.addr_kind) {
        case HbaLine::AddrKind::kAll:
        case HbaLine::AddrKind::kNone:
          break;
        case HbaLine::AddrKind::kSameHost:
          if (!MatchSameHostOrNet(r.client, false)) continue;
          break;
        case HbaLine::AddrKind::kSameNet:
          if (!MatchSameHostOrNet(r.client, true)) continue;
          break;
        case HbaLine::AddrKind::kCidr:
          if (!InNet(r.client, l.addr, l.mask)) continue;
          break;
      }
    }
    if (!MatchDatabase(l, r) || !MatchUser(l, r)) continue;
    return &l;
  }
  return nullptr;
}

std::string DescribeNoHbaEntry(const HbaRequest& r) {
  std::string enc = r.ssl ? "SSL encryption" : "no encryption";
  if (r.local) {
    if (r.physical_replication) {
      return fmt::format(
          "no pg_hba.conf entry for replication connection from host \"[local]\", "
          "user \"{}\", {}",
          r.user, enc);
    }
    return fmt::format(
        "no pg_hba.conf entry for host \"[local]\", user \"{}\", database \"{}\", {}", r.user,
        r.database, enc);
  }
  if (r.physical_replication) {
    return fmt::format(
        "no pg_hba.conf entry for replication connection from host \"{}\", user "
        "\"{}\", {}",
        FormatAddress(r.client), r.user, enc);
  }
  return fmt::format("no pg_hba.conf entry for host \"{}\", user \"{}\", database \"{}\", {}",
                     FormatAddress(r.client), r.user, r.database, enc);
}

}  // namespace walrep::protocol
