// Test helpers: scrape a /metrics endpoint over a plain socket and lint the text with
// Prometheus's own `promtool check metrics`.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

namespace disttgl::metrics {

// Sends `request` (raw HTTP) to 127.0.0.1:PORT and returns the whole response ("" when the
// connection is refused).
inline std::string http_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

// GET http://127.0.0.1:PORT/metrics with a plain socket; returns the body.
inline std::string scrape(int port) {
  const std::string response =
      http_exchange(port, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// `promtool check metrics` on `text`: its exit code and output.
inline std::pair<int, std::string> promtool(const std::string& text) {
  const std::string file = "/tmp/disttgl_metrics_" + std::to_string(::getpid()) + ".txt";
  std::ofstream(file) << text;
  FILE* p = ::popen(("promtool check metrics < " + file + " 2>&1").c_str(), "r");
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  std::remove(file.c_str());
  return {WEXITSTATUS(status), out};
}

}  // namespace disttgl::metrics
