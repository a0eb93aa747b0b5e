// The trainer's device contract (issue: the trainer on GPUs).
// Without a GPU (CI): --device cuda exits 2 naming the flag, auto trains on the CPU, device
// and precision syntax errors name the field, bf16 autocast trains on the CPU with float32
// state. With a GPU (bench/gpu/device-check.sh runs every test named *Cuda*): GPU and CPU
// agree on test AP, checkpoints move between the devices, deterministic GPU runs and the
// pipelined side-stream copies are bit-identical to sequential ones. Those skip without one.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/model/segment_attention.hpp"
#include "disttgl/trainer/train/device.hpp"
#include "disttgl/trainer/train/trainer.hpp"
#include "../../support/trainer_cli.hpp"

namespace disttgl::trainer {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kCollegeMsg =
    std::string(DISTTGL_SHARED_DIR) + "/datasets/collegemsg/CollegeMsg.txt";

fs::path temp_dir(const std::string& name) { return test::temp_path("device", name); }

std::pair<int, std::string> run(const std::string& args) {
  return test::run_trainer(args, "device");
}

json read_json(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

std::vector<double> losses(const fs::path& run_dir) {
  std::vector<double> out;
  std::ifstream in(run_dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line)["loss"].get<double>());
  return out;
}

const Dataset& college_msg() {
  static const Dataset d = import_dataset(kCollegeMsg, {});
  return d;
}

// Comparisons across devices or precisions turn dropout off: the CPU and CUDA dropout
// generators differ, which would make them comparisons of two seeds.
TrainConfig config_on(const std::string& device, const std::string& precision = "fp32",
                      bool dropout = true) {
  auto c = parse_config("model: tgn\n", "test");
  if (!dropout) c.model.dropout = c.model.attention_dropout = 0.0;
  c.optim.epochs = 1;
  c.optim.batch_size = 600;
  c.optim.patience = 0;
  c.eval.validation_mrr = false;
  c.eval.mrr_negatives = 9;  // test MRR stays cheap; these tests compare AP
  c.runtime.device = device;
  c.runtime.precision = precision;
  return c;
}

RunOptions options_in(const fs::path& dir, std::int64_t max_batches = 0) {
  RunOptions o;
  o.output_dir = dir.string();
  o.seed = 0;
  o.threads = 2;
  o.max_train_batches = max_batches;
  return o;
}

// ---- without a GPU: the error paths and the CPU side ----

TEST(DeviceCli, GpuAskedForWithoutAGpuExitsTwoNamingTheFlagAndWritesNothing) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is visible";
  const auto dir = temp_dir("nocuda");
  const std::string expected =
      "runtime.device (--device): cuda requested but no CUDA device is visible";
  for (const std::string cmd : {"train", "pretrain-static"}) {
    const auto [code, out] =
        run(cmd + " --data " + kCollegeMsg + " --output " + dir.string() + " --device cuda");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find(expected), std::string::npos) << out;
    EXPECT_EQ(out.find("import:"), std::string::npos) << "checked before the import: " << out;
    EXPECT_FALSE(fs::exists(dir));
  }
  const auto [code, out] = run("evaluate --checkpoint /nonexistent.pt --data " + kCollegeMsg +
                               " --device cuda:1");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--device: cuda:1 requested but no CUDA device is visible"),
            std::string::npos)
      << out;
}

TEST(DeviceCli, UnknownDeviceOrPrecisionExitsTwoNamingTheField) {
  const auto dir = temp_dir("badsyntax");
  auto [code, out] = run("train --data " + kCollegeMsg + " --output " + dir.string() +
                         " --device gpu");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--device: unknown device 'gpu' (expected auto, cpu, cuda or cuda:N)"),
            std::string::npos)
      << out;
  std::tie(code, out) = run("train --data " + kCollegeMsg + " --output " + dir.string() +
                            " --precision fp16");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--precision: fp16 not in {fp32,bf16}"), std::string::npos) << out;
  const auto config = temp_dir("bad_runtime.yaml");
  std::ofstream(config) << "model: tgn\nruntime:\n  device: cuda:x\n";
  std::tie(code, out) = run("train --data " + kCollegeMsg + " --output " + dir.string() +
                            " --config " + config.string());
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(config.string() +
                     ": runtime.device: unknown value 'cuda:x' (expected auto, cpu, cuda or "
                     "cuda:N)"),
            std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(dir));
  fs::remove(config);
}

// A run moves between devices on --resume: its config.yaml's device is named when it is
// missing here, --device overrides it, and --precision (which changes the training) is
// refused.
TEST(DeviceCli, ResumeNamesTheRunsDeviceAndMayMoveIt) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is visible";
  const auto dir = temp_dir("resume");
  const std::string quick = " --max-train-batches 3 --threads 2";
  auto [code, out] = run("train --data " + kCollegeMsg + " --output " + dir.string() +
                         " --device cpu --epochs 1" + quick);
  ASSERT_EQ(code, 0) << out;
  // As if trained on a GPU machine.
  const auto config = dir / "config.yaml";
  std::string yaml = test::read_text(config);
  const auto at = yaml.find("device: cpu");
  ASSERT_NE(at, std::string::npos) << yaml;
  yaml.replace(at, 11, "device: cuda");
  std::ofstream(config, std::ios::trunc) << yaml;
  const std::string resume = "train --data " + kCollegeMsg + " --resume " + dir.string();
  std::tie(code, out) = run(resume + " --epochs 2" + quick);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(config.string() +
                     ": runtime.device (--device runs it elsewhere): cuda requested but no CUDA "
                     "device is visible"),
            std::string::npos)
      << out;
  std::tie(code, out) = run(resume + " --epochs 2 --device cpu --precision bf16" + quick);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--precision: not allowed with --resume"), std::string::npos) << out;
  EXPECT_EQ(losses(dir).size(), 1u);  // refused runs leave the run as it was
  std::tie(code, out) = run(resume + " --epochs 2 --device cpu" + quick);
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(losses(dir).size(), 2u);
  EXPECT_EQ(read_json(dir / "summary.json")["device"].get<std::string>(), "cpu");
  fs::remove_all(dir);
}

TEST(DeviceConfig, RuntimeSectionRoundTripsAndDefaultsToAutoFp32) {
  const auto c = parse_config("model: tgn\n", "t");
  EXPECT_EQ(c.runtime.device, "auto");
  EXPECT_EQ(c.runtime.precision, "fp32");
  EXPECT_FALSE(c.runtime.deterministic);
  const auto d = parse_config(
      "model: tgn\nruntime:\n  device: cuda:2\n  precision: bf16\n  deterministic: true\n", "t");
  const auto again = parse_config(to_yaml(d), "again");
  EXPECT_EQ(again.runtime.device, "cuda:2");
  EXPECT_EQ(again.runtime.precision, "bf16");
  EXPECT_TRUE(again.runtime.deterministic);
  EXPECT_THROW(parse_config("model: tgn\nruntime:\n  precision: fp8\n", "t"), ConfigError);
  EXPECT_THROW(parse_config("model: tgn\nruntime:\n  gpus: 2\n", "t"), ConfigError);
}

TEST(Device, ResolveFollowsWhatTheMachineHas) {
  EXPECT_EQ(resolve_device("cpu", "f"), torch::Device(torch::kCPU));
  if (torch::cuda::is_available()) {
    EXPECT_EQ(resolve_device("auto", "f"), torch::Device(torch::kCUDA, 0));
    const auto past = "cuda:" + std::to_string(torch::cuda::device_count());
    try {
      resolve_device(past, "--device");
      FAIL() << "no error for " << past;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("--device: " + past + " does not exist"),
                std::string::npos)
          << e.what();
    }
  } else {
    EXPECT_EQ(resolve_device("auto", "f"), torch::Device(torch::kCPU));
    EXPECT_THROW(resolve_device("cuda:0", "f"), ConfigError);
  }
  // torch keeps device indices in an int8: values it would wrap are refused by the syntax.
  for (const char* bad : {"cuda0", "cuda:01", "cuda:256", "cuda:-1", "cuda:", "CUDA"}) {
    EXPECT_THROW(resolve_device(bad, "f"), ConfigError) << bad;
  }
  EXPECT_TRUE(is_device_syntax("cuda:99"));
  EXPECT_TRUE(is_device_syntax("cuda:10"));
}

TEST(DeviceCli, AutoTrainsOnTheCpuWithoutAGpu) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is visible";
  const auto dir = temp_dir("auto");
  const auto [code, out] = run("train --data " + kCollegeMsg + " --output " + dir.string() +
                               " --device auto --epochs 1 --max-train-batches 5 --threads 2");
  ASSERT_EQ(code, 0) << out;
  const auto summary = read_json(dir / "summary.json");
  EXPECT_EQ(summary["device"].get<std::string>(), "cpu");
  EXPECT_EQ(summary["precision"].get<std::string>(), "fp32");
  EXPECT_EQ(summary["pipeline_depth"].get<int>(), 0);  // in-process CPU default
  EXPECT_EQ(summary["config"]["runtime"]["device"].get<std::string>(), "auto");
  fs::remove_all(dir);
}

TEST(Autocast, GuardEnablesBf16ForItsScopeAndRestores) {
  ASSERT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    const AutocastGuard amp(torch::kCPU, torch::kBFloat16);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    const auto y = torch::mm(torch::ones({2, 3}), torch::ones({3, 2}));
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    {
      const AutocastGuard off(torch::kCPU, std::nullopt);  // fp32: no change
      EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    }
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(torch::mm(torch::ones({2, 3}), torch::ones({3, 2})).scalar_type(), torch::kFloat);
}

// bf16 autocast runs the forward and loss in bf16 while weights, optimizer and the node
// memory stay float32: the run learns about as well as fp32 over the same batches.
TEST(Autocast, Bf16TrainingOnTheCpuLearnsWithFloat32State) {
  const auto fp32_dir = temp_dir("fp32");
  const auto bf16_dir = temp_dir("bf16");
  auto fp32 = Trainer(college_msg(), config_on("cpu", "fp32", false), options_in(fp32_dir, 30)).fit();
  auto bf16 = Trainer(college_msg(), config_on("cpu", "bf16", false), options_in(bf16_dir, 30)).fit();
  const auto l32 = losses(fp32_dir);
  const auto l16 = losses(bf16_dir);
  ASSERT_EQ(l16.size(), 1u);
  EXPECT_TRUE(std::isfinite(l16[0]));
  EXPECT_NE(l16[0], l32[0]);  // the precision setting reached the compute
  EXPECT_NEAR(l16[0], l32[0], 0.02);
  EXPECT_NEAR(bf16.ap, fp32.ap, 0.02) << "fp32 " << fp32.ap << " bf16 " << bf16.ap;
  EXPECT_GT(bf16.ap, 0.6);
  const auto summary = read_json(bf16_dir / "summary.json");
  EXPECT_EQ(summary["precision"].get<std::string>(), "bf16");
  // The checkpoint's memory and weights are float32.
  torch::serialize::InputArchive root, memory;
  root.load_from((bf16_dir / "checkpoint.pt").string());
  root.read("memory", memory);
  torch::Tensor m;
  memory.read("memory", m);
  EXPECT_EQ(m.scalar_type(), torch::kFloat);
  fs::remove_all(fp32_dir);
  fs::remove_all(bf16_dir);
}

// Every model kind and attention branch runs under bf16 autocast: the padding logits and the
// attention aggregation stay float32 (TGN with many narrow heads takes the per-slot
// projection branch; APAN masks empty mailbox slots).
TEST(Autocast, EveryModelKindTrainsUnderBf16OnTheCpu) {
  for (const std::string yaml :
       {"model: tgn\n", "model: tgn\nembedding:\n  heads: 10\n", "model: jodie\n",
        "model: apan\n"}) {
    std::vector<double> ap, loss;
    for (const std::string precision : {"fp32", "bf16"}) {
      auto c = parse_config(yaml, "test");
      c.model.dropout = c.model.attention_dropout = 0.0;
      c.optim.epochs = 1;
      c.optim.patience = 0;
      c.eval.validation_mrr = false;
      c.eval.mrr_negatives = 3;
      c.runtime.device = "cpu";
      c.runtime.precision = precision;
      const auto dir = temp_dir("kinds");
      ap.push_back(Trainer(college_msg(), c, options_in(dir, 5)).fit().ap);
      loss.push_back(losses(dir).at(0));
      fs::remove_all(dir);
    }
    EXPECT_TRUE(std::isfinite(loss[1])) << yaml;
    EXPECT_NEAR(loss[1], loss[0], 0.02) << yaml;
    EXPECT_NEAR(ap[1], ap[0], 0.03) << yaml << " fp32 " << ap[0] << " bf16 " << ap[1];
  }
}

// The reference aggregation (the GPU path) under autocast: bf16 logits could not hold the
// padding value, so it computes in float32.
TEST(Autocast, ReferenceAttentionComputesInFloat32UnderAutocast) {
  const auto x = torch::randn({4, 3, 8});
  const auto qk = torch::randn({4, 2, 8});
  auto mask = torch::ones({4, 3}, torch::kBool);
  mask.index_put_({0, 2}, false);
  mask.index_put_({3}, false);  // a root without neighbours
  const auto expected = segment_attention_reference(x, qk, mask, {});
  const AutocastGuard amp(torch::kCPU, torch::kBFloat16);
  const auto got = segment_attention_reference(x.to(torch::kBFloat16), qk.to(torch::kBFloat16),
                                               mask, {});
  EXPECT_EQ(got.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(got, expected, 0.05, 0.05));
  EXPECT_EQ(got[3].abs().max().item<float>(), 0.0f);
}

// ---- with a GPU (bench/gpu/device-check.sh) ----

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (runs in bench/gpu/device-check.sh)"

TEST(CudaTraining, GpuAndCpuAgreeOnTestApAfterOneEpoch) {
  SKIP_WITHOUT_CUDA();
  const auto gpu_dir = temp_dir("gpu");
  const auto cpu_dir = temp_dir("cpu");
  const auto gpu = Trainer(college_msg(), config_on("cuda", "fp32", false), options_in(gpu_dir)).fit();
  const auto cpu = Trainer(college_msg(), config_on("cpu", "fp32", false), options_in(cpu_dir)).fit();
  EXPECT_NEAR(gpu.ap, cpu.ap, 0.01) << "gpu " << gpu.ap << " cpu " << cpu.ap;
  const auto summary = read_json(gpu_dir / "summary.json");
  EXPECT_EQ(summary["device"].get<std::string>().rfind("cuda:0", 0), 0u);
  EXPECT_EQ(summary["pipeline_depth"].get<int>(), 1);
  fs::remove_all(gpu_dir);
  fs::remove_all(cpu_dir);
}

// The side-stream copies are fenced correctly: prefetching batches ahead on the GPU gives
// bit-for-bit the losses of the sequential loop (deterministic kernels in both).
TEST(CudaTraining, DeterministicRunsAreBitIdenticalWithAndWithoutThePipeline) {
  SKIP_WITHOUT_CUDA();
  struct Reset {  // deterministic mode is process-wide: off again even after a failed ASSERT
    ~Reset() { apply_determinism(false); }
  } reset;
  std::vector<std::vector<double>> runs;
  std::vector<double> aps;
  for (int depth : {0, 1, 1}) {
    const auto dir = temp_dir("det" + std::to_string(runs.size()));
    auto c = config_on("cuda");
    c.optim.epochs = 2;
    c.runtime.deterministic = true;
    auto o = options_in(dir, 40);
    o.pipeline_depth = depth;
    aps.push_back(Trainer(college_msg(), c, o).fit().ap);
    runs.push_back(losses(dir));
    fs::remove_all(dir);
  }
  for (std::size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (std::size_t e = 0; e < runs[0].size(); ++e) EXPECT_EQ(runs[r][e], runs[0][e]);
    EXPECT_EQ(aps[r], aps[0]);
  }
}

// A checkpoint written on the GPU evaluates on the CPU (and the CPU's on the GPU) with the
// same test metrics up to float rounding, and a GPU run resumes on the CPU.
TEST(CudaTraining, CheckpointMovesBetweenGpuAndCpu) {
  SKIP_WITHOUT_CUDA();
  const auto dir = temp_dir("portable");
  const auto gpu = Trainer(college_msg(), config_on("cuda"), options_in(dir, 30)).fit();
  const auto checkpoint = (dir / "checkpoint.pt").string();
  RuntimeConfig cpu;
  cpu.device = "cpu";
  const auto on_cpu = Trainer::evaluate_checkpoint(college_msg(), checkpoint, "test", 2, "", cpu);
  EXPECT_NEAR(on_cpu.ap, gpu.ap, 1e-3);
  RuntimeConfig cuda;
  cuda.device = "cuda";
  const auto back = Trainer::evaluate_checkpoint(college_msg(), checkpoint, "test", 2, "", cuda);
  EXPECT_NEAR(back.ap, gpu.ap, 1e-5);
  // Resume the GPU run for a second epoch on the CPU.
  auto c = config_on("cpu");
  c.optim.epochs = 2;
  auto o = options_in(dir, 30);
  o.resume = true;
  Trainer(college_msg(), c, o).fit();
  EXPECT_EQ(losses(dir).size(), 2u);
  EXPECT_EQ(read_json(dir / "summary.json")["device"].get<std::string>(), "cpu");
  fs::remove_all(dir);
}

TEST(CudaTraining, Bf16OnTheGpuLearnsLikeFp32) {
  SKIP_WITHOUT_CUDA();
  const auto a = temp_dir("gpu_fp32");
  const auto b = temp_dir("gpu_bf16");
  const auto fp32 = Trainer(college_msg(), config_on("cuda", "fp32", false), options_in(a)).fit();
  const auto bf16 = Trainer(college_msg(), config_on("cuda", "bf16", false), options_in(b)).fit();
  EXPECT_NEAR(bf16.ap, fp32.ap, 0.02) << "fp32 " << fp32.ap << " bf16 " << bf16.ap;
  fs::remove_all(a);
  fs::remove_all(b);
}

}  // namespace
}  // namespace disttgl::trainer
