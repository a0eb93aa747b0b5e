#include "disttgl/trainer/train/config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {
namespace {

// Largest memory/time/embedding width a config may ask for (published M-TGNNs use 100-200).
constexpr std::int64_t kMaxDim = 16384;

// Walks one YAML mapping, remembering which keys were read so the rest can be reported.
class Section {
 public:
  Section(const YAML::Node& node, std::string path, const std::string& source)
      : node_(node), path_(std::move(path)), source_(source) {
    if (node_ && !node_.IsMap()) fail("", "must be a mapping");
  }

  template <typename T>
  void read(const std::string& key, T& out) {
    seen_.insert(key);
    if (!node_ || !node_[key]) return;
    try {
      out = node_[key].as<T>();
    } catch (const YAML::Exception&) {
      fail(key, "has the wrong type");
    }
  }

  bool has(const std::string& key) const { return node_ && node_[key]; }

  Section child(const std::string& key) {
    seen_.insert(key);
    return Section(node_ ? node_[key] : YAML::Node(), qualified(key), source_);
  }

  template <typename E>
  void read_enum(const std::string& key, E& out,
                 const std::vector<std::pair<std::string, E>>& choices) {
    std::string value;
    read(key, value);
    if (value.empty()) return;
    std::string names;
    for (const auto& [name, e] : choices) {
      if (name == value) {
        out = e;
        return;
      }
      names += names.empty() ? name : ", " + name;
    }
    fail(key, fmt::format("unknown value '{}' (expected one of: {})", value, names));
  }

  void range(const std::string& key, double value, double lo, double hi) const {
    if (!(value >= lo && value <= hi)) {
      fail(key, fmt::format("must be in [{}, {}], got {}", lo, hi, value));
    }
  }

  void at_least(const std::string& key, std::int64_t value, std::int64_t lo) const {
    if (value < lo) fail(key, fmt::format("must be >= {}, got {}", lo, value));
  }

  // Upper bounds catch typos (dim: 1000000) as config errors naming the key; they are far
  // above any published M-TGNN setting. They bound each value alone, so a config of large
  // but legal values can still exceed the machine's memory.
  void between(const std::string& key, std::int64_t value, std::int64_t lo, std::int64_t hi) const {
    at_least(key, value, lo);
    if (value > hi) fail(key, fmt::format("must be <= {}, got {}", hi, value));
  }

  // Every key of the mapping must have been read: typos are errors, not silent defaults.
  void check_unknown() const {
    if (!node_) return;
    for (const auto& kv : node_) {
      const auto key = kv.first.as<std::string>();
      if (!seen_.count(key)) fail(key, "unknown key");
    }
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    const auto name = key.empty() ? path_ : qualified(key);
    throw ConfigError(
        fmt::format("{}: {}: {}", source_, name.empty() ? "(top level)" : name, what));
  }

 private:
  std::string qualified(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  YAML::Node node_;
  std::string path_;
  const std::string& source_;
  std::set<std::string> seen_;
};

}  // namespace

TrainConfig parse_config(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(fmt::format("{}:{}: invalid YAML: {}", source, e.mark.line + 1, e.msg));
  }
  if (!root || root.IsNull()) throw ConfigError(source + ": empty config");

  TrainConfig c;
  c.source = source;
  Section top(root, "", c.source);
  std::string kind = "tgn";
  top.read("model", kind);
  try {
    c.model = ModelConfig::defaults(parse_model_kind(kind));
  } catch (const ConfigError&) {
    top.fail("model", fmt::format("unknown model '{}' (expected tgn, jodie or apan)", kind));
  }
  ModelConfig& m = c.model;

  auto mem = top.child("memory");
  mem.read("dim", m.memory_dim);
  mem.read("time_dim", m.time_dim);
  mem.read("mailbox_size", m.mailbox_size);
  mem.read("updater_heads", m.memory_heads);
  std::string static_mode = m.joint_static ? "joint" : "none";
  mem.read("static", static_mode);
  if (static_mode != "none" && static_mode != "joint") {
    mem.fail("static", fmt::format("unknown value '{}' (expected one of: none, joint; a "
                                   "pre-trained table is given with --static-memory)",
                                   static_mode));
  }
  m.joint_static = static_mode == "joint";
  if (m.joint_static && m.static_memory_dim == 0) m.static_memory_dim = m.memory_dim;
  mem.read("static_dim", m.static_memory_dim);
  mem.read("static_dropout", m.static_dropout);
  mem.range("static_dropout", m.static_dropout, 0.0, 0.99);
  if (m.joint_static) mem.between("static_dim", m.static_memory_dim, 1, kMaxDim);
  mem.between("dim", m.memory_dim, 1, kMaxDim);
  mem.between("time_dim", m.time_dim, 1, kMaxDim);
  mem.between("mailbox_size", m.mailbox_size, 1, 1024);
  mem.between("updater_heads", m.memory_heads, 1, 64);
  if (m.mailbox_size > 1 && m.kind != ModelKind::kApan) {
    mem.fail("mailbox_size", "must be 1 for tgn and jodie (only apan reads a mailbox)");
  }
  mem.read_enum("deliver_to", m.deliver_to,
                {{"self", DeliverTo::kSelf}, {"neighbors", DeliverTo::kNeighbors}});
  mem.read("deliver_fanout", m.deliver_fanout);
  if (m.deliver_to == DeliverTo::kNeighbors && m.kind != ModelKind::kApan) {
    mem.fail("deliver_to", fmt::format("neighbors is only supported for model apan, got {}", kind));
  }
  if (mem.has("deliver_fanout") && m.deliver_to != DeliverTo::kNeighbors) {
    mem.fail("deliver_fanout", "is only used with memory.deliver_to: neighbors");
  }
  mem.between("deliver_fanout", m.deliver_fanout, 1, 10000);
  mem.check_unknown();

  auto emb = top.child("embedding");
  emb.read("layers", m.num_layers);
  emb.read("heads", m.num_heads);
  emb.read("fanouts", m.fanouts);
  emb.read("sampling", c.sampling.strategy);
  emb.read("dim", m.embedding_dim);
  emb.read("dropout", m.dropout);
  emb.read("attention_dropout", m.attention_dropout);
  emb.range("dropout", m.dropout, 0.0, 0.99);
  emb.range("attention_dropout", m.attention_dropout, 0.0, 0.99);
  if (c.sampling.strategy != "recent" && c.sampling.strategy != "uniform") {
    emb.fail("sampling", fmt::format("unknown value '{}' (expected one of: recent, uniform)",
                                     c.sampling.strategy));
  }
  if (m.kind == ModelKind::kTgn) {
    emb.between("layers", m.num_layers, 1, 8);
    emb.between("heads", m.num_heads, 1, 64);
    emb.between("dim", m.embedding_dim, 1, kMaxDim);
    if (static_cast<std::int64_t>(m.fanouts.size()) != m.num_layers) {
      emb.fail("fanouts", fmt::format("needs one entry per layer ({}), got {}", m.num_layers,
                                      m.fanouts.size()));
    }
    for (int f : m.fanouts) emb.between("fanouts", f, 1, 10000);
    if (m.embedding_dim % m.num_heads != 0) {
      emb.fail("heads",
               fmt::format("must divide embedding.dim ({}), got {}", m.embedding_dim, m.num_heads));
    }
  } else if (emb.has("layers") || emb.has("fanouts") || emb.has("heads")) {
    emb.fail(emb.has("layers") ? "layers" : (emb.has("fanouts") ? "fanouts" : "heads"),
             fmt::format("only tgn samples temporal neighbours; {} uses none", kind));
  }
  emb.check_unknown();

  auto opt = top.child("train");
  std::string loss = std::string(to_string(c.optim.loss));
  opt.read("batch_size", c.optim.batch_size);
  opt.read("epochs", c.optim.epochs);
  opt.read("lr", c.optim.lr);
  opt.read("loss", loss);
  opt.read("train_negatives", c.optim.train_negatives);
  opt.read("patience", c.optim.patience);
  opt.read("select_metric", c.optim.select_metric);
  if (loss == "bce") {
    c.optim.loss = LossKind::kBinaryCrossEntropy;
  } else if (loss == "softmax_ce") {
    c.optim.loss = LossKind::kSoftmaxCrossEntropy;
  } else {
    opt.fail("loss", fmt::format("unknown value '{}' (expected one of: bce, softmax_ce)", loss));
  }
  opt.between("batch_size", c.optim.batch_size, 1, 100000000);
  opt.between("epochs", c.optim.epochs, 1, 1000000);
  opt.range("lr", c.optim.lr, 1e-8, 1.0);
  opt.between("train_negatives", c.optim.train_negatives, 1, 10000);
  opt.at_least("patience", c.optim.patience, 0);
  if (c.optim.loss == LossKind::kBinaryCrossEntropy && c.optim.train_negatives != 1) {
    opt.fail("train_negatives", "must be 1 with loss bce (use softmax_ce for more)");
  }
  if (c.optim.select_metric != "ap" && c.optim.select_metric != "mrr") {
    opt.fail("select_metric",
             fmt::format("unknown value '{}' (expected one of: ap, mrr)", c.optim.select_metric));
  }
  opt.check_unknown();

  auto ev = top.child("eval");
  ev.read("mrr_negatives", c.eval.mrr_negatives);
  ev.read("negative_seed", c.eval.negative_seed);
  ev.read("validation_mrr", c.eval.validation_mrr);
  ev.read_enum("negative_strategy", c.eval.negative_strategy,
               {{"random", NegativeStrategy::kRandom},
                {"historical", NegativeStrategy::kHistorical},
                {"inductive", NegativeStrategy::kInductive}});
  ev.between("mrr_negatives", c.eval.mrr_negatives, 1, 10000);
  if (!c.eval.validation_mrr && c.optim.select_metric == "mrr") {
    ev.fail("validation_mrr", "must be true with train.select_metric mrr");
  }
  ev.check_unknown();

  auto rt = top.child("runtime");
  rt.read("device", c.runtime.device);
  rt.read("precision", c.runtime.precision);
  rt.read("deterministic", c.runtime.deterministic);
  if (!is_device_syntax(c.runtime.device)) {
    rt.fail("device", fmt::format("unknown value '{}' (expected auto, cpu, cuda or cuda:N)",
                                  c.runtime.device));
  }
  if (c.runtime.precision != "fp32" && c.runtime.precision != "bf16") {
    rt.fail("precision",
            fmt::format("unknown value '{}' (expected one of: fp32, bf16)", c.runtime.precision));
  }
  rt.check_unknown();

  top.check_unknown();
  return c;
}

bool is_device_syntax(const std::string& device) {
  if (device == "auto" || device == "cpu" || device == "cuda") return true;
  // cuda:N with N in 0..99 written without leading zeros (torch keeps device indices in an
  // int8 and would wrap larger ones silently).
  const std::string prefix = "cuda:";
  if (device.size() <= prefix.size() || device.size() > prefix.size() + 2 ||
      device.compare(0, prefix.size(), prefix) != 0 ||
      device.find_first_not_of("0123456789", prefix.size()) != std::string::npos) {
    return false;
  }
  return device[prefix.size()] != '0' || device.size() == prefix.size() + 1;
}

void check_device_syntax(const std::string& device, const std::string& field) {
  if (is_device_syntax(device)) return;
  throw ConfigError(fmt::format("{}: unknown device '{}' (expected auto, cpu, cuda or cuda:N)",
                                field, device));
}

TrainConfig load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path, 0, "cannot read config file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

std::string to_yaml(const TrainConfig& c) {
  const ModelConfig& m = c.model;
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "model" << YAML::Value << std::string(to_string(m.kind));
  out << YAML::Key << "memory" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "dim" << YAML::Value << m.memory_dim;
  out << YAML::Key << "time_dim" << YAML::Value << m.time_dim;
  out << YAML::Key << "mailbox_size" << YAML::Value << m.mailbox_size;
  out << YAML::Key << "deliver_to" << YAML::Value << std::string(to_string(m.deliver_to));
  if (m.deliver_to == DeliverTo::kNeighbors) {  // the key is refused with self
    out << YAML::Key << "deliver_fanout" << YAML::Value << m.deliver_fanout;
  }
  if (m.joint_static) {
    out << YAML::Key << "static" << YAML::Value << "joint";
    out << YAML::Key << "static_dim" << YAML::Value << m.static_memory_dim;
  }
  if (m.static_dropout > 0) out << YAML::Key << "static_dropout" << YAML::Value << m.static_dropout;
  out << YAML::Key << "updater_heads" << YAML::Value << m.memory_heads;
  out << YAML::EndMap;
  out << YAML::Key << "embedding" << YAML::Value << YAML::BeginMap;
  if (m.kind == ModelKind::kTgn) {
    out << YAML::Key << "layers" << YAML::Value << m.num_layers;
    out << YAML::Key << "heads" << YAML::Value << m.num_heads;
    out << YAML::Key << "fanouts" << YAML::Value << YAML::Flow << m.fanouts;
  }
  out << YAML::Key << "sampling" << YAML::Value << c.sampling.strategy;
  out << YAML::Key << "dim" << YAML::Value << m.embedding_dim;
  out << YAML::Key << "dropout" << YAML::Value << m.dropout;
  out << YAML::Key << "attention_dropout" << YAML::Value << m.attention_dropout;
  out << YAML::EndMap;
  out << YAML::Key << "train" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "batch_size" << YAML::Value << c.optim.batch_size;
  out << YAML::Key << "epochs" << YAML::Value << c.optim.epochs;
  out << YAML::Key << "lr" << YAML::Value << c.optim.lr;
  out << YAML::Key << "loss" << YAML::Value << std::string(to_string(c.optim.loss));
  out << YAML::Key << "train_negatives" << YAML::Value << c.optim.train_negatives;
  out << YAML::Key << "patience" << YAML::Value << c.optim.patience;
  out << YAML::Key << "select_metric" << YAML::Value << c.optim.select_metric;
  out << YAML::EndMap;
  out << YAML::Key << "eval" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "mrr_negatives" << YAML::Value << c.eval.mrr_negatives;
  out << YAML::Key << "negative_seed" << YAML::Value << c.eval.negative_seed;
  out << YAML::Key << "validation_mrr" << YAML::Value << c.eval.validation_mrr;
  out << YAML::Key << "negative_strategy" << YAML::Value << to_string(c.eval.negative_strategy);
  out << YAML::EndMap;
  out << YAML::Key << "runtime" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "device" << YAML::Value << c.runtime.device;
  out << YAML::Key << "precision" << YAML::Value << c.runtime.precision;
  out << YAML::Key << "deterministic" << YAML::Value << c.runtime.deterministic;
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace disttgl::trainer
