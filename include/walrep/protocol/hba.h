// walrep: pg_hba.conf — which connections may authenticate, and how.
//
// Each line: TYPE DATABASE USER [ADDRESS [MASK]] METHOD [options]. TYPE is local, host, hostssl
// or hostnossl; DATABASE and USER are comma lists (keywords all, sameuser, samerole,
// replication; "quoted" names are literal); ADDRESS is a CIDR, an address plus a netmask,
// samehost, samenet or all. The first line that matches decides. A physical replication
// connection matches only lines whose DATABASE names `replication`, as in PostgreSQL.
// Counterpart: hba.c in PostgreSQL.
// Thread safety: an HbaConfig is immutable after Parse().
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "walrep/common/status.h"

namespace walrep::protocol {

enum class HbaConnType { kLocal, kHost, kHostSsl, kHostNoSsl };
enum class AuthMethod { kTrust, kReject, kPassword, kMd5, kScramSha256 };
const char* AuthMethodName(AuthMethod m);

struct HbaLine {
  int line_no = 0;
  std::string raw;
  HbaConnType type = HbaConnType::kHost;
  std::vector<std::string> databases;  // keywords are kept with a leading '\x01'
  std::vector<std::string> users;
  enum class AddrKind { kNone, kAll, kCidr, kSameHost, kSameNet } addr_kind = AddrKind::kNone;
  sockaddr_storage addr{};
  sockaddr_storage mask{};
  AuthMethod method = AuthMethod::kTrust;
};

// What is known about a connection when pg_hba.conf is consulted.
struct HbaRequest {
  bool local = false;  // Unix-domain socket
  bool ssl = false;
  sockaddr_storage client{};  // for TCP
  std::string database;
  std::string user;
  bool physical_replication = false;
};

class HbaConfig {
 public:
  // Parses the text of a pg_hba.conf; errors name the file and line.
  static Result<std::shared_ptr<const HbaConfig>> Parse(const std::string& text,
                                                        const std::string& file);
  // The first matching line, or nullptr.
  const HbaLine* Match(const HbaRequest& req) const;
  const std::vector<HbaLine>& lines() const { return lines_; }

 private:
  std::vector<HbaLine> lines_;
};

// "host "127.0.0.1", user "u", database "d", no encryption" — the tail of the 28000 message.
std::string DescribeNoHbaEntry(const HbaRequest& req);
std::string FormatAddress(const sockaddr_storage& addr);

}  // namespace walrep::protocol
