// import_dataset: read -> validate -> stable time sort -> remap -> split (see import.hpp).
#include "disttgl/trainer/data/import.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <optional>
#include <span>
#include <string_view>

#include "column_layout.hpp"
#include "detect.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/common/log.hpp"
#include "disttgl/trainer/data/id_overlap.hpp"
#include "posix_fs.hpp"
#include "readers.hpp"
#include "reorder.hpp"
#include "split.hpp"
#include "text_file.hpp"

namespace disttgl::trainer {
namespace {

constexpr std::array<std::string_view, 5> kFormats = {"auto", "jodie", "tgl", "dyglib", "snap"};

void validate_options(const ImportOptions& options) {
  if (std::find(kFormats.begin(), kFormats.end(), options.format) == kFormats.end()) {
    throw ConfigError("--format: unknown format '" + options.format +
                      "' (expected auto, jodie, tgl, dyglib or snap)");
  }
  detail::validate_quantiles(options.val_quantile, options.test_quantile);
  if (options.bipartite && options.general) {
    throw ConfigError("--bipartite and --general exclude each other");
  }
  const ColumnsOptions& columns = options.columns;
  if (columns.roles.empty()) {
    if (columns.delimiter != ",") throw ConfigError("--delimiter applies only with --columns");
    if (columns.header) throw ConfigError("--header applies only with --columns");
  } else if (options.format != "auto") {
    throw ConfigError("--columns cannot be combined with --format " + options.format +
                      " (--columns is a format of its own)");
  }
}

// JODIE's layout implies two id spaces; a file in it whose columns are one id space
// (CanParl.csv) silently gets its shared nodes twice. Say so, with the numbers.
void warn_if_columns_share_ids(const std::string& path, const Dataset& dataset) {
  const std::span<const std::int64_t> ids(dataset.original_ids);
  const auto sources = static_cast<std::size_t>(dataset.num_src_nodes);
  const IdOverlap overlap = id_overlap(ids.first(sources), ids.subspan(sources));
  if (!overlap.suggests_one_id_space()) return;
  spdlog::warn(
      "import: {}: {} ids occur in both columns ({} source ids, {} destination ids); read as "
      "bipartite ({} nodes). If the two columns share one id space, use --general ({} nodes)",
      path, overlap.shared, overlap.sources, overlap.destinations, overlap.bipartite_nodes(),
      overlap.one_space_nodes());
}

std::string dataset_name(const std::string& path, const std::string& format) {
  if (format == "tgl") {
    std::filesystem::path full(path);
    if (full.is_relative()) full = detail::posix::current_directory() / full;
    const std::string dir = full.lexically_normal().parent_path().filename().string();
    return dir.empty() ? "edges" : dir;
  }
  std::string name = std::filesystem::path(detail::base_name_without_gz(path)).stem().string();
  if (format == "dyglib" && name.size() > 3 && name.starts_with("ml_")) name.erase(0, 3);
  return name;
}

// TGL's split is only chronological when ext_roll never decreases in time order.
void check_ext_roll_order(const std::string& path, const detail::RawEvents& events) {
  for (std::size_t e = 1; e < events.ext_roll.size(); ++e) {
    if (events.ext_roll[e] < events.ext_roll[e - 1]) {
      throw InputError(path, static_cast<long>(events.line[e]),
                       "ext_roll " + std::to_string(events.ext_roll[e]) + " comes after ext_roll " +
                           std::to_string(events.ext_roll[e - 1]) + " (line " +
                           std::to_string(events.line[e - 1]) +
                           ") in time order; the split must be chronological");
    }
  }
}

// Node feature rows are indexed by original id; keep the rows of the nodes that occur, in
// remapped order.
void gather_node_features(const detail::RawEvents& events, Dataset& dataset) {
  if (events.node_features_file.empty()) return;
  const std::int64_t dim = events.node_feature_dim;
  const auto rows = static_cast<std::int64_t>(events.node_features.size()) / dim;
  dataset.node_feature_dim = dim;
  dataset.node_features.resize(static_cast<std::size_t>(dataset.num_nodes * dim));
  for (std::int64_t v = 0; v < dataset.num_nodes; ++v) {
    const std::int64_t original = dataset.original_ids[static_cast<std::size_t>(v)];
    if (original >= rows) {
      throw InputError(events.node_features_file, 0,
                       std::to_string(rows) + " rows, but node id " + std::to_string(original) +
                           " occurs in the edges (one row per node id is needed)");
    }
    std::copy_n(events.node_features.begin() + static_cast<std::ptrdiff_t>(original * dim), dim,
                dataset.node_features.begin() + static_cast<std::ptrdiff_t>(v * dim));
  }
}

detail::RawEvents read_events(const std::string& path, const std::string& format,
                              const std::string& text) {
  if (format == "jodie") return detail::read_jodie(path, text);
  if (format == "tgl") return detail::read_tgl(path, text);
  if (format == "dyglib") return detail::read_dyglib(path, text);
  return detail::read_snap(path, text);
}

}  // namespace

Dataset import_dataset(const std::string& input, const ImportOptions& options) {
  validate_options(options);
  std::optional<detail::ColumnLayout> layout;
  if (!options.columns.roles.empty()) layout = detail::parse_column_layout(options.columns);
  std::string path = input;
  if (detail::posix::is_directory(path) &&
      detail::posix::exists((std::filesystem::path(path) / "edges.csv").string())) {
    path = (std::filesystem::path(path) / "edges.csv").string();
  }

  detail::RawEvents events;
  std::string format;
  {
    const std::string text = detail::read_text_file(path);
    if (layout) {
      format = "columns";
      events = detail::read_columns(path, text, *layout);
    } else {
      format =
          options.format == "auto" ? detail::detect_format_from_text(path, text) : options.format;
      events = read_events(path, format, text);
    }
  }

  Dataset dataset;
  dataset.name = dataset_name(path, format);
  dataset.source_format = format;
  dataset.source_file = path;
  dataset.reordered_rows = detail::sort_by_time(events);
  if (!events.ext_roll.empty()) check_ext_roll_order(path, events);
  detail::remap_nodes(events, !options.general && (events.bipartite || options.bipartite), dataset);
  if (events.bipartite && !options.bipartite && !options.general) {
    warn_if_columns_share_ids(path, dataset);
  }
  gather_node_features(events, dataset);
  dataset.ts = std::move(events.ts);
  dataset.label = std::move(events.label);
  dataset.edge_feature_dim = events.edge_feature_dim;
  dataset.edge_features = std::move(events.edge_features);
  dataset.split = events.ext_roll.empty()
                      ? quantile_split(dataset.ts, options.val_quantile, options.test_quantile)
                      : detail::ext_roll_split(events.ext_roll);

  if (dataset.reordered_rows > 0) {
    spdlog::info("import: file={} reordered_rows={} (rows out of time order were stable-sorted)",
                 path, dataset.reordered_rows);
  }
  spdlog::info(
      "import: file={} format={} nodes={} events={} bipartite={} edge_feature_dim={} "
      "split={}/{}/{} ({})",
      path, format, dataset.num_nodes, dataset.num_events(), dataset.bipartite,
      dataset.edge_feature_dim, dataset.num_train(), dataset.num_val(), dataset.num_test(),
      dataset.split.source);
  return dataset;
}

}  // namespace disttgl::trainer
