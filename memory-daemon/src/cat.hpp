// cat("got ", 3, " rows") == "got 3 rows": message building for the protocol library, which
// the trainer links too (so no fmt: LibTorch bundles its own, see trainer's str_cat.hpp).
#pragma once

#include <sstream>
#include <string>

namespace disttgl::memory_daemon::detail {

template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace disttgl::memory_daemon::detail
