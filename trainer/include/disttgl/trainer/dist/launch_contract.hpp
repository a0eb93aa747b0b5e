// The launch contract between any launcher (`disttgl-trainer launch`, the Kubernetes
// operator, a user's own scripts) and one trainer process: environment variables, each of
// which a command-line flag can override (docs/launch-contract.md).
//
//   DISTTGL_JOB            job name (the memory daemons check it)
//   DISTTGL_RANK           this process's rank r in [0, W)
//   DISTTGL_WORLD_SIZE     W = i*j*k
//   DISTTGL_LAYOUT         "i=2,j=1,k=2"
//   DISTTGL_MASTER_ADDR    host of rank 0's rendezvous store
//   DISTTGL_MASTER_PORT    its port
//   DISTTGL_MEMORY_DAEMON  this rank's memory group's daemon ("HOST:PORT" or "unix:PATH")
//   DISTTGL_ATTEMPT        changes on every restart of the whole group, so no rank ever
//                          joins an older attempt (it prefixes every rendezvous key)
//   DISTTGL_RUN_DIR        where the run's outputs and checkpoints go
// and one optional variable:
//   DISTTGL_LOCAL_ADDR     the address this rank's collectives (Gloo) bind; default: the
//                          address this host's name resolves to (a pod's IP)
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "disttgl/common/layout.hpp"

namespace disttgl::trainer {

struct LaunchContract {
  std::string job = "disttgl";
  std::int32_t rank = 0;
  std::int32_t world_size = 1;
  ParallelLayout layout;
  std::string master_addr = "127.0.0.1";
  std::int32_t master_port = 29500;
  std::string memory_daemon;
  std::int64_t attempt = 0;
  std::string run_dir;
  std::string local_addr;  ///< empty: the host name's address

  /// True when more than one process trains (world size > 1).
  bool distributed() const { return world_size > 1; }
  /// This rank's (g, u, s).
  RankPlace place() const;
  /// The rendezvous key prefix: "JOB/attempt-N".
  std::string store_prefix() const;
};

/// Names of the variables, in the order above.
inline constexpr const char* kLaunchVariables[] = {
    "DISTTGL_JOB",         "DISTTGL_RANK",          "DISTTGL_WORLD_SIZE",
    "DISTTGL_LAYOUT",      "DISTTGL_MASTER_ADDR",   "DISTTGL_MASTER_PORT",
    "DISTTGL_MEMORY_DAEMON", "DISTTGL_ATTEMPT",     "DISTTGL_RUN_DIR"};

/// Reads the contract through `lookup` (getenv's shape: null when unset). With none of the
/// variables set it is the single-process contract. Throws ConfigError naming the variable:
/// a number that does not parse or is out of range ("DISTTGL_RANK: '3x' is not a whole
/// number in [0, 4095]"), a layout that does not match the world size, a rank outside it,
/// a distributed run without DISTTGL_MEMORY_DAEMON or DISTTGL_LAYOUT.
LaunchContract read_launch_contract(const std::function<const char*(const char*)>& lookup);

/// DistTGL's hyperparameter scaling (disttgl.md §4, get_config.py): lr = base_lr * W and
/// epochs = ceil(base_epochs / (j * k)).
struct ScaledHyperparameters {
  double lr = 0.0;
  std::int64_t epochs = 0;
};
ScaledHyperparameters scale_for_layout(double base_lr, std::int64_t base_epochs,
                                       const ParallelLayout& layout);

}  // namespace disttgl::trainer
