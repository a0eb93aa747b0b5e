#include "disttgl/operator/api.hpp"

#include <fmt/format.h>

namespace disttgl::op {
namespace {

// The value at `path` under `node` (nullptr when absent or null).
const json* find(const json& node, const std::string& key) {
  if (!node.is_object()) return nullptr;
  const auto it = node.find(key);
  return it == node.end() || it->is_null() ? nullptr : &*it;
}

[[noreturn]] void wrong(const std::string& field, const char* expected, const json& got) {
  throw SpecError(fmt::format("{}: expected {}, got {}", field, expected, got.dump()));
}

template <typename T>
void read_int(const json& node, const std::string& key, const std::string& field, T& out) {
  const json* v = find(node, key);
  if (v == nullptr) return;
  if (!v->is_number_integer()) wrong(field, "an integer", *v);
  out = static_cast<T>(v->get<std::int64_t>());
}

void read_string(const json& node, const std::string& key, const std::string& field,
                 std::string& out) {
  const json* v = find(node, key);
  if (v == nullptr) return;
  if (!v->is_string()) wrong(field, "a string", *v);
  out = v->get<std::string>();
}

const json& object_at(const json& node, const std::string& key, const std::string& field) {
  static const json empty = json::object();
  const json* v = find(node, key);
  if (v == nullptr) return empty;
  if (!v->is_object()) wrong(field, "an object", *v);
  return *v;
}

RoleSpec parse_role(const json& r, const std::string& field) {
  RoleSpec out;
  read_string(r, "image", field + ".image", out.image);
  if (out.image.empty()) throw SpecError(field + ".image: required");
  read_string(r, "imagePullPolicy", field + ".imagePullPolicy", out.image_pull_policy);
  read_int(r, "gpus", field + ".gpus", out.gpus);
  if (const json* v = find(r, "replicas")) {
    if (!v->is_number_integer()) wrong(field + ".replicas", "an integer", *v);
    out.replicas = v->get<int>();
  }
  out.resources = object_at(r, "resources", field + ".resources");
  out.node_selector = object_at(r, "nodeSelector", field + ".nodeSelector");
  out.affinity = object_at(r, "affinity", field + ".affinity");
  if (const json* v = find(r, "tolerations")) {
    if (!v->is_array()) wrong(field + ".tolerations", "an array", *v);
    out.tolerations = *v;
  }
  return out;
}

json condition_json(const Condition& c) {
  json j = {{"type", c.type},
            {"status", c.status},
            {"reason", c.reason},
            {"message", c.message},
            {"observedGeneration", c.observed_generation}};
  if (!c.last_transition_time.empty()) j["lastTransitionTime"] = c.last_transition_time;
  return j;
}

// A CPU quantity in cores: decimal digits with an optional fraction and an optional "m".
std::optional<double> cpu_cores(const json& q) {
  if (q.is_number()) return q.get<double>();
  if (!q.is_string()) return std::nullopt;
  std::string text = q.get<std::string>();
  double scale = 1;
  if (!text.empty() && text.back() == 'm') {
    scale = 1e-3;
    text.pop_back();
  }
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos ||
      text.find('.') != text.rfind('.') || text == ".") {
    return std::nullopt;
  }
  return std::stod(text) * scale;
}

}  // namespace

const Condition* JobStatus::condition(const std::string& type) const {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

std::optional<int> compute_threads(const RoleSpec& role, const std::string& field) {
  for (const char* kind : {"limits", "requests"}) {
    const json& r = role.resources;
    if (!r.is_object() || !r.contains(kind) || !r[kind].is_object() || !r[kind].contains("cpu")) {
      continue;
    }
    const auto cores = cpu_cores(r[kind]["cpu"]);
    if (!cores || *cores < 0) {
      throw SpecError(
          fmt::format("{}.resources.{}.cpu: '{}' is not a CPU quantity (e.g. 2, "
                      "1500m, 0.5)",
                      field, kind, r[kind]["cpu"].dump()));
    }
    return std::max(1, static_cast<int>(*cores));
  }
  return std::nullopt;
}

Job parse_job(const json& o) {
  Job job;
  const json& meta = object_at(o, "metadata", "metadata");
  if (meta.contains("resourceVersion") && meta["resourceVersion"].is_string()) {
    job.resource_version = meta["resourceVersion"].get<std::string>();
  }
  read_string(meta, "namespace", "metadata.namespace", job.ns);
  read_string(meta, "name", "metadata.name", job.name);
  read_string(meta, "uid", "metadata.uid", job.uid);
  read_string(meta, "creationTimestamp", "metadata.creationTimestamp", job.creation_time);
  read_int(meta, "generation", "metadata.generation", job.generation);
  job.deleting = find(meta, "deletionTimestamp") != nullptr;
  const json& s = object_at(o, "spec", "spec");
  JobSpec& spec = job.spec;
  const json& layout = object_at(s, "layout", "spec.layout");
  read_int(layout, "i", "spec.layout.i", spec.layout.i);
  read_int(layout, "j", "spec.layout.j", spec.layout.j);
  read_int(layout, "k", "spec.layout.k", spec.layout.k);
  for (const auto& [name, v] : {std::pair{"i", spec.layout.i}, std::pair{"j", spec.layout.j},
                                std::pair{"k", spec.layout.k}}) {
    if (v < 1) throw SpecError(fmt::format("spec.layout.{}: must be at least 1, got {}", name, v));
  }
  const json& model = object_at(s, "model", "spec.model");
  if (find(model, "configMap") != nullptr) {
    const json& cm = object_at(model, "configMap", "spec.model.configMap");
    read_string(cm, "name", "spec.model.configMap.name", spec.config_map_name);
    read_string(cm, "key", "spec.model.configMap.key", spec.config_map_key);
    spec.model_preset.clear();
  } else {
    read_string(model, "preset", "spec.model.preset", spec.model_preset);
  }
  const json& dataset = object_at(s, "dataset", "spec.dataset");
  spec.dataset_volume = object_at(dataset, "volume", "spec.dataset.volume");
  read_string(dataset, "path", "spec.dataset.path", spec.dataset_path);
  if (spec.dataset_path.empty()) throw SpecError("spec.dataset.path: required");
  const json& training = object_at(s, "training", "spec.training");
  read_int(training, "epochs", "spec.training.epochs", spec.epochs);
  read_int(training, "batchSize", "spec.training.batchSize", spec.batch_size);
  read_int(training, "seed", "spec.training.seed", spec.seed);
  read_string(training, "device", "spec.training.device", spec.device);
  if (const json* args = find(training, "extraArgs")) {
    if (!args->is_array()) wrong("spec.training.extraArgs", "an array of strings", *args);
    for (std::size_t n = 0; n < args->size(); ++n) {
      if (!(*args)[n].is_string()) {
        wrong(fmt::format("spec.training.extraArgs[{}]", n), "a string", (*args)[n]);
      }
      spec.extra_args.push_back((*args)[n].get<std::string>());
    }
  }
  spec.trainer = parse_role(object_at(s, "trainer", "spec.trainer"), "spec.trainer");
  spec.daemon = parse_role(object_at(s, "memoryDaemon", "spec.memoryDaemon"), "spec.memoryDaemon");
  compute_threads(spec.trainer);  // a CPU quantity that is not one fails here, naming the field
  if (spec.trainer.replicas && *spec.trainer.replicas != spec.layout.world_size()) {
    throw SpecError(fmt::format("spec.trainer.replicas: {} differs from i*j*k = {} of spec.layout",
                                *spec.trainer.replicas, spec.layout.world_size()));
  }
  if (find(s, "checkpoint") != nullptr) {
    const json& cp = object_at(s, "checkpoint", "spec.checkpoint");
    spec.checkpoint_volume = object_at(cp, "volume", "spec.checkpoint.volume");
    read_string(cp, "path", "spec.checkpoint.path", spec.checkpoint_path);
  }
  read_int(s, "metricsPort", "spec.metricsPort", spec.metrics_port);
  const json& rp = object_at(s, "runPolicy", "spec.runPolicy");
  read_int(rp, "maxGroupRestarts", "spec.runPolicy.maxGroupRestarts",
           spec.run_policy.max_group_restarts);
  if (find(rp, "activeDeadlineSeconds") != nullptr) {
    spec.run_policy.active_deadline_s = 0;
    read_int(rp, "activeDeadlineSeconds", "spec.runPolicy.activeDeadlineSeconds",
             *spec.run_policy.active_deadline_s);
  }
  if (find(rp, "ttlSecondsAfterFinished") != nullptr) {
    spec.run_policy.ttl_after_finished_s = 0;
    read_int(rp, "ttlSecondsAfterFinished", "spec.runPolicy.ttlSecondsAfterFinished",
             *spec.run_policy.ttl_after_finished_s);
  }
  read_string(rp, "cleanPodPolicy", "spec.runPolicy.cleanPodPolicy",
              spec.run_policy.clean_pod_policy);
  read_int(rp, "startupTimeoutSeconds", "spec.runPolicy.startupTimeoutSeconds",
           spec.run_policy.startup_timeout_s);
  if (const json* v = find(s, "suspend")) {
    if (!v->is_boolean()) wrong("spec.suspend", "true or false", *v);
    spec.suspend = v->get<bool>();
  }
  job.status = parse_status(object_at(o, "status", "status"));
  return job;
}

JobStatus parse_status(const json& st) {
  JobStatus s;
  read_string(st, "phase", "status.phase", s.phase);
  read_string(st, "layout", "status.layout", s.layout);
  read_string(st, "ready", "status.ready", s.ready);
  read_int(st, "observedGeneration", "status.observedGeneration", s.observed_generation);
  read_int(st, "attempt", "status.attempt", s.attempt);
  read_int(st, "restarts", "status.restarts", s.restarts);
  read_string(st, "startTime", "status.startTime", s.start_time);
  read_string(st, "attemptStartTime", "status.attemptStartTime", s.attempt_start_time);
  read_string(st, "completionTime", "status.completionTime", s.completion_time);
  if (const json* cs = find(st, "conditions"); cs != nullptr && cs->is_array()) {
    for (const json& c : *cs) {
      Condition out;
      read_string(c, "type", "status.conditions[].type", out.type);
      read_string(c, "status", "status.conditions[].status", out.status);
      read_string(c, "reason", "status.conditions[].reason", out.reason);
      read_string(c, "message", "status.conditions[].message", out.message);
      read_string(c, "lastTransitionTime", "status.conditions[].lastTransitionTime",
                  out.last_transition_time);
      read_int(c, "observedGeneration", "status.conditions[].observedGeneration",
               out.observed_generation);
      s.conditions.push_back(out);
    }
  }
  const json& rs = object_at(st, "replicaStatuses", "status.replicaStatuses");
  for (auto [key, counts] :
       {std::pair{"trainer", &s.trainers}, std::pair{"memoryDaemon", &s.daemons}}) {
    const json& c = object_at(rs, key, std::string("status.replicaStatuses.") + key);
    read_int(c, "desired", "desired", counts->desired);
    read_int(c, "ready", "ready", counts->ready);
    read_int(c, "succeeded", "succeeded", counts->succeeded);
    read_int(c, "failed", "failed", counts->failed);
  }
  if (const json* f = find(st, "lastFailure")) {
    Failure out;
    read_string(*f, "pod", "status.lastFailure.pod", out.pod);
    read_string(*f, "role", "status.lastFailure.role", out.role);
    read_string(*f, "reason", "status.lastFailure.reason", out.reason);
    read_string(*f, "time", "status.lastFailure.time", out.time);
    read_int(*f, "rank", "status.lastFailure.rank", out.rank);
    if (const json* e = find(*f, "exitCode"); e != nullptr && e->is_number_integer()) {
      out.exit_code = e->get<int>();
    }
    s.last_failure = out;
  }
  const json& p = object_at(st, "progress", "status.progress");
  if (const json* v = find(p, "epoch"); v != nullptr && v->is_number_integer()) {
    s.progress.epoch = v->get<std::int64_t>();
  }
  if (const json* v = find(p, "eventsPerSecond"); v != nullptr && v->is_number()) {
    s.progress.events_per_second = v->get<double>();
  }
  if (const json* v = find(p, "validationAP"); v != nullptr && v->is_number()) {
    s.progress.validation_ap = v->get<double>();
  }
  return s;
}

json status_to_json(const JobStatus& s) {
  json j = {{"phase", s.phase},     {"layout", s.layout},
            {"ready", s.ready},     {"observedGeneration", s.observed_generation},
            {"attempt", s.attempt}, {"restarts", s.restarts}};
  // Absent fields are explicit nulls: the status is written as a JSON merge patch, where
  // leaving a field out would keep its old value.
  const auto time_or_null = [](const std::string& t) {
    return t.empty() ? json(nullptr) : json(t);
  };
  j["startTime"] = time_or_null(s.start_time);
  j["attemptStartTime"] = time_or_null(s.attempt_start_time);
  j["completionTime"] = time_or_null(s.completion_time);
  j["conditions"] = json::array();
  for (const auto& c : s.conditions) j["conditions"].push_back(condition_json(c));
  const auto counts = [](const RoleCounts& c) {
    return json{{"desired", c.desired},
                {"ready", c.ready},
                {"succeeded", c.succeeded},
                {"failed", c.failed}};
  };
  j["replicaStatuses"] = {{"trainer", counts(s.trainers)}, {"memoryDaemon", counts(s.daemons)}};
  j["lastFailure"] = nullptr;
  if (s.last_failure) {
    const Failure& f = *s.last_failure;
    j["lastFailure"] = {{"pod", f.pod},       {"role", f.role}, {"rank", f.rank},
                        {"reason", f.reason}, {"time", f.time}, {"exitCode", nullptr}};
    if (f.exit_code) j["lastFailure"]["exitCode"] = *f.exit_code;
  }
  const auto or_null = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  j["progress"] = {{"epoch", or_null(s.progress.epoch)},
                   {"eventsPerSecond", or_null(s.progress.events_per_second)},
                   {"validationAP", or_null(s.progress.validation_ap)}};
  return j;
}

std::optional<ObservedPod> parse_pod(const json& pod) {
  const json& meta = pod.value("metadata", json::object());
  const json& labels = meta.value("labels", json::object());
  const auto label = [&](const char* key) -> std::string {
    const auto it = labels.find(key);
    return it != labels.end() && it->is_string() ? it->get<std::string>() : "";
  };
  ObservedPod p;
  p.role = label("disttgl.io/role");
  const std::string attempt = label("disttgl.io/attempt");
  if (p.role.empty() || attempt.empty()) return std::nullopt;
  try {
    p.attempt = std::stoll(attempt);
    if (!label("disttgl.io/rank").empty()) p.rank = std::stoi(label("disttgl.io/rank"));
    if (!label("disttgl.io/group").empty()) p.group = std::stoi(label("disttgl.io/group"));
  } catch (const std::exception&) {
    return std::nullopt;  // not one of ours (labels edited by hand)
  }
  p.name = meta.value("name", "");
  p.deleting = meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null();
  const json& spec = pod.value("spec", json::object());
  p.node = spec.value("nodeName", "");
  const json& status = pod.value("status", json::object());
  p.phase = status.value("phase", "Pending");
  p.ip = status.value("podIP", "");
  p.reason = status.value("reason", "");  // e.g. Evicted
  for (const json& c : status.value("conditions", json::array())) {
    const std::string type = c.value("type", "");
    const std::string value = c.value("status", "");
    if (type == "Ready") p.ready = value == "True";
    if (type == "PodScheduled" && value == "False" && c.value("reason", "") == "Unschedulable") {
      p.unschedulable = true;
      p.scheduling_message = c.value("message", "");
    }
  }
  for (const json& cs : status.value("containerStatuses", json::array())) {
    const json& state = cs.value("state", json::object());
    if (state.contains("terminated")) {
      const json& t = state["terminated"];
      if (t.contains("exitCode") && t["exitCode"].is_number_integer()) {
        p.exit_code = t["exitCode"].get<int>();
      }
      if (p.reason.empty()) p.reason = t.value("reason", "");
      break;
    }
  }
  return p;
}

}  // namespace disttgl::op
