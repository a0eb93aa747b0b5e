// The children of a TGNNJob: the headless Service and the pods of one attempt, with the launch
// contract's environment (docs/launch-contract.md) and DistTGL's placement (a memory group's
// trainers beside its daemon on one node; groups spread over nodes).
#include <fmt/format.h>

#include <string>
#include <vector>

#include "disttgl/operator/reconcile.hpp"

namespace disttgl::op {
namespace {

constexpr int kDaemonPort = 7070;
constexpr int kMasterPort = 29500;
constexpr const char* kDataMount = "/data";
constexpr const char* kRunMount = "/run/disttgl";

json labels(const Job& job, const std::string& role, std::int64_t attempt) {
  return {{"app.kubernetes.io/name", "disttgl"},
          {"app.kubernetes.io/managed-by", "disttgl-operator"},
          {"disttgl.io/job", job.name},
          {"disttgl.io/role", role},
          {"disttgl.io/attempt", std::to_string(attempt)}};
}

json owner_reference(const Job& job) {
  return json::array({{{"apiVersion", fmt::format("{}/{}", kGroup, kVersion)},
                       {"kind", kKind},
                       {"name", job.name},
                       {"uid", job.uid},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

// A volume named `name` from a volume source (the spec's free-form core/v1 JSON).
json volume(const std::string& name, const json& source) {
  json v = source;
  v["name"] = name;
  return v;
}

std::string host(const Job& job, const std::string& pod) {
  // <pod>.<service>: resolvable through the headless Service (publishNotReadyAddresses).
  return fmt::format("{}.{}", pod, service_name(job));
}

json resources_for(const RoleSpec& role) {
  json r = role.resources.is_object() ? role.resources : json::object();
  if (role.gpus > 0) {
    r["limits"]["nvidia.com/gpu"] = role.gpus;
    r["requests"]["nvidia.com/gpu"] = role.gpus;
  }
  return r;
}

// The shared pod skeleton of a role.
json pod_base(const Job& job, const RoleSpec& role, const std::string& name, json pod_labels) {
  json spec = {{"restartPolicy", "Never"},
               {"hostname", name},
               {"subdomain", service_name(job)},
               {"enableServiceLinks", false},
               // Trainers and daemons never call the Kubernetes API: no token in the pod.
               {"automountServiceAccountToken", false},
               // Restricted Pod Security: the images run as a non-root user.
               {"securityContext",
                {{"runAsNonRoot", true}, {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
               {"terminationGracePeriodSeconds", 30}};
  if (!role.node_selector.empty()) spec["nodeSelector"] = role.node_selector;
  if (!role.tolerations.empty()) spec["tolerations"] = role.tolerations;
  if (!role.affinity.empty()) spec["affinity"] = role.affinity;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", job.ns},
            {"labels", std::move(pod_labels)},
            {"ownerReferences", owner_reference(job)}}},
          {"spec", std::move(spec)}};
}

// Preferred placement unless the user gave an affinity of their own: trainers of group g beside
// daemon g, and daemons of different groups on different nodes.
void add_placement(json& pod, const Job& job, int group, bool daemon) {
  json& spec = pod["spec"];
  if (spec.contains("affinity")) return;
  const json same_group = {
      {"matchLabels", {{"disttgl.io/job", job.name}, {"disttgl.io/group", std::to_string(group)}}}};
  const json other_groups = {
      {"matchLabels", {{"disttgl.io/job", job.name}, {"disttgl.io/role", "memory-daemon"}}},
      {"matchExpressions", json::array({{{"key", "disttgl.io/group"},
                                         {"operator", "NotIn"},
                                         {"values", json::array({std::to_string(group)})}}})}};
  const auto term = [](const json& selector, int weight) {
    return json{{"weight", weight},
                {"podAffinityTerm",
                 {{"labelSelector", selector}, {"topologyKey", "kubernetes.io/hostname"}}}};
  };
  json affinity = json::object();
  if (!daemon) {
    affinity["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] =
        json::array({term(same_group, 100)});
  }
  affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] =
      json::array({term(other_groups, 50)});
  spec["affinity"] = affinity;
}

json container_security() {
  return {{"allowPrivilegeEscalation", false}, {"capabilities", {{"drop", json::array({"ALL"})}}}};
}

json env(const std::string& name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

// The pod's own IP through the downward API: daemons and trainers listen there (a wildcard
// address would also answer on any other interface the pod has).
json pod_ip_env(const std::string& name) {
  return {{"name", name}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}};
}

// Flags of `train` that --resume refuses: the run's config.yaml fixes them.
const std::vector<std::string> kFixedByTheRun = {"--config", "--batch-size", "--precision", "--lr"};

// `args` without `flags`, each given as "--flag VALUE" or "--flag=VALUE".
std::vector<std::string> without_flags(const std::vector<std::string>& args,
                                       const std::vector<std::string>& flags) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    bool drop = false;
    for (const auto& f : flags) {
      if (args[i] == f) {
        drop = true;
        ++i;  // its value
        break;
      }
      if (args[i].rfind(f + "=", 0) == 0) drop = true;
    }
    if (!drop) out.push_back(args[i]);
  }
  return out;
}

bool has_flag(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args) {
    if (a == flag || a.rfind(flag + "=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::string service_name(const Job& job) { return job.name; }

std::string daemon_pod_name(const Job& job, std::int64_t attempt, int group) {
  return fmt::format("{}-a{}-daemon-{}", job.name, attempt, group);
}

std::string trainer_pod_name(const Job& job, std::int64_t attempt, int rank) {
  return fmt::format("{}-a{}-rank-{}", job.name, attempt, rank);
}

json headless_service(const Job& job) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", service_name(job)},
            {"namespace", job.ns},
            {"labels", {{"app.kubernetes.io/name", "disttgl"}, {"disttgl.io/job", job.name}}},
            {"ownerReferences", owner_reference(job)}}},
          {"spec",
           {{"clusterIP", "None"},
            // Ranks resolve each other and their daemon before they are Ready.
            {"publishNotReadyAddresses", true},
            {"selector", {{"disttgl.io/job", job.name}}},
            {"ports", json::array({{{"name", "memory"}, {"port", kDaemonPort}},
                                   {{"name", "rendezvous"}, {"port", kMasterPort}},
                                   {{"name", "metrics"}, {"port", job.spec.metrics_port}}})}}}};
}

json daemon_pod(const Job& job, std::int64_t attempt, int group) {
  const JobSpec& s = job.spec;
  json l = labels(job, "memory-daemon", attempt);
  l["disttgl.io/group"] = std::to_string(group);
  json pod = pod_base(job, s.daemon, daemon_pod_name(job, attempt, group), l);
  json container = {
      {"name", "memory-daemon"},
      {"image", s.daemon.image},
      {"imagePullPolicy", s.daemon.image_pull_policy},
      {"command", json::array({"disttgl-memory-daemon"})},
      // $(VAR) is expanded by the kubelet from the container's env. The daemon splits HOST:PORT
      // at the last colon, so a bare IPv6 pod IP works too.
      {"args",
       json::array({"--listen", fmt::format("$(DISTTGL_POD_IP):{}", kDaemonPort), "--layout",
                    to_string(s.layout), "--memory-group", std::to_string(group), "--job", job.name,
                    "--metrics-port", std::to_string(s.metrics_port), "--metrics-address",
                    "$(DISTTGL_POD_IP)"})},
      {"env", json::array({pod_ip_env("DISTTGL_POD_IP")})},
      {"ports", json::array({{{"name", "memory"}, {"containerPort", kDaemonPort}},
                             {{"name", "metrics"}, {"containerPort", s.metrics_port}}})},
      {"readinessProbe",
       {{"tcpSocket", {{"port", kDaemonPort}}}, {"periodSeconds", 2}, {"failureThreshold", 3}}},
      {"resources", resources_for(s.daemon)},
      {"securityContext", container_security()}};
  pod["spec"]["containers"] = json::array({container});
  add_placement(pod, job, group, true);
  return pod;
}

json trainer_pod(const Job& job, std::int64_t attempt, int rank) {
  const JobSpec& s = job.spec;
  const RankPlace place = place_of(s.layout, rank, "spec.layout");
  json l = labels(job, "trainer", attempt);
  l["disttgl.io/rank"] = std::to_string(rank);
  l["disttgl.io/group"] = std::to_string(place.group);
  const std::string name = trainer_pod_name(job, attempt, rank);
  json pod = pod_base(job, s.trainer, name, l);
  const std::string run_dir = fmt::format("{}/{}", kRunMount, s.checkpoint_path);
  // A restarted group continues the run when rank 0 has validated (and so checkpointed) an
  // epoch on a persistent volume; otherwise it starts over.
  const bool resume = attempt > 0 && job.status.progress.validation_ap.has_value() &&
                      s.checkpoint_volume.has_value();
  json args = json::array({"train", "--data", fmt::format("{}/{}", kDataMount, s.dataset_path)});
  // A resumed run trains exactly as it started, from the run's own config.yaml: the trainer
  // refuses what would reshape it (--config, --batch-size, --precision, --lr) with --resume.
  if (!resume) {
    args.push_back("--config");
    args.push_back(s.model_preset.empty()
                       ? "/etc/disttgl/config/" + s.config_map_key
                       : fmt::format("/opt/disttgl/configs/{}.yaml", s.model_preset));
    args.push_back("--batch-size");
    args.push_back(std::to_string(s.batch_size));
  }
  for (const std::string& a :
       {std::string("--epochs"), std::to_string(s.epochs), std::string("--seed"),
        std::to_string(s.seed), std::string("--device"), s.device}) {
    args.push_back(a);
  }
  for (const auto& a : resume ? without_flags(s.extra_args, kFixedByTheRun) : s.extra_args) {
    args.push_back(a);
  }
  if (const auto threads = compute_threads(s.trainer);
      threads && !has_flag(s.extra_args, "--threads")) {
    args.push_back("--threads");
    args.push_back(std::to_string(*threads));
  }
  args.push_back(resume ? "--resume" : "--output");
  args.push_back(run_dir);
  // A restart with nothing to resume from starts over in the directory the failed attempt
  // began (the trainer refuses a non-empty --output otherwise).
  if (!resume && attempt > 0) args.push_back("--overwrite");
  args.push_back("--metrics-port");
  args.push_back(std::to_string(s.metrics_port));
  args.push_back("--metrics-address");
  args.push_back("$(DISTTGL_LOCAL_ADDR)");
  json e =
      json::array({env("DISTTGL_JOB", job.name), env("DISTTGL_RANK", std::to_string(rank)),
                   env("DISTTGL_WORLD_SIZE", std::to_string(s.layout.world_size())),
                   env("DISTTGL_LAYOUT", to_string(s.layout)),
                   env("DISTTGL_MASTER_ADDR", host(job, trainer_pod_name(job, attempt, 0))),
                   env("DISTTGL_MASTER_PORT", std::to_string(kMasterPort)),
                   env("DISTTGL_MEMORY_DAEMON",
                       fmt::format("{}:{}", host(job, daemon_pod_name(job, attempt, place.group)),
                                   kDaemonPort)),
                   env("DISTTGL_ATTEMPT", std::to_string(attempt)), env("DISTTGL_RUN_DIR", run_dir),
                   pod_ip_env("DISTTGL_LOCAL_ADDR")});
  json mounts = json::array({{{"name", "dataset"}, {"mountPath", kDataMount}, {"readOnly", true}},
                             {{"name", "run"}, {"mountPath", kRunMount}}});
  json volumes = json::array(
      {volume("dataset", s.dataset_volume),
       volume("run", s.checkpoint_volume.value_or(json{{"emptyDir", json::object()}}))});
  if (s.model_preset.empty()) {
    mounts.push_back(
        {{"name", "config"}, {"mountPath", "/etc/disttgl/config"}, {"readOnly", true}});
    volumes.push_back({{"name", "config"}, {"configMap", {{"name", s.config_map_name}}}});
  }
  json container = {
      {"name", "trainer"},
      {"image", s.trainer.image},
      {"imagePullPolicy", s.trainer.image_pull_policy},
      {"command", json::array({"disttgl-trainer"})},
      {"args", args},
      {"env", e},
      {"ports", json::array({{{"name", "rendezvous"}, {"containerPort", kMasterPort}},
                             {{"name", "metrics"}, {"containerPort", s.metrics_port}}})},
      {"volumeMounts", mounts},
      {"resources", resources_for(s.trainer)},
      {"securityContext", container_security()}};
  pod["spec"]["containers"] = json::array({container});
  pod["spec"]["volumes"] = volumes;
  add_placement(pod, job, place.group, false);
  return pod;
}

}  // namespace disttgl::op
