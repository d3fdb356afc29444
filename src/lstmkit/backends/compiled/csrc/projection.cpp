// The input projection of a narrow input, x (R, I) W^T (+ b) with I of a few columns, and its
// gradient, each in one pass over the (R, G) projection.
//
// Why not the BLAS: with so few columns in x the product is a stream of the (R, G) result
// (R = T * B rows), which MKL writes in several passes (it scales C, then adds the rank-I
// update), and the weight's gradient reads the (R, G) gradient with a stride. Here each
// row of the result is written once, into a block of the buffer cache (buffers.h: a fresh
// block of that size takes a page fault every 4 KiB), and the backward reads each row of
// the gradient once for dx, dW and db together. For I = 1 to 6, forward + backward took
// 0.22 to 0.99 of the mm form's time (lstmkit/backends/compiled/projection.py,
// KERNEL_INPUT; python benchmarks/projection.py --kernel).
//
// Shapes: R rows (T * B), I input columns, G = n_gates * H.
#include "projection.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <vector>

#include "buffers.h"
#include "kernels.h"

namespace lstmkit {

namespace {

// rows per block of the backward's sums: blocks are summed in order, so the weight's
// gradient does not depend on the number of threads
constexpr int64_t kBlockRows = 1024;
// rows summed in the input's dtype before being added to a block's double sums
constexpr int64_t kRun = 64;

template <typename T>
void forward_rows(const T* x, const T* wt, const T* b, int64_t I, int64_t G, int64_t r0,
                  int64_t r1, T* out) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * I;
    T* o = out + r * G;
    // one vector pass per column of x over the row (in L1): a loop over the columns
    // inside the pass keeps GCC from vectorising it
    const T x0 = xr[0];
    if (b) {
      LK_SIMD
      for (int64_t g = 0; g < G; ++g) o[g] = b[g] + x0 * wt[g];
    } else {
      LK_SIMD
      for (int64_t g = 0; g < G; ++g) o[g] = x0 * wt[g];
    }
    for (int64_t i = 1; i < I; ++i) {
      const T xi = xr[i];
      const T* w = wt + i * G;
      LK_SIMD
      for (int64_t g = 0; g < G; ++g) o[g] += xi * w[g];
    }
  }
}

template <typename T>
void run_forward(const at::Tensor& x, const at::Tensor& wt, const at::Tensor& b, at::Tensor& out) {
  const int64_t R = x.size(0), I = x.size(1), G = wt.size(1);
  const T* xp = x.data_ptr<T>();
  const T* wp = wt.data_ptr<T>();
  const T* bp = b.defined() ? b.data_ptr<T>() : nullptr;
  T* op = out.data_ptr<T>();
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, G * I));
  at::parallel_for(0, R, grain, [&](int64_t r0, int64_t r1) {
    forward_rows<T>(xp, wp, bp, I, G, r0, r1, op);
  });
}

// one block of rows [r0, r1): dx rows, and the block's sums of dW^T (I, G) and db (G)
template <typename T>
void backward_block(const T* d, const T* x, const T* wt, int64_t I, int64_t G, int64_t r0,
                    int64_t r1, T* dx, double* sw, double* sb, std::vector<T>& run_w,
                    std::vector<T>& run_b) {
  std::fill(run_w.begin(), run_w.end(), T(0));
  std::fill(run_b.begin(), run_b.end(), T(0));
  int64_t in_run = 0;
  auto flush = [&] {
    for (int64_t k = 0; k < I * G; ++k) sw[k] += double(run_w[k]);
    for (int64_t g = 0; g < G; ++g) sb[g] += double(run_b[g]);
    std::fill(run_w.begin(), run_w.end(), T(0));
    std::fill(run_b.begin(), run_b.end(), T(0));
    in_run = 0;
  };
  for (int64_t r = r0; r < r1; ++r) {
    const T* dr = d + r * G;
    const T* xr = x + r * I;
    for (int64_t i = 0; i < I; ++i) {
      const T xi = xr[i];
      const T* w = wt + i * G;
      T* acc = run_w.data() + i * G;
      T s = 0;
      LK_PRAGMA(omp simd reduction(+ : s))
      for (int64_t g = 0; g < G; ++g) {
        s += dr[g] * w[g];
        acc[g] += xi * dr[g];
      }
      if (dx) dx[r * I + i] = s;
    }
    T* rb = run_b.data();
    LK_SIMD
    for (int64_t g = 0; g < G; ++g) rb[g] += dr[g];
    if (++in_run == kRun) flush();
  }
  if (in_run) flush();
}

template <typename T>
void run_backward(const at::Tensor& d, const at::Tensor& x, const at::Tensor& wt, bool need_x,
                  at::Tensor& dx, at::Tensor& dw, at::Tensor& db) {
  const int64_t R = x.size(0), I = x.size(1), G = wt.size(1);
  const int64_t nb = (R + kBlockRows - 1) / kBlockRows;
  std::vector<double> sums(size_t(nb * (I + 1) * G), 0.0);  // per block: dW^T (I, G), db (G)
  const T* dp = d.data_ptr<T>();
  const T* xp = x.data_ptr<T>();
  const T* wp = wt.data_ptr<T>();
  T* dxp = need_x ? dx.data_ptr<T>() : nullptr;
  at::parallel_for(0, nb, 1, [&](int64_t k0, int64_t k1) {
    std::vector<T> run_w(static_cast<size_t>(I * G)), run_b(static_cast<size_t>(G));
    for (int64_t k = k0; k < k1; ++k) {
      double* sw = sums.data() + k * (I + 1) * G;
      backward_block<T>(dp, xp, wp, I, G, k * kBlockRows, std::min(R, (k + 1) * kBlockRows), dxp,
                        sw, sw + I * G, run_w, run_b);
    }
  });
  std::vector<double> total(size_t((I + 1) * G), 0.0);
  for (int64_t k = 0; k < nb; ++k) {
    const double* s = sums.data() + k * (I + 1) * G;
    for (int64_t j = 0; j < (I + 1) * G; ++j) total[j] += s[j];
  }
  T* dwp = dw.data_ptr<T>();  // (G, I)
  for (int64_t g = 0; g < G; ++g)
    for (int64_t i = 0; i < I; ++i) dwp[g * I + i] = T(total[i * G + g]);
  T* dbp = db.data_ptr<T>();
  for (int64_t g = 0; g < G; ++g) dbp[g] = T(total[I * G + g]);
}

void check(const at::Tensor& x, const at::Tensor& w) {
  TORCH_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
              "narrow projection: x (R, I) and W (G, I), got ", x.sizes(), " and ", w.sizes());
  TORCH_CHECK(x.scalar_type() == w.scalar_type() &&
                  (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
              "narrow projection: float32 or float64 x and W of one dtype");
  TORCH_CHECK(x.size(1) >= 1, "narrow projection: x has no columns");
}

}  // namespace

at::Tensor narrow_project(const at::Tensor& x_, const at::Tensor& w, const std::optional<at::Tensor>& b_) {
  check(x_, w);
  const at::Tensor x = x_.contiguous(), wt = w.t().contiguous();
  at::Tensor b;
  if (b_.has_value() && b_->defined()) {
    b = b_->contiguous();
    TORCH_CHECK(b.dim() == 1 && b.size(0) == w.size(0) && b.scalar_type() == x.scalar_type(),
                "narrow projection: b (G,) of x's dtype");
  }
  // from the buffer cache: a fresh (R, G) block would take a page fault every 4 KiB
  at::Tensor out = cached_empty({x.size(0), w.size(0)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstmkit_narrow_project",
                             [&] { run_forward<scalar_t>(x, wt, b, out); });
  return out;
}

std::vector<at::Tensor> narrow_project_backward(const at::Tensor& d_, const at::Tensor& x_,
                                                const at::Tensor& w, bool need_x) {
  check(x_, w);
  const at::Tensor x = x_.contiguous(), d = d_.contiguous(), wt = w.t().contiguous();
  TORCH_CHECK(d.dim() == 2 && d.size(0) == x.size(0) && d.size(1) == w.size(0) &&
                  d.scalar_type() == x.scalar_type(),
              "narrow projection backward: the gradient must be (R, G) of x's dtype");
  at::Tensor dx = need_x ? at::empty(x.sizes(), x.options()) : at::Tensor();
  at::Tensor dw = at::empty(w.sizes(), x.options()), db = at::empty({w.size(0)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstmkit_narrow_project_backward",
                             [&] { run_backward<scalar_t>(d, x, wt, need_x, dx, dw, db); });
  return {dx, dw, db};
}

}  // namespace lstmkit
