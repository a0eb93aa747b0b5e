#include "checkpoint.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer::detail {
namespace {

torch::Tensor scalar(std::int64_t v) { return torch::tensor(v, torch::kInt64); }
torch::Tensor scalar(double v) { return torch::tensor(v, torch::kFloat64); }

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const MemoryStore* memory,
                     const CheckpointMeta& meta) {
  torch::serialize::OutputArchive root;
  root.write("format", c10::IValue(std::string(kCheckpointFormat)));
  root.write("config", c10::IValue(meta.config_yaml));
  root.write("epoch", scalar(meta.epoch));
  root.write("best_epoch", scalar(meta.best_epoch));
  root.write("best_metric", scalar(meta.best_metric));
  root.write("stale_epochs", scalar(meta.stale_epochs));
  root.write("num_nodes", scalar(meta.num_nodes));
  root.write("num_events", scalar(meta.num_events));
  root.write("rng", torch::globalContext().defaultGenerator(torch::kCPU).get_state());
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  root.write("model", model_archive);
  torch::serialize::OutputArchive optim_archive;
  optimizer.save(optim_archive);
  root.write("optimizer", optim_archive);
  if (memory != nullptr) {
    torch::serialize::OutputArchive memory_archive;
    memory->save(memory_archive);
    root.write("memory", memory_archive);
  }
  const std::string tmp = path + ".tmp";
  try {
    root.save_to(tmp);
  } catch (const c10::Error& e) {
    std::filesystem::remove(tmp);
    throw IoError(fmt::format("{}: cannot write checkpoint: {}", path, e.what_without_backtrace()));
  }
  std::filesystem::rename(tmp, path);
}

namespace {

torch::serialize::InputArchive open(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw InputError(path, 0, "checkpoint file does not exist");
  }
  torch::serialize::InputArchive root;
  try {
    root.load_from(path);
    c10::IValue format;
    root.read("format", format);
    if (!format.isString() || format.toStringRef() != kCheckpointFormat) {
      throw InputError(
          path, 0,
          fmt::format("not a disttgl checkpoint (format '{}', expected '{}')",
                      format.isString() ? format.toStringRef() : "?", kCheckpointFormat));
    }
  } catch (const InputError&) {
    throw;
  } catch (const c10::Error& e) {
    throw InputError(path, 0,
                     fmt::format("not a disttgl checkpoint ({})", e.what_without_backtrace()));
  } catch (const std::exception& e) {  // TorchScript loader errors are not c10::Error
    throw InputError(path, 0, fmt::format("not a disttgl checkpoint ({})", e.what()));
  }
  return root;
}

std::int64_t read_int(torch::serialize::InputArchive& a, const char* key) {
  torch::Tensor t;
  a.read(key, t);
  return t.item<std::int64_t>();
}

}  // namespace

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  auto root = open(path);
  CheckpointMeta m;
  try {
    c10::IValue config;
    root.read("config", config);
    m.config_yaml = config.toStringRef();
    m.epoch = read_int(root, "epoch");
    m.best_epoch = read_int(root, "best_epoch");
    m.stale_epochs = read_int(root, "stale_epochs");
    m.num_nodes = read_int(root, "num_nodes");
    m.num_events = read_int(root, "num_events");
    torch::Tensor best;
    root.read("best_metric", best);
    m.best_metric = best.item<double>();
  } catch (const c10::Error& e) {
    throw InputError(path, 0,
                     fmt::format("damaged checkpoint metadata ({})", e.what_without_backtrace()));
  }
  return m;
}

void load_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, MemoryStore* memory, bool restore_rng) {
  auto root = open(path);
  try {
    torch::serialize::InputArchive model_archive;
    root.read("model", model_archive);
    model.load(model_archive);
    if (optimizer != nullptr) {
      torch::serialize::InputArchive optim_archive;
      root.read("optimizer", optim_archive);
      optimizer->load(optim_archive);
    }
    if (restore_rng) {
      torch::Tensor rng;
      root.read("rng", rng);
      // Generator is a shared handle: the copy sets the global generator's state.
      at::Generator generator = torch::globalContext().defaultGenerator(torch::kCPU);
      generator.set_state(rng);
    }
  } catch (const c10::Error& e) {
    throw InputError(
        path, 0,
        fmt::format("checkpoint does not fit this model ({})", e.what_without_backtrace()));
  }
  if (memory != nullptr) {
    torch::serialize::InputArchive memory_archive;
    try {
      root.read("memory", memory_archive);
    } catch (const c10::Error& e) {
      throw InputError(path, 0, "checkpoint holds no node memory");
    }
    memory->load(memory_archive);
  }
}

}  // namespace disttgl::trainer::detail
