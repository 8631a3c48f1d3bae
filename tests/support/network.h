// walrep: test networks — hosts in Linux network namespaces joined by a bridge, with partitions,
// one-way blocks and packet loss made by nftables rules (Jepsen's `net` faults); and a TCP proxy
// that delays what it forwards, for a slow link (this kernel has no netem qdisc).
// Requires root (CI and the sessions run as root); nothing is skipped without it.
// Thread safety: VirtualNetwork none (the test's thread); DelayProxy's delay may be changed from
// any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace walrep::testing {

class Node;

// Hosts 10.77.0.1, .2, ... each in its own namespace, all on one bridge in a hub namespace.
// Faults are drop rules in the sending host's output hook, so a link can fail in one direction.
// Everything is removed at destruction (and leftovers of a crashed run of this process id at
// construction).
class VirtualNetwork {
 public:
  VirtualNetwork();
  ~VirtualNetwork();

  // A new host: its namespace and address. `node` then runs in that namespace and listens on
  // that address (Node::SetNetwork); the test still reaches it through its Unix socket.
  void AddHost(Node& node);

  // Packets from `from` to `to` are dropped (silently, as a cut cable does) / flow again.
  void Block(const Node& from, const Node& to);
  void Unblock(const Node& from, const Node& to);
  // Both directions between every host of `a` and every host of `b`.
  void Partition(const std::vector<const Node*>& a, const std::vector<const Node*>& b);
  // Every block removed and loss cleared.
  void HealAll();
  // Drops `percent` of the packets `host` sends (0 = none).
  void SetLoss(const Node& host, int percent);

 private:
  struct Host {
    std::string netns;
    std::string address;
    std::set<std::string> blocked;  // destination addresses dropped
    int loss = 0;
  };
  Host& Find(const Node& n);
  void Apply(const Host& h);  // rewrites the host's nftables ruleset

  std::string prefix_;  // namespace names: <prefix>hub, <prefix>h<i>
  std::string hub_;
  std::map<std::string, Host> hosts_;  // by the node's data directory
};

// Forwards TCP connections from 127.0.0.1:port() to 127.0.0.1:target_port, holding every chunk
// for delay_ms in each direction: a link whose round trip is 2 × delay_ms.
class DelayProxy {
 public:
  explicit DelayProxy(int target_port);
  ~DelayProxy();
  int port() const { return port_; }
  void set_delay_ms(int ms) { delay_ms_ = ms; }

 private:
  void AcceptLoop();
  void Pump(int from, int to);

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<int> fds_;  // every socket, closed at destruction
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace walrep::testing
