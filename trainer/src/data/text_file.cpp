#include "text_file.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <system_error>

#include "disttgl/common/error.hpp"
#include "posix_fs.hpp"

namespace disttgl::trainer::detail {
namespace {

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

GzHandle open_gz(const std::string& path) {
  if (posix::is_directory(path)) {
    throw InputError(path, 0, "cannot open: is a directory");
  }
  errno = 0;
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) {
    const int err = errno;
    throw InputError(
        path, 0, std::string("cannot open: ") + (err != 0 ? std::strerror(err) : "out of memory"));
  }
  // A large buffer keeps the number of read() calls small on big files.
  gzbuffer(file.get(), 1U << 20);
  return file;
}

// zlib prefixes its messages with the path it was given; the caller adds the path itself.
[[noreturn]] void throw_gzip_error(const std::string& path, gzFile_s* file) {
  int errnum = 0;
  std::string message = gzerror(file, &errnum);
  if (message.starts_with(path + ": ")) message.erase(0, path.size() + 2);
  throw InputError(path, 0, "gzip: " + message);
}

// Appends up to `limit` decompressed bytes of `file` to `out`.
void read_into(const std::string& path, gzFile_s* file, std::size_t limit, std::string& out) {
  constexpr std::size_t kChunk = 1U << 20;
  while (out.size() < limit) {
    const std::size_t want = std::min(kChunk, limit - out.size());
    const std::size_t old_size = out.size();
    out.resize(old_size + want);
    const int got = gzread(file, out.data() + old_size, static_cast<unsigned>(want));
    if (got < 0) throw_gzip_error(path, file);
    out.resize(old_size + static_cast<std::size_t>(got));
    if (static_cast<std::size_t>(got) < want) break;
  }
  // A truncated or corrupt stream still returns the bytes decoded so far; the error is only
  // recorded in the handle.
  int errnum = Z_OK;
  gzerror(file, &errnum);
  if (errnum != Z_OK && errnum != Z_STREAM_END) throw_gzip_error(path, file);
}

// Spreadsheet exports start CSV files with a UTF-8 byte order mark; it is not data.
void strip_utf8_bom(std::string& text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
}

}  // namespace

std::string read_text_file(const std::string& path) {
  GzHandle file = open_gz(path);
  std::string text;
  // Exact for plain files, a lower bound for compressed ones.
  if (const auto size = posix::file_size(path)) text.reserve(static_cast<std::size_t>(*size) + 1);
  read_into(path, file.get(), std::numeric_limits<std::size_t>::max(), text);
  strip_utf8_bom(text);
  return text;
}

std::string read_text_prefix(const std::string& path, std::size_t max_bytes) {
  GzHandle file = open_gz(path);
  std::string text;
  read_into(path, file.get(), max_bytes, text);
  strip_utf8_bom(text);
  return text;
}

bool LineCursor::next(std::string_view& line) {
  if (pos_ >= text_.size()) return false;
  const char* begin = text_.data() + pos_;
  const std::size_t rest = text_.size() - pos_;
  const void* newline = std::memchr(begin, '\n', rest);
  std::size_t length = newline != nullptr
                           ? static_cast<std::size_t>(static_cast<const char*>(newline) - begin)
                           : rest;
  pos_ += length + (newline != nullptr ? 1 : 0);
  if (length > 0 && begin[length - 1] == '\r') --length;
  line = std::string_view(begin, length);
  ++line_number_;
  return true;
}

bool is_blank(std::string_view line) {
  for (const char c : line) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

namespace {
std::string_view trim(std::string_view field) {
  std::size_t begin = 0;
  std::size_t end = field.size();
  while (begin < end && (field[begin] == ' ' || field[begin] == '\t')) ++begin;
  while (end > begin && (field[end - 1] == ' ' || field[end - 1] == '\t')) --end;
  return field.substr(begin, end - begin);
}
}  // namespace

void split_delimited(std::string_view line, char delimiter, std::vector<std::string_view>& fields) {
  fields.clear();
  std::size_t start = 0;
  while (true) {
    const void* hit = std::memchr(line.data() + start, delimiter, line.size() - start);
    if (hit == nullptr) {
      fields.push_back(trim(line.substr(start)));
      return;
    }
    const auto at = static_cast<std::size_t>(static_cast<const char*>(hit) - line.data());
    fields.push_back(trim(line.substr(start, at - start)));
    start = at + 1;
  }
}

void split_whitespace(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
}

}  // namespace disttgl::trainer::detail
