// Split helpers private to the data layer (quantile_split itself is public, in import.hpp).
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <vector>

#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer::detail {

/// Throws ConfigError unless 0 <= val_quantile <= test_quantile <= 1 (naming the flags).
void validate_quantiles(double val_quantile, double test_quantile);

/// TGL's split from the time-sorted ext_roll column (non-decreasing, values 0/1/2):
/// train_end = first row with ext_roll > 0, val_end = first row with ext_roll > 1 (or E).
Split ext_roll_split(const std::vector<std::int8_t>& ext_roll);

}  // namespace disttgl::trainer::detail
