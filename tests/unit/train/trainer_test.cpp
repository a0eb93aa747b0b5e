// Whole training runs: leak detector, determinism, resume, a real-data smoke run, and the
// bad-input contract of the CLI (exit 2, nothing overwritten).
#include "disttgl/trainer/train/trainer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
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
#include "../../support/trainer_cli.hpp"
#include "train_test_util.hpp"

namespace disttgl::trainer {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

using test::random_graph;

fs::path temp_dir(const std::string& name) { return test::temp_path("train", name); }

TrainConfig small_config(std::int64_t epochs, std::int64_t batch_size) {
  auto c = parse_config("model: tgn\n", "test");
  c.runtime.device = "cpu";  // the bit-for-bit tests hold on the CPU (docs/gpu.md)
  c.optim.epochs = epochs;
  c.optim.batch_size = batch_size;
  c.optim.patience = 0;
  return c;
}

std::vector<json> metrics_lines(const fs::path& run) {
  std::vector<json> lines;
  std::ifstream in(run / "metrics.jsonl");
  std::string text;
  while (std::getline(in, text)) lines.push_back(json::parse(text));
  return lines;
}

TEST(Trainer, LeakDetectorRandomGraphStaysAtChance) {
  const auto ds = random_graph(200, 6000, 11);
  const auto dir = temp_dir("leak");
  RunOptions opt;
  opt.output_dir = dir.string();
  opt.threads = 2;
  opt.seed = 1;
  const auto test = Trainer(ds, small_config(3, 200), opt).fit();
  EXPECT_NEAR(test.ap, 0.5, 0.05) << "AP far from chance on unpredictable events: a leak";
  EXPECT_NEAR(test.auc, 0.5, 0.05);
  fs::remove_all(dir);
}

TEST(Trainer, SameSeedSameThreadsSameLossesBitForBit) {
  const auto ds = random_graph(300, 4000, 5);
  std::vector<std::vector<json>> runs;
  for (int r = 0; r < 2; ++r) {
    const auto dir = temp_dir("determinism" + std::to_string(r));
    RunOptions opt;
    opt.output_dir = dir.string();
    opt.threads = 2;
    opt.seed = 3;
    Trainer(ds, small_config(2, 300), opt).fit();
    runs.push_back(metrics_lines(dir));
    fs::remove_all(dir);
  }
  ASSERT_EQ(runs[0].size(), 2u);
  ASSERT_EQ(runs[1].size(), 2u);
  for (std::size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(runs[0][e]["loss"].get<double>(), runs[1][e]["loss"].get<double>()) << "epoch " << e;
    EXPECT_EQ(runs[0][e]["val"]["ap"].get<double>(), runs[1][e]["val"]["ap"].get<double>());
  }
}

TEST(Trainer, ValidationWithoutMrrKeepsApAndLogsNullMrr) {
  const auto ds = random_graph(300, 3000, 9);
  std::vector<json> val;
  std::vector<json> test;
  for (const bool with_mrr : {true, false}) {
    const auto dir = temp_dir(with_mrr ? "val_mrr" : "val_no_mrr");
    RunOptions opt;
    opt.output_dir = dir.string();
    opt.threads = 2;
    opt.seed = 4;
    auto cfg = small_config(1, 300);
    cfg.eval.validation_mrr = with_mrr;
    Trainer(ds, cfg, opt).fit();
    const auto lines = metrics_lines(dir);
    ASSERT_EQ(lines.size(), 1u);
    val.push_back(lines[0]["val"]);
    std::ifstream in(dir / "summary.json");
    const auto summary = json::parse(in);
    test.push_back(summary["test"]);
    // A JSON boolean, not the string "false" (truthy in Python and JavaScript).
    EXPECT_EQ(summary["config"]["eval"]["validation_mrr"], json(with_mrr));
    fs::remove_all(dir);
  }
  EXPECT_TRUE(val[0]["mrr"].is_number());
  EXPECT_TRUE(val[1]["mrr"].is_null());
  // The first negative of each positive is the same draw either way.
  EXPECT_NEAR(val[0]["ap"].get<double>(), val[1]["ap"].get<double>(), 1e-6);
  EXPECT_NEAR(val[0]["auc"].get<double>(), val[1]["auc"].get<double>(), 1e-6);
  EXPECT_EQ(val[0]["events"].get<std::int64_t>(), val[1]["events"].get<std::int64_t>());
  // Test is always ranked against all mrr_negatives.
  EXPECT_TRUE(test[1]["mrr"].is_number());
  EXPECT_NEAR(test[0]["mrr"].get<double>(), test[1]["mrr"].get<double>(), 1e-6);
}

TEST(Trainer, ResumeGivesTheSameLossesAsAnUninterruptedRun) {
  const auto ds = random_graph(300, 4000, 9);
  const auto straight = temp_dir("straight");
  const auto resumed = temp_dir("resumed");
  RunOptions opt;
  opt.threads = 2;
  opt.seed = 4;
  opt.output_dir = straight.string();
  Trainer(ds, small_config(3, 300), opt).fit();
  opt.output_dir = resumed.string();
  Trainer(ds, small_config(1, 300), opt).fit();  // "interrupted" after epoch 1
  opt.resume = true;
  Trainer(ds, small_config(3, 300), opt).fit();
  const auto a = metrics_lines(straight);
  const auto b = metrics_lines(resumed);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(a[e]["loss"].get<double>(), b[e]["loss"].get<double>()) << "epoch " << e + 1;
    EXPECT_EQ(a[e]["val"]["mrr"].get<double>(), b[e]["val"]["mrr"].get<double>());
  }
  fs::remove_all(straight);
  fs::remove_all(resumed);
}

std::pair<int, std::string> run(const std::string& args) {
  return test::run_trainer(args, "train");
}

const std::string kCollegeMsg =
    std::string(DISTTGL_SHARED_DIR) + "/datasets/collegemsg/CollegeMsg.txt";

TEST(TrainerCli, SmokeOneEpochOfTgnOnCollegeMsg) {
  const auto dir = temp_dir("smoke");
  const auto [code, out] = run("train --data " + kCollegeMsg + " --config " + DISTTGL_SOURCE_DIR +
                               "/configs/tgn.yaml --output " + dir.string() +
                               " --epochs 1 --batch-size 200 --seed 0 --threads 2");
  ASSERT_EQ(code, 0) << out;
  std::ifstream in(dir / "summary.json");
  const auto summary = json::parse(in);
  EXPECT_GE(summary["test"]["ap"].get<double>(), 0.80);
  EXPECT_EQ(summary["epochs"].get<int>(), 1);
  EXPECT_EQ(summary["dataset"]["num_events"].get<int>(), 59835);
  EXPECT_TRUE(fs::is_regular_file(dir / "checkpoint.pt"));
  // evaluate reproduces the test metrics from the checkpoint (its JSON is the last line).
  const auto last_json = [](const std::string& text) {
    return json::parse(text.substr(text.rfind("\n{") + 1));
  };
  const auto [ecode, eout] = run("evaluate --checkpoint " + (dir / "checkpoint.pt").string() +
                                 " --data " + kCollegeMsg + " --threads 2");
  ASSERT_EQ(ecode, 0) << eout;
  const json random = last_json(eout);
  EXPECT_DOUBLE_EQ(random["ap"].get<double>(), summary["test"]["ap"].get<double>());
  EXPECT_EQ(random["negative_strategy"], "random");
  // The three negative strategies give three different APs on this one model, and
  // --negatives reaches the draws: its headline AP is the summary's number for that strategy.
  const json& by = summary["test"]["negatives"];
  const double ap_random = by["random"]["ap"], ap_hist = by["historical"]["ap"],
               ap_ind = by["inductive"]["ap"];
  EXPECT_DOUBLE_EQ(ap_random, summary["test"]["ap"].get<double>());
  EXPECT_GT(std::abs(ap_random - ap_hist), 0.01);
  EXPECT_GT(std::abs(ap_random - ap_ind), 0.01);
  EXPECT_GT(std::abs(ap_hist - ap_ind), 0.001);
  EXPECT_EQ(by["random"]["fallback_fraction"].get<double>(), 0.0);
  for (const std::string strategy : {"historical", "inductive"}) {
    const auto [hcode, hout] = run("evaluate --checkpoint " + (dir / "checkpoint.pt").string() +
                                   " --data " + kCollegeMsg + " --threads 2 --negatives " +
                                   strategy);
    ASSERT_EQ(hcode, 0) << hout;
    const json m = last_json(hout);
    EXPECT_EQ(m["negative_strategy"], strategy);
    EXPECT_DOUBLE_EQ(m["ap"].get<double>(), by[strategy]["ap"].get<double>()) << strategy;
    EXPECT_NE(m["mrr"].get<double>(), random["mrr"].get<double>()) << strategy;
  }
  // The inductive setting: CollegeMsg's test split has 4,876 positives with a node that has
  // no training event (of 8,976).
  EXPECT_EQ(summary["test"]["events"].get<int>(), 8976);
  EXPECT_EQ(summary["test"]["new_nodes"]["events"].get<int>(), 4876);
  EXPECT_GT(summary["test"]["new_nodes"]["ap"].get<double>(), 0.6);
  fs::remove_all(dir);
}

// A checkpoint remembers which static node memory it was trained with (shape and CRC-32):
// evaluate and --resume refuse a missing or different table instead of scoring wrongly.
TEST(TrainerCli, CheckpointRefusesAStaticMemoryOtherThanItsOwn) {
  const auto dir = temp_dir("static_ckpt");
  const auto table = temp_dir("static_a.pt");
  const auto other = temp_dir("static_b.pt");
  for (const auto& [path, seed] : {std::pair{table, 1}, std::pair{other, 2}}) {
    torch::manual_seed(seed);
    torch::serialize::OutputArchive a;
    a.write("static_memory", torch::randn({1899, 8}));
    a.save_to(path.string());
  }
  const auto [code, out] =
      run("train --data " + kCollegeMsg + " --output " + dir.string() +
          " --epochs 1 --max-train-batches 3 --threads 1 --static-memory " + table.string());
  ASSERT_EQ(code, 0) << out;
  const std::string ckpt = (dir / "checkpoint.pt").string();
  const std::string eval = "evaluate --data " + kCollegeMsg + " --threads 1 --checkpoint " + ckpt;
  const auto [c1, o1] = run(eval);
  EXPECT_EQ(c1, 2) << o1;
  EXPECT_NE(o1.find(ckpt + ": this model was trained with a static node memory of shape "
                           "[1899, 8]; pass the same table with --static-memory"),
            std::string::npos)
      << o1;
  const auto [c2, o2] = run(eval + " --static-memory " + other.string());
  EXPECT_EQ(c2, 2) << o2;
  EXPECT_NE(o2.find("--static-memory " + other.string() +
                    " is not the table this model was "
                    "trained with"),
            std::string::npos)
      << o2;
  const auto [c3, o3] = run(eval + " --static-memory " + table.string());
  EXPECT_EQ(c3, 0) << o3;
  const auto [c4, o4] =
      run("train --data " + kCollegeMsg + " --resume " + dir.string() + " --epochs 2 --threads 1");
  EXPECT_EQ(c4, 2) << o4;
  EXPECT_NE(o4.find((dir / "last.pt").string() + ": this model was trained with a static node "
                                                 "memory"),
            std::string::npos)
      << o4;
  fs::remove_all(dir);
  fs::remove(table);
  fs::remove(other);
}

TEST(TrainerCli, GeneralReadsTheRawCanParlFileAsOneIdSpace) {
  const std::string raw = std::string(DISTTGL_SHARED_DIR) + "/datasets/canparl/CanParl.csv";
  const auto dir = temp_dir("canparl_general");
  const auto [code, out] = run("train --data " + raw + " --general --output " + dir.string() +
                               " --epochs 1 --max-train-batches 2 --threads 1");
  ASSERT_EQ(code, 0) << out;
  std::ifstream in(dir / "summary.json");
  const auto summary = json::parse(in);
  EXPECT_EQ(summary["dataset"]["num_nodes"].get<int>(), 734);  // 978 without --general
  EXPECT_EQ(summary["dataset"]["bipartite"].get<bool>(), false);
  // A prepared directory's numbering is fixed: --general there is a mistake, not a no-op.
  const auto prepared = temp_dir("canparl_prepared");
  const auto [pcode, pout] =
      run("prepare --input " + raw + " --general --output " + prepared.string());
  ASSERT_EQ(pcode, 0) << pout;
  const auto [code2, out2] = run("evaluate --data " + prepared.string() +
                                 " --general --checkpoint " + (dir / "checkpoint.pt").string());
  EXPECT_EQ(code2, 2) << out2;
  EXPECT_NE(
      out2.find("--general: applies to raw files; " + prepared.string() + " is already prepared"),
      std::string::npos)
      << out2;
  fs::remove_all(dir);
  fs::remove_all(prepared);
}

TEST(TrainerCli, StaticMemoryOfTheWrongShapeExitsTwoAndWritesNothing) {
  const auto dir = temp_dir("badstatic");
  const auto table = temp_dir("badstatic.pt");
  torch::serialize::OutputArchive a;
  a.write("static_memory", torch::zeros({10, 100}));
  a.save_to(table.string());
  const auto [code, out] = run("train --data " + kCollegeMsg + " --output " + dir.string() +
                               " --static-memory " + table.string());
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(table.string() + ": static node memory has shape [10, 100] (Float), "
                                      "expected [1899, d] float32 for this dataset's 1899 nodes"),
            std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(dir));
  fs::remove(table);
}

TEST(TrainerCli, UnreadableCheckpointExitsTwo) {
  const auto bad = temp_dir("bad_checkpoint.pt");
  std::ofstream(bad) << "not a checkpoint";
  const auto [code, out] = run("evaluate --checkpoint " + bad.string() + " --data " + kCollegeMsg);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(bad.string() + ": not a disttgl checkpoint"), std::string::npos) << out;
  fs::remove(bad);
}

TEST(TrainerCli, BadConfigKeyExitsTwoAndExistingRunIsUntouched) {
  const auto dir = temp_dir("existing");
  fs::create_directories(dir);
  std::ofstream(dir / "summary.json") << "{\"keep\": 1}\n";
  const auto config = temp_dir("bad.yaml");
  std::ofstream(config) << "model: tgn\nmemory:\n  dim: -5\n";
  const auto [code, out] = run("train --data " + kCollegeMsg + " --config " + config.string() +
                               " --output " + dir.string() + " --overwrite");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(config.string() + ": memory.dim: must be >= 1, got -5"), std::string::npos)
      << out;
  std::ifstream in(dir / "summary.json");
  EXPECT_EQ(json::parse(in)["keep"].get<int>(), 1);
  fs::remove_all(dir);
  fs::remove(config);
}

// The static-memory options are refused in the user's terms, before anything is written.
TEST(TrainerCli, StaticMemoryOptionsThatCannotWorkExitTwo) {
  const auto dir = temp_dir("static_opts");
  const auto table = temp_dir("static_opts.pt");
  {
    torch::serialize::OutputArchive a;
    a.write("static_memory", torch::zeros({1899, 8}));
    a.save_to(table.string());
  }
  const auto joint = temp_dir("joint.yaml");
  std::ofstream(joint) << "model: tgn\nmemory:\n  static: joint\n";
  const auto dropout = temp_dir("dropout.yaml");
  std::ofstream(dropout) << "model: tgn\nmemory:\n  static_dropout: 0.5\n";
  const std::string common = "train --data " + kCollegeMsg + " --output " + dir.string() +
                             " --epochs 1 --threads 1 --config ";
  const auto [c1, o1] = run(common + joint.string() + " --static-memory " + table.string());
  EXPECT_EQ(c1, 2) << o1;
  EXPECT_NE(o1.find("memory.static: joint cannot be combined with --static-memory (a pre-trained "
                    "table)"),
            std::string::npos)
      << o1;
  const auto [c2, o2] = run(common + dropout.string());
  EXPECT_EQ(c2, 2) << o2;
  EXPECT_NE(o2.find("memory.static_dropout needs a static node memory (memory.static: joint or "
                    "--static-memory)"),
            std::string::npos)
      << o2;
  EXPECT_FALSE(fs::exists(dir));
  for (const auto& f : {table, joint, dropout}) fs::remove(f);
}

TEST(TrainerCli, ResumeRefusesConfigOverridesAndNonRunDirectories) {
  const auto dir = temp_dir("resume_target");
  fs::create_directories(dir);
  std::ofstream(dir / "config.yaml") << "model: tgn\n";
  const auto [code, out] =
      run("train --data " + kCollegeMsg + " --resume " + dir.string() + " --batch-size 100");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--batch-size: not allowed with --resume; the run continues with its own " +
                     (dir / "config.yaml").string()),
            std::string::npos)
      << out;
  const auto [code2, out2] = run("train --data " + kCollegeMsg + " --resume " + dir.string() +
                                 " --config configs/tgn.yaml");
  EXPECT_EQ(code2, 2) << out2;
  EXPECT_NE(out2.find("--config: not allowed with --resume"), std::string::npos) << out2;
  const auto [code4, out4] = run("train --data " + kCollegeMsg + " --resume " + dir.string() +
                                 " --output " + dir.string() + "-other");
  EXPECT_EQ(code4, 2) << out4;
  EXPECT_NE(out4.find("--output: not allowed with --resume; the run continues in " + dir.string()),
            std::string::npos)
      << out4;
  EXPECT_FALSE(fs::exists(dir.string() + "-other"));
  fs::remove(dir / "config.yaml");
  const auto [code3, out3] = run("train --data " + kCollegeMsg + " --resume " + dir.string());
  EXPECT_EQ(code3, 2) << out3;
  EXPECT_NE(out3.find("--resume: " + dir.string() + " is not a disttgl run directory"),
            std::string::npos)
      << out3;
  fs::remove_all(dir);
}

TEST(TrainerCli, OverwriteRefusesADirectoryThatIsNotARun) {
  const auto dir = temp_dir("not_a_run");
  fs::create_directories(dir);
  std::ofstream(dir / "thesis.tex") << "keep me\n";
  const auto [code, out] =
      run("train --data " + kCollegeMsg + " --output " + dir.string() + " --overwrite --epochs 1");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(dir.string() + " is not a disttgl run directory (no config.yaml); refusing "
                                    "to replace it"),
            std::string::npos)
      << out;
  EXPECT_TRUE(fs::is_regular_file(dir / "thesis.tex"));
  const auto [code0, out0] =
      run("train --data " + kCollegeMsg + " --output " + (dir / "x").string() + " --epochs 0");
  EXPECT_EQ(code0, 2) << out0;
  EXPECT_FALSE(fs::exists(dir / "x"));
  fs::remove_all(dir);
}

TEST(TrainerCli, SigintStopsAtABatchBoundaryAndRemovesTheUnfinishedRun) {
  const auto dir = temp_dir("sigint");
  const auto log = temp_dir("sigint.log");
  const std::string bin = DISTTGL_TRAINER_BIN;
  const std::vector<std::string> args = {
      bin,        "train", "--data",       kCollegeMsg, "--output",  dir.string(),
      "--epochs", "3",     "--batch-size", "200",       "--threads", "1"};
  // Built before fork: the child of a multi-threaded process may only call
  // async-signal-safe functions until execv.
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // What a SIGKILLed run leaves (PID 99999999 is above Linux's pid_max): named, not removed.
  const fs::path abandoned = dir.string() + ".tmp-99999999";
  fs::create_directories(abandoned);
  std::ofstream(abandoned / "config.yaml") << "model: tgn\n";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  // The temporary run directory appears once training has started (handlers installed).
  const fs::path work = dir.string() + ".tmp-" + std::to_string(pid);
  for (int i = 0; i < 600 && !fs::exists(work / "config.yaml"); ++i) ::usleep(100 * 1000);
  ASSERT_TRUE(fs::exists(work / "config.yaml")) << "training did not start within 60 s";
  ::kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  // It cleans up, prints why, then re-raises SIGINT (a shell sees 130). The message proves
  // the stop went through the batch-boundary path rather than the default action.
  ASSERT_TRUE(WIFSIGNALED(status)) << "exited instead of re-raising SIGINT:\n" << text.str();
  EXPECT_EQ(WTERMSIG(status), SIGINT) << text.str();
  EXPECT_NE(text.str().find("disttgl-trainer: error: interrupted by SIGINT"), std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("stopped; the unfinished run in " + work.string() + " was removed"),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("disttgl: stop requested; finishing the current batch (a second "
                            "signal stops at once)"),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find(abandoned.string() + " is an unfinished run whose process 99999999 is "
                                                 "gone from this host"),
            std::string::npos)
      << text.str();
  EXPECT_TRUE(fs::exists(abandoned / "config.yaml")) << "another host's run must not be deleted";
  fs::remove_all(abandoned);
  EXPECT_FALSE(fs::exists(work)) << "unfinished run left behind";
  EXPECT_FALSE(fs::exists(dir)) << "a stopped run must not produce an output directory";
  fs::remove(log);
}

}  // namespace
}  // namespace disttgl::trainer
