#include "disttgl/trainer/memory/daemon_memory_store.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <span>
#include <vector>

#include "disttgl/memory_daemon/client.hpp"
#include "disttgl/memory_daemon/memory_state.hpp"
#include "disttgl/trainer/memory/memory_backend.hpp"
#include "disttgl/trainer/memory/local_memory_store.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"
#include "memory_checkpoint.hpp"

namespace disttgl::trainer {

namespace md = memory_daemon;

namespace {

// Maps the client's failures onto disttgl's error kinds (and so onto exit codes).
template <typename Fn>
auto translate(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const md::ClientError& e) {
    throw MemoryBackendError(e.what());
  } catch (const md::ProtocolError& e) {
    switch (e.code()) {
      case md::ErrorCode::kMismatch:
        throw ConfigError(str_cat(e.what(), " (the daemon serves another job, dataset or model; "
                                            "restart it or point --memory-daemon elsewhere)"));
      case md::ErrorCode::kTimeout:
      case md::ErrorCode::kAborted:
      case md::ErrorCode::kIo:
      case md::ErrorCode::kShuttingDown:
        throw MemoryBackendError(e.what());
      case md::ErrorCode::kBadSnapshot:
        throw InputError(e.what());
      case md::ErrorCode::kBatchOrder:
        // This trainer keeps its own order, so another client moved the group's sequence.
        throw MemoryBackendError(str_cat(e.what(), " (did another trainer reset or write this "
                                                   "memory group? one trainer per rank)"));
      default:
        throw InternalError(e.what());
    }
  }
}

// CPU contiguous int64 node ids as a vector (the wire form).
std::vector<std::int64_t> node_vector(const torch::Tensor& nodes) {
  const torch::Tensor c = nodes.to(torch::kCPU).contiguous();
  const auto* p = c.data_ptr<std::int64_t>();
  return {p, p + c.numel()};
}

// The elements of a CPU contiguous tensor (the wire form of rows).
template <typename T>
std::span<const T> span_of(const torch::Tensor& t) {
  return {t.data_ptr<T>(), static_cast<std::size_t>(t.numel())};
}

template <typename T>
std::vector<T> vector_of(const torch::Tensor& t) {
  const std::span<const T> s = span_of<T>(t);
  return {s.begin(), s.end()};
}

// A tensor viewing `data` inside the reply buffer `owner` keeps alive.
template <typename T>
torch::Tensor view(std::span<const T> data, std::vector<std::int64_t> sizes,
                   torch::ScalarType dtype, const std::shared_ptr<md::ReadResult>& owner) {
  if (data.empty()) return torch::empty(sizes, torch::dtype(dtype));
  return torch::from_blob(const_cast<T*>(data.data()), sizes, [owner](void*) {},
                          torch::dtype(dtype));
}

}  // namespace

DaemonMemoryStore::DaemonMemoryStore(const MemoryBackendOptions& options)
    : options_(options) {
  if (options.device.is_cuda() && !torch::cuda::is_available()) {
    throw ConfigError("memory store: device " + options.device.str() +
                      " requested but CUDA is not available");
  }
  try {
    md::SharedMemoryOptions shm;
    shm.enabled = options.shared_memory;
    // A slot holds a read of every node (reads are of unique nodes), within a cap.
    const std::uint64_t all_rows =
        16 + md::rows_bytes(options.num_nodes, options.mailbox_size, options.memory_dim,
                            options.mail_dim);
    constexpr std::uint64_t kPage = 4096;
    shm.slot_bytes = std::min<std::uint64_t>((all_rows + kPage - 1) / kPage * kPage, 256ULL << 20);
    client_ = translate(
        [&] { return std::make_unique<md::DaemonClient>(options.daemon_address, options.timeout, shm); });
  } catch (const std::invalid_argument& e) {
    throw ConfigError(str_cat("--memory-daemon: ", e.what()));
  }
  md::Hello hello;
  hello.job = options.job;
  hello.memory_group = options.memory_group;
  hello.rank = options.rank;
  hello.layout = {options.layout_i, options.layout_j, options.layout_k};
  hello.dims = dims();
  hello.dataset_fingerprint = options.dataset_fingerprint;
  const md::HelloOk ok = translate([&] { return client_->hello(hello); });
  next_batch_ = ok.next_batch;
}

DaemonMemoryStore::~DaemonMemoryStore() = default;

md::Dimensions DaemonMemoryStore::dims() const {
  return {options_.num_nodes, options_.memory_dim, options_.mail_dim, options_.mailbox_size};
}

std::string DaemonMemoryStore::backend_name() const { return "daemon " + options_.daemon_address; }

std::string DaemonMemoryStore::transport() const {
  if (client_->shared_memory()) return "shared memory";
  const std::string& why = client_->shared_memory_status();
  return why.empty() ? std::string("socket") : "socket (shared memory " + why + ")";
}

std::uint64_t DaemonMemoryStore::bytes_sent() const { return client_->bytes_sent(); }
std::uint64_t DaemonMemoryStore::bytes_received() const { return client_->bytes_received(); }

PendingRows DaemonMemoryStore::read_async(std::int64_t batch, const torch::Tensor& nodes) {
  check_node_ids(nodes, options_.num_nodes, "DaemonMemoryStore::read_async");
  auto pending = std::make_shared<md::DaemonClient::PendingRead>(
      translate([&] { return client_->read_async(batch, node_vector(nodes)); }));
  const std::int64_t dm = options_.memory_dim;
  const std::int64_t dmail = options_.mail_dim;
  const torch::Device device = options_.device;
  return PendingRows([pending, dm, dmail, device] {
    auto result = std::make_shared<md::ReadResult>(translate([&] { return pending->get(); }));
    const md::RowsView& r = result->rows;
    MemoryRows rows{view(r.memory, {r.n, dm}, torch::kFloat, result),
                    view(r.memory_ts, {r.n}, torch::kDouble, result),
                    view(r.mail, {r.n, r.slots, dmail}, torch::kFloat, result),
                    view(r.mail_ts, {r.n, r.slots}, torch::kDouble, result),
                    view(r.mail_eid, {r.n, r.slots}, torch::kLong, result)};
    return device.is_cpu() ? rows : rows.to(device);
  });
}

void DaemonMemoryStore::write(std::int64_t batch, std::int32_t shard, const torch::Tensor& nodes,
                              const MemoryRows& rows) {
  check_node_ids(nodes, options_.num_nodes, "DaemonMemoryStore::write");
  rows.check(nodes.size(0), 1, options_.memory_dim, options_.mail_dim, "DaemonMemoryStore::write");
  torch::NoGradGuard no_grad;
  const MemoryRows c{rows.memory.detach().to(torch::kCPU).contiguous(),
                     rows.memory_ts.detach().to(torch::kCPU).contiguous(),
                     rows.mail.detach().to(torch::kCPU).contiguous(),
                     rows.mail_ts.detach().to(torch::kCPU).contiguous(),
                     rows.mail_eid.detach().to(torch::kCPU).contiguous()};
  const md::RowsView view_rows{nodes.size(0),
                               1,
                               span_of<float>(c.memory),
                               span_of<double>(c.memory_ts),
                               span_of<float>(c.mail),
                               span_of<double>(c.mail_ts),
                               span_of<std::int64_t>(c.mail_eid)};
  next_batch_ = translate([&] { return client_->write(batch, shard, node_vector(nodes), view_rows); });
}

void DaemonMemoryStore::reset() {
  next_batch_ = translate([&] { return client_->reset(); });
}

void DaemonMemoryStore::save(torch::serialize::OutputArchive& archive) const {
  const std::vector<std::byte> bytes = translate([&] { return client_->snapshot(); });
  md::MemoryState state(dims());
  const std::int64_t next_batch = translate([&] { return state.restore(bytes); });
  const std::int64_t n = options_.num_nodes;
  const std::int64_t s = options_.mailbox_size;
  const auto tensor = [](const auto& v, std::vector<std::int64_t> sizes, torch::ScalarType t) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    return torch::from_blob(const_cast<T*>(v.data()), sizes, torch::dtype(t)).clone();
  };
  detail::save_memory_tensors(
      archive, {tensor(state.memory(), {n, options_.memory_dim}, torch::kFloat),
                tensor(state.memory_ts(), {n}, torch::kDouble),
                tensor(state.mail(), {n, s, options_.mail_dim}, torch::kFloat),
                tensor(state.mail_ts(), {n, s}, torch::kDouble),
                tensor(state.mail_eid(), {n, s}, torch::kLong),
                tensor(state.next_mail_pos(), {n}, torch::kLong), next_batch});
}

void DaemonMemoryStore::load(torch::serialize::InputArchive& archive) {
  const detail::MemoryTensors t =
      detail::load_memory_tensors(archive, options_.num_nodes, options_.memory_dim,
                                  options_.mail_dim, options_.mailbox_size);
  md::MemoryState state(dims());
  translate([&] {
    state.assign(vector_of<float>(t.memory), vector_of<double>(t.memory_ts),
                 vector_of<float>(t.mail), vector_of<double>(t.mail_ts),
                 vector_of<std::int64_t>(t.mail_eid), vector_of<std::int64_t>(t.next_mail_pos));
    return 0;
  });
  const std::vector<std::byte> bytes = state.snapshot(t.next_batch);
  next_batch_ = translate([&] { return client_->restore(bytes); });
}

std::unique_ptr<MemoryStore> make_memory_store(const MemoryBackendOptions& o) {
  if (o.daemon_address.empty()) {
    LocalMemoryStoreOptions lo;
    lo.num_nodes = o.num_nodes;
    lo.memory_dim = o.memory_dim;
    lo.mail_dim = o.mail_dim;
    lo.mailbox_size = o.mailbox_size;
    lo.device = o.device;
    return std::make_unique<LocalMemoryStore>(lo);
  }
  return std::make_unique<DaemonMemoryStore>(o);
}

}  // namespace disttgl::trainer
