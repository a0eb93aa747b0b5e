#include "disttgl/operator/kubeconfig.hpp"

#include <fmt/format.h>
// cpprest defines a macro U() unless told not to; fmt has templates with a parameter U.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/asyncrt_utils.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace disttgl::op {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KubeconfigError(fmt::format("{}: cannot read {}", what, path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string base64(const std::string& text, const std::string& field) {
  try {
    const std::vector<unsigned char> bytes = utility::conversions::from_base64(text);
    return {bytes.begin(), bytes.end()};
  } catch (const std::exception& e) {
    throw KubeconfigError(fmt::format("{}: not base64 ({})", field, e.what()));
  }
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts).
YAML::Node named(const YAML::Node& list, const std::string& name, const std::string& where) {
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) return item;
    }
  }
  throw KubeconfigError(fmt::format("{}: no entry named '{}'", where, name));
}

// A PEM from FIELD-data (base64) or FIELD (a file path, relative to the kubeconfig's folder).
std::string pem(const YAML::Node& node, const std::string& field, const fs::path& dir,
                const std::string& where) {
  if (node[field + "-data"])
    return base64(node[field + "-data"].as<std::string>(), where + "." + field + "-data");
  if (node[field]) {
    fs::path p = node[field].as<std::string>();
    if (p.is_relative()) p = dir / p;
    return read_text(p.string(), where + "." + field);
  }
  return "";
}

}  // namespace

ClusterConfig load_kubeconfig(const std::string& path, const std::string& context_name) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw KubeconfigError(fmt::format("{}: cannot read the kubeconfig", path));
  } catch (const YAML::Exception& e) {
    throw KubeconfigError(fmt::format("{}: not YAML ({})", path, e.what()));
  }
  const fs::path dir = fs::path(path).parent_path();
  try {
    std::string ctx_name = context_name;
    if (ctx_name.empty()) {
      if (!root["current-context"]) throw KubeconfigError(path + ": no current-context (give one)");
      ctx_name = root["current-context"].as<std::string>();
    }
    const YAML::Node ctx = named(root["contexts"], ctx_name, path + ": contexts")["context"];
    if (!ctx) throw KubeconfigError(fmt::format("{}: contexts[{}]: no context", path, ctx_name));
    ClusterConfig c;
    if (ctx["namespace"]) c.ns = ctx["namespace"].as<std::string>();
    const std::string cluster_name = ctx["cluster"] ? ctx["cluster"].as<std::string>() : "";
    const std::string user_name = ctx["user"] ? ctx["user"].as<std::string>() : "";
    const std::string cw = fmt::format("{}: clusters[{}].cluster", path, cluster_name);
    const YAML::Node cluster =
        named(root["clusters"], cluster_name, path + ": clusters")["cluster"];
    if (!cluster || !cluster["server"]) throw KubeconfigError(cw + ": no server");
    c.server = cluster["server"].as<std::string>();
    if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0) {
      throw KubeconfigError(fmt::format("{}.server: '{}' is not an http(s) URL", cw, c.server));
    }
    c.insecure_skip_tls_verify =
        cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
    c.ca_pem = pem(cluster, "certificate-authority", dir, cw);
    const std::string uw = fmt::format("{}: users[{}].user", path, user_name);
    const YAML::Node user = named(root["users"], user_name, path + ": users")["user"];
    if (user) {
      if (user["token"]) c.token = user["token"].as<std::string>();
      if (user["tokenFile"]) c.token_file = user["tokenFile"].as<std::string>();
      c.client_cert_pem = pem(user, "client-certificate", dir, uw);
      c.client_key_pem = pem(user, "client-key", dir, uw);
      if (user["exec"] || user["auth-provider"]) {
        throw KubeconfigError(uw +
                              ": exec and auth-provider users are not supported (use a token or a "
                              "client certificate)");
      }
    }
    if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
      throw KubeconfigError(uw + ": client-certificate and client-key go together");
    }
    if (c.token.empty() && c.token_file.empty() && c.client_cert_pem.empty()) {
      throw KubeconfigError(uw + ": no token, tokenFile or client certificate");
    }
    return c;
  } catch (const YAML::Exception& e) {
    throw KubeconfigError(fmt::format("{}: {}", path, e.what()));
  }
}

ClusterConfig in_cluster_config(const std::function<const char*(const char*)>& getenv,
                                const std::string& account_dir) {
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    throw KubeconfigError(
        "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a "
        "pod? give --kubeconfig)");
  }
  ClusterConfig c;
  const std::string h = host;
  c.server = h.find(':') != std::string::npos ? fmt::format("https://[{}]:{}", h, port)
                                              : fmt::format("https://{}:{}", h, port);
  c.token_file = account_dir + "/token";
  if (trim(read_text(c.token_file, "in-cluster token")).empty()) {
    throw KubeconfigError("in-cluster: " + c.token_file + " is empty");
  }
  c.ca_pem = read_text(account_dir + "/ca.crt", "in-cluster CA");
  if (fs::exists(account_dir + "/namespace"))
    c.ns = trim(read_text(account_dir + "/namespace", "namespace"));
  return c;
}

std::string bearer_token(const ClusterConfig& c) {
  if (!c.token_file.empty()) return trim(read_text(c.token_file, "token file"));
  return c.token;
}

}  // namespace disttgl::op
