// CUDA kernels of LocalMemoryStore's write path: a deterministic last-occurrence scatter.
//
// A write lists m (node, row) pairs, possibly with repeated nodes; the last pair of each node
// must win (disttgl.md §3.2 write-back; a plain scatter with duplicate indices is
// nondeterministic on GPU, §8 pitfalls). Instead of sorting, each node's winner is elected
// with atomicMax over positions (max is order-independent, hence deterministic), rows are
// copied only by winners, and the marks are cleared again so the scratch stays zero.
//
//   mark_last_occurrence(nodes, m, winner)  winner[nodes[i]] = 1 + max{i : nodes[i] = v}
//   scatter_marked_rows(table, ...)         table[target[i]] = src[i] where i won
//   clear_marks(nodes, m, winner)           winner[nodes[i]] = 0
//
// All pointers are device pointers; `winner` has one int64 per node and must be zero
// before mark_last_occurrence. Launches are asynchronous on `stream`; launch failures throw
// disttgl::InternalError. No torch types here, so nvcc compiles this without torch headers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace disttgl::trainer::cuda {

void mark_last_occurrence(const std::int64_t* nodes, std::int64_t m, std::int64_t* winner,
                          cudaStream_t stream);

/// table: [rows, width] row-major; target, nodes: [m]; src: [m, width] row-major.
template <typename T>
void scatter_marked_rows(T* table, std::int64_t width, const std::int64_t* target,
                         const std::int64_t* nodes, const std::int64_t* winner, const T* src,
                         std::int64_t m, cudaStream_t stream);

void clear_marks(const std::int64_t* nodes, std::int64_t m, std::int64_t* winner,
                 cudaStream_t stream);

extern template void scatter_marked_rows<float>(float*, std::int64_t, const std::int64_t*,
                                                const std::int64_t*, const std::int64_t*,
                                                const float*, std::int64_t, cudaStream_t);
extern template void scatter_marked_rows<double>(double*, std::int64_t, const std::int64_t*,
                                                 const std::int64_t*, const std::int64_t*,
                                                 const double*, std::int64_t, cudaStream_t);
extern template void scatter_marked_rows<std::int64_t>(std::int64_t*, std::int64_t,
                                                       const std::int64_t*, const std::int64_t*,
                                                       const std::int64_t*, const std::int64_t*,
                                                       std::int64_t, cudaStream_t);

}  // namespace disttgl::trainer::cuda
