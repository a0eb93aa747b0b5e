// DaemonMemoryStore: the MemoryStore conformance suite against a real disttgl-memory-daemon
// process (TCP and Unix socket), checkpoints moving between the daemon and the in-process
// store, and the errors a trainer sees for a refused handshake or a dead daemon.
#include "disttgl/trainer/memory/daemon_memory_store.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "../../support/daemon_harness.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/local_memory_store.hpp"
#include "disttgl/trainer/memory/memory_backend.hpp"
#include "memory_store_conformance.hpp"

namespace disttgl::trainer::testing {
namespace {

using disttgl::memory_daemon::test::DaemonProcess;
using namespace std::chrono_literals;

// A store that owns the daemon process behind it (one daemon per store, as one memory
// group per daemon).
class OwningDaemonStore {
 public:
  static std::unique_ptr<MemoryStore> make(bool unix_socket, std::int64_t n, std::int64_t d,
                                           std::int64_t slots) {
    auto daemon = std::make_shared<DaemonProcess>(std::vector<std::string>{});
    MemoryBackendOptions o;
    o.daemon_address = unix_socket ? daemon->unix_address() : daemon->tcp_address();
    o.timeout = 10s;
    o.num_nodes = n;
    o.memory_dim = d;
    o.mail_dim = 2 * d;
    o.mailbox_size = slots;
    daemons().push_back(daemon);  // lives until the test binary exits
    return std::make_unique<DaemonMemoryStore>(o);
  }
  static std::vector<std::shared_ptr<DaemonProcess>>& daemons() {
    static std::vector<std::shared_ptr<DaemonProcess>> all;
    return all;
  }
};

INSTANTIATE_TEST_SUITE_P(
    Daemon, MemoryStoreConformance,
    ::testing::Values(StoreFactory{"tcp",
                                   [](std::int64_t n, std::int64_t d, std::int64_t s) {
                                     return OwningDaemonStore::make(false, n, d, s);
                                   }},
                      StoreFactory{"unix",
                                   [](std::int64_t n, std::int64_t d, std::int64_t s) {
                                     return OwningDaemonStore::make(true, n, d, s);
                                   }}),
    [](const ::testing::TestParamInfo<StoreFactory>& param_info) { return param_info.param.name; });

MemoryBackendOptions options_for(const DaemonProcess& daemon, std::int64_t n = 8,
                                 std::int64_t d = 3) {
  MemoryBackendOptions o;
  o.daemon_address = daemon.tcp_address();
  o.timeout = 5s;
  o.num_nodes = n;
  o.memory_dim = d;
  o.mail_dim = 2 * d;
  o.mailbox_size = 2;
  o.dataset_fingerprint = 42;
  return o;
}

std::string save_bytes(const MemoryStore& store) {
  torch::serialize::OutputArchive out;
  store.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  return bytes.str();
}

void load_bytes(MemoryStore& store, const std::string& bytes) {
  std::istringstream in_bytes(bytes);
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  store.load(in);
}

TEST(DaemonMemoryStore, CheckpointsMoveBetweenTheDaemonAndTheLocalStore) {
  DaemonProcess daemon(std::vector<std::string>{});
  auto remote = make_memory_store(options_for(daemon));
  remote->write(i64({4, 1, 4}), encoded_rows(3, 3, 6, 0.5));
  remote->write(i64({2, 4, 7}), encoded_rows(3, 3, 6, 9.0));
  auto local_options = options_for(daemon);
  local_options.daemon_address.clear();
  auto local = make_memory_store(local_options);
  load_bytes(*local, save_bytes(*remote));
  const torch::Tensor all = torch::arange(8, torch::kLong);
  const MemoryRows a = remote->read(all);
  const MemoryRows b = local->read(all);
  EXPECT_TRUE(torch::equal(a.memory, b.memory));
  EXPECT_TRUE(torch::equal(a.mail, b.mail));
  EXPECT_TRUE(torch::equal(a.mail_eid, b.mail_eid));
  EXPECT_EQ(local->next_batch(), 2);
  // And back: the local store's checkpoint restores the daemon after a reset.
  local->write(2, 0, i64({3}), encoded_rows(1, 3, 6, 4.0));
  remote->reset();
  load_bytes(*remote, save_bytes(*local));
  EXPECT_EQ(remote->next_batch(), 3);
  EXPECT_TRUE(torch::equal(remote->read(all).mail, local->read(all).mail));
}

TEST(DaemonMemoryStore, UnixConnectionsMoveRowsThroughSharedMemoryWithTheSocketsResults) {
  DaemonProcess daemon(std::vector<std::string>{});
  auto shm_options = options_for(daemon);
  shm_options.daemon_address = daemon.unix_address();
  auto socket_options = shm_options;
  socket_options.shared_memory = false;
  auto tcp_options = options_for(daemon);
  auto shm = make_memory_store(shm_options);
  auto socket = make_memory_store(socket_options);
  auto tcp = make_memory_store(tcp_options);
  EXPECT_EQ(dynamic_cast<DaemonMemoryStore&>(*shm).transport(), "shared memory");
  EXPECT_EQ(dynamic_cast<DaemonMemoryStore&>(*socket).transport(), "socket");
  EXPECT_EQ(dynamic_cast<DaemonMemoryStore&>(*tcp).transport(), "socket");
  // Writes alternate between the shared-memory and the socket paths; every path reads the
  // same rows, also a read of more rows than a slot holds (duplicates: the socket fallback).
  shm->write(0, 0, i64({4, 1, 4}), encoded_rows(3, 3, 6, 0.5));
  tcp->write(1, 0, i64({2, 7}), encoded_rows(2, 3, 6, 9.0));
  shm->write(2, 0, i64({7}), encoded_rows(1, 3, 6, 20.0));
  const torch::Tensor all = torch::arange(8, torch::kLong);
  const torch::Tensor many = all.repeat({50});  // 400 rows > one slot of 8 nodes' rows
  for (const torch::Tensor& nodes : {all, many}) {
    // Three clients of one memory group: each names the logical batch it reads.
    const MemoryRows a = shm->read_async(3, nodes).get();
    const MemoryRows b = socket->read_async(3, nodes).get();
    const MemoryRows c = tcp->read_async(3, nodes).get();
    for (const MemoryRows* other : {&b, &c}) {
      EXPECT_TRUE(torch::equal(a.memory, other->memory));
      EXPECT_TRUE(torch::equal(a.memory_ts, other->memory_ts));
      EXPECT_TRUE(torch::equal(a.mail, other->mail));
      EXPECT_TRUE(torch::equal(a.mail_ts, other->mail_ts));
      EXPECT_TRUE(torch::equal(a.mail_eid, other->mail_eid));
    }
  }
  EXPECT_DOUBLE_EQ(shm->read(i64({7})).memory_ts[0].item<double>(), 20.5);
  // Rows viewing a slot stay valid after the store that read them is gone.
  const MemoryRows kept = shm->read(i64({4}));
  EXPECT_EQ(shm->next_batch(), 3);
  shm.reset();
  EXPECT_DOUBLE_EQ(kept.memory_ts[0].item<double>(), 10.0 * 2 + 0.5 + 0.5);
}

TEST(DaemonMemoryStore, AHandshakeWithOtherDimensionsIsAConfigErrorNamingTheField) {
  DaemonProcess daemon(std::vector<std::string>{});
  auto first = make_memory_store(options_for(daemon, 8, 3));
  try {
    make_memory_store(options_for(daemon, 8, 4));
    FAIL() << "a trainer with memory_dim 4 was accepted by a daemon holding 3";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("memory_dim"), std::string::npos) << e.what();
  }
  auto other_data = options_for(daemon, 8, 3);
  other_data.dataset_fingerprint = 43;
  try {
    make_memory_store(other_data);
    FAIL() << "a trainer of another dataset was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fingerprint"), std::string::npos) << e.what();
  }
}

TEST(DaemonMemoryStore, AnUnreachableDaemonFailsWithinTheTimeoutNamingTheAddress) {
  std::string address;
  {
    DaemonProcess daemon(std::vector<std::string>{});  // a port that was just free and is closed again
    address = daemon.tcp_address();
  }
  MemoryBackendOptions o;
  o.daemon_address = address;
  o.timeout = 2s;
  o.num_nodes = 4;
  o.memory_dim = 2;
  o.mail_dim = 4;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    make_memory_store(o);
    FAIL() << "connected to a closed port";
  } catch (const MemoryBackendError& e) {
    EXPECT_NE(std::string(e.what()).find("memory daemon " + address), std::string::npos)
        << e.what();
    EXPECT_EQ(e.exit_code(), kExitIo);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  o.daemon_address = "no-port-here";
  EXPECT_THROW(make_memory_store(o), ConfigError);
  o.daemon_address = "127.0.0.1:99999";  // a resolver would wrap it to port 34463
  try {
    make_memory_store(o);
    FAIL() << "port 99999 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("port '99999' is not a number in [0, 65535]"),
              std::string::npos)
        << e.what();
  }
}

TEST(DaemonMemoryStore, ADaemonKilledMidUseFailsTheNextCallWithinTheTimeout) {
  auto daemon = std::make_unique<DaemonProcess>(std::vector<std::string>{});
  auto o = options_for(*daemon);
  o.timeout = 3s;
  auto store = make_memory_store(o);
  store->write(i64({1}), encoded_rows(1, 3, 6));
  // A read parked at the daemon (batch 2 waits for batch 1's write) when the daemon dies.
  PendingRows parked = store->read_async(2, i64({1}));
  daemon->stop(SIGKILL);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    parked.get();
    FAIL() << "a read from a killed daemon returned rows";
  } catch (const MemoryBackendError& e) {
    EXPECT_NE(std::string(e.what()).find("memory daemon 127.0.0.1:"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(store->write(1, 0, i64({1}), encoded_rows(1, 3, 6)), MemoryBackendError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
}

TEST(DaemonMemoryStore, ADaemonThatStopsAnsweringFailsWithinTheTimeout) {
  DaemonProcess daemon(std::vector<std::string>{});
  auto o = options_for(daemon);
  o.timeout = 1s;
  auto store = make_memory_store(o);
  ::kill(daemon.pid(), SIGSTOP);  // alive, connected, silent
  const auto t0 = std::chrono::steady_clock::now();
  try {
    store->read(i64({1}));
    FAIL() << "a read from a stopped daemon returned";
  } catch (const MemoryBackendError& e) {
    EXPECT_NE(std::string(e.what()).find("no reply to READ for batch 0 within 1 s"),
              std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  ::kill(daemon.pid(), SIGCONT);
}

}  // namespace
}  // namespace disttgl::trainer::testing
