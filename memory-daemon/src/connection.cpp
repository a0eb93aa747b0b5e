#include "connection.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace disttgl::memory_daemon {

namespace {

// The payload buffer grows as bytes arrive (doubling from this size), so a header that
// announces a large payload and then stalls does not make the daemon allocate all of it.
constexpr std::uint64_t kFirstChunkBytes = std::uint64_t{64} * 1024;

double elapsed_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

void TrafficCounters::record(MsgType request, bool ok, double seconds) {
  const std::string_view name = type_name(request);
  Outcome& o = requests[std::string(name)];
  (ok ? o.ok : o.error) += 1;
  if (metrics != nullptr) {
    metrics->record_request(metrics::DaemonMetrics::op_index(name), ok, seconds);
  }
}

void TrafficCounters::add_in(std::uint64_t bytes) {
  bytes_in += bytes;
  if (metrics != nullptr) metrics->add_bytes_in(bytes);
}

void TrafficCounters::add_out(std::uint64_t bytes) {
  bytes_out += bytes;
  if (metrics != nullptr) metrics->add_bytes_out(bytes);
}

bool ReplyTo::alive() const {
  const auto c = conn.lock();
  return c && !c->closed();
}

void ReplyTo::ok(MsgType reply, std::vector<std::byte> payload) const {
  const auto c = conn.lock();
  if (!c || c->closed()) return;
  if (counters != nullptr) counters->record(request, true, elapsed_since(received));
  c->send(reply, request_id, std::move(payload));
}

void ReplyTo::error(ErrorCode code, const std::string& message) const {
  const auto c = conn.lock();
  if (!c || c->closed()) return;
  if (counters != nullptr) counters->record(request, false, elapsed_since(received));
  spdlog::warn("{}: {} request {} refused ({}): {}", c->describe(), type_name(request), request_id,
               error_code_name(code), message);
  c->send(MsgType::kError, request_id, encode_error(ErrorReply{code, message}));
}

Connection::Connection(Socket socket, std::uint64_t id, std::string peer, ConnectionOwner& owner,
                       TrafficCounters& counters, std::uint64_t max_payload_bytes,
                       std::chrono::steady_clock::duration frame_timeout)
    : socket_(std::move(socket)),
      id_(id),
      peer_(std::move(peer)),
      owner_(owner),
      counters_(counters),
      max_payload_bytes_(max_payload_bytes),
      frame_timeout_(frame_timeout),
      frame_timer_(socket_.get_executor()) {}

std::string Connection::describe() const {
  std::string out = "connection " + std::to_string(id_) + " (" + peer_;
  if (hello_done) out += ", rank " + std::to_string(rank);
  return out + ")";
}

void Connection::start() {
  reading_ = true;
  read_header();
}

void Connection::read_header() {
  if (!reading_ || closed_) return;
  socket_.async_read_some(
      asio::buffer(header_bytes_.data() + header_got_, kHeaderBytes - header_got_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->on_header_bytes(ec, n);
      });
}

void Connection::on_header_bytes(const boost::system::error_code& ec, std::size_t n) {
  // After close_after_flush() or stop_reading() further bytes are not requests any more.
  if (closed_ || !reading_) return;
  if (ec) return on_read_error(ec);
  counters_.add_in(n);
  if (header_got_ == 0 && n > 0) arm_frame_timer();
  header_got_ += n;
  if (header_got_ < kHeaderBytes) return read_header();
  try {
    header_ = decode_header(header_bytes_, max_payload_bytes_);
  } catch (const ProtocolError& e) {
    return on_bad_header(e);
  }
  payload_.clear();
  payload_got_ = 0;
  read_payload();
}

void Connection::on_bad_header(const ProtocolError& error) {
  // The request id means something only when the magic says this is one of our frames.
  std::uint32_t magic = 0;
  std::uint16_t raw_type = 0;
  std::uint64_t request_id = 0;
  std::memcpy(&magic, header_bytes_.data(), 4);
  if (magic == kMagic) {
    std::memcpy(&raw_type, header_bytes_.data() + 6, 2);
    std::memcpy(&request_id, header_bytes_.data() + 8, 8);
  }
  counters_.record(static_cast<MsgType>(raw_type), false);
  spdlog::warn("{}: {} ({}); closing the connection", describe(), error.what(),
               error_code_name(error.code()));
  send(MsgType::kError, request_id, encode_error(ErrorReply{error.code(), error.what()}));
  close_after_flush(error.what());
}

void Connection::read_payload() {
  if (closed_) return;
  if (payload_got_ == header_.payload_bytes) {
    // The frame is whole: the frame timer no longer applies.
    in_frame_ = false;
    ++frame_serial_;
    frame_timer_.cancel();
    header_got_ = 0;
    payload_.resize(payload_got_);
    std::vector<std::byte> payload = std::move(payload_);
    payload_ = {};
    owner_.on_frame(shared_from_this(), header_, std::move(payload));
    return read_header();
  }
  if (payload_got_ == payload_.size()) {
    const std::uint64_t grown = std::max<std::uint64_t>(kFirstChunkBytes, 2 * payload_.size());
    payload_.resize(std::min<std::uint64_t>(grown, header_.payload_bytes));
  }
  socket_.async_read_some(
      asio::buffer(payload_.data() + payload_got_, payload_.size() - payload_got_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->on_payload_bytes(ec, n);
      });
}

void Connection::on_payload_bytes(const boost::system::error_code& ec, std::size_t n) {
  if (closed_ || !reading_) return;
  if (ec) return on_read_error(ec);
  counters_.add_in(n);
  payload_got_ += n;
  read_payload();
}

void Connection::on_read_error(const boost::system::error_code& ec) {
  std::string reason;
  if (ec == asio::error::eof) {
    reason = "the client closed the connection";
  } else {
    reason = "receive failed (" + ec.message() + ")";
  }
  if (in_frame_) {
    reason += header_got_ < kHeaderBytes
                  ? " after " + std::to_string(header_got_) + " of the 24 header bytes"
                  : " after " + std::to_string(payload_got_) + " of " +
                        std::to_string(header_.payload_bytes) + " payload bytes of a " +
                        std::string(type_name(header_.type)) + " frame";
  }
  // A client that half-closed still gets the replies already queued.
  close_after_flush(reason);
}

void Connection::arm_frame_timer() {
  in_frame_ = true;
  const std::uint64_t serial = ++frame_serial_;
  frame_timer_.expires_after(frame_timeout_);
  frame_timer_.async_wait([weak = weak_from_this(), serial](const boost::system::error_code& ec) {
    const auto self = weak.lock();
    if (ec || !self || self->closed_ || !self->in_frame_ || self->frame_serial_ != serial) {
      return;
    }
    const double seconds = std::chrono::duration<double>(self->frame_timeout_).count();
    self->close("a frame started " + std::to_string(seconds) +
                " s ago has not finished (partial-frame timeout)");
  });
}

void Connection::send(MsgType type, std::uint64_t request_id, std::vector<std::byte> payload) {
  if (closed_) return;
  OutFrame frame;
  FrameHeader h;
  h.type = type;
  h.request_id = request_id;
  h.payload_bytes = payload.size();
  encode_header(h, frame.header.data());
  frame.payload = std::move(payload);
  queue_.push_back(std::move(frame));
  if (!writing_) write_next();
}

void Connection::send_with_fd(MsgType type, std::uint64_t request_id,
                              const std::vector<std::byte>& payload, int fd) {
  if (closed_) return;
  if (writing_ || !queue_.empty()) {
    throw ProtocolError(ErrorCode::kMalformed,
                        "ATTACH_SHM must be answered before any other reply on its connection");
  }
  std::vector<std::byte> frame(kHeaderBytes + payload.size());
  FrameHeader h;
  h.type = type;
  h.request_id = request_id;
  h.payload_bytes = payload.size();
  encode_header(h, frame.data());
  if (!payload.empty()) std::memcpy(frame.data() + kHeaderBytes, payload.data(), payload.size());
  const int sock = socket_.native_handle();
  std::size_t done = 0;
  bool fd_sent = false;
  // A frame of a few dozen bytes into an idle socket: this does not block in practice; the
  // poll bounds it anyway.
  while (done < frame.size()) {
    iovec iov{frame.data() + done, frame.size() - done};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (!fd_sent) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{sock, POLLOUT, 0};
      if (::poll(&p, 1, 1000) == 1) continue;
    }
    if (n <= 0) {
      close(std::string("ATTACH_SHM_OK could not be sent (") + std::strerror(errno) + ")");
      return;
    }
    fd_sent = true;
    done += static_cast<std::size_t>(n);
  }
  counters_.add_out(frame.size());
}

void Connection::write_next() {
  writing_ = true;
  // deque::push_back keeps references to existing elements valid, so the front frame's
  // buffers stay put while more replies are queued behind it.
  const OutFrame& frame = queue_.front();
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(frame.header),
                                                  asio::buffer(frame.payload)};
  asio::async_write(
      socket_, buffers,
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->writing_ = false;
        if (self->closed_) return;
        if (ec) return self->close("send failed (" + ec.message() + ")");
        self->counters_.add_out(n);
        self->queue_.pop_front();
        if (!self->queue_.empty()) return self->write_next();
        if (self->closing_) self->close(self->closing_reason_);
      });
}

void Connection::stop_reading() {
  if (!reading_ || closed_) return;
  reading_ = false;
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_receive, ignored);
}

void Connection::close_after_flush(const std::string& reason) {
  if (closed_) return;
  reading_ = false;
  if (!writing_ && queue_.empty()) return close(reason);
  if (!closing_) {
    closing_ = true;
    closing_reason_ = reason;
  }
}

void Connection::close(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  frame_timer_.cancel();
  // Keep this object alive through the owner's bookkeeping, which may drop its reference.
  // The owner logs before the socket closes, so a client that sees the close finds the
  // reason already in the log.
  const auto self = shared_from_this();
  owner_.on_closed(*this, reason);
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace disttgl::memory_daemon
