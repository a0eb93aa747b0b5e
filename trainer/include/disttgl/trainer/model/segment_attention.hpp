// The per-root softmax attention core of the temporal attention layer, in input space.
//
// TGN/TGL's layer projects every sampled edge: K_e = W_k x_e, V_e = W_v x_e, an [E, in] x
// [in, out] product per matrix. With E = fanout * roots that dominates the batch. Because
// q . (W_k x + b_k) = (W_k^T q) . x + q . b_k and sum_e a_e (W_v x_e + b_v) = W_v (sum_e a_e x_e)
// + b_v sum_e a_e, the same result comes from projecting the ROOTS instead:
//   qk[r, h]  = [W_k | b_k]_h^T q[r, h]                      (per root and head, [C])
//   logit     = LeakyReLU_0.2(x_aug[r, f] . qk[r, h])        (x_aug = [x || 1], C = in + 1)
//   att       = softmax over the root's valid slots f, times the dropout keep-scale
//   agg[r, h] = sum_f att[r, f, h] x_aug[r, f]                ([C]; its last entry is sum att)
//   a[r, h]   = [W_v | b_v]_h agg[r, h]
// which costs O(R * in * out + E * heads * in) instead of O(E * in * out). This header is the
// middle step (logits, softmax, weighted sum) over a dense [roots, slots] layout; the caller
// does the two projections (embedding.cpp).
//
// On CPU a fused kernel (one pass per root, parallel over roots, results independent of the
// thread count) computes it with its own backward. Other devices, and tests, use
// `segment_attention_reference`, the same maths in plain tensor ops. Input space pays off
// while heads are few and wide: agg is [R, heads, C], so with many narrow heads the layer
// projects per slot instead (embedding.cpp).
// Thread-safety: pure functions.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace disttgl::trainer {

/// The slope of the LeakyReLU on attention logits (TGL's TransfomerAttentionLayer).
inline constexpr double kAttentionLeakySlope = 0.2;

/// A block's edges laid out densely by root: slot (r, f) holds root r's f-th edge.
struct DenseSlots {
  std::int64_t num_slots = 0;  ///< F: the most edges any root has (0 for an edgeless block)
  torch::Tensor edge;          ///< [R * F] int64: edge index of each slot, -1 for padding
  torch::Tensor mask;          ///< [R, F] bool: slot holds an edge
};

/// Builds DenseSlots from a block's `row` ([E] int64 in [0, num_roots), the root of each
/// edge). Edges keep their relative order within a root. On the tensor's device; costs one
/// sync on CUDA (F is read back).
DenseSlots dense_slots(const torch::Tensor& row, std::int64_t num_roots);

/// x: [R, F, C] float32, qk: [R, H, C] float32, mask: [R, F] bool,
/// keep: [R, F, H] float32 dropout keep-scale (0 or 1/(1-p)) or undefined for none.
/// Returns agg [R, H, C] float32 as above; a root without valid slots gets agg = 0.
/// Differentiable in x and qk. Under autocast, or with x, qk or keep in another floating
/// dtype (bf16), it computes in float32 with autocast off (so does the reference). Throws
/// InternalError on a shape mismatch.
torch::Tensor segment_attention(const torch::Tensor& x, const torch::Tensor& qk,
                                const torch::Tensor& mask, const torch::Tensor& keep);

/// The same function in plain differentiable tensor ops (any device); the fused CPU kernel
/// is tested against it.
torch::Tensor segment_attention_reference(const torch::Tensor& x, const torch::Tensor& qk,
                                          const torch::Tensor& mask, const torch::Tensor& keep);

}  // namespace disttgl::trainer
