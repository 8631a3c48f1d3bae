// walrep: listening sockets and the accept thread (see listener_internal.h).
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "listener_internal.h"
#include "walrep/common/logging.h"
#include "walrep/common/strings.h"
#include "walrep/common/thread_name.h"
#include "walrep/server/server.h"

namespace walrep::server {

Listener::~Listener() { Stop(); }

Status Listener::Open(const std::string& listen_addresses, int port,
                      const std::string& socket_dirs) {
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) return Status::IOError("could not create pipe");
  std::vector<std::string> hosts;
  for (const auto& a : SplitTrim(listen_addresses, ',')) {
    if (a == "*") {
      hosts.push_back("0.0.0.0");
      hosts.push_back("::");
    } else if (a == "localhost") {
      hosts.push_back("127.0.0.1");
      hosts.push_back("::1");
    } else if (!a.empty()) {
      hosts.push_back(a);
    }
  }
  int opened_tcp = 0;
  for (const auto& h : hosts) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) {
      WALREP_WARN("could not translate host name \"{}\" to address", h);
      continue;
    }
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (ai->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
        int saved = errno;
        ::close(fd);
        // IPv6 loopback may be missing in a container; that is not fatal when IPv4 works.
        WALREP_WARN("could not bind {} address \"{}\": {}",
                    ai->ai_family == AF_INET6 ? "IPv6" : "IPv4", h, std::strerror(saved));
        if (saved == EADDRINUSE) {
          freeaddrinfo(res);
          return Status::IOError(fmt::format("could not bind {} address \"{}\": {}",
                                             ai->ai_family == AF_INET6 ? "IPv6" : "IPv4", h,
                                             std::strerror(saved)))
              .WithHint(fmt::format("Is another postmaster already running on port {}?", port));
        }
        continue;
      }
      WALREP_LOG("listening on {} address \"{}\", port {}",
                 ai->ai_family == AF_INET6 ? "IPv6" : "IPv4", h, port);
      socks_.push_back({fd, false});
      if (first_address_.empty()) first_address_ = h;
      opened_tcp++;
    }
    freeaddrinfo(res);
  }
  if (!hosts.empty() && opened_tcp == 0) {
    return Status::IOError("could not create any TCP/IP sockets");
  }
  for (const auto& dir : SplitTrim(socket_dirs, ',')) {
    if (dir.empty()) continue;
    std::string path = fmt::format("{}/.s.PGSQL.{}", dir, port);
    sockaddr_un sun{};
    if (path.size() >= sizeof(sun.sun_path)) {
      return Status::InvalidArgument(
          fmt::format("Unix-domain socket path \"{}\" is too long", path));
    }
    // The lock file beside the socket names the owning pid, as PostgreSQL's does.
    std::string lock = path + ".lock";
    {
      int lfd = ::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (lfd < 0 && errno == EEXIST) {
        FILE* f = std::fopen(lock.c_str(), "r");
        long other = 0;
        if (f) {
          if (std::fscanf(f, "%ld", &other) != 1) other = 0;
          std::fclose(f);
        }
        if (PidFile::ProcessAlive(other) && other != ::getpid()) {
          return Status::IOError(fmt::format("lock file \"{}\" already exists", lock))
              .WithHint(fmt::format("Is another postmaster (PID {}) using socket file \"{}\"?",
                                    other, path));
        }
        ::unlink(lock.c_str());
        ::unlink(path.c_str());
        lfd = ::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      }
      if (lfd < 0) {
        return Status::IOError(
            fmt::format("could not create lock file \"{}\": {}", lock, std::strerror(errno)));
      }
      std::string content = fmt::format("{}\n", ::getpid());
      if (::write(lfd, content.data(), content.size()) < 0) {
        // The lock file is advisory; a short write only weakens the stale-file check.
      }
      ::close(lfd);
      socket_files_.push_back(lock);
    }
    ::unlink(path.c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0 ||
        ::listen(fd, 128) != 0) {
      int saved = errno;
      if (fd >= 0) ::close(fd);
      return Status::IOError(
          fmt::format("could not bind Unix socket \"{}\": {}", path, std::strerror(saved)));
    }
    ::chmod(path.c_str(), 0777);
    WALREP_LOG("listening on Unix socket \"{}\"", path);
    socks_.push_back({fd, true});
    socket_files_.push_back(path);
    if (first_socket_dir_.empty()) first_socket_dir_ = dir;
  }
  if (socks_.empty()) return Status::IOError("no socket created for listening");
  return Status::OK();
}

void Listener::StartAccepting() {
  thread_ = NamedThread("listener", [this] { AcceptLoop(); });
}

void Listener::AcceptLoop() {
  std::vector<pollfd> fds;
  for (const auto& s : socks_) fds.push_back({s.fd, POLLIN, 0});
  fds.push_back({wake_pipe_[0], POLLIN, 0});
  while (true) {
    int rc = ::poll(fds.data(), fds.size(), -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      WALREP_LOG_ERROR("poll() failed in listener: {}", std::strerror(errno));
      return;
    }
    if (fds.back().revents & POLLIN) return;
    for (size_t i = 0; i + 1 < fds.size(); i++) {
      if (!(fds[i].revents & POLLIN)) continue;
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      int fd = ::accept4(fds[i].fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (fd < 0) continue;
      if (!socks_[i].local) {
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
      }
      server_->StartSession(fd, socks_[i].local, peer);
    }
  }
}

void Listener::Stop() {
  if (wake_pipe_[1] >= 0) {
    char c = 0;
    if (::write(wake_pipe_[1], &c, 1) < 0) {
      // The accept thread may already be gone; nothing to wake.
    }
  }
  if (thread_.joinable()) thread_.join();
  for (const auto& s : socks_) ::close(s.fd);
  socks_.clear();
  for (const auto& f : socket_files_) ::unlink(f.c_str());
  socket_files_.clear();
  for (int& p : wake_pipe_) {
    if (p >= 0) ::close(p);
    p = -1;
  }
}

}  // namespace walrep::server
