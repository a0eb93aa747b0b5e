// The TGNNJob API (disttgl.io/v1alpha1; charts/disttgl/crds/tgnnjobs.disttgl.io.yaml) as the
// operator reads it, and the pods it observes. Parsing is defensive: the apiserver applied the
// CRD's schema and defaults, but the operator must not crash on an object it did not expect, so
// a field of the wrong type is a SpecError naming the field (the job then fails with it).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "disttgl/common/layout.hpp"

namespace disttgl::op {

using json = nlohmann::json;

inline constexpr const char* kGroup = "disttgl.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kKind = "TGNNJob";
inline constexpr const char* kPlural = "tgnnjobs";

/// A field of a TGNNJob that cannot be used ("spec.layout.i: expected an integer, got \"2\"").
class SpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// spec.trainer / spec.memoryDaemon: how that role's pods run. The free-form parts (resources,
/// tolerations, affinity) are core/v1 JSON passed through to the pod.
struct RoleSpec {
  std::string image;
  std::string image_pull_policy = "IfNotPresent";
  int gpus = 0;                 ///< nvidia.com/gpu per pod
  std::optional<int> replicas;  ///< trainers: a check of intent (must be i*j*k)
  json resources = json::object();
  json node_selector = json::object();
  json tolerations = json::array();
  json affinity = json::object();
};

struct RunPolicy {
  int max_group_restarts = 3;
  std::optional<std::int64_t> active_deadline_s;
  std::optional<std::int64_t> ttl_after_finished_s;
  std::string clean_pod_policy = "Running";  ///< All, Running or None
  std::int64_t startup_timeout_s = 600;
};

struct JobSpec {
  ParallelLayout layout;
  std::string model_preset = "tgn";  ///< empty when a ConfigMap holds the config
  std::string config_map_name, config_map_key = "config.yaml";
  json dataset_volume;  ///< a core/v1 volume source (without "name")
  std::string dataset_path;
  int epochs = 10;
  int batch_size = 600;
  std::int64_t seed = 0;
  std::string device = "auto";
  std::vector<std::string> extra_args;
  RoleSpec trainer, daemon;
  std::optional<json> checkpoint_volume;  ///< none: an emptyDir (a restart starts over)
  std::string checkpoint_path = "run";
  int metrics_port = 9464;
  RunPolicy run_policy;
  bool suspend = false;
};

/// A metav1.Condition.
struct Condition {
  std::string type, status, reason, message, last_transition_time;
  std::int64_t observed_generation = 0;
  bool operator==(const Condition&) const = default;
};

struct RoleCounts {
  int desired = 0, ready = 0, succeeded = 0, failed = 0;
  bool operator==(const RoleCounts&) const = default;
};

struct Failure {
  std::string pod, role, reason, time;
  int rank = -1;
  std::optional<int> exit_code;
  bool operator==(const Failure&) const = default;
};

struct Progress {
  std::optional<std::int64_t> epoch;
  std::optional<double> events_per_second, validation_ap;
  bool operator==(const Progress&) const = default;
};

/// status of a TGNNJob: what the operator last wrote.
struct JobStatus {
  std::string phase;  ///< Pending, Starting, Running, Restarting, Succeeded, Failed, Suspended
  std::string layout, ready;
  std::int64_t observed_generation = 0;
  std::int64_t attempt = 0, restarts = 0;
  std::string start_time, attempt_start_time, completion_time;  ///< RFC 3339, "" = unset
  std::vector<Condition> conditions;
  RoleCounts trainers, daemons;
  std::optional<Failure> last_failure;
  Progress progress;
  bool operator==(const JobStatus&) const = default;

  const Condition* condition(const std::string& type) const;
  bool finished() const { return phase == "Succeeded" || phase == "Failed"; }
};

struct Job {
  std::string ns, name, uid, creation_time;
  std::string resource_version;  ///< metadata.resourceVersion: the status write's precondition
  std::int64_t generation = 0;
  bool deleting = false;  ///< metadata.deletionTimestamp set
  JobSpec spec;
  JobStatus status;
};

/// The trainer's `--threads` for a role's CPU: its limit, else its request (a Kubernetes
/// quantity: "2", "1500m", "0.5"), rounded down, at least 1; nullopt when neither is given.
/// Oversubscribed compute threads slow training several-fold, so a pod uses what it was given.
/// Throws SpecError naming the field for a CPU quantity that is not one.
std::optional<int> compute_threads(const RoleSpec& role, const std::string& field = "spec.trainer");

/// Reads a TGNNJob object. Throws SpecError naming the field for one that cannot be used.
Job parse_job(const json& object);
/// The status as the status subresource takes it.
json status_to_json(const JobStatus& status);
/// Reads a status written by status_to_json (missing fields keep their defaults).
JobStatus parse_status(const json& status);

/// A pod of a job as the operator sees it (from its labels and status).
struct ObservedPod {
  std::string name;
  std::string role;  ///< "trainer" or "memory-daemon"
  int rank = -1;     ///< trainers
  int group = -1;    ///< DistTGL memory group g
  std::int64_t attempt = 0;
  std::string phase;  ///< Pending, Running, Succeeded, Failed, Unknown
  bool ready = false;
  bool deleting = false;
  std::string node;
  std::string ip;                ///< status.podIP ("" before it has one)
  std::optional<int> exit_code;  ///< of the first terminated container
  std::string reason;            ///< e.g. Error, OOMKilled, Evicted
  bool unschedulable = false;
  std::string scheduling_message;  ///< the scheduler's message when unschedulable
};

/// Reads a pod the operator created (labels disttgl.io/role, rank, group, attempt). Returns
/// nullopt for a pod without those labels.
std::optional<ObservedPod> parse_pod(const json& pod);

}  // namespace disttgl::op
