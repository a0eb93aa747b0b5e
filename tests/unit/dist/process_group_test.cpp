// The c10d layer over real TCP on loopback: ranks in threads of one process, each with its
// own ProcessGroup (Gloo), rank 0 hosting the TCPStore on a free port.
#include "disttgl/trainer/dist/process_group.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {
namespace {

using namespace std::chrono_literals;

ProcessGroupOptions options(int rank, int world, int port, std::chrono::milliseconds timeout) {
  ProcessGroupOptions o;
  o.master_addr = "127.0.0.1";
  o.local_addr = "127.0.0.1";
  o.master_port = port;
  o.rank = rank;
  o.world_size = world;
  o.timeout = timeout;
  o.prefix = "test/" + std::to_string(::getpid());
  return o;
}

// A port that was free a moment ago (the store binds it right after).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Runs `body(group)` on `world` ranks, each in its own thread with its own group.
template <typename Body>
void run_ranks(int world, Body body, std::chrono::milliseconds timeout = 30s) {
  const int port = free_port();
  std::vector<std::future<void>> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.push_back(std::async(std::launch::async, [&, r] {
      ProcessGroup group(options(r, world, port, timeout));
      body(group);
    }));
  }
  for (auto& f : ranks) f.get();
}

TEST(ProcessGroup, WorldOfOneAllReducesToItself) {
  run_ranks(1, [](ProcessGroup& g) {
    EXPECT_EQ(g.backend_name(), "gloo");
    std::vector<torch::Tensor> t{torch::tensor({1.0f, 2.0f}), torch::tensor({3.0f})};
    EXPECT_EQ(g.all_reduce_sum(t), 3 * 4);
    EXPECT_EQ(t[0][1].item<float>(), 2.0f);
    EXPECT_EQ(t[1][0].item<float>(), 3.0f);
    std::vector<torch::Tensor> mixed{torch::ones({1}), torch::ones({1}, torch::kDouble)};
    EXPECT_THROW(g.all_reduce_sum(mixed), InternalError);
    g.barrier();
  });
}

TEST(ProcessGroup, ThreeRanksSumAndAverageGradientsInOneAllReduce) {
  std::atomic<int> done{0};
  run_ranks(3, [&](ProcessGroup& g) {
    std::vector<torch::Tensor> t{torch::full({2, 2}, static_cast<float>(g.rank() + 1))};
    EXPECT_EQ(g.all_reduce_sum(t), 16);
    EXPECT_TRUE(torch::equal(t[0], torch::full({2, 2}, 6.0f)));
    // Gradients: rank r has grad r for w; only rank 0 used b (the others count zeros); no
    // rank used u, which keeps no gradient (Adam then skips it, as in one process).
    auto w = torch::zeros({3}, torch::requires_grad());
    auto b = torch::zeros({1}, torch::requires_grad());
    auto u = torch::zeros({2}, torch::requires_grad());
    w.mutable_grad() = torch::full({3}, static_cast<float>(g.rank()));
    if (g.rank() == 0) b.mutable_grad() = torch::full({1}, 9.0f);
    // 3 + 1 + 2 values and one "used" flag per parameter, float32.
    EXPECT_EQ(average_gradients(g, {w, b, u}), (6 + 3) * 4);
    EXPECT_TRUE(torch::allclose(w.grad(), torch::full({3}, 1.0f)));  // (0 + 1 + 2) / 3
    EXPECT_TRUE(torch::allclose(b.grad(), torch::full({1}, 3.0f)));  // 9 / 3
    EXPECT_FALSE(u.grad().defined());
    g.barrier();
    ++done;
  });
  EXPECT_EQ(done.load(), 3);
}

// Distributed checkpoints move each memory group's node memory through the store: a blob
// above the store server's 8 MiB value limit arrives whole, in order, and is deleted.
TEST(ProcessGroup, BlobsLargerThanTheStoresValueLimitRoundTrip) {
  run_ranks(2, [](ProcessGroup& g) {
    std::vector<std::uint8_t> big(static_cast<std::size_t>(11) << 20);
    for (std::size_t n = 0; n < big.size(); ++n) big[n] = static_cast<std::uint8_t>(n * 7 + n / 4099);
    if (g.rank() == 1) {
      g.put_blob("epoch-1/memory-group-1", big);
      g.put_blob("empty", {});
    } else {
      EXPECT_EQ(g.get_blob("epoch-1/memory-group-1"), big);
      EXPECT_TRUE(g.get_blob("empty").empty());
      g.delete_blob("epoch-1/memory-group-1");
      g.delete_blob("never-stored");  // no-op
      EXPECT_THROW(g.get_blob("epoch-1/memory-group-1", std::chrono::milliseconds(300)), IoError);
    }
    g.barrier();
  });
}

// A rank that stops taking part: the others' all-reduce ends with an IoError naming it
// within the timeout, not a hang.
TEST(ProcessGroup, ACollectiveARankSkipsTimesOutWithAClearError) {
  std::atomic<int> errors{0};
  run_ranks(
      2,
      [&](ProcessGroup& g) {
        if (g.rank() == 1) {
          std::this_thread::sleep_for(4s);  // alive but silent
          return;
        }
        std::vector<torch::Tensor> t{torch::ones({4})};
        const auto t0 = std::chrono::steady_clock::now();
        try {
          g.all_reduce_sum(t);
        } catch (const IoError& e) {
          ++errors;
          EXPECT_NE(std::string(e.what()).find(
                        "process group (gloo rank 0 of 2): all-reduce of 16 bytes failed within "
                        "2 s"),
                    std::string::npos)
              << e.what();
        }
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s);
      },
      2s);
  EXPECT_EQ(errors.load(), 1);
}

TEST(ProcessGroup, BadRankOrWorldSizeIsAConfigError) {
  auto o = options(2, 2, 29500, 1s);
  EXPECT_THROW(ProcessGroup{o}, ConfigError);
  o = options(0, 0, 29500, 1s);
  EXPECT_THROW(ProcessGroup{o}, ConfigError);
  o = options(1, 2, 0, 1s);
  EXPECT_THROW(ProcessGroup{o}, ConfigError);
}

TEST(ProcessGroup, RendezvousWithoutTheOtherRanksTimesOutNamingIt) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    ProcessGroup g(options(0, 2, free_port(), 2s));
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("process group (gloo rank 0 of 2): rendezvous at "
                                         "127.0.0.1:"),
              std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
}

}  // namespace
}  // namespace disttgl::trainer
