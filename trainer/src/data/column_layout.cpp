#include "column_layout.hpp"

#include <array>
#include <string_view>
#include <utility>

#include "disttgl/common/error.hpp"
#include "text_file.hpp"

namespace disttgl::trainer::detail {
namespace {

constexpr std::string_view kRestAreFeatures = "feat...";

std::optional<ColumnRole> role_of(std::string_view name) {
  constexpr std::array<std::pair<std::string_view, ColumnRole>, 6> kRoles = {{
      {"src", ColumnRole::kSrc},
      {"dst", ColumnRole::kDst},
      {"time", ColumnRole::kTime},
      {"label", ColumnRole::kLabel},
      {"feat", ColumnRole::kFeat},
      {"skip", ColumnRole::kSkip},
  }};
  for (const auto& [role_name, role] : kRoles) {
    if (role_name == name) return role;
  }
  return std::nullopt;
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Records the column of a role that may occur once; `what` says how often it may.
void set_once(std::optional<std::size_t>& slot, std::size_t column, std::string_view name,
              const std::string& spec, std::string_view what) {
  if (slot) {
    throw ConfigError("--columns: " + std::string(name) + " is given twice (columns " +
                      std::to_string(*slot + 1) + " and " + std::to_string(column + 1) + " of " +
                      quoted(spec) + "); " + std::string(what));
  }
  slot = column;
}

}  // namespace

char parse_delimiter(const std::string& text) {
  constexpr std::array<std::pair<std::string_view, char>, 6> kNames = {{
      {"tab", '\t'},
      {"\\t", '\t'},
      {"space", ' '},
      {"comma", ','},
      {"semicolon", ';'},
      {"pipe", '|'},
  }};
  for (const auto& [name, delimiter] : kNames) {
    if (text == name) return delimiter;
  }
  if (text.size() != 1) {
    throw ConfigError(
        "--delimiter: expected one character or tab, space, comma, semicolon, pipe; got " +
        quoted(text));
  }
  const char c = text[0];
  if (c == '\n' || c == '\r')
    throw ConfigError("--delimiter: a line break cannot separate columns");
  // A delimiter inside numbers would split "1.5" or "-3" into two columns.
  if ((c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-') {
    throw ConfigError("--delimiter: " + quoted(text) +
                      " occurs inside numbers; choose another delimiter");
  }
  return c;
}

std::string shown_delimiter(char delimiter) {
  if (delimiter == '\t') return "tab";
  if (delimiter == ' ') return "space";
  return quoted(std::string(1, delimiter));
}

std::string delimiter_option(char delimiter) {
  switch (delimiter) {
    case '\t':
      return "tab";
    case ' ':
      return "space";
    case ';':
      return "semicolon";
    case '|':
      return "pipe";
    default:
      return std::string(1, delimiter);
  }
}

ColumnLayout parse_column_layout(const ColumnsOptions& options) {
  ColumnLayout layout;
  layout.spec = options.roles;
  layout.delimiter = parse_delimiter(options.delimiter);
  layout.header = options.header;
  std::vector<std::string_view> names;
  split_delimited(options.roles, ',', names);
  std::optional<std::size_t> src;
  std::optional<std::size_t> dst;
  std::optional<std::size_t> time;
  constexpr std::string_view kOnce = "src, dst and time need exactly one column each";
  for (std::size_t column = 0; column < names.size(); ++column) {
    const std::string_view name = names[column];
    if (name.empty()) {
      throw ConfigError("--columns: no role for column " + std::to_string(column + 1) + " of " +
                        quoted(options.roles) + " (empty between commas)");
    }
    if (name == kRestAreFeatures) {
      if (column + 1 != names.size()) {
        throw ConfigError(
            "--columns: 'feat...' must be the last role (it takes every remaining column)");
      }
      layout.rest_are_features = true;
      break;
    }
    const std::optional<ColumnRole> role = role_of(name);
    if (!role) {
      throw ConfigError("--columns: unknown role " + quoted(name) + " (column " +
                        std::to_string(column + 1) + " of " + quoted(options.roles) +
                        "); expected src, dst, time, label, feat, feat... or skip");
    }
    switch (*role) {
      case ColumnRole::kSrc:
        set_once(src, column, name, options.roles, kOnce);
        break;
      case ColumnRole::kDst:
        set_once(dst, column, name, options.roles, kOnce);
        break;
      case ColumnRole::kTime:
        set_once(time, column, name, options.roles, kOnce);
        break;
      case ColumnRole::kLabel:
        set_once(layout.label, column, name, options.roles, "at most one label column");
        break;
      case ColumnRole::kFeat:
        layout.features.push_back(column);
        break;
      case ColumnRole::kSkip:
        break;
    }
    layout.roles.push_back(*role);
  }
  for (const auto& [slot, name] : {std::pair{&src, "src"}, {&dst, "dst"}, {&time, "time"}}) {
    if (!*slot) {
      throw ConfigError("--columns: " + quoted(options.roles) + " has no " + name +
                        " column; src, dst and time are required");
    }
  }
  layout.src = *src;
  layout.dst = *dst;
  layout.time = *time;
  return layout;
}

}  // namespace disttgl::trainer::detail
