//===- WorkQueue.h - a bounded queue drained by a fixed pool of threads -*- C++ -*-===//
//
// The server's back pressure: HTTP threads push inference jobs, a fixed number of workers
// run them in arrival order. The queue holds at most `capacity` jobs waiting for a worker
// (the ones being run are not counted); tryPush refuses the job when it is full, so an
// overloaded server answers 503 at once instead of letting waiting requests pile up.
//
// Thread-safety: every member may be called from any thread; shutdown() once, not from a
// worker.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_SERVE_WORKQUEUE_H
#define PRECIS_SERVE_WORKQUEUE_H

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace precis::serve {

class WorkQueue {
public:
  WorkQueue(size_t capacity, int workers) : capacity_(capacity) {
    for (int i = 0; i < workers; ++i)
      threads_.emplace_back([this] { work(); });
  }
  ~WorkQueue() { shutdown(); }
  WorkQueue(const WorkQueue &) = delete;
  WorkQueue &operator=(const WorkQueue &) = delete;

  /// Queues `job`; false (and `job` dropped) when `capacity` jobs already wait or the queue
  /// is shut down.
  bool tryPush(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ || jobs_.size() >= capacity_)
        return false;
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
    return true;
  }

  /// Jobs waiting for a worker now.
  size_t waiting() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return jobs_.size();
  }
  size_t capacity() const { return capacity_; }

  /// Refuses new jobs, lets the workers finish every queued one, and joins them.
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread &t : threads_)
      if (t.joinable())
        t.join();
  }

private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty())
          return; // stopping, and nothing left to drain
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace precis::serve

#endif // PRECIS_SERVE_WORKQUEUE_H
