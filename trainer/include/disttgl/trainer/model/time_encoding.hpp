// Learnable time encoding phi(dt) = cos(w * dt + b) (TGL/DistTGL layers.py TimeEncode;
// disttgl.md §3.3). w is initialised to 1 / 10^linspace(0, 9, dim) and b to 0, and BOTH are
// trainable parameters (not a fixed encoding). Each module that encodes time owns its own
// instance (the memory updater and every attention layer).
// The phase w * dt + b is computed in float64 and reduced mod 2 pi before a float32 cos (TGL
// uses float32 throughout, which loses about a quarter radian at dt ~ 1e6 s with w = 1); the
// result is float32. The backward is hand-written in float32 (time_encoding.cpp).
// Thread-safety: as torch::nn::Module.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace disttgl::trainer {

class TimeEncodingImpl : public torch::nn::Module {
 public:
  /// dim >= 1 (throws InternalError otherwise).
  explicit TimeEncodingImpl(std::int64_t dim);

  /// dt: [n] float32 or float64 time differences -> [n, dim] float32. Gradients flow to w
  /// and b only; dt gets none.
  torch::Tensor forward(const torch::Tensor& dt);

  std::int64_t dim() const { return dim_; }

  torch::Tensor w;  ///< [dim] float32 parameter "w"
  torch::Tensor b;  ///< [dim] float32 parameter "b"

 private:
  std::int64_t dim_;
};
TORCH_MODULE(TimeEncoding);

}  // namespace disttgl::trainer
