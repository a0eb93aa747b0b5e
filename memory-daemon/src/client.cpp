// DaemonClient: requests are framed on the caller's thread and handed to the client's Asio
// thread, which writes them in order and reads replies, matching them to waiting callers by
// request id. A caller waits on a future with the client's timeout; a timeout or a broken
// connection fails every waiting caller, so a trainer learns of a dead daemon within one
// timeout whichever request it was blocked on.
#include "disttgl/memory_daemon/client.hpp"

#include "cat.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded

#include <boost/asio.hpp>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace disttgl::memory_daemon {

namespace asio = boost::asio;
using GenericSocket = asio::generic::stream_protocol::socket;

using detail::cat;

namespace {

struct Reply {
  FrameHeader header;
  std::vector<std::byte> payload;
};

struct OutFrame {
  std::array<std::byte, kHeaderBytes> header{};
  std::vector<std::byte> payload;
};

// The shared-memory segment: mapped once, unmapped when the client and every leased slot
// are gone (rows handed to a caller view it).
struct SlotPool {
  std::byte* base = nullptr;
  std::uint64_t segment_bytes = 0;
  std::uint64_t slot_bytes = 0;
  std::uint32_t read_slots = 0;
  std::mutex mu;
  std::vector<std::uint32_t> free_reads;
  std::mutex write_mu;  // the one write slot (index read_slots) is used by one write at a time

  ~SlotPool() {
    if (base != nullptr) ::munmap(base, segment_bytes);
  }
  std::span<std::byte> slot(std::uint32_t i) {
    return {base + static_cast<std::uint64_t>(i) * slot_bytes, slot_bytes};
  }
  std::optional<std::uint32_t> take_read() {
    std::lock_guard lock(mu);
    if (free_reads.empty()) return std::nullopt;
    const std::uint32_t s = free_reads.back();
    free_reads.pop_back();
    return s;
  }
  void give_back(std::uint32_t s) {
    std::lock_guard lock(mu);
    free_reads.push_back(s);
  }
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

  std::mutex send_mu;  // one frame on the socket at a time
  // Owned by the Asio thread.
  std::array<std::byte, kHeaderBytes> in_header{};
  std::shared_ptr<Reply> in_reply;

  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::shared_ptr<SlotPool> shm;  // set before the read loop starts, then read-only
  std::string shm_status;

  // ATTACH_SHM before the read loop starts: its reply carries the segment's file
  // descriptor, which only recvmsg can receive. Leaves shm empty (and says why) when the
  // daemon refuses; throws ClientError when the connection fails.
  void attach_shared_memory(const SharedMemoryOptions& o);

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
    // shutdown, not close: a caller may be inside sendmsg on this descriptor, and a closed
    // descriptor's number could be reused under it. The destructor closes it.
    asio::post(io, [this] {
      boost::system::error_code ignored;
      socket.shutdown(asio::socket_base::shutdown_both, ignored);
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

  // Sends one request from the caller's thread (no hop through the Asio thread: that
  // wake-up is most of a small request's latency) and returns the future of its reply. Frames
  // of concurrent callers do not interleave (send_mu). A send that cannot finish within the
  // timeout breaks the connection.
  std::pair<std::uint64_t, std::future<Reply>> send(MsgType type, std::vector<std::byte> payload) {
    std::uint64_t id = 0;
    std::future<Reply> future;
    {
      std::lock_guard lock(mu);
      if (!failure.empty()) throw ClientError(failure);
      id = next_id++;
      future = pending[id].get_future();
    }
    std::array<std::byte, kHeaderBytes> header{};
    FrameHeader h;
    h.type = type;
    h.request_id = id;
    h.payload_bytes = payload.size();
    encode_header(h, header.data());
    std::lock_guard send_lock(send_mu);
    const int fd = socket.native_handle();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t done = 0;
    const std::size_t total = header.size() + payload.size();
    while (done < total) {
      std::array<iovec, 2> iov{};
      int count = 0;
      if (done < header.size()) {
        iov[static_cast<std::size_t>(count++)] = {header.data() + done, header.size() - done};
      }
      const std::size_t off = done > header.size() ? done - header.size() : 0;
      if (off < payload.size()) {
        iov[static_cast<std::size_t>(count++)] = {payload.data() + off, payload.size() - off};
      }
      msghdr msg{};
      msg.msg_iov = iov.data();
      msg.msg_iovlen = static_cast<std::size_t>(count);
      const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLOUT, 0};
        if (left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) >= 0) continue;
        fail_all(cat("could not send ", type_name(type), " within ",
                     static_cast<double>(timeout.count()) / 1000.0, " s"));
      } else {
        fail_all(cat("send failed (", std::strerror(errno), ")"));
      }
      break;
    }
    sent += done;
    return {id, std::move(future)};
  }

  // Waits for a reply of type `expected` with the timeout; an ERROR reply becomes a
  // ProtocolError, silence a ClientError that also breaks the connection.
  Reply wait(std::future<Reply>& future, MsgType request, std::int64_t batch = -1) {
    if (future.wait_for(timeout) != std::future_status::ready) {
      const std::string what = batch >= 0 ? cat(type_name(request), " for batch ", batch)
                                          : std::string(type_name(request));
      fail_all(cat("no reply to ", what, " within ", static_cast<double>(timeout.count()) / 1000.0,
                   " s"));
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

void DaemonClient::Impl::attach_shared_memory(const SharedMemoryOptions& o) {
  const int fd = socket.native_handle();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Waits until the socket is readable (or writable) within the deadline.
  const auto wait_for = [&](short events) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, events, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
      throw ClientError(prefix() + "no reply to ATTACH_SHM in time");
    }
  };
  OutFrame frame;
  frame.payload = encode_attach_shm({o.slot_bytes, o.read_slots, 1});
  FrameHeader h;
  h.type = MsgType::kAttachShm;
  h.payload_bytes = frame.payload.size();
  encode_header(h, frame.header.data());
  std::vector<std::byte> out(frame.header.begin(), frame.header.end());
  out.insert(out.end(), frame.payload.begin(), frame.payload.end());
  for (std::size_t done = 0; done < out.size();) {
    const ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait_for(POLLOUT);
      continue;
    }
    if (n <= 0) throw ClientError(prefix() + "send failed (" + std::strerror(errno) + ")");
    done += static_cast<std::size_t>(n);
  }
  sent += out.size();
  // The reply: its first bytes carry the descriptor.
  std::array<std::byte, kHeaderBytes> head{};
  std::size_t got = 0;
  int shm_fd = -1;
  while (got < head.size()) {
    iovec iov{head.data() + got, head.size() - got};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait_for(POLLIN);
      continue;
    }
    if (n <= 0) throw ClientError(prefix() + "the daemon closed the connection during ATTACH_SHM");
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        std::memcpy(&shm_fd, CMSG_DATA(c), sizeof(int));
      }
    }
    got += static_cast<std::size_t>(n);
  }
  received += head.size();
  FrameHeader reply;
  try {
    reply = decode_header(head, kClientMaxPayload);
  } catch (const ProtocolError& e) {
    if (shm_fd >= 0) ::close(shm_fd);
    throw ClientError(prefix() + "bad reply frame: " + e.what());
  }
  std::vector<std::byte> payload(reply.payload_bytes);
  for (std::size_t done = 0; done < payload.size();) {
    const ssize_t n = ::recv(fd, payload.data() + done, payload.size() - done, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait_for(POLLIN);
      continue;
    }
    if (n <= 0) throw ClientError(prefix() + "the daemon closed the connection during ATTACH_SHM");
    done += static_cast<std::size_t>(n);
  }
  received += payload.size();
  if (reply.type == MsgType::kError) {
    if (shm_fd >= 0) ::close(shm_fd);
    shm_status = "refused: " + decode_error(payload).message;
    return;
  }
  const std::int64_t segment = reply.type == MsgType::kAttachShmOk && payload.size() == 8
                                   ? decode_i64(payload, "ATTACH_SHM_OK")
                                   : -1;
  const std::uint64_t segment_bytes = segment > 0 ? static_cast<std::uint64_t>(segment) : 0;
  if (reply.type != MsgType::kAttachShmOk || shm_fd < 0 ||
      segment_bytes != o.slot_bytes * (std::uint64_t{o.read_slots} + 1)) {
    if (shm_fd >= 0) ::close(shm_fd);
    shm_status = "the daemon's ATTACH_SHM_OK carried no usable segment";
    return;
  }
  void* base = ::mmap(nullptr, segment_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0);
  ::close(shm_fd);  // the mapping keeps the segment
  if (base == MAP_FAILED) {
    shm_status = std::string("mmap failed (") + std::strerror(errno) + ")";
    return;
  }
  auto pool = std::make_shared<SlotPool>();
  pool->base = static_cast<std::byte*>(base);
  pool->segment_bytes = segment_bytes;
  pool->slot_bytes = o.slot_bytes;
  pool->read_slots = o.read_slots;
  for (std::uint32_t i = o.read_slots; i > 0; --i) pool->free_reads.push_back(i - 1);
  shm = std::move(pool);
  shm_status = "attached";
}

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
    throw std::invalid_argument(
        cat("memory daemon address '", address, "' is not HOST:PORT or unix:PATH"));
  }
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!valid_port(port)) {
    throw std::invalid_argument(cat("memory daemon address '", address, "': port '", port,
                                    "' is not a number in [0, 65535]"));
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

DaemonClient::DaemonClient(const std::string& address, std::chrono::milliseconds timeout,
                           const SharedMemoryOptions& shm)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.address = address;
  m.timeout = timeout;
  const auto endpoint = resolve(m.io, address);
  m.work.emplace(m.io.get_executor());
  m.thread = std::thread([&m] { m.io.run(); });
  // Connects within the timeout; the Asio thread must be joined if this throws.
  const auto connect = [&m, &endpoint, &shm] {
    std::promise<boost::system::error_code> connected;
    auto done = connected.get_future();
    asio::post(m.io, [&m, endpoint, &connected] {
      m.socket.async_connect(
          endpoint, [&connected](const boost::system::error_code& ec) { connected.set_value(ec); });
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
    boost::system::error_code ignored;
    if (m.address.rfind("unix:", 0) != 0) {
      // Requests are small control frames followed by bulk rows; Nagle would delay the former.
      m.socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    } else {
      // A WRITE of a batch's rows (about 1.5 MB for Wikipedia) in one sendmsg rather than
      // in 200 KB steps, each waiting for the daemon to drain the socket; the kernel caps it
      // at net.core.wmem_max.
      m.socket.set_option(asio::socket_base::send_buffer_size(8 << 20), ignored);
    }
    if (shm.enabled && m.address.rfind("unix:", 0) == 0) m.attach_shared_memory(shm);
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
bool DaemonClient::shared_memory() const { return impl_->shm != nullptr; }
const std::string& DaemonClient::shared_memory_status() const { return impl_->shm_status; }

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
  const Dimensions dims = impl_->current_dims();
  const auto n = static_cast<std::int64_t>(nodes.size());
  std::optional<std::uint32_t> slot;
  if (impl_->shm && 16 + rows_bytes(n, dims.mailbox_size, dims.memory_dim, dims.mail_dim) <=
                        impl_->shm->slot_bytes) {
    slot = impl_->shm->take_read();
  }
  if (slot) {
    // The slot goes back to the pool only once the daemon has answered and the caller has
    // dropped the rows: a read abandoned while parked at the daemon keeps its slot, since
    // the daemon may still fill it.
    struct Lease {
      std::shared_ptr<SlotPool> pool;
      std::uint32_t index = 0;
      bool answered = false;
      ~Lease() {
        if (answered) pool->give_back(index);
      }
    };
    auto lease = std::make_shared<Lease>();
    lease->pool = impl_->shm;
    lease->index = *slot;
    auto [id, future] = impl_->send(MsgType::kReadShm, encode_read_shm(*slot, batch, nodes));
    auto shared = std::make_shared<std::future<Reply>>(std::move(future));
    p.future_ = std::async(std::launch::deferred, [this, shared, batch, lease]() {
      Reply r;
      try {
        r = impl_->wait(*shared, MsgType::kReadShm, batch);
      } catch (const ProtocolError&) {
        lease->answered = true;  // an ERROR reply: the daemon never touched the slot
        throw;
      }
      lease->answered = true;
      const auto bytes = static_cast<std::uint64_t>(decode_i64(r.payload, "READ_SHM_OK"));
      if (bytes > lease->pool->slot_bytes) {
        throw ProtocolError(ErrorCode::kMalformed,
                            impl_->prefix() + "READ_SHM_OK names more bytes than its slot holds");
      }
      impl_->received += bytes;  // the rows came through shared memory
      ReadResult result;
      result.slot_lease = lease;
      result.rows =
          decode_read_ok(lease->pool->slot(lease->index).first(bytes), impl_->current_dims());
      return result;
    });
    return p;
  }
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
  if (const auto& pool = impl_->shm) {
    std::unique_lock lock(pool->write_mu);
    const std::uint64_t bytes =
        place_write(pool->slot(pool->read_slots), batch, shard, nodes, rows, impl_->current_dims());
    if (bytes > 0) {
      impl_->sent += bytes;  // the rows go through shared memory
      auto [id, future] =
          impl_->send(MsgType::kWriteShm, encode_write_shm(pool->read_slots, bytes));
      Reply r = impl_->wait(future, MsgType::kWriteShm, batch);
      return decode_i64(r.payload, "WRITE_SHM_OK");
    }
  }
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
