#include "field_parse.hpp"

#include "disttgl/common/error.hpp"

namespace disttgl::trainer::detail {

void throw_bad_field(const FieldSite& site, std::string_view field, std::string_view expected,
                     std::string_view text) {
  // Long garbage (a binary file read as text) must not flood the one-line message.
  constexpr std::size_t kMaxShown = 40;
  std::string shown(text.substr(0, kMaxShown));
  if (text.size() > kMaxShown) shown += "...";
  throw InputError(
      site.file, site.line,
      std::string(field) + ": expected " + std::string(expected) + ", found '" + shown + "'");
}

void throw_at(const FieldSite& site, const std::string& what) {
  throw InputError(site.file, site.line, what);
}

}  // namespace disttgl::trainer::detail
