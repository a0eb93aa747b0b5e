// One reader per input format, plus read_columns for a --columns mapping: parse and validate
// a whole file into RawEvents, in file order. Each throws InputError "FILE:LINE: what" on the
// first bad line, "FILE: no events after the header line" for a header-only file; callers
// reject empty files beforehand (read_columns checks itself). Private to the data layer.
// Thread-safety: stateless functions.
#pragma once

#include <string>

#include "raw_events.hpp"

namespace disttgl::trainer::detail {

/// JODIE CSV `user_id,item_id,timestamp,state_label,feat_0..feat_k`; the first data row
/// fixes the feature dimension (JODIE's own header names the features in one column).
RawEvents read_jodie(const std::string& path, const std::string& text);

/// TGL `edges.csv` `,src,dst,time,ext_roll[,int_roll]`, plus the optional plain-text
/// `edge_features.csv` / `node_features.csv` beside it.
RawEvents read_tgl(const std::string& path, const std::string& text);

/// DyGLib `ml_<name>.csv` `,u,i,ts,label,idx` with 1-based ids (0 is padding: an error).
RawEvents read_dyglib(const std::string& path, const std::string& text);

/// SNAP whitespace edge list `src dst ts`; `#` and `%` lines are comments.
RawEvents read_snap(const std::string& path, const std::string& text);

struct ColumnLayout;

/// Any delimited file, by the column mapping `layout` (column_layout.hpp): one id space
/// (RawEvents::bipartite false), labels and edge features as mapped. Also throws "FILE: empty
/// file" itself, and "FILE:LINE: the delimiter ',' does not occur in the first data line
/// (found tab: try --delimiter tab)", the column-count messages of import.hpp, and "(a
/// header line? add --header)" after a non-numeric src/dst/time on the first line without
/// --header.
RawEvents read_columns(const std::string& path, const std::string& text,
                       const ColumnLayout& layout);

}  // namespace disttgl::trainer::detail
