// DaemonClient: requests are framed on the caller's thread and handed to the client's Asio
// thread, which writes them in order and reads replies, matching them to waiting callers by
// request id. A caller waits on a future with the client's timeout; a timeout or a broken
// connection fails every waiting caller, so a trainer learns of a dead daemon within one
// timeout whichever request it was blocked on.
#include "disttgl/memory_daemon/client.hpp"

#include <array>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded

#include <boost/asio.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace disttgl::memory_daemon {

namespace asio = boost::asio;
using GenericSocket = asio::generic::stream_protocol::socket;

namespace {

template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

struct Reply {
  FrameHeader header;
  std::vector<std::byte> payload;
};

struct OutFrame {
  std::array<std::byte, kHeaderBytes> header{};
  std::vector<std::byte> payload;
};

// Client-side frame limit: far above any reply a trainer asks for, but it keeps a corrupt
// header from allocating the machine's memory.
constexpr std::uint64_t kClientMaxPayload = std::uint64_t{1} << 36;

}  // namespace

struct DaemonClient::Impl {
  std::string address;
  std::chrono::milliseconds timeout;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  GenericSocket socket{io};
  std::thread thread;

  std::mutex mu;  // guards pending, failure, next_id, dims
  std::unordered_map<std::uint64_t, std::promise<Reply>> pending;
  std::string failure;  // set once the connection is unusable
  std::uint64_t next_id = 1;
  Dimensions dims;

  // Owned by the Asio thread.
  std::deque<std::shared_ptr<OutFrame>> out_queue;
  std::array<std::byte, kHeaderBytes> in_header{};
  std::shared_ptr<Reply> in_reply;

  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};

  std::string prefix() const { return cat("memory daemon ", address, ": "); }

  // Marks the connection broken, fails every waiting request with `why`, and closes the
  // socket. Safe from any thread; only the first failure is kept.
  void fail_all(const std::string& why) {
    std::unordered_map<std::uint64_t, std::promise<Reply>> waiting;
    std::string message;
    {
      std::lock_guard lock(mu);
      if (failure.empty()) failure = prefix() + why;
      message = failure;
      waiting.swap(pending);
    }
    for (auto& [id, promise] : waiting) {
      promise.set_exception(std::make_exception_ptr(ClientError(message)));
    }
    asio::post(io, [this] {
      boost::system::error_code ignored;
      socket.close(ignored);
    });
  }

  void start_read_header() {
    asio::async_read(socket, asio::buffer(in_header),
                     [this](const boost::system::error_code& ec, std::size_t n) {
                       if (ec) return on_read_error(ec);
                       received += n;
                       FrameHeader h;
                       try {
                         h = decode_header(in_header, kClientMaxPayload);
                       } catch (const ProtocolError& e) {
                         return fail_all(cat("bad reply frame: ", e.what()));
                       }
                       in_reply = std::make_shared<Reply>();
                       in_reply->header = h;
                       in_reply->payload.resize(h.payload_bytes);
                       start_read_payload();
                     });
  }

  void start_read_payload() {
    asio::async_read(socket, asio::buffer(in_reply->payload),
                     [this](const boost::system::error_code& ec, std::size_t n) {
                       if (ec) return on_read_error(ec);
                       received += n;
                       std::optional<std::promise<Reply>> promise;
                       {
                         std::lock_guard lock(mu);
                         auto it = pending.find(in_reply->header.request_id);
                         if (it != pending.end()) {
                           promise.emplace(std::move(it->second));
                           pending.erase(it);
                         }
                       }
                       // A reply nobody waits for (its caller timed out) is dropped.
                       if (promise) promise->set_value(std::move(*in_reply));
                       in_reply.reset();
                       start_read_header();
                     });
  }

  void on_read_error(const boost::system::error_code& ec) {
    if (ec == asio::error::eof) {
      fail_all("the daemon closed the connection");
    } else if (ec != asio::error::operation_aborted) {
      fail_all(cat("connection lost (", ec.message(), ")"));
    }
  }

  void start_write() {
    auto frame = out_queue.front();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(frame->header),
                                              asio::buffer(frame->payload)};
    asio::async_write(socket, buffers,
                      [this, frame](const boost::system::error_code& ec, std::size_t n) {
                        if (ec) {
                          if (ec != asio::error::operation_aborted) {
                            fail_all(cat("send failed (", ec.message(), ")"));
                          }
                          return;
                        }
                        sent += n;
                        out_queue.pop_front();
                        if (!out_queue.empty()) start_write();
                      });
  }

  // Queues one request; the future yields its reply (or the connection's failure).
  std::pair<std::uint64_t, std::future<Reply>> send(MsgType type, std::vector<std::byte> payload) {
    auto frame = std::make_shared<OutFrame>();
    std::uint64_t id = 0;
    std::future<Reply> future;
    {
      std::lock_guard lock(mu);
      if (!failure.empty()) throw ClientError(failure);
      id = next_id++;
      future = pending[id].get_future();
    }
    FrameHeader h;
    h.type = type;
    h.request_id = id;
    h.payload_bytes = payload.size();
    encode_header(h, frame->header.data());
    frame->payload = std::move(payload);
    asio::post(io, [this, frame] {
      out_queue.push_back(frame);
      if (out_queue.size() == 1) start_write();
    });
    return {id, std::move(future)};
  }

  // Waits for a reply of type `expected` with the timeout; an ERROR reply becomes a
  // ProtocolError, silence a ClientError that also breaks the connection.
  Reply wait(std::future<Reply>& future, MsgType request, std::int64_t batch = -1) {
    if (future.wait_for(timeout) != std::future_status::ready) {
      const std::string what =
          batch >= 0 ? cat(type_name(request), " for batch ", batch) : std::string(type_name(request));
      fail_all(cat("no reply to ", what, " within ", static_cast<double>(timeout.count()) / 1000.0, " s"));
    }
    Reply r = future.get();
    if (r.header.type == MsgType::kError) {
      ErrorReply e;
      try {
        e = decode_error(r.payload);
      } catch (const ProtocolError& pe) {
        throw ProtocolError(ErrorCode::kMalformed, prefix() + pe.what());
      }
      throw ProtocolError(e.code, prefix() + e.message);
    }
    if (r.header.type != reply_type(request)) {
      fail_all(cat("expected ", type_name(reply_type(request)), ", got reply type ",
                   static_cast<int>(r.header.type)));
      throw ClientError(failure_message());
    }
    return r;
  }

  // Ends the Asio thread (a joinable std::thread must not be destroyed).
  void stop_thread() {
    work.reset();
    asio::post(io, [this] { io.stop(); });
    if (thread.joinable()) thread.join();
  }

  std::string failure_message() {
    std::lock_guard lock(mu);
    return failure;
  }

  Dimensions current_dims() {
    std::lock_guard lock(mu);
    return dims;
  }
};

namespace {

// "HOST:PORT", "[V6]:PORT" or "unix:PATH" -> endpoint; resolves names.
asio::generic::stream_protocol::endpoint resolve(asio::io_context& io, const std::string& address) {
  if (address.rfind("unix:", 0) == 0) {
    const std::string path = address.substr(5);
    if (path.empty()) throw std::invalid_argument("memory daemon address 'unix:' has no path");
    return asio::local::stream_protocol::endpoint(path);
  }
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    throw std::invalid_argument(cat("memory daemon address '", address,
                                    "' is not HOST:PORT or unix:PATH"));
  }
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, port, asio::ip::resolver_base::numeric_service, ec);
  if (ec || results.empty()) {
    throw ClientError(cat("memory daemon ", address, ": cannot resolve (", ec.message(), ")"));
  }
  return results.begin()->endpoint();
}

}  // namespace

DaemonClient::DaemonClient(const std::string& address, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.address = address;
  m.timeout = timeout;
  const auto endpoint = resolve(m.io, address);
  m.work.emplace(m.io.get_executor());
  m.thread = std::thread([&m] { m.io.run(); });
  // Connects within the timeout; the Asio thread must be joined if this throws.
  const auto connect = [&m, &endpoint] {
    std::promise<boost::system::error_code> connected;
    auto done = connected.get_future();
    asio::post(m.io, [&m, endpoint, &connected] {
      m.socket.async_connect(endpoint, [&connected](const boost::system::error_code& ec) {
        connected.set_value(ec);
      });
    });
    if (done.wait_for(m.timeout) != std::future_status::ready) {
      asio::post(m.io, [&m] {
        boost::system::error_code ignored;
        m.socket.close(ignored);
      });
      done.wait();  // the close completes the connect with operation_aborted
      throw ClientError(cat("memory daemon ", m.address, ": no connection within ",
                            static_cast<double>(m.timeout.count()) / 1000.0, " s"));
    }
    if (const auto ec = done.get()) {
      throw ClientError(cat("memory daemon ", m.address, ": cannot connect (", ec.message(), ")"));
    }
    if (m.address.rfind("unix:", 0) != 0) {
      // Requests are small control frames followed by bulk rows; Nagle would delay the former.
      boost::system::error_code ignored;
      m.socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    asio::post(m.io, [&m] { m.start_read_header(); });
  };
  try {
    connect();
  } catch (...) {
    m.stop_thread();
    throw;
  }
}

DaemonClient::~DaemonClient() {
  Impl& m = *impl_;
  m.fail_all("client closed");
  m.stop_thread();
}

const std::string& DaemonClient::address() const { return impl_->address; }
std::chrono::milliseconds DaemonClient::timeout() const { return impl_->timeout; }
std::uint64_t DaemonClient::bytes_sent() const { return impl_->sent.load(); }
std::uint64_t DaemonClient::bytes_received() const { return impl_->received.load(); }

HelloOk DaemonClient::hello(const Hello& hello) {
  auto [id, future] = impl_->send(MsgType::kHello, encode_hello(hello));
  Reply r = impl_->wait(future, MsgType::kHello);
  HelloOk ok = decode_hello_ok(r.payload);
  std::lock_guard lock(impl_->mu);
  impl_->dims = ok.dims;
  return ok;
}

DaemonClient::PendingRead DaemonClient::read_async(std::int64_t batch,
                                                   const std::vector<std::int64_t>& nodes) {
  PendingRead p;
  auto [id, future] = impl_->send(MsgType::kRead, encode_read(batch, nodes));
  // Adapt the reply future: decoding happens in get(), on the caller's thread.
  auto shared = std::make_shared<std::future<Reply>>(std::move(future));
  p.future_ = std::async(std::launch::deferred, [this, shared, batch]() {
    Reply r = impl_->wait(*shared, MsgType::kRead, batch);
    ReadResult result;
    result.payload = std::move(r.payload);
    result.rows = decode_read_ok(result.payload, impl_->current_dims());
    return result;
  });
  return p;
}

ReadResult DaemonClient::PendingRead::get() { return future_.get(); }

std::int64_t DaemonClient::write(std::int64_t batch, std::int32_t shard,
                                 const std::vector<std::int64_t>& nodes, const RowsView& rows) {
  auto [id, future] =
      impl_->send(MsgType::kWrite, encode_write(batch, shard, nodes, rows, impl_->current_dims()));
  Reply r = impl_->wait(future, MsgType::kWrite, batch);
  return decode_i64(r.payload, "WRITE_OK");
}

std::int64_t DaemonClient::reset() {
  auto [id, future] = impl_->send(MsgType::kReset, {});
  Reply r = impl_->wait(future, MsgType::kReset);
  return decode_i64(r.payload, "RESET_OK");
}

std::vector<std::byte> DaemonClient::snapshot() {
  auto [id, future] = impl_->send(MsgType::kSnapshot, encode_snapshot_request({true, ""}));
  Reply r = impl_->wait(future, MsgType::kSnapshot);
  const SnapshotOk ok = decode_snapshot_ok(r.payload);
  if (!ok.inline_bytes) throw ClientError(impl_->prefix() + "SNAPSHOT_OK carries no bytes");
  return {ok.bytes.begin(), ok.bytes.end()};
}

std::uint64_t DaemonClient::snapshot_to_file(const std::string& path) {
  auto [id, future] = impl_->send(MsgType::kSnapshot, encode_snapshot_request({false, path}));
  Reply r = impl_->wait(future, MsgType::kSnapshot);
  return decode_snapshot_ok(r.payload).bytes_written;
}

std::int64_t DaemonClient::restore(const std::vector<std::byte>& snapshot_bytes) {
  RestoreRequest req;
  req.inline_bytes = true;
  req.bytes = snapshot_bytes;
  auto [id, future] = impl_->send(MsgType::kRestore, encode_restore_request(req));
  Reply r = impl_->wait(future, MsgType::kRestore);
  return decode_i64(r.payload, "RESTORE_OK");
}

std::int64_t DaemonClient::restore_from_file(const std::string& path) {
  RestoreRequest req;
  req.inline_bytes = false;
  req.path = path;
  auto [id, future] = impl_->send(MsgType::kRestore, encode_restore_request(req));
  Reply r = impl_->wait(future, MsgType::kRestore);
  return decode_i64(r.payload, "RESTORE_OK");
}

std::string DaemonClient::stats() {
  auto [id, future] = impl_->send(MsgType::kStats, {});
  Reply r = impl_->wait(future, MsgType::kStats);
  return decode_text(r.payload, "STATS_OK");
}

void DaemonClient::shutdown() {
  auto [id, future] = impl_->send(MsgType::kShutdown, {});
  impl_->wait(future, MsgType::kShutdown);
}

}  // namespace disttgl::memory_daemon
