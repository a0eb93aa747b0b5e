#include "detect.hpp"

#include <filesystem>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/data/import.hpp"
#include "reader_common.hpp"

namespace disttgl::trainer {
namespace detail {

std::string base_name_without_gz(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  if (name.size() > 3 && name.ends_with(".gz")) name.resize(name.size() - 3);
  return name;
}

std::string detect_format_from_text(const std::string& path, std::string_view prefix) {
  const std::string name = base_name_without_gz(path);
  LineCursor cursor(prefix);
  std::string_view line;
  const bool has_line = next_nonblank(cursor, line);
  if (!has_line) throw InputError(path, 0, "empty file");
  if (name == "edges.csv") return "tgl";
  if (name.starts_with("ml_") && name.ends_with(".csv")) return "dyglib";

  std::vector<std::string_view> fields;
  if (line.find(',') != std::string_view::npos) {
    split_delimited(line, ',', fields);
    if (fields.size() >= 4 && fields[0].empty()) {
      if (fields[1] == "src" && fields[2] == "dst" && fields[3] == "time") return "tgl";
      if (fields[1] == "u" && fields[2] == "i" && fields[3] == "ts") return "dyglib";
    }
    if (fields.size() >= 4 && !fields[0].empty() && !looks_numeric(fields[0])) return "jodie";
  } else {
    const std::size_t first = line.find_first_not_of(" \t");
    if (line[first] == '#' || line[first] == '%') return "snap";
    split_whitespace(line, fields);
    bool all_numeric = fields.size() >= 3;
    for (const std::string_view field : fields) all_numeric = all_numeric && looks_numeric(field);
    if (all_numeric) return "snap";
  }
  throw InputError(path, 0,
                   "cannot detect the format from the first line '" + shown_line(line) +
                       "'; choose one with --format jodie|tgl|dyglib|snap, or map the columns "
                       "with --columns src,dst,time[,label][,feat...] (e.g. --columns "
                       "src,dst,skip,time --delimiter ,)");
}

}  // namespace detail

std::string detect_format(const std::string& path) {
  // The first line decides (plus the name); 64 KiB holds a header of any sane width.
  return detail::detect_format_from_text(path, detail::read_text_prefix(path, 64U << 10));
}

}  // namespace disttgl::trainer
