#include "disttgl/operator/controller.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

#include "disttgl/operator/operator_metrics.hpp"
#include "disttgl/operator/watch.hpp"

namespace disttgl::op {
namespace {

constexpr int kWatchTimeoutS = 15;  // a stop is noticed within this

std::string key_of(const json& o) {
  const json& m = o.value("metadata", json::object());
  return m.value("namespace", "") + "/" + m.value("name", "");
}

std::string query(const std::string& selector) {
  return selector.empty() ? "" : "&labelSelector=" + selector;
}

// Jittered exponential backoff: attempt 1 -> about 0.5 s, doubling, at most 30 s.
double backoff_s(int attempt) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const double base = std::min(30.0, 0.5 * std::pow(2.0, std::max(0, attempt - 1)));
  return base * std::uniform_real_distribution<double>(0.8, 1.2)(rng);
}

void sleep_unless_stopped(double seconds, const std::atomic<bool>& stop) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!stop && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

Informer::Informer(KubeApi& api, std::string collection, std::string selector,
                   std::function<void(const json&)> on_change, std::function<void()> on_watch)
    : api_(api),
      collection_(std::move(collection)),
      selector_(std::move(selector)),
      on_change_(std::move(on_change)),
      on_watch_(std::move(on_watch)) {}

void Informer::list() {
  const json l = api_.get(collection_ + (selector_.empty() ? "" : "?labelSelector=" + selector_));
  std::map<std::string, json> fresh;
  for (json item : l.value("items", json::array())) {
    // The key first: json's operator= takes its argument by value, and C++17 evaluates the
    // right side of `a = b` before the left, so key_of(item) would see a moved-from item.
    const std::string key = key_of(item);
    fresh[key] = std::move(item);
  }
  std::vector<json> changed;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, o] : objects_) {
      if (fresh.count(k) == 0) {
        json gone = o;
        gone["deleted"] = true;
        changed.push_back(gone);
      }
    }
    for (const auto& [k, o] : fresh) changed.push_back(o);
    objects_ = std::move(fresh);
    resource_version_ = l.value("metadata", json::object()).value("resourceVersion", "");
  }
  synced_ = true;
  for (const auto& o : changed) on_change_(o);
}

void Informer::apply(const std::string& type, const json& object) {
  {
    std::lock_guard lock(mu_);
    const std::string rv = object["metadata"].value("resourceVersion", "");
    if (!rv.empty()) resource_version_ = rv;
    if (type == "BOOKMARK") return;
    if (type == "DELETED") {
      objects_.erase(key_of(object));
    } else {
      objects_[key_of(object)] = object;
    }
  }
  if (type == "DELETED") {
    json gone = object;
    gone["deleted"] = true;
    on_change_(gone);
  } else {
    on_change_(object);
  }
}

void Informer::run(const std::atomic<bool>& stop) {
  int failures = 0;
  bool need_list = true;
  while (!stop) {
    try {
      if (need_list) {
        list();
        need_list = false;
      }
      std::string rv;
      {
        std::lock_guard lock(mu_);
        rv = resource_version_;
      }
      ++restarts_;
      if (on_watch_) on_watch_();
      WatchDecoder decoder("watch of " + collection_);
      const std::string path =
          fmt::format("{}?watch=1&allowWatchBookmarks=true&timeoutSeconds={}&resourceVersion={}{}",
                      collection_, kWatchTimeoutS, rv, query(selector_));
      std::string error_body;
      const int status = api_.transport().stream(path, [&](std::string_view chunk) {
        for (const auto& e : decoder.feed(chunk)) apply(e.type, e.object);
        failures = 0;
        return !stop.load();
      });
      if (status == 410) throw WatchExpired("watch of " + collection_ + ": HTTP 410 Gone");
      if (status != 200)
        throw ApiError(fmt::format("watch of {}: HTTP {}", collection_, status), status);
    } catch (const WatchExpired& e) {
      spdlog::info("{}; listing again", e.what());
      ++relists_;
      need_list = true;
    } catch (const std::exception& e) {
      const double wait = backoff_s(++failures);
      spdlog::warn("informer of {}: {} (retrying in {:.1f} s)", collection_, e.what(), wait);
      sleep_unless_stopped(wait, stop);
      if (failures > 3) need_list = true;  // the resourceVersion may be long gone
    }
  }
}

std::vector<json> Informer::select(const std::function<bool(const json&)>& keep) const {
  std::lock_guard lock(mu_);
  std::vector<json> out;
  for (const auto& [k, o] : objects_) {
    if (keep(o)) out.push_back(o);
  }
  return out;
}

Controller::Controller(KubeApi& api, ControllerOptions options)
    : api_(api), options_(std::move(options)) {
  if (!options_.fetch) options_.fetch = http_get_text;
  const auto job_key = [this](const json& o) { enqueue(key_of(o)); };
  // Children name their job in a label; a change to one is a reason to reconcile its job.
  const auto owner_key = [this](const json& o) {
    const json& m = o.value("metadata", json::object());
    const std::string job = m.value("labels", json::object()).value("disttgl.io/job", "");
    if (!job.empty()) enqueue(m.value("namespace", "") + "/" + job);
  };
  OperatorMetrics* m = options_.metrics;
  const auto restarted = [m](const char* resource) -> std::function<void()> {
    if (m == nullptr) return {};
    return [m, resource] { m->watch_restart(resource); };
  };
  jobs_ = std::make_unique<Informer>(api_, collection(options_.ns, "tgnnjobs"), "", job_key,
                                     restarted("tgnnjobs"));
  pods_ = std::make_unique<Informer>(api_, collection(options_.ns, "pods"),
                                     "app.kubernetes.io/managed-by%3Ddisttgl-operator", owner_key,
                                     restarted("pods"));
  services_ = std::make_unique<Informer>(api_, collection(options_.ns, "services"),
                                         "app.kubernetes.io/name%3Ddisttgl", owner_key,
                                         restarted("services"));
}

Controller::~Controller() { stop(); }

std::string Controller::collection(const std::string& ns, const std::string& resource) const {
  const std::string base =
      resource == "tgnnjobs" ? fmt::format("/apis/{}/{}", kGroup, kVersion) : "/api/v1";
  return ns.empty() ? fmt::format("{}/{}", base, resource)
                    : fmt::format("{}/namespaces/{}/{}", base, ns, resource);
}

void Controller::start() {
  for (Informer* i : {jobs_.get(), pods_.get(), services_.get()}) {
    threads_.emplace_back([this, i] { i->run(stop_); });
  }
  for (int w = 0; w < options_.workers; ++w) threads_.emplace_back([this] { work(); });
}

void Controller::stop() {
  stop_ = true;
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Controller::enqueue(const std::string& key, double after_s) {
  const auto when = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(after_s));
  {
    std::lock_guard lock(mu_);
    const auto it = due_.find(key);
    // A key backing off after errors is not pulled forward by watch events.
    const bool backing_off = failures_.count(key) != 0 && after_s == 0;
    if (it == due_.end() || (when < it->second && !backing_off)) due_[key] = when;
  }
  cv_.notify_one();
}

void Controller::work() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    // The earliest due key that no other worker holds (one reconcile per job at a time).
    auto next = due_.end();
    for (auto it = due_.begin(); it != due_.end(); ++it) {
      if (active_.count(it->first) == 0 && (next == due_.end() || it->second < next->second))
        next = it;
    }
    const bool synced = jobs_->synced() && pods_->synced() && services_->synced();
    if (next == due_.end() || !synced) {
      cv_.wait_for(lock, std::chrono::milliseconds(synced ? 1000 : 100));
      continue;
    }
    if (next->second > std::chrono::steady_clock::now()) {
      cv_.wait_until(lock, next->second);
      continue;
    }
    const std::string key = next->first;
    due_.erase(next);
    active_.insert(key);
    lock.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    const auto seconds = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    try {
      reconcile_key(key);
      ++reconciles_;
      if (options_.metrics != nullptr) options_.metrics->reconciled(true, seconds());
      lock.lock();
      failures_.erase(key);
    } catch (const StaleJob& e) {
      // Our cache is behind the job (409 on the status write): not an error; the watch brings
      // the newer job soon, and the reconcile runs again on it.
      spdlog::debug("reconcile {}: {} (again in {:.1f} s)", key, e.what(), kStaleRetryS);
      if (options_.metrics != nullptr) options_.metrics->reconciled(true, seconds());
      enqueue(key, kStaleRetryS);
      lock.lock();
    } catch (const std::exception& e) {
      ++errors_;
      if (options_.metrics != nullptr) options_.metrics->reconciled(false, seconds());
      lock.lock();
      const int n = ++failures_[key];
      const auto* api = dynamic_cast<const ApiError*>(&e);
      const double wait = api != nullptr && api->status() == 429 && api->retry_after_s() > 0
                              ? api->retry_after_s()
                              : backoff_s(n);
      spdlog::warn("reconcile {}: {} (again in {:.1f} s)", key, e.what(), wait);
      lock.unlock();
      enqueue(key, wait);
      lock.lock();
    }
    active_.erase(key);
    if (options_.metrics != nullptr) {
      options_.metrics->set_queue_depth(due_.size());
      std::map<std::string, int> phases;
      for (const json& j : jobs_->select([](const json&) { return true; })) {
        const std::string p = j.value("status", json::object()).value("phase", "");
        ++phases[p.empty() ? "Pending" : p];
      }
      options_.metrics->set_jobs(phases);
    }
    cv_.notify_all();
  }
}

bool Controller::synced() const {
  return jobs_->synced() && pods_->synced() && services_->synced();
}

void Controller::reconcile_key(const std::string& key) {
  const auto slash = key.find('/');
  const std::string ns = key.substr(0, slash), name = key.substr(slash + 1);
  const auto found = jobs_->select([&](const json& o) { return key_of(o) == key; });
  if (found.empty()) {
    // The job is gone. Its children are owned by it, but the garbage collector may not run
    // (or lag): delete them here too, so no pod or Service is left behind.
    const auto orphan = [&](const json& o) {
      const json& m = o.value("metadata", json::object());
      return m.value("namespace", "") == ns && !m.contains("deletionTimestamp") &&
             m.value("labels", json::object()).value("disttgl.io/job", "") == name;
    };
    for (const json& p : pods_->select(orphan)) {
      api_.remove(collection(ns, "pods") + "/" + p["metadata"].value("name", ""));
    }
    for (const json& svc : services_->select(orphan)) {
      api_.remove(collection(ns, "services") + "/" + svc["metadata"].value("name", ""));
    }
    std::lock_guard lock(mu_);
    readings_.erase(key);
    return;
  }
  Job job;
  try {
    job = parse_job(found[0]);
  } catch (const SpecError& e) {
    // The schema should have refused it; fail the job rather than loop on it.
    JobStatus st = parse_status(found[0].value("status", json::object()));
    if (st.phase == "Failed") return;
    st.phase = "Failed";
    api_.merge_patch(
        collection(ns, "tgnnjobs") + "/" + name + "/status",
        {{"status",
          {{"phase", "Failed"},
           {"conditions", json::array({{{"type", "Failed"},
                                        {"status", "True"},
                                        {"reason", "InvalidSpec"},
                                        {"message", e.what()},
                                        {"lastTransitionTime", format_time(options_.now())}}})}}}});
    return;
  }
  const auto belongs = [&](const json& o) {
    const json& m = o.value("metadata", json::object());
    return m.value("namespace", "") == ns &&
           m.value("labels", json::object()).value("disttgl.io/job", "") == name;
  };
  std::vector<ObservedPod> pods;
  for (const json& p : pods_->select(belongs)) {
    if (auto op = parse_pod(p)) pods.push_back(*op);
  }
  const bool service =
      !services_->select([&](const json& o) { return key_of(o) == ns + "/" + service_name(job); })
           .empty();
  // Progress from rank 0 of the current attempt, when it runs and has an address.
  std::optional<Progress> progress;
  for (const ObservedPod& p : pods) {
    if (p.role != "trainer" || p.rank != 0 || p.attempt != job.status.attempt ||
        p.phase != "Running" || p.ip.empty()) {
      continue;
    }
    const std::string host = p.ip.find(':') != std::string::npos ? "[" + p.ip + "]" : p.ip;
    try {
      const std::string text =
          options_.fetch(fmt::format("http://{}:{}/metrics", host, job.spec.metrics_port));
      std::optional<ProgressReading> previous;
      {
        std::lock_guard lock(mu_);
        if (auto it = readings_.find(key); it != readings_.end()) previous = it->second;
      }
      if (auto r = parse_progress(text, options_.now() * 1000, previous)) {
        progress = r->progress;
        std::lock_guard lock(mu_);
        readings_[key] = *r;
      }
    } catch (const std::exception& e) {
      spdlog::debug("progress of {} from {}: {}", key, p.name, e.what());
    }
  }
  const Actions a = reconcile(job, pods, service, options_.now(), progress ? &*progress : nullptr);
  apply(job, a);
  if (a.requeue_after_s) enqueue(key, *a.requeue_after_s);
}

void Controller::apply(const Job& job, const Actions& given) {
  const std::string pods = collection(job.ns, "pods");
  const std::string status_path = collection(job.ns, "tgnnjobs") + "/" + job.name + "/status";
  Actions a = given;
  // The status is written first, with the resourceVersion the decision was made on: a cache
  // that has not yet seen our previous write (or anyone's) gets 409 and acts on nothing, so a
  // stale read can never delete or create pods (it once restarted a job that had just
  // succeeded, because its cleanup of the daemons looked like a vanished pod).
  std::string version = job.resource_version;
  if (!(a.status == job.status)) {
    json patch = {{"status", status_to_json(a.status)}};
    if (!version.empty()) patch["metadata"] = {{"resourceVersion", version}};
    try {
      const json updated = api_.merge_patch(status_path, patch);
      version = updated.value("metadata", json::object()).value("resourceVersion", "");
    } catch (const ApiError& e) {
      if (e.status() == 409) throw StaleJob(job.ns + "/" + job.name);
      throw;
    }
  }
  // A child the API server refuses (admission, quota, a name it rejects) must not leave the job
  // silent: the refusal goes into the status and an Event, and the reconcile is retried with
  // backoff (the start times written above keep the startup timeout acting).
  try {
    if (a.create_service) {
      const std::string name = (*a.create_service)["metadata"]["name"];
      api_.apply(collection(job.ns, "services") + "/" + name, *a.create_service);
    }
    for (const auto& name : a.delete_pods) api_.remove(pods + "/" + name);
    for (const auto& pod : a.create_pods) {
      apply_pod(pods + "/" + pod["metadata"]["name"].get<std::string>(), pod);
    }
  } catch (const ApiError& e) {
    if (e.status() == 0 || e.status() == 429 || e.status() >= 500) throw;  // transient
    JobStatus st = a.status;
    for (auto& c : st.conditions) {
      if (c.type == "Running") {
        c.status = "False";
        c.reason = "CreateFailed";
        c.message = e.what();
      }
    }
    // The trainers may not all exist: DaemonsReady stays as it was, so the next pass creates
    // them again.
    auto& cs = st.conditions;
    cs.erase(std::remove_if(cs.begin(), cs.end(),
                            [](const Condition& c) { return c.type == "DaemonsReady"; }),
             cs.end());
    if (const Condition* before = job.status.condition("DaemonsReady")) cs.push_back(*before);
    if (!st.condition("Running")) {
      st.conditions.push_back({"Running", "False", "CreateFailed", e.what(),
                               format_time(options_.now()), job.generation});
    }
    json patch = {{"status", status_to_json(st)}};
    if (!version.empty()) patch["metadata"] = {{"resourceVersion", version}};
    api_.merge_patch(status_path, patch);
    record_events(job, {{"Warning", "CreateFailed", e.what()}});
    throw;
  }
  record_events(job, a.events);
  if (a.delete_job) api_.remove(collection(job.ns, "tgnnjobs") + "/" + job.name);
}

void Controller::apply_pod(const std::string& path, const json& pod) {
  try {
    api_.apply(path, pod);
  } catch (const ApiError& e) {
    // A pod the informer has not shown yet can be applied again with a spec that moved on
    // (a pod's spec is immutable: 422). It is there, which is all a create needs.
    if (e.status() != 422) throw;
    try {
      api_.get(path);
    } catch (const ApiError&) {
      throw e;
    }
  }
}

void Controller::record_events(const Job& job, const std::vector<Event>& events) {
  for (const auto& e : events) {
    const std::string now = format_time(options_.now());
    api_.create(collection(job.ns, "events"),
                {{"apiVersion", "v1"},
                 {"kind", "Event"},
                 {"metadata", {{"generateName", job.name + "."}, {"namespace", job.ns}}},
                 {"involvedObject",
                  {{"apiVersion", fmt::format("{}/{}", kGroup, kVersion)},
                   {"kind", kKind},
                   {"name", job.name},
                   {"namespace", job.ns},
                   {"uid", job.uid}}},
                 {"type", e.type},
                 {"reason", e.reason},
                 {"message", e.message},
                 {"source", {{"component", "disttgl-operator"}}},
                 {"firstTimestamp", now},
                 {"lastTimestamp", now},
                 {"count", 1}});
  }
}

}  // namespace disttgl::op
