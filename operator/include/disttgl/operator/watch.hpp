// Kubernetes watch streams: the apiserver sends one JSON object per line ({"type": "ADDED" |
// "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR", "object": {...}}), in chunks that split lines
// anywhere. WatchDecoder turns the chunks into events, and tells an expired resourceVersion
// (410 Gone, which arrives as an ERROR event carrying a Status object) from other errors, so
// the informer knows to relist.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace disttgl::op {

struct WatchEvent {
  std::string type;  ///< ADDED, MODIFIED, DELETED, BOOKMARK
  nlohmann::json object;
  /// metadata.resourceVersion of the object ("" when absent).
  std::string resource_version;
};

/// The watch's resourceVersion is too old (410 Gone): list again, then watch from the list's.
class WatchExpired : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Any other ERROR event or a line that is not a watch event ("watch of /api/v1/pods: ERROR
/// 500 InternalError: ...").
class WatchFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class WatchDecoder {
 public:
  /// `what` names the watch in errors, e.g. "watch of /api/v1/namespaces/ml/pods".
  explicit WatchDecoder(std::string what) : what_(std::move(what)) {}

  /// Feeds a chunk; returns the events completed by it. Throws WatchExpired for a 410 ERROR
  /// event and WatchFailed for another ERROR event or a malformed line.
  std::vector<WatchEvent> feed(std::string_view chunk);

  /// Bytes of an unfinished line held back.
  std::size_t pending() const { return buffer_.size(); }

 private:
  WatchEvent decode(std::string_view line) const;
  std::string what_;
  std::string buffer_;
};

/// True for an HTTP 410 response or a Status object with code 410 (an expired
/// resourceVersion in a list or watch request).
bool is_gone(int http_status, const nlohmann::json& body);

}  // namespace disttgl::op
