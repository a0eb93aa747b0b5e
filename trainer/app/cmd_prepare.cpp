// `disttgl-trainer prepare`: import a dataset file, validate, sort, remap, split, and write
// the prepared binary directory (see disttgl/trainer/data/{import,prepared}.hpp).
#include <charconv>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "commands.hpp"
#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/data/prepared.hpp"

namespace disttgl::trainer::app {
namespace {

struct PrepareArgs {
  std::string input;
  std::string output;
  ImportOptions import;
};

// Shortest round-trip form ("2678373", "0.5"); iostream's default would print 2.67837e+06.
std::string shortest(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

// Plain iostreams: this file links beside LibTorch, whose bundled fmt differs from the
// system fmt that spdlog uses.
void print_summary(const Dataset& d, const std::string& output) {
  std::ostringstream out;
  out << "prepared " << d.name << " (" << d.source_format << ") -> " << output << "\n";
  if (d.bipartite) {
    out << "  nodes      " << d.num_nodes << " (bipartite: " << d.num_src_nodes << " sources + "
        << d.num_nodes - d.num_src_nodes << " destinations)\n";
  } else {
    out << "  nodes      " << d.num_nodes << " (not bipartite)\n";
  }
  out << "  events     " << d.num_events() << " over a time span of " << shortest(d.time_span())
      << "\n";
  out << "  features   edge " << d.edge_feature_dim << ", node " << d.node_feature_dim << "\n";
  out << "  split      train " << d.num_train() << " / val " << d.num_val() << " / test "
      << d.num_test() << " (" << d.split.source << ")\n";
  out << "  reordered  " << d.reordered_rows << " rows\n";
  std::cout << out.str() << std::flush;
}

}  // namespace

void add_prepare(CLI::App& app) {
  auto args = std::make_shared<PrepareArgs>();
  CLI::App* cmd = app.add_subcommand(
      "prepare",
      "Import a dataset file (jodie, tgl, dyglib, snap, or any delimited file with --columns), "
      "validate, sort by time, remap node ids, split chronologically and write a prepared "
      "binary directory");
  cmd->add_option("--input", args->input,
                  "input file (.gz accepted), or a TGL directory holding edges.csv")
      ->required();
  cmd->add_option("--format", args->import.format, "input format (auto: from the name and header)")
      ->check(CLI::IsMember({"auto", "jodie", "tgl", "dyglib", "snap"}))
      ->capture_default_str();
  CLI::Option* columns =
      cmd->add_option("--columns", args->import.columns.roles,
                      "read any delimited file by its columns, one role each in file order: "
                      "src,dst,time (required, once each), label (at most once), feat (a float "
                      "edge feature), skip (ignored), a last feat... (every remaining column "
                      "is a feature); e.g. SNAP's SOURCE,TARGET,RATING,TIME: --columns "
                      "src,dst,feat,time. One id space unless --bipartite; not with --format")
          ->check([](const std::string& roles) {
            return roles.empty() ? std::string("empty; expected roles such as src,dst,time")
                                 : std::string();
          });
  cmd->add_option("--delimiter", args->import.columns.delimiter,
                  "with --columns: one character, or tab, space (runs of blanks), comma, "
                  "semicolon, pipe")
      ->capture_default_str()
      ->needs(columns);
  cmd->add_flag("--header,!--no-header", args->import.columns.header,
                "with --columns: the first non-blank line is a header and is skipped (default: "
                "no header)");
  cmd->add_option("--output", args->output,
                  "output directory (replaced only on success; parents are created)")
      ->required();
  cmd->add_option("--val-quantile", args->import.val_quantile,
                  "train/val boundary: val_time = np.quantile(ts, Q) (ignored for tgl: ext_roll)")
      ->capture_default_str();
  cmd->add_option("--test-quantile", args->import.test_quantile,
                  "val/test boundary: test_time = np.quantile(ts, Q)")
      ->capture_default_str();
  cmd->add_flag("--bipartite", args->import.bipartite,
                "number sources and destinations as separate id ranges (jodie is by default, "
                "with a warning when its two columns share many ids)");
  cmd->add_flag("--general", args->import.general,
                "one id space for both columns, also for jodie files whose columns share ids "
                "(e.g. CanParl.csv)");
  cmd->callback([args] {
    check_prepared_output(args->output);
    const Dataset dataset = import_dataset(args->input, args->import);
    write_prepared(dataset, args->output);
    print_summary(dataset, args->output);
  });
}

}  // namespace disttgl::trainer::app
