// MemoryRows, the MemoryStore defaults, last_occurrence, and the tensor checks of
// tensor_check.hpp (kept in this translation unit: every torch TU costs ~20 s to compile).
#include "disttgl/trainer/memory/memory_store.hpp"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer {

// ---- tensor_check.hpp ----

std::string shape_string(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  return str_cat("[", join(t.sizes(), ", "), "]");
}

namespace {
std::string expected_shape_string(const std::vector<std::int64_t>& shape) {
  std::vector<std::string> parts;
  parts.reserve(shape.size());
  for (const std::int64_t d : shape) parts.push_back(d == kAnyDim ? "*" : std::to_string(d));
  return str_cat("[", join(parts, ", "), "]");
}

// Under autocast (bf16 precision) float32 activations arrive in the autocast dtype.
bool dtype_matches(const torch::Tensor& t, torch::ScalarType dtype) {
  if (t.scalar_type() == dtype) return true;
  const auto type = t.device().type();
  return dtype == torch::kFloat && at::autocast::is_autocast_enabled(type) &&
         t.scalar_type() == at::autocast::get_autocast_dtype(type);
}

}  // namespace

void check_tensor(const torch::Tensor& t, std::string_view context, std::string_view name,
                  torch::ScalarType dtype, const std::vector<std::int64_t>& shape) {
  bool ok =
      t.defined() && dtype_matches(t, dtype) && t.dim() == static_cast<std::int64_t>(shape.size());
  for (std::size_t i = 0; ok && i < shape.size(); ++i) {
    ok = shape[i] == kAnyDim || t.size(static_cast<std::int64_t>(i)) == shape[i];
  }
  if (ok) return;
  const std::string got = t.defined()
                              ? str_cat(c10::toString(t.scalar_type()), " ", shape_string(t))
                              : std::string("undefined");
  throw InternalError(str_cat(context, ": ", name, " must be ", c10::toString(dtype), " ",
                              expected_shape_string(shape), ", got ", got));
}

void check_node_ids(const torch::Tensor& nodes, std::int64_t num_nodes, std::string_view context,
                    std::string_view name) {
  check_tensor(nodes, context, name, torch::kLong, {kAnyDim});
  if (nodes.numel() == 0) return;
  // One host read for both bounds: on a GPU each read waits for the queued work.
  const auto [min, max] = torch::aminmax(nodes);
  const torch::Tensor bounds = torch::stack({min, max}).to(torch::kCPU);
  const std::int64_t lo = bounds[0].item<std::int64_t>();
  const std::int64_t hi = bounds[1].item<std::int64_t>();
  if (lo < 0 || hi >= num_nodes) {
    throw InternalError(str_cat(context, ": ", name, " contains node id ", lo < 0 ? lo : hi,
                                " outside [0, ", num_nodes, ")"));
  }
}

// ---- MemoryRows ----

std::int64_t MemoryRows::size() const { return memory.defined() ? memory.size(0) : 0; }

std::int64_t MemoryRows::slots() const { return mail.defined() ? mail.size(1) : 0; }

void MemoryRows::check(std::int64_t n, std::int64_t num_slots, std::int64_t memory_dim,
                       std::int64_t mail_dim, std::string_view context) const {
  check_tensor(memory, context, "rows.memory", torch::kFloat, {n, memory_dim});
  check_tensor(memory_ts, context, "rows.memory_ts", torch::kDouble, {n});
  check_tensor(mail, context, "rows.mail", torch::kFloat, {n, num_slots, mail_dim});
  check_tensor(mail_ts, context, "rows.mail_ts", torch::kDouble, {n, num_slots});
  check_tensor(mail_eid, context, "rows.mail_eid", torch::kLong, {n, num_slots});
  const torch::Device device = memory.device();
  for (const torch::Tensor* t : {&memory_ts, &mail, &mail_ts, &mail_eid}) {
    if (t->device() != device) {
      throw InternalError(str_cat(context, ": rows are on several devices (", device.str(), " and ",
                                  t->device().str(), ")"));
    }
  }
}

MemoryRows MemoryRows::to(const torch::Device& device) const {
  return {memory.to(device), memory_ts.to(device), mail.to(device), mail_ts.to(device),
          mail_eid.to(device)};
}

MemoryRows MemoryRows::detach() const {
  return {memory.detach(), memory_ts.detach(), mail.detach(), mail_ts.detach(), mail_eid.detach()};
}

MemoryRows MemoryRows::index_select(const torch::Tensor& index) const {
  return {memory.index_select(0, index), memory_ts.index_select(0, index),
          mail.index_select(0, index), mail_ts.index_select(0, index),
          mail_eid.index_select(0, index)};
}

MemoryRows MemoryRows::empty_rows(std::int64_t n, std::int64_t num_slots, std::int64_t memory_dim,
                                  std::int64_t mail_dim, const torch::Device& device) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(device);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(device);
  const auto i64 = torch::TensorOptions().dtype(torch::kLong).device(device);
  return {torch::zeros({n, memory_dim}, f32), torch::zeros({n}, f64),
          torch::zeros({n, num_slots, mail_dim}, f32), torch::zeros({n, num_slots}, f64),
          torch::full({n, num_slots}, -1, i64)};
}

// ---- MemoryStore ----

MemoryStore::~MemoryStore() = default;

MemoryRows PendingRows::get() {
  if (!produce_) throw InternalError("PendingRows::get: no read was issued (or get() called twice)");
  auto produce = std::move(produce_);
  produce_ = nullptr;
  return produce();
}

MemoryRows MemoryStore::read(const torch::Tensor& nodes) {
  return read_async(next_batch(), nodes).get();
}

void MemoryStore::write(const torch::Tensor& nodes, const MemoryRows& rows) {
  if (shards_per_batch() != 1) {
    throw InternalError(str_cat(backend_name(), " memory store has ", shards_per_batch(),
                                " shards per batch: write with a batch and shard number"));
  }
  write(next_batch(), 0, nodes, rows);
}

void MemoryStore::save(torch::serialize::OutputArchive& /*archive*/) const {
  throw InternalError(str_cat(backend_name(), " memory store does not support save"));
}

void MemoryStore::load(torch::serialize::InputArchive& /*archive*/) {
  throw InternalError(str_cat(backend_name(), " memory store does not support load"));
}

// ---- last_occurrence ----

torch::Tensor last_occurrence(const torch::Tensor& nodes) {
  check_tensor(nodes, "last_occurrence", "nodes", torch::kLong, {kAnyDim});
  const std::int64_t m = nodes.size(0);
  if (m == 0) return torch::empty({0}, nodes.options());
  // A stable sort keeps equal ids in position order, so the last element of each run of
  // equal ids is that id's last occurrence.
  const auto [sorted, perm] = torch::sort(nodes, /*stable=*/true, /*dim=*/0,
                                          /*descending=*/false);
  torch::Tensor run_end = torch::ones({m}, nodes.options().dtype(torch::kBool));
  if (m > 1) run_end.slice(0, 0, m - 1).copy_(sorted.slice(0, 0, m - 1) != sorted.slice(0, 1));
  return std::get<0>(torch::sort(perm.masked_select(run_end)));
}

}  // namespace disttgl::trainer
