// The controller: informers (list + watch with resourceVersion and bookmarks, relist on 410
// Gone, reconnect with jittered backoff) for TGNNJobs and the pods and Services they own, a
// work queue of job keys (one reconcile per job at a time, delayed requeues for timeouts and
// TTLs, per-key exponential backoff on errors, Retry-After on 429), and the thin I/O that
// applies reconcile()'s Actions.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "disttgl/operator/kube_api.hpp"
#include "disttgl/operator/reconcile.hpp"

namespace disttgl::op {

/// A cache of one resource kind kept current by list + watch.
class Informer {
 public:
  /// `collection` e.g. "/api/v1/pods" (all namespaces) or "/api/v1/namespaces/ml/pods";
  /// `selector` a label selector ("" for all). `on_change` gets every added, changed or
  /// deleted object (deleted: with "deleted": true added at the top level).
  Informer(KubeApi& api, std::string collection, std::string selector,
           std::function<void(const json&)> on_change, std::function<void()> on_watch = {});

  /// Lists, then watches until `stop`; call on its own thread.
  void run(const std::atomic<bool>& stop);
  /// True once the first list has completed.
  bool synced() const { return synced_.load(); }
  /// The cached objects for which `keep` is true.
  std::vector<json> select(const std::function<bool(const json&)>& keep) const;
  /// Watch (re)starts so far, and relists after 410 Gone (for /metrics and tests).
  std::int64_t watch_restarts() const { return restarts_.load(); }
  std::int64_t relists() const { return relists_.load(); }

 private:
  void list();
  void apply(const std::string& type, const json& object);
  KubeApi& api_;
  std::string collection_, selector_;
  std::function<void(const json&)> on_change_;
  std::function<void()> on_watch_;
  mutable std::mutex mu_;
  std::map<std::string, json> objects_;  // by namespace/name
  std::string resource_version_;
  std::atomic<bool> synced_{false};
  std::atomic<std::int64_t> restarts_{0}, relists_{0};
};

class OperatorMetrics;

/// The status write of a reconcile met 409 Conflict: the job changed since the cache read it
/// (often our own previous write, not yet seen by the watch). Retried quietly after
/// kStaleRetryS; nothing was acted on.
class StaleJob : public std::runtime_error {
 public:
  explicit StaleJob(const std::string& key)
      : std::runtime_error("the cached job " + key + " is older than the server's") {}
};
inline constexpr double kStaleRetryS = 0.5;

struct ControllerOptions {
  std::string ns;  ///< watch one namespace; "" = all
  int workers = 2;
  OperatorMetrics* metrics = nullptr;  ///< null: none
  /// Reads rank 0's /metrics (URL -> body; throws on failure). Default: an HTTP GET with a
  /// 2 s timeout. Tests may replace it.
  std::function<std::string(const std::string& url)> fetch;
  std::function<std::int64_t()> now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
};

class Controller {
 public:
  Controller(KubeApi& api, ControllerOptions options);
  ~Controller();
  /// Starts the informers and workers; returns at once.
  void start();
  /// Stops watching and working; waits for the threads.
  void stop();
  /// True once every informer has listed.
  bool synced() const;
  /// Reconciles done and failed so far.
  std::int64_t reconciles() const { return reconciles_.load(); }
  std::int64_t errors() const { return errors_.load(); }

 private:
  void enqueue(const std::string& key, double after_s = 0);
  void work();
  void reconcile_key(const std::string& key);
  void apply(const Job& job, const Actions& a);
  /// Server-side apply of a pod at `path`; an existing pod whose spec cannot change is fine.
  void apply_pod(const std::string& path, const json& pod);
  void record_events(const Job& job, const std::vector<Event>& events);
  std::string collection(const std::string& ns, const std::string& resource) const;

  KubeApi& api_;
  ControllerOptions options_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<Informer> jobs_, pods_, services_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::chrono::steady_clock::time_point> due_;  // key -> when
  std::set<std::string> active_;                                      // being reconciled
  std::map<std::string, int> failures_;                               // for backoff
  std::map<std::string, ProgressReading> readings_;  // each job's last rank-0 /metrics reading
  std::atomic<std::int64_t> reconciles_{0}, errors_{0};
};

}  // namespace disttgl::op
