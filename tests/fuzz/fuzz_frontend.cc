// Fuzz target: the frontend protocol as a client sends it, from the first byte: SSLRequest,
// CancelRequest, the startup packet, authentication, then every message type (Query, Parse,
// Bind, Describe, Execute, Sync, Close, Flush, CopyData/Done/Fail, FunctionCall, Terminate,
// replication commands on a replication=true connection). The input goes to a fresh connection
// to an in-process walrep server; the server must answer or close, and never crash.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int port = walrep::fuzz::ServerPort();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = -1;
  // Tens of thousands of short connections: the client's side closes with a reset (no
  // TIME_WAIT to exhaust local ports), and a refused connect is retried before it counts as
  // the server having stopped listening.
  for (int attempt = 0; fd < 0; attempt++) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) break;
    int err = errno;
    ::close(fd);
    fd = -1;
    if (attempt == 200) {
      std::fprintf(stderr, "fuzz_frontend: the server refuses connections: %s\n",
                   std::strerror(err));
      std::abort();
    }
    ::usleep(10000);
  }
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
