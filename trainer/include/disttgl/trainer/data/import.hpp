// Importers for the temporal interaction file formats of the field, with strict validation.
//
// Formats (auto-detected from the file name and first line unless chosen, see
// detect_format). Any file may be gzip-compressed (read through zlib); blank lines are
// skipped; fields are trimmed of spaces; CRLF line ends are accepted.
//   jodie  `user_id,item_id,timestamp,state_label,feat_0..feat_k` (JODIE, KDD'19): a header
//          line, then rows with any number of feature columns (none included); the first
//          data row fixes the feature dimension. Bipartite unless ImportOptions::general:
//          users and items are separate id spaces, remapped to [0, num_users) and
//          [num_users, N).
//   tgl    TGL `edges.csv`: header `,src,dst,time,ext_roll[,int_roll]`; the first column is
//          the edge id and must equal the row index; ext_roll (0 train, 1 val, 2 test) gives
//          the split and must be non-decreasing in time order. TGL's `*.pt` feature files
//          are torch pickles and are not read (a warning is logged); instead, optional
//          plain-text `edge_features.csv` (one comma-separated float row per edge, in
//          edges.csv order, no header) and `node_features.csv` (one row per ORIGINAL node
//          id 0..max_id) beside edges.csv are read. `--input DIR` with DIR/edges.csv works.
//   dyglib DyGLib/TGN `ml_<name>.csv`: header `,u,i,ts,label,idx`, 1-based ids (id 0 is
//          padding and an error); `label` may be written as a float ("0.0"); the
//          `ml_<name>.npy` edge-feature file is not read.
//   snap   SNAP edge list `src dst ts` per line, separated by spaces or tabs; lines
//          starting with '#' or '%' are comments.
//   columns any delimited file, read by a column mapping (ImportOptions::columns, `prepare
//          --columns src,dst,time[,label][,feat...]`); one id space unless
//          ImportOptions::bipartite. Never auto-detected.
//
// Validation: disttgl::InputError "FILE:LINE: what is wrong" (exit 2) for the first bad
// line, never a silent fix: wrong column count ("expected 4 columns, found 3"), non-numeric
// field ("ts: expected a number, found 'x'"), NaN/inf timestamp or feature ("ts: expected a
// finite number, found 'nan'"), negative id ("src: negative node id -1"), empty file
// ("FILE: empty file"), header-only file ("FILE: no events after the header line"),
// feature-dimension mismatch ("feature dimension mismatch: found 1, expected 2 (from line
// 2)").
//
// Normalisation (in this order):
//   1. Events are stable-sorted by time (ties keep file order). Out-of-order rows are not
//      an error; Dataset::reordered_rows counts the rows whose position changed.
//   2. Node ids are remapped AFTER sorting, to [0, N) in order of first appearance in the
//      time-sorted events (per event: source, then destination). So a file and any
//      reordering of it that sorts to the same event sequence give identical datasets,
//      apart from reordered_rows. Dataset::original_ids keeps the mapping.
//   3. The split: TGL's ext_roll when present, else TGN/DyGLib quantiles (quantile_split).
// Thread-safety: stateless functions; safe to call concurrently.
#pragma once

#include <string>
#include <vector>

#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer {

/// The general delimited importer (`prepare --columns/--delimiter/--header`). Roles, one per
/// column in file order, comma-separated:
///   src, dst, time  required, exactly once each: integer node ids >= 0, a finite time
///   label           at most once: an integer edge label (Dataset::label; 0 without it)
///   feat            any number: a float edge-feature column (features keep column order)
///   skip            any number: the column is ignored
///   feat...         only last: every remaining column is a feature; the first data row
///                   fixes how many
/// Each line must have exactly the mapped columns (at least, with feat...). Blank lines are
/// skipped; fields are trimmed of spaces and tabs.
/// A bad mapping is a ConfigError (import_dataset checks it before reading the file):
///   "--columns: unknown role 'rating' (column 3 of 'src,dst,rating,time'); expected src,
///    dst, time, label, feat, feat... or skip"
///   "--columns: time is given twice (columns 3 and 4 of 'src,dst,time,time'); src, dst and
///    time need exactly one column each" (label: "...; at most one label column")
///   "--columns: 'src,time' has no dst column; src, dst and time are required"
///   "--columns: no role for column 2 of 'src,,time' (empty between commas)"
///   "--columns: 'feat...' must be the last role (it takes every remaining column)"
///   "--delimiter: expected one character or tab, space, comma, semicolon, pipe; got '::'"
///   "--delimiter: '.' occurs inside numbers; choose another delimiter"
struct ColumnsOptions {
  /// The roles, e.g. "src,dst,skip,time"; empty: the importer is not used.
  std::string roles;
  /// One character, or a name: tab (or the two characters \t), space, comma, semicolon,
  /// pipe. With space, a run of spaces and tabs separates two columns (aligned files); any
  /// other delimiter separates exactly two fields ("a,,b" is 3 columns). Digits, '.', '+'
  /// and '-' are refused (they occur inside numbers).
  std::string delimiter = ",";
  /// Skip the first non-blank line (a header); its content is not checked.
  bool header = false;
};

struct ImportOptions {
  /// "auto", "jodie", "tgl", "dyglib" or "snap". With `columns` only "auto" (ConfigError).
  std::string format = "auto";
  /// Quantile split fractions (TGN/DyGLib): train <= q(val_quantile) < val <= q(test_quantile)
  /// < test. Ignored for TGL, whose ext_roll column is the split.
  double val_quantile = 0.70;
  double test_quantile = 0.85;
  /// Number sources and destinations as separate id ranges for formats that do not imply it
  /// (jodie is bipartite by default); an id used on both sides then becomes two nodes.
  bool bipartite = false;
  /// One id space for both columns even in a jodie file: for files in JODIE's layout whose
  /// two columns share ids (DyGLib's CanParl.csv, `source,destination,timestamp,state_label,w`).
  /// Excludes `bipartite` (ConfigError "--bipartite and --general exclude each other").
  bool general = false;
  /// Read the file by a column mapping instead of a known format (source_format "columns").
  /// ConfigError "--columns: ..." / "--delimiter: ..." for a bad mapping or delimiter (see
  /// import_dataset).
  ColumnsOptions columns;
};

/// Detects the format of `path` from its name and first non-blank line, first match wins:
/// name `edges.csv` -> "tgl"; name `ml_*.csv` -> "dyglib"; header `,src,dst,time,...` ->
/// "tgl"; header `,u,i,ts,...` -> "dyglib"; a comma-separated header whose first field is not
/// a number -> "jodie"; a line starting with '#'/'%' or of whitespace-separated numbers ->
/// "snap". A trailing ".gz" is ignored in the name and the content is decompressed.
/// Throws InputError "FILE: empty file", "FILE: cannot detect the format from the first line
/// '...'; choose one with --format jodie|tgl|dyglib|snap, or map the columns with --columns
/// src,dst,time[,label][,feat...] (e.g. --columns src,dst,skip,time --delimiter ,)", or
/// "FILE: cannot open: ...".
std::string detect_format(const std::string& path);

/// Reads, validates, sorts, remaps and splits `path` (see the file comment). Dataset::name is
/// the file stem without ".gz" and, for dyglib, without the "ml_" prefix; for tgl it is the
/// name of the directory holding edges.csv.
/// A jodie file read as bipartite by default (neither `bipartite` nor `general` set) whose
/// two columns share ids (IdOverlap::suggests_one_id_space, id_overlap.hpp: at least a tenth
/// of the smaller id set) logs the warning "import: FILE: 244 ids occur in both columns (734
/// source ids, 244 destination ids); read as bipartite (978 nodes). If the two columns share
/// one id space, use --general (734 nodes)".
/// Throws InputError on bad input, ConfigError on bad options (unknown format, quantiles
/// outside 0 <= val <= test <= 1, --bipartite with --general, --columns with a --format
/// other than auto, "--delimiter applies only with --columns" (also --header), a bad --columns
/// mapping or --delimiter, see ColumnsOptions).
/// With `columns`, besides the messages above: "FILE:LINE: expected 4 columns, found 3",
/// "FILE:LINE: expected at least 4 columns, found 3" (feat...), "FILE:LINE: found 5 columns,
/// but --columns maps 4 (map the extra ones with skip or feat, or end --columns with
/// feat...)", "FILE:LINE: the delimiter ',' does not occur in the first data line (found
/// tab: try --delimiter tab)", "FILE:LINE: src: expected an integer, found 'SOURCE' (a header
/// line? add --header)" on the first line without --header.
Dataset import_dataset(const std::string& path, const ImportOptions& options = {});

/// The chronological quantile split of time-sorted `ts` (TGN/DyGLib): val_time, test_time =
/// numpy.quantile(ts, [val_quantile, test_quantile]) with numpy's default linear method
/// (same lerp, so the thresholds match numpy exactly); train = ts <= val_time,
/// val = val_time < ts <= test_time, test = ts > test_time. Returns source "quantile".
/// Throws ConfigError unless 0 <= val_quantile <= test_quantile <= 1.
Split quantile_split(const std::vector<Timestamp>& ts, double val_quantile, double test_quantile);

}  // namespace disttgl::trainer
