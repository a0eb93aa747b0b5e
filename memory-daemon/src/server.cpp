#include "server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "disttgl/common/error.hpp"

namespace disttgl::memory_daemon {

namespace {

using asio::ip::tcp;
using local_stream = asio::local::stream_protocol;

// How long a stopping daemon waits for queued replies to reach slow clients.
constexpr auto kDrainTimeout = std::chrono::seconds(5);
// Pause after a failed accept (e.g. out of file descriptors) instead of retrying at once.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

std::string endpoint_text(const tcp::endpoint& ep) {
  std::ostringstream os;
  os << ep;  // "127.0.0.1:5000" or "[::1]:5000"
  return os.str();
}

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

}  // namespace

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      signals_(io_, SIGINT, SIGTERM),
      accept_retry_(io_),
      drain_timer_(io_),
      group_(io_, options_.group),
      started_(std::chrono::steady_clock::now()) {}

Server::~Server() = default;

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);  // a vanished client is an error code, not a signal
  restore_at_start();
  counters_.metrics = options_.group.metrics;
  publish();
  try {
    if (!options_.listen.empty()) bind_tcp();
    if (!options_.unix_path.empty()) bind_unix();
    write_port_file();
  } catch (...) {
    // A failed start leaves no socket file behind.
    std::error_code ignored;
    if (unix_bound_) std::filesystem::remove(options_.unix_path, ignored);
    throw;
  }
  signals_.async_wait([this](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    stop(signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  });
  if (tcp_) accept_tcp();
  if (unix_) accept_unix();
  for (;;) {
    // Handlers catch their own errors; this is the last line of defence for the loop.
    try {
      io_.run();
      break;
    } catch (const std::exception& e) {
      spdlog::error("unexpected error in the event loop (serving on): {}", e.what());
    }
  }
  if (unix_bound_) {
    std::error_code ignored;
    std::filesystem::remove(options_.unix_path, ignored);
  }
  spdlog::info("stopped (exit code {})", exit_code_);
  return exit_code_;
}

void Server::restore_at_start() {
  if (options_.restore.empty()) return;
  std::vector<std::byte> bytes;
  try {
    bytes = read_file(options_.restore);
  } catch (const ProtocolError& e) {
    throw IoError(std::string("--restore: ") + e.what());
  }
  try {
    group_.restore_bytes(bytes, options_.restore);
  } catch (const ProtocolError& e) {
    throw ConfigError("--restore " + options_.restore + ": " + e.what());
  }
}

void Server::bind_tcp() {
  const std::string& text = options_.listen;
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw ConfigError("--listen: '" + text + "' is not HOST:PORT");
  }
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!valid_port(port)) {
    throw ConfigError("--listen: port '" + port + "' is not a number in [0, 65535]");
  }
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  const auto results =
      resolver.resolve(host, port, tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    throw ConfigError("--listen: cannot resolve '" + text + "' (" + ec.message() + ")");
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor acceptor(io_);
  const auto fail = [&](const char* step) {
    throw IoError(fmt::format("cannot listen on tcp {}: {} failed: {}", text, step, ec.message()));
  };
  if (acceptor.open(endpoint.protocol(), ec)) fail("open");
  // Lets a restarted daemon bind while old connections linger in TIME_WAIT; a live
  // listener on the port still makes bind fail.
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec)) fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) fail("listen");
  const tcp::endpoint bound = acceptor.local_endpoint(ec);
  tcp_.emplace(std::move(acceptor));
  spdlog::info("listening on tcp {}", endpoint_text(bound));
}

void Server::bind_unix() {
  const std::string& path = options_.unix_path;
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw ConfigError(fmt::format("--unix: path '{}' is {} bytes, the limit is {}", path,
                                  path.size(), sizeof(sockaddr_un{}.sun_path) - 1));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw IoError("cannot listen on unix " + path + ": the path exists and is not a socket");
    }
    // A socket file left by a daemon that died; unless someone still answers on it.
    local_stream::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(local_stream::endpoint(path), ec);
    if (!ec) throw IoError("cannot listen on unix " + path + ": a running process serves it");
    std::error_code rm;
    std::filesystem::remove(path, rm);
    spdlog::info("removed the stale socket file {}", path);
  }
  boost::system::error_code ec;
  local_stream::acceptor acceptor(io_);
  const auto fail = [&](const char* step) {
    throw IoError(fmt::format("cannot listen on unix {}: {} failed: {}", path, step, ec.message()));
  };
  if (acceptor.open(local_stream(), ec)) fail("open");
  if (acceptor.bind(local_stream::endpoint(path), ec)) fail("bind");
  unix_bound_ = true;
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) fail("listen");
  unix_.emplace(std::move(acceptor));
  spdlog::info("listening on unix {}", path);
}

void Server::write_port_file() {
  if (options_.port_file.empty()) return;
  if (!tcp_) throw ConfigError("--port-file needs a TCP --listen address");
  boost::system::error_code ec;
  const std::string text = std::to_string(tcp_->local_endpoint(ec).port()) + "\n";
  try {
    write_file_atomic(options_.port_file,
                      std::as_bytes(std::span<const char>(text.data(), text.size())));
  } catch (const ProtocolError& e) {
    throw IoError(std::string("--port-file: ") + e.what());
  }
}

void Server::accept_tcp() {
  tcp_->async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopping_) return;
    if (ec) {
      spdlog::warn("accepting a tcp connection failed: {}", ec.message());
      return retry_accept(true);
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // small control frames must not wait
    const tcp::endpoint peer = socket.remote_endpoint(ignored);
    const int family = peer.protocol().family();
    Connection::Socket generic(io_, asio::generic::stream_protocol(family, IPPROTO_TCP),
                               socket.release());
    add_connection(std::move(generic), "tcp " + endpoint_text(peer));
    accept_tcp();
  });
}

void Server::accept_unix() {
  unix_->async_accept([this](const boost::system::error_code& ec, local_stream::socket socket) {
    if (stopping_) return;
    if (ec) {
      spdlog::warn("accepting a unix connection failed: {}", ec.message());
      return retry_accept(false);
    }
    // A READ_OK of a batch's rows (about 2 MB for Wikipedia) in one send rather than in
    // 200 KB steps; the kernel caps it at net.core.wmem_max.
    boost::system::error_code ignored;
    socket.set_option(asio::socket_base::send_buffer_size(8 << 20), ignored);
    Connection::Socket generic(io_, asio::generic::stream_protocol(AF_UNIX, 0), socket.release());
    add_connection(std::move(generic), "unix");
    accept_unix();
  });
}

void Server::retry_accept(bool tcp) {
  accept_retry_.expires_after(kAcceptRetry);
  accept_retry_.async_wait([this, tcp](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    if (tcp) {
      accept_tcp();
    } else {
      accept_unix();
    }
  });
}

void Server::add_connection(Connection::Socket socket, const std::string& peer) {
  const std::uint64_t id = ++next_conn_id_;
  auto conn = std::make_shared<Connection>(std::move(socket), id, peer, *this, counters_,
                                           options_.max_frame_bytes,
                                           seconds(options_.group.wait_timeout_s));
  connections_[id] = conn;
  spdlog::info("{}: opened", conn->describe());
  conn->start();
}

void Server::on_frame(const std::shared_ptr<Connection>& conn, const FrameHeader& header,
                      std::vector<std::byte> payload) {
  const ReplyTo to{conn, conn->id(), header.type, header.request_id, &counters_};
  try {
    if (stopping_) throw ProtocolError(ErrorCode::kShuttingDown, "the daemon is stopping");
    dispatch(conn, header, std::move(payload), to);
  } catch (const ProtocolError& e) {
    to.error(e.code(), e.what());
  } catch (const std::exception& e) {
    // Not a client mistake we foresaw (e.g. out of memory); the request had no effect.
    to.error(ErrorCode::kMalformed,
             fmt::format("{} failed inside the daemon: {}", type_name(header.type), e.what()));
  }
  publish();
}

void Server::publish() const {
  if (options_.group.metrics == nullptr) return;
  group_.publish();
  std::size_t trainers = 0;
  for (const auto& [id, conn] : connections_)
    trainers += conn->hello_done && !conn->closed() ? 1 : 0;
  options_.group.metrics->set_connected_trainers(trainers);
}

void Server::dispatch(const std::shared_ptr<Connection>& conn, const FrameHeader& header,
                      std::vector<std::byte> payload, const ReplyTo& to) {
  const auto require_empty = [&] {
    if (!payload.empty()) {
      throw ProtocolError(ErrorCode::kMalformed,
                          fmt::format("{}: payload must be empty, got {} bytes",
                                      type_name(header.type), payload.size()));
    }
  };
  switch (header.type) {
    case MsgType::kHello: {
      const Hello hello = decode_hello(payload);
      try {
        const HelloOk ok = group_.hello(hello);
        for (const auto& [other_id, other] : connections_) {
          if (other != conn && other->hello_done && other->rank == hello.rank && !other->closed()) {
            // Allowed (a trainer restarting before its old connection is seen closed), but
            // two live trainers on one rank reset each other's memory: say so.
            spdlog::warn(
                "{}: rank {} is also held by live {}; two trainers on one rank of a "
                "memory group will reset each other's memory",
                conn->describe(), hello.rank, other->describe());
          }
        }
        conn->hello_done = true;
        conn->rank = hello.rank;
        spdlog::info("{}: HELLO job '{}', memory group {}, layout i={},j={},k={}", conn->describe(),
                     hello.job, hello.memory_group, hello.layout.i, hello.layout.j, hello.layout.k);
        to.ok(MsgType::kHelloOk, encode_hello_ok(ok));
      } catch (const ProtocolError& e) {
        // A trainer of another job or shape must not touch this group: answer, then close.
        to.error(e.code(), e.what());
        conn->close_after_flush(std::string("HELLO refused: ") + e.what());
      }
      return;
    }
    case MsgType::kStats:
      require_empty();
      return to.ok(MsgType::kStatsOk, encode_text(stats_json()));
    case MsgType::kShutdown:
      require_empty();
      to.ok(MsgType::kShutdownOk, {});
      return stop("SHUTDOWN from " + conn->describe());
    case MsgType::kAttachShm:
      return attach_shared_memory(conn, header, payload);
    case MsgType::kRead:
    case MsgType::kWrite:
    case MsgType::kReadShm:
    case MsgType::kWriteShm:
    case MsgType::kReset:
    case MsgType::kSnapshot:
    case MsgType::kRestore:
      break;
    default:
      throw ProtocolError(ErrorCode::kUnknownType,
                          fmt::format("message type {:#06x} is not a request type",
                                      static_cast<unsigned>(header.type)));
  }
  if (!conn->hello_done) {
    throw ProtocolError(ErrorCode::kNoHello,
                        fmt::format("{} before HELLO: say HELLO first", type_name(header.type)));
  }
  switch (header.type) {
    case MsgType::kRead:
      return group_.read(to, std::move(payload));
    case MsgType::kReadShm: {
      const ShmSlotRef ref = decode_read_shm(payload);
      if (!conn->shm) {
        throw ProtocolError(ErrorCode::kMalformed, "READ_SHM before ATTACH_SHM");
      }
      conn->shm->read_slot(ref.slot);  // checks the slot index
      return group_.read(to, std::move(payload), 8, ShmTarget{conn->shm, ref.slot});
    }
    case MsgType::kWriteShm: {
      const ShmSlotRef ref = decode_write_shm(payload);
      if (!conn->shm) {
        throw ProtocolError(ErrorCode::kMalformed, "WRITE_SHM before ATTACH_SHM");
      }
      const std::span<std::byte> slot = conn->shm->write_slot(ref.slot);
      if (ref.bytes > slot.size()) {
        throw ProtocolError(
            ErrorCode::kMalformed,
            fmt::format("WRITE_SHM: {} bytes named, the slot holds {}", ref.bytes, slot.size()));
      }
      // A private copy first: the client could change the slot while it is decoded.
      std::vector<std::byte> copy(slot.begin(),
                                  slot.begin() + static_cast<std::ptrdiff_t>(ref.bytes));
      counters_.add_in(ref.bytes);  // rows through shared memory
      const std::int64_t next = group_.write(std::move(copy));
      return to.ok(MsgType::kWriteShmOk, encode_i64(next));
    }
    case MsgType::kWrite: {
      const std::int64_t next = group_.write(std::move(payload));
      return to.ok(MsgType::kWriteOk, encode_i64(next));
    }
    case MsgType::kReset:
      require_empty();
      return group_.reset(to, conn->rank);
    case MsgType::kSnapshot:
      return to.ok(MsgType::kSnapshotOk, group_.snapshot(payload));
    case MsgType::kRestore:
      return to.ok(MsgType::kRestoreOk, encode_i64(group_.restore(payload)));
    default:
      return;
  }
}

void Server::attach_shared_memory(const std::shared_ptr<Connection>& conn,
                                  const FrameHeader& header, std::span<const std::byte> payload) {
  const auto received = std::chrono::steady_clock::now();
  const AttachShm request = decode_attach_shm(payload);
  if (!conn->is_unix()) {
    throw ProtocolError(ErrorCode::kMalformed,
                        "ATTACH_SHM needs a Unix-domain connection (shared memory is same-host)");
  }
  if (conn->shm) throw ProtocolError(ErrorCode::kMalformed, "ATTACH_SHM: already attached");
  auto segment = SharedSegment::create(request);
  conn->send_with_fd(MsgType::kAttachShmOk, header.request_id,
                     encode_i64(static_cast<std::int64_t>(segment->bytes())), segment->fd());
  segment->release_fd();  // the client has its own descriptor now; the mapping stays
  counters_.record(
      MsgType::kAttachShm, true,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
  spdlog::info("{}: shared-memory data plane attached ({} read slots + {} write slot of {} bytes)",
               conn->describe(), request.read_slots, request.write_slots, request.slot_bytes);
  conn->shm = std::move(segment);
}

std::string Server::stats_json() const {
  nlohmann::json out;
  out["version"] = options_.group.daemon_version;
  group_.add_stats(out);
  out["connected_clients"] = connections_.size();
  nlohmann::json requests = nlohmann::json::object();
  for (const auto& [name, outcome] : counters_.requests) {
    requests[name] = {{"ok", outcome.ok}, {"error", outcome.error}};
  }
  out["requests"] = requests;
  out["bytes_in"] = counters_.bytes_in;
  out["bytes_out"] = counters_.bytes_out;
  out["uptime_s"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return out.dump();
}

void Server::on_closed(Connection& conn, const std::string& reason) {
  const std::size_t dropped = group_.drop_connection(conn.id());
  if (dropped > 0) {
    spdlog::warn("{}: closed: {}; dropped its {} waiting request(s)", conn.describe(), reason,
                 dropped);
  } else {
    spdlog::info("{}: closed: {}", conn.describe(), reason);
  }
  connections_.erase(conn.id());
  publish();
  if (stopping_ && connections_.empty()) io_.stop();
}

void Server::stop(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  spdlog::info("stopping: {}", why);
  boost::system::error_code ignored;
  if (tcp_) tcp_->close(ignored);
  if (unix_) unix_->close(ignored);
  signals_.cancel(ignored);
  accept_retry_.cancel();
  group_.abort_waiting(ErrorCode::kShuttingDown, "the daemon is stopping (" + why + ")");
  publish();
  if (!options_.snapshot_on_exit.empty()) {
    if (!group_.has_state()) {
      spdlog::warn("--snapshot-on-exit: no state to write (the dimensions were never known)");
    } else {
      try {
        const auto bytes = group_.state().snapshot(group_.next_batch());
        write_file_atomic(options_.snapshot_on_exit, bytes);
        spdlog::info("exit snapshot of next_batch {} written to {} ({} bytes)", group_.next_batch(),
                     options_.snapshot_on_exit, bytes.size());
      } catch (const std::exception& e) {
        spdlog::error("--snapshot-on-exit: {}", e.what());
        exit_code_ = kExitIo;
      }
    }
  }
  // Flush what is queued (SHUTDOWN_OK, kShuttingDown errors), but never wait forever.
  const auto open = connections_;
  for (const auto& [id, conn] : open) {
    conn->stop_reading();
    conn->close_after_flush("the daemon is stopping");
  }
  if (connections_.empty()) return io_.stop();
  drain_timer_.expires_after(kDrainTimeout);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const auto left = connections_;
    for (const auto& [id, conn] : left) conn->close("replies not delivered within 5 s of stop");
    io_.stop();
  });
}

}  // namespace disttgl::memory_daemon
