// disttgl-trainer: temporal link prediction with memory-based TGNNs.
// Exit codes: 0 success, 2 bad input or flags, 70 internal error, 74 I/O error. When train
// or pretrain-static is stopped by SIGINT/SIGTERM (at a batch boundary; a new run's partial
// output is removed, a resumed run keeps its last completed epoch) the process re-raises the
// signal after cleaning up, so the shell reports 130/143.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/common/interrupt.hpp"
#include "disttgl/common/log.hpp"
#include "disttgl/trainer/train/device.hpp"

namespace {

// glibc serves blocks above its mmap threshold (128 KiB, rising to at most 32 MiB) with
// mmap and hands them back on free, so every multi-MiB tensor a training step allocates is
// page-faulted in again on the next step: on Wikipedia that was 2.7 min of system time per
// epoch, more than the model's own compute. Keep such blocks in the heap and reuse them.
void keep_freed_tensor_memory() {
  constexpr int kOneGiB = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kOneGiB);
  mallopt(M_TRIM_THRESHOLD, kOneGiB);
  mallopt(M_TOP_PAD, 64 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_tensor_memory();
  CLI::App app{"disttgl-trainer: memory-based temporal GNN training (TGN, JODIE, APAN)"};
  // The images' check: which torch and CUDA this binary carries.
  app.set_version_flag("--version", [] {
    return std::string("disttgl-trainer ") + DISTTGL_VERSION + "\n" +
           disttgl::trainer::describe_build();
  });
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  // Runs after the top-level options are parsed and before any sub-command callback.
  app.parse_complete_callback([&log_level] { disttgl::log::init("trainer", log_level); });
  disttgl::trainer::app::add_prepare(app);
  disttgl::trainer::app::add_train(app);
  disttgl::trainer::app::add_pretrain_static(app);
  disttgl::trainer::app::add_evaluate(app);
  disttgl::trainer::app::add_launch(app);
  disttgl::trainer::app::add_plan(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : disttgl::kExitBadInput;
  } catch (const disttgl::Interrupted& e) {
    std::fprintf(stderr, "disttgl-trainer: error: %s\n", e.what());
    // Die by the signal itself, not exit(130): a calling shell loop then stops too, and the
    // shell still reports 128 + signal.
    std::signal(e.signal_number(), SIG_DFL);
    std::raise(e.signal_number());
    return e.exit_code();
  } catch (const disttgl::Error& e) {
    std::fprintf(stderr, "disttgl-trainer: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "disttgl-trainer: internal error: %s\n", e.what());
    return disttgl::kExitInternal;
  }
  return 0;
}
