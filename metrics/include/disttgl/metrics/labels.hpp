// What every disttgl series carries: the constant labels of the exposing process (job, role,
// rank, memory_group, layout) and the disttgl_build_info gauge. Label values are bounded:
// ranks and groups are small integers fixed at start.
#pragma once

#include <prometheus/labels.h>
#include <prometheus/registry.h>

#include <string>

namespace disttgl::metrics {

/// Who is exposing: the constant labels of every series.
struct ProcessLabels {
  std::string job = "disttgl";         ///< the training job's name (empty: label left out)
  std::string role = "trainer";        ///< trainer, memory-daemon or launcher
  int rank = 0;                        ///< global rank (-1: none, e.g. a daemon or the launcher)
  int memory_group = 0;                ///< DistTGL's g (-1: none, e.g. the launcher)
  std::string layout = "i=1,j=1,k=1";  ///< empty: label left out
};

/// The constant labels of `labels`, leaving out those the process does not have (rank -1,
/// memory_group -1, empty job or layout).
prometheus::Labels constant_labels(const ProcessLabels& labels);

/// Registers disttgl_build_info{<constant labels>, version, <extra>} = 1 in `registry`.
void register_build_info(prometheus::Registry& registry, const ProcessLabels& labels,
                         const std::string& version, const prometheus::Labels& extra = {});

/// Exponential histogram buckets from `first` (seconds) growing by `factor` up to `last`.
std::vector<double> exponential_buckets(double first, double factor, double last);

}  // namespace disttgl::metrics
