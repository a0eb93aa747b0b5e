// The reconcile over observed states: fresh job, daemons pending, daemons ready, one trainer
// failed, evicted pod, all succeeded, restart limit reached, suspended, startup timeout, spec
// errors -> the exact children, status, conditions and events.
#include "disttgl/operator/reconcile.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace disttgl::op {
namespace {

constexpr std::int64_t kT0 = 1796000000;  // 2026-11-30T...Z

json manifest(int i = 1, int j = 1, int k = 2) {
  return json::parse(R"({
    "apiVersion": "disttgl.io/v1alpha1", "kind": "TGNNJob",
    "metadata": {"name": "wiki", "namespace": "ml", "uid": "u-1", "generation": 1,
                 "creationTimestamp": "2026-11-30T00:00:00Z"},
    "spec": {
      "layout": {"i": 1, "j": 1, "k": 2},
      "model": {"preset": "tgn"},
      "dataset": {"volume": {"persistentVolumeClaim": {"claimName": "data"}}, "path": "wikipedia/wikipedia.csv"},
      "training": {"epochs": 5, "batchSize": 600, "seed": 7, "device": "cpu", "extraArgs": ["--threads", "2"]},
      "trainer": {"image": "disttgl/trainer:0.1.0", "gpus": 1},
      "memoryDaemon": {"image": "disttgl/memory-daemon:0.1.0"},
      "checkpoint": {"volume": {"persistentVolumeClaim": {"claimName": "runs"}}, "path": "wiki"},
      "metricsPort": 9464,
      "runPolicy": {"maxGroupRestarts": 1, "cleanPodPolicy": "Running", "startupTimeoutSeconds": 300}
    }})")
      .patch(json::array({{{"op", "replace"},
                           {"path", "/spec/layout"},
                           {"value", {{"i", i}, {"j", j}, {"k", k}}}}}));
}

ObservedPod pod(const std::string& name, const std::string& role, int rank, int group,
                std::int64_t attempt, const std::string& phase, bool ready = false) {
  ObservedPod p;
  p.name = name;
  p.role = role;
  p.rank = rank;
  p.group = group;
  p.attempt = attempt;
  p.phase = phase;
  p.ready = ready;
  return p;
}

std::vector<ObservedPod> daemons(std::int64_t attempt, const std::string& phase, bool ready) {
  return {pod("wiki-a" + std::to_string(attempt) + "-daemon-0", "memory-daemon", -1, 0, attempt,
              phase, ready),
          pod("wiki-a" + std::to_string(attempt) + "-daemon-1", "memory-daemon", -1, 1, attempt,
              phase, ready)};
}

std::vector<ObservedPod> trainers(std::int64_t attempt, const std::string& phase) {
  return {pod("wiki-a" + std::to_string(attempt) + "-rank-0", "trainer", 0, 0, attempt, phase),
          pod("wiki-a" + std::to_string(attempt) + "-rank-1", "trainer", 1, 1, attempt, phase)};
}

std::vector<std::string> names(const std::vector<json>& pods) {
  std::vector<std::string> out;
  for (const auto& p : pods) out.push_back(p["metadata"]["name"]);
  return out;
}

std::string env_of(const json& pod, const std::string& name) {
  for (const auto& e : pod["spec"]["containers"][0]["env"]) {
    if (e["name"] == name)
      return e.contains("value") ? e["value"].get<std::string>() : "(from field)";
  }
  return "(missing)";
}

std::vector<ObservedPod> operator+(std::vector<ObservedPod> a, const std::vector<ObservedPod>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(Reconcile, AFreshJobGetsItsServiceAndTheDaemonsFirst) {
  const Job job = parse_job(manifest());
  const Actions a = reconcile(job, {}, false, kT0);
  ASSERT_TRUE(a.create_service.has_value());
  EXPECT_EQ((*a.create_service)["spec"]["clusterIP"], "None");
  EXPECT_EQ((*a.create_service)["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(names(a.create_pods),
            (std::vector<std::string>{"wiki-a0-daemon-0", "wiki-a0-daemon-1"}));
  EXPECT_EQ(a.status.phase, "Starting");
  EXPECT_EQ(a.status.layout, "i=1,j=1,k=2");
  EXPECT_EQ(a.status.ready, "0/2");
  EXPECT_EQ(a.status.start_time, format_time(kT0));
  ASSERT_NE(a.status.condition("Created"), nullptr);
  EXPECT_EQ(a.status.condition("Created")->status, "True");
  EXPECT_EQ(a.status.condition("DaemonsReady")->status, "False");
  EXPECT_EQ(a.status.condition("DaemonsReady")->message, "0/2 memory daemons ready");
  EXPECT_EQ(a.requeue_after_s, 300.0);  // the startup timeout
  const json& d = a.create_pods[0];
  EXPECT_EQ(d["metadata"]["ownerReferences"][0]["uid"], "u-1");
  EXPECT_EQ(d["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(d["metadata"]["labels"]["disttgl.io/attempt"], "0");
  EXPECT_EQ(d["spec"]["subdomain"], "wiki");
  EXPECT_EQ(d["spec"]["automountServiceAccountToken"], false);
  EXPECT_EQ(
      d["spec"]["containers"][0]["args"],
      json::parse(
          R"j(["--listen","$(DISTTGL_POD_IP):7070","--layout","i=1,j=1,k=2","--memory-group","0","--job","wiki","--metrics-port","9464","--metrics-address","$(DISTTGL_POD_IP)"])j"));
  EXPECT_EQ(d["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
            "status.podIP");
  EXPECT_EQ(env_of(d, "DISTTGL_POD_IP"), "(from field)");
}

TEST(Reconcile, TrainersWaitUntilEveryDaemonIsReady) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  auto pods = daemons(0, "Running", false);
  pods[0].ready = true;
  const Actions a = reconcile(job, pods, true, kT0 + 5);
  EXPECT_TRUE(a.create_pods.empty()) << names(a.create_pods)[0];
  EXPECT_FALSE(a.create_service.has_value());
  EXPECT_EQ(a.status.condition("DaemonsReady")->message, "1/2 memory daemons ready");
  EXPECT_EQ(a.status.daemons, (RoleCounts{2, 1, 0, 0}));
}

TEST(Reconcile, ReadyDaemonsStartEveryTrainerWithTheLaunchContract) {
  Job job = parse_job(manifest(2, 1, 2));  // W = 4: ranks 0,1 in group 0; 2,3 in group 1
  job.status = reconcile(job, {}, false, kT0).status;
  const Actions a = reconcile(job, daemons(0, "Running", true), true, kT0 + 5);
  ASSERT_EQ(names(a.create_pods), (std::vector<std::string>{"wiki-a0-rank-0", "wiki-a0-rank-1",
                                                            "wiki-a0-rank-2", "wiki-a0-rank-3"}));
  EXPECT_EQ(a.status.condition("DaemonsReady")->status, "True");
  ASSERT_EQ(a.events.size(), 1u);
  EXPECT_EQ(a.events[0].reason, "DaemonsReady");
  const json& r3 = a.create_pods[3];
  EXPECT_EQ(env_of(r3, "DISTTGL_JOB"), "wiki");
  EXPECT_EQ(env_of(r3, "DISTTGL_RANK"), "3");
  EXPECT_EQ(env_of(r3, "DISTTGL_WORLD_SIZE"), "4");
  EXPECT_EQ(env_of(r3, "DISTTGL_LAYOUT"), "i=2,j=1,k=2");
  EXPECT_EQ(env_of(r3, "DISTTGL_MASTER_ADDR"), "wiki-a0-rank-0.wiki");
  EXPECT_EQ(env_of(r3, "DISTTGL_MASTER_PORT"), "29500");
  EXPECT_EQ(env_of(r3, "DISTTGL_MEMORY_DAEMON"), "wiki-a0-daemon-1.wiki:7070");
  EXPECT_EQ(env_of(r3, "DISTTGL_ATTEMPT"), "0");
  EXPECT_EQ(env_of(r3, "DISTTGL_RUN_DIR"), "/run/disttgl/wiki");
  EXPECT_EQ(env_of(r3, "DISTTGL_LOCAL_ADDR"), "(from field)");
  EXPECT_EQ(r3["metadata"]["labels"]["disttgl.io/group"], "1");
  EXPECT_EQ(r3["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], 1);
  EXPECT_EQ(r3["spec"]["restartPolicy"], "Never");
  const json args = r3["spec"]["containers"][0]["args"];
  EXPECT_EQ(args, json::parse(R"j(["train","--data","/data/wikipedia/wikipedia.csv","--config",
      "/opt/disttgl/configs/tgn.yaml","--batch-size","600","--epochs","5","--seed","7","--device",
      "cpu","--threads","2","--output","/run/disttgl/wiki","--metrics-port","9464",
      "--metrics-address","$(DISTTGL_LOCAL_ADDR)"])j"));
  EXPECT_EQ(r3["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"], false);
  // DistTGL's placement: trainers of group 1 beside daemon 1.
  EXPECT_EQ(r3["spec"]["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
              [0]["podAffinityTerm"]["labelSelector"]["matchLabels"]["disttgl.io/group"],
            "1");
}

TEST(Reconcile, EveryPodRunningIsRunning) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  job.status = reconcile(job, daemons(0, "Running", true), true, kT0 + 5).status;
  const Actions a =
      reconcile(job, daemons(0, "Running", true) + trainers(0, "Running"), true, kT0 + 9);
  EXPECT_TRUE(a.create_pods.empty());
  EXPECT_TRUE(a.delete_pods.empty());
  EXPECT_EQ(a.status.phase, "Running");
  EXPECT_EQ(a.status.ready, "2/2");
  EXPECT_EQ(a.status.condition("Running")->status, "True");
  EXPECT_EQ(a.requeue_after_s, kProgressPeriodS);  // rank 0's progress is read again then
  // Progress read from rank 0 lands in the status.
  Progress p;
  p.epoch = 3;
  p.validation_ap = 0.91;
  const Actions b =
      reconcile(job, daemons(0, "Running", true) + trainers(0, "Running"), true, kT0 + 20, &p);
  EXPECT_EQ(b.status.progress.epoch, 3);
  EXPECT_EQ(b.status.progress.validation_ap, 0.91);
  EXPECT_FALSE(b.status.progress.events_per_second.has_value());
}

TEST(Progress, ReadsEpochValidationApAndTheEventsRateFromRankZerosMetrics) {
  const std::string l =
      "{job=\"wiki\",layout=\"i=1,j=1,k=2\",memory_group=\"0\",rank=\"0\",role=\"trainer\"}";
  const std::string first = "# HELP disttgl_epoch x\n# TYPE disttgl_epoch gauge\ndisttgl_epoch" +
                            l + " 2\ndisttgl_validation_ap" + l +
                            " Nan\ndisttgl_events_trained_total" + l + " 60000\n";
  const auto a = parse_progress(first, 1000, std::nullopt);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->progress.epoch, 2);
  EXPECT_FALSE(a->progress.validation_ap.has_value());  // NaN: not validated yet
  EXPECT_FALSE(a->progress.events_per_second.has_value());
  // The same count again, no rate seen yet: nothing trained in between, 0 events/s.
  EXPECT_EQ(parse_progress(first, 6000, a)->progress.events_per_second, 0.0);
  const std::string second = "disttgl_epoch" + l + " 3\ndisttgl_validation_ap" + l +
                             " 0.93\ndisttgl_events_trained_total" + l + " 90000\n";
  const auto b = parse_progress(second, 16000, a);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->progress.epoch, 3);
  EXPECT_EQ(b->progress.validation_ap, 0.93);
  EXPECT_DOUBLE_EQ(*b->progress.events_per_second, 2000.0);  // 30,000 events in 15 s
  // No new events (evaluating, or done and lingering): the last training rate stays.
  const auto c = parse_progress(second, 31000, b);
  EXPECT_DOUBLE_EQ(*c->progress.events_per_second, 2000.0);
  // A counter that went back (a new attempt's process): no rate until the next reading.
  const std::string restarted =
      "disttgl_epoch" + l + " 3\ndisttgl_events_trained_total" + l + " 100\n";
  EXPECT_FALSE(parse_progress(restarted, 46000, c)->progress.events_per_second.has_value());
  EXPECT_FALSE(parse_progress("# nothing here\nup 1\n", 0, std::nullopt).has_value());
}

TEST(Reconcile, AFailedTrainerRestartsTheWholeGroupAsTheNextAttempt) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  job.status = reconcile(job, daemons(0, "Running", true), true, kT0 + 5).status;
  auto pods = daemons(0, "Running", true) + trainers(0, "Running");
  pods[3].phase = "Failed";
  pods[3].exit_code = 74;
  pods[3].reason = "Error";
  const Actions a = reconcile(job, pods, true, kT0 + 60);
  EXPECT_EQ(a.delete_pods, (std::vector<std::string>{"wiki-a0-daemon-0", "wiki-a0-daemon-1",
                                                     "wiki-a0-rank-0", "wiki-a0-rank-1"}));
  EXPECT_TRUE(a.create_pods.empty());
  EXPECT_EQ(a.status.phase, "Restarting");
  EXPECT_EQ(a.status.attempt, 1);
  EXPECT_EQ(a.status.restarts, 1);
  ASSERT_TRUE(a.status.last_failure.has_value());
  EXPECT_EQ(*a.status.last_failure,
            (Failure{"wiki-a0-rank-1", "trainer", "Error", format_time(kT0 + 60), 1, 74}));
  EXPECT_EQ(a.status.condition("Restarting")->message,
            "pod wiki-a0-rank-1 (trainer rank 1) failed: Error, exit code 74; restarting every "
            "pod as attempt 1 (restart 1 of 1)");
  ASSERT_EQ(a.events.size(), 1u);
  EXPECT_EQ(a.events[0],
            (Event{"Warning", "GroupRestart", a.status.condition("Restarting")->message}));
  // The next pass: old pods are going; attempt 1 waits until they are gone (an old rank 0 in
  // its grace period could still write the run directory).
  job.status = a.status;
  auto terminating = pods;
  for (auto& p : terminating) p.deleting = true;
  const Actions waiting = reconcile(job, terminating, true, kT0 + 61);
  EXPECT_TRUE(waiting.delete_pods.empty());
  EXPECT_TRUE(waiting.create_pods.empty());
  EXPECT_EQ(waiting.status.condition("Running")->reason, "WaitingForOldPods");
  EXPECT_EQ(waiting.status.condition("Running")->message,
            "attempt 1: waiting for 4 pod(s) of the previous attempt to terminate");
  EXPECT_EQ(waiting.requeue_after_s, 2.0);
  // Gone: attempt 1's daemons are created.
  job.status = waiting.status;
  const Actions b = reconcile(job, {}, true, kT0 + 70);
  EXPECT_TRUE(b.delete_pods.empty());
  EXPECT_EQ(names(b.create_pods),
            (std::vector<std::string>{"wiki-a1-daemon-0", "wiki-a1-daemon-1"}));
  EXPECT_EQ(b.create_pods[0]["metadata"]["labels"]["disttgl.io/attempt"], "1");
  // Attempt 1's trainers resume the run once rank 0 had validated an epoch, else start over.
  job.status = b.status;
  const auto args_of = [&](const Job& j) {
    return trainer_pod(j, 1, 0)["spec"]["containers"][0]["args"].dump();
  };
  EXPECT_NE(args_of(job).find("\"--output\",\"/run/disttgl/wiki\",\"--overwrite\""),
            std::string::npos)
      << args_of(job);
  EXPECT_EQ(trainer_pod(job, 0, 0)["spec"]["containers"][0]["args"].dump().find("--overwrite"),
            std::string::npos);  // attempt 0 never replaces an existing run
  job.status.progress.validation_ap = 0.9;
  // The run's own config.yaml fixes what --resume refuses: no --config, --batch-size or
  // extraArgs' --lr/--precision (both spellings); the rest stays.
  job.spec.extra_args = {"--lr", "0.01", "--threads", "2", "--precision=bf16", "--patience", "5"};
  EXPECT_EQ(trainer_pod(job, 1, 0)["spec"]["containers"][0]["args"],
            json::parse(R"j(["train","--data","/data/wikipedia/wikipedia.csv","--epochs","5",
                "--seed","7","--device","cpu","--threads","2","--patience","5","--resume",
                "/run/disttgl/wiki","--metrics-port","9464","--metrics-address",
                "$(DISTTGL_LOCAL_ADDR)"])j"));
  EXPECT_EQ(env_of(trainer_pod(job, 1, 0), "DISTTGL_ATTEMPT"), "1");
}

TEST(Reconcile, AnEvictedDaemonAtTheRestartLimitFailsTheJobAndCleansUp) {
  Job job = parse_job(manifest());
  job.status.attempt = 1;
  job.status.restarts = 1;  // maxGroupRestarts is 1
  job.status.start_time = format_time(kT0);
  job.status.attempt_start_time = format_time(kT0 + 100);
  job.status.phase = "Running";
  auto pods = daemons(1, "Running", true) + trainers(1, "Running");
  pods[0].phase = "Failed";
  pods[0].reason = "Evicted";
  const Actions a = reconcile(job, pods, true, kT0 + 200);
  EXPECT_EQ(a.status.phase, "Failed");
  EXPECT_EQ(a.status.completion_time, format_time(kT0 + 200));
  EXPECT_EQ(a.status.condition("Failed")->reason, "RestartLimitExceeded");
  EXPECT_EQ(a.status.condition("Failed")->message,
            "pod wiki-a1-daemon-0 (memory daemon of group 0) failed: Evicted; the group was "
            "restarted 1 time(s), spec.runPolicy.maxGroupRestarts is 1");
  // cleanPodPolicy Running: everything still running goes, the failed pod stays for its logs.
  EXPECT_EQ(a.delete_pods,
            (std::vector<std::string>{"wiki-a1-daemon-1", "wiki-a1-rank-0", "wiki-a1-rank-1"}));
}

TEST(Reconcile, ADaemonEndingBeforeItsTrainersStartRestartsButNotAfter) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  // Before the trainers: a daemon that exits 0 ended too early.
  auto early = daemons(0, "Running", true);
  early[1].phase = "Succeeded";
  const Actions a = reconcile(job, early, true, kT0 + 5);
  EXPECT_EQ(a.status.phase, "Restarting");
  EXPECT_EQ(a.status.last_failure->pod, "wiki-a0-daemon-1");
  // After: a group leader's SHUTDOWN ends its daemon while the trainer finishes (rank 1 here
  // succeeded, rank 0 still evaluates): not a failure, and the job then succeeds.
  job.status = reconcile(job, daemons(0, "Running", true), true, kT0 + 5).status;
  auto late = daemons(0, "Running", true) + trainers(0, "Running");
  late[1].phase = "Succeeded";
  late[3].phase = "Succeeded";
  const Actions b = reconcile(job, late, true, kT0 + 60);
  EXPECT_EQ(b.status.phase, "Running");
  EXPECT_EQ(b.status.restarts, 0);
  EXPECT_TRUE(b.delete_pods.empty());
  job.status = b.status;
  late[2].phase = "Succeeded";
  EXPECT_EQ(reconcile(job, late, true, kT0 + 70).status.phase, "Succeeded");
}

TEST(Reconcile, AllTrainersSucceededIsSuccessAndTheDaemonsGo) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  job.status = reconcile(job, daemons(0, "Running", true), true, kT0 + 5).status;
  const Actions a =
      reconcile(job, daemons(0, "Running", true) + trainers(0, "Succeeded"), true, kT0 + 900);
  EXPECT_EQ(a.status.phase, "Succeeded");
  EXPECT_EQ(a.status.trainers, (RoleCounts{2, 0, 2, 0}));
  EXPECT_EQ(a.status.condition("Succeeded")->message, "all 2 trainers succeeded (attempt 0)");
  EXPECT_EQ(a.delete_pods, (std::vector<std::string>{"wiki-a0-daemon-0", "wiki-a0-daemon-1"}));
  // Finished: later passes change nothing but honour the TTL.
  job.status = a.status;
  job.spec.run_policy.ttl_after_finished_s = 60;
  const Actions b = reconcile(job, trainers(0, "Succeeded"), true, kT0 + 930);
  EXPECT_FALSE(b.delete_job);
  EXPECT_EQ(b.requeue_after_s, 30.0);
  EXPECT_TRUE(reconcile(job, trainers(0, "Succeeded"), true, kT0 + 960).delete_job);
}

TEST(Reconcile, SuspendDeletesThePodsAndResumeStartsAgain) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  job.spec.suspend = true;
  const Actions a = reconcile(job, daemons(0, "Running", true), true, kT0 + 5);
  EXPECT_EQ(a.delete_pods, (std::vector<std::string>{"wiki-a0-daemon-0", "wiki-a0-daemon-1"}));
  EXPECT_TRUE(a.create_pods.empty());
  EXPECT_EQ(a.status.phase, "Suspended");
  EXPECT_EQ(a.status.condition("Suspended")->status, "True");
  job.status = a.status;
  job.spec.suspend = false;
  const Actions b = reconcile(job, {}, true, kT0 + 50);
  EXPECT_EQ(b.status.phase, "Starting");
  EXPECT_EQ(b.status.condition("Suspended")->status, "False");
  EXPECT_EQ(b.status.attempt_start_time, format_time(kT0 + 50));
  EXPECT_EQ(b.status.start_time, format_time(kT0 + 50));  // activeDeadline starts again too
  // Resuming starts a new attempt (not a restart): pods of the suspended one still
  // terminating are awaited, never taken for failures.
  EXPECT_EQ(b.status.attempt, 1);
  EXPECT_EQ(b.status.restarts, 0);
  EXPECT_EQ(names(b.create_pods),
            (std::vector<std::string>{"wiki-a1-daemon-0", "wiki-a1-daemon-1"}));
  auto terminating = daemons(0, "Running", true);
  for (auto& p : terminating) p.deleting = true;
  job.status = b.status;
  const Actions c = reconcile(job, terminating, true, kT0 + 51);
  EXPECT_EQ(c.status.restarts, 0);
  EXPECT_FALSE(c.status.last_failure.has_value());
}

TEST(Reconcile, PodsThatNeverStartFailTheJobWithTheSchedulersReason) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  auto pods = daemons(0, "Pending", false);
  pods[1].unschedulable = true;
  pods[1].scheduling_message = "0/4 nodes are available: 4 Insufficient memory.";
  const Actions early = reconcile(job, pods, true, kT0 + 100);
  EXPECT_EQ(early.status.phase, "Starting");
  EXPECT_EQ(early.requeue_after_s, 200.0);
  const Actions a = reconcile(job, pods, true, kT0 + 300);
  EXPECT_EQ(a.status.phase, "Failed");
  EXPECT_EQ(a.status.condition("Failed")->reason, "StartupTimeout");
  EXPECT_EQ(a.status.condition("Failed")->message,
            "attempt 0: 4 pod(s) not running after spec.runPolicy.startupTimeoutSeconds (300 s); "
            "wiki-a0-daemon-0: Pending; wiki-a0-daemon-1: unschedulable: 0/4 nodes are "
            "available: 4 Insufficient memory.; 2 pod(s) not created (waiting for the daemons)");
  EXPECT_EQ(a.delete_pods, (std::vector<std::string>{"wiki-a0-daemon-0", "wiki-a0-daemon-1"}));
}

// A changed spec (here the epochs, which the CRD allows to change) does not disturb running
// pods: the status records the new generation, nothing is recreated.
TEST(Reconcile, ASpecChangeUpdatesObservedGenerationWithoutTouchingThePods) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  job.status = reconcile(job, daemons(0, "Running", true), true, kT0 + 5).status;
  job.generation = 2;
  job.spec.epochs = 50;
  const Actions a =
      reconcile(job, daemons(0, "Running", true) + trainers(0, "Running"), true, kT0 + 9);
  EXPECT_TRUE(a.create_pods.empty());
  EXPECT_TRUE(a.delete_pods.empty());
  EXPECT_EQ(a.status.observed_generation, 2);
  EXPECT_EQ(a.status.condition("Running")->observed_generation, 2);
  EXPECT_EQ(a.status.phase, "Running");
}

// Once an attempt's trainers were started, a missing pod is never recreated alone (a single
// new rank cannot join collective training): a missing daemon restarts the group at once, a
// missing trainer once the watch-lag grace has passed.
TEST(Reconcile, AVanishedPodIsNeverRecreatedAloneAndRestartsTheGroup) {
  Job job = parse_job(manifest());
  job.status = reconcile(job, {}, false, kT0).status;
  job.status = reconcile(job, daemons(0, "Running", true), true, kT0 + 5).status;
  auto pods = daemons(0, "Running", true) + trainers(0, "Running");
  const std::vector<ObservedPod> one_trainer{pods[0], pods[1], pods[2]};
  const Actions early = reconcile(job, one_trainer, true, kT0 + 10);
  EXPECT_TRUE(early.create_pods.empty());
  EXPECT_EQ(early.status.attempt, 0);
  const Actions late = reconcile(job, one_trainer, true, kT0 + 40);
  EXPECT_EQ(late.status.attempt, 1);
  ASSERT_TRUE(late.status.last_failure.has_value());
  EXPECT_EQ(late.status.last_failure->pod, "wiki-a0-rank-1");
  EXPECT_EQ(late.status.last_failure->reason, "Deleted");
  const std::vector<ObservedPod> no_daemon1{pods[0], pods[2], pods[3]};
  const Actions d = reconcile(job, no_daemon1, true, kT0 + 10);
  EXPECT_EQ(d.status.attempt, 1);
  ASSERT_TRUE(d.status.last_failure.has_value());
  EXPECT_EQ(d.status.last_failure->pod, "wiki-a0-daemon-1");
  EXPECT_TRUE(d.create_pods.empty());
}

TEST(Reconcile, PodsOfAnOlderAttemptAreDeleted) {
  Job job = parse_job(manifest());
  job.status.attempt = 2;
  job.status.start_time = job.status.attempt_start_time = format_time(kT0);
  const Actions a = reconcile(job, daemons(1, "Running", true), true, kT0 + 1);
  EXPECT_EQ(a.delete_pods, (std::vector<std::string>{"wiki-a1-daemon-0", "wiki-a1-daemon-1"}));
  EXPECT_TRUE(a.create_pods.empty());  // attempt 2 starts once they are gone
}

TEST(ParseJob, AFieldOfTheWrongTypeIsNamed) {
  json m = manifest();
  m["spec"]["layout"]["j"] = "2";
  try {
    parse_job(m);
    FAIL() << "parsed";
  } catch (const SpecError& e) {
    EXPECT_STREQ(e.what(), "spec.layout.j: expected an integer, got \"2\"");
  }
  m = manifest();
  m["spec"]["trainer"]["replicas"] = 3;
  try {
    parse_job(m);
    FAIL() << "parsed";
  } catch (const SpecError& e) {
    EXPECT_STREQ(e.what(), "spec.trainer.replicas: 3 differs from i*j*k = 2 of spec.layout");
  }
}

TEST(ComputeThreads, FollowTheTrainersCpuLimitElseItsRequest) {
  const auto threads = [](const char* resources) {
    RoleSpec r;
    r.resources = json::parse(resources);
    return compute_threads(r);
  };
  EXPECT_EQ(threads(R"({})"), std::nullopt);
  EXPECT_EQ(threads(R"({"limits": {"memory": "4Gi"}})"), std::nullopt);
  EXPECT_EQ(threads(R"({"requests": {"cpu": "4"}})"), 4);
  EXPECT_EQ(threads(R"({"requests": {"cpu": 3}})"), 3);
  EXPECT_EQ(threads(R"({"requests": {"cpu": "2"}, "limits": {"cpu": "6"}})"), 6);
  EXPECT_EQ(threads(R"({"limits": {"cpu": "2500m"}})"), 2);
  EXPECT_EQ(threads(R"({"limits": {"cpu": "500m"}})"), 1);
  EXPECT_EQ(threads(R"({"limits": {"cpu": "0.5"}})"), 1);
  try {
    threads(R"({"limits": {"cpu": "two"}})");
    FAIL() << "accepted";
  } catch (const SpecError& e) {
    EXPECT_STREQ(e.what(),
                 "spec.trainer.resources.limits.cpu: '\"two\"' is not a CPU quantity (e.g. 2, "
                 "1500m, 0.5)");
  }
}

TEST(Reconcile, TrainersGetThreadsFromTheirCpuUnlessExtraArgsSayIt) {
  json m = manifest();
  m["spec"]["trainer"]["resources"] = {{"limits", {{"cpu", "3"}}}};
  const auto args = [](const json& manifest) {
    return trainer_pod(parse_job(manifest), 0, 0)["spec"]["containers"][0]["args"];
  };
  // The manifest's extraArgs give --threads 2: theirs stays, the operator adds none.
  json a = args(m);
  EXPECT_EQ(std::count(a.begin(), a.end(), json("--threads")), 1) << a.dump();
  m["spec"]["training"]["extraArgs"] = json::array();
  a = args(m);
  const auto at = std::find(a.begin(), a.end(), json("--threads"));
  ASSERT_NE(at, a.end()) << a.dump();
  EXPECT_EQ(*(at + 1), "3");
  m["spec"]["trainer"]["resources"]["limits"]["cpu"] = "lots";
  EXPECT_THROW(parse_job(m), SpecError);
}

TEST(ParseJob, StatusRoundTripsThroughJson) {
  Job job = parse_job(manifest());
  auto pods = daemons(0, "Running", true) + trainers(0, "Running");
  pods[2].phase = "Failed";
  pods[2].exit_code = 137;
  const JobStatus s = reconcile(job, pods, true, kT0).status;
  EXPECT_EQ(parse_status(status_to_json(s)), s);
}

TEST(ParsePod, ReadsLabelsPhaseExitCodeAndTheSchedulersMessage) {
  const auto p = parse_pod(json::parse(R"({
    "metadata": {"name": "wiki-a3-rank-5", "labels": {"disttgl.io/role": "trainer",
      "disttgl.io/rank": "5", "disttgl.io/group": "1", "disttgl.io/attempt": "3"}},
    "spec": {"nodeName": "gpu-2"},
    "status": {"phase": "Failed", "conditions": [{"type": "Ready", "status": "False"}],
      "containerStatuses": [{"state": {"terminated": {"exitCode": 74, "reason": "Error"}}}]}})"));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->rank, 5);
  EXPECT_EQ(p->group, 1);
  EXPECT_EQ(p->attempt, 3);
  EXPECT_EQ(p->phase, "Failed");
  EXPECT_EQ(p->exit_code, 74);
  EXPECT_EQ(p->reason, "Error");
  EXPECT_EQ(p->node, "gpu-2");
  const auto pending = parse_pod(json::parse(R"({
    "metadata": {"name": "x", "labels": {"disttgl.io/role": "memory-daemon", "disttgl.io/group": "0",
      "disttgl.io/attempt": "0"}},
    "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
      "reason": "Unschedulable", "message": "0/4 nodes are available"}]}})"));
  ASSERT_TRUE(pending.has_value());
  EXPECT_TRUE(pending->unschedulable);
  EXPECT_EQ(pending->scheduling_message, "0/4 nodes are available");
  EXPECT_FALSE(parse_pod(json::parse(R"({"metadata": {"name": "other"}})")).has_value());
}

}  // namespace
}  // namespace disttgl::op
