// Fuzz target: the frontend protocol as a client sends it, from the first byte: SSLRequest,
// CancelRequest, the startup packet, authentication, then every message type (Query, Parse,
// Bind, Describe, Execute, Sync, Close, Flush, CopyData/Done/Fail, FunctionCall, Terminate,
// replication commands on a replication=true connection). The input goes to a fresh session of
// an in-process walrep server over a Unix socket pair; the server must answer or close, and
// never crash.
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
  // A socket pair handed straight to a session thread: the server's listener and TCP add
  // nothing the decoder sees, and without them a run does several times as many inputs.
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    std::fprintf(stderr, "fuzz_frontend: socketpair: %s\n", std::strerror(errno));
    std::abort();
  }
  int fd = pair[0];
  walrep::fuzz::ServeInProcess(pair[1]);
  size_t off = 0;
  if (size == 0) ::shutdown(fd, SHUT_WR);
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
