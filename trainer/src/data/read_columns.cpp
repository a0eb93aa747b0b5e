// The general delimited reader: any file whose columns are named by a --columns mapping
// (SNAP's signed networks `SOURCE,TARGET,RATING,TIME`, tab-separated exports, ...).
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "column_layout.hpp"
#include "reader_common.hpp"
#include "readers.hpp"

namespace disttgl::trainer::detail {
namespace {

void split_columns(std::string_view line, char delimiter, std::vector<std::string_view>& fields) {
  // Space-separated files are usually aligned with runs of blanks.
  if (delimiter == ' ') {
    split_whitespace(line, fields);
  } else {
    split_delimited(line, delimiter, fields);
  }
}

bool width_fits(const ColumnLayout& layout, std::size_t found) {
  return layout.rest_are_features ? found >= layout.roles.size() : found == layout.roles.size();
}

// A delimiter missing from the first data line is nearly always the wrong option for the
// file (a tab-separated file read with the default ','); name the one the line does use.
void check_delimiter(const FieldSite& site, std::string_view line, const ColumnLayout& layout) {
  if (line.find(layout.delimiter) != std::string_view::npos) return;
  std::optional<char> found;
  std::vector<std::string_view> fields;
  for (const char candidate : {'\t', ',', ';', '|', ' '}) {
    if (line.find(candidate) == std::string_view::npos) continue;
    split_columns(line, candidate, fields);
    // Prefer a delimiter that gives the mapped number of columns.
    if (width_fits(layout, fields.size())) {
      found = candidate;
      break;
    }
    if (!found) found = candidate;
  }
  std::string message = "the delimiter " + shown_delimiter(layout.delimiter) +
                        " does not occur in the first data line";
  if (found) {
    message += " (found " + shown_delimiter(*found) + ": try --delimiter " +
               delimiter_option(*found) + ")";
  }
  throw_at(site, message);
}

// Without --header, a first line of column names fails as a bad id; say what would fix it.
void check_not_a_header(const FieldSite& site, const std::vector<std::string_view>& fields,
                        const ColumnLayout& layout) {
  const std::array<std::pair<std::size_t, std::string_view>, 3> required = {
      {{layout.src, "src"}, {layout.dst, "dst"}, {layout.time, "time"}}};
  for (const auto& [column, name] : required) {
    if (!looks_numeric(fields[column])) {
      throw_at(site, std::string(name) + ": expected " +
                         (name == "time" ? "a number" : "an integer") + ", found '" +
                         shown_line(fields[column]) + "' (a header line? add --header)");
    }
  }
}

void check_width(const FieldSite& site, const ColumnLayout& layout, std::size_t found,
                 std::size_t first_width, long first_line) {
  const std::size_t mapped = layout.roles.size();
  if (!layout.rest_are_features) {
    if (found < mapped) throw_column_count(site, mapped, found);
    if (found > mapped) {
      throw_at(site, "found " + std::to_string(found) + " columns, but --columns maps " +
                         std::to_string(mapped) +
                         " (map the extra ones with skip or feat, or end --columns with feat...)");
    }
    return;
  }
  if (first_width == 0) {  // the first data row fixes the width
    if (found < mapped) {
      throw_at(site, "expected at least " + std::to_string(mapped) + " columns, found " +
                         std::to_string(found));
    }
    return;
  }
  if (found == first_width) return;
  if (found < mapped) throw_column_count(site, first_width, found);
  const std::size_t explicit_features = layout.features.size();
  throw_at(site, "feature dimension mismatch: found " +
                     std::to_string(explicit_features + found - mapped) + ", expected " +
                     std::to_string(explicit_features + first_width - mapped) + " (from line " +
                     std::to_string(first_line) + ")");
}

// Appends the row's features in column order: the explicit feat columns, then (feat...)
// every column after the mapped ones. Feature k is "feat_k" in messages.
void parse_features(const std::vector<std::string_view>& fields, const ColumnLayout& layout,
                    const FieldSite& site, std::vector<float>& out) {
  std::size_t k = 0;
  const auto parse_one = [&](std::string_view text) {
    float value = 0.0F;
    if (!try_parse_feature(text, value)) {
      value = parse_feature(text, "feat_" + std::to_string(k), site);
    }
    out.push_back(value);
    ++k;
  };
  for (const std::size_t column : layout.features) parse_one(fields[column]);
  if (layout.rest_are_features) {
    for (std::size_t column = layout.roles.size(); column < fields.size(); ++column) {
      parse_one(fields[column]);
    }
  }
}

}  // namespace

RawEvents read_columns(const std::string& path, const std::string& text,
                       const ColumnLayout& layout) {
  LineCursor cursor(text);
  std::string_view line;
  if (!next_nonblank(cursor, line)) throw_at({path, 0}, "empty file");
  if (layout.header && !next_nonblank(cursor, line)) {
    throw_at({path, 0}, "no events after the header line");
  }
  check_delimiter({path, cursor.line_number()}, line, layout);

  RawEvents events;
  reserve_events(events, count_lines(text));
  std::vector<std::string_view> fields;
  std::size_t first_width = 0;
  long first_line = 0;
  do {
    const FieldSite site{path, cursor.line_number()};
    split_columns(line, layout.delimiter, fields);
    check_width(site, layout, fields.size(), first_width, first_line);
    if (first_width == 0) {
      first_width = fields.size();
      first_line = site.line;
      events.edge_feature_dim =
          static_cast<std::int64_t>(layout.features.size() + first_width - layout.roles.size());
      events.edge_features.reserve(count_lines(text) *
                                   static_cast<std::size_t>(events.edge_feature_dim));
      if (!layout.header) check_not_a_header(site, fields, layout);
    }
    events.src.push_back(parse_node_id(fields[layout.src], "src", site));
    events.dst.push_back(parse_node_id(fields[layout.dst], "dst", site));
    events.ts.push_back(parse_finite_double(fields[layout.time], "time", site));
    events.label.push_back(layout.label ? parse_label(fields[*layout.label], "label", site) : 0);
    parse_features(fields, layout, site, events.edge_features);
  } while (next_nonblank(cursor, line));
  return events;
}

}  // namespace disttgl::trainer::detail
