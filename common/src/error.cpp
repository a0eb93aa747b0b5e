#include "disttgl/common/error.hpp"

#include <fmt/format.h>

namespace disttgl {

InputError::InputError(const std::string& file, long line, const std::string& what)
    : Error(line > 0 ? fmt::format("{}:{}: {}", file, line, what)
                     : fmt::format("{}: {}", file, what)) {}

namespace detail {
void throw_check_failure(const char* expr, const char* file, int line, const std::string& message) {
  throw InternalError(
      fmt::format("{}:{}: internal check failed ({}): {}", file, line, expr, message));
}
}  // namespace detail

}  // namespace disttgl
