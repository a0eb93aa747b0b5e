// Node memory and mailbox of a memory-based TGNN (TGN/JODIE/APAN) behind one small
// interface, so that the in-process store (LocalMemoryStore), the memory-daemon client and
// DistTGL's multi-process layouts are interchangeable backends (the c10d Store pattern).
//
// State per node v (disttgl.md §3.1):
//   memory s_v [d_mem] f32 and its time memory_ts_v (the time of the newest mail s_v has
//   consumed), and a mailbox of `mailbox_size` slots, each holding one mail: the vector
//   [s_src || s_dst] (d_mail = 2*d_mem) f32, its event time mail_ts f64 and its event id
//   mail_eid i64. Edge features are looked up by mail_eid at compute time rather than copied
//   into the mail (DistTGL's `mail_e`). mail_eid == -1 marks an empty slot; DistTGL uses |E|
//   (the index of an appended zero feature row) for the same purpose.
//   Mailbox size is 1 for TGN/JODIE and 10 for APAN; larger mailboxes are ring buffers
//   (TGL's next_mail_pos) and every write appends one mail per node.
//
// Ordering (disttgl.md §4-§5): reads and writes carry the LOGICAL BATCH number they belong
// to, counted from 0 after reset(). A read for batch b sees every write of batches < b and
// none of batch b; the writes of batch b come from its `shards_per_batch()` mini-batch shards
// (DistTGL's i) and are applied together, once all have arrived, each node at its last
// occurrence across the shards in shard order. The in-process store has one shard per
// batch; the daemon store enforces the order across processes. read()/write() without a
// batch number act at next_batch() (single-process use and tests).
// Thread-safety: a MemoryStore is not thread-safe, except that read_async() may be called
// from a prefetch thread while the owning thread computes (it touches no state; the rows
// are produced by PendingRows::get()).
// Errors: shape/dtype mismatches and out-of-range node ids are caller bugs and throw
// disttgl::InternalError; a checkpoint that does not fit the store throws InputError.
#pragma once

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace disttgl::trainer {

/// Rows of the memory state for n nodes, structure of arrays. A read returns
/// `slots == mailbox_size` with the mails in chronological order (slot 0 oldest, slot
/// slots-1 newest; empty slots first). A write carries exactly one new mail (slots == 1).
struct MemoryRows {
  torch::Tensor memory;     ///< [n, d_mem] float32
  torch::Tensor memory_ts;  ///< [n] float64: time of the newest mail `memory` has consumed
  torch::Tensor mail;       ///< [n, slots, d_mail] float32
  torch::Tensor mail_ts;    ///< [n, slots] float64
  torch::Tensor mail_eid;   ///< [n, slots] int64; -1 = empty slot

  /// Number of rows n (0 when `memory` is undefined).
  std::int64_t size() const;
  /// Mailbox slots per row.
  std::int64_t slots() const;
  /// Throws InternalError unless every field has the documented dtype and shape for
  /// (n, slots, memory_dim, mail_dim) and all fields are on one device.
  void check(std::int64_t n, std::int64_t slots, std::int64_t memory_dim, std::int64_t mail_dim,
             std::string_view context) const;
  /// Copy of the rows on `device` (no copy for fields already there).
  MemoryRows to(const torch::Device& device) const;
  /// Detached view of every field (write-back must not keep the autograd graph alive).
  MemoryRows detach() const;
  /// Rows i = index[k] in order (index: [k] int64 on this rows' device).
  MemoryRows index_select(const torch::Tensor& index) const;
  /// n zero rows with every mail slot empty (mail_eid = -1).
  static MemoryRows empty_rows(std::int64_t n, std::int64_t slots, std::int64_t memory_dim,
                               std::int64_t mail_dim, const torch::Device& device);
};

/// Rows of an issued read (MemoryStore::read_async) that arrive later.
class PendingRows {
 public:
  PendingRows() = default;
  explicit PendingRows(std::function<MemoryRows()> produce) : produce_(std::move(produce)) {}
  /// Waits for the rows (bounded by the store's timeout) and returns them once; throws what
  /// the store throws (e.g. MemoryBackendError for a dead daemon).
  MemoryRows get();

 private:
  std::function<MemoryRows()> produce_;
};

/// The memory store interface. All methods may throw disttgl::Error.
class MemoryStore {
 public:
  virtual ~MemoryStore();

  /// Backend name for messages, e.g. "local".
  virtual std::string backend_name() const = 0;
  virtual std::int64_t num_nodes() const = 0;
  virtual std::int64_t memory_dim() const = 0;
  /// d_mail, 2 * memory_dim for every model here.
  virtual std::int64_t mail_dim() const = 0;
  virtual std::int64_t mailbox_size() const = 0;
  /// Device of the tensors `read` returns.
  virtual torch::Device device() const = 0;

  /// Rows for `nodes` ([n] int64, any device, duplicates allowed), as fresh tensors on
  /// device() with slots == mailbox_size() in chronological order. Reads at next_batch():
  /// read_async(next_batch(), nodes).get().
  MemoryRows read(const torch::Tensor& nodes);

  /// For each distinct node of `nodes` ([m] int64), taking its LAST occurrence i in
  /// `nodes` (see last_occurrence): memory <- rows.memory[i], memory_ts <- rows.memory_ts[i],
  /// and the mail (rows.mail[i, 0], mail_ts[i, 0], mail_eid[i, 0]) is appended to the
  /// node's mailbox, overwriting its oldest slot. `rows` has m rows and slots == 1; it is
  /// copied, never aliased, and autograd history is ignored. The whole logical batch
  /// next_batch(): write(next_batch(), 0, nodes, rows) on a store of one shard per batch.
  void write(const torch::Tensor& nodes, const MemoryRows& rows);

  /// Every node back to the initial state: zero memory and times, empty mailbox, and
  /// next_batch() = 0. For a shared store (the daemon) this is a barrier of every rank of the
  /// memory group.
  virtual void reset() = 0;

  /// The logical batch whose writes come next (0 after reset; restored by load()).
  virtual std::int64_t next_batch() const = 0;
  /// Mini-batch shards whose writes make up one logical batch (DistTGL's i; 1 in-process).
  virtual std::int32_t shards_per_batch() const { return 1; }

  /// Issues the read of `nodes` ([n] int64, any device) for logical batch `batch` >=
  /// next_batch() and returns at once; the rows (as read()) are the state after every write
  /// of batches < `batch`. A remote store sends the request now so that it is answered as
  /// soon as batch - 1 is written; the in-process store reads when get() is called, which
  /// must then be after the writes of batch - 1 (InternalError otherwise).
  virtual PendingRows read_async(std::int64_t batch, const torch::Tensor& nodes) = 0;

  /// The write of shard `shard` of logical batch `batch` (== next_batch()), with the
  /// last-occurrence semantics of write(nodes, rows). A batch or shard out of order throws
  /// InternalError in-process; a shared store throws MemoryBackendError (another client of
  /// the memory group may have moved the sequence). Nothing is applied then.
  virtual void write(std::int64_t batch, std::int32_t shard, const torch::Tensor& nodes,
                     const MemoryRows& rows) = 0;

  /// Checkpoint support. The defaults throw InternalError("<backend> memory store does not
  /// support save/load"). `load` validates every tensor before changing any state. Keys
  /// (every backend, so a checkpoint moves between them): memory, memory_ts, mail, mail_ts,
  /// mail_eid, next_mail_pos (raw ring layout) and next_batch ([1] int64; absent in older
  /// checkpoints, read as 0).
  virtual void save(torch::serialize::OutputArchive& archive) const;
  virtual void load(torch::serialize::InputArchive& archive);
};

/// Positions of the LAST occurrence of each distinct value of `nodes` ([m] int64, any
/// device), in ascending order of position: [3, 1, 3, 2, 1] -> [2, 3, 4]. Deterministic on
/// every device (stable sort, no scatter with duplicate indices; disttgl.md §8 pitfalls).
/// Returns [k] int64 on nodes' device. Throws InternalError if nodes is not 1-D int64.
torch::Tensor last_occurrence(const torch::Tensor& nodes);

}  // namespace disttgl::trainer
