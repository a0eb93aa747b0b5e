// Chronological splits: TGN/DyGLib quantiles and TGL's ext_roll column.
#include "split.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer {
namespace {

// numpy.quantile(method="linear") on a sorted array, including numpy's two-sided lerp
// (a + (b-a)*t for t < 0.5, b - (b-a)*(1-t) otherwise), so thresholds match bit for bit.
double numpy_linear_quantile(const std::vector<Timestamp>& sorted, double q) {
  const auto n = static_cast<double>(sorted.size());
  const double virtual_index = (n - 1.0) * q;
  if (virtual_index >= n - 1.0) return sorted.back();
  if (virtual_index < 0.0) return sorted.front();
  const double previous_index = std::floor(virtual_index);
  const auto previous = static_cast<std::size_t>(previous_index);
  const double a = sorted[previous];
  const double b = sorted[previous + 1];
  const double t = virtual_index - previous_index;
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

void check_quantile(double q, const char* flag) {
  if (!(q >= 0.0 && q <= 1.0)) {
    throw ConfigError(fmt::format("{} must be in [0, 1], got {}", flag, q));
  }
}

}  // namespace

namespace detail {

void validate_quantiles(double val_quantile, double test_quantile) {
  check_quantile(val_quantile, "--val-quantile");
  check_quantile(test_quantile, "--test-quantile");
  if (val_quantile > test_quantile) {
    throw ConfigError(fmt::format("--val-quantile ({}) must not exceed --test-quantile ({})",
                                  val_quantile, test_quantile));
  }
}

Split ext_roll_split(const std::vector<std::int8_t>& ext_roll) {
  Split split;
  split.source = "ext_roll";
  const auto first_above = [&ext_roll](std::int8_t roll) {
    return std::find_if(ext_roll.begin(), ext_roll.end(),
                        [roll](std::int8_t r) { return r > roll; }) -
           ext_roll.begin();
  };
  split.train_end = first_above(0);
  split.val_end = first_above(1);
  return split;
}

}  // namespace detail

Split quantile_split(const std::vector<Timestamp>& ts, double val_quantile, double test_quantile) {
  detail::validate_quantiles(val_quantile, test_quantile);
  Split split;
  split.source = "quantile";
  if (ts.empty()) return split;
  split.val_time = numpy_linear_quantile(ts, val_quantile);
  split.test_time = numpy_linear_quantile(ts, test_quantile);
  split.train_end = std::upper_bound(ts.begin(), ts.end(), split.val_time) - ts.begin();
  split.val_end = std::upper_bound(ts.begin(), ts.end(), split.test_time) - ts.begin();
  return split;
}

}  // namespace disttgl::trainer
