// `plan`: the layout advisor (trainer/include/disttgl/trainer/dist/plan.hpp).
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "disttgl/trainer/dist/plan.hpp"
#include "disttgl/trainer/train/config.hpp"

namespace disttgl::trainer::app {

void add_plan(CLI::App& app) {
  struct Args {
    std::string data, config;
    int machines = 1, gpus = 1;
    double gpu_memory = 0;
    bool json = false, general = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "plan", "recommend DistTGL's (i, j, k) layout for a dataset and a cluster, with reasons");
  cmd->add_option("--data", a->data, "prepared dataset directory or raw event file")->required();
  cmd->add_flag("--general", a->general, "read a raw JODIE-layout file as one id space");
  cmd->add_option("--config", a->config, "model config (memory sizes, batch size, lr, epochs)");
  cmd->add_option("--machines", a->machines, "machines")->required()->check(CLI::Range(1, 4096));
  cmd->add_option("--gpus-per-machine", a->gpus, "GPUs per machine")
      ->required()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--gpu-memory-gib", a->gpu_memory, "GPU memory per GPU, GiB (checks fit)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_flag("--json", a->json, "print JSON (for the operator) instead of text");
  cmd->callback([a] {
    const auto config = a->config.empty() ? parse_config("model: tgn\n", "built-in tgn defaults")
                                          : load_config(a->config);
    const Dataset ds = load_data(a->data, a->general);
    PlanInput in;
    in.train_events = ds.num_train();
    in.num_nodes = ds.num_nodes;
    in.machines = a->machines;
    in.gpus_per_machine = a->gpus;
    in.gpu_memory_gib = a->gpu_memory;
    in.batch_size = config.optim.batch_size;
    in.memory_dim = config.model.memory_dim;
    in.mail_dim = config.model.mail_dim();
    in.mailbox_size = config.model.mailbox_size;
    in.base_lr = config.optim.lr;
    in.base_epochs = config.optim.epochs;
    const Plan p = plan_layout(in);
    if (a->json) {
      nlohmann::json j = {{"layout", to_string(p.layout)},
                          {"i", p.layout.i},
                          {"j", p.layout.j},
                          {"k", p.layout.k},
                          {"world_size", p.layout.world_size()},
                          {"lr", p.lr},
                          {"epochs", p.epochs},
                          {"logical_batches", p.logical_batches},
                          {"memory_bytes_per_group", p.memory_bytes_per_group},
                          {"reasons", p.reasons}};
      std::cout << j.dump() << "\n";
      return;
    }
    std::cout << fmt::format("layout {} ({} trainer processes, {} memory daemons)\n",
                             to_string(p.layout), p.layout.world_size(), p.layout.k);
    for (const auto& r : p.reasons) std::cout << "  - " << r << "\n";
  });
}

}  // namespace disttgl::trainer::app
