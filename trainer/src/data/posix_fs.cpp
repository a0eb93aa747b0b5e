#include "posix_fs.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer::detail::posix {
namespace {

std::optional<struct stat> stat_of(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  return info;
}

[[noreturn]] void fail(const std::string& what, int err) {
  throw IoError(what + ": " + std::strerror(err));
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

}  // namespace

bool exists(const std::string& path) { return stat_of(path).has_value(); }

bool is_directory(const std::string& path) {
  const auto info = stat_of(path);
  return info && S_ISDIR(info->st_mode);
}

bool is_regular_file(const std::string& path) {
  const auto info = stat_of(path);
  return info && S_ISREG(info->st_mode);
}

std::optional<std::uint64_t> file_size(const std::string& path) {
  const auto info = stat_of(path);
  if (!info) return std::nullopt;
  return static_cast<std::uint64_t>(info->st_size);
}

bool is_empty_directory(const std::string& path) {
  std::unique_ptr<DIR, DirCloser> dir(::opendir(path.c_str()));
  if (!dir) return false;
  while (const dirent* entry = ::readdir(dir.get())) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
      return false;
    }
  }
  return true;
}

std::string current_directory() {
  std::vector<char> buffer(4096);
  while (::getcwd(buffer.data(), buffer.size()) == nullptr) {
    if (errno != ERANGE) fail("cannot read the working directory", errno);
    buffer.resize(buffer.size() * 2);
  }
  return buffer.data();
}

void create_directories(const std::string& path) {
  if (path.empty() || is_directory(path)) return;
  const std::size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) create_directories(path.substr(0, slash));
  if (::mkdir(path.c_str(), 0777) != 0 && !(errno == EEXIST && is_directory(path))) {
    fail("cannot create directory " + path, errno);
  }
}

void remove_all(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return;
    fail("cannot remove " + path, errno);
  }
  if (S_ISDIR(info.st_mode)) {
    std::vector<std::string> children;
    {
      std::unique_ptr<DIR, DirCloser> dir(::opendir(path.c_str()));
      if (!dir) fail("cannot remove " + path, errno);
      while (const dirent* entry = ::readdir(dir.get())) {
        if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
          children.push_back(path + "/" + entry->d_name);
        }
      }
    }
    for (const std::string& child : children) remove_all(child);
    if (::rmdir(path.c_str()) != 0) fail("cannot remove " + path, errno);
  } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    fail("cannot remove " + path, errno);
  }
}

void rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    fail("cannot rename " + from + " to " + to, errno);
  }
}

}  // namespace disttgl::trainer::detail::posix
