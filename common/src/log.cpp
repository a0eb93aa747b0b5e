#include "disttgl/common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "disttgl/common/error.hpp"

namespace disttgl::log {

void init(const std::string& component, const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw ConfigError("--log-level: unknown level '" + level +
                      "' (expected trace, debug, info, warn, error, off)");
  }
  auto logger = spdlog::stderr_color_mt(component);
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace disttgl::log
