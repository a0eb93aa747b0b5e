// str_cat: message building for code that links LibTorch.
// Why not fmt: LibTorch ships its own fmt (v12) headers inside its include directory, which
// shadow the system fmt that libfmt.so matches, so a torch-linked target that includes
// <fmt/...> fails to link (undefined fmt::v12::report_error). operator<< has no such issue.
// Thread-safety: pure function.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace disttgl::trainer {

/// Streams every argument into one string: str_cat("got ", 3, " rows") == "got 3 rows".
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

/// Elements of `range` streamed with `separator` between them: join({3, 100}, ", ") ==
/// "3, 100".
template <typename Range>
std::string join(const Range& range, std::string_view separator) {
  std::ostringstream os;
  bool first = true;
  for (const auto& element : range) {
    if (!first) os << separator;
    os << element;
    first = false;
  }
  return os.str();
}

}  // namespace disttgl::trainer
