// Reading input text files (plain or gzip) and splitting them into lines and fields without
// allocating per field. Private to the data layer.
// Thread-safety: free functions and a value-type cursor; no shared state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace disttgl::trainer::detail {

/// The whole content of `path`, gunzipped when it is gzip-compressed (zlib's gzread reads
/// plain files transparently, so any format may be compressed), without a leading UTF-8
/// byte order mark. The whole file is held in memory.
/// Throws InputError "PATH: cannot open: REASON" or "PATH: gzip: REASON".
std::string read_text_file(const std::string& path);

/// At most `max_bytes` of the (decompressed) start of `path`, for format detection.
/// Throws like read_text_file.
std::string read_text_prefix(const std::string& path, std::size_t max_bytes);

/// Iterates the lines of a text buffer; strips "\n" and a "\r" before it (CRLF files).
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : text_(text) {}

  /// Sets `line` to the next line and returns true, or returns false at the end.
  bool next(std::string_view& line);
  /// 1-based number of the line last returned by next() (0 before the first call).
  long line_number() const { return line_number_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  long line_number_ = 0;
};

/// True when `line` holds only spaces, tabs (or nothing).
bool is_blank(std::string_view line);

/// Splits `line` at each `delimiter` into `fields` (cleared first, capacity kept), trimming
/// spaces and tabs around each field; empty fields are kept ("a,,b" gives 3 fields).
void split_delimited(std::string_view line, char delimiter, std::vector<std::string_view>& fields);

/// Splits `line` at runs of spaces and tabs into `fields` (cleared first, capacity kept).
void split_whitespace(std::string_view line, std::vector<std::string_view>& fields);

}  // namespace disttgl::trainer::detail
