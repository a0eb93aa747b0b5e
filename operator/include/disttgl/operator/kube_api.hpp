// The Kubernetes API as the operator uses it: a small transport interface (one request, one
// streamed watch) with cpprestsdk behind it, and typed helpers on top (list, create, server-side
// apply, delete, merge-patch the status subresource, record an Event). The reconcile core never
// sees it.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "disttgl/operator/kubeconfig.hpp"

namespace disttgl::op {

struct HttpResponse {
  int status = 0;
  std::string body;
  double retry_after_s = 0;  ///< Retry-After of a 429 (seconds), 0 when absent
};

/// The API server could not be reached or answered an unexpected status; `status` is the HTTP
/// status (0: no answer). The message names the verb and path.
class ApiError : public std::runtime_error {
 public:
  ApiError(const std::string& what, int status, double retry_after_s = 0)
      : std::runtime_error(what), status_(status), retry_after_s_(retry_after_s) {}
  int status() const { return status_; }
  double retry_after_s() const { return retry_after_s_; }

 private:
  int status_;
  double retry_after_s_;
};

class KubeTransport {
 public:
  virtual ~KubeTransport() = default;
  /// One request; `path` includes the query. Throws ApiError when there is no answer.
  virtual HttpResponse request(const std::string& method, const std::string& path,
                               const std::string& body, const std::string& content_type) = 0;
  /// A watch: `on_chunk` gets the body as it arrives until the server closes it or `on_chunk`
  /// returns false. Returns the HTTP status. Throws ApiError when there is no answer.
  virtual int stream(const std::string& path,
                     const std::function<bool(std::string_view)>& on_chunk) = 0;
};

/// The cpprestsdk transport for `config` (TLS with its CA or none, bearer token re-read per
/// request from a token file, client certificate). `timeout_s` bounds a request (a watch's
/// own timeoutSeconds bounds a stream).
std::unique_ptr<KubeTransport> make_cpprest_transport(const ClusterConfig& config,
                                                      double timeout_s = 30);

/// GET of a plain-HTTP URL (a pod's /metrics) with a 2 s timeout; returns the body of a 200.
/// Throws ApiError otherwise.
std::string http_get_text(const std::string& url);

class KubeApi {
 public:
  explicit KubeApi(std::unique_ptr<KubeTransport> transport) : t_(std::move(transport)) {}

  /// GET `path`, expecting 200. Throws ApiError (410 Gone keeps its status).
  nlohmann::json get(const std::string& path);
  /// POST `object` to `path`; returns the created object. 409 AlreadyExists is returned as
  /// nullopt-like null JSON (the object is there: fine for a controller).
  nlohmann::json create(const std::string& path, const nlohmann::json& object);
  /// Server-side apply of `object` at its own path (e.g. .../pods/NAME) with field manager
  /// `disttgl-operator`, forcing ownership of the fields it sets: creates the object or brings
  /// the fields the operator owns back to `object`. Returns the object as stored.
  nlohmann::json apply(const std::string& path, const nlohmann::json& object);
  /// DELETE; 404 is fine (already gone). `propagation` e.g. "Background".
  void remove(const std::string& path, const std::string& propagation = "Background");
  /// PATCH (merge patch) of `path` (e.g. .../tgnnjobs/NAME/status). Returns the new object.
  nlohmann::json merge_patch(const std::string& path, const nlohmann::json& patch);
  /// PUT of a whole object (update with its resourceVersion: 409 on conflict).
  nlohmann::json replace(const std::string& path, const nlohmann::json& object);
  KubeTransport& transport() { return *t_; }

  /// Requests by verb and HTTP status (for the operator's /metrics), read by the caller.
  std::function<void(const std::string& verb, int status)> on_request;

 private:
  HttpResponse call(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type);
  std::unique_ptr<KubeTransport> t_;
};

}  // namespace disttgl::op
