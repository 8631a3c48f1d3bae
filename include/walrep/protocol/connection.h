// walrep: one client socket, optionally wrapped in TLS, with buffered reads and writes.
//
// Reads wait in poll() on the socket and on an optional interrupt eventfd. When another thread
// signals the eventfd (cancel, terminate, shutdown), a blocked read returns kShutdown with
// nothing consumed, so the owner can act and then read again. Writes are buffered until Flush().
// Thread safety: owned by its session thread; only Interrupt() may be called from other threads.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "walrep/common/status.h"

namespace walrep::protocol {

struct StartupPacket;

class Connection {
 public:
  // Takes ownership of `fd`.
  explicit Connection(int fd);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Server side of a TLS handshake on this socket. `ctx` must outlive the connection.
  Status StartTls(SSL_CTX* ctx);
  bool tls() const { return ssl_ != nullptr; }
  std::string TlsVersion() const;
  std::string TlsCipher() const;

  // Reads exactly n bytes. kShutdown: interrupted, nothing consumed. kIOError: EOF or error.
  Result<std::string> ReadExact(size_t n);
  // Reads one typed message: type byte, then the body. A length below 4 or above
  // `max_len(type)` is a protocol violation ("invalid message length"); EOF in the middle of a
  // message is one too ("incomplete message from client").
  Result<std::pair<char, std::string>> ReadMessage(const std::function<size_t(char)>& max_len);
  // Reads wait at most this long (kTimedOut); negative = forever.
  void SetReadTimeout(int millis) { read_timeout_ms_ = millis; }
  // Reads an untyped packet (startup, SSLRequest, CancelRequest) with PostgreSQL's limits.
  Result<std::string> ReadStartupPacket();

  // Flush gives up (kTimedOut) when the peer accepts no byte for this long; 0 = never (a
  // walsender uses wal_sender_timeout: a standby behind a dead link stops reading).
  void SetWriteTimeout(int millis);
  void Write(std::string_view data) { out_.append(data); }
  // Drops what was written but not yet flushed.
  void DiscardOutput() { out_.clear(); }
  size_t buffered() const { return out_.size(); }
  Status Flush();
  // Bytes already received but not yet consumed (TLS included).
  bool HasBufferedInput() const;

  // An eventfd whose readability interrupts reads; owned by the caller.
  void SetInterruptFd(int efd) { interrupt_fd_ = efd; }
  int fd() const { return fd_; }
  // Shuts the socket down, waking a reader in another thread.
  void Shutdown();

 private:
  Status Fill();  // reads more into in_

  int fd_;
  int interrupt_fd_ = -1;
  int read_timeout_ms_ = -1;
  int write_timeout_ms_ = 0;
  SSL* ssl_ = nullptr;
  std::string in_;
  size_t in_pos_ = 0;
  std::string out_;
};

}  // namespace walrep::protocol
