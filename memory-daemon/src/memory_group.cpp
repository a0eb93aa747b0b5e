#include "memory_group.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <set>
#include <stdexcept>

namespace disttgl::memory_daemon {

namespace {

[[noreturn]] void refuse(ErrorCode code, const std::string& message) {
  throw ProtocolError(code, message);
}

std::string layout_text(const Layout& l) { return fmt::format("i={},j={},k={}", l.i, l.j, l.k); }

// Bytes of a snapshot of these dimensions (memory_state.hpp format), or nothing when that
// does not fit in 64 bits: checked before a snapshot's own dimensions allocate anything.
std::optional<std::uint64_t> snapshot_bytes_for(const Dimensions& d) {
  const auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  std::uint64_t mail = 0;
  std::uint64_t slots = 0;
  std::uint64_t memory = 0;
  std::uint64_t node = 0;
  std::uint64_t total = 0;
  if (__builtin_mul_overflow(u(d.mail_dim), std::uint64_t{4}, &mail) ||
      __builtin_add_overflow(mail, std::uint64_t{16}, &mail) ||
      __builtin_mul_overflow(mail, u(d.mailbox_size), &slots) ||
      __builtin_mul_overflow(u(d.memory_dim), std::uint64_t{4}, &memory) ||
      __builtin_add_overflow(memory, std::uint64_t{16}, &node) ||
      __builtin_add_overflow(node, slots, &node) ||
      __builtin_mul_overflow(node, u(d.num_nodes), &total) ||
      __builtin_add_overflow(total, std::uint64_t{60}, &total)) {
    return std::nullopt;
  }
  return total;
}

}  // namespace

MemoryGroup::MemoryGroup(asio::io_context& io, GroupOptions options)
    : io_(io), options_(std::move(options)) {
  if (options_.dims) state_.emplace(*options_.dims);
}

std::int32_t MemoryGroup::world() const {
  const Layout l = options_.layout.value_or(Layout{});
  return l.i * l.j;
}

HelloOk MemoryGroup::hello(const Hello& h) {
  const auto mismatch = [](const std::string& message) { refuse(ErrorCode::kMismatch, message); };
  // Everything is checked before anything is fixed: a refused HELLO leaves no trace.
  if (options_.job && *options_.job != h.job) {
    mismatch(fmt::format("job: daemon has '{}', trainer sent '{}'", *options_.job, h.job));
  }
  if (options_.memory_group && *options_.memory_group != h.memory_group) {
    mismatch(fmt::format("memory_group: daemon has {}, trainer sent {}", *options_.memory_group,
                         h.memory_group));
  }
  if (options_.layout && !(*options_.layout == h.layout)) {
    mismatch(fmt::format("layout: daemon has {}, trainer sent {}", layout_text(*options_.layout),
                         layout_text(h.layout)));
  }
  const Layout layout = options_.layout.value_or(h.layout);
  if (h.memory_group < 0 || h.memory_group >= layout.k) {
    mismatch(fmt::format("memory_group: {} is outside [0, {}) for layout {}", h.memory_group,
                         layout.k, layout_text(layout)));
  }
  const std::int64_t ranks = std::int64_t{layout.i} * layout.j;
  if (h.rank < 0 || h.rank >= ranks) {
    mismatch(fmt::format("rank: {} is outside [0, {}) for layout {} (i*j ranks per memory group)",
                         h.rank, ranks, layout_text(layout)));
  }
  if (fingerprint_ && h.dataset_fingerprint != 0 && h.dataset_fingerprint != *fingerprint_) {
    mismatch(fmt::format("dataset_fingerprint: daemon has {:#018x}, trainer sent {:#018x}",
                         *fingerprint_, h.dataset_fingerprint));
  }
  const std::pair<const char*, std::int64_t> sent[] = {{"num_nodes", h.dims.num_nodes},
                                                       {"memory_dim", h.dims.memory_dim},
                                                       {"mail_dim", h.dims.mail_dim},
                                                       {"mailbox_size", h.dims.mailbox_size}};
  std::optional<MemoryState> fresh;
  if (state_) {
    const Dimensions& d = state_->dims();
    const std::int64_t have[] = {d.num_nodes, d.memory_dim, d.mail_dim, d.mailbox_size};
    for (std::size_t f = 0; f < 4; ++f) {
      // 0 means "whatever the daemon has" (a monitoring client).
      if (sent[f].second != 0 && sent[f].second != have[f]) {
        mismatch(fmt::format("{}: daemon has {}, trainer sent {}", sent[f].first, have[f],
                             sent[f].second));
      }
    }
  } else {
    std::size_t zeros = 0;
    for (const auto& [name, value] : sent) zeros += value == 0 ? 1 : 0;
    if (zeros != 0 && zeros != 4) {
      for (const auto& [name, value] : sent) {
        if (value == 0) {
          mismatch(
              fmt::format("{}: the daemon has no dimensions yet, so the first trainer HELLO "
                          "must give all four; trainer sent 0",
                          name));
        }
      }
    }
    if (zeros == 0) {
      try {
        fresh.emplace(h.dims);
      } catch (const std::exception& e) {
        mismatch(fmt::format(
            "dimensions num_nodes {}, memory_dim {}, mail_dim {}, mailbox_size "
            "{}: cannot allocate the state ({})",
            h.dims.num_nodes, h.dims.memory_dim, h.dims.mail_dim, h.dims.mailbox_size, e.what()));
      }
    }
  }
  if (!options_.job) options_.job = h.job;
  if (!options_.memory_group) options_.memory_group = h.memory_group;
  if (!options_.layout) options_.layout = layout;
  if (!fingerprint_ && h.dataset_fingerprint != 0) fingerprint_ = h.dataset_fingerprint;
  if (fresh) {
    state_ = std::move(fresh);
    spdlog::info(
        "dimensions fixed by the first trainer HELLO: num_nodes {}, memory_dim {}, "
        "mail_dim {}, mailbox_size {} ({} bytes of state)",
        h.dims.num_nodes, h.dims.memory_dim, h.dims.mail_dim, h.dims.mailbox_size,
        state_->state_bytes());
  }
  HelloOk ok;
  if (state_) ok.dims = state_->dims();
  ok.next_batch = next_batch_;
  ok.daemon_version = options_.daemon_version;
  return ok;
}

const Dimensions& MemoryGroup::dims_or_throw(MsgType request) const {
  if (!state_) {
    refuse(ErrorCode::kBadRowSize,
           fmt::format("{}: the daemon has no dimensions yet (no --nodes flag and no trainer "
                       "HELLO carried them)",
                       type_name(request)));
  }
  return state_->dims();
}

void MemoryGroup::read(const ReplyTo& to, std::vector<std::byte> payload, std::size_t offset,
                       std::optional<ShmTarget> target) {
  const Dimensions& d = dims_or_throw(MsgType::kRead);
  const ReadRequest req = decode_read(std::span<const std::byte>(payload).subspan(offset));
  if (target) {
    const std::uint64_t need = 16 + rows_bytes(static_cast<std::int64_t>(req.nodes.size()),
                                               d.mailbox_size, d.memory_dim, d.mail_dim);
    if (need > target->segment->slot_bytes()) {
      refuse(ErrorCode::kBadRowSize,
             fmt::format("READ_SHM of {} nodes needs {} bytes, the slot holds {} (use READ)",
                         req.nodes.size(), need, target->segment->slot_bytes()));
    }
  }
  if (const std::int64_t bad = state_->first_out_of_range(req.nodes); bad >= 0) {
    refuse(ErrorCode::kNodeOutOfRange,
           fmt::format("READ node id {} at position {} is outside [0, {})",
                       req.nodes[static_cast<std::size_t>(bad)], bad, d.num_nodes));
  }
  // The reply must fit the peer's frame limit; per-row bytes fit 64 bits since the state does.
  const std::uint64_t row = rows_bytes(1, d.mailbox_size, d.memory_dim, d.mail_dim);
  if (req.nodes.size() > (options_.max_payload_bytes - 16) / row) {
    refuse(ErrorCode::kFrameTooLarge,
           fmt::format("READ of {} nodes needs a reply of {} bytes, over the frame limit of {}",
                       req.nodes.size(), 16 + row * req.nodes.size(), options_.max_payload_bytes));
  }
  if (req.batch < next_batch_) {
    refuse(ErrorCode::kBatchOrder,
           fmt::format("READ for batch {} arrived after batch {} was written (next_batch is {})",
                       req.batch, next_batch_ - 1, next_batch_));
  }
  if (req.batch == next_batch_) return answer_read(to, req.nodes, target);
  // Its batch's turn has not come: park it until the writes of every earlier batch are in.
  const std::uint64_t key = next_key_++;
  Waiter& w = reads_[key];
  w.to = to;
  w.batch = req.batch;
  w.nodes = req.nodes;  // points into the payload's heap buffer, which the move keeps
  w.payload = std::move(payload);
  w.target = std::move(target);
  w.timer = start_timer(key, true);
}

void MemoryGroup::answer_read(const ReplyTo& to, std::span<const std::int64_t> nodes,
                              const std::optional<ShmTarget>& target) {
  if (!to.alive()) return;
  const Dimensions& d = state_->dims();
  if (target) {
    // The rows go straight from the state into the client's slot (one copy); the reply
    // only says how many bytes are there. The size was checked when the READ arrived.
    std::uint64_t bytes = 0;
    const MutableRows rows = place_read_ok(target->segment->read_slot(target->slot),
                                           static_cast<std::int64_t>(nodes.size()), d, bytes);
    state_->read(nodes, rows);
    if (to.counters != nullptr) to.counters->add_out(bytes);  // rows through shared memory
    return to.ok(MsgType::kReadShmOk, encode_i64(static_cast<std::int64_t>(bytes)));
  }
  std::vector<std::byte> reply = make_read_ok(static_cast<std::int64_t>(nodes.size()), d);
  state_->read(nodes, read_ok_rows(reply, d));
  to.ok(MsgType::kReadOk, std::move(reply));
}

std::int64_t MemoryGroup::write(std::vector<std::byte> payload) {
  const Dimensions& d = dims_or_throw(MsgType::kWrite);
  const WriteRequest req = decode_write(payload, d);
  const Layout layout = options_.layout.value_or(Layout{});
  if (req.batch != next_batch_) {
    refuse(ErrorCode::kBatchOrder,
           fmt::format("WRITE for batch {} (shard {}), but the daemon expects batch {}", req.batch,
                       req.shard, next_batch_));
  }
  if (req.shard < 0 || req.shard >= layout.i) {
    refuse(ErrorCode::kBatchOrder, fmt::format("WRITE shard {} is outside [0, {}) for layout {}",
                                               req.shard, layout.i, layout_text(layout)));
  }
  shards_.resize(static_cast<std::size_t>(layout.i));
  auto& slot = shards_[static_cast<std::size_t>(req.shard)];
  if (slot) {
    refuse(ErrorCode::kBatchOrder,
           fmt::format("WRITE shard {} of batch {} was already received", req.shard, req.batch));
  }
  if (const std::int64_t bad = state_->first_out_of_range(req.nodes); bad >= 0) {
    refuse(ErrorCode::kNodeOutOfRange,
           fmt::format("WRITE node id {} at position {} is outside [0, {})",
                       req.nodes[static_cast<std::size_t>(bad)], bad, d.num_nodes));
  }
  if (layout.i == 1) {
    state_->write(req.nodes, req.rows);
    ++next_batch_;
  } else {
    slot.emplace(BufferedShard{std::move(payload), req});  // the views survive the move
    bool complete = true;
    for (const auto& s : shards_) complete = complete && s.has_value();
    if (complete) {
      try {
        apply_batch();
      } catch (...) {
        slot.reset();  // whole or not at all: this shard was not accepted
        throw;
      }
    }
  }
  answer_ready_reads();
  return next_batch_;
}

void MemoryGroup::apply_batch() {
  const Dimensions& d = state_->dims();
  std::size_t n = 0;
  for (const auto& s : shards_) n += s->request.nodes.size();
  // One write of the shards' concatenation in shard order: each node ends with its last
  // occurrence across the whole logical batch and gets one mail (DistTGL's union mask).
  std::vector<std::int64_t> nodes;
  std::vector<float> memory;
  std::vector<double> memory_ts;
  std::vector<float> mail;
  std::vector<double> mail_ts;
  std::vector<std::int64_t> mail_eid;
  nodes.reserve(n);
  memory.reserve(n * static_cast<std::size_t>(d.memory_dim));
  memory_ts.reserve(n);
  mail.reserve(n * static_cast<std::size_t>(d.mail_dim));
  mail_ts.reserve(n);
  mail_eid.reserve(n);
  for (const auto& s : shards_) {
    const WriteRequest& r = s->request;
    nodes.insert(nodes.end(), r.nodes.begin(), r.nodes.end());
    memory.insert(memory.end(), r.rows.memory.begin(), r.rows.memory.end());
    memory_ts.insert(memory_ts.end(), r.rows.memory_ts.begin(), r.rows.memory_ts.end());
    mail.insert(mail.end(), r.rows.mail.begin(), r.rows.mail.end());
    mail_ts.insert(mail_ts.end(), r.rows.mail_ts.begin(), r.rows.mail_ts.end());
    mail_eid.insert(mail_eid.end(), r.rows.mail_eid.begin(), r.rows.mail_eid.end());
  }
  RowsView rows;
  rows.n = static_cast<std::int64_t>(n);
  rows.slots = 1;
  rows.memory = memory;
  rows.memory_ts = memory_ts;
  rows.mail = mail;
  rows.mail_ts = mail_ts;
  rows.mail_eid = mail_eid;
  state_->write(nodes, rows);
  for (auto& s : shards_) s.reset();
  ++next_batch_;
}

void MemoryGroup::answer_ready_reads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.batch != next_batch_) {
      ++it;
      continue;
    }
    Waiter w = std::move(it->second);
    it = reads_.erase(it);
    w.timer.reset();  // cancels its wait; the handler finds no entry
    answer_read(w.to, w.nodes, w.target);
  }
}

void MemoryGroup::fail_reads(ErrorCode code, const std::string& why) {
  std::map<std::uint64_t, Waiter> reads;
  reads.swap(reads_);
  for (auto& [key, w] : reads) {
    w.to.error(code, fmt::format("READ for batch {} aborted: {}", w.batch, why));
  }
}

void MemoryGroup::reset(const ReplyTo& to, std::int32_t rank) {
  const std::uint64_t key = next_key_++;
  Waiter& w = resets_[key];
  w.to = to;
  w.rank = rank;
  std::set<std::int32_t> asked;
  for (const auto& [k, r] : resets_) asked.insert(r.rank);
  if (static_cast<std::int64_t>(asked.size()) >= world()) return complete_reset();
  w.timer = start_timer(key, false);
}

void MemoryGroup::complete_reset() {
  if (state_) state_->reset();
  next_batch_ = 0;
  for (auto& s : shards_) s.reset();
  fail_reads(ErrorCode::kAborted, "the memory group was RESET");
  std::map<std::uint64_t, Waiter> resets;
  resets.swap(resets_);
  spdlog::info("RESET: every rank of memory group {} asked; state zeroed, next_batch 0",
               options_.memory_group.value_or(0));
  for (auto& [key, w] : resets) {
    w.timer.reset();
    w.to.ok(MsgType::kResetOk, encode_i64(0));
  }
}

std::unique_ptr<asio::steady_timer> MemoryGroup::start_timer(std::uint64_t key, bool is_read) {
  auto timer = std::make_unique<asio::steady_timer>(io_);
  timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options_.wait_timeout_s)));
  // Only the key is captured: a waiter answered or dropped meanwhile is simply not found.
  timer->async_wait([this, key, is_read](const boost::system::error_code& ec) {
    if (ec) return;
    if (is_read) {
      on_read_timeout(key);
    } else {
      on_reset_timeout(key);
    }
  });
  return timer;
}

std::string MemoryGroup::shards_text() const {
  const std::int32_t i = options_.layout.value_or(Layout{}).i;
  std::vector<std::int32_t> got;
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    if (shards_[s]) got.push_back(static_cast<std::int32_t>(s));
  }
  return fmt::format("[{}] of {}", fmt::join(got, ", "), i);
}

std::string MemoryGroup::timeout_text() const {
  return fmt::format("{:g}", options_.wait_timeout_s);
}

void MemoryGroup::on_read_timeout(std::uint64_t key) {
  const auto it = reads_.find(key);
  if (it == reads_.end()) return;
  Waiter w = std::move(it->second);
  reads_.erase(it);
  w.to.error(ErrorCode::kTimeout,
             fmt::format("READ for batch {} waited {} s; writes of batch {} have not arrived "
                         "(shards received: {}; a trainer sends a READ up to its pipeline depth "
                         "of batches early, so --wait-timeout must exceed that many batches' "
                         "compute time)",
                         w.batch, timeout_text(), next_batch_, shards_text()));
  publish();
}

void MemoryGroup::on_reset_timeout(std::uint64_t key) {
  const auto it = resets_.find(key);
  if (it == resets_.end()) return;
  Waiter w = std::move(it->second);
  resets_.erase(it);
  std::set<std::int32_t> asked;
  for (const auto& [k, r] : resets_) asked.insert(r.rank);
  asked.insert(w.rank);
  std::vector<std::int32_t> missing;
  for (std::int32_t r = 0; r < world(); ++r) {
    if (asked.count(r) == 0) missing.push_back(r);
  }
  w.to.error(
      ErrorCode::kTimeout,
      fmt::format("RESET waited {} s for every rank of memory group {}; ranks that have "
                  "not asked: {}",
                  timeout_text(), options_.memory_group.value_or(0), fmt::join(missing, ", ")));
  publish();
}

std::vector<std::byte> MemoryGroup::snapshot(std::span<const std::byte> payload) {
  const SnapshotRequest req = decode_snapshot_request(payload);
  if (!state_) {
    refuse(ErrorCode::kBadSnapshot,
           "SNAPSHOT: there is no state yet (the dimensions are not known)");
  }
  const std::vector<std::byte> bytes = state_->snapshot(next_batch_);
  if (req.inline_bytes) return encode_snapshot_ok_inline(bytes);
  write_file_atomic(req.path, bytes);
  spdlog::info("snapshot of next_batch {} written to {} ({} bytes)", next_batch_, req.path,
               bytes.size());
  return encode_snapshot_ok_file(bytes.size());
}

std::int64_t MemoryGroup::restore(std::span<const std::byte> payload) {
  const RestoreRequest req = decode_restore_request(payload);
  if (req.inline_bytes) {
    restore_bytes(req.bytes, "inline RESTORE");
  } else {
    restore_bytes(read_file(req.path), req.path);
  }
  return next_batch_;
}

void MemoryGroup::restore_bytes(std::span<const std::byte> bytes, const std::string& source) {
  std::int64_t next = 0;
  if (state_) {
    next = state_->restore(bytes);  // validates everything before it changes anything
  } else {
    // No dimensions yet: the snapshot's own, once its length proves them.
    const Dimensions d = MemoryState::snapshot_dims(bytes, &next);
    const auto want = snapshot_bytes_for(d);
    if (!want || *want != bytes.size()) {
      refuse(ErrorCode::kBadSnapshot,
             fmt::format("snapshot: length is {} bytes, which does not fit its dimensions",
                         bytes.size()));
    }
    MemoryState fresh(d);
    next = fresh.restore(bytes);
    state_ = std::move(fresh);
  }
  next_batch_ = next;
  for (auto& s : shards_) s.reset();
  fail_reads(ErrorCode::kAborted, fmt::format("the state was restored (next_batch {})", next));
  spdlog::info("state restored from {}: next_batch {}, checksum {:#010x}", source, next,
               state_->checksum());
}

std::size_t MemoryGroup::drop_connection(std::uint64_t conn_id) {
  std::size_t dropped = 0;
  for (auto* waiters : {&reads_, &resets_}) {
    for (auto it = waiters->begin(); it != waiters->end();) {
      if (it->second.to.conn_id == conn_id) {
        it = waiters->erase(it);
        ++dropped;
      } else {
        ++it;
      }
    }
  }
  return dropped;
}

void MemoryGroup::abort_waiting(ErrorCode code, const std::string& why) {
  fail_reads(code, why);
  std::map<std::uint64_t, Waiter> resets;
  resets.swap(resets_);
  for (auto& [key, w] : resets) w.to.error(code, "RESET aborted: " + why);
}

void MemoryGroup::add_stats(nlohmann::json& out) const {
  using nlohmann::json;
  out["job"] = options_.job ? json(*options_.job) : json(nullptr);
  out["memory_group"] = options_.memory_group ? json(*options_.memory_group) : json(nullptr);
  if (options_.layout) {
    out["layout"] = {
        {"i", options_.layout->i}, {"j", options_.layout->j}, {"k", options_.layout->k}};
  } else {
    out["layout"] = nullptr;
  }
  const Dimensions d = state_ ? state_->dims() : Dimensions{};
  out["dims"] = {{"num_nodes", d.num_nodes},
                 {"memory_dim", d.memory_dim},
                 {"mail_dim", d.mail_dim},
                 {"mailbox_size", d.mailbox_size}};
  out["next_batch"] = next_batch_;
  json received = json::array();
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    if (shards_[s]) received.push_back(s);
  }
  out["shards_received"] = received;
  out["pending_reads"] = reads_.size();
  out["pending_resets"] = resets_.size();
  out["state_bytes"] = state_ ? state_->state_bytes() : 0;
  out["state_checksum"] = state_ ? state_->checksum() : 0;
  out["dataset_fingerprint"] = fingerprint_.value_or(0);
}

void MemoryGroup::publish() const {
  metrics::DaemonMetrics* m = options_.metrics;
  if (m == nullptr) return;
  if (state_) m->set_state(state_->dims().num_nodes, state_->state_bytes());
  m->set_waiting_requests(reads_.size() + resets_.size());
  m->set_next_batch(next_batch_);
}

}  // namespace disttgl::memory_daemon
