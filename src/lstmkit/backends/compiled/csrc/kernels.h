// lstmkit compiled recurrence: the building blocks every loop uses.
//
//   * fast, vectorisable exp / sigmoid / tanh for float and double (branch-free, so
//     GCC/Clang turn the `#pragma omp simd` loops that call them into AVX2/NEON code);
//   * a row-major GEMM that calls the BLAS linked into libtorch (MKL's sgemm_/dgemm_)
//     directly, because ATen's dispatcher costs a few microseconds per call, which is
//     the whole budget of a step at B=1, H=20; it falls back to at::mm_out when the
//     BLAS symbols are absent (weak references).
//
// Shape legend used in every file: T time, B batch, H hidden, P = proj_size or H (the
// size of h), G = n_gates * H (LSTM 4H or 3H coupled, GRU 3H, RNN H).
#pragma once

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/mm.h>

#include <bit>
#include <cstdint>
#include <cstring>

#define LK_SIMD _Pragma("omp simd")
#define LK_PRAGMA(x) _Pragma(#x)
#define LK_SIMD_SUM2(a, b) LK_PRAGMA(omp simd reduction(+ : a, b))
// the math functions must inline into the loops, or the loops stay scalar
#define LK_INLINE inline __attribute__((always_inline))

namespace lstmkit {

constexpr double kLnEps = 1e-5;  // lstmkit.cells.layernorm.EPS

// ---- exp, sigmoid, tanh ---------------------------------------------------------------
// exp(x) = 2^n * e^r, n = round(x / ln 2), |r| <= ln2 / 2. Rounding uses the
// "add 1.5 * 2^mantissa" trick, which leaves n in the low bits of the sum, so the
// scale 2^n is built with integer adds and shifts of the same lane width (AVX2 has no
// double -> int64 conversion). Inputs are clamped so 2^n stays a normal number.

LK_INLINE float lk_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  float r = x - n * 0.693359375f;  // ln 2 split in two (Cody-Waite)
  r = r - n * -2.12194440e-4f;
  // cephes expf polynomial, about 1 ulp on [-ln2/2, ln2/2]
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * (r * r) + r + 1.0f;
  int32_t bits = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(magic);
  float scale = std::bit_cast<float>((bits + 127) << 23);
  return p * scale;
}

LK_INLINE double lk_exp(double x) {
  x = x < -708.0 ? -708.0 : x;
  x = x > 709.0 ? 709.0 : x;
  const double magic = 6755399441055744.0;  // 1.5 * 2^52
  double t = x * 1.4426950408889634074 + magic;
  double n = t - magic;
  double r = x - n * 6.93145751953125e-1;
  r = r - n * 1.42860682030941723212e-6;
  // Taylor to degree 13: truncation below 1e-17 relative on |r| <= ln2 / 2
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  int64_t bits = std::bit_cast<int64_t>(t) - std::bit_cast<int64_t>(magic);
  double scale = std::bit_cast<double>((bits + 1023) << 52);
  return p * scale;
}

template <typename T>
LK_INLINE T lk_sigmoid(T x) {
  return T(1) / (T(1) + lk_exp(-x));
}

// tanh(x) = 1 - 2 / (exp(2x) + 1) away from 0; near 0, where that formula keeps only an
// absolute accuracy of one ulp of 1, the odd Taylor series to x^13 (relative error below
// one ulp for |x| < 0.4 in float; the cut is 0.1 for double). Both computed, one selected,
// so the loop stays branch-free.
template <typename T>
LK_INLINE T lk_tanh(T x) {
  const T big = T(1) - T(2) / (lk_exp(T(2) * x) + T(1));
  const T x2 = x * x;
  T p = T(21844.0 / 6081075.0);
  p = p * x2 - T(1382.0 / 155925.0);
  p = p * x2 + T(62.0 / 2835.0);
  p = p * x2 - T(17.0 / 315.0);
  p = p * x2 + T(2.0 / 15.0);
  p = p * x2 - T(1.0 / 3.0);
  const T small = x + x * x2 * p;
  const T cut = sizeof(T) == 4 ? T(0.4) : T(0.1);
  return (x < cut && x > -cut) ? small : big;
}

// ---- GEMM -----------------------------------------------------------------------------
}  // namespace lstmkit

extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*,
            const float*, const int*, const float*, const int*, const float*, float*,
            const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*,
            const double*, const int*, const double*, const int*, const double*, double*,
            const int*) __attribute__((weak));
// MKL's packed GEMM: a weight matrix is packed once per call of the loop and reused
// at every step, instead of being re-packed inside every sgemm_ (what oneDNN's RNN
// primitive does too). float only (MKL exports no dgemm_pack through torch).
size_t sgemm_pack_get_size(const char*, const int*, const int*, const int*)
    __attribute__((weak));
void sgemm_pack(const char*, const char*, const int*, const int*, const int*, const float*,
                const float*, const int*, float*) __attribute__((weak));
void sgemm_compute(const char*, const char*, const int*, const int*, const int*,
                   const float*, const int*, const float*, const int*, const float*, float*,
                   const int*) __attribute__((weak));
}

namespace lstmkit {

inline bool have_blas() { return sgemm_ != nullptr && dgemm_ != nullptr; }
inline bool have_pack() {
  return sgemm_pack_get_size != nullptr && sgemm_pack != nullptr && sgemm_compute != nullptr;
}

template <typename T>
inline void aten_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A,
                      int64_t lda, const T* Bm, int64_t ldb, T beta, T* C, int64_t ldc) {
  auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  auto a = ta ? at::from_blob(const_cast<T*>(A), {K, M}, {lda, 1}, opt).t()
              : at::from_blob(const_cast<T*>(A), {M, K}, {lda, 1}, opt);
  auto b = tb ? at::from_blob(const_cast<T*>(Bm), {N, K}, {ldb, 1}, opt).t()
              : at::from_blob(const_cast<T*>(Bm), {K, N}, {ldb, 1}, opt);
  auto c = at::from_blob(C, {M, N}, {ldc, 1}, opt);
  if (beta == T(0)) {
    at::mm_out(c, a, b);
  } else {
    c.addmm_(a, b, beta, 1);
  }
}

// C (M, N) = op(A) op(B) + beta C, all row-major with leading dimensions lda, ldb, ldc;
// op(A) is (M, K), op(B) is (K, N). Column-major BLAS computes C^T = op(B)^T op(A)^T.
template <typename T>
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                 const T* Bm, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  if (!have_blas()) return aten_gemm<T>(ta, tb, M, N, K, A, lda, Bm, ldb, beta, C, ldc);
  const char cb = tb ? 'T' : 'N', ca = ta ? 'T' : 'N';
  const int m = int(N), n = int(M), k = int(K), la = int(ldb), lb = int(lda), lc = int(ldc);
  const T one = T(1);
  if constexpr (std::is_same_v<T, float>) {
    sgemm_(&cb, &ca, &m, &n, &k, &one, Bm, &la, A, &lb, &beta, C, &lc);
  } else {
    dgemm_(&cb, &ca, &m, &n, &k, &one, Bm, &la, A, &lb, &beta, C, &lc);
  }
}

}  // namespace lstmkit

#include "smallgemm.h"

namespace lstmkit {

// out (B, N) = X (B, K) op(W) + beta out, for one weight W used at every step:
// op(W) = W^T with W (N, K) row-major when `wt`, else W with W (K, N). Packed (MKL) when
// the loop is long enough to repay the packing, else a plain GEMM per call.
// float32 on AVX2 with a batch (per row block) of at most this: our own panel kernel
// (smallgemm.h), which took 0.80 to 1.02 of the time MKL's packed GEMM took for blocks of
// 128 and 256 rows (python benchmarks/gemm_settings.py --setting small_rows; report
// benchmarks/reports/2026-12-05-gemm-settings.md). Settable (set_small_gemm_max_rows) so
// that benchmark can compare limits in one process.
inline int64_t& small_gemm_max_rows() {
  static int64_t rows = 256;
  return rows;
}

template <typename T>
struct WeightGemm {
  const T* W = nullptr;
  int64_t N = 0, K = 0;
  bool wt = true;
  at::Tensor packed;  // bytes of MKL's packed W, or undefined
  Panels panels;      // our packing (float, AVX2, small batch)
  bool use_panels = false;

  void init(const T* W_, int64_t N_, int64_t K_, bool wt_, int64_t B, int64_t uses) {
    W = W_, N = N_, K = K_, wt = wt_;
    packed = at::Tensor();
    use_panels = false;
    if constexpr (std::is_same_v<T, float>) {
      if (LK_SMALLGEMM && uses >= 4 && B <= small_gemm_max_rows() && N > 0 && K > 0 && B > 0) {
        panels.pack(W, N, K, wt);
        use_panels = true;
        return;
      }
      if (have_pack() && uses >= 4 && N > 0 && K > 0 && B > 0) {
        // column-major: out^T (N, B) = A (N, K) X^T (K, B) with A = W^T or W viewed as such
        const char id = 'A', tr = wt ? 'T' : 'N';
        const int m = int(N), n = int(B), k = int(K), ld = int(wt ? K : N);
        const float one = 1.0f;
        size_t bytes = sgemm_pack_get_size(&id, &m, &n, &k);
        packed = at::empty({int64_t(bytes)}, at::TensorOptions().dtype(at::kByte));
        sgemm_pack(&id, &tr, &m, &n, &k, &one, W, &ld,
                   reinterpret_cast<float*>(packed.data_ptr<uint8_t>()));
      }
    }
  }

  void run(int64_t B, const T* X, T* out, T beta = T(0)) const {
    if constexpr (std::is_same_v<T, float>) {
#if LK_SMALLGEMM
      if (use_panels && beta == T(0)) {
        small_gemm(panels, B, X, K, out, N);
        return;
      }
#endif
      if (packed.defined()) {
        const char ta = 'P', tb = 'N';
        const int m = int(N), n = int(B), k = int(K), ldb = int(K), ldc = int(N);
        sgemm_compute(&ta, &tb, &m, &n, &k,
                      reinterpret_cast<const float*>(packed.data_ptr<uint8_t>()), &m, X, &ldb,
                      &beta, out, &ldc);
        return;
      }
    }
    gemm<T>(false, wt, B, N, K, X, K, W, wt ? K : N, beta, out, N);
  }
};

// ---- layer norm of one row (no affine part; lstmkit.cells.layernorm) -------------------
// Statistics are accumulated in double: layer norm's backward divides by the standard
// deviation, which amplifies any rounding in them (float32 rows of a few dozen values).
// One pass: the sums of d = a - a[0] and of d^2. Shifted by a value of the row, the
// difference of the two sums keeps its precision however far the mean is from zero
// (relative error of the variance about eps * (1 + (mean - a[0])^2 / variance)).
template <typename T>
inline void ln_stats(const T* a, int64_t n, T& mu, T& rstd) {
  // the reduction clause lets the sums vectorise (without it each is a serial chain of
  // scalar adds: measured 80% of a layer-norm LSTM step's gate pass)
  const double k = double(a[0]);
  double s = 0, q = 0;
  LK_SIMD_SUM2(s, q)
  for (int64_t j = 0; j < n; ++j) {
    const double d = double(a[j]) - k;
    s += d;
    q += d * d;
  }
  const double m = s / double(n), v = q / double(n) - m * m;
  mu = T(k + m);
  rstd = T(1.0 / std::sqrt((v > 0 ? v : 0.0) + kLnEps));
}

// da = rstd (d - mean(d) - a_hat mean(d a_hat)), with d = dy * gain; in place is fine
template <typename T>
inline void ln_backward_row(const T* dy, const T* gain, const T* a_hat, T rstd, int64_t n, T* da) {
  double m1 = 0, m2 = 0;
  LK_SIMD_SUM2(m1, m2)
  for (int64_t j = 0; j < n; ++j) {
    const double d = double(dy[j]) * double(gain[j]);
    m1 += d;
    m2 += d * double(a_hat[j]);
  }
  const T t1 = T(m1 / double(n)), t2 = T(m2 / double(n));
  LK_SIMD
  for (int64_t j = 0; j < n; ++j) da[j] = rstd * (dy[j] * gain[j] - t1 - a_hat[j] * t2);
}

// Run f(b0, b1) over the batch rows [r0, r1), in parallel when each chunk has enough
// work (inline inside a parallel region).
template <typename F>
inline void over_rows(int64_t r0, int64_t r1, int64_t work_per_row, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, work_per_row));
  if (r1 - r0 <= grain) {
    f(r0, r1);
  } else {
    at::parallel_for(r0, r1, grain, f);
  }
}

}  // namespace lstmkit
