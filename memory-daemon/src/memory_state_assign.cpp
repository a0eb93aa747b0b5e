// MemoryState::assign: the trainer turns a checkpoint's memory tensors into daemon state
// (and from there into snapshot bytes) without a second encoder of the snapshot format.
#include <sstream>

#include "disttgl/memory_daemon/memory_state.hpp"

namespace disttgl::memory_daemon {

namespace {
template <typename T>
void check_size(const std::vector<T>& v, std::int64_t want, const char* name) {
  if (static_cast<std::int64_t>(v.size()) != want) {
    std::ostringstream os;
    os << "memory state: " << name << " has " << v.size() << " values, expected " << want;
    throw ProtocolError(ErrorCode::kBadSnapshot, os.str());
  }
}
}  // namespace

void MemoryState::assign(std::vector<float> memory, std::vector<double> memory_ts,
                         std::vector<float> mail, std::vector<double> mail_ts,
                         std::vector<std::int64_t> mail_eid,
                         std::vector<std::int64_t> next_mail_pos) {
  const std::int64_t n = dims_.num_nodes;
  const std::int64_t s = dims_.mailbox_size;
  check_size(memory, n * dims_.memory_dim, "memory");
  check_size(memory_ts, n, "memory_ts");
  check_size(mail, n * s * dims_.mail_dim, "mail");
  check_size(mail_ts, n * s, "mail_ts");
  check_size(mail_eid, n * s, "mail_eid");
  check_size(next_mail_pos, n, "next_mail_pos");
  for (const std::int64_t p : next_mail_pos) {
    if (p < 0 || p >= s) {
      std::ostringstream os;
      os << "memory state: next_mail_pos holds slot " << p << " outside [0, " << s << ")";
      throw ProtocolError(ErrorCode::kBadSnapshot, os.str());
    }
  }
  memory_ = std::move(memory);
  memory_ts_ = std::move(memory_ts);
  mail_ = std::move(mail);
  mail_ts_ = std::move(mail_ts);
  mail_eid_ = std::move(mail_eid);
  next_mail_pos_ = std::move(next_mail_pos);
}

}  // namespace disttgl::memory_daemon
