#include "disttgl/trainer/memory/local_memory_store.hpp"

#include <torch/torch.h>

#include <string>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"
#include "memory_checkpoint.hpp"

#ifdef DISTTGL_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/scatter.hpp"
#endif

namespace disttgl::trainer {

namespace {

void require_positive(std::int64_t value, const char* field) {
  if (value < 1) {
    throw ConfigError(str_cat("memory store: ", field, " must be >= 1, got ", value));
  }
}

}  // namespace

LocalMemoryStore::LocalMemoryStore(const LocalMemoryStoreOptions& options) : options_(options) {
  require_positive(options.num_nodes, "num_nodes");
  require_positive(options.memory_dim, "memory_dim");
  require_positive(options.mail_dim, "mail_dim");
  require_positive(options.mailbox_size, "mailbox_size");
  if (options.device.is_cuda() && !torch::cuda::is_available()) {
    throw ConfigError("memory store: device " + options.device.str() +
                      " requested but CUDA is not available");
  }
  const std::int64_t n = options.num_nodes;
  const std::int64_t s = options.mailbox_size;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(options.device);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(options.device);
  const auto i64 = torch::TensorOptions().dtype(torch::kLong).device(options.device);
  memory_ = torch::empty({n, options.memory_dim}, f32);
  memory_ts_ = torch::empty({n}, f64);
  mail_ = torch::empty({n, s, options.mail_dim}, f32);
  mail_ts_ = torch::empty({n, s}, f64);
  mail_eid_ = torch::empty({n, s}, i64);
  next_mail_pos_ = torch::empty({n}, i64);
  if (options.device.is_cuda()) winner_ = torch::zeros({n}, i64);
  reset();
}

bool LocalMemoryStore::has_cuda_kernels() {
#ifdef DISTTGL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void LocalMemoryStore::reset() {
  torch::NoGradGuard no_grad;
  memory_.zero_();
  memory_ts_.zero_();
  mail_.zero_();
  mail_ts_.zero_();
  mail_eid_.fill_(-1);
  next_mail_pos_.zero_();
  next_batch_ = 0;
}

PendingRows LocalMemoryStore::read_async(std::int64_t batch, const torch::Tensor& nodes) {
  // Nothing is touched here: a prefetch thread may call this while the owner writes.
  return PendingRows([this, batch, nodes] {
    if (batch != next_batch_) {
      throw InternalError(str_cat("LocalMemoryStore: read for logical batch ", batch,
                                  " while the next batch to be written is ", next_batch_,
                                  " (reads must come after every write of earlier batches)"));
    }
    return read_now(nodes);
  });
}

MemoryRows LocalMemoryStore::read_now(const torch::Tensor& nodes) {
  check_node_ids(nodes, options_.num_nodes, "LocalMemoryStore::read");
  torch::NoGradGuard no_grad;
  // From pinned host ids (the gather stage pins them) the copy does not wait for the stream.
  const torch::Tensor idx =
      nodes.to(options_.device, /*non_blocking=*/options_.device.is_cuda() && nodes.is_pinned());
  MemoryRows rows{memory_.index_select(0, idx), memory_ts_.index_select(0, idx),
                  mail_.index_select(0, idx), mail_ts_.index_select(0, idx),
                  mail_eid_.index_select(0, idx)};
  const std::int64_t s = options_.mailbox_size;
  if (s > 1) {
    // Rotate each ring so the oldest slot (the next one to be written) comes first.
    const torch::Tensor order = torch::remainder(next_mail_pos_.index_select(0, idx).unsqueeze(1) +
                                                     torch::arange(s, idx.options()).unsqueeze(0),
                                                 s);
    rows.mail = rows.mail.gather(1, order.unsqueeze(2).expand({-1, -1, options_.mail_dim}));
    rows.mail_ts = rows.mail_ts.gather(1, order);
    rows.mail_eid = rows.mail_eid.gather(1, order);
  }
  return rows;
}

void LocalMemoryStore::write(std::int64_t batch, std::int32_t shard, const torch::Tensor& nodes,
                             const MemoryRows& rows) {
  if (batch != next_batch_ || shard != 0) {
    throw InternalError(str_cat("LocalMemoryStore: write for logical batch ", batch, " shard ",
                                shard, ", expected batch ", next_batch_, " shard 0"));
  }
  check_node_ids(nodes, options_.num_nodes, "LocalMemoryStore::write");
  rows.check(nodes.size(0), 1, options_.memory_dim, options_.mail_dim, "LocalMemoryStore::write");
  torch::NoGradGuard no_grad;
  const torch::Tensor idx = nodes.to(options_.device).contiguous();
  const MemoryRows local = rows.detach().to(options_.device);
  if (options_.device.is_cuda()) {
    write_cuda(idx, local);  // write_generic in builds without the kernels
  } else {
    write_generic(idx, local);
  }
  ++next_batch_;
}

void LocalMemoryStore::write_generic(const torch::Tensor& nodes, const MemoryRows& rows) {
  const std::int64_t s = options_.mailbox_size;
  const torch::Tensor keep = last_occurrence(nodes);
  const torch::Tensor u = nodes.index_select(0, keep);
  const MemoryRows r = rows.index_select(keep);
  memory_.index_copy_(0, u, r.memory);
  memory_ts_.index_copy_(0, u, r.memory_ts);
  const torch::Tensor slot = next_mail_pos_.index_select(0, u);
  const torch::Tensor flat = u * s + slot;  // row of (node, slot) in the [N*S] view
  const std::int64_t k = u.size(0);
  mail_.view({-1, options_.mail_dim}).index_copy_(0, flat, r.mail.view({k, options_.mail_dim}));
  mail_ts_.view({-1}).index_copy_(0, flat, r.mail_ts.view({k}));
  mail_eid_.view({-1}).index_copy_(0, flat, r.mail_eid.view({k}));
  next_mail_pos_.index_copy_(0, u, torch::remainder(slot + 1, s));
}

#ifdef DISTTGL_WITH_CUDA
void LocalMemoryStore::write_cuda(const torch::Tensor& nodes, const MemoryRows& rows) {
  const c10::cuda::CUDAGuard guard(options_.device);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream(options_.device.index()).stream();
  const std::int64_t m = nodes.size(0);
  const std::int64_t s = options_.mailbox_size;
  const std::int64_t* node_ptr = nodes.data_ptr<std::int64_t>();
  std::int64_t* winner = winner_.data_ptr<std::int64_t>();
  // Targets and the advanced ring positions are computed before any table changes.
  const torch::Tensor slot = next_mail_pos_.index_select(0, nodes);
  const torch::Tensor flat = (nodes * s + slot).contiguous();
  const torch::Tensor next = torch::remainder(slot + 1, s).contiguous();
  const torch::Tensor memory = rows.memory.contiguous();
  const torch::Tensor memory_ts = rows.memory_ts.contiguous();
  const torch::Tensor mail = rows.mail.contiguous();
  const torch::Tensor mail_ts = rows.mail_ts.contiguous();
  const torch::Tensor mail_eid = rows.mail_eid.contiguous();

  cuda::mark_last_occurrence(node_ptr, m, winner, stream);
  cuda::scatter_marked_rows<float>(memory_.data_ptr<float>(), options_.memory_dim, node_ptr,
                                   node_ptr, winner, memory.data_ptr<float>(), m, stream);
  cuda::scatter_marked_rows<double>(memory_ts_.data_ptr<double>(), 1, node_ptr, node_ptr, winner,
                                    memory_ts.data_ptr<double>(), m, stream);
  const std::int64_t* flat_ptr = flat.data_ptr<std::int64_t>();
  cuda::scatter_marked_rows<float>(mail_.data_ptr<float>(), options_.mail_dim, flat_ptr, node_ptr,
                                   winner, mail.data_ptr<float>(), m, stream);
  cuda::scatter_marked_rows<double>(mail_ts_.data_ptr<double>(), 1, flat_ptr, node_ptr, winner,
                                    mail_ts.data_ptr<double>(), m, stream);
  cuda::scatter_marked_rows<std::int64_t>(mail_eid_.data_ptr<std::int64_t>(), 1, flat_ptr, node_ptr,
                                          winner, mail_eid.data_ptr<std::int64_t>(), m, stream);
  cuda::scatter_marked_rows<std::int64_t>(next_mail_pos_.data_ptr<std::int64_t>(), 1, node_ptr,
                                          node_ptr, winner, next.data_ptr<std::int64_t>(), m,
                                          stream);
  cuda::clear_marks(node_ptr, m, winner, stream);
}
#else
void LocalMemoryStore::write_cuda(const torch::Tensor& nodes, const MemoryRows& rows) {
  write_generic(nodes, rows);
}
#endif

void LocalMemoryStore::save(torch::serialize::OutputArchive& archive) const {
  detail::save_memory_tensors(archive, {memory_.cpu(), memory_ts_.cpu(), mail_.cpu(),
                                        mail_ts_.cpu(), mail_eid_.cpu(), next_mail_pos_.cpu(),
                                        next_batch_});
}

void LocalMemoryStore::load(torch::serialize::InputArchive& archive) {
  const detail::MemoryTensors t =
      detail::load_memory_tensors(archive, options_.num_nodes, options_.memory_dim,
                                  options_.mail_dim, options_.mailbox_size);
  torch::NoGradGuard no_grad;
  memory_.copy_(t.memory);
  memory_ts_.copy_(t.memory_ts);
  mail_.copy_(t.mail);
  mail_ts_.copy_(t.mail_ts);
  mail_eid_.copy_(t.mail_eid);
  next_mail_pos_.copy_(t.next_mail_pos);
  next_batch_ = t.next_batch;
}

}  // namespace disttgl::trainer
