// Logging: spdlog behind one init function. One line per event, key=value context, stderr.
// Per-edge and per-batch facts are metrics, not logs.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace disttgl::log {

/// Configures the default logger for a binary: stderr, "[time] [component] [level] msg".
/// `level` is one of trace, debug, info, warn, error; throws disttgl::ConfigError otherwise.
void init(const std::string& component, const std::string& level = "info");

}  // namespace disttgl::log
