#include "disttgl/metrics/launcher_metrics.hpp"

namespace disttgl::metrics {

LauncherMetrics::LauncherMetrics(prometheus::Registry& registry, const ProcessLabels& labels,
                                 const std::string& version, int desired_trainers,
                                 int desired_daemons) {
  const prometheus::Labels c = constant_labels(labels);
  auto& running = prometheus::BuildGauge()
                      .Name("disttgl_launcher_processes")
                      .Help("Child processes running, by kind (trainer or memory-daemon).")
                      .Labels(c)
                      .Register(registry);
  auto& desired = prometheus::BuildGauge()
                      .Name("disttgl_launcher_desired_processes")
                      .Help("Child processes the layout asks for, by kind.")
                      .Labels(c)
                      .Register(registry);
  auto& exits = prometheus::BuildCounter()
                    .Name("disttgl_launcher_process_exits_total")
                    .Help("Child processes that exited, by kind and outcome (success or failure).")
                    .Labels(c)
                    .Register(registry);
  for (const bool daemon : {false, true}) {
    const std::string child = daemon ? "memory-daemon" : "trainer";
    Kind& k = kind(daemon);
    k.running = &running.Add({{"child", child}});
    k.success = &exits.Add({{"child", child}, {"outcome", "success"}});
    k.failure = &exits.Add({{"child", child}, {"outcome", "failure"}});
    desired.Add({{"child", child}}).Set(daemon ? desired_daemons : desired_trainers);
  }
  register_build_info(registry, labels, version);
}

void LauncherMetrics::started(bool daemon) { kind(daemon).running->Increment(); }

void LauncherMetrics::exited(bool daemon, bool success) {
  Kind& k = kind(daemon);
  k.running->Decrement();
  (success ? k.success : k.failure)->Increment();
}

}  // namespace disttgl::metrics
