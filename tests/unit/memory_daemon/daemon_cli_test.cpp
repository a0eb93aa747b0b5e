// The daemon's command line: --help documents every flag, bad flags exit 2 with a message
// naming the flag, an address in use exits 74 naming it, stale and foreign socket paths, and
// a SHUTDOWN request stops the daemon with exit code 0.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "../../support/daemon_harness.hpp"

namespace disttgl::memory_daemon::test {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(DaemonCli, HelpDocumentsEveryFlag) {
  const CommandResult r = run_daemon({"--help"}, 10s);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag :
       {"--listen", "--unix", "--nodes", "--memory-dim", "--mail-dim", "--mailbox-size", "--layout",
        "--memory-group", "--job", "--wait-timeout", "--max-frame-bytes", "--snapshot-on-exit",
        "--restore", "--port-file", "--log-level", "--version"}) {
    EXPECT_TRUE(contains(r.output, flag)) << flag << " missing from:\n" << r.output;
  }
}

struct BadFlags {
  std::vector<std::string> args;
  std::string message;
};

TEST(DaemonCli, BadFlagsExitTwoWithAMessage) {
  const BadFlags cases[] = {
      {{"--bogus"}, "--bogus"},
      {{"--listen", "127.0.0.1:99999"}, "--listen: port '99999' is not a number in [0, 65535]"},
      {{"--listen", "127.0.0.1:0", "--wait-timeout", "nan"}, "--wait-timeout"},
      {{}, "give --listen HOST:PORT, --unix PATH or both"},
      {{"--listen", "127.0.0.1:0", "--layout", "i=0"},
       "--layout: i must be a whole number in [1, 4096], got '0'"},
      {{"--listen", "127.0.0.1:0", "--layout", "x=2"}, "--layout: 'x=2' is not i=N, j=N or k=N"},
      {{"--listen", "127.0.0.1:0", "--mail-dim", "3"}, "--nodes and --memory-dim go together"},
      {{"--listen", "127.0.0.1:0", "--nodes", "0", "--memory-dim", "4"}, "--nodes"},
      {{"--listen", "127.0.0.1:0", "--wait-timeout", "-1"}, "--wait-timeout"},
      {{"--listen", "127.0.0.1:0", "--layout", "k=2", "--memory-group", "2"},
       "--memory-group: 2 is outside [0, k=2) of --layout"},
      {{"--listen", "nonsense"}, "--listen: 'nonsense' is not HOST:PORT"},
      {{"--unix", "/tmp/x.sock", "--port-file", "/tmp/p"}, "--port-file needs a TCP --listen"},
  };
  for (const auto& c : cases) {
    const CommandResult r = run_daemon(c.args, 10s);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, c.message)) << "expected '" << c.message << "' in:\n"
                                               << r.output;
  }
}

TEST(DaemonCli, AnAddressInUseExits74NamingIt) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const CommandResult r = run_daemon({"--listen", address}, 10s);
  ::close(fd);
  EXPECT_EQ(r.exit_code, 74);
  EXPECT_TRUE(contains(r.output,
                       "cannot listen on tcp " + address + ": bind failed: Address already in use"))
      << r.output;
}

TEST(DaemonCli, UnixSocketPaths) {
  DaemonProcess holder({});  // only for its scratch directory
  const std::string regular = holder.dir() + "/regular";
  std::ofstream(regular) << "data";
  CommandResult r = run_daemon({"--unix", regular}, 10s);
  EXPECT_EQ(r.exit_code, 74);
  EXPECT_TRUE(contains(
      r.output, "cannot listen on unix " + regular + ": the path exists and is not a socket"))
      << r.output;
  EXPECT_TRUE(std::filesystem::exists(regular));  // never removed

  // A live daemon's socket is not taken over.
  r = run_daemon({"--unix", holder.unix_path()}, 10s);
  EXPECT_EQ(r.exit_code, 74);
  EXPECT_TRUE(contains(r.output, "a running process serves it")) << r.output;

  // A stale socket file (its process is gone) is replaced.
  const std::string stale = holder.dir() + "/stale.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strncpy(un.sun_path, stale.c_str(), sizeof(un.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
  ::close(fd);
  ASSERT_TRUE(std::filesystem::exists(stale));
  DaemonProcess daemon({"--unix", stale}, /*with_unix=*/false);
  DaemonClient c("unix:" + stale, 10s);
  EXPECT_EQ(nlohmann::json::parse(c.stats())["next_batch"], 0);
  EXPECT_TRUE(contains(daemon.log(), "removed the stale socket file " + stale));
}

TEST(DaemonCli, RestoreFileProblemsExitWithTheirCodes) {
  DaemonProcess holder({});
  const std::string missing = holder.dir() + "/missing.snap";
  CommandResult r = run_daemon({"--listen", "127.0.0.1:0", "--restore", missing}, 10s);
  EXPECT_EQ(r.exit_code, 74);
  EXPECT_TRUE(contains(r.output, "--restore: " + missing + ": cannot open")) << r.output;
  const std::string junk = holder.dir() + "/junk.snap";
  std::ofstream(junk) << std::string(100, 'x');  // past the header length check
  r = run_daemon({"--listen", "127.0.0.1:0", "--restore", junk}, 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(
      r.output, "--restore " + junk + ": snapshot: not a disttgl snapshot (magic is not DTGLSNAP)"))
      << r.output;
}

TEST(DaemonCli, ShutdownRequestStopsWithExitCodeZero) {
  DaemonProcess daemon({"--nodes", "4", "--memory-dim", "2"});
  {
    DaemonClient c(daemon.tcp_address(), 10s);
    const auto s = nlohmann::json::parse(c.stats());
    EXPECT_EQ(s["dims"]["mail_dim"], 4);  // default 2 * memory_dim
    EXPECT_EQ(s["dims"]["mailbox_size"], 1);
    c.shutdown();  // allowed before HELLO
  }
  EXPECT_EQ(daemon.wait_exit(10s), 0) << daemon.log();
  EXPECT_TRUE(contains(daemon.log(), "stopping: SHUTDOWN from connection 1 (tcp 127.0.0.1:"));
  EXPECT_FALSE(std::filesystem::exists(daemon.unix_path()));
}

TEST(DaemonCli, SigintStopsCleanly) {
  DaemonProcess daemon({});
  EXPECT_EQ(daemon.stop(SIGINT), 0);
  EXPECT_TRUE(
      contains(daemon.log(), "listening on tcp 127.0.0.1:" + std::to_string(daemon.port())));
  EXPECT_TRUE(contains(daemon.log(), "stopping: SIGINT"));
}

}  // namespace
}  // namespace disttgl::memory_daemon::test
