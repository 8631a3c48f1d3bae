// Fuzz target: pg_hba.conf parsing, then matching a few connection requests against it.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "walrep/protocol/hba.h"

// Host names in a fuzzed pg_hba.conf would go to DNS (slow, and not what is under test): this
// process resolves none of them (the parser then reports an invalid address, as for an unknown
// name). Interposes libc's getaddrinfo for this binary only.
extern "C" int getaddrinfo(const char*, const char*, const addrinfo*, addrinfo** res) {
  *res = nullptr;
  return EAI_NONAME;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto hba = walrep::protocol::HbaConfig::Parse(text, "pg_hba.conf");
  if (!hba.ok()) return 0;
  for (bool local : {true, false}) {
    for (bool replication : {true, false}) {
      walrep::protocol::HbaRequest req;
      req.local = local;
      req.physical_replication = replication;
      req.database = replication ? "replication" : "postgres";
      req.user = "postgres";
      auto* sin = reinterpret_cast<sockaddr_in*>(&req.client);
      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      (void)(*hba)->Match(req);
    }
  }
  return 0;
}
