// walrep: SetThreadName (see thread_name.h).
#include "walrep/common/thread_name.h"

#include <pthread.h>

#include <string>

namespace walrep {

void SetThreadName(std::string_view name) {
  std::string n(name.substr(0, 15));
  // Fails only for a name too long, which the cut above rules out.
  (void)::pthread_setname_np(::pthread_self(), n.c_str());
}

}  // namespace walrep
