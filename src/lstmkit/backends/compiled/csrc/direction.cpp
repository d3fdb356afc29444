// Direction: tensors in, raw loops (recurrence.h, backward.h) run, tensors out.
// Shapes: T time, B batch, H hidden, P = proj_size or H, G = n_gates * H.
#include "direction.h"

#include "buffers.h"

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <ATen/TensorOperators.h>

#include "backward.h"

#include <utility>

namespace lstmkit {

namespace {

at::Tensor opt(const OptTensor& t) { return t.has_value() ? *t : at::Tensor(); }

// contiguous, or undefined
at::Tensor cont(const OptTensor& t) {
  return t.has_value() && t->defined() ? t->contiguous() : at::Tensor();
}

template <typename T>
T* ptr(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// A zoneout weight tensor (T, B, F): the eval-mode one is a constant expanded with
// zero strides (a dimension of size 1 may keep its stride), which is passed as one
// value instead of being materialised.
at::Tensor zone(const OptTensor& z, bool& is_const) {
  is_const = false;
  if (!z.has_value() || !z->defined()) return at::Tensor();
  bool all_zero = true;
  for (int64_t d = 0; d < z->dim(); ++d) all_zero = all_zero && (z->stride(d) == 0 || z->size(d) == 1);
  if (all_zero) {
    is_const = true;
    return *z;
  }
  return z->contiguous();
}

}  // namespace

int64_t Direction::hidden() const {
  const int64_t G = gates();
  if (mode == kLSTM) return coupled ? G / 3 : G / 4;
  if (mode == kGRU) return G / 3;
  return G;
}

Direction::Direction(int64_t mode_, bool peephole_, bool coupled_, double clip_, bool ln_cell_,
                     at::Tensor gx_, at::Tensor h0_, OptTensor c0_, at::Tensor w_hh_,
                     OptTensor b_hh_, OptTensor w_hr_, OptTensor ln_w_, OptTensor ln_b_,
                     OptTensor p_i_, OptTensor p_f_, OptTensor p_o_, OptTensor lnc_w_,
                     OptTensor lnc_b_, OptTensor rec_mask_, OptTensor zone_h_,
                     OptTensor zone_c_, OptTensor mask_, OptTensor ln_x_w_,
                     OptTensor ln_x_b_, OptTensor b_x_)
    : mode(mode_), peephole(peephole_), coupled(coupled_), ln_cell(ln_cell_), clip(clip_) {
  TORCH_CHECK(gx_.dim() == 3, "gx must be (T, B, G)");
  TORCH_CHECK(gx_.scalar_type() == at::kFloat || gx_.scalar_type() == at::kDouble,
              "the compiled recurrence runs float32 and float64");
  gx = gx_.contiguous();
  h0 = h0_.contiguous();
  c0 = cont(c0_);
  w_hh = w_hh_.contiguous();
  b_hh = cont(b_hh_);
  w_hr = cont(w_hr_);
  ln_w = cont(ln_w_);
  ln_b = cont(ln_b_);
  p_i = cont(p_i_);
  p_f = cont(p_f_);
  p_o = cont(p_o_);
  lnc_w = cont(lnc_w_);
  lnc_b = cont(lnc_b_);
  rec_mask = cont(rec_mask_);
  ln_x_w = cont(ln_x_w_);
  ln_x_b = cont(ln_x_b_);
  b_x = cont(b_x_);
  zone_h = opt(zone_h_);
  zone_c = opt(zone_c_);
  if (mask_.has_value() && mask_->defined()) {
    mask = mask_->reshape({gx.size(0), gx.size(1)}).to(at::kByte).contiguous();
  }
  TORCH_CHECK(h0.size(0) == gx.size(1) && h0.size(1) == w_hh.size(1), "h0 must be (B, P)");
  TORCH_CHECK(w_hh.size(0) == gx.size(2), "W_hh must be (G, P)");
  TORCH_CHECK(mode != kLSTM || c0.defined(), "the LSTM needs c0");
}

namespace {

// (buffer, shape) of what a saving forward keeps, in order; see direction.h
template <typename F>
void for_each_buffer(Direction& d, F&& f) {
  const int64_t T = d.steps(), B = d.batch(), G = d.gates(), H = d.hidden(), P = d.hsize();
  const bool lstm = d.mode == kLSTM;
  const bool plain = !(d.peephole || d.coupled || d.ln_cell || d.clip >= 0);
  f(d.hs, std::vector<int64_t>{T + 1, B, P});
  f(d.act, std::vector<int64_t>{T, B, G});
  if (lstm) {
    f(d.cs, std::vector<int64_t>{T + 1, B, H});
    f(d.tc, std::vector<int64_t>{T, B, H});
    if (!plain) f(d.craw, std::vector<int64_t>{T, B, H});
    if (d.ln_cell) f(d.cstat, std::vector<int64_t>{T, B, 2});
  }
  if (d.ln_w.defined()) {
    f(d.a_hat, std::vector<int64_t>{T, B, G});
    f(d.rstat, std::vector<int64_t>{T, B});
  }
  if (d.w_hr.defined()) f(d.hraw, std::vector<int64_t>{T, B, H});
  if (d.mode == kGRU) f(d.ghn, std::vector<int64_t>{T, B, H});
  if (d.ln_x_w.defined()) f(d.xstat, std::vector<int64_t>{T, B, 2});
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

}  // namespace

template <typename T>
static Loop<T> make_loop(const Direction& d, bool save) {
  Loop<T> L;
  L.cell.mode = int(d.mode);
  L.cell.peephole = d.peephole;
  L.cell.coupled = d.coupled;
  L.cell.ln_cell = d.ln_cell;
  L.cell.has_clip = d.clip >= 0;
  L.cell.clip = T(d.clip);
  L.cell.p_i = ptr<T>(d.p_i);
  L.cell.p_f = ptr<T>(d.p_f);
  L.cell.p_o = ptr<T>(d.p_o);
  L.cell.lnc_w = ptr<T>(d.lnc_w);
  L.cell.lnc_b = ptr<T>(d.lnc_b);
  L.steps = d.steps();
  L.B = d.batch();
  L.G = d.gates();
  L.H = d.hidden();
  L.P = d.hsize();
  L.save = save;
  L.gx = ptr<T>(d.gx);
  L.lnx_w = ptr<T>(d.ln_x_w);
  L.xbias = ptr<T>(d.xbias);
  L.w_hh = ptr<T>(d.w_hh);
  L.w_hr = ptr<T>(d.w_hr);
  L.ln_w = ptr<T>(d.ln_w);
  L.rec_mask = ptr<T>(d.rec_mask);
  L.mask = d.mask.defined() ? d.mask.data_ptr<uint8_t>() : nullptr;
  return L;
}

template <typename T>
void Direction::run_forward(bool save, std::vector<at::Tensor>& res) {
  if (ln_x_w.defined()) {
    xbias = ln_x_b.defined() ? ln_x_b.clone() : at::zeros_like(ln_x_w);
    if (b_x.defined()) xbias.add_(b_x);
  }
  Loop<T> L = make_loop<T>(*this, save);
  const int64_t S = save ? L.steps : 1, HS = save ? L.steps + 1 : 2;
  const int64_t B = L.B, H = L.H, P = L.P, G = L.G;
  const bool lstm = mode == kLSTM;
  auto o = gx.options();
  zone_h = zone(zone_h, L.zh_const);
  zone_c = zone(zone_c, L.zc_const);
  L.zone_h = ptr<T>(zone_h);
  L.zone_c = ptr<T>(zone_c);
  zero_g = at::zeros({G}, o);
  bias = b_hh.defined() ? b_hh.clone() : at::zeros({G}, o);
  if (ln_b.defined()) bias.add_(ln_b);
  L.bias = ptr<T>(bias);
  L.zero_g = ptr<T>(zero_g);
  at::Tensor out = cached_empty({L.steps, B, P}, o);
  if (save) {  // one tensor per buffer, from the buffer cache (buffers.h)
    for_each_buffer(*this, [&](at::Tensor& buf, const std::vector<int64_t>& shape) {
      buf = cached_empty(shape, o);
    });
  } else {
    hs = at::empty({HS, B, P}, o);
    act = at::empty({S, B, G}, o);
    if (lstm) {
      cs = at::empty({HS, B, H}, o);
      tc = at::empty({S, B, H}, o);
      if (ln_cell) cstat = at::empty({S, B, 2}, o);
    }
    if (ln_w.defined()) {
      a_hat = at::empty({S, B, G}, o);
      rstat = at::empty({S, B}, o);
    }
    if (mode == kGRU) ghn = at::empty({S, B, H}, o);
    if (ln_x_w.defined()) xstat = at::empty({S, B, 2}, o);
  }
  hs[0].copy_(h0);
  if (lstm) cs[0].copy_(c0);
  L.hs = ptr<T>(hs);
  L.cs = ptr<T>(cs);
  L.tc = ptr<T>(tc);
  L.craw = ptr<T>(craw);
  L.cstat = ptr<T>(cstat);
  L.out = ptr<T>(out);
  L.act = ptr<T>(act);
  L.a_hat = ptr<T>(a_hat);
  L.rstat = ptr<T>(rstat);
  L.hraw = ptr<T>(hraw);
  L.ghn = ptr<T>(ghn);
  L.xstat = ptr<T>(xstat);
  // scratch: gh gxn (B, G), hin (B, P), hnew (B, P), cnew (B, H), hcell (B, H)
  at::Tensor work = at::empty({B * (2 * G + 2 * P + 2 * H)}, o);
  T* w = ptr<T>(work);
  L.gh = w;
  L.gxn = w + B * G;
  L.hin = L.gxn + B * G;
  L.hnew = L.hin + B * P;
  L.cnew = L.hnew + B * P;
  L.hcell = L.cnew + B * H;
  forward_loop(L);
  const int64_t last = L.hslot(L.steps);
  res = {out, hs[last].clone(), lstm ? cs[last].clone() : at::Tensor()};
}

std::vector<at::Tensor> Direction::forward(bool save) {
  std::vector<at::Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "lstmkit_forward",
                             [&] { run_forward<scalar_t>(save, res); });
  saved = save;
  if (!save) release();
  return res;
}

template <typename T>
void Direction::run_backward(const OptTensor& dout_, const OptTensor& dhn, const OptTensor& dcn,
                             const std::vector<bool>& need, std::vector<at::Tensor>& res) {
  Loop<T> L = make_loop<T>(*this, true);
  // kept in the members (a materialised weight must outlive the loop)
  zone_h = zone(zone_h, L.zh_const);
  zone_c = zone(zone_c, L.zc_const);
  L.zone_h = ptr<T>(zone_h);
  L.zone_c = ptr<T>(zone_c);
  L.hs = ptr<T>(hs);
  L.cs = ptr<T>(cs);
  L.act = ptr<T>(act);
  L.tc = ptr<T>(tc);
  L.craw = ptr<T>(craw);
  L.cstat = ptr<T>(cstat);
  L.a_hat = ptr<T>(a_hat);
  L.rstat = ptr<T>(rstat);
  L.hraw = ptr<T>(hraw);
  L.ghn = ptr<T>(ghn);
  L.xstat = ptr<T>(xstat);
  const int64_t Tn = L.steps, B = L.B, H = L.H, P = L.P, G = L.G;
  const bool lstm = mode == kLSTM, gru = mode == kGRU, ln = ln_w.defined();
  auto o = gx.options();
  Back<T> K;
  at::Tensor dout = cont(dout_);
  K.dout = ptr<T>(dout);
  at::Tensor dh_a = (dhn.has_value() && dhn->defined()) ? dhn->contiguous().clone() : at::zeros({B, P}, o);
  at::Tensor dh_b = at::empty({B, P}, o);
  at::Tensor dc_a, dc_b;
  if (lstm) {
    dc_a = (dcn.has_value() && dcn->defined()) ? dcn->contiguous().clone() : at::zeros({B, H}, o);
    dc_b = at::empty({B, H}, o);
  }
  K.dh = ptr<T>(dh_a);
  K.dhnew = ptr<T>(dh_b);
  K.dc = ptr<T>(dc_a);
  K.dcp = ptr<T>(dc_b);
  at::Tensor dgx = cached_empty({Tn, B, G}, o);
  at::Tensor dgh = gru ? cached_empty({Tn, B, G}, o) : dgx;
  at::Tensor da = ln ? cached_empty({Tn, B, G}, o) : dgh;
  at::Tensor dproj = w_hr.defined() ? cached_empty({Tn, B, P}, o) : at::Tensor();
  K.dgx = ptr<T>(dgx);
  K.dgh = ptr<T>(dgh);
  K.da = ptr<T>(da);
  K.dproj = ptr<T>(dproj);
  // scratch: dP, dkh, dhd (B, P); dH, dcs, dkc, tmp, dy, chat (B, H); xhat (B, G)
  at::Tensor work = at::zeros({B * (3 * P + 6 * H + G)}, o);
  T* w = ptr<T>(work);
  K.dP = w;
  K.dkh = w + B * P;
  K.dhd = w + 2 * B * P;
  K.dH = w + 3 * B * P;
  K.dcs = K.dH + B * H;
  K.dkc = K.dcs + B * H;
  K.tmp = K.dkc + B * H;
  K.dy = K.tmp + B * H;
  K.chat = K.dy + B * H;
  K.xhat = K.chat + B * H;
  // the small parameters' gradients, summed in the loop (double)
  const bool lnx = ln_x_w.defined(), peep = lstm && peephole;
  auto dbl = o.dtype(at::kDouble);
  auto acc = [&](bool on, int64_t n) { return on ? at::zeros({n}, dbl) : at::Tensor(); };
  at::Tensor s_gh = acc((b_hh.defined() && need[4]) || (ln && need[7]), G);
  at::Tensor s_lnw = acc(ln && need[6], G);
  // the LSTM's and the RNN's gradients of gx and of the recurrent term are one buffer
  // (dgh == dgx), so the sum for the input's bias is the recurrent one's when that is on
  const bool x_sum = lnx && (need[14] || need[15]), shared_x = x_sum && !gru && s_gh.defined();
  at::Tensor s_x = shared_x ? s_gh : acc(x_sum, G);
  at::Tensor s_xw = acc(lnx && need[13], G);
  at::Tensor s_pi = acc(peep && !coupled && need[8], H);
  at::Tensor s_pf = acc(peep && need[9], H);
  at::Tensor s_po = acc(peep && need[10], H);
  at::Tensor s_cw = acc(lstm && ln_cell && need[11], H);
  at::Tensor s_cb = acc(lstm && ln_cell && need[12], H);
  K.sums = Sums{ptr<double>(s_gh),  ptr<double>(s_lnw), shared_x ? nullptr : ptr<double>(s_x),
                ptr<double>(s_xw),  ptr<double>(s_pi),  ptr<double>(s_pf),
                ptr<double>(s_po),  ptr<double>(s_cw),  ptr<double>(s_cb)};
  backward_loop(L, K);
  auto which = [](T* p, const at::Tensor& a, const at::Tensor& b) {
    return p == ptr<T>(a) ? a : b;
  };
  // each gradient its own tensor: the sums are converted to the input's dtype, or copied
  // where that is already double (s_gh is the gradient of b_hh, of LN(h)'s bias and, with
  // s_x shared, of b_ih and LN(x)'s bias: an operator's outputs must not alias)
  auto as_t = [&](const at::Tensor& a) {
    if (!a.defined()) return a;
    return a.scalar_type() == gx.scalar_type() ? a.clone() : a.to(gx.scalar_type());
  };
  res.assign(16, at::Tensor());
  res[0] = need[0] ? dgx : at::Tensor();
  res[1] = need[1] ? which(K.dh, dh_a, dh_b) : at::Tensor();
  if (lstm && need[2]) res[2] = which(K.dc, dc_a, dc_b);
  const int64_t TB = Tn * B;
  if (need[3]) {
    at::Tensor hin = hs.narrow(0, 0, Tn);
    if (rec_mask.defined()) hin = hin * rec_mask;
    at::Tensor a = da.view({TB, G}), h = hin.reshape({TB, P});
    if (mask.defined()) {
      // with lengths, only the steps inside a sequence have a gradient (da is 0 on the
      // others): W_hh's gradient over those rows alone, gathered, when they are at most
      // 9 in 10 of all and h is wide enough for the GEMM saved to repay the gather
      // (P >= 256: 0.71 to 0.85 of the full-length time in training, against 0.82 to
      // 0.91 without; below, mixed; benchmarks/lengths.py's last column)
      at::Tensor rows = P >= 256 ? mask.view({TB}).nonzero().squeeze(1) : at::Tensor();
      if (rows.defined() && rows.numel() * 10 <= TB * 9) {
        a = a.index_select(0, rows);
        h = h.index_select(0, rows);
      }
    }
    res[3] = at::mm(a.t(), h);
  }
  if (b_hh.defined() && need[4]) res[4] = as_t(s_gh);
  if (w_hr.defined() && need[5]) res[5] = at::mm(dproj.view({TB, P}).t(), hraw.view({TB, H}));
  if (ln && need[6]) res[6] = as_t(s_lnw);
  if (ln && need[7]) res[7] = as_t(s_gh);
  res[8] = as_t(s_pi);
  res[9] = as_t(s_pf);
  res[10] = as_t(s_po);
  res[11] = as_t(s_cw);
  res[12] = as_t(s_cb);
  if (lnx) {
    res[13] = as_t(s_xw);
    if (need[14]) res[14] = as_t(s_x);
    if (need[15] && b_x.defined()) res[15] = as_t(s_x);
  }
}

std::vector<at::Tensor> Direction::backward(OptTensor dout, OptTensor dhn, OptTensor dcn,
                                            std::vector<bool> need) {
  TORCH_CHECK(saved, "backward needs a forward that kept its buffers (save=True), once");
  TORCH_CHECK(need.size() == 16, "need has 16 flags");
  std::vector<at::Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "lstmkit_backward",
                             [&] { run_backward<scalar_t>(dout, dhn, dcn, need, res); });
  return res;
}

void Direction::release() {
  saved = false;
  hs = cs = act = tc = craw = cstat = a_hat = rstat = hraw = ghn = xstat = at::Tensor();
}


std::vector<at::Tensor> Direction::buffers() {
  std::vector<at::Tensor> res;
  for_each_buffer(*this, [&](at::Tensor& buf, const std::vector<int64_t>&) { res.push_back(buf); });
  return res;
}

void Direction::attach(const std::vector<at::Tensor>& bufs) {
  size_t k = 0;
  for_each_buffer(*this, [&](at::Tensor& buf, const std::vector<int64_t>& shape) {
    TORCH_CHECK(k < bufs.size() && bufs[k].sizes() == at::IntArrayRef(shape) &&
                    bufs[k].scalar_type() == gx.scalar_type(),
                "lstmkit: saved buffer ", k, " does not match this direction (expected shape ",
                at::IntArrayRef(shape), ")");
    buf = bufs[k++].contiguous();
  });
  TORCH_CHECK(k == bufs.size(), "lstmkit: expected ", k, " saved buffers, got ", bufs.size());
}

namespace {

at::Tensor or_empty(const at::Tensor& t, const at::TensorOptions& o) {
  return t.defined() ? t : at::empty({0}, o);
}

}  // namespace

std::vector<at::Tensor> forward_op(int64_t mode, bool peephole, bool coupled, double clip,
                                   bool ln_cell, at::Tensor gx, at::Tensor h0, OptTensor c0,
                                   at::Tensor w_hh, OptTensor b_hh, OptTensor w_hr,
                                   OptTensor ln_w, OptTensor ln_b, OptTensor p_i,
                                   OptTensor p_f, OptTensor p_o, OptTensor lnc_w,
                                   OptTensor lnc_b, OptTensor rec_mask, OptTensor zone_h,
                                   OptTensor zone_c, OptTensor mask, OptTensor ln_x_w,
                                   OptTensor ln_x_b, OptTensor b_x, bool save) {
  Direction d(mode, peephole, coupled, clip, ln_cell, gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b,
              p_i, p_f, p_o, lnc_w, lnc_b, rec_mask, zone_h, zone_c, mask, ln_x_w, ln_x_b, b_x);
  std::vector<at::Tensor> res = d.forward(save);
  auto o = d.gx.options();
  std::vector<at::Tensor> all = {res[0], res[1], or_empty(res[2], o)};
  if (save) {
    for (auto& b : d.buffers()) all.push_back(b);
  }
  return all;
}

std::vector<at::Tensor> backward_op(int64_t mode, bool peephole, bool coupled, double clip,
                                    bool ln_cell, at::Tensor gx, at::Tensor h0, OptTensor c0,
                                    at::Tensor w_hh, OptTensor b_hh, OptTensor w_hr,
                                    OptTensor ln_w, OptTensor ln_b, OptTensor p_i,
                                    OptTensor p_f, OptTensor p_o, OptTensor lnc_w,
                                    OptTensor lnc_b, OptTensor rec_mask, OptTensor zone_h,
                                    OptTensor zone_c, OptTensor mask, OptTensor ln_x_w,
                                    OptTensor ln_x_b, OptTensor b_x, std::vector<at::Tensor> saved,
                                    OptTensor dout, OptTensor dhn, OptTensor dcn,
                                    std::vector<bool> need) {
  Direction d(mode, peephole, coupled, clip, ln_cell, gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b,
              p_i, p_f, p_o, lnc_w, lnc_b, rec_mask, zone_h, zone_c, mask, ln_x_w, ln_x_b, b_x);
  TORCH_CHECK(!saved.empty(),
              "lstmkit: this backward needs the buffers of a forward run with autograd "
              "(save=True); the forward ran without it (no_grad or a graph traced without grad)");
  d.attach(saved);
  d.saved = true;
  std::vector<at::Tensor> res = d.backward(dout, dhn, dcn, need);
  auto o = d.gx.options();
  for (size_t i = 0; i < res.size(); ++i) {
    if (!res[i].defined()) {
      res[i] = at::empty({0}, o);
      continue;
    }
    for (size_t j = 0; j < i; ++j) {  // b_hh and the LN bias share one sum, for example
      if (res[j].defined() && res[j].numel() > 0 && res[j].is_alias_of(res[i])) {
        res[i] = res[i].clone();
        break;
      }
    }
  }
  return res;
}

bool uses_blas() { return have_blas(); }

int64_t set_min_block_rows(int64_t rows) { return std::exchange(min_block_rows(), rows); }

int64_t set_small_block_work(int64_t work) { return std::exchange(small_block_work(), work); }

int64_t blocks_for(int64_t B, int64_t P, int64_t G) { return row_blocks(B, P, G); }

int64_t set_small_gemm_max_rows(int64_t rows) { return std::exchange(small_gemm_max_rows(), rows); }

int64_t set_gemm_thread_work(int64_t work) {
#if LK_SMALLGEMM
  return std::exchange(gemm_thread_work(), work);
#else
  return work;
#endif
}

}  // namespace lstmkit
