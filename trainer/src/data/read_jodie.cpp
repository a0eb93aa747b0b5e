// JODIE CSV reader (Kumar et al., KDD'19 data files; PyG's JODIEDataset reads the same).
#include <string>
#include <string_view>
#include <vector>

#include "reader_common.hpp"
#include "readers.hpp"

namespace disttgl::trainer::detail {

RawEvents read_jodie(const std::string& path, const std::string& text) {
  LineCursor cursor(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  const FieldSite header_site = read_header(path, cursor, line, fields);
  if (fields.size() < 4 || looks_numeric(fields[0])) {
    throw_at(header_site,
             "expected the JODIE header 'user_id,item_id,timestamp,state_label[,features]', "
             "found '" +
                 shown_line(line) + "'");
  }

  RawEvents events;
  events.bipartite = true;
  reserve_events(events, count_lines(text));
  std::size_t num_columns = 0;  // fixed by the first data row
  long first_row_line = 0;
  while (next_nonblank(cursor, line)) {
    const FieldSite site{path, cursor.line_number()};
    split_delimited(line, ',', fields);
    if (num_columns == 0) {
      if (fields.size() < 4) {
        throw_at(site, "expected at least 4 columns, found " + std::to_string(fields.size()));
      }
      num_columns = fields.size();
      first_row_line = site.line;
      events.edge_feature_dim = static_cast<std::int64_t>(num_columns - 4);
      events.edge_features.reserve(count_lines(text) * (num_columns - 4));
    } else if (fields.size() != num_columns) {
      if (fields.size() < 4) throw_column_count(site, num_columns, fields.size());
      throw_at(site, "feature dimension mismatch: found " + std::to_string(fields.size() - 4) +
                         ", expected " + std::to_string(num_columns - 4) + " (from line " +
                         std::to_string(first_row_line) + ")");
    }
    events.src.push_back(parse_node_id(fields[0], "user_id", site));
    events.dst.push_back(parse_node_id(fields[1], "item_id", site));
    events.ts.push_back(parse_finite_double(fields[2], "timestamp", site));
    events.label.push_back(parse_label(fields[3], "state_label", site));
    parse_feature_columns(fields, 4, site, events.edge_features);
  }
  if (events.ts.empty()) throw_at({path, 0}, "no events after the header line");
  return events;
}

}  // namespace disttgl::trainer::detail
