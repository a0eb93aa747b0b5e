// SNAP temporal edge-list reader (`src dst ts` per line, e.g. CollegeMsg, sx-*).
#include <string>
#include <string_view>
#include <vector>

#include "reader_common.hpp"
#include "readers.hpp"

namespace disttgl::trainer::detail {

RawEvents read_snap(const std::string& path, const std::string& text) {
  LineCursor cursor(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  RawEvents events;
  reserve_events(events, count_lines(text));
  bool any_line = false;
  while (next_nonblank(cursor, line)) {
    any_line = true;
    // SNAP headers start with '#', KONECT ones with '%'.
    const std::size_t first = line.find_first_not_of(" \t");
    if (line[first] == '#' || line[first] == '%') continue;
    const FieldSite site{path, cursor.line_number()};
    split_whitespace(line, fields);
    if (fields.size() != 3) throw_column_count(site, 3, fields.size());
    events.src.push_back(parse_node_id(fields[0], "src", site));
    events.dst.push_back(parse_node_id(fields[1], "dst", site));
    events.ts.push_back(parse_finite_double(fields[2], "ts", site));
    events.label.push_back(0);
  }
  if (!any_line) throw_at({path, 0}, "empty file");
  if (events.ts.empty()) throw_at({path, 0}, "no events (only comment lines)");
  return events;
}

}  // namespace disttgl::trainer::detail
