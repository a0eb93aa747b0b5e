// Kernels of scatter.hpp. Grid-stride loops, 256 threads a block.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "disttgl/common/error.hpp"
#include "scatter.hpp"

namespace disttgl::trainer::cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;

int num_blocks(std::int64_t work) {
  return static_cast<int>(
      std::clamp<std::int64_t>((work + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw InternalError(std::string("CUDA launch of ") + kernel +
                        " failed: " + cudaGetErrorString(err));
  }
}

__global__ void mark_kernel(const std::int64_t* nodes, std::int64_t m, unsigned long long* winner) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < m;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    atomicMax(winner + nodes[i], static_cast<unsigned long long>(i + 1));
  }
}

template <typename T>
__global__ void scatter_kernel(T* table, std::int64_t width, const std::int64_t* target,
                               const std::int64_t* nodes, const std::int64_t* winner, const T* src,
                               std::int64_t m) {
  const std::int64_t total = m * width;
  for (std::int64_t k = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; k < total;
       k += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = k / width;
    if (winner[nodes[i]] == i + 1) table[target[i] * width + (k - i * width)] = src[k];
  }
}

__global__ void clear_kernel(const std::int64_t* nodes, std::int64_t m, std::int64_t* winner) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < m;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    winner[nodes[i]] = 0;
  }
}

}  // namespace

void mark_last_occurrence(const std::int64_t* nodes, std::int64_t m, std::int64_t* winner,
                          cudaStream_t stream) {
  if (m == 0) return;
  static_assert(sizeof(unsigned long long) == sizeof(std::int64_t));
  mark_kernel<<<num_blocks(m), kThreads, 0, stream>>>(
      nodes, m, reinterpret_cast<unsigned long long*>(winner));
  check_launch("mark_kernel");
}

template <typename T>
void scatter_marked_rows(T* table, std::int64_t width, const std::int64_t* target,
                         const std::int64_t* nodes, const std::int64_t* winner, const T* src,
                         std::int64_t m, cudaStream_t stream) {
  if (m == 0 || width == 0) return;
  scatter_kernel<T>
      <<<num_blocks(m * width), kThreads, 0, stream>>>(table, width, target, nodes, winner, src, m);
  check_launch("scatter_kernel");
}

void clear_marks(const std::int64_t* nodes, std::int64_t m, std::int64_t* winner,
                 cudaStream_t stream) {
  if (m == 0) return;
  clear_kernel<<<num_blocks(m), kThreads, 0, stream>>>(nodes, m, winner);
  check_launch("clear_kernel");
}

template void scatter_marked_rows<float>(float*, std::int64_t, const std::int64_t*,
                                         const std::int64_t*, const std::int64_t*, const float*,
                                         std::int64_t, cudaStream_t);
template void scatter_marked_rows<double>(double*, std::int64_t, const std::int64_t*,
                                          const std::int64_t*, const std::int64_t*, const double*,
                                          std::int64_t, cudaStream_t);
template void scatter_marked_rows<std::int64_t>(std::int64_t*, std::int64_t, const std::int64_t*,
                                                const std::int64_t*, const std::int64_t*,
                                                const std::int64_t*, std::int64_t, cudaStream_t);

}  // namespace disttgl::trainer::cuda
