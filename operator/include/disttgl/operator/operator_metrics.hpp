// The operator's Prometheus metrics, in the trainer's conventions (docs/observability.md):
// reconciles by outcome and their latency, the work queue's depth, API requests by verb and
// HTTP code, watch restarts by resource, jobs by phase, and whether this replica leads.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

namespace disttgl::op {

class OperatorMetrics {
 public:
  OperatorMetrics(prometheus::Registry& registry, const std::string& version);
  void reconciled(bool ok, double seconds);
  void api_request(const std::string& verb, int code);
  void watch_restart(const std::string& resource);
  void set_queue_depth(std::size_t keys);
  /// Jobs by status.phase ("" counts as Pending); phases not given are set to 0.
  void set_jobs(const std::map<std::string, int>& by_phase);
  void set_leader(bool leading);

 private:
  prometheus::Family<prometheus::Counter>& api_;
  prometheus::Family<prometheus::Counter>& watches_;
  prometheus::Counter* ok_;
  prometheus::Counter* failed_;
  prometheus::Histogram* latency_;
  prometheus::Gauge* queue_;
  prometheus::Gauge* leader_;
  std::map<std::string, prometheus::Gauge*> phases_;
};

}  // namespace disttgl::op
