// The recurrent GEMM of a step for small batches, float32 on AVX2 + FMA:
//   out (B, N) = X (B, K) M (K, N),  M packed once per call into panels of 16 columns.
//
// Why not the BLAS: at B = 1..64 the step's GEMM is a thin one (B rows against a weight
// matrix of a few MB) whose cost is streaming the weights; MKL's sgemm_ re-packs the
// weights at every call and its packed-API compute was measured 1.5-2.5x slower than
// oneDNN's RNN kernel at B = 4..16, H = 256..512. Here the weights are packed once per
// sequence (panel p holds columns 16p..16p+15 of M, k-major: Mp[p][k][c]) and each
// panel is read once per block of up to 6 rows, with 12 accumulators in registers. It
// serves row blocks of up to 256 rows (small_gemm_max_rows in kernels.h): at 128 and 256
// rows it took 0.80 to 1.02 of the time of MKL's packed GEMM, which re-packs X each call.
//
// Shapes: B rows (batch), K inner (P or G), N columns (G, P or H).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LK_SMALLGEMM 1
#else
#define LK_SMALLGEMM 0
#endif

namespace lstmkit {

struct Panels {
  std::vector<float> buf;  // (np, K, 16)
  int64_t N = 0, K = 0, np = 0;

  // M = W^T with W (N, K) row-major when wt, else M = W with W (K, N) row-major
  void pack(const float* W, int64_t N_, int64_t K_, bool wt) {
    N = N_, K = K_, np = (N + 15) / 16;
    buf.assign(size_t(np * K * 16), 0.0f);
    for (int64_t p = 0; p < np; ++p) {
      float* dst = buf.data() + p * K * 16;
      const int64_t n0 = p * 16, nc = std::min<int64_t>(16, N - n0);
      if (wt) {
        for (int64_t c = 0; c < nc; ++c) {
          const float* row = W + (n0 + c) * K;
          for (int64_t k = 0; k < K; ++k) dst[k * 16 + c] = row[k];
        }
      } else {
        for (int64_t k = 0; k < K; ++k) {
          const float* row = W + k * N + n0;
          for (int64_t c = 0; c < nc; ++c) dst[k * 16 + c] = row[c];
        }
      }
    }
  }
};

#if LK_SMALLGEMM
// R rows of X against NP consecutive panels starting at panel p0
template <int R, int NP>
inline void panel_kernel(const Panels& M, int64_t p0, const float* X, int64_t ldx, float* out,
                         int64_t ldo) {
  // Every loop over registers is unrolled by the pragma: with a loop left, GCC keeps
  // `acc` in memory and stores all of it at every k (measured: store-bound, 3x slower).
  __m256 acc[R][2 * NP];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < 2 * NP; ++v) acc[r][v] = _mm256_setzero_ps();
  const int64_t K = M.K, ps = K * 16;
  const float* base = M.buf.data() + p0 * ps;
  for (int64_t k = 0; k < K; ++k) {
    __m256 w[2 * NP];
#pragma GCC unroll 16
    for (int p = 0; p < NP; ++p) {
      w[2 * p] = _mm256_loadu_ps(base + p * ps + k * 16);
      w[2 * p + 1] = _mm256_loadu_ps(base + p * ps + k * 16 + 8);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(X + r * ldx + k);
#pragma GCC unroll 16
      for (int v = 0; v < 2 * NP; ++v) acc[r][v] = _mm256_fmadd_ps(x, w[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int p = 0; p < NP; ++p) {
    const int64_t n0 = (p0 + p) * 16, nc = std::min<int64_t>(16, M.N - n0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      float* o = out + r * ldo + n0;
      if (nc == 16) {
        _mm256_storeu_ps(o, acc[r][2 * p]);
        _mm256_storeu_ps(o + 8, acc[r][2 * p + 1]);
      } else {
        alignas(32) float tmp[16];
        _mm256_store_ps(tmp, acc[r][2 * p]);
        _mm256_store_ps(tmp + 8, acc[r][2 * p + 1]);
        for (int64_t c = 0; c < nc; ++c) o[c] = tmp[c];
      }
    }
  }
}

// panels [p0, p1) for rows [0, R) of X, with the widest register block that fits
template <int R, int NP>
inline void panel_range(const Panels& M, int64_t p0, int64_t p1, const float* X, int64_t ldx,
                        float* out, int64_t ldo) {
  int64_t p = p0;
  for (; p + NP <= p1; p += NP) panel_kernel<R, NP>(M, p, X, ldx, out, ldo);
  for (; p < p1; ++p) panel_kernel<R, 1>(M, p, X, ldx, out, ldo);
}

template <int R>
inline void rows_block(const Panels& M, int64_t p0, int64_t p1, const float* X, int64_t ldx,
                       float* out, int64_t ldo) {
  // registers: R * 2 * NP accumulators + 2 * NP weights + 1 broadcast <= 16
  constexpr int NP = R == 1 ? 3 : (R == 2 ? 2 : 1);
  panel_range<R, NP>(M, p0, p1, X, ldx, out, ldo);
}

// A step's GEMM runs its panels on threads once it has at least this many multiply-adds
// (B N K); settable (set_gemm_thread_work) so that benchmarks/gemm_settings.py can compare
// thresholds in one process.
inline int64_t& gemm_thread_work() {
  static int64_t work = int64_t(1) << 21;
  return work;
}

// out (B, N) = X (B, K) M (beta = 0)
inline void small_gemm(const Panels& M, int64_t B, const float* X, int64_t ldx, float* out,
                       int64_t ldo) {
  // Panels outer, blocks of rows inner: a chunk of panels (about 96 KB, in L2) is read
  // from memory once per step and then reused by every block of 6 rows. (Rows outer
  // streamed the whole weight matrix, megabytes, through the cache once per 6 rows: 5x
  // slower at B = 64, H = 256.)
  const int64_t chunk = std::max<int64_t>(1, (96 * 1024) / std::max<int64_t>(1, M.K * 64));
  auto run = [&](int64_t p0, int64_t p1) {
    for (int64_t c0 = p0; c0 < p1; c0 += chunk) {
      const int64_t c1 = std::min(p1, c0 + chunk);
      for (int64_t b0 = 0; b0 < B; b0 += 6) {
        const float* x = X + b0 * ldx;
        float* o = out + b0 * ldo;
        switch (std::min<int64_t>(6, B - b0)) {
          case 1: rows_block<1>(M, c0, c1, x, ldx, o, ldo); break;
          case 2: rows_block<2>(M, c0, c1, x, ldx, o, ldo); break;
          case 3: rows_block<3>(M, c0, c1, x, ldx, o, ldo); break;
          case 4: rows_block<4>(M, c0, c1, x, ldx, o, ldo); break;
          case 5: rows_block<5>(M, c0, c1, x, ldx, o, ldo); break;
          default: rows_block<6>(M, c0, c1, x, ldx, o, ldo); break;
        }
      }
    }
  };
  // threads over panels once a step's GEMM is big enough to repay the fork
  const int64_t work = B * M.N * M.K;
  if (work >= gemm_thread_work() && M.np >= 4) {
    at::parallel_for(0, M.np, std::max<int64_t>(1, M.np / 8), run);
  } else {
    run(0, M.np);
  }
}
#endif

}  // namespace lstmkit
