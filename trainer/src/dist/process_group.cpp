#include "disttgl/trainer/dist/process_group.hpp"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {

struct ProcessGroup::Impl {
  ProcessGroupOptions options;
  c10::intrusive_ptr<c10d::TCPStore> tcp_store;
  c10::intrusive_ptr<c10d::PrefixStore> store;  // tcp_store under the job/attempt prefix
  c10::intrusive_ptr<c10d::Backend> backend;
  std::string name;

  double timeout_s() const { return std::chrono::duration<double>(options.timeout).count(); }

  [[noreturn]] void fail(const std::string& what, const std::exception& e) const {
    throw IoError(fmt::format("process group ({} rank {} of {}): {} failed within {} s: {}", name,
                              options.rank, options.world_size, what, timeout_s(), e.what()));
  }
};

ProcessGroup::ProcessGroup(const ProcessGroupOptions& o) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = o;
  if (o.world_size < 1) {
    throw ConfigError(fmt::format("process group: world size must be >= 1, got {}", o.world_size));
  }
  if (o.rank < 0 || o.rank >= o.world_size) {
    throw ConfigError(
        fmt::format("process group: rank {} is outside [0, {})", o.rank, o.world_size));
  }
  if (o.master_port < 0 || o.master_port > 65535 || (o.master_port == 0 && o.rank != 0)) {
    throw ConfigError(fmt::format("process group: master port {} is not in [1, 65535]",
                                  o.master_port));
  }
  m.name = o.device.is_cuda() ? "nccl" : "gloo";
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(o.master_port);
  store_options.isServer = o.rank == 0;
  store_options.numWorkers = static_cast<std::size_t>(o.world_size);
  store_options.waitWorkers = true;
  store_options.timeout = o.timeout;
  try {
    m.tcp_store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_options);
  } catch (const std::exception& e) {
    m.fail(fmt::format("rendezvous at {}:{}", o.master_addr, o.master_port), e);
  }
  m.store = c10::make_intrusive<c10d::PrefixStore>(o.prefix, m.tcp_store);
  const auto& store = m.store;
  try {
    if (o.device.is_cuda()) {
#ifdef USE_C10D_NCCL
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = o.timeout;
      m.backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, o.rank, o.world_size, nccl);
#else
      throw ConfigError("process group: this build has no NCCL (CUDA) backend");
#endif
    } else {
      auto gloo = c10d::ProcessGroupGloo::Options::create(o.timeout);
      gloo->devices = {o.local_addr.empty()
                           ? c10d::ProcessGroupGloo::createDefaultDevice()
                           : c10d::ProcessGroupGloo::createDeviceForHostname(o.local_addr)};
      m.backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world_size, gloo);
    }
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    m.fail("connecting the ranks", e);
  }
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return impl_->options.rank; }
int ProcessGroup::world_size() const { return impl_->options.world_size; }
std::string ProcessGroup::backend_name() const { return impl_->name; }
int ProcessGroup::master_port() const { return impl_->tcp_store->getPort(); }

std::int64_t ProcessGroup::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return 0;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat_parts;
  flat_parts.reserve(tensors.size());
  for (const auto& t : tensors) {
    if (t.scalar_type() != tensors[0].scalar_type() || t.device() != tensors[0].device()) {
      throw InternalError(fmt::format("ProcessGroup::all_reduce_sum: tensors of {} on {} and {} "
                                      "on {} in one call",
                                      c10::toString(tensors[0].scalar_type()),
                                      tensors[0].device().str(), c10::toString(t.scalar_type()),
                                      t.device().str()));
    }
    flat_parts.push_back(t.reshape({-1}));
  }
  std::vector<torch::Tensor> buffer{torch::cat(flat_parts)};
  const std::int64_t bytes = buffer[0].numel() * buffer[0].element_size();
  try {
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    options.timeout = impl_->options.timeout;
    impl_->backend->allreduce(buffer, options)->wait(impl_->options.timeout);
  } catch (const std::exception& e) {
    impl_->fail(fmt::format("all-reduce of {} bytes", bytes), e);
  }
  std::int64_t offset = 0;
  for (auto& t : tensors) {
    t.copy_(buffer[0].narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
  return bytes;
}

void ProcessGroup::barrier(std::chrono::milliseconds timeout) {
  if (timeout == std::chrono::milliseconds::zero()) timeout = impl_->options.timeout;
  try {
    c10d::BarrierOptions options;
    options.timeout = timeout;
    impl_->backend->barrier(options)->wait(timeout);
  } catch (const std::exception& e) {
    impl_->fail("barrier", e);
  }
}

namespace {

// The TCPStore's libuv server refuses values over 8 MiB: blobs travel in chunks under
// "blob/KEY/N" with their count under "blob/KEY".
constexpr std::size_t kBlobChunkBytes = std::size_t{4} << 20;

std::string chunk_key(const std::string& key, std::size_t n) {
  return fmt::format("blob/{}/{}", key, n);
}

std::vector<std::uint8_t> count_bytes(std::size_t n) {
  const std::string text = std::to_string(n);
  return {text.begin(), text.end()};
}

}  // namespace

void ProcessGroup::put_blob(const std::string& key, const std::vector<std::uint8_t>& bytes) {
  const std::size_t chunks = (bytes.size() + kBlobChunkBytes - 1) / kBlobChunkBytes;
  try {
    for (std::size_t n = 0; n < chunks; ++n) {
      const auto first = bytes.begin() + static_cast<std::ptrdiff_t>(n * kBlobChunkBytes);
      const auto last =
          bytes.begin() + static_cast<std::ptrdiff_t>(std::min(bytes.size(), (n + 1) * kBlobChunkBytes));
      impl_->store->set(chunk_key(key, n), std::vector<std::uint8_t>(first, last));
    }
    // The count last: a reader that sees it finds every chunk.
    impl_->store->set("blob/" + key, count_bytes(chunks));
  } catch (const std::exception& e) {
    impl_->fail(fmt::format("storing '{}' ({} bytes)", key, bytes.size()), e);
  }
}

std::vector<std::uint8_t> ProcessGroup::get_blob(const std::string& key,
                                                 std::chrono::milliseconds timeout) {
  if (timeout == std::chrono::milliseconds::zero()) timeout = impl_->options.timeout;
  try {
    impl_->store->wait({"blob/" + key}, timeout);
    const std::vector<std::uint8_t> count = impl_->store->get("blob/" + key);
    const std::size_t chunks = std::stoull(std::string(count.begin(), count.end()));
    std::vector<std::uint8_t> out;
    for (std::size_t n = 0; n < chunks; ++n) {
      const std::vector<std::uint8_t> part = impl_->store->get(chunk_key(key, n));
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  } catch (const std::exception& e) {
    impl_->fail(fmt::format("waiting for '{}' in the store", key), e);
  }
}

void ProcessGroup::delete_blob(const std::string& key) {
  try {
    const std::string count_key = "blob/" + key;
    if (!impl_->store->check({count_key})) return;
    const std::vector<std::uint8_t> count = impl_->store->get(count_key);
    const std::size_t chunks = std::stoull(std::string(count.begin(), count.end()));
    impl_->store->deleteKey(count_key);
    for (std::size_t n = 0; n < chunks; ++n) impl_->store->deleteKey(chunk_key(key, n));
  } catch (const std::exception& e) {
    impl_->fail(fmt::format("deleting '{}' from the store", key), e);
  }
}

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  torch::NoGradGuard no_grad;
  for (auto& t : tensors) {
    std::vector<torch::Tensor> one{t.is_contiguous() ? t : t.contiguous()};
    try {
      c10d::BroadcastOptions options;
      options.rootRank = root;
      options.timeout = impl_->options.timeout;
      impl_->backend->broadcast(one, options)->wait(impl_->options.timeout);
    } catch (const std::exception& e) {
      impl_->fail(fmt::format("broadcast from rank {}", root), e);
    }
    if (!t.is_contiguous()) t.copy_(one[0]);
  }
}

std::int64_t average_gradients(ProcessGroup& group, const std::vector<torch::Tensor>& parameters) {
  if (parameters.empty()) return 0;
  std::vector<torch::Tensor> grads;
  grads.reserve(parameters.size() + 1);
  // Which parameters this rank used, reduced with the gradients (one extra value each): a
  // parameter no rank used keeps no gradient, as DDP leaves globally unused parameters
  // untouched. Adam skips a parameter without a gradient; a zero gradient would instead
  // advance its step count and change its later bias correction, so the run would no
  // longer train like one process on the logical batch.
  torch::Tensor used = torch::zeros({static_cast<std::int64_t>(parameters.size())},
                                    parameters[0].options().requires_grad(false));
  for (std::size_t n = 0; n < parameters.size(); ++n) {
    const auto& p = parameters[n];
    if (p.grad().defined()) {
      used[static_cast<std::int64_t>(n)].fill_(1);
    } else {
      // A parameter this rank did not use still takes part (as zeros), so every rank
      // all-reduces the same layout.
      p.mutable_grad() = torch::zeros_like(p);
    }
    grads.push_back(p.grad());
  }
  grads.push_back(used);
  const std::int64_t bytes = group.all_reduce_sum(grads);
  const double scale = 1.0 / static_cast<double>(group.world_size());
  const torch::Tensor used_anywhere = used.cpu();
  for (std::size_t n = 0; n < parameters.size(); ++n) {
    if (used_anywhere[static_cast<std::int64_t>(n)].item<float>() == 0.0F) {
      parameters[n].mutable_grad() = torch::Tensor();
    } else {
      grads[n].mul_(scale);
    }
  }
  return bytes;
}

}  // namespace disttgl::trainer
