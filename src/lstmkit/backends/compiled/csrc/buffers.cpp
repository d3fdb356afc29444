// The buffer cache of buffers.h: a c10::Allocator whose blocks carry their size in a
// 64-byte header, so the deleter returns them to the cache without a lookup.
#include "buffers.h"

#include <ATen/EmptyTensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <pthread.h>

#include <atomic>
#include <map>
#include <mutex>

namespace lstmkit {

namespace {

constexpr size_t kHeader = 64;  // keeps the data 64-byte aligned, as c10's CPU allocator does

struct Cache final : c10::Allocator {
  std::mutex m;
  std::multimap<size_t, void*> idle;  // capacity -> block (header first)
  size_t idle_bytes = 0;
  std::atomic<size_t> limit{size_t(1) << 30};
  int64_t reused = 0, allocated = 0;

  static Cache& get() {
    static Cache* c = [] {
      auto* made = new Cache();  // never destroyed: tensors may outlive static teardown
      // a child forked while another thread held the lock (a DataLoader worker, say)
      // would wait on it for ever: the child starts with a fresh one
      pthread_atfork(nullptr, nullptr, [] { new (&get().m) std::mutex(); });
      return made;
    }();
    return *c;
  }

  static void release(void* block) {
    Cache& c = get();
    const size_t cap = *static_cast<size_t*>(block);
    {
      std::lock_guard<std::mutex> g(c.m);
      if (c.idle_bytes + cap <= c.limit) {
        c.idle.emplace(cap, block);
        c.idle_bytes += cap;
        return;
      }
    }
    c10::free_cpu(block);
  }

  c10::DataPtr allocate(size_t n) override {
    void* block = nullptr;
    {
      std::lock_guard<std::mutex> g(m);
      // the block of this size freed last (the likeliest still in the CPU's caches), else
      // one at most a quarter larger, so that one size does not pin another
      auto same = idle.equal_range(n);
      auto it = same.first != same.second ? std::prev(same.second) : idle.lower_bound(n);
      if (it != idle.end() && it->first <= n + n / 4) {
        block = it->second;
        idle_bytes -= it->first;
        idle.erase(it);
        ++reused;
      } else {
        ++allocated;
      }
    }
    if (block == nullptr) {
      block = c10::alloc_cpu(n + kHeader);
      *static_cast<size_t*>(block) = n;
    }
    return {static_cast<char*>(block) + kHeader, block, &Cache::release,
            c10::Device(c10::DeviceType::CPU)};
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  int64_t drop_idle(size_t keep) {  // free idle blocks, largest first, until at most keep
    std::vector<void*> out;
    int64_t freed = 0;
    {
      std::lock_guard<std::mutex> g(m);
      while (idle_bytes > keep && !idle.empty()) {
        auto it = std::prev(idle.end());
        idle_bytes -= it->first;
        freed += int64_t(it->first);
        out.push_back(it->second);
        idle.erase(it);
      }
    }
    for (void* b : out) c10::free_cpu(b);
    return freed;
  }
};

}  // namespace

at::Tensor cached_empty(at::IntArrayRef shape, const at::TensorOptions& o) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  const int64_t bytes = n * int64_t(c10::elementSize(o.dtype().toScalarType()));
  Cache& c = Cache::get();
  if (o.device().type() != c10::DeviceType::CPU || bytes < kMinCachedBytes || c.limit == 0) {
    return at::empty(shape, o);
  }
  return at::detail::empty_generic(shape, &c, c10::DispatchKeySet(c10::DispatchKey::CPU),
                                   o.dtype().toScalarType(), c10::MemoryFormat::Contiguous);
}

std::vector<int64_t> cache_info() {
  Cache& c = Cache::get();
  std::lock_guard<std::mutex> g(c.m);
  return {int64_t(c.idle_bytes), int64_t(c.idle.size()), int64_t(c.limit.load()), c.reused,
          c.allocated};
}

int64_t set_cache_limit(int64_t bytes) {
  TORCH_CHECK(bytes >= 0, "lstmkit: the buffer cache limit must be >= 0 bytes, got ", bytes);
  Cache& c = Cache::get();
  size_t old;
  {
    std::lock_guard<std::mutex> g(c.m);
    old = c.limit.exchange(size_t(bytes));
  }
  c.drop_idle(size_t(bytes));
  return int64_t(old);
}

int64_t empty_cache() { return Cache::get().drop_idle(0); }

}  // namespace lstmkit
