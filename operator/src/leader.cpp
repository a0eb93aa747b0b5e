#include "disttgl/operator/leader.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "disttgl/operator/reconcile.hpp"

namespace disttgl::op {

std::string format_micro_time(std::int64_t us) {
  return format_time(us / 1000000).substr(0, 19) + fmt::format(".{:06d}Z", us % 1000000);
}

LeaderElector::LeaderElector(KubeApi& api, LeaseOptions options,
                             std::function<std::int64_t()> now_us)
    : api_(api), o_(std::move(options)), now_us_(std::move(now_us)) {}

std::string LeaderElector::path() const {
  return fmt::format("/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}", o_.ns, o_.name);
}

bool LeaderElector::step() {
  const std::int64_t now = now_us_();
  const std::string stamp = format_micro_time(now);
  json lease;
  try {
    lease = api_.get(path());
  } catch (const ApiError& e) {
    if (e.status() != 404) throw;
    const json fresh = {{"apiVersion", "coordination.k8s.io/v1"},
                        {"kind", "Lease"},
                        {"metadata", {{"name", o_.name}, {"namespace", o_.ns}}},
                        {"spec",
                         {{"holderIdentity", o_.identity},
                          {"leaseDurationSeconds", o_.duration_s},
                          {"acquireTime", stamp},
                          {"renewTime", stamp},
                          {"leaseTransitions", 0}}}};
    return !api_.create(fmt::format("/apis/coordination.k8s.io/v1/namespaces/{}/leases", o_.ns),
                        fresh)
                .is_null();
  }
  json& spec = lease["spec"];
  const std::string holder = spec.value("holderIdentity", "");
  const std::int64_t renewed = parse_time(spec.value("renewTime", ""));
  const int duration = spec.value("leaseDurationSeconds", o_.duration_s);
  const bool expired = renewed < 0 || now / 1000000 >= renewed + duration;
  if (holder != o_.identity && !holder.empty() && !expired) return false;
  if (holder != o_.identity) {
    spec["acquireTime"] = stamp;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
    spdlog::info("taking the lease {}/{} over from '{}'", o_.ns, o_.name, holder);
  }
  spec["holderIdentity"] = o_.identity;
  spec["leaseDurationSeconds"] = o_.duration_s;
  spec["renewTime"] = stamp;
  try {
    api_.replace(path(), lease);  // carries metadata.resourceVersion: 409 if someone was faster
    return true;
  } catch (const ApiError& e) {
    if (e.status() == 409) return false;
    throw;
  }
}

void LeaderElector::release() {
  try {
    json lease = api_.get(path());
    if (lease["spec"].value("holderIdentity", "") != o_.identity) return;
    lease["spec"]["holderIdentity"] = "";
    lease["spec"]["renewTime"] = format_micro_time(now_us_());
    api_.replace(path(), lease);
    spdlog::info("released the lease {}/{}", o_.ns, o_.name);
  } catch (const std::exception& e) {
    spdlog::warn("could not release the lease {}/{}: {}", o_.ns, o_.name, e.what());
  }
}

}  // namespace disttgl::op
