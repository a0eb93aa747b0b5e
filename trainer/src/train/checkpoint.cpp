#include "checkpoint.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer::detail {
namespace {

torch::Tensor scalar(std::int64_t v) { return torch::tensor(v, torch::kInt64); }
torch::Tensor scalar(double v) { return torch::tensor(v, torch::kFloat64); }

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const MemoryStore* memory,
                     const CheckpointMeta& meta, const torch::Device& device,
                     const std::vector<std::vector<std::uint8_t>>& group_memory) {
  torch::serialize::OutputArchive root;
  root.write("format", c10::IValue(std::string(kCheckpointFormat)));
  root.write("config", c10::IValue(meta.config_yaml));
  root.write("epoch", scalar(meta.epoch));
  root.write("best_epoch", scalar(meta.best_epoch));
  root.write("best_metric", scalar(meta.best_metric));
  root.write("stale_epochs", scalar(meta.stale_epochs));
  root.write("num_nodes", scalar(meta.num_nodes));
  root.write("num_events", scalar(meta.num_events));
  root.write("static_memory", torch::tensor({meta.static_memory_rows, meta.static_memory_dim,
                                             meta.static_memory_crc32},
                                            torch::kInt64));
  root.write("rng", torch::globalContext().defaultGenerator(torch::kCPU).get_state());
  if (device.is_cuda()) {
    root.write("rng_cuda", torch::globalContext().defaultGenerator(device).get_state());
  }
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
  if (!group_memory.empty()) {
    root.write("group_memory_count", scalar(static_cast<std::int64_t>(group_memory.size())));
    for (std::size_t g = 0; g < group_memory.size(); ++g) {
      const auto& b = group_memory[g];
      root.write(fmt::format("group_memory_{}", g),
                 torch::from_blob(const_cast<std::uint8_t*>(b.data()),
                                  {static_cast<std::int64_t>(b.size())}, torch::kUInt8)
                     .clone());
    }
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

torch::serialize::InputArchive open(const std::string& path,
                                    const torch::Device& device = torch::kCPU,
                                    const std::vector<std::uint8_t>* bytes = nullptr) {
  if (bytes == nullptr && !std::filesystem::is_regular_file(path)) {
    throw InputError(path, 0, "checkpoint file does not exist");
  }
  torch::serialize::InputArchive root;
  try {
    if (bytes != nullptr) {
      root.load_from(reinterpret_cast<const char*>(bytes->data()), bytes->size(), device);
    } else {
      root.load_from(path, device);
    }
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

CheckpointMeta read_checkpoint_meta(const std::string& path,
                                    const std::vector<std::uint8_t>* bytes) {
  auto root = open(path, torch::kCPU, bytes);
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
  torch::Tensor fingerprint;
  try {
    root.read("static_memory", fingerprint);
  } catch (const c10::Error&) {
    m.static_memory_recorded = false;  // written before the field existed
    return m;
  }
  try {
    const auto f = fingerprint.to(torch::kInt64).contiguous();
    if (f.numel() != 3) throw InputError(path, 0, "damaged checkpoint metadata (static_memory)");
    m.static_memory_rows = f[0].item<std::int64_t>();
    m.static_memory_dim = f[1].item<std::int64_t>();
    m.static_memory_crc32 = f[2].item<std::int64_t>();
  } catch (const c10::Error& e) {
    throw InputError(path, 0,
                     fmt::format("damaged checkpoint metadata ({})", e.what_without_backtrace()));
  }
  return m;
}

void load_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, MemoryStore* memory, bool restore_rng,
                     const torch::Device& device, const std::vector<std::uint8_t>* bytes) {
  auto root = open(path, device, bytes);
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
      // Generator is a shared handle: the copy sets the global generator's state. States
      // are CPU byte tensors whatever device the archive was mapped to.
      at::Generator generator = torch::globalContext().defaultGenerator(torch::kCPU);
      generator.set_state(rng.cpu());
      torch::Tensor rng_cuda;
      // A CPU-written file has no CUDA state: the GPU run keeps its seeded generator.
      if (device.is_cuda() && root.try_read("rng_cuda", rng_cuda)) {
        at::Generator cuda_generator = torch::globalContext().defaultGenerator(device);
        cuda_generator.set_state(rng_cuda.cpu());
      }
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

std::vector<std::uint8_t> memory_to_bytes(const MemoryStore& memory) {
  torch::serialize::OutputArchive archive;
  memory.save(archive);
  std::vector<std::uint8_t> out;
  archive.save_to([&out](const void* data, std::size_t size) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    out.insert(out.end(), p, p + size);
    return size;
  });
  return out;
}

void memory_from_bytes(MemoryStore& memory, const std::vector<std::uint8_t>& bytes,
                       const std::string& label) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  } catch (const std::exception& e) {
    throw InputError(label, 0, fmt::format("damaged node memory ({})", e.what()));
  }
  memory.load(archive);
}

std::vector<std::uint8_t> read_group_memory(const std::string& path, std::int32_t group,
                                            std::int32_t groups,
                                            const std::vector<std::uint8_t>* bytes) {
  auto root = open(path, torch::kCPU, bytes);
  torch::Tensor count;
  if (!root.try_read("group_memory_count", count)) {
    throw InputError(path, 0,
                     "holds no memory groups' node memory (not a distributed run's last.pt)");
  }
  if (count.item<std::int64_t>() != groups) {
    throw InputError(path, 0,
                     fmt::format("holds the node memory of {} memory groups; this layout has "
                                 "k = {}",
                                 count.item<std::int64_t>(), groups));
  }
  torch::Tensor t;
  if (!root.try_read(fmt::format("group_memory_{}", group), t)) {
    throw InputError(path, 0, fmt::format("holds no node memory of memory group {}", group));
  }
  t = t.contiguous();
  const auto* p = t.data_ptr<std::uint8_t>();
  return {p, p + t.numel()};
}

void record_static_memory(CheckpointMeta& meta, const torch::Tensor& table) {
  meta.static_memory_recorded = true;
  if (!table.defined()) {
    meta.static_memory_rows = meta.static_memory_dim = meta.static_memory_crc32 = 0;
    return;
  }
  const auto t = table.to(torch::kCPU, torch::kFloat32).contiguous();
  meta.static_memory_rows = t.size(0);
  meta.static_memory_dim = t.size(1);
  // crc32_z takes a size_t length (plain crc32 stops at 4 GiB).
  meta.static_memory_crc32 = static_cast<std::int64_t>(
      crc32_z(crc32(0L, Z_NULL, 0), static_cast<const Bytef*>(t.data_ptr()), t.nbytes()));
}

void check_static_memory(const CheckpointMeta& saved, const CheckpointMeta& given,
                         const std::string& checkpoint, const std::string& given_file) {
  if (!saved.static_memory_recorded) return;
  if (saved.static_memory_rows == 0 && given.static_memory_rows == 0) return;
  if (saved.static_memory_rows == 0) {
    throw InputError(checkpoint, 0,
                     fmt::format("this model was trained without a static node memory; drop "
                                 "--static-memory {}",
                                 given_file));
  }
  if (given.static_memory_rows == 0) {
    throw InputError(checkpoint, 0,
                     fmt::format("this model was trained with a static node memory of shape "
                                 "[{}, {}]; pass the same table with --static-memory",
                                 saved.static_memory_rows, saved.static_memory_dim));
  }
  if (saved.static_memory_rows != given.static_memory_rows ||
      saved.static_memory_dim != given.static_memory_dim ||
      saved.static_memory_crc32 != given.static_memory_crc32) {
    throw InputError(
        checkpoint, 0,
        fmt::format("--static-memory {} is not the table this model was trained with (shape "
                    "[{}, {}], CRC-32 {:08x}; it was trained with [{}, {}], CRC-32 {:08x})",
                    given_file, given.static_memory_rows, given.static_memory_dim,
                    given.static_memory_crc32, saved.static_memory_rows, saved.static_memory_dim,
                    saved.static_memory_crc32));
  }
}

}  // namespace disttgl::trainer::detail
