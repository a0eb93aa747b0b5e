#include "disttgl/operator/watch.hpp"

#include <fmt/format.h>

namespace disttgl::op {

std::vector<WatchEvent> WatchDecoder::feed(std::string_view chunk) {
  buffer_.append(chunk);
  std::vector<WatchEvent> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string_view line(buffer_.data() + start, nl - start);
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;  // keep-alive
    out.push_back(decode(line));
  }
  buffer_.erase(0, start);
  return out;
}

WatchEvent WatchDecoder::decode(std::string_view line) const {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    throw WatchFailed(fmt::format("{}: not a watch event: {:.200}", what_, line));
  }
  WatchEvent e;
  e.type = j["type"].get<std::string>();
  e.object = j.value("object", nlohmann::json::object());
  if (e.type == "ERROR") {
    const int code = e.object.value("code", 0);
    const std::string message =
        fmt::format("{}: ERROR {} {}: {}", what_, code, e.object.value("reason", ""),
                    e.object.value("message", ""));
    if (code == 410) throw WatchExpired(message);
    throw WatchFailed(message);
  }
  if (e.type != "ADDED" && e.type != "MODIFIED" && e.type != "DELETED" && e.type != "BOOKMARK") {
    throw WatchFailed(fmt::format("{}: unknown event type '{}'", what_, e.type));
  }
  const auto& meta = e.object.value("metadata", nlohmann::json::object());
  e.resource_version = meta.value("resourceVersion", "");
  return e;
}

bool is_gone(int http_status, const nlohmann::json& body) {
  return http_status == 410 ||
         (body.is_object() && body.value("kind", "") == "Status" && body.value("code", 0) == 410);
}

}  // namespace disttgl::op
