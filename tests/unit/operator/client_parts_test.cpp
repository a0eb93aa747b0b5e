// The parts of the Kubernetes client that need no server: watch-stream decoding (lines split
// across chunks, bookmarks, 410 Gone as an ERROR event and as an HTTP status) and the
// kubeconfig / in-cluster loaders.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "disttgl/operator/kubeconfig.hpp"
#include "disttgl/operator/watch.hpp"

namespace disttgl::op {
namespace {
namespace fs = std::filesystem;

TEST(WatchDecoder, EventsSplitAcrossChunksComeOutWhole) {
  WatchDecoder d("watch of /api/v1/pods");
  const std::string a =
      R"({"type":"ADDED","object":{"metadata":{"name":"p","resourceVersion":"41"}}})";
  const std::string b = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"57"}}})";
  const std::string stream = a + "\n\n" + b + "\n";
  std::vector<WatchEvent> got;
  for (std::size_t i = 0; i < stream.size(); i += 7) {
    for (auto& e : d.feed(std::string_view(stream).substr(i, 7))) got.push_back(std::move(e));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, "ADDED");
  EXPECT_EQ(got[0].object["metadata"]["name"], "p");
  EXPECT_EQ(got[0].resource_version, "41");
  EXPECT_EQ(got[1].type, "BOOKMARK");
  EXPECT_EQ(got[1].resource_version, "57");
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_TRUE(d.feed(R"({"type":"DELETED","obj)").empty());
  EXPECT_EQ(d.pending(), 22u);  // the unfinished line is held back
}

TEST(WatchDecoder, GoneIsExpiredAndOtherErrorsFail) {
  WatchDecoder d("watch of /apis/disttgl.io/v1alpha1/tgnnjobs");
  try {
    d.feed(
        R"x({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 5 (90)"}})x"
        "\n");
    FAIL() << "no WatchExpired";
  } catch (const WatchExpired& e) {
    EXPECT_STREQ(e.what(),
                 "watch of /apis/disttgl.io/v1alpha1/tgnnjobs: ERROR 410 Expired: too old "
                 "resource version: 5 (90)");
  }
  WatchDecoder d2("w");
  EXPECT_THROW(d2.feed(R"({"type":"ERROR","object":{"code":500,"reason":"InternalError"}})"
                       "\n"),
               WatchFailed);
  WatchDecoder d3("w");
  EXPECT_THROW(d3.feed("<html>proxy error</html>\n"), WatchFailed);
  WatchDecoder d4("w");
  EXPECT_THROW(d4.feed(R"({"type":"RENAMED","object":{}})"
                       "\n"),
               WatchFailed);
  EXPECT_TRUE(is_gone(410, nlohmann::json::object()));
  EXPECT_TRUE(is_gone(200, nlohmann::json{{"kind", "Status"}, {"code", 410}}));
  EXPECT_FALSE(is_gone(200, nlohmann::json{{"kind", "PodList"}}));
}

class Kubeconfig : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("disttgl_kubeconfig_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(Kubeconfig, TokenAndClientCertificateUsers) {
  write("client.crt", "CERT PEM\n");
  const std::string path = write("config", R"(
apiVersion: v1
kind: Config
current-context: tok
contexts:
- name: tok
  context: {cluster: local, user: admin, namespace: ml}
- name: cert
  context: {cluster: local, user: certuser}
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: Q0EgUEVNCg==
users:
- name: admin
  user: {token: s3cret}
- name: certuser
  user:
    client-certificate: client.crt
    client-key-data: S0VZIFBFTQo=
)");
  const ClusterConfig t = load_kubeconfig(path);
  EXPECT_EQ(t.server, "https://127.0.0.1:6443");
  EXPECT_EQ(t.ca_pem, "CA PEM\n");
  EXPECT_EQ(t.ns, "ml");
  EXPECT_EQ(bearer_token(t), "s3cret");
  const ClusterConfig c = load_kubeconfig(path, "cert");
  EXPECT_EQ(c.client_cert_pem, "CERT PEM\n");  // a path relative to the kubeconfig
  EXPECT_EQ(c.client_key_pem, "KEY PEM\n");
  EXPECT_EQ(c.ns, "default");
  EXPECT_TRUE(c.token.empty());
}

TEST_F(Kubeconfig, AUserWithoutCredentialsOrAnUnknownContextIsNamed) {
  const std::string path = write("config", R"(
current-context: a
contexts: [{name: a, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "https://x:6443"}}]
users: [{name: u, user: {}}]
)");
  try {
    load_kubeconfig(path);
    FAIL();
  } catch (const KubeconfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              path + ": users[u].user: no token, tokenFile or client certificate");
  }
  try {
    load_kubeconfig(path, "nope");
    FAIL();
  } catch (const KubeconfigError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": contexts: no entry named 'nope'");
  }
  EXPECT_THROW(load_kubeconfig((dir_ / "missing").string()), KubeconfigError);
}

TEST_F(Kubeconfig, InClusterReadsTheServiceAccountAndRereadsItsToken) {
  write("token", "tok-1\n");
  write("ca.crt", "CA\n");
  write("namespace", "training\n");
  const auto env = [](const char* n) -> const char* {
    const std::string name = n;
    if (name == "KUBERNETES_SERVICE_HOST") return "10.0.0.1";
    if (name == "KUBERNETES_SERVICE_PORT") return "443";
    return nullptr;
  };
  const ClusterConfig c = in_cluster_config(env, dir_.string());
  EXPECT_EQ(c.server, "https://10.0.0.1:443");
  EXPECT_EQ(c.ns, "training");
  EXPECT_EQ(bearer_token(c), "tok-1");
  write("token", "tok-2\n");  // the kubelet rotated it
  EXPECT_EQ(bearer_token(c), "tok-2");
  EXPECT_THROW(in_cluster_config([](const char*) -> const char* { return nullptr; }, dir_.string()),
               KubeconfigError);
}

}  // namespace
}  // namespace disttgl::op
