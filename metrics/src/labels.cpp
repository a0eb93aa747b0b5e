#include "disttgl/metrics/labels.hpp"

#include <prometheus/gauge.h>

namespace disttgl::metrics {

prometheus::Labels constant_labels(const ProcessLabels& l) {
  prometheus::Labels out;
  if (!l.job.empty()) out["job"] = l.job;
  out["role"] = l.role;
  if (l.rank >= 0) out["rank"] = std::to_string(l.rank);
  if (l.memory_group >= 0) out["memory_group"] = std::to_string(l.memory_group);
  if (!l.layout.empty()) out["layout"] = l.layout;
  return out;
}

void register_build_info(prometheus::Registry& registry, const ProcessLabels& labels,
                         const std::string& version, const prometheus::Labels& extra) {
  prometheus::Labels info = constant_labels(labels);
  info["version"] = version;
  for (const auto& [k, v] : extra) info[k] = v;
  prometheus::BuildGauge()
      .Name("disttgl_build_info")
      .Help("Build and runtime of this process (always 1).")
      .Register(registry)
      .Add(info)
      .Set(1);
}

std::vector<double> exponential_buckets(double first, double factor, double last) {
  std::vector<double> b;
  for (double v = first; v <= last * (1 + 1e-9); v *= factor) b.push_back(v);
  return b;
}

}  // namespace disttgl::metrics
