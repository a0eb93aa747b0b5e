// File-system operations on POSIX calls instead of std::filesystem's operation functions.
//
// Why: the LibTorch wheel's libtorch.so exports its own copies of the std::filesystem
// operations (status, remove_all, rename, ...), built against an older libstdc++. In a binary
// whose NEEDED list has libtorch.so before libstdc++.so (disttgl-trainer), calls from our code
// bind to those copies; remove_all on a non-empty directory crashed there. std::filesystem
// ::path members (arithmetic, lexically_normal) are not exported by libtorch and stay in use.
// Private to the data layer.
// Thread-safety: stateless functions; concurrent changes to the same paths race as usual.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace disttgl::trainer::detail::posix {

/// True when something exists at `path` (following symlinks).
bool exists(const std::string& path);
/// True when `path` is a directory (following symlinks).
bool is_directory(const std::string& path);
/// True when `path` is a regular file (following symlinks).
bool is_regular_file(const std::string& path);
/// The size of the file at `path`, or nullopt when it cannot be stat'ed.
std::optional<std::uint64_t> file_size(const std::string& path);
/// True when `path` is a directory with no entries besides "." and "..".
bool is_empty_directory(const std::string& path);
/// The process's working directory; throws IoError on failure.
std::string current_directory();

/// mkdir -p; throws IoError "cannot create directory PATH: REASON".
void create_directories(const std::string& path);
/// rm -rf without following symlinks; an absent path is fine. Throws IoError
/// "cannot remove PATH: REASON".
void remove_all(const std::string& path);
/// rename(2); throws IoError "cannot rename FROM to TO: REASON".
void rename(const std::string& from, const std::string& to);

}  // namespace disttgl::trainer::detail::posix
