// walrep: test networks (see network.h).
#include "network.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>

#include "testing.h"

namespace walrep::testing {

namespace {

// Runs a command; a failure fails the test (the network is then not what the test assumes).
void Run(const std::vector<std::string>& argv, const std::string& input = "") {
  CommandResult r = RunCommand(argv, 30, input);
  ASSERT_EQ(r.exit_code, 0) << fmt::format("{}", fmt::join(argv, " ")) << "\n"
                            << r.out << r.err << input;
}

std::atomic<int> networks{0};

}  // namespace

VirtualNetwork::VirtualNetwork()
    : prefix_(fmt::format("walrep-{}-{}-", ::getpid(), networks++)), hub_(prefix_ + "hub") {
  RunCommand({"ip", "netns", "del", hub_});  // a leftover of a crashed run with this pid
  Run({"ip", "netns", "add", hub_});
  Run({"ip", "-n", hub_, "link", "add", "br0", "type", "bridge"});
  Run({"ip", "-n", hub_, "link", "set", "br0", "up"});
}

VirtualNetwork::~VirtualNetwork() {
  // A namespace lives on while a process is in it; the nodes are stopped by then (declare the
  // network before them).
  for (const auto& [key, h] : hosts_) RunCommand({"ip", "netns", "del", h.netns});
  RunCommand({"ip", "netns", "del", hub_});
}

void VirtualNetwork::AddHost(Node& node) {
  size_t i = hosts_.size() + 1;
  Host h;
  h.netns = fmt::format("{}h{}", prefix_, i);
  h.address = fmt::format("10.77.0.{}", i);
  std::string peer = fmt::format("h{}", i);
  RunCommand({"ip", "netns", "del", h.netns});
  ASSERT_NO_FATAL_FAILURE(Run({"ip", "netns", "add", h.netns}));
  ASSERT_NO_FATAL_FAILURE(Run({"ip", "link", "add", "eth0", "netns", h.netns, "type", "veth",
                               "peer", "name", peer, "netns", hub_}));
  ASSERT_NO_FATAL_FAILURE(Run({"ip", "-n", hub_, "link", "set", peer, "master", "br0", "up"}));
  ASSERT_NO_FATAL_FAILURE(
      Run({"ip", "-n", h.netns, "addr", "add", h.address + "/24", "dev", "eth0"}));
  ASSERT_NO_FATAL_FAILURE(Run({"ip", "-n", h.netns, "link", "set", "eth0", "up"}));
  ASSERT_NO_FATAL_FAILURE(Run({"ip", "-n", h.netns, "link", "set", "lo", "up"}));
  node.SetNetwork(h.netns, h.address, "10.77.0.0/24");
  hosts_[node.data_dir()] = h;
}

VirtualNetwork::Host& VirtualNetwork::Find(const Node& n) {
  auto it = hosts_.find(n.data_dir());
  if (it == hosts_.end()) {
    ADD_FAILURE() << n.data_dir() << " is not on this network";
    static Host none;
    return none;
  }
  return it->second;
}

void VirtualNetwork::Apply(const Host& h) {
  if (h.netns.empty()) return;
  std::string rules;
  for (const std::string& to : h.blocked) rules += fmt::format("    ip daddr {} drop\n", to);
  if (h.loss > 0)
    rules += fmt::format("    oifname \"eth0\" numgen random mod 100 < {} drop\n", h.loss);
  std::string script = fmt::format(
      "flush ruleset\n"
      "table inet walrep {{\n"
      "  chain out {{\n"
      "    type filter hook output priority 0; policy accept;\n"
      "{}"
      "  }}\n"
      "}}\n",
      rules);
  Run({"ip", "netns", "exec", h.netns, "nft", "-f", "-"}, script);
}

void VirtualNetwork::Block(const Node& from, const Node& to) {
  Host& h = Find(from);
  h.blocked.insert(Find(to).address);
  Apply(h);
}

void VirtualNetwork::Unblock(const Node& from, const Node& to) {
  Host& h = Find(from);
  h.blocked.erase(Find(to).address);
  Apply(h);
}

void VirtualNetwork::Partition(const std::vector<const Node*>& a,
                               const std::vector<const Node*>& b) {
  for (const Node* x : a) {
    for (const Node* y : b) {
      Block(*x, *y);
      Block(*y, *x);
    }
  }
}

void VirtualNetwork::HealAll() {
  for (auto& [key, h] : hosts_) {
    h.blocked.clear();
    h.loss = 0;
    Apply(h);
  }
}

void VirtualNetwork::SetLoss(const Node& host, int percent) {
  Host& h = Find(host);
  h.loss = percent;
  Apply(h);
}

DelayProxy::DelayProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "DelayProxy: cannot listen";
    return;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

DelayProxy::~DelayProxy() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  for (std::thread& t : threads_) t.join();
  for (int fd : fds_) ::close(fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void DelayProxy::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(client);
      ::close(server);
      continue;
    }
    std::lock_guard<std::mutex> l(mu_);
    fds_.push_back(client);
    fds_.push_back(server);
    threads_.emplace_back([this, client, server] { Pump(client, server); });
    threads_.emplace_back([this, client, server] { Pump(server, client); });
  }
}

// Reads what `from` sends and writes each chunk to `to` delay_ms after it arrived, in order.
// At end of stream or an error both directions are shut down (the other pump then ends too).
void DelayProxy::Pump(int from, int to) {
  using Clock = std::chrono::steady_clock;
  std::deque<std::pair<Clock::time_point, std::string>> queue;
  bool open = true;
  while (!stop_ && (open || !queue.empty())) {
    auto now = Clock::now();
    while (!queue.empty() && queue.front().first <= now) {
      const std::string& data = queue.front().second;
      for (size_t done = 0; done < data.size();) {
        ssize_t n = ::send(to, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n <= 0) {
          ::shutdown(from, SHUT_RDWR);
          ::shutdown(to, SHUT_RDWR);
          return;
        }
        done += static_cast<size_t>(n);
      }
      queue.pop_front();
    }
    int wait_ms = 20;
    if (!queue.empty()) {
      auto due = std::chrono::duration_cast<std::chrono::milliseconds>(queue.front().first - now);
      wait_ms = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(20, due.count())));
    }
    if (!open) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      continue;
    }
    pollfd p{from, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) continue;
    char buf[65536];
    ssize_t n = ::recv(from, buf, sizeof(buf), 0);
    if (n <= 0) {
      open = false;
      continue;
    }
    queue.emplace_back(Clock::now() + std::chrono::milliseconds(delay_ms_.load()),
                       std::string(buf, static_cast<size_t>(n)));
  }
  ::shutdown(to, SHUT_RDWR);
  ::shutdown(from, SHUT_RDWR);
}

}  // namespace walrep::testing
