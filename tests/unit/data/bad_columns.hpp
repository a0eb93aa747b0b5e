// The table of bad --columns imports shared by import_columns_test.cpp (through
// import_dataset) and prepare_columns_cli_test.cpp (through the real binary): each with its
// exact expected message.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace disttgl::trainer::test {

struct BadColumns {
  std::string name;       ///< test label
  std::string content;    ///< the input file (in.csv)
  std::string columns;    ///< --columns
  std::string delimiter;  ///< --delimiter, as typed on the command line
  bool header;            ///< --header
  /// Expected what(); "{p}" stands for the input path.
  std::string message;
  /// A bad mapping or delimiter: a ConfigError raised before the file is read.
  bool option_error = false;
};

inline const std::vector<BadColumns>& bad_columns() {
  static const std::vector<BadColumns> cases = {
      // Column counts
      {"fewer_columns", "1,2,10,5\n3,4,11\n", "src,dst,skip,time", ",", false,
       "{p}:2: expected 4 columns, found 3"},
      {"more_columns", "1,2,10,5,9\n", "src,dst,skip,time", ",", false,
       "{p}:1: found 5 columns, but --columns maps 4 (map the extra ones with skip or feat, or end "
       "--columns with feat...)"},
      {"more_columns_later_line", "1,2,3\n\n1,2,3,4\n", "src,dst,time", ",", false,
       "{p}:3: found 4 columns, but --columns maps 3 (map the extra ones with skip or feat, or end "
       "--columns with feat...)"},
      {"rest_first_row_short", "1,2\n", "src,dst,time,feat...", ",", false,
       "{p}:1: expected at least 3 columns, found 2"},
      {"rest_fewer_features", "1,2,3,0.5,0.25\n\n2,3,4,0.5\n", "src,dst,time,feat...", ",", false,
       "{p}:3: feature dimension mismatch: found 1, expected 2 (from line 1)"},
      {"rest_more_features", "1,2,3,9,0.5\n2,3,4,9,0.5,1,2\n", "src,dst,time,feat,feat...", ",",
       false, "{p}:2: feature dimension mismatch: found 4, expected 2 (from line 1)"},
      {"rest_row_too_short", "1,2,3,0.5\n2,3\n", "src,dst,time,feat...", ",", false,
       "{p}:2: expected 4 columns, found 2"},
      // Delimiter
      {"tab_file_comma_delimiter", "1\t2\t3\n", "src,dst,time", ",", false,
       "{p}:1: the delimiter ',' does not occur in the first data line (found tab: try "
       "--delimiter tab)"},
      {"comma_file_tab_delimiter", "1,2,3\n", "src,dst,time", "tab", false,
       "{p}:1: the delimiter tab does not occur in the first data line (found ',': try "
       "--delimiter ,)"},
      {"suggests_the_delimiter_that_fits", "1,5 2 3\n", "src,dst,time", "|", false,
       "{p}:1: the delimiter '|' does not occur in the first data line (found space: try "
       "--delimiter space)"},
      {"suggests_semicolon", "1;2;3\n", "src,dst,time", "comma", false,
       "{p}:1: the delimiter ',' does not occur in the first data line (found ';': try "
       "--delimiter semicolon)"},
      {"no_delimiter_at_all", "123\n", "src,dst,time", ",", false,
       "{p}:1: the delimiter ',' does not occur in the first data line"},
      {"delimiter_checked_after_the_header", "a\tb\tc\n1,2,3\n", "src,dst,time", "tab", true,
       "{p}:2: the delimiter tab does not occur in the first data line (found ',': try "
       "--delimiter ,)"},
      // Header
      {"header_line_without_header", "SOURCE,TARGET,RATING,TIME\n1,2,3,4\n", "src,dst,skip,time",
       ",", false, "{p}:1: src: expected an integer, found 'SOURCE' (a header line? add --header)"},
      {"header_time_name_without_header", "1,2,ts\n", "src,dst,time", ",", false,
       "{p}:1: time: expected a number, found 'ts' (a header line? add --header)"},
      {"header_skips_only_one_line", "s,d,t\ns,d,t\n1,2,3\n", "src,dst,time", ",", true,
       "{p}:2: src: expected an integer, found 's'"},
      {"header_only", "\nsrc,dst,time\n\n", "src,dst,time", ",", true,
       "{p}: no events after the header line"},
      {"empty_file", "", "src,dst,time", ",", false, "{p}: empty file"},
      {"blank_lines_only", "\n \t\n", "src,dst,time", ",", true, "{p}: empty file"},
      // Fields
      {"non_integer_src", "1,2,3\n1.5,2,3\n", "src,dst,time", ",", false,
       "{p}:2: src: expected an integer, found '1.5'"},
      {"negative_dst", "1,-2,3\n", "src,dst,time", ",", false, "{p}:1: dst: negative node id -2"},
      {"nan_time", "1,2,3\n1,2,nan\n", "src,dst,time", ",", false,
       "{p}:2: time: expected a finite number, found 'nan'"},
      {"bad_feature", "1,2,3,0.5,x\n", "src,dst,time,feat,feat", ",", false,
       "{p}:1: feat_1: expected a number, found 'x'"},
      {"bad_rest_feature", "1,2,3,9,0.5,inf\n", "src,dst,time,feat,feat...", ",", false,
       "{p}:1: feat_2: expected a finite number, found 'inf'"},
      {"fractional_label", "1,2,3,0.5\n", "src,dst,time,label", ",", false,
       "{p}:1: label: expected an integer label, found '0.5'"},
      // The mapping and the delimiter option (checked before the file is read)
      {"unknown_role", "1,2,3,4\n", "src,dst,rating,time", ",", false,
       "--columns: unknown role 'rating' (column 3 of 'src,dst,rating,time'); expected src, dst, "
       "time, label, feat, feat... or skip",
       true},
      {"repeated_src", "1,2,3,4\n", "src,src,dst,time", ",", false,
       "--columns: src is given twice (columns 1 and 2 of 'src,src,dst,time'); src, dst and time "
       "need exactly one column each",
       true},
      {"repeated_time", "1,2,3,4\n", "src,dst,time,time", ",", false,
       "--columns: time is given twice (columns 3 and 4 of 'src,dst,time,time'); src, dst and "
       "time need exactly one column each",
       true},
      {"repeated_label", "1,2,3,0,1\n", "src,dst,time,label,label", ",", false,
       "--columns: label is given twice (columns 4 and 5 of 'src,dst,time,label,label'); at most "
       "one label column",
       true},
      {"missing_dst", "1,2\n", "src,time", ",", false,
       "--columns: 'src,time' has no dst column; src, dst and time are required", true},
      {"missing_time", "1,2,3\n", "src,dst,skip", ",", false,
       "--columns: 'src,dst,skip' has no time column; src, dst and time are required", true},
      {"empty_role", "1,2,3\n", "src,,dst,time", ",", false,
       "--columns: no role for column 2 of 'src,,dst,time' (empty between commas)", true},
      {"rest_not_last", "1,2,3\n", "src,feat...,dst,time", ",", false,
       "--columns: 'feat...' must be the last role (it takes every remaining column)", true},
      {"multi_character_delimiter", "1::2::3\n", "src,dst,time", "::", false,
       "--delimiter: expected one character or tab, space, comma, semicolon, pipe; got '::'", true},
      {"numeric_delimiter", "1.2.3\n", "src,dst,time", ".", false,
       "--delimiter: '.' occurs inside numbers; choose another delimiter", true},
  };
  return cases;
}

/// gtest prints the case name instead of the struct's bytes.
inline void PrintTo(const BadColumns& bad, std::ostream* os) { *os << bad.name; }

}  // namespace disttgl::trainer::test
