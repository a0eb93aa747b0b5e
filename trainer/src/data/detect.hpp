// Format detection from a file name and the start of its text. Private to the data layer;
// the public entry point is detect_format() in import.hpp.
// Thread-safety: stateless functions.
#pragma once

#include <string>
#include <string_view>

namespace disttgl::trainer::detail {

/// The file name of `path` without a trailing ".gz".
std::string base_name_without_gz(const std::string& path);

/// "jodie", "tgl", "dyglib" or "snap" for `path` whose (decompressed) text starts with
/// `prefix`. Rules, first match wins: name `edges.csv` -> tgl; name `ml_*.csv` -> dyglib;
/// first line `,src,dst,time,...` -> tgl, `,u,i,ts,...` -> dyglib; a comma-separated first
/// line whose first field is not a number -> jodie; a first line starting with '#' or '%',
/// or of whitespace-separated numbers -> snap.
/// Throws InputError "PATH: empty file" or "PATH: cannot detect the format ...".
std::string detect_format_from_text(const std::string& path, std::string_view prefix);

}  // namespace disttgl::trainer::detail
