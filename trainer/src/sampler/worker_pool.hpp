// A small persistent pool of worker threads that runs one task per thread and waits for all
// of them: a fork-join primitive for the sampler's static chunking. Workers sleep on a
// condition variable between calls (no busy-waiting); the calling thread runs task 0.
// Thread-safety: `run` may be called from one thread at a time.
// Private to the sampler library.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace disttgl::trainer::detail {

class WorkerPool {
 public:
  /// Starts num_threads - 1 workers (none for 1). num_threads must be >= 1.
  explicit WorkerPool(int num_threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Number of tasks `run` executes: the workers plus the calling thread.
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  /// Runs task(0) on the caller and task(i) on worker i for i in [1, size()), returns once all
  /// have finished, then rethrows the first exception any task threw.
  void run(const std::function<void(int)>& task);

 private:
  void worker_loop(int index);

  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int)>* task_ = nullptr;
  std::uint64_t generation_ = 0;  // bumped once per run; workers wait for a new value
  int pending_ = 0;               // workers still running the current generation
  bool stopping_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;
};

}  // namespace disttgl::trainer::detail
