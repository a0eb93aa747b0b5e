// The operator's reconcile: a pure function of what it observed (the job, its pods, whether
// its Service exists, the time) to what should change (pods to create and delete, the
// Service, the new status, events to record, whether to delete the job). No I/O here: the
// controller (controller.cpp) lists/watches, calls this, and applies the result, so every
// decision is unit-tested over plain values (tests/unit/operator/reconcile_test.cpp).
//
// The rules (docs/operator.md):
//  - pods are named <job>-a<attempt>-daemon-<g> and <job>-a<attempt>-rank-<r>, owned by the
//    job, labelled with job, role, rank, group and attempt, behind one headless Service;
//  - the k memory daemons start first; the W = i*j*k trainers only once every daemon is Ready
//    (a trainer started earlier would time out on its daemon);
//  - any pod of the current attempt failing (or vanishing) restarts the WHOLE group as attempt
//    + 1 from the last checkpoint (collective training cannot lose one rank), up to
//    runPolicy.maxGroupRestarts; then the job fails naming the pod, its role, rank, reason and
//    exit code;
//  - an attempt whose pods are not all running after runPolicy.startupTimeoutSeconds fails the
//    job with the scheduler's reason; activeDeadlineSeconds bounds the whole job;
//  - the job succeeds when every trainer succeeded; then cleanPodPolicy decides which pods go
//    and ttlSecondsAfterFinished when the job itself goes;
//  - suspend deletes the pods and keeps the attempt counter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "disttgl/operator/api.hpp"

namespace disttgl::op {

/// An Event the controller records on the job (type "Normal" or "Warning").
struct Event {
  std::string type, reason, message;
  bool operator==(const Event&) const = default;
};

struct Actions {
  std::vector<json> create_pods;         ///< full Pod objects, daemons before trainers
  std::vector<std::string> delete_pods;  ///< names
  std::optional<json> create_service;    ///< the headless Service, when missing
  JobStatus status;                      ///< to write when it differs from the job's
  std::vector<Event> events;
  bool delete_job = false;  ///< ttlSecondsAfterFinished has passed
  /// Reconcile again after this many seconds even if nothing changes (timeouts, TTL).
  std::optional<double> requeue_after_s;
};

/// Seconds since the Unix epoch as RFC 3339 ("2026-12-05T14:00:00Z") and back (-1 if bad).
std::string format_time(std::int64_t unix_seconds);
std::int64_t parse_time(const std::string& rfc3339);

/// Names: the Service and the pods of an attempt.
std::string service_name(const Job& job);
std::string daemon_pod_name(const Job& job, std::int64_t attempt, int group);
std::string trainer_pod_name(const Job& job, std::int64_t attempt, int rank);

/// The pods of `attempt` in full (what create_pods carries); exposed for the tests that check
/// the launch contract's environment.
json daemon_pod(const Job& job, std::int64_t attempt, int group);
json trainer_pod(const Job& job, std::int64_t attempt, int rank);
json headless_service(const Job& job);

/// Decides what to change. `now` in Unix seconds. `progress`: what rank 0's /metrics said
/// (null when it could not be read; the last known progress stays).
Actions reconcile(const Job& job, const std::vector<ObservedPod>& pods, bool service_exists,
                  std::int64_t now, const Progress* progress = nullptr);

/// Training progress from rank 0's /metrics text: disttgl_epoch, disttgl_validation_ap (NaN:
/// none yet) and the events counter; events/s is the counter's rate since `previous` (the last
/// reading and its time), absent on the first reading and after the counter went back (a new
/// attempt's process), and the previous rate (0 if none) while the counter stands still
/// (evaluation, the end of the run).
struct ProgressReading {
  Progress progress;
  double events_total = 0;
  std::int64_t at_ms = 0;
};
std::optional<ProgressReading> parse_progress(const std::string& metrics_text, std::int64_t now_ms,
                                              const std::optional<ProgressReading>& previous);

/// How often a running job's progress is refreshed (seconds).
inline constexpr double kProgressPeriodS = 15;

}  // namespace disttgl::op
