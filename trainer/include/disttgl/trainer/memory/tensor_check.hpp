// Shape, dtype and id-range checks for the tensors passed between the trainer's stages
// (memory store, model, write-back). A failed check is a caller bug, not bad user data, so
// it throws disttgl::InternalError with one line naming the function, the tensor and both
// the expected and the actual dtype/shape, e.g.
//   "LocalMemoryStore::write: rows.memory must be Float [3, 100], got Float [3, 50]".
// Thread-safety: pure functions.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace disttgl::trainer {

/// Wildcard for one dimension in `check_tensor`'s expected shape.
inline constexpr std::int64_t kAnyDim = -1;

/// "[3, 100]" for the sizes of a tensor (or "undefined").
std::string shape_string(const torch::Tensor& t);

/// Throws InternalError unless `t` is defined, has dtype `dtype` and exactly `shape.size()`
/// dimensions, each equal to `shape[i]` (or anything where shape[i] == kAnyDim).
/// `context` is the calling function ("LocalMemoryStore::write"), `name` the argument.
/// While autocast is on for t's device (bf16 precision), kFloat also accepts the autocast
/// dtype.
void check_tensor(const torch::Tensor& t, std::string_view context, std::string_view name,
                  torch::ScalarType dtype, const std::vector<std::int64_t>& shape);

/// Throws InternalError unless `nodes` is a 1-D int64 tensor whose values lie in
/// [0, num_nodes); the message names the offending id. Costs one device sync on CUDA.
void check_node_ids(const torch::Tensor& nodes, std::int64_t num_nodes, std::string_view context,
                    std::string_view name = "nodes");

}  // namespace disttgl::trainer
