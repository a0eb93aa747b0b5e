// DyGLib / TGN `ml_<name>.csv` reader (Yu et al. 2023; Rossi et al. 2020 preprocessing).
#include <string>
#include <string_view>
#include <vector>

#include "reader_common.hpp"
#include "readers.hpp"

namespace disttgl::trainer::detail {
namespace {

std::int64_t parse_one_based_id(std::string_view text, std::string_view field,
                                const FieldSite& site) {
  const std::int64_t id = parse_node_id(text, field, site);
  if (id == 0) {
    throw_at(site, std::string(field) + ": node id 0 is DyGLib's padding id (ids are 1-based)");
  }
  return id;
}

}  // namespace

RawEvents read_dyglib(const std::string& path, const std::string& text) {
  LineCursor cursor(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  const FieldSite header_site = read_header(path, cursor, line, fields);
  constexpr std::string_view kHeader[] = {"", "u", "i", "ts", "label", "idx"};
  const bool header_ok = fields.size() == std::size(kHeader) && header_matches(fields, kHeader);
  if (!header_ok) {
    throw_at(header_site,
             "expected the DyGLib header ',u,i,ts,label,idx', found '" + shown_line(line) + "'");
  }

  RawEvents events;
  reserve_events(events, count_lines(text));
  while (next_nonblank(cursor, line)) {
    const FieldSite site{path, cursor.line_number()};
    split_delimited(line, ',', fields);
    if (fields.size() != std::size(kHeader))
      throw_column_count(site, std::size(kHeader), fields.size());
    parse_int(fields[0], "index", site);
    events.src.push_back(parse_one_based_id(fields[1], "u", site));
    events.dst.push_back(parse_one_based_id(fields[2], "i", site));
    events.ts.push_back(parse_finite_double(fields[3], "ts", site));
    events.label.push_back(parse_label(fields[4], "label", site));
    parse_int(fields[5], "idx", site);
  }
  if (events.ts.empty()) throw_at({path, 0}, "no events after the header line");
  return events;
}

}  // namespace disttgl::trainer::detail
