// Fuzz target: the frontend protocol as a client sends it, from the first byte: SSLRequest,
// CancelRequest, the startup packet, authentication, then every message type (Query, Parse,
// Bind, Describe, Execute, Sync, Close, Flush, CopyData/Done/Fail, FunctionCall, Terminate,
// replication commands on a replication=true connection). The input goes to a fresh connection
// to an in-process walrep server; the server must answer or close, and never crash.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int port = walrep::fuzz::ServerPort();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) std::abort();
  size_t off = 0;
  char buf[65536];
  // Write the input while reading what comes back (the server may answer before it has all).
  while (true) {
    pollfd p{fd, static_cast<short>(POLLIN | (off < size ? POLLOUT : 0)), 0};
    // A server that waits for more input than the client will send: the read side ends it.
    if (::poll(&p, 1, 2000) <= 0) break;
    if (p.revents & POLLIN) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
    } else if (p.revents & POLLOUT) {
      ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
      if (off == size) ::shutdown(fd, SHUT_WR);
    } else {
      break;
    }
  }
  ::close(fd);
  return 0;
}
