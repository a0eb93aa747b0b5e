// The column mapping of the general delimited importer, parsed from ImportOptions::columns
// (`prepare --columns/--delimiter/--header`). Private to the data layer.
// Thread-safety: stateless functions and a plain value.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer::detail {

enum class ColumnRole : unsigned char { kSrc, kDst, kTime, kLabel, kFeat, kSkip };

struct ColumnLayout {
  /// One role per mapped column, in file order; a trailing feat... is not in it.
  std::vector<ColumnRole> roles;
  /// The mapping ended with feat...: every column after `roles` is a feature.
  bool rest_are_features = false;
  std::size_t src = 0;  ///< column index of each required role
  std::size_t dst = 0;
  std::size_t time = 0;
  std::optional<std::size_t> label;
  std::vector<std::size_t> features;  ///< column indices of the explicit feat roles, in order
  char delimiter = ',';
  bool header = false;
  std::string spec;  ///< the --columns text, for messages
};

/// Parses `options`. Throws ConfigError:
///   "--columns: unknown role 'rating' (column 3 of 'src,dst,rating,time'); expected src,
///    dst, time, label, feat, feat... or skip"
///   "--columns: no role for column 2 of 'src,,time' (empty between commas)"
///   "--columns: 'feat...' must be the last role (it takes every remaining column)"
///   "--columns: time is given twice (columns 3 and 4 of '...'); src, dst and time need
///    exactly one column each"
///   "--columns: label is given twice (columns 4 and 5 of '...'); at most one label column"
///   "--columns: 'src,time' has no dst column; src, dst and time are required"
///   and those of parse_delimiter.
ColumnLayout parse_column_layout(const ColumnsOptions& options);

/// Parses --delimiter: one character, or tab, \t, space, comma, semicolon, pipe. Throws
/// ConfigError "--delimiter: expected one character or tab, space, comma, semicolon, pipe;
/// got '::'", or "--delimiter: '.' occurs inside numbers; choose another delimiter" for a
/// digit, '.', '+' or '-' (and for a line break: "--delimiter: a line break cannot separate
/// columns").
char parse_delimiter(const std::string& text);

/// How a delimiter is shown in messages: "tab", "space", or the character quoted ("','").
std::string shown_delimiter(char delimiter);

/// The --delimiter value that selects `delimiter`, safe to paste into a shell: "tab",
/// "space", "semicolon", "pipe", or the character itself.
std::string delimiter_option(char delimiter);

}  // namespace disttgl::trainer::detail
