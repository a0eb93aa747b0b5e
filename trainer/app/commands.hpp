// Sub-commands of disttgl-trainer. Each `add_*` registers a CLI11 sub-command whose callback
// runs the command; errors propagate as disttgl::Error to main, which maps them to exit codes.
#pragma once

#include <CLI/CLI.hpp>

namespace disttgl::trainer::app {

/// `prepare --input FILE [--format F] --output DIR`: import, validate, split, write.
void add_prepare(CLI::App& app);

}  // namespace disttgl::trainer::app
