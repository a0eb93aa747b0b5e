// Small helpers shared by the per-format readers. Private to the data layer.
// Thread-safety: stateless inline functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "field_parse.hpp"
#include "raw_events.hpp"
#include "text_file.hpp"

namespace disttgl::trainer::detail {

/// Upper bound on the number of lines, to reserve the event arrays once.
inline std::size_t count_lines(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

/// Advances to the next non-blank line; false at the end of the text.
inline bool next_nonblank(LineCursor& cursor, std::string_view& line) {
  while (cursor.next(line)) {
    if (!is_blank(line)) return true;
  }
  return false;
}

/// Reads the first non-blank line of `path` into `line` and splits it on commas into
/// `fields`. Returns the header's site; throws InputError "empty file" when there is none.
inline FieldSite read_header(const std::string& path, LineCursor& cursor, std::string_view& line,
                             std::vector<std::string_view>& fields) {
  if (!next_nonblank(cursor, line)) throw_at({path, 0}, "empty file");
  const FieldSite site{path, cursor.line_number()};
  split_delimited(line, ',', fields);
  return site;
}

/// True when every field equals the expected name at its position (fields.size() <= N).
template <std::size_t N>
bool header_matches(const std::vector<std::string_view>& fields,
                    const std::string_view (&expected)[N]) {
  if (fields.size() > N) return false;
  for (std::size_t k = 0; k < fields.size(); ++k) {
    if (fields[k] != expected[k]) return false;
  }
  return true;
}

/// `line` shortened for a message.
inline std::string shown_line(std::string_view line) {
  constexpr std::size_t kMaxShown = 60;
  return line.size() <= kMaxShown ? std::string(line)
                                  : std::string(line.substr(0, kMaxShown)) + "...";
}

/// "expected N columns, found M".
[[noreturn]] inline void throw_column_count(const FieldSite& site, std::size_t expected,
                                            std::size_t found) {
  throw_at(site,
           "expected " + std::to_string(expected) + " columns, found " + std::to_string(found));
}

/// Parses feature columns `fields[first..)` into `out` (appending); feature k is named
/// "feat_k" in messages.
inline void parse_feature_columns(const std::vector<std::string_view>& fields, std::size_t first,
                                  const FieldSite& site, std::vector<float>& out) {
  for (std::size_t k = first; k < fields.size(); ++k) {
    float value = 0.0F;
    if (!try_parse_feature(fields[k], value)) {
      // Slow path: builds the column name and throws the exact message.
      value = parse_feature(fields[k], "feat_" + std::to_string(k - first), site);
    }
    out.push_back(value);
  }
}

/// Reserves the per-event arrays for about `rows` events.
inline void reserve_events(RawEvents& events, std::size_t rows) {
  events.src.reserve(rows);
  events.dst.reserve(rows);
  events.ts.reserve(rows);
  events.label.reserve(rows);
}

}  // namespace disttgl::trainer::detail
