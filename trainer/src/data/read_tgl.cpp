// TGL `edges.csv` reader (Zhou et al., TGL, VLDB'22; DistTGL uses the same files).
// TGL ships edge/node features as torch pickles (`*.pt`), which C++ cannot read without
// Python; this reader takes plain-text `edge_features.csv` / `node_features.csv` (one row of
// comma-separated floats per edge / per original node id, no header) beside edges.csv.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "disttgl/common/log.hpp"
#include "posix_fs.hpp"
#include "reader_common.hpp"
#include "readers.hpp"

namespace disttgl::trainer::detail {
namespace {

struct FeatureRows {
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  std::vector<float> values;  // [rows, dim]
};

FeatureRows read_feature_rows(const std::string& path) {
  const std::string text = read_text_file(path);
  LineCursor cursor(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  FeatureRows result;
  long first_row_line = 0;
  while (next_nonblank(cursor, line)) {
    const FieldSite site{path, cursor.line_number()};
    split_delimited(line, ',', fields);
    if (result.rows == 0) {
      result.dim = static_cast<std::int64_t>(fields.size());
      first_row_line = site.line;
      result.values.reserve(count_lines(text) * fields.size());
    } else if (static_cast<std::int64_t>(fields.size()) != result.dim) {
      throw_at(site, "feature dimension mismatch: found " + std::to_string(fields.size()) +
                         ", expected " + std::to_string(result.dim) + " (from line " +
                         std::to_string(first_row_line) + ")");
    }
    parse_feature_columns(fields, 0, site, result.values);
    ++result.rows;
  }
  if (result.rows == 0) throw_at({path, 0}, "empty file");
  return result;
}

}  // namespace

RawEvents read_tgl(const std::string& path, const std::string& text) {
  LineCursor cursor(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  const FieldSite header_site = read_header(path, cursor, line, fields);
  constexpr std::string_view kHeader[] = {"", "src", "dst", "time", "ext_roll", "int_roll"};
  const bool header_ok =
      (fields.size() == 5 || fields.size() == 6) && header_matches(fields, kHeader);
  if (!header_ok) {
    throw_at(header_site, "expected the TGL header ',src,dst,time,ext_roll[,int_roll]', found '" +
                              shown_line(line) + "'");
  }
  const std::size_t num_columns = fields.size();

  RawEvents events;
  const std::size_t rows_bound = count_lines(text);
  reserve_events(events, rows_bound);
  events.ext_roll.reserve(rows_bound);
  events.line.reserve(rows_bound);
  std::int64_t row = 0;
  while (next_nonblank(cursor, line)) {
    const FieldSite site{path, cursor.line_number()};
    split_delimited(line, ',', fields);
    if (fields.size() != num_columns) throw_column_count(site, num_columns, fields.size());
    // TGL takes the edge id from the row position; a different value means a file whose
    // feature rows would not line up with its edges.
    if (parse_int(fields[0], "edge id", site) != row) {
      throw_bad_field(site, "edge id", "the row index " + std::to_string(row), fields[0]);
    }
    events.src.push_back(parse_node_id(fields[1], "src", site));
    events.dst.push_back(parse_node_id(fields[2], "dst", site));
    events.ts.push_back(parse_finite_double(fields[3], "time", site));
    events.label.push_back(0);
    const std::int64_t roll = parse_int(fields[4], "ext_roll", site);
    if (roll < 0 || roll > 2) throw_bad_field(site, "ext_roll", "0, 1 or 2", fields[4]);
    events.ext_roll.push_back(static_cast<std::int8_t>(roll));
    if (num_columns == 6) parse_int(fields[5], "int_roll", site);
    events.line.push_back(site.line);
    ++row;
  }
  if (events.ts.empty()) throw_at({path, 0}, "no events after the header line");

  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  const std::string edge_features_path = (dir / "edge_features.csv").string();
  const std::string node_features_path = (dir / "node_features.csv").string();
  if (posix::exists(edge_features_path)) {
    FeatureRows features = read_feature_rows(edge_features_path);
    if (features.rows != events.size()) {
      throw_at({edge_features_path, 0}, std::to_string(features.rows) + " rows, expected " +
                                            std::to_string(events.size()) + " (one per edge of " +
                                            path + ")");
    }
    events.edge_feature_dim = features.dim;
    events.edge_features = std::move(features.values);
  } else if (posix::exists((dir / "edge_features.pt").string())) {
    spdlog::warn(
        "import: {} is a torch pickle and is not read; write edge_features.csv "
        "(one float row per edge) to use edge features",
        (dir / "edge_features.pt").string());
  }
  if (posix::exists(node_features_path)) {
    FeatureRows features = read_feature_rows(node_features_path);
    events.node_feature_dim = features.dim;
    events.node_features = std::move(features.values);
    events.node_features_file = node_features_path;
  } else if (posix::exists((dir / "node_features.pt").string())) {
    spdlog::warn(
        "import: {} is a torch pickle and is not read; write node_features.csv "
        "(one float row per node id) to use node features",
        (dir / "node_features.pt").string());
  }
  return events;
}

}  // namespace disttgl::trainer::detail
