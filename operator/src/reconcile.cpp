#include "disttgl/operator/reconcile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

namespace disttgl::op {
namespace {

// A pod the operator created may not be in its cache yet right after the create (watch lag):
// a trainer missing for less than this after the trainers were created is not a failure.
constexpr std::int64_t kVanishedGraceSeconds = 30;
constexpr double kOldPodsRequeueSeconds = 2;  // pod DELETED events requeue sooner

void set_condition(JobStatus& st, const std::string& type, bool value, const std::string& reason,
                   const std::string& message, std::int64_t generation, std::int64_t now) {
  const std::string status = value ? "True" : "False";
  for (auto& c : st.conditions) {
    if (c.type != type) continue;
    if (c.status != status) c.last_transition_time = format_time(now);
    c.status = status;
    c.reason = reason;
    c.message = message;
    c.observed_generation = generation;
    return;
  }
  if (!value && reason.empty()) return;  // a condition that never held need not be listed
  st.conditions.push_back({type, status, reason, message, format_time(now), generation});
}

bool condition_true(const JobStatus& st, const std::string& type) {
  const Condition* c = st.condition(type);
  return c != nullptr && c->status == "True";
}

std::string failure_text(const ObservedPod& p) {
  std::string role = p.role == "trainer" ? fmt::format("trainer rank {}", p.rank)
                                         : fmt::format("memory daemon of group {}", p.group);
  std::string why = p.reason.empty() ? p.phase : p.reason;
  if (p.exit_code) why += fmt::format(", exit code {}", *p.exit_code);
  return fmt::format("pod {} ({}) failed: {}", p.name, role, why);
}

struct Decider {
  const Job& job;
  const std::vector<ObservedPod>& pods;
  std::int64_t now;
  Actions a;
  JobStatus& st = a.status;

  void delete_pod(const ObservedPod& p) {
    if (!p.deleting &&
        std::find(a.delete_pods.begin(), a.delete_pods.end(), p.name) == a.delete_pods.end()) {
      a.delete_pods.push_back(p.name);
    }
  }

  // cleanPodPolicy at the end of the job: All, Running (pods still pending or running) or None.
  void clean_up() {
    const std::string& policy = job.spec.run_policy.clean_pod_policy;
    for (const auto& p : pods) {
      if (policy == "All" ||
          (policy == "Running" && (p.phase == "Pending" || p.phase == "Running"))) {
        delete_pod(p);
      }
    }
  }

  void finish(bool succeeded, const std::string& reason, const std::string& message) {
    st.phase = succeeded ? "Succeeded" : "Failed";
    st.completion_time = format_time(now);
    set_condition(st, succeeded ? "Succeeded" : "Failed", true, reason, message, job.generation,
                  now);
    set_condition(st, "Running", false, reason, message, job.generation, now);
    set_condition(st, "Restarting", false, reason, message, job.generation, now);
    a.events.push_back({succeeded ? "Normal" : "Warning", reason, message});
    clean_up();
    if (job.spec.run_policy.ttl_after_finished_s) {
      a.requeue_after_s = static_cast<double>(*job.spec.run_policy.ttl_after_finished_s);
    }
  }

  void count(const std::vector<const ObservedPod*>& current) {
    st.trainers = {job.spec.layout.world_size(), 0, 0, 0};
    st.daemons = {job.spec.layout.k, 0, 0, 0};
    for (const ObservedPod* p : current) {
      RoleCounts& c = p->role == "trainer" ? st.trainers : st.daemons;
      if (p->phase == "Running" && (p->role == "trainer" || p->ready)) ++c.ready;
      if (p->phase == "Succeeded") ++c.succeeded;
      if (p->phase == "Failed") ++c.failed;
    }
    st.ready = fmt::format("{}/{}", st.trainers.ready, st.trainers.desired);
  }

  void run() {
    const JobSpec& s = job.spec;
    st = job.status;
    st.layout = to_string(s.layout);
    st.observed_generation = job.generation;
    if (job.deleting) return;  // the apiserver's garbage collector removes the children

    if (st.finished()) {
      clean_up();
      if (s.run_policy.ttl_after_finished_s && !st.completion_time.empty()) {
        const std::int64_t left =
            parse_time(st.completion_time) + *s.run_policy.ttl_after_finished_s - now;
        if (left <= 0) {
          a.delete_job = true;
        } else {
          a.requeue_after_s = static_cast<double>(left);
        }
      }
      return;
    }

    if (s.suspend) {
      for (const auto& p : pods) delete_pod(p);
      if (st.phase != "Suspended") {
        a.events.push_back({"Normal", "Suspended", "the job is suspended: its pods are deleted"});
      }
      if (st.phase != "Suspended") {
        // Resuming is a fresh start of the group: a new attempt (not a restart), so pods of
        // the suspended attempt still terminating are never taken for failures.
        ++st.attempt;
      }
      st.phase = "Suspended";
      st.attempt_start_time.clear();  // the startup timeout starts again on resume
      st.start_time.clear();          // and so does activeDeadlineSeconds (as batch Jobs do)
      set_condition(st, "Suspended", true, "Suspended", "spec.suspend is true", job.generation,
                    now);
      set_condition(st, "Running", false, "Suspended", "spec.suspend is true", job.generation, now);
      count({});
      return;
    }
    if (st.phase == "Suspended") {
      set_condition(st, "Suspended", false, "Resumed", "spec.suspend is false", job.generation,
                    now);
      set_condition(st, "Running", false, "Resumed", "starting the pods again", job.generation,
                    now);
      set_condition(st, "DaemonsReady", false, "Resumed", "starting the pods again", job.generation,
                    now);
      st.phase = "Starting";
    }
    if (st.start_time.empty()) st.start_time = format_time(now);
    if (st.attempt_start_time.empty()) st.attempt_start_time = format_time(now);
    if (st.phase.empty() || st.phase == "Pending") st.phase = "Starting";

    if (s.run_policy.active_deadline_s &&
        now - parse_time(st.start_time) >= *s.run_policy.active_deadline_s) {
      return finish(
          false, "DeadlineExceeded",
          fmt::format("the job ran longer than spec.runPolicy.activeDeadlineSeconds ({} s)",
                      *s.run_policy.active_deadline_s));
    }

    // Pods of older attempts go; the current attempt's are sorted by role and index.
    std::map<int, const ObservedPod*> daemons, trainers;
    std::vector<const ObservedPod*> current;
    int older_left = 0;  // pods of older attempts still there (terminating or not yet deleted)
    for (const auto& p : pods) {
      if (p.attempt != st.attempt) {
        delete_pod(p);
        ++older_left;
        continue;
      }
      current.push_back(&p);
      if (p.role == "memory-daemon") daemons[p.group] = &p;
      if (p.role == "trainer") trainers[p.rank] = &p;
    }
    count(current);

    // Once the trainers of this attempt were started (DaemonsReady held before this pass)...
    const Condition* daemons_ready = job.status.condition("DaemonsReady");
    const bool trainers_started = daemons_ready != nullptr && daemons_ready->status == "True";
    // A failed, evicted or deleted pod of the current attempt restarts the whole group. A
    // daemon that ended with exit 0 before its trainers started did so too early; once they
    // run, exit 0 is what a group leader's SHUTDOWN at the end of training gives, and its
    // trainer may still be finishing (evaluating, lingering): the trainers' outcome decides (a
    // trainer that loses its daemon mid-run fails, which restarts the group).
    const ObservedPod* failed = nullptr;
    for (const ObservedPod* p : current) {
      const bool daemon_done =
          p->role == "memory-daemon" && p->phase == "Succeeded" && !trainers_started;
      if (p->phase == "Failed" || p->deleting || daemon_done) {
        failed = p;
        break;
      }
    }
    // Once the trainers of this attempt were started, a missing pod is never recreated alone: a
    // trainer missing past the watch-lag grace, or a daemon missing at all (daemons were seen
    // Ready before any trainer), vanished (force deleted, or garbage-collected with a lost node)
    // and restarts the group.
    std::optional<ObservedPod> vanished;
    const auto gone = [&](const std::string& pod, const std::string& role, int rank, int group) {
      ObservedPod g;
      g.name = pod;
      g.role = role;
      g.rank = rank;
      g.group = group;
      g.attempt = st.attempt;
      g.phase = "Deleted";
      g.reason = "Deleted";
      vanished = g;
    };
    if (failed == nullptr && trainers_started) {
      for (int g = 0; g < s.layout.k && !vanished; ++g) {
        if (daemons.count(g) == 0)
          gone(daemon_pod_name(job, st.attempt, g), "memory-daemon", -1, g);
      }
      const bool past_grace =
          now - parse_time(daemons_ready->last_transition_time) >= kVanishedGraceSeconds;
      for (int r = 0; r < s.layout.world_size() && !vanished && past_grace; ++r) {
        if (trainers.count(r) == 0) gone(trainer_pod_name(job, st.attempt, r), "trainer", r, -1);
      }
    }
    if (failed == nullptr && vanished) failed = &*vanished;
    if (failed != nullptr) return restart_or_fail(*failed, current);

    // A new attempt starts only once the previous one's pods are gone: an old rank 0 in its
    // grace period could still write the run directory the new one resumes from.
    if (older_left > 0) {
      set_condition(st, "Running", false, "WaitingForOldPods",
                    fmt::format("attempt {}: waiting for {} pod(s) of the previous attempt to "
                                "terminate",
                                st.attempt, older_left),
                    job.generation, now);
      a.requeue_after_s = kOldPodsRequeueSeconds;
      return;
    }
    // Daemons first, then (once every daemon is Ready) the trainers.
    for (int g = 0; g < s.layout.k; ++g) {
      if (daemons.count(g) == 0) a.create_pods.push_back(daemon_pod(job, st.attempt, g));
    }
    const bool all_daemons_ready = st.daemons.ready == s.layout.k;
    if (all_daemons_ready) {
      if (!condition_true(st, "DaemonsReady")) {
        a.events.push_back({"Normal", "DaemonsReady",
                            fmt::format("{} memory daemon(s) ready; starting {} trainer(s)",
                                        s.layout.k, s.layout.world_size())});
      }
      set_condition(st, "DaemonsReady", true, "DaemonsReady",
                    fmt::format("{}/{} memory daemons ready", st.daemons.ready, s.layout.k),
                    job.generation, now);
      if (!trainers_started) {  // created once per attempt, in the pass that saw every daemon Ready
        for (int r = 0; r < s.layout.world_size(); ++r) {
          if (trainers.count(r) == 0) a.create_pods.push_back(trainer_pod(job, st.attempt, r));
        }
      }
    } else if (trainers.empty()) {
      set_condition(st, "DaemonsReady", false, "WaitingForDaemons",
                    fmt::format("{}/{} memory daemons ready", st.daemons.ready, s.layout.k),
                    job.generation, now);
    }
    if (!a.create_pods.empty() && !condition_true(st, "Created")) {
      set_condition(st, "Created", true, "PodsCreated",
                    fmt::format("attempt {}: creating pods", st.attempt), job.generation, now);
    }

    if (st.trainers.succeeded == st.trainers.desired) {
      return finish(
          true, "Succeeded",
          fmt::format("all {} trainers succeeded (attempt {})", st.trainers.desired, st.attempt));
    }
    // Finished pods of a running attempt (trainers done, daemons shut down by them) still count.
    const int daemons_done = trainers_started ? st.daemons.succeeded : 0;
    const bool all_running = st.trainers.ready + st.trainers.succeeded == st.trainers.desired &&
                             st.daemons.ready + daemons_done == st.daemons.desired;
    if (all_running) {
      if (st.phase != "Running") {
        a.events.push_back({"Normal", "Running",
                            fmt::format("attempt {}: {} trainers and {} memory daemons running",
                                        st.attempt, st.trainers.desired, st.daemons.desired)});
      }
      st.phase = "Running";
      set_condition(st, "Running", true, "AllPodsRunning",
                    fmt::format("attempt {}: every pod runs", st.attempt), job.generation, now);
      set_condition(st, "Restarting", false, "AllPodsRunning", "", job.generation, now);
      return;
    }
    st.phase = "Starting";
    // Say at once why pods wait (the scheduler's reason), not only at the startup timeout.
    for (const ObservedPod* p : current) {
      if (p->unschedulable) {
        set_condition(st, "Running", false, "Unschedulable",
                      fmt::format("{}: {}", p->name, p->scheduling_message), job.generation, now);
        break;
      }
    }
    const std::int64_t started = parse_time(st.attempt_start_time);
    const std::int64_t left = started + s.run_policy.startup_timeout_s - now;
    if (left <= 0) return startup_timeout(current);
    a.requeue_after_s = static_cast<double>(left);
  }

  void startup_timeout(const std::vector<const ObservedPod*>& current) {
    std::string why;
    int waiting = 0;
    for (const ObservedPod* p : current) {
      if (p->phase == "Running" || p->phase == "Succeeded") continue;
      ++waiting;
      if (why.size() < 600) {
        why += fmt::format("; {}: {}", p->name,
                           p->unschedulable ? "unschedulable: " + p->scheduling_message : p->phase);
      }
    }
    const int missing = st.trainers.desired + st.daemons.desired - static_cast<int>(current.size());
    if (missing > 0)
      why += fmt::format("; {} pod(s) not created (waiting for the daemons)", missing);
    finish(false, "StartupTimeout",
           fmt::format("attempt {}: {} pod(s) not running after spec.runPolicy."
                       "startupTimeoutSeconds ({} s){}",
                       st.attempt, waiting + std::max(missing, 0),
                       job.spec.run_policy.startup_timeout_s, why));
  }

  void restart_or_fail(const ObservedPod& p, const std::vector<const ObservedPod*>& current) {
    Failure f;
    f.pod = p.name;
    f.role = p.role;
    f.rank = p.rank;
    f.reason = p.reason.empty() ? (p.deleting ? "Deleted" : p.phase) : p.reason;
    f.exit_code = p.exit_code;
    f.time = format_time(now);
    st.last_failure = f;
    const std::string what = failure_text(p);
    const int limit = job.spec.run_policy.max_group_restarts;
    if (st.restarts >= limit) {
      return finish(false, "RestartLimitExceeded",
                    fmt::format("{}; the group was restarted {} time(s), spec.runPolicy."
                                "maxGroupRestarts is {}",
                                what, st.restarts, limit));
    }
    for (const ObservedPod* c : current) delete_pod(*c);
    ++st.attempt;
    ++st.restarts;
    st.attempt_start_time = format_time(now);
    st.phase = "Restarting";
    const std::string message =
        fmt::format("{}; restarting every pod as attempt {} (restart {} of {})", what, st.attempt,
                    st.restarts, limit);
    set_condition(st, "Restarting", true, "PodFailed", message, job.generation, now);
    set_condition(st, "Running", false, "PodFailed", message, job.generation, now);
    set_condition(st, "DaemonsReady", false, "Restarting", message, job.generation, now);
    a.events.push_back({"Warning", "GroupRestart", message});
    count({});
  }
};

}  // namespace

std::optional<ProgressReading> parse_progress(const std::string& text, std::int64_t now_ms,
                                              const std::optional<ProgressReading>& previous) {
  ProgressReading r;
  r.at_ms = now_ms;
  bool any = false;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const std::size_t name_end = line.find_first_of("{ ");
    const std::size_t value_at = line.rfind(' ');
    if (name_end == std::string_view::npos || value_at == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, name_end);
    double value = 0;
    try {
      value = std::stod(std::string(line.substr(value_at + 1)));
    } catch (const std::exception&) {
      continue;
    }
    if (name == "disttgl_epoch") {
      r.progress.epoch = static_cast<std::int64_t>(value);
      any = true;
    } else if (name == "disttgl_validation_ap" && !std::isnan(value)) {
      r.progress.validation_ap = value;
    } else if (name == "disttgl_events_trained_total") {
      r.events_total = value;
    }
  }
  if (!any) return std::nullopt;
  if (previous && now_ms > previous->at_ms && r.events_total > previous->events_total) {
    r.progress.events_per_second = (r.events_total - previous->events_total) * 1000.0 /
                                   static_cast<double>(now_ms - previous->at_ms);
  } else if (previous && r.events_total == previous->events_total) {
    // Not training (evaluating, or done and lingering): the last training rate stays, or 0
    // when none was seen.
    r.progress.events_per_second = previous->progress.events_per_second.value_or(0.0);
  }
  return r;
}

std::string format_time(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t parse_time(const std::string& text) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return -1;
  return static_cast<std::int64_t>(::timegm(&tm));
}

Actions reconcile(const Job& job, const std::vector<ObservedPod>& pods, bool service_exists,
                  std::int64_t now, const Progress* progress) {
  Decider d{job, pods, now, {}};
  d.run();
  if (progress != nullptr && !d.st.finished() && d.st.phase != "Suspended") {
    // The attempt's epoch only grows within an attempt; a fresh attempt reports its own.
    if (progress->epoch) d.st.progress.epoch = progress->epoch;
    if (progress->events_per_second) d.st.progress.events_per_second = progress->events_per_second;
    if (progress->validation_ap) d.st.progress.validation_ap = progress->validation_ap;
  }
  if (d.st.phase == "Running") {
    const double next = d.a.requeue_after_s.value_or(kProgressPeriodS);
    d.a.requeue_after_s = std::min(next, kProgressPeriodS);
  }
  if (!service_exists && !job.deleting && !d.st.finished() && !job.spec.suspend) {
    d.a.create_service = headless_service(job);
  }
  return std::move(d.a);
}

}  // namespace disttgl::op
