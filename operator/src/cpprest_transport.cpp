// KubeTransport over cpprestsdk's HTTP client (Boost.Asio + OpenSSL underneath).
#include <fmt/format.h>
#define _TURN_OFF_PLATFORM_STRING  // cpprest's U() macro clashes with fmt's templates
#include <cpprest/http_client.h>

#include <boost/asio/ssl.hpp>

#include "disttgl/operator/kube_api.hpp"

namespace disttgl::op {
namespace {

namespace http = web::http;

class CppRestTransport final : public KubeTransport {
 public:
  CppRestTransport(const ClusterConfig& config, double timeout_s) : config_(config) {
    http::client::http_client_config c;
    c.set_timeout(std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000)));
    c.set_validate_certificates(!config.insecure_skip_tls_verify);
    const ClusterConfig cc = config;
    c.set_ssl_context_callback([cc](boost::asio::ssl::context& ctx) {
      if (!cc.ca_pem.empty()) ctx.add_certificate_authority(boost::asio::buffer(cc.ca_pem));
      if (!cc.client_cert_pem.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cc.client_cert_pem));
        ctx.use_private_key(boost::asio::buffer(cc.client_key_pem), boost::asio::ssl::context::pem);
      }
    });
    client_ = std::make_unique<http::client::http_client>(config.server, c);
    // A watch ends at its timeoutSeconds (15 s) or sooner; a stream silent for longer than this
    // is a dead server or connection, and the informer reconnects (and notices a stop).
    c.set_timeout(std::chrono::seconds(30));
    stream_client_ = std::make_unique<http::client::http_client>(config.server, c);
  }

  HttpResponse request(const std::string& method, const std::string& path, const std::string& body,
                       const std::string& content_type) override {
    http::http_request req(method);
    req.set_request_uri(path);
    authorize(req);
    if (!body.empty()) req.set_body(body, content_type);
    try {
      http::http_response r = client_->request(req).get();
      HttpResponse out;
      out.status = r.status_code();
      out.body = r.extract_utf8string(true).get();
      const auto ra = r.headers().find("Retry-After");
      if (ra != r.headers().end()) {
        try {
          out.retry_after_s = std::stod(ra->second);
        } catch (const std::exception&) {
        }
      }
      return out;
    } catch (const std::exception& e) {
      throw ApiError(fmt::format("{} {}{}: {}", method, config_.server, path, e.what()), 0);
    }
  }

  int stream(const std::string& path,
             const std::function<bool(std::string_view)>& on_chunk) override {
    http::http_request req(http::methods::GET);
    req.set_request_uri(path);
    authorize(req);
    try {
      http::http_response r = stream_client_->request(req).get();
      if (r.status_code() != http::status_codes::OK) {
        const std::string body = r.extract_utf8string(true).get();
        on_chunk(body);
        return r.status_code();
      }
      // The body buffer answers a read only once it holds all the bytes asked for (or ends):
      // wait for one byte, then take whatever else has arrived, so that events reach the
      // informer as they come rather than when 64 KB have piled up or the watch ends.
      auto buf = r.body().streambuf();
      std::vector<unsigned char> chunk(64 * 1024);
      for (;;) {
        std::size_t n = buf.getn(chunk.data(), 1).get();
        if (n == 0) break;
        const std::size_t more = std::min<std::size_t>(buf.in_avail(), chunk.size() - 1);
        if (more > 0) n += buf.getn(chunk.data() + 1, more).get();
        if (!on_chunk(std::string_view(reinterpret_cast<const char*>(chunk.data()), n))) break;
      }
      return r.status_code();
    } catch (const std::exception& e) {
      throw ApiError(fmt::format("watch {}{}: {}", config_.server, path, e.what()), 0);
    }
  }

 private:
  void authorize(http::http_request& req) const {
    const std::string token = bearer_token(config_);
    if (!token.empty()) req.headers().add("Authorization", "Bearer " + token);
    req.headers().add("Accept", "application/json");
  }

  ClusterConfig config_;
  std::unique_ptr<http::client::http_client> client_, stream_client_;
};

}  // namespace

std::string http_get_text(const std::string& url) {
  http::client::http_client_config c;
  c.set_timeout(std::chrono::seconds(2));
  try {
    http::client::http_client client(url, c);
    http::http_response r = client.request(http::methods::GET).get();
    if (r.status_code() != http::status_codes::OK) {
      throw ApiError(fmt::format("GET {}: HTTP {}", url, r.status_code()), r.status_code());
    }
    return r.extract_utf8string(true).get();
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    throw ApiError(fmt::format("GET {}: {}", url, e.what()), 0);
  }
}

std::unique_ptr<KubeTransport> make_cpprest_transport(const ClusterConfig& config,
                                                      double timeout_s) {
  return std::make_unique<CppRestTransport>(config, timeout_s);
}

HttpResponse KubeApi::call(const std::string& method, const std::string& path,
                           const std::string& body, const std::string& content_type) {
  HttpResponse r = t_->request(method, path, body, content_type);
  if (on_request) on_request(method, r.status);
  return r;
}

namespace {
[[noreturn]] void fail(const std::string& method, const std::string& path, const HttpResponse& r) {
  std::string message = r.body;
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message")) message = j["message"].get<std::string>();
  throw ApiError(fmt::format("{} {}: HTTP {}: {:.300}", method, path, r.status, message), r.status,
                 r.retry_after_s);
}
}  // namespace

nlohmann::json KubeApi::get(const std::string& path) {
  const HttpResponse r = call("GET", path, "", "");
  if (r.status != 200) fail("GET", path, r);
  return nlohmann::json::parse(r.body);
}

nlohmann::json KubeApi::create(const std::string& path, const nlohmann::json& object) {
  const HttpResponse r = call("POST", path, object.dump(), "application/json");
  if (r.status == 409) return nullptr;
  if (r.status != 201 && r.status != 200) fail("POST", path, r);
  return nlohmann::json::parse(r.body);
}

nlohmann::json KubeApi::apply(const std::string& path, const nlohmann::json& object) {
  // JSON is YAML, so the apply body needs no YAML writer.
  const std::string query = path + "?fieldManager=disttgl-operator&force=true";
  const HttpResponse r = call("PATCH", query, object.dump(), "application/apply-patch+yaml");
  if (r.status != 200 && r.status != 201) fail("PATCH", path, r);
  return nlohmann::json::parse(r.body);
}

void KubeApi::remove(const std::string& path, const std::string& propagation) {
  const nlohmann::json options = {
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", propagation}};
  const HttpResponse r = call("DELETE", path, options.dump(), "application/json");
  if (r.status != 200 && r.status != 202 && r.status != 404) fail("DELETE", path, r);
}

nlohmann::json KubeApi::merge_patch(const std::string& path, const nlohmann::json& patch) {
  const HttpResponse r = call("PATCH", path + "?fieldManager=disttgl-operator", patch.dump(),
                              "application/merge-patch+json");
  if (r.status != 200) fail("PATCH", path, r);
  return nlohmann::json::parse(r.body);
}

nlohmann::json KubeApi::replace(const std::string& path, const nlohmann::json& object) {
  const HttpResponse r = call("PUT", path, object.dump(), "application/json");
  if (r.status != 200) fail("PUT", path, r);
  return nlohmann::json::parse(r.body);
}

}  // namespace disttgl::op
