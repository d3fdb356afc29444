// Streaming inference: one time step of one layer in one call (the input projection,
// its layer norm, the recurrence and the cell), with every buffer carved from one
// allocation, so a batch-1 step costs two small GEMMs and one pass over the row.
//
// Shapes: B batch, I input, H hidden, P = proj_size or H, G = n_gates * H.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <vector>

#include "direction.h"
#include "recurrence.h"

namespace lstmkit {

namespace {

template <typename T>
const T* ptr(const OptTensor& t) {
  return t.has_value() && t->defined() ? t->data_ptr<T>() : nullptr;
}

template <typename T>
void run_step(int64_t mode, bool peephole, bool coupled, double clip, bool ln_cell,
              const at::Tensor& x, const at::Tensor& h, const OptTensor& c,
              const at::Tensor& w_ih, const OptTensor& b_ih, const OptTensor& ln_ih_w,
              const OptTensor& ln_ih_b, const at::Tensor& w_hh, const OptTensor& b_hh,
              const OptTensor& w_hr, const OptTensor& ln_w, const OptTensor& ln_b,
              const OptTensor& p_i, const OptTensor& p_f, const OptTensor& p_o,
              const OptTensor& lnc_w, const OptTensor& lnc_b, double zone_c, double zone_h,
              std::vector<at::Tensor>& res) {
  const int64_t B = x.size(0), I = x.size(1), G = w_ih.size(0), P = w_hh.size(1);
  const bool lstm = mode == kLSTM;
  const int64_t H = lstm ? (coupled ? G / 3 : G / 4) : (mode == kGRU ? G / 3 : G);
  Loop<T> L;
  L.cell.mode = int(mode);
  L.cell.peephole = peephole;
  L.cell.coupled = coupled;
  L.cell.ln_cell = ln_cell;
  L.cell.has_clip = clip >= 0;
  L.cell.clip = T(clip);
  L.cell.p_i = ptr<T>(p_i);
  L.cell.p_f = ptr<T>(p_f);
  L.cell.p_o = ptr<T>(p_o);
  L.cell.lnc_w = ptr<T>(lnc_w);
  L.cell.lnc_b = ptr<T>(lnc_b);
  L.steps = 1, L.B = B, L.H = H, L.P = P, L.G = G, L.save = false;
  L.w_hh = w_hh.data_ptr<T>();
  L.w_hr = ptr<T>(w_hr);
  L.ln_w = ptr<T>(ln_w);
  const T zc = T(zone_c), zh = T(zone_h);
  if (zone_h > 0) L.zone_h = &zh, L.zh_const = true;
  if (lstm && zone_c > 0) L.zone_c = &zc, L.zc_const = true;
  auto o = x.options();
  // every scratch row from one per-thread buffer (no allocation once warm): gx gh act
  // a_hat gxn (B, G); hin hnew out (B, P); tc cnew hcell ghn (B, H); rstat (B);
  // cstat (B, 2); bias zeros (G)
  static thread_local std::vector<T> scratch;
  const size_t need = size_t(B * (5 * G + 3 * P + 4 * H + 3) + 2 * G);
  if (scratch.size() < need) scratch.resize(need);
  T* w = scratch.data();
  T* gx = w;
  L.gh = gx + B * G;
  L.act = L.gh + B * G;
  L.a_hat = L.act + B * G;
  L.gxn = L.a_hat + B * G;
  L.hin = L.gxn + B * G;
  L.hnew = L.hin + B * P;
  L.out = L.hnew + B * P;
  L.tc = L.out + B * P;
  L.cnew = L.tc + B * H;
  L.hcell = L.cnew + B * H;
  L.ghn = L.hcell + B * H;
  L.rstat = L.ghn + B * H;
  L.cstat = L.rstat + B;
  T* bias = L.cstat + 2 * B;
  T* zeros = bias + G;
  const T* bhh = ptr<T>(b_hh);
  const T* lnb = ptr<T>(ln_b);
  for (int64_t j = 0; j < G; ++j) {
    bias[j] = (bhh ? bhh[j] : T(0)) + (lnb ? lnb[j] : T(0));
    zeros[j] = T(0);
  }
  L.bias = bias;
  L.zero_g = zeros;
  L.gx = gx;
  // input projection: gx = [LN](x W_ih^T) + b_ih
  const at::Tensor xc = x.contiguous();
  gemm<T>(false, true, B, G, I, xc.data_ptr<T>(), I, w_ih.data_ptr<T>(), I, T(0), gx, G);
  const T* bih = ptr<T>(b_ih);
  const T* lw = ptr<T>(ln_ih_w);
  const T* lb = ptr<T>(ln_ih_b);
  for (int64_t b = 0; b < B; ++b) {
    T* row = gx + b * G;
    if (lw) {
      T mu, rstd;
      ln_stats(row, G, mu, rstd);
      LK_SIMD
      for (int64_t j = 0; j < G; ++j) row[j] = (row[j] - mu) * rstd * lw[j] + lb[j];
    }
    if (bih) {
      LK_SIMD
      for (int64_t j = 0; j < G; ++j) row[j] += bih[j];
    }
  }
  // the state read where it lies, the new state written straight into the tensors returned
  const at::Tensor hc = h.contiguous();
  L.h_in0 = hc.data_ptr<T>();
  at::Tensor h1 = at::empty({B, P}, o), c1, cc;
  L.h_out = h1.data_ptr<T>();
  if (lstm) {
    cc = c->contiguous();
    L.c_in0 = cc.data_ptr<T>();
    c1 = at::empty({B, H}, o);
    L.c_out = c1.data_ptr<T>();
  }
  forward_loop(L);
  res = {h1, c1};
}

}  // namespace

std::vector<at::Tensor> step(int64_t mode, bool peephole, bool coupled, double clip,
                             bool ln_cell, const at::Tensor& x, const at::Tensor& h,
                             OptTensor c, const at::Tensor& w_ih, OptTensor b_ih,
                             OptTensor ln_ih_w, OptTensor ln_ih_b, const at::Tensor& w_hh,
                             OptTensor b_hh, OptTensor w_hr, OptTensor ln_w, OptTensor ln_b,
                             OptTensor p_i, OptTensor p_f, OptTensor p_o, OptTensor lnc_w,
                             OptTensor lnc_b, double zone_c, double zone_h) {
  TORCH_CHECK(x.dim() == 2 && h.dim() == 2, "step takes x (B, I) and h (B, P)");
  TORCH_CHECK(mode != kLSTM || (c.has_value() && c->defined()), "the LSTM step needs c");
  // the loop reads every parameter as a dense array: a strided one (a view of a larger
  // tensor, say) is read through a contiguous copy, held here for the whole step
  for (OptTensor* t : {&b_ih, &ln_ih_w, &ln_ih_b, &b_hh, &w_hr, &ln_w, &ln_b, &p_i, &p_f, &p_o,
                       &lnc_w, &lnc_b}) {
    if (t->has_value() && (*t)->defined()) *t = (*t)->contiguous();
  }
  const at::Tensor wih = w_ih.contiguous(), whh = w_hh.contiguous();
  std::vector<at::Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstmkit_step", [&] {
    run_step<scalar_t>(mode, peephole, coupled, clip, ln_cell, x, h, c, wih, b_ih, ln_ih_w,
                       ln_ih_b, whh, b_hh, w_hr, ln_w, ln_b, p_i, p_f, p_o, lnc_w, lnc_b,
                       zone_c, zone_h, res);
  });
  return res;
}

}  // namespace lstmkit
