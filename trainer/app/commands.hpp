// Sub-commands of disttgl-trainer. Each `add_*` registers a CLI11 sub-command whose callback
// runs the command; errors propagate as disttgl::Error to main, which maps them to exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer::app {

/// --data: a prepared directory or a raw event file (imported on the fly, format detected;
/// `general` reads a JODIE-layout file as one id space). InputError/ConfigError on bad input.
Dataset load_data(const std::string& path, bool general);

/// `prepare --input FILE [--format auto|jodie|tgl|dyglib|snap] --output DIR [--val-quantile Q
/// --test-quantile Q --bipartite|--general]`: import, validate, sort, remap, split, write
/// DIR/dataset.bin and DIR/dataset.json, print a summary to stdout. Bad input exits 2 with no
/// DIR written.
void add_prepare(CLI::App& app);

/// `train --data D --config C --output RUN [--epochs --batch-size --seed --threads
/// --static-memory FILE --resume RUN]`.
void add_train(CLI::App& app);
/// `pretrain-static --data D --config C --output DIR`: DistTGL's static node memory.
void add_pretrain_static(CLI::App& app);
/// `evaluate --checkpoint FILE --data D [--split val|test]`.
void add_evaluate(CLI::App& app);
/// `launch --layout i=N,j=N,k=N --output RUN [train options]`: DistTGL's parallel training
/// on this machine (daemons + trainers through the launch contract).
void add_launch(CLI::App& app);
/// `plan --data D --machines M --gpus-per-machine G [--gpu-memory-gib X] [--json]`: the
/// layout advisor.
void add_plan(CLI::App& app);

}  // namespace disttgl::trainer::app
