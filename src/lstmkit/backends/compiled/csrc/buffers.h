// The large buffers of the loops (what a forward keeps for backward, and backward's own
// (T, B, G) gradients), kept for the next call when freed instead of going back to the
// C library.
//
// Why: glibc gives a freed block at the top of its heap back to the system once more
// than M_TRIM_THRESHOLD lies free there, and serves large blocks with mmap; the next
// call then takes a page fault on every 4 KiB page of its buffers. A training loop frees
// and takes the same sizes every step, so it paid that every step: 59,000 page faults
// per forward+backward of a layer-norm LSTM at (B, T, I, H) = (64, 200, 128, 256) on
// one thread, which the cache takes to 0.79 of its time (benchmarks/buffer_cache.py;
// how many faults depends on what else the process allocates).
//
// Blocks of at least kMinCachedBytes come from the cache; a freed block goes back to it
// while the idle blocks stay within the limit (set_cache_limit; 0 turns the cache off),
// else to the C library. The idle blocks never exceed what was in use at once.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace lstmkit {

constexpr int64_t kMinCachedBytes = int64_t(1) << 18;  // 256 KiB: glibc's heap reuses smaller ones

// at::empty(shape, o) on the CPU, its storage from the cache when it is large enough
at::Tensor cached_empty(at::IntArrayRef shape, const at::TensorOptions& o);

// {idle bytes, idle blocks, limit, blocks reused, blocks allocated}
std::vector<int64_t> cache_info();

// the most idle bytes kept (0: none; blocks in use are not affected); returns the old limit
int64_t set_cache_limit(int64_t bytes);

// free every idle block; returns the bytes freed
int64_t empty_cache();

}  // namespace lstmkit
