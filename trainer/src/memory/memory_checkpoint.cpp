#include "memory_checkpoint.hpp"

#include <torch/torch.h>

#include <string>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer::detail {

namespace {

torch::Tensor read_checked(torch::serialize::InputArchive& archive, const std::string& key,
                           torch::ScalarType dtype, const std::vector<std::int64_t>& shape) {
  torch::Tensor t;
  if (!archive.try_read(key, t)) {
    throw InputError(str_cat("memory checkpoint: missing tensor '", key, "'"));
  }
  if (t.scalar_type() != dtype || t.sizes().vec() != shape) {
    throw InputError(str_cat("memory checkpoint: tensor '", key, "' is ",
                             c10::toString(t.scalar_type()), " ", shape_string(t), ", expected ",
                             c10::toString(dtype), " [", join(shape, ", "), "]"));
  }
  // Host memory whatever device the archive was mapped to: the daemon store copies from it
  // with plain pointers, the local store copies into its own device.
  return t.to(torch::kCPU).contiguous();
}

}  // namespace

void save_memory_tensors(torch::serialize::OutputArchive& archive, const MemoryTensors& t) {
  archive.write("memory", t.memory);
  archive.write("memory_ts", t.memory_ts);
  archive.write("mail", t.mail);
  archive.write("mail_ts", t.mail_ts);
  archive.write("mail_eid", t.mail_eid);
  archive.write("next_mail_pos", t.next_mail_pos);
  archive.write("next_batch", torch::tensor({t.next_batch}, torch::kLong));
}

MemoryTensors load_memory_tensors(torch::serialize::InputArchive& archive, std::int64_t n,
                                  std::int64_t memory_dim, std::int64_t mail_dim,
                                  std::int64_t s) {
  MemoryTensors t;
  t.memory = read_checked(archive, "memory", torch::kFloat, {n, memory_dim});
  t.memory_ts = read_checked(archive, "memory_ts", torch::kDouble, {n});
  t.mail = read_checked(archive, "mail", torch::kFloat, {n, s, mail_dim});
  t.mail_ts = read_checked(archive, "mail_ts", torch::kDouble, {n, s});
  t.mail_eid = read_checked(archive, "mail_eid", torch::kLong, {n, s});
  t.next_mail_pos = read_checked(archive, "next_mail_pos", torch::kLong, {n});
  if (n > 0 && (t.next_mail_pos.min().item<std::int64_t>() < 0 ||
                t.next_mail_pos.max().item<std::int64_t>() >= s)) {
    throw InputError(
        str_cat("memory checkpoint: tensor 'next_mail_pos' has a slot outside [0, ", s, ")"));
  }
  torch::Tensor nb;
  if (archive.try_read("next_batch", nb)) {  // absent in checkpoints older than the key
    if (nb.scalar_type() != torch::kLong || nb.numel() != 1 || nb.item<std::int64_t>() < 0) {
      throw InputError(str_cat("memory checkpoint: tensor 'next_batch' is ",
                               c10::toString(nb.scalar_type()), " ", shape_string(nb),
                               ", expected one non-negative int64"));
    }
    t.next_batch = nb.item<std::int64_t>();
  }
  return t;
}

}  // namespace disttgl::trainer::detail
