// The table of malformed inputs shared by validation_test.cpp (through import_dataset) and
// prepare_cli_test.cpp (through the real binary): each with its exact expected message.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace disttgl::trainer::test {

struct BadInput {
  std::string name;     ///< test label
  std::string file;     ///< input file name inside the case directory
  std::string content;  ///< input file content
  std::string format;   ///< --format ("auto" to detect)
  /// Expected what(): "{p}" stands for the input path, "{d}" for its directory.
  std::string message;
  std::vector<std::pair<std::string, std::string>> extra_files = {};  ///< name, content
};

inline const std::vector<BadInput>& bad_inputs() {
  static const std::vector<BadInput> cases = {
      // JODIE
      {"jodie_column_count", "bad.csv", "user_id,item_id,timestamp,state_label\n0,1,1.0,0\n0,1,3\n",
       "auto", "{p}:3: expected 4 columns, found 3"},
      {"jodie_first_row_short", "bad.csv", "u,i,ts,label\n0,1,1\n", "auto",
       "{p}:2: expected at least 4 columns, found 3"},
      {"jodie_non_numeric_id", "bad.csv", "u,i,ts,label\n0,x,1,0\n", "auto",
       "{p}:2: item_id: expected an integer, found 'x'"},
      {"jodie_fractional_id", "bad.csv", "u,i,ts,label\n0.5,1,1,0\n", "auto",
       "{p}:2: user_id: expected an integer, found '0.5'"},
      {"jodie_non_numeric_ts", "bad.csv", "u,i,ts,label\n0,1,abc,0\n", "auto",
       "{p}:2: timestamp: expected a number, found 'abc'"},
      {"jodie_empty_ts", "bad.csv", "u,i,ts,label\n0,1,,0\n", "auto",
       "{p}:2: timestamp: expected a number, found ''"},
      {"jodie_nan_ts", "bad.csv", "u,i,ts,label\n0,1,1,0\n0,1,nan,0\n", "auto",
       "{p}:3: timestamp: expected a finite number, found 'nan'"},
      {"jodie_inf_ts", "bad.csv", "u,i,ts,label\n0,1,inf,0\n", "auto",
       "{p}:2: timestamp: expected a finite number, found 'inf'"},
      {"jodie_nan_feature", "bad.csv", "u,i,ts,label,features\n0,1,1,0,0.5,nan\n", "auto",
       "{p}:2: feat_1: expected a finite number, found 'nan'"},
      {"jodie_inf_feature", "bad.csv", "u,i,ts,label,features\n0,1,1,0,-inf,0.5\n", "auto",
       "{p}:2: feat_0: expected a finite number, found '-inf'"},
      {"jodie_float32_overflow", "bad.csv", "u,i,ts,label,features\n0,1,1,0,1e39\n", "auto",
       "{p}:2: feat_0: expected a finite float32, found '1e39'"},
      {"jodie_non_numeric_feature", "bad.csv", "u,i,ts,label,features\n0,1,1,0,0.5,x1\n", "auto",
       "{p}:2: feat_1: expected a number, found 'x1'"},
      {"jodie_negative_id", "bad.csv", "u,i,ts,label\n-1,1,1,0\n", "auto",
       "{p}:2: user_id: negative node id -1"},
      {"jodie_fractional_label", "bad.csv", "u,i,ts,label\n0,1,1,0.5\n", "auto",
       "{p}:2: state_label: expected an integer label, found '0.5'"},
      {"jodie_fewer_features", "bad.csv", "u,i,ts,label,f\n0,1,1,0,0.5,0.25\n0,1,2,0,0.5\n", "auto",
       "{p}:3: feature dimension mismatch: found 1, expected 2 (from line 2)"},
      {"jodie_more_features", "bad.csv", "u,i,ts,label,f\n0,1,1,0,0.5,0.25\n\n0,1,2,0,1,2,3\n",
       "auto", "{p}:4: feature dimension mismatch: found 3, expected 2 (from line 2)"},
      {"jodie_header_only", "bad.csv", "user_id,item_id,timestamp,state_label\n", "auto",
       "{p}: no events after the header line"},
      {"jodie_missing_header", "bad.csv", "0,1,2,0\n1,2,3,0\n", "jodie",
       "{p}:1: expected the JODIE header 'user_id,item_id,timestamp,state_label[,features]', "
       "found '0,1,2,0'"},
      // Any format
      {"empty_file", "bad.csv", "", "auto", "{p}: empty file"},
      {"blank_lines_only", "bad.csv", "\n  \r\n\n", "auto", "{p}: empty file"},
      {"empty_file_forced_format", "edges.csv", "", "tgl", "{p}: empty file"},
      {"undetectable", "bad.csv", "0,1,2,0\n", "auto",
       "{p}: cannot detect the format from the first line '0,1,2,0'; choose one with --format "
       "jodie|tgl|dyglib|snap, or map the columns with --columns src,dst,time[,label][,feat...] "
       "(e.g. --columns src,dst,skip,time --delimiter ,)"},
      // TGL
      {"tgl_header", "edges.csv", ",src,dst,ts,ext_roll\n0,1,2,3,0\n", "auto",
       "{p}:1: expected the TGL header ',src,dst,time,ext_roll[,int_roll]', found "
       "',src,dst,ts,ext_roll'"},
      {"tgl_column_count", "edges.csv", ",src,dst,time,ext_roll\n0,1,2,3,0\n1,1,2,3\n", "auto",
       "{p}:3: expected 5 columns, found 4"},
      {"tgl_int_roll_missing", "edges.csv", ",src,dst,time,ext_roll,int_roll\n0,1,2,3,0\n", "auto",
       "{p}:2: expected 6 columns, found 5"},
      {"tgl_edge_id", "edges.csv", ",src,dst,time,ext_roll\n0,1,2,3,0\n5,1,2,4,0\n", "auto",
       "{p}:3: edge id: expected the row index 1, found '5'"},
      {"tgl_ext_roll_value", "edges.csv", ",src,dst,time,ext_roll\n0,1,2,3,3\n", "auto",
       "{p}:2: ext_roll: expected 0, 1 or 2, found '3'"},
      {"tgl_ext_roll_order", "edges.csv",
       ",src,dst,time,ext_roll\n0,1,2,1,0\n1,1,2,2,2\n2,2,1,3,1\n", "auto",
       "{p}:4: ext_roll 1 comes after ext_roll 2 (line 3) in time order; the split must be "
       "chronological"},
      {"tgl_ext_roll_order_after_sort", "edges.csv",
       ",src,dst,time,ext_roll\n0,1,2,5,0\n1,1,2,2,1\n", "auto",
       "{p}:2: ext_roll 0 comes after ext_roll 1 (line 3) in time order; the split must be "
       "chronological"},
      {"tgl_header_only", "edges.csv", ",src,dst,time,ext_roll\n", "auto",
       "{p}: no events after the header line"},
      {"tgl_negative_dst", "edges.csv", ",src,dst,time,ext_roll\n0,1,-2,3,0\n", "auto",
       "{p}:2: dst: negative node id -2"},
      {"tgl_edge_feature_rows",
       "edges.csv",
       ",src,dst,time,ext_roll\n0,1,2,3,0\n1,2,1,4,0\n",
       "auto",
       "{d}/edge_features.csv: 1 rows, expected 2 (one per edge of {p})",
       {{"edge_features.csv", "0.5,1\n"}}},
      {"tgl_edge_feature_dim",
       "edges.csv",
       ",src,dst,time,ext_roll\n0,1,2,3,0\n1,2,1,4,0\n",
       "auto",
       "{d}/edge_features.csv:2: feature dimension mismatch: found 1, expected 2 (from "
       "line 1)",
       {{"edge_features.csv", "0.5,1\n3\n"}}},
      {"tgl_edge_feature_nan",
       "edges.csv",
       ",src,dst,time,ext_roll\n0,1,2,3,0\n",
       "auto",
       "{d}/edge_features.csv:1: feat_1: expected a finite number, found 'nan'",
       {{"edge_features.csv", "0.5,nan\n"}}},
      {"tgl_edge_features_empty",
       "edges.csv",
       ",src,dst,time,ext_roll\n0,1,2,3,0\n",
       "auto",
       "{d}/edge_features.csv: empty file",
       {{"edge_features.csv", "\n"}}},
      {"tgl_node_feature_rows",
       "edges.csv",
       ",src,dst,time,ext_roll\n0,1,5,3,0\n",
       "auto",
       "{d}/node_features.csv: 2 rows, but node id 5 occurs in the edges (one row per node id "
       "is needed)",
       {{"node_features.csv", "0.5\n1.5\n"}}},
      // DyGLib
      {"dyglib_padding_id", "ml_bad.csv", ",u,i,ts,label,idx\n0,0,1,1.0,0,1\n", "auto",
       "{p}:2: u: node id 0 is DyGLib's padding id (ids are 1-based)"},
      {"dyglib_column_count", "ml_bad.csv", ",u,i,ts,label,idx\n0,1,2,1.0,0\n", "auto",
       "{p}:2: expected 6 columns, found 5"},
      {"dyglib_header", "ml_bad.csv", "u,i,ts,label,idx\n1,2,1.0,0,1\n", "auto",
       "{p}:1: expected the DyGLib header ',u,i,ts,label,idx', found 'u,i,ts,label,idx'"},
      {"dyglib_nan_ts", "ml_bad.csv", ",u,i,ts,label,idx\n0,1,2,NaN,0,1\n", "auto",
       "{p}:2: ts: expected a finite number, found 'NaN'"},
      {"dyglib_bad_idx", "ml_bad.csv", ",u,i,ts,label,idx\n0,1,2,1.0,0,one\n", "auto",
       "{p}:2: idx: expected an integer, found 'one'"},
      {"dyglib_header_only", "ml_bad.csv", ",u,i,ts,label,idx\n", "auto",
       "{p}: no events after the header line"},
      // SNAP
      {"snap_two_columns", "bad.txt", "1 2 3\n4 5\n", "auto", "{p}:2: expected 3 columns, found 2"},
      {"snap_four_columns", "bad.txt", "1 2 3\n1 2 3 4\n", "auto",
       "{p}:2: expected 3 columns, found 4"},
      {"snap_negative_id", "bad.txt", "1 -5 3\n", "auto", "{p}:1: dst: negative node id -5"},
      {"snap_garbage_ts", "bad.txt", "# c\n1 2 3\n1 2 12abc\n", "auto",
       "{p}:3: ts: expected a number, found '12abc'"},
      {"snap_inf_ts", "bad.txt", "1 2 3\n1 2 -inf\n", "snap",
       "{p}:2: ts: expected a finite number, found '-inf'"},
      {"snap_comments_only", "bad.txt", "# one\n% two\n", "auto",
       "{p}: no events (only comment lines)"},
      {"snap_long_garbage", "bad.txt", "1 2 3\n1 2 0123456789012345678901234567890123456789xyz\n",
       "auto", "{p}:2: ts: expected a number, found '0123456789012345678901234567890123456789...'"},
  };
  return cases;
}

/// gtest prints the case name instead of the struct's bytes.
inline void PrintTo(const BadInput& bad, std::ostream* os) { *os << bad.name; }

/// Replaces "{p}" with `path` and "{d}" with `dir` in `pattern`.
inline std::string expand(std::string pattern, const std::string& path, const std::string& dir) {
  for (const auto& [key, value] :
       {std::pair<std::string, std::string>{"{p}", path}, {"{d}", dir}}) {
    for (std::size_t at = pattern.find(key); at != std::string::npos;
         at = pattern.find(key, at + value.size())) {
      pattern.replace(at, key.size(), value);
    }
  }
  return pattern;
}

}  // namespace disttgl::trainer::test
