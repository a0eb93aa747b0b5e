// Leader election over a coordination.k8s.io/v1 Lease, so that several operator replicas are
// safe: the holder renews the Lease every renew period; another replica takes it over once it
// has not been renewed for its duration. Updates carry the Lease's resourceVersion, so two
// replicas racing for it cannot both win (the loser gets 409 Conflict).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "disttgl/operator/kube_api.hpp"

namespace disttgl::op {

struct LeaseOptions {
  std::string ns;  ///< the Lease's namespace
  std::string name = "disttgl-operator";
  std::string identity;  ///< this replica (the pod name)
  int duration_s = 15;   ///< leaseDurationSeconds
};

class LeaderElector {
 public:
  /// `now_us` gives the wall clock in microseconds since the Unix epoch.
  LeaderElector(KubeApi& api, LeaseOptions options, std::function<std::int64_t()> now_us);
  /// Acquires, renews or observes the Lease once; returns true while this replica leads.
  /// Throws ApiError when the API server cannot be reached.
  bool step();
  /// Gives the Lease up (holderIdentity cleared) if this replica holds it.
  void release();

 private:
  std::string path() const;
  KubeApi& api_;
  LeaseOptions o_;
  std::function<std::int64_t()> now_us_;
};

/// Formats a MicroTime ("2026-12-05T14:00:00.123456Z").
std::string format_micro_time(std::int64_t unix_us);

}  // namespace disttgl::op
