// walrep: the listener — TCP sockets on listen_addresses:port and Unix sockets
// (.s.PGSQL.<port>, with a .lock file beside each, as PostgreSQL makes them) in every
// unix_socket_directories entry. One thread accepts on all of them and hands each connection
// to Server::StartSession(). Stop() wakes it through a pipe and closes the sockets.
// Thread safety: Open/Stop from the server's control thread; the accept thread owns the fds.
#pragma once

#include <string>
#include <thread>
#include <vector>

#include "walrep/common/status.h"

namespace walrep::server {

class Server;

class Listener {
 public:
  explicit Listener(Server* server) : server_(server) {}
  ~Listener();

  Status Open(const std::string& listen_addresses, int port, const std::string& socket_dirs);
  void StartAccepting();
  void Stop();
  const std::string& first_socket_dir() const { return first_socket_dir_; }
  const std::string& first_address() const { return first_address_; }

 private:
  void AcceptLoop();

  Server* const server_;
  struct Sock {
    int fd;
    bool local;
  };
  std::vector<Sock> socks_;
  std::vector<std::string> socket_files_;  // unlinked at Stop()
  std::string first_socket_dir_, first_address_;
  int wake_pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace walrep::server
