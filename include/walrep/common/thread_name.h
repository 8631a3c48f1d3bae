// walrep: names for walrepd's threads, as PostgreSQL's process titles name its processes, so
// `top -H`, `ps -L -o comm` and `perf` tell a walsender from a backend or the checkpointer.
// Thread safety: names the calling thread only.
#pragma once

#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace walrep {

// Linux keeps 15 bytes of a thread's name; a longer name is cut there.
void SetThreadName(std::string_view name);

// A thread that takes `name` before it runs `fn`.
template <typename Fn>
std::thread NamedThread(std::string name, Fn fn) {
  return std::thread([name = std::move(name), fn = std::move(fn)]() mutable {
    SetThreadName(name);
    fn();
  });
}

}  // namespace walrep
