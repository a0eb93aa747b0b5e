// How the operator reaches the Kubernetes API: from a kubeconfig file (out-of-cluster runs and
// tests: token and client-certificate users, CA file or data, insecure-skip-tls-verify) or
// from the pod's service account (in-cluster: KUBERNETES_SERVICE_HOST/PORT, the token file,
// which the kubelet rotates and the client re-reads, and the CA).
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace disttgl::op {

/// A kubeconfig or service account that cannot be used; the message names the file and field
/// ("/root/.kube/config: users[admin].user: no token, tokenFile or client certificate").
class KubeconfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClusterConfig {
  std::string server;  ///< "https://127.0.0.1:6443"
  std::string ca_pem;  ///< the CA bundle (PEM), empty: the system's
  bool insecure_skip_tls_verify = false;
  std::string token;       ///< bearer token, or
  std::string token_file;  ///< a file holding it, re-read (service-account tokens rotate)
  std::string client_cert_pem, client_key_pem;  ///< client-certificate user (PEM)
  std::string ns = "default";                   ///< the context's namespace
};

/// Reads `path` (a kubeconfig); `context` empty: its current-context. Throws KubeconfigError.
ClusterConfig load_kubeconfig(const std::string& path, const std::string& context = "");

/// The in-cluster configuration from `getenv` (KUBERNETES_SERVICE_HOST, _PORT) and the service
/// account files under `account_dir` (token, ca.crt, namespace). Throws KubeconfigError.
ClusterConfig in_cluster_config(
    const std::function<const char*(const char*)>& getenv,
    const std::string& account_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

/// The bearer token to send now: `token`, or the current contents of `token_file` (trimmed).
std::string bearer_token(const ClusterConfig& config);

}  // namespace disttgl::op
