#include "disttgl/metrics/daemon_metrics.hpp"

#include <cctype>

namespace disttgl::metrics {

DaemonMetrics::DaemonMetrics(prometheus::Registry& registry, const ProcessLabels& labels,
                             const std::string& version) {
  const prometheus::Labels c = constant_labels(labels);
  auto& requests = prometheus::BuildCounter()
                       .Name("disttgl_daemon_requests_total")
                       .Help("Requests answered, by operation and outcome (ok or error).")
                       .Labels(c)
                       .Register(registry);
  // A READ is answered in microseconds when its batch is due and waits out other ranks'
  // writes otherwise (up to --wait-timeout): 10 us to ~100 s.
  auto& latency = prometheus::BuildHistogram()
                      .Name("disttgl_daemon_request_seconds")
                      .Help("Time from a request's arrival to its reply, by operation.")
                      .Labels(c)
                      .Register(registry);
  for (std::size_t i = 0; i < kDaemonOps.size(); ++i) {
    const std::string op(kDaemonOps[i]);
    requests_[i].ok = &requests.Add({{"op", op}, {"outcome", "ok"}});
    requests_[i].error = &requests.Add({{"op", op}, {"outcome", "error"}});
    latency_[i] = &latency.Add({{"op", op}}, exponential_buckets(1e-5, 4, 100));
  }
  auto& traffic = prometheus::BuildCounter()
                      .Name("disttgl_daemon_traffic_bytes_total")
                      .Help("Bytes received from and sent to trainers (frames and shared memory).")
                      .Labels(c)
                      .Register(registry);
  bytes_in_ = &traffic.Add({{"direction", "in"}});
  bytes_out_ = &traffic.Add({{"direction", "out"}});
  const auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Labels(c).Register(registry).Add({});
  };
  nodes_ = gauge("disttgl_daemon_nodes", "Nodes whose memory and mailbox the daemon holds.");
  state_bytes_ = gauge("disttgl_daemon_state_bytes", "Size of the node memory and mailbox held.");
  waiting_ = gauge("disttgl_daemon_waiting_requests",
                   "Requests waiting for their batch turn or for the other ranks (READ, RESET).");
  trainers_ = gauge("disttgl_daemon_connected_trainers", "Trainer connections past HELLO.");
  next_batch_ = gauge("disttgl_daemon_next_batch", "The next logical batch the daemon applies.");
  register_build_info(registry, labels, version);
}

std::size_t DaemonMetrics::op_index(std::string_view type_name) {
  for (std::size_t i = 0; i + 1 < kDaemonOps.size(); ++i) {
    const std::string_view op = kDaemonOps[i];
    if (op.size() != type_name.size()) continue;
    bool same = true;
    for (std::size_t c = 0; c < op.size() && same; ++c) {
      same = std::tolower(static_cast<unsigned char>(type_name[c])) == op[c];
    }
    if (same) return i;
  }
  return kDaemonOps.size() - 1;
}

void DaemonMetrics::record_request(std::size_t op, bool ok, double seconds) {
  if (op >= kDaemonOps.size()) op = kDaemonOps.size() - 1;
  (ok ? requests_[op].ok : requests_[op].error)->Increment();
  if (seconds >= 0) latency_[op]->Observe(seconds);  // negative: counted, not timed
}
void DaemonMetrics::add_bytes_in(std::uint64_t bytes) {
  bytes_in_->Increment(static_cast<double>(bytes));
}
void DaemonMetrics::add_bytes_out(std::uint64_t bytes) {
  bytes_out_->Increment(static_cast<double>(bytes));
}
void DaemonMetrics::set_state(std::int64_t nodes, std::uint64_t state_bytes) {
  nodes_->Set(static_cast<double>(nodes));
  state_bytes_->Set(static_cast<double>(state_bytes));
}
void DaemonMetrics::set_waiting_requests(std::size_t requests) {
  waiting_->Set(static_cast<double>(requests));
}
void DaemonMetrics::set_connected_trainers(std::size_t trainers) {
  trainers_->Set(static_cast<double>(trainers));
}
void DaemonMetrics::set_next_batch(std::int64_t batch) {
  next_batch_->Set(static_cast<double>(batch));
}

}  // namespace disttgl::metrics
