// walrep: buffered socket I/O with optional TLS (see connection.h).
#include "walrep/protocol/connection.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace walrep::protocol {

namespace {
Status Eof() { return Status::IOError("unexpected EOF on client connection"); }

std::string SslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}
}  // namespace

Connection::Connection(int fd) : fd_(fd) {}

Connection::~Connection() {
  if (ssl_) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (fd_ >= 0) ::close(fd_);
}

void Connection::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

Status Connection::StartTls(SSL_CTX* ctx) {
  ssl_ = SSL_new(ctx);
  if (!ssl_) return Status::ProtocolViolation("could not initialize SSL connection: " + SslError());
  SSL_set_fd(ssl_, fd_);
  int rc = SSL_accept(ssl_);
  if (rc != 1) {
    std::string err = SslError();
    SSL_free(ssl_);
    ssl_ = nullptr;
    return Status::ProtocolViolation("could not accept SSL connection: " + err);
  }
  return Status::OK();
}

std::string Connection::TlsVersion() const { return ssl_ ? SSL_get_version(ssl_) : ""; }
std::string Connection::TlsCipher() const { return ssl_ ? SSL_get_cipher_name(ssl_) : ""; }

bool Connection::HasBufferedInput() const {
  return in_pos_ < in_.size() || (ssl_ && SSL_pending(ssl_) > 0);
}

Status Connection::Fill() {
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  }
  char buf[16384];
  while (true) {
    if (!(ssl_ && SSL_pending(ssl_) > 0)) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {interrupt_fd_, POLLIN, 0}};
      int nfds = interrupt_fd_ >= 0 ? 2 : 1;
      int rc = ::poll(fds, static_cast<nfds_t>(nfds), read_timeout_ms_);
      if (rc == 0) return Status::TimedOut("timeout while reading from client");
      if (rc < 0) {
        if (errno == EINTR) continue;
        return Status::IOError(
            fmt::format("could not receive data from client: {}", std::strerror(errno)));
      }
      if (nfds == 2 && (fds[1].revents & POLLIN)) {
        // The wake-up is consumed here; the caller reads the flags it stands for.
        uint64_t v;
        while (::read(interrupt_fd_, &v, sizeof(v)) > 0) {
        }
        return Status::Shutdown("interrupted");
      }
      if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    }
    ssize_t n;
    if (ssl_) {
      n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) {
        int err = SSL_get_error(ssl_, static_cast<int>(n));
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
        return Eof();
      }
    } else {
      n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return Status::IOError(
            fmt::format("could not receive data from client: {}", std::strerror(errno)));
      }
      if (n == 0) return Eof();
    }
    in_.append(buf, static_cast<size_t>(n));
    return Status::OK();
  }
}

Result<std::string> Connection::ReadExact(size_t n) {
  while (in_.size() - in_pos_ < n) WALREP_RETURN_IF_ERROR(Fill());
  std::string out = in_.substr(in_pos_, n);
  in_pos_ += n;
  return out;
}

Result<std::pair<char, std::string>> Connection::ReadMessage(
    const std::function<size_t(char)>& max_len) {
  // EOF after part of a message arrived is a protocol violation, not a clean disconnect.
  auto fill = [this]() -> Status {
    bool partial = in_.size() > in_pos_;
    Status st = Fill();
    if (!st.ok() && partial && st.code() == Status::Code::kIOError) {
      return Status::ProtocolViolation("incomplete message from client");
    }
    return st;
  };
  // Peek the 5-byte header first so an interrupt never splits a message.
  while (in_.size() - in_pos_ < 5) WALREP_RETURN_IF_ERROR(fill());
  char type = in_[in_pos_];
  uint32_t len = 0;
  for (int i = 1; i <= 4; i++) len = (len << 8) | static_cast<uint8_t>(in_[in_pos_ + i]);
  if (len < 4 || len > max_len(type)) {
    return Status::ProtocolViolation(fmt::format("invalid message length"));
  }
  while (in_.size() - in_pos_ < 1 + len) WALREP_RETURN_IF_ERROR(fill());
  std::string body = in_.substr(in_pos_ + 5, len - 4);
  in_pos_ += 1 + len;
  return std::make_pair(type, std::move(body));
}

Result<std::string> Connection::ReadStartupPacket() {
  while (in_.size() - in_pos_ < 4) WALREP_RETURN_IF_ERROR(Fill());
  uint32_t len = 0;
  for (int i = 0; i < 4; i++) len = (len << 8) | static_cast<uint8_t>(in_[in_pos_ + i]);
  // PostgreSQL's limits: at least the version code, at most 10000 bytes.
  if (len < 8 || len > 10000) return Status::ProtocolViolation("invalid length of startup packet");
  while (in_.size() - in_pos_ < len) {
    Status st = Fill();
    if (!st.ok() && st.code() == Status::Code::kIOError) {
      return Status::ProtocolViolation("incomplete startup packet");
    }
    WALREP_RETURN_IF_ERROR(st);
  }
  std::string body = in_.substr(in_pos_ + 4, len - 4);
  in_pos_ += len;
  return body;
}

void Connection::SetWriteTimeout(int millis) {
  if (millis == write_timeout_ms_) return;
  write_timeout_ms_ = millis;
  // The socket stays blocking; SO_SNDTIMEO makes a send that moves nothing for this long fail
  // with EAGAIN (TLS's writes included).
  timeval tv{millis / 1000, (millis % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

Status Connection::Flush() {
  auto timed_out = [this] {
    out_.clear();
    return Status::TimedOut("could not send data to client: timed out");
  };
  size_t off = 0;
  while (off < out_.size()) {
    ssize_t n;
    if (ssl_) {
      n = SSL_write(ssl_, out_.data() + off, static_cast<int>(out_.size() - off));
      if (n <= 0) {
        int err = SSL_get_error(ssl_, static_cast<int>(n));
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
          if (write_timeout_ms_ > 0) return timed_out();
          continue;
        }
        out_.clear();
        return Status::IOError("could not send data to client: " + SslError());
      }
    } else {
      n = ::send(fd_, out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN && write_timeout_ms_ > 0) return timed_out();
        if (errno == EINTR || errno == EAGAIN) continue;
        out_.clear();
        return Status::IOError(
            fmt::format("could not send data to client: {}", std::strerror(errno)));
      }
    }
    off += static_cast<size_t>(n);
  }
  out_.clear();
  return Status::OK();
}

}  // namespace walrep::protocol
