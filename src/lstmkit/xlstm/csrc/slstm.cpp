// The sLSTM recurrence in C++: the forward loop over time and the loop back through time,
// for lstmkit.xlstm.slstm_compiled (which registers them as torch.library operators).
//
// Shapes: T time, B batch, H = NH * d hidden (NH heads of width d). Gate order i, f, z, o.
//   pre (T, B, 4H)   W x_t + b, gate-major: pre[t][b][g * H + k * d + o]
//   w   (4, NH, d, d) the block-diagonal recurrent matrix [gate, head, out, in]
//   h0, c0, n0, m0 (B, H); mask (T, B) bool or undefined (every step counts)
// One step (lstmkit/xlstm/slstm_math.py, which this follows operation by operation):
//   raw = pre_t + R h;  log f = logsigmoid(f~) (mode 0) or f~ (mode 1)
//   m' = n == 0 ? i~ : max(i~, log f + m);  i' = exp(i~ - m');  f' = exp(min(log f + m - m', 0))
//   c' = f' c + i' tanh(z~);  n' = f' n + i';  h' = sigmoid(o~) c' / n'
// A masked step (mask false) keeps the state; its output is the kept h.
// The backward reproduces torch's derivatives of those operations, ties included
// (maximum splits the gradient in half on a tie; clamp(max=0) passes it where e <= 0).
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include <atomic>
#include <bit>
#include <cstdint>

#define XL_SIMD _Pragma("omp simd")
// the math functions must inline into the loops, or the loops stay scalar
#define XL_INLINE inline __attribute__((always_inline))

namespace {

// ---- vectorisable float math (exp as in lstmkit/backends/compiled/csrc/kernels.h) -------
// float: branch-free polynomials the compiler turns into AVX2/NEON code inside the
// `omp simd` loops (about 1 ulp); double (used for checks): the C library's functions.

// exp(x) = 2^n e^r, n = round(x / ln 2), |r| <= ln2 / 2, cephes' polynomial for e^r
XL_INLINE float xl_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  float r = x - n * 0.693359375f;  // ln 2 split in two (Cody-Waite)
  r = r - n * -2.12194440e-4f;
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

// log(x) for a normal x > 0: x = m 2^e, m in [sqrt(1/2), sqrt(2)), cephes' logf polynomial
XL_INLINE float xl_log(float x) {
  const int32_t bits = std::bit_cast<int32_t>(x);
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126);
  float m = std::bit_cast<float>((bits & 0x007fffff) | 0x3f000000);  // [0.5, 1)
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1.0f : e;
  m = low ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float y = 7.0376836292E-2f;
  y = y * m - 1.1514610310E-1f;
  y = y * m + 1.1676998740E-1f;
  y = y * m - 1.2420140846E-1f;
  y = y * m + 1.4249322787E-1f;
  y = y * m - 1.6668057665E-1f;
  y = y * m + 2.0000714765E-1f;
  y = y * m - 2.4999993993E-1f;
  y = y * m + 3.3333331174E-1f;
  y = y * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return m + y + 0.693359375f * e;
}

// log1p(y) for y in [0, 1] with full relative accuracy: log(u) y / (u - 1), u = 1 + y
XL_INLINE float xl_log1p(float y) {
  const float u = 1.0f + y;
  const float d = u - 1.0f;
  return d == 0.0f ? y : xl_log(u) * (y / d);
}

// tanh(x) = 1 - 2 / (exp(2x) + 1) away from 0, the odd Taylor series near 0
XL_INLINE float xl_tanh(float x) {
  const float big = 1.0f - 2.0f / (xl_exp(2.0f * x) + 1.0f);
  const float x2 = x * x;
  float p = 21844.0f / 6081075.0f;
  p = p * x2 - 1382.0f / 155925.0f;
  p = p * x2 + 62.0f / 2835.0f;
  p = p * x2 - 17.0f / 315.0f;
  p = p * x2 + 2.0f / 15.0f;
  p = p * x2 - 1.0f / 3.0f;
  const float small = x + x * x2 * p;
  return (x < 0.4f && x > -0.4f) ? small : big;
}

XL_INLINE double xl_exp(double x) { return std::exp(x); }
XL_INLINE double xl_log1p(double x) { return std::log1p(x); }
XL_INLINE double xl_tanh(double x) { return std::tanh(x); }

template <typename S>
XL_INLINE S sigmoid(S x) { return S(1) / (S(1) + xl_exp(-x)); }

template <typename S>
XL_INLINE S log_sigmoid(S x) {  // as torch: min(x, 0) - log1p(exp(-|x|))
  const S ax = x < S(0) ? -x : x;
  return (x < S(0) ? x : S(0)) - xl_log1p(xl_exp(-ax));
}

struct Sizes {
  int64_t T, B, H, NH, d;
};

// y[o] += sum_i x[i] * w[i * d + o] for o < d: a d x d matrix-vector product, its rows
// contiguous in o. Eight outputs at a time kept in registers (the u loop vectorises).
template <typename S>
XL_INLINE void matvec_add(const S* __restrict__ x, const S* __restrict__ w, S* __restrict__ y,
                          int64_t d) {
  constexpr int64_t U = 8;
  int64_t o0 = 0;
  for (; o0 + U <= d; o0 += U) {
    S acc[U];
    for (int64_t u = 0; u < U; ++u) acc[u] = y[o0 + u];
    for (int64_t i = 0; i < d; ++i) {
      const S xv = x[i];
      const S* row = w + i * d + o0;
      XL_SIMD for (int64_t u = 0; u < U; ++u) acc[u] += xv * row[u];
    }
    for (int64_t u = 0; u < U; ++u) y[o0 + u] = acc[u];
  }
  for (; o0 < d; ++o0) {
    S acc = y[o0];
    for (int64_t i = 0; i < d; ++i) acc += x[i] * w[i * d + o0];
    y[o0] = acc;
  }
}

// raw[b] = pre[b] + R h[b] for one step; w_t is w transposed to [gate, head, in, out]
template <typename S>
inline void recurrent_add(const S* h, const S* w_t, S* raw, const Sizes& z) {
  const int64_t d = z.d, H = z.H;
  for (int64_t g = 0; g < 4; ++g)
    for (int64_t k = 0; k < z.NH; ++k)
      matvec_add(h + k * d, w_t + (g * z.NH + k) * d * d, raw + g * H + k * d, d);
}

template <typename S>
void forward_loop(const S* pre, const S* w_t, const bool* mask, S* out, S* hs, S* cs, S* ns, S* ms, S* raw_all,
                  const Sizes& z, int mode, bool save) {
  const int64_t B = z.B, H = z.H, G = 4 * H;
  // without saving, hs..ms hold two rows (t % 2) instead of T + 1
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<S> raw_buf(G);
    for (int64_t b = b0; b < b1; ++b) {
      for (int64_t t = 0; t < z.T; ++t) {
        const int64_t src = save ? t : (t % 2), dst = save ? t + 1 : ((t + 1) % 2);
        const S* h = hs + (src * B + b) * H;
        const S* c = cs + (src * B + b) * H;
        const S* n = ns + (src * B + b) * H;
        const S* m = ms + (src * B + b) * H;
        S* h2 = hs + (dst * B + b) * H;
        S* c2 = cs + (dst * B + b) * H;
        S* n2 = ns + (dst * B + b) * H;
        S* m2 = ms + (dst * B + b) * H;
        S* raw = save ? raw_all + (t * B + b) * G : raw_buf.data();
        S* y = out + (t * B + b) * H;
        if (mask != nullptr && !mask[t * B + b]) {
          for (int64_t j = 0; j < H; ++j) { h2[j] = h[j]; c2[j] = c[j]; n2[j] = n[j]; m2[j] = m[j]; }
          for (int64_t j = 0; j < H; ++j) y[j] = h[j];
          if (save) for (int64_t j = 0; j < G; ++j) raw[j] = S(0);
          continue;
        }
        const S* p = pre + (t * B + b) * G;
        for (int64_t j = 0; j < G; ++j) raw[j] = p[j];
        recurrent_add(h, w_t, raw, z);
        XL_SIMD for (int64_t j = 0; j < H; ++j) {
          const S ir = raw[j], fr = raw[H + j], zr = raw[2 * H + j], orr = raw[3 * H + j];
          const S logf = mode == 0 ? log_sigmoid(fr) : fr;
          const S a = logf + m[j];
          const S mn = n[j] == S(0) ? ir : std::max(ir, a);
          const S ig = xl_exp(ir - mn);
          const S fg = xl_exp(std::min(a - mn, S(0)));
          const S cn = fg * c[j] + ig * xl_tanh(zr);
          const S nn = fg * n[j] + ig;
          h2[j] = sigmoid(orr) * cn / nn;
          y[j] = h2[j];
          c2[j] = cn;
          n2[j] = nn;
          m2[j] = mn;
        }
      }
    }
  });
}

template <typename S>
void backward_loop(const S* w, const bool* mask, const S* hs, const S* cs, const S* ns, const S* ms,
                   const S* raw_all, const S* dout, S* dh, S* dc, S* dn, S* dm, S* draw_all,
                   const Sizes& z, int mode) {
  const int64_t B = z.B, H = z.H, G = 4 * H, d = z.d;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<S> dh_prev(H);
    for (int64_t b = b0; b < b1; ++b) {
      S* gh = dh + b * H;
      S* gc = dc + b * H;
      S* gn = dn + b * H;
      S* gm = dm + b * H;
      for (int64_t t = z.T - 1; t >= 0; --t) {
        S* draw = draw_all + (t * B + b) * G;
        if (dout != nullptr) {
          const S* go = dout + (t * B + b) * H;
          for (int64_t j = 0; j < H; ++j) gh[j] += go[j];
        }
        if (mask != nullptr && !mask[t * B + b]) {
          for (int64_t j = 0; j < G; ++j) draw[j] = S(0);
          continue;
        }
        const S* c = cs + (t * B + b) * H;
        const S* n = ns + (t * B + b) * H;
        const S* m = ms + (t * B + b) * H;
        const S* raw = raw_all + (t * B + b) * G;
        XL_SIMD for (int64_t j = 0; j < H; ++j) {
          const S ir = raw[j], fr = raw[H + j], zr = raw[2 * H + j], orr = raw[3 * H + j];
          const S logf = mode == 0 ? log_sigmoid(fr) : fr;
          const S a = logf + m[j];
          const bool empty = n[j] == S(0);
          const S mn = empty ? ir : std::max(ir, a);
          const S ig = xl_exp(ir - mn);
          const S e = a - mn;
          const S fg = xl_exp(std::min(e, S(0)));
          const S tz = xl_tanh(zr);
          const S so = sigmoid(orr);
          const S cn = fg * c[j] + ig * tz;
          const S nn = fg * n[j] + ig;
          // h' = so * c' / n'
          const S g_h = gh[j];
          const S d_so = g_h * cn / nn;
          const S d_cn = gc[j] + g_h * so / nn;
          const S d_nn = gn[j] - g_h * so * cn / (nn * nn);
          // c' = fg c + ig tz;  n' = fg n + ig
          const S d_fg = d_cn * c[j] + d_nn * n[j];
          const S d_ig = d_cn * tz + d_nn;
          const S d_z = d_cn * ig * (S(1) - tz * tz);
          const S d_o = d_so * so * (S(1) - so);
          // ig = exp(ir - mn);  fg = exp(min(e, 0)), e = logf + m - mn
          S d_ir = d_ig * ig;
          S d_mn = gm[j] - d_ig * ig;
          const S d_e = e <= S(0) ? d_fg * fg : S(0);
          S d_a = d_e;
          d_mn -= d_e;
          // mn = empty ? ir : max(ir, a)
          // (torch.maximum splits the gradient in half on a tie)
          const S w_i = empty ? S(1) : (ir > a ? S(1) : (ir < a ? S(0) : S(0.5)));
          d_ir += w_i * d_mn;
          d_a += (S(1) - w_i) * d_mn;
          // a = logf + m
          const S d_fr = mode == 0 ? d_a * sigmoid(-fr) : d_a;
          draw[j] = d_ir;
          draw[H + j] = d_fr;
          draw[2 * H + j] = d_z;
          draw[3 * H + j] = d_o;
          gc[j] = d_cn * fg;
          gn[j] = d_nn * fg;
          gm[j] = d_a;
        }
        // dh_prev = R^T draw, head by head: dh[k*d + i] = sum_{g,o} draw[g*H + k*d + o] w[g,k,o,i]
        for (int64_t j = 0; j < H; ++j) dh_prev[j] = S(0);
        for (int64_t g = 0; g < 4; ++g)
          for (int64_t k = 0; k < z.NH; ++k)
            matvec_add(draw + g * H + k * d, w + (g * z.NH + k) * d * d, dh_prev.data() + k * d, d);
        for (int64_t j = 0; j < H; ++j) gh[j] = dh_prev[j];
      }
    }
  });
}

Sizes sizes_of(const at::Tensor& pre, const at::Tensor& w) {
  TORCH_CHECK(pre.dim() == 3 && w.dim() == 4 && w.size(0) == 4 && w.size(2) == w.size(3),
              "slstm: pre must be (T, B, 4H) and weight_hh (4, NH, d, d)");
  Sizes z{pre.size(0), pre.size(1), pre.size(2) / 4, w.size(1), w.size(2)};
  TORCH_CHECK(z.H == z.NH * z.d && pre.size(2) == 4 * z.H, "slstm: pre's width is not 4 * NH * d");
  return z;
}

// The large buffers come from the buffer cache of the LSTM's compiled extension
// (lstmkit/backends/compiled/csrc/buffers.h) once the loader has handed its address over
// (use_buffer_cache): a training loop then reuses the last step's blocks instead of taking
// a page fault on every 4 KiB page of them at every step. Else at::empty.
using EmptyFn = at::Tensor (*)(at::IntArrayRef, const at::TensorOptions&);
std::atomic<EmptyFn> cache_empty{nullptr};

at::Tensor buffer(at::IntArrayRef shape, const at::TensorOptions& o) {
  const EmptyFn f = cache_empty.load(std::memory_order_acquire);
  return f != nullptr ? f(shape, o) : at::empty(shape, o);
}

}  // namespace

void use_buffer_cache(int64_t address) {
  cache_empty.store(reinterpret_cast<EmptyFn>(address), std::memory_order_release);
}

// Returns [out (T, B, H), h_n, c_n, n_n, m_n (B, H)] and, with save, the buffers
// [hs, cs, ns, ms (T + 1, B, H), raw (T, B, 4H)] the backward needs.
std::vector<at::Tensor> slstm_forward(const at::Tensor& pre_in, const at::Tensor& w_in,
                                      const at::Tensor& h0, const at::Tensor& c0, const at::Tensor& n0,
                                      const at::Tensor& m0, const c10::optional<at::Tensor>& mask_in,
                                      int64_t mode, bool save) {
  const at::Tensor pre = pre_in.contiguous();
  const at::Tensor w = w_in.contiguous();
  const Sizes z = sizes_of(pre, w);
  const at::Tensor w_t = w.transpose(2, 3).contiguous();
  const int64_t rows = save ? z.T + 1 : 2;
  auto opts = pre.options();
  at::Tensor hs = buffer({rows, z.B, z.H}, opts), cs = buffer({rows, z.B, z.H}, opts);
  at::Tensor ns = buffer({rows, z.B, z.H}, opts), ms = buffer({rows, z.B, z.H}, opts);
  hs[0].copy_(h0); cs[0].copy_(c0); ns[0].copy_(n0); ms[0].copy_(m0);
  at::Tensor out = buffer({z.T, z.B, z.H}, opts);
  at::Tensor raw = save ? buffer({z.T, z.B, 4 * z.H}, opts) : at::empty({0}, opts);
  at::Tensor mask;
  if (mask_in.has_value() && mask_in->defined()) mask = mask_in->to(at::kBool).contiguous();
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "slstm_forward", [&] {
    forward_loop<scalar_t>(pre.data_ptr<scalar_t>(), w_t.data_ptr<scalar_t>(),
                           mask.defined() ? mask.data_ptr<bool>() : nullptr, out.data_ptr<scalar_t>(),
                           hs.data_ptr<scalar_t>(),
                           cs.data_ptr<scalar_t>(), ns.data_ptr<scalar_t>(), ms.data_ptr<scalar_t>(),
                           save ? raw.data_ptr<scalar_t>() : nullptr, z, static_cast<int>(mode), save);
  });
  const int64_t last = save ? z.T : (z.T % 2);
  std::vector<at::Tensor> res{out};
  res.push_back(hs[last].clone());
  res.push_back(cs[last].clone());
  res.push_back(ns[last].clone());
  res.push_back(ms[last].clone());
  if (save) {
    res.push_back(hs); res.push_back(cs); res.push_back(ns); res.push_back(ms); res.push_back(raw);
  }
  return res;
}

// The loop back through time. saved = [hs, cs, ns, ms, raw] from a saving forward; dout
// (T, B, H) and dhn, dcn, dnn, dmn (B, H) may be undefined (no gradient). Returns
// [d pre (T, B, 4H), d weight_hh (4, NH, d, d), dh0, dc0, dn0, dm0 (B, H)].
std::vector<at::Tensor> slstm_backward(const at::Tensor& w_in, const c10::optional<at::Tensor>& mask_in,
                                       const std::vector<at::Tensor>& saved,
                                       const c10::optional<at::Tensor>& dout_in,
                                       const c10::optional<at::Tensor>& dhn,
                                       const c10::optional<at::Tensor>& dcn,
                                       const c10::optional<at::Tensor>& dnn,
                                       const c10::optional<at::Tensor>& dmn, int64_t mode) {
  TORCH_CHECK(saved.size() == 5, "slstm_backward: expected the 5 buffers of a saving forward");
  const at::Tensor w = w_in.contiguous();
  const at::Tensor hs = saved[0].contiguous(), cs = saved[1].contiguous(), ns = saved[2].contiguous();
  const at::Tensor ms = saved[3].contiguous(), raw = saved[4].contiguous();
  const Sizes z = sizes_of(raw, w);
  auto opts = raw.options();
  auto start = [&](const c10::optional<at::Tensor>& g) {
    return (g.has_value() && g->defined()) ? g->contiguous().clone() : at::zeros({z.B, z.H}, opts);
  };
  at::Tensor dh = start(dhn), dc = start(dcn), dn = start(dnn), dm = start(dmn);
  at::Tensor dout;
  if (dout_in.has_value() && dout_in->defined()) dout = dout_in->contiguous();
  at::Tensor mask;
  if (mask_in.has_value() && mask_in->defined()) mask = mask_in->to(at::kBool).contiguous();
  at::Tensor draw = buffer({z.T, z.B, 4 * z.H}, opts);
  AT_DISPATCH_FLOATING_TYPES(raw.scalar_type(), "slstm_backward", [&] {
    backward_loop<scalar_t>(w.data_ptr<scalar_t>(), mask.defined() ? mask.data_ptr<bool>() : nullptr,
                            hs.data_ptr<scalar_t>(), cs.data_ptr<scalar_t>(), ns.data_ptr<scalar_t>(),
                            ms.data_ptr<scalar_t>(), raw.data_ptr<scalar_t>(),
                            dout.defined() ? dout.data_ptr<scalar_t>() : nullptr, dh.data_ptr<scalar_t>(),
                            dc.data_ptr<scalar_t>(), dn.data_ptr<scalar_t>(), dm.data_ptr<scalar_t>(),
                            draw.data_ptr<scalar_t>(), z, static_cast<int>(mode));
  });
  // d w[g, k, o, i] = sum over (t, b) of draw[t, b, g, k, o] * h_{t-1}[b, k, i]: one batched GEMM
  const int64_t N = z.T * z.B;
  at::Tensor dr = buffer({z.NH, N, 4 * z.d}, opts);
  dr.view({z.NH, N, 4, z.d}).copy_(draw.view({N, 4, z.NH, z.d}).permute({2, 0, 1, 3}));
  at::Tensor hp = buffer({z.NH, N, z.d}, opts);
  hp.copy_(hs.narrow(0, 0, z.T).reshape({N, z.NH, z.d}).permute({1, 0, 2}));
  at::Tensor dw = at::bmm(dr.transpose(1, 2), hp).view({z.NH, 4, z.d, z.d}).permute({1, 0, 2, 3}).contiguous();
  return {draw, dw, dh, dc, dn, dm};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "lstmkit.xlstm: the sLSTM recurrence in C++ (forward and backward loops)";
  m.def("forward", &slstm_forward, "the sLSTM forward loop", py::call_guard<py::gil_scoped_release>());
  m.def("backward", &slstm_backward, "the sLSTM loop back through time",
        py::call_guard<py::gil_scoped_release>());
  m.def("use_buffer_cache", &use_buffer_cache,
        "take large buffers from this at::Tensor (*)(IntArrayRef, const TensorOptions&) "
        "(the compiled LSTM extension's cached_empty_address())");
}
