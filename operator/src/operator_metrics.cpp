#include "disttgl/operator/operator_metrics.hpp"

#include "disttgl/metrics/labels.hpp"

namespace disttgl::op {

OperatorMetrics::OperatorMetrics(prometheus::Registry& registry, const std::string& version)
    : api_(prometheus::BuildCounter()
               .Name("disttgl_operator_api_requests_total")
               .Help("Kubernetes API requests by verb and HTTP status code.")
               .Labels({{"role", "operator"}})
               .Register(registry)),
      watches_(prometheus::BuildCounter()
                   .Name("disttgl_operator_watch_restarts_total")
                   .Help("Watches (re)started, by resource.")
                   .Labels({{"role", "operator"}})
                   .Register(registry)) {
  const prometheus::Labels c = {{"role", "operator"}};
  auto& reconciles = prometheus::BuildCounter()
                         .Name("disttgl_operator_reconciles_total")
                         .Help("Reconciles of a TGNNJob, by outcome.")
                         .Labels(c)
                         .Register(registry);
  ok_ = &reconciles.Add({{"outcome", "ok"}});
  failed_ = &reconciles.Add({{"outcome", "error"}});
  latency_ = &prometheus::BuildHistogram()
                  .Name("disttgl_operator_reconcile_seconds")
                  .Help("Time of one reconcile, API calls included.")
                  .Labels(c)
                  .Register(registry)
                  .Add({}, metrics::exponential_buckets(1e-4, 4, 100));
  queue_ = &prometheus::BuildGauge()
                .Name("disttgl_operator_queue_depth")
                .Help("Jobs waiting in the work queue (due now or later).")
                .Labels(c)
                .Register(registry)
                .Add({});
  leader_ = &prometheus::BuildGauge()
                 .Name("disttgl_operator_is_leader")
                 .Help("1 while this replica holds the leader Lease.")
                 .Labels(c)
                 .Register(registry)
                 .Add({});
  auto& jobs = prometheus::BuildGauge()
                   .Name("disttgl_operator_jobs")
                   .Help("TGNNJobs by status.phase.")
                   .Labels(c)
                   .Register(registry);
  for (const char* p :
       {"Pending", "Starting", "Running", "Restarting", "Succeeded", "Failed", "Suspended"}) {
    phases_[p] = &jobs.Add({{"phase", p}});
  }
  metrics::ProcessLabels l;
  l.job = "";
  l.role = "operator";
  l.rank = -1;
  l.memory_group = -1;
  l.layout = "";
  metrics::register_build_info(registry, l, version);
}

void OperatorMetrics::reconciled(bool ok, double seconds) {
  (ok ? ok_ : failed_)->Increment();
  latency_->Observe(seconds);
}
void OperatorMetrics::api_request(const std::string& verb, int code) {
  api_.Add({{"verb", verb}, {"code", std::to_string(code)}}).Increment();
}
void OperatorMetrics::watch_restart(const std::string& resource) {
  watches_.Add({{"resource", resource}}).Increment();
}
void OperatorMetrics::set_queue_depth(std::size_t keys) { queue_->Set(static_cast<double>(keys)); }
void OperatorMetrics::set_jobs(const std::map<std::string, int>& by_phase) {
  for (auto& [phase, g] : phases_) {
    const auto it = by_phase.find(phase);
    g->Set(it == by_phase.end() ? 0 : it->second);
  }
}
void OperatorMetrics::set_leader(bool leading) { leader_->Set(leading ? 1 : 0); }

}  // namespace disttgl::op
