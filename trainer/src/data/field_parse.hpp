// Strict numeric field parsing with std::from_chars: the whole field must be consumed, and
// failures throw InputError "FILE:LINE: FIELD: what is wrong". Private to the data layer.
// Thread-safety: stateless inline functions.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

namespace disttgl::trainer::detail {

/// Where a field came from, for error messages.
struct FieldSite {
  const std::string& file;
  long line;
};

/// Throws InputError "FILE:LINE: FIELD: expected DESC, found 'TEXT'" (TEXT shortened to 40
/// characters).
[[noreturn]] void throw_bad_field(const FieldSite& site, std::string_view field,
                                  std::string_view expected, std::string_view text);

/// Throws InputError "FILE:LINE: WHAT".
[[noreturn]] void throw_at(const FieldSite& site, const std::string& what);

/// Parses a whole field as int64; throws "expected an integer" otherwise.
inline std::int64_t parse_int(std::string_view text, std::string_view field,
                              const FieldSite& site) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    throw_bad_field(site, field, "an integer", text);
  }
  return value;
}

/// Parses a node id: an integer >= 0; throws "FIELD: negative node id V" for negatives.
inline std::int64_t parse_node_id(std::string_view text, std::string_view field,
                                  const FieldSite& site) {
  const std::int64_t value = parse_int(text, field, site);
  if (value < 0) {
    throw_at(site, std::string(field) + ": negative node id " + std::to_string(value));
  }
  return value;
}

/// Parses a whole field as a finite float64 (timestamps).
inline double parse_finite_double(std::string_view text, std::string_view field,
                                  const FieldSite& site) {
  double value = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ptr != end || text.empty() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    throw_bad_field(site, field, "a number", text);
  }
  if (ec == std::errc::result_out_of_range || !std::isfinite(value)) {
    throw_bad_field(site, field, "a finite number", text);
  }
  return value;
}

/// Parses a feature value: a finite number that fits float32 (values below float32's
/// smallest magnitude round to 0 or a subnormal, as a cast does).
inline float parse_feature(std::string_view text, std::string_view field, const FieldSite& site) {
  const double value = parse_finite_double(text, field, site);
  if (std::fabs(value) > static_cast<double>(std::numeric_limits<float>::max())) {
    throw_bad_field(site, field, "a finite float32", text);
  }
  return static_cast<float>(value);
}

/// Non-throwing fast path for feature values: false when `text` is not a finite number that
/// fits float32 (the caller then calls parse_feature for the exact message).
inline bool try_parse_feature(std::string_view text, float& out) {
  double value = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty() || !std::isfinite(value) ||
      std::fabs(value) > static_cast<double>(std::numeric_limits<float>::max())) {
    return false;
  }
  out = static_cast<float>(value);
  return true;
}

/// Parses a label: an integer in int32 range, also written as an integral float ("1.0", as
/// pandas writes DyGLib's label column).
inline std::int32_t parse_label(std::string_view text, std::string_view field,
                                const FieldSite& site) {
  std::int64_t as_int = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, as_int);
  if (ec != std::errc() || ptr != end || text.empty()) {
    double as_double = 0.0;
    const auto result = std::from_chars(text.data(), end, as_double);
    if (result.ec != std::errc() || result.ptr != end || text.empty() ||
        !std::isfinite(as_double) || std::trunc(as_double) != as_double ||
        std::fabs(as_double) > 2147483647.0) {
      throw_bad_field(site, field, "an integer label", text);
    }
    as_int = static_cast<std::int64_t>(as_double);
  }
  if (as_int < std::numeric_limits<std::int32_t>::min() ||
      as_int > std::numeric_limits<std::int32_t>::max()) {
    throw_bad_field(site, field, "an integer label", text);
  }
  return static_cast<std::int32_t>(as_int);
}

/// True when the whole of `text` parses as a number (used by header and format detection).
inline bool looks_numeric(std::string_view text) {
  double value = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return !text.empty() && ptr == end && (ec == std::errc() || ec == std::errc::result_out_of_range);
}

}  // namespace disttgl::trainer::detail
