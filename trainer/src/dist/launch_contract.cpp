#include "disttgl/trainer/dist/launch_contract.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {
namespace {

std::int64_t whole_number(const char* name, const std::string& text, std::int64_t lo,
                          std::int64_t hi) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    throw ConfigError(
        fmt::format("{}: '{}' is not a whole number in [{}, {}]", name, text, lo, hi));
  }
  return v;
}

}  // namespace

RankPlace LaunchContract::place() const { return place_of(layout, rank, "DISTTGL_RANK"); }

std::string LaunchContract::store_prefix() const {
  return fmt::format("{}/attempt-{}", job, attempt);
}

LaunchContract read_launch_contract(const std::function<const char*(const char*)>& lookup) {
  LaunchContract c;
  const auto get = [&](const char* name) -> std::optional<std::string> {
    const char* v = lookup(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  if (auto v = get("DISTTGL_JOB")) {
    if (v->empty()) throw ConfigError("DISTTGL_JOB: empty");
    c.job = *v;
  }
  if (auto v = get("DISTTGL_WORLD_SIZE")) {
    c.world_size = static_cast<std::int32_t>(
        whole_number("DISTTGL_WORLD_SIZE", *v, 1, kMaxLayoutFactor));
  }
  if (auto v = get("DISTTGL_RANK")) {
    c.rank = static_cast<std::int32_t>(whole_number("DISTTGL_RANK", *v, 0, kMaxLayoutFactor - 1));
  }
  if (auto v = get("DISTTGL_LAYOUT")) {
    c.layout = parse_layout(*v, "DISTTGL_LAYOUT");
  } else if (c.world_size > 1) {
    throw ConfigError(fmt::format(
        "DISTTGL_LAYOUT: required when DISTTGL_WORLD_SIZE is {} (e.g. i={},j=1,k=1)",
        c.world_size, c.world_size));
  }
  check_world_size(c.layout, c.world_size, "DISTTGL_WORLD_SIZE");
  if (c.rank >= c.world_size) {
    throw ConfigError(fmt::format("DISTTGL_RANK: {} is outside [0, {}) (DISTTGL_WORLD_SIZE)",
                                  c.rank, c.world_size));
  }
  if (auto v = get("DISTTGL_MASTER_ADDR")) {
    if (v->empty()) throw ConfigError("DISTTGL_MASTER_ADDR: empty");
    c.master_addr = *v;
  }
  if (auto v = get("DISTTGL_MASTER_PORT")) {
    c.master_port = static_cast<std::int32_t>(whole_number("DISTTGL_MASTER_PORT", *v, 1, 65535));
  }
  if (auto v = get("DISTTGL_MEMORY_DAEMON")) c.memory_daemon = *v;
  if (c.distributed() && c.memory_daemon.empty()) {
    throw ConfigError(
        "DISTTGL_MEMORY_DAEMON: required for a distributed run (this rank's memory group's "
        "daemon, HOST:PORT or unix:PATH)");
  }
  if (auto v = get("DISTTGL_ATTEMPT")) {
    c.attempt = whole_number("DISTTGL_ATTEMPT", *v, 0, std::int64_t{1} << 40);
  }
  if (auto v = get("DISTTGL_RUN_DIR")) c.run_dir = *v;
  if (auto v = get("DISTTGL_LOCAL_ADDR")) {
    if (v->empty()) throw ConfigError("DISTTGL_LOCAL_ADDR: empty (unset it for the default)");
    c.local_addr = *v;
  }
  return c;
}

ScaledHyperparameters scale_for_layout(double base_lr, std::int64_t base_epochs,
                                       const ParallelLayout& layout) {
  const std::int64_t jk = std::int64_t{layout.j} * layout.k;
  return {base_lr * layout.world_size(), (base_epochs + jk - 1) / jk};
}

}  // namespace disttgl::trainer
