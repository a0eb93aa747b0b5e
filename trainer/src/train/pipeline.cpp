#include "disttgl/trainer/train/pipeline.hpp"

#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "device_transfer.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/trainer/model/write_back.hpp"

namespace disttgl::trainer {

SampleStage::SampleStage(const Dataset& dataset, const TemporalSampler* sampler,
                         const NegativeSampler& negatives, const TemporalSampler* delivery_sampler)
    : dataset_(dataset),
      sampler_(sampler),
      negatives_(negatives),
      delivery_sampler_(delivery_sampler) {}

SampledBatch SampleStage::run(std::int64_t begin, std::int64_t end,
                              const BatchDraws& draws) const {
  DISTTGL_CHECK(begin >= 0 && begin < end && end <= dataset_.num_events(), "bad event range");
  SampledBatch b;
  b.begin = begin;
  b.end = end;
  const std::int64_t num_negatives = draws.negatives_per_event();
  b.num_negatives = num_negatives;
  const std::int64_t n_events = end - begin;
  const auto roots = static_cast<std::size_t>(n_events * (2 + num_negatives));
  b.roots.reserve(roots);
  b.root_times.reserve(roots);
  const auto first = static_cast<std::size_t>(begin);
  const auto last = static_cast<std::size_t>(end);
  b.roots.insert(b.roots.end(), dataset_.src.begin() + first, dataset_.src.begin() + last);
  b.roots.insert(b.roots.end(), dataset_.dst.begin() + first, dataset_.dst.begin() + last);
  b.root_times.insert(b.root_times.end(), dataset_.ts.begin() + first, dataset_.ts.begin() + last);
  b.root_times.insert(b.root_times.end(), dataset_.ts.begin() + first, dataset_.ts.begin() + last);
  if (num_negatives > 0) {
    b.roots.resize(roots);
    std::int64_t offset = 0;  // of the current set within an event's negatives
    for (const NegativeSet& set : draws.negatives) {
      const auto neg = negatives_.sample(begin, n_events, static_cast<int>(set.count), set.seed,
                                         set.strategy);
      for (std::int64_t i = 0; i < n_events; ++i) {
        std::copy_n(neg.begin() + i * set.count, set.count,
                    b.roots.begin() + 2 * n_events + i * num_negatives + offset);
      }
      offset += set.count;
    }
    for (std::int64_t i = 0; i < n_events; ++i) {
      b.root_times.insert(b.root_times.end(), static_cast<std::size_t>(num_negatives),
                          dataset_.ts[first + static_cast<std::size_t>(i)]);
    }
  }
  if (sampler_ != nullptr) b.blocks = sampler_->sample(b.roots, b.root_times, draws.sampling_stream);
  if (delivery_sampler_ != nullptr) {
    // Roots in write-back row order (src_0, dst_0, src_1, ...): row[e] is then the source row.
    std::vector<NodeId> ends(static_cast<std::size_t>(2 * n_events));
    std::vector<Timestamp> times(ends.size());
    for (std::size_t i = 0; i < static_cast<std::size_t>(n_events); ++i) {
      ends[2 * i] = dataset_.src[first + i];
      ends[2 * i + 1] = dataset_.dst[first + i];
      times[2 * i] = times[2 * i + 1] = dataset_.ts[first + i];
    }
    b.delivery = std::move(delivery_sampler_->sample(ends, times, draws.sampling_stream).front());
  }
  return b;
}

namespace {
torch::Tensor to_tensor(const std::vector<std::int64_t>& v) {
  return torch::from_blob(const_cast<std::int64_t*>(v.data()),
                          {static_cast<std::int64_t>(v.size())}, torch::kInt64)
      .clone();
}
torch::Tensor to_tensor(const std::vector<double>& v) {
  return torch::from_blob(const_cast<double*>(v.data()), {static_cast<std::int64_t>(v.size())},
                          torch::kFloat64)
      .clone();
}
torch::Tensor table(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  if (cols == 0) return {};
  return torch::from_blob(const_cast<float*>(v.data()), {rows, cols}, torch::kFloat32).clone();
}
}  // namespace

std::uint64_t dataset_fingerprint(const Dataset& d) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(d.src.data()), d.src.size() * sizeof(NodeId));
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(d.dst.data()), d.dst.size() * sizeof(NodeId));
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(d.ts.data()), d.ts.size() * sizeof(Timestamp));
  return (static_cast<std::uint64_t>(crc) << 32) |
         (static_cast<std::uint64_t>(d.num_events()) & 0xFFFFFFFFULL);
}

FeatureTables feature_tables(const Dataset& dataset) {
  FeatureTables t;
  t.edge_features = table(dataset.edge_features, dataset.num_events(), dataset.edge_feature_dim);
  t.node_features = table(dataset.node_features, dataset.num_nodes, dataset.node_feature_dim);
  return t;
}

GatherStage::GatherStage(MemoryStore* store, FeatureTables tables, torch::Device device)
    : store_(store),
      tables_(std::move(tables)),
      device_(device),
      transfer_(std::make_shared<detail::DeviceTransfer>(device)) {
  for (torch::Tensor* t :
       {&tables_.edge_features, &tables_.node_features, &tables_.static_memory}) {
    if (t->defined()) *t = t->to(device_);
  }
  // A copy from pageable memory may still be in flight when to() returns; the side stream
  // reads these tables, so it waits for them.
  transfer_->follow_current_stream();
}

GatherStage::~GatherStage() = default;

GatheredBatch GatherStage::run(SampledBatch batch, std::int64_t logical_batch) const {
  GatheredBatch g;
  g.logical_batch = logical_batch;
  g.begin = batch.begin;
  g.end = batch.end;
  const std::int64_t n_events = batch.num_events();
  ModelInputs& in = g.inputs;
  in.num_positives = n_events;
  in.num_negatives = batch.num_negatives;
  // The outermost block's node list starts with every inner block's nodes, so its unique
  // nodes are all the nodes the forward touches.
  const auto& all_nodes = batch.blocks.empty() ? batch.roots : batch.blocks.back().nodes;
  auto [unique, index] = unique_with_index(to_tensor(all_nodes));
  torch::Tensor read_nodes = unique;  // + the delivery targets not among them
  if (batch.delivery.num_roots > 0) {
    g.delivery = plan_mail_deliveries(batch.delivery);
    const torch::Tensor targets = g.delivery.nodes;
    const torch::Tensor known = torch::isin(targets, unique);
    const torch::Tensor extra = targets.masked_select(known.logical_not());
    // unique is sorted: a known target's row is its position there; the others follow.
    g.delivery_read_index = torch::where(known, torch::searchsorted(unique, targets),
                                         unique.size(0) - 1 + known.logical_not().cumsum(0));
    read_nodes = torch::cat({unique, extra});
  }
  // Pinned on a GPU: the copy below and a GPU store's read then copy without blocking.
  if (device_.is_cuda()) {
    unique = unique.pin_memory();
    read_nodes = g.delivery_read_index.defined() ? read_nodes.pin_memory() : unique;
  }
  std::vector<BlockTensors> blocks;
  blocks.reserve(batch.blocks.size());
  for (const auto& block : batch.blocks) blocks.push_back(to_block_tensors(block, torch::kCPU));
  const torch::Tensor root_times = to_tensor(batch.root_times);
  const torch::Tensor eid = torch::arange(batch.begin, batch.end, torch::dtype(torch::kInt64));
  const detail::DeviceTransfer& x = *transfer_;
  const auto t0 = std::chrono::steady_clock::now();
  g.h2d = x.run([&] {
    in.unique_nodes = x.to_device(unique);
    in.node_index = x.to_device(index);
    in.blocks.reserve(blocks.size());
    for (const auto& b : blocks) {
      in.blocks.push_back({b.num_roots, x.to_device(b.row), x.to_device(b.dt), x.to_device(b.eid)});
    }
    in.root_times = x.to_device(root_times);
    g.event_eid = x.to_device(eid);
    // Feature rows are gathered on the device, on the same stream as the copies.
    if (tables_.node_features.defined()) {
      in.node_features = tables_.node_features.index_select(0, in.unique_nodes);
    }
    if (tables_.static_memory.defined()) {
      in.static_memory = tables_.static_memory.index_select(0, in.unique_nodes);
    }
  });
  if (store_ != nullptr) g.pending_memory = store_->read_async(logical_batch, read_nodes);
  if (profile_) {
    detail::DeviceTransfer::synchronize(g.h2d);
    g.h2d_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  in.edge_features = tables_.edge_features;
  g.event_ts = in.root_times.narrow(0, 0, n_events);
  return g;
}

void GatherStage::await_memory(GatheredBatch& batch) const {
  ModelInputs& in = batch.inputs;
  if (batch.h2d) {  // only a GPU batch has copies to wait for
    std::vector<torch::Tensor> copied{in.unique_nodes, in.node_index,    in.root_times,
                                      in.node_features, in.static_memory, batch.event_eid};
    for (const auto& b : in.blocks) copied.insert(copied.end(), {b.row, b.dt, b.eid});
    detail::DeviceTransfer::wait_for(batch.h2d, copied);
    batch.h2d.reset();
  }
  if (store_ == nullptr) return;
  MemoryRows rows = batch.pending_memory.get();
  if (batch.delivery_read_index.defined()) {
    // Targets keep their memory as read; the model sees only the first U rows.
    const torch::Tensor at = batch.delivery_read_index.to(rows.memory.device());
    batch.delivery.memory = rows.memory.index_select(0, at).to(device_);
    batch.delivery.memory_ts = rows.memory_ts.index_select(0, at).to(device_);
    batch.delivery.nodes = batch.delivery.nodes.to(device_);
    batch.delivery.source = batch.delivery.source.to(device_);
    const std::int64_t u = in.unique_nodes.size(0);
    rows = MemoryRows{rows.memory.narrow(0, 0, u), rows.memory_ts.narrow(0, 0, u),
                      rows.mail.narrow(0, 0, u), rows.mail_ts.narrow(0, 0, u),
                      rows.mail_eid.narrow(0, 0, u)};
  }
  in.memory = rows.to(device_);
}

void write_back(MemoryStore* store, const GatheredBatch& batch, const ModelOutputs& outputs,
                std::int32_t shard) {
  if (store == nullptr) return;
  ModelOutputs out = outputs;
  // bf16 autocast computes s' in bf16; the node memory is float32 on every backend.
  if (out.updated_memory.defined() && out.updated_memory.scalar_type() != torch::kFloat) {
    out.updated_memory = out.updated_memory.to(torch::kFloat);
  }
  auto w = make_memory_write(batch.inputs, out, batch.event_ts, batch.event_eid);
  if (!batch.delivery.empty()) w = with_deliveries(w, batch.delivery);
  store->write(batch.logical_batch, shard, w.nodes, w.rows);
}

// ---- BatchPrefetcher ----

struct BatchPrefetcher::Impl {
  std::int64_t count = 0;
  int depth = 0;
  Produce produce;
  std::int64_t taken = 0;  // consumer thread only
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<GatheredBatch> ready;
  std::exception_ptr error;  // the producer's failure, after the batches before it
  bool stop = false;
  std::thread worker;

  void run() {
    for (std::int64_t i = 0; i < count; ++i) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stop || static_cast<int>(ready.size()) < depth; });
        if (stop) return;
      }
      try {
        GatheredBatch b = produce(i);
        std::lock_guard lock(mu);
        ready.push_back(std::move(b));
      } catch (...) {
        std::lock_guard lock(mu);
        error = std::current_exception();
        cv.notify_all();
        return;
      }
      cv.notify_all();
    }
  }
};

BatchPrefetcher::BatchPrefetcher(std::int64_t count, int depth, Produce produce)
    : impl_(std::make_unique<Impl>()) {
  DISTTGL_CHECK(depth >= 0, "prefetch depth must be >= 0");
  impl_->count = count;
  impl_->depth = depth;
  impl_->produce = std::move(produce);
  if (depth > 0 && count > 0) impl_->worker = std::thread([this] { impl_->run(); });
}

BatchPrefetcher::~BatchPrefetcher() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
}

GatheredBatch BatchPrefetcher::next() {
  Impl& m = *impl_;
  DISTTGL_CHECK(m.taken < m.count, "BatchPrefetcher::next past the last batch");
  if (m.depth == 0) return m.produce(m.taken++);
  std::unique_lock lock(m.mu);
  m.cv.wait(lock, [&] { return !m.ready.empty() || m.error != nullptr; });
  if (m.ready.empty()) std::rethrow_exception(m.error);
  GatheredBatch b = std::move(m.ready.front());
  m.ready.pop_front();
  ++m.taken;
  lock.unlock();
  m.cv.notify_all();
  return b;
}

std::int64_t BatchPrefetcher::queued() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<std::int64_t>(impl_->ready.size());
}

}  // namespace disttgl::trainer
