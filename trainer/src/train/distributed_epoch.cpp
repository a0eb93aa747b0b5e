// DistTGL's parallel training epoch on one rank (Zhou et al., SC'23; disttgl.md §4): the
// iteration schedule of dist/schedule.hpp, this rank's shard of each logical batch through
// sample -> gather -> memory rows of the group's daemon -> forward/backward, one gradient
// all-reduce over all ranks per iteration, the optimizer step, and the shard's memory write.
#include <fstream>
#include <iterator>

#include "trainer_state.hpp"

namespace disttgl::trainer {

namespace {

// Rows of no node: the write of a shard that has no events in the last logical batch (the
// daemon applies a logical batch once all i shards have arrived).
MemoryRows no_rows(const MemoryStore& store) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  return {torch::empty({0, store.memory_dim()}, f32), torch::empty({0}, f64),
          torch::empty({0, 1, store.mail_dim()}, f32), torch::empty({0, 1}, f64),
          torch::empty({0, 1}, torch::kLong)};
}

}  // namespace

double Trainer::State::train_epoch_distributed(std::int64_t epoch, StageTimes& times,
                                               double& seconds, std::int64_t& events) {
  model->train();
  const ParallelLayout& layout = opt.launch.layout;
  const std::int64_t bs = cfg.optim.batch_size;
  const std::int64_t n = ds.num_train();
  std::int64_t batches = logical_batches(layout, n, bs);
  if (opt.max_train_batches > 0) batches = std::min(batches, opt.max_train_batches);
  const std::vector<Iteration> schedule = epoch_schedule(layout, place, batches, epoch == 1);
  ProgressLine progress(
      fmt::format("epoch {}/{} train (rank {})", epoch, cfg.optim.epochs, group->rank()),
      static_cast<std::int64_t>(schedule.size()));
  const std::vector<torch::Tensor> params = model->parameters();
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  double loss_sum = 0;
  events = 0;
  const auto* daemon = dynamic_cast<const DaemonMemoryStore*>(store.get());
  traffic = {};
  traffic.iterations = static_cast<std::int64_t>(schedule.size());
  const std::uint64_t sent0 = daemon ? daemon->bytes_sent() : 0;
  const std::uint64_t received0 = daemon ? daemon->bytes_received() : 0;
  for (std::size_t t = 0; t < schedule.size(); ++t) {
    throw_if_stop_requested();
    const Iteration& it = schedule[t];
    if (it.reset_memory) reset_memory();  // the daemon's RESET: a barrier of the group
    optimizer->zero_grad();
    // This rank's share of its logical batch's mean loss: shard loss * n_s / N_b. Summed
    // over the i shards it is the logical batch's loss, so i shards of B events train
    // exactly like one batch of i*B events, also when the last logical batch is short.
    torch::Tensor share = torch::zeros({}, f64);
    if (it.logical_batch >= 0) {
      const std::int64_t b = it.logical_batch;
      const EventRange r = shard_events(layout, b, place.shard, n, bs);
      const std::int64_t batch_events = std::min((b + 1) * layout.i * bs, n) - b * layout.i * bs;
      if (it.read_memory) {
        // DistTGL reads a batch's memory once: the variants of this and the later passes
        // (each with its own negative set) are gathered now, before the write of b.
        held.assign(static_cast<std::size_t>(layout.j), std::nullopt);
        held_batch = b;
        if (r.end > r.begin) {
          for (std::int32_t p = it.pass; p < layout.j; ++p) {
            auto t0 = Clock::now();
            auto sampled = sample->run(r.begin, r.end, train_draws(epoch, p));
            times.add(metrics::Stage::kSample, since(t0));
            t0 = Clock::now();
            held[static_cast<std::size_t>(p)] = gather->run(std::move(sampled), it.memory_sequence);
            times.add(metrics::Stage::kGather, since(t0));
          }
          const auto t0 = Clock::now();
          for (std::int32_t p = it.pass; p < layout.j; ++p) {
            gather->await_memory(*held[static_cast<std::size_t>(p)]);
            traffic.memory_rows_read += held[static_cast<std::size_t>(p)]->inputs.memory.size();
          }
          times.add(metrics::Stage::kMemoryRead, since(t0));
        }
      }
      std::optional<GatheredBatch> batch;
      if (held_batch == b && static_cast<std::size_t>(it.pass) < held.size()) {
        batch = std::move(held[static_cast<std::size_t>(it.pass)]);  // each pass trains once
        held[static_cast<std::size_t>(it.pass)].reset();
      }
      if (batch) {
        auto t0 = Clock::now();
        torch::Tensor loss;
        const ModelOutputs out = forward(*batch, &loss);
        times.add(metrics::Stage::kForward, since(t0));
        t0 = Clock::now();
        // The all-reduce averages over all W ranks; scaling by i * n_s / N_b makes the i
        // shards' average the logical batch's gradient.
        const double weight =
            static_cast<double>(layout.i * (r.end - r.begin)) / static_cast<double>(batch_events);
        (loss * weight).backward();
        times.add(metrics::Stage::kBackward, since(t0));
        share = loss.detach().to(torch::kFloat64) *
                (static_cast<double>(r.end - r.begin) / static_cast<double>(batch_events));
        if (it.write_memory) {
          t0 = Clock::now();
          write_back(memory(), *batch, out, place.shard);
          traffic.memory_rows_written += 2 * (r.end - r.begin);  // src and dst of each event
          times.add(metrics::Stage::kMemoryWrite, since(t0));
        }
        events += r.end - r.begin;
        if (opt.metrics != nullptr) opt.metrics->add_events(r.end - r.begin);
      } else if (it.write_memory) {
        store->write(it.memory_sequence, place.shard, torch::empty({0}, torch::kLong),
                     no_rows(*store));
      } else if (it.carried && r.end > r.begin) {
        spdlog::info(
            "rank {}: pass {} of logical batch {} continued an epoch this process did "
            "not run (resumed): idle",
            group->rank(), it.pass, b);
      }
    }
    auto t0 = Clock::now();
    const std::int64_t reduced = average_gradients(*group, params);
    traffic.allreduce_bytes += reduced;
    if (opt.metrics != nullptr) opt.metrics->add_allreduce_bytes(reduced);
    // The mean loss of the logical batches trained in this iteration (one per slot and
    // group), for the log.
    std::vector<torch::Tensor> loss_share{share.reshape({1})};
    group->all_reduce_sum(loss_share);
    times.add(metrics::Stage::kAllreduce, since(t0));
    t0 = Clock::now();
    optimizer->step();
    times.add(metrics::Stage::kOptimizer, since(t0));
    const double l = loss_share[0].item<double>() / static_cast<double>(layout.j * layout.k);
    if (opt.metrics != nullptr) {
      opt.metrics->add_iteration();
      opt.metrics->set_loss(l);
    }
    publish_memory_traffic();
    loss_sum += l;
    progress.update(static_cast<std::int64_t>(t) + 1, events, l);
  }
  progress.finish();
  if (daemon) {
    traffic.memory_bytes_sent = static_cast<std::int64_t>(daemon->bytes_sent() - sent0);
    traffic.memory_bytes_received = static_cast<std::int64_t>(daemon->bytes_received() - received0);
  }
  if (group_leader()) group_next = group_next_batch(layout, place.group, batches, epoch == 1);
  seconds = progress.elapsed_seconds();
  return loss_sum / static_cast<double>(schedule.size());
}

namespace {

std::string group_key(std::int64_t epoch, std::int32_t g) {
  return fmt::format("epoch-{}/memory-group-{}", epoch, g);
}

// The group's memory once the daemon has applied every write of the epoch: a READ of no
// nodes at the expected next batch parks until then (the other ranks' writes may still be
// in flight when this rank leaves the last all-reduce).
std::vector<std::uint8_t> settled_memory_bytes(MemoryStore& store, std::int64_t next) {
  if (next >= 0) store.read_async(next, torch::empty({0}, torch::kLong)).get();
  return detail::memory_to_bytes(store);
}

}  // namespace

void Trainer::State::share_group_memory(std::int64_t epoch) {
  if (!group_leader() || group->rank() == 0) return;
  group->put_blob(group_key(epoch, place.group), settled_memory_bytes(*store, group_next));
}

std::vector<std::vector<std::uint8_t>> Trainer::State::collect_group_memory(std::int64_t epoch) {
  std::vector<std::vector<std::uint8_t>> out;
  if (!distributed()) return out;
  out.push_back(settled_memory_bytes(*store, group_next));
  for (std::int32_t g = 1; g < opt.launch.layout.k; ++g) {
    out.push_back(group->get_blob(group_key(epoch, g)));
    group->delete_blob(group_key(epoch, g));
  }
  return out;
}

std::int64_t Trainer::State::resume_distributed(const std::string& last) {
  std::vector<std::uint8_t> bytes;
  const std::string label = writer() ? last : fmt::format("rank 0's {}", last);
  if (writer()) {
    std::ifstream in(last, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw IoError(fmt::format("{}: cannot read", last));
    // Refuse another layout's checkpoint before any rank loads it.
    (void)detail::read_group_memory(last, 0, opt.launch.layout.k, &bytes);
    group->put_blob("resume/last.pt", bytes);
  } else {
    bytes = group->get_blob("resume/last.pt");
    detail::load_checkpoint(label, *model, optimizer.get(), nullptr, false, device, &bytes);
    continue_counters(detail::read_checkpoint_meta(label, &bytes));
  }
  if (group_leader()) {
    detail::memory_from_bytes(
        *store, detail::read_group_memory(label, place.group, opt.launch.layout.k, &bytes),
        fmt::format("{} (memory group {})", label, place.group));
  }
  // No rank reads its daemon before its leader has restored it.
  group->barrier();
  if (writer()) group->delete_blob("resume/last.pt");
  return meta.epoch + 1;
}

Trainer::State& Trainer::State::replica_state() {
  if (!replica) {
    // The replica's construction seeds torch's generators: keep this rank's streams.
    at::Generator cpu = torch::globalContext().defaultGenerator(torch::kCPU);
    const torch::Tensor cpu_state = cpu.get_state();
    RunOptions o;
    o.threads = opt.threads;
    o.seed = opt.seed;
    o.data_path = opt.data_path;
    o.static_memory_file = opt.static_memory_file;
    o.pipeline_depth = 0;
    TrainConfig c = cfg;
    c.runtime.device = device.str();
    replica = std::make_unique<Trainer>(ds, c, o);
    cpu.set_state(cpu_state);
  }
  return *replica->s_;
}

Trainer::State& Trainer::State::evaluator() {
  if (!distributed()) return *this;
  State& r = replica_state();
  {
    torch::NoGradGuard no_grad;
    const auto params = model->named_parameters();
    for (auto& p : r.model->named_parameters()) p.value().copy_(params[p.key()]);
    const auto buffers = model->named_buffers();
    for (auto& b : r.model->named_buffers()) b.value().copy_(buffers[b.key()]);
  }
  r.reset_memory();
  r.replay(0, ds.split.train_end);
  return r;
}

bool Trainer::State::after_epoch_stop() {
  // Rank 0 validates meanwhile: the wait covers its evaluation, not one collective.
  group->barrier(
      std::chrono::milliseconds(static_cast<std::int64_t>(opt.collective_timeout_s * 60 * 1000)));
  std::vector<torch::Tensor> flag{
      torch::zeros({1}, torch::TensorOptions().dtype(torch::kLong).device(device))};
  if (writer() && cfg.optim.patience > 0 && meta.stale_epochs >= cfg.optim.patience) {
    flag[0].fill_(1);
  }
  group->broadcast(flag, 0);
  return flag[0].item<std::int64_t>() != 0;
}

}  // namespace disttgl::trainer
