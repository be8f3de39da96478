// Work sharing over XLA's intra-op thread pool, for the kernels' FFI handlers.

#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "vec8.h"
#include "xla/ffi/api/ffi.h"

namespace jaxinterest {

// Runs work(begin, end) over [0, n) in chunks handed out one at a time to the calling thread
// and to the pool's other threads; returns when all n items are done. make_worker() is called
// once per participating thread and returns that thread's `work` (so per-thread scratch is
// allocated once). A helper that starts after all chunks are taken (or after the call has
// returned) only runs make_worker() and finds nothing to do, so make_worker must not touch
// the call's buffers; capture what it needs by value.
template <typename MakeWorker>
void parallel_for(xla::ffi::ThreadPool& pool, int64_t n, int64_t chunk, MakeWorker make_worker) {
  struct Progress {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  auto progress = std::make_shared<Progress>();
  auto body = [progress, n, chunk, make_worker] {
    auto work = make_worker();
    for (int64_t i; (i = progress->next.fetch_add(chunk, std::memory_order_relaxed)) < n;) {
      const int64_t end = std::min(n, i + chunk);
      work(i, end);
      progress->done.fetch_add(end - i, std::memory_order_release);
    }
  };
  const int64_t chunks = (n + chunk - 1) / chunk;
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), chunks) - 1;
  for (int64_t t = 0; t < helpers; ++t) pool.Schedule(decltype(body)(body));  // a copy each
  body();
  while (progress->done.load(std::memory_order_acquire) < n) spin_pause();
}

}  // namespace jaxinterest
