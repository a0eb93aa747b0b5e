// Row gather with a deterministic, parallel backward.
//
// torch's index_select backs out through index_add, which on CPU runs a generic scatter
// over an expanded [M, D] index: on a TGN batch that was ~10 % of the step. Here the
// backward gives each thread a range of DESTINATION rows and has it scan the whole index,
// so no two threads write one row, each row sums its sources in index order, and the result
// is the same for any thread count.
// Thread-safety: pure function.
#pragma once

#include <torch/types.h>

namespace disttgl::trainer {

/// table: [U, D] float32; index: [M] int64 in [0, U) (not checked: callers pass ids they
/// built). Returns table[index] [M, D], differentiable in table. Other devices and dtypes
/// fall back to index_select.
torch::Tensor gather_rows(const torch::Tensor& table, const torch::Tensor& index);

}  // namespace disttgl::trainer
