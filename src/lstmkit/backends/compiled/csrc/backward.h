// Backward through time of one direction: the C++ twin of _FusedDirection.backward.
// Per step (t from T-1 down to 0): one pass per row folding the output gradient, the
// length mask and zoneout into dL/dh_t and dL/dc_t; the projection GEMM when on; the
// cell's backward (one fused pass per row) writing the pre-activation gradients of the
// step into (T, B, G) buffers; one GEMM dgates (B, G) x W_hh (G, P) for dL/dh_{t-1}; a
// last pass per row for recurrent dropout, zoneout and the mask. The small parameters'
// gradients are summed as the loop goes (sum_step); the weight gradients are single
// GEMMs over all steps afterwards (done by the caller, from these buffers).
//
// Shapes: T time, B batch, H hidden, P = proj_size or H, G = n_gates * H.
#pragma once

#include <utility>
#include <vector>

#include "recurrence.h"

namespace lstmkit {

// Parameter gradients summed over steps and rows inside the loop, in double, while the
// step's rows are still in cache (null where not needed).
struct Sums {
  double* gh = nullptr;   // (G) sum of d gh: b_hh, and the LN(W_hh h) bias
  double* lnw = nullptr;  // (G) sum of d gh * a_hat: the LN(W_hh h) gain
  double* x = nullptr;    // (G) sum of d gx: b_ih and the LN(W_ih x) bias (lnx; null
                          // where dgx is dgh and `gh` is on: that sum is the same)
  double* xw = nullptr;   // (G) sum of d gx * x_hat: the LN(W_ih x) gain (lnx)
  double *pi = nullptr, *pf = nullptr, *po = nullptr;  // (H) peepholes
  double *cw = nullptr, *cb = nullptr;                 // (H) LN(c) gain and bias
};

template <typename T>
struct Back {
  const T* dout = nullptr;  // (T, B, P) or null (no gradient on the output)
  T* dh = nullptr;          // (B, P) dL/dh_t from the future: holds dL/dh_0 at the end
  T* dc = nullptr;          // (B, H) likewise for c
  T* dgx = nullptr;         // (T, B, G) gradient of the input projections (raw, with lnx)
  T* dgh = nullptr;         // (T, B, G) ... from the recurrence (== dgx for additive cells)
  T* da = nullptr;          // (T, B, G) gradient of W_hh h_in (== dgh without layer norm)
  T* dproj = nullptr;       // (T, B, P) gradient of the projected h (proj only)
  Sums sums;
  // scratch rows
  T *dP, *dH, *dcs, *dkh, *dkc, *dcp, *dhd, *dhnew, *tmp, *dy, *chat, *xhat;
};

template <typename T>
inline void add_to(double* acc, const T* v, int64_t n) {
  LK_SIMD
  for (int64_t j = 0; j < n; ++j) acc[j] += double(v[j]);
}

template <typename T>
inline void add_prod(double* acc, const T* a, const T* b, int64_t n) {
  LK_SIMD
  for (int64_t j = 0; j < n; ++j) acc[j] += double(a[j]) * double(b[j]);
}

// The parameter gradients of step t from rows [r0, r1) (in order, so the sums depend on
// the row blocks only, not on the threads within a block).
template <typename T>
void sum_step(const Loop<T>& L, const Back<T>& K, int64_t t, int64_t r0, int64_t r1) {
  const int64_t B = L.B, H = L.H, G = L.G;
  const Sums& S = K.sums;
  const T v = L.cell.has_clip ? L.cell.clip : T(0);
  for (int64_t b = r0; b < r1; ++b) {
    const int64_t r = t * B + b;
    const T* dgh = K.dgh + r * G;
    const T* dgx = K.dgx + r * G;
    if (S.gh && S.lnw && S.xw && !S.x && dgh == dgx) {  // the layer-norm LSTM: one pass
      double *sg = S.gh, *sl = S.lnw, *sx = S.xw;
      const T *ah = L.a_hat + r * G, *xh = K.xhat + b * G;
      LK_SIMD
      for (int64_t j = 0; j < G; ++j) {
        const double d = double(dgh[j]);
        sg[j] += d;
        sl[j] += d * double(ah[j]);
        sx[j] += d * double(xh[j]);
      }
    } else {
      if (S.gh) add_to(S.gh, dgh, G);
      if (S.lnw) add_prod(S.lnw, dgh, L.a_hat + r * G, G);
      if (S.x) add_to(S.x, dgx, G);
      if (S.xw) add_prod(S.xw, dgx, K.xhat + b * G, G);
    }
    if (S.pi || S.pf || S.po) {
      const int64_t f0 = L.cell.coupled ? 0 : H, o0 = L.cell.coupled ? 2 * H : 3 * H;
      const T* cp = L.cs + r * H;  // c_{t-1} rows of step t
      if (S.pi) add_prod(S.pi, dgx, cp, H);
      if (S.pf) add_prod(S.pf, dgx + f0, cp, H);
      if (S.po) {
        const T* craw = L.craw + r * H;
        T* ct = K.tmp + b * H;
        const bool clip = L.cell.has_clip;
        LK_SIMD
        for (int64_t j = 0; j < H; ++j) {
          const T cr = craw[j];
          ct[j] = clip ? (cr < -v ? -v : (cr > v ? v : cr)) : cr;
        }
        add_prod(S.po, dgx + o0, ct, H);
      }
    }
    if (S.cw) add_prod(S.cw, K.dy + b * H, K.chat + b * H, H);
    if (S.cb) add_to(S.cb, K.dy + b * H, H);
  }
}

// backward of the ended rows [e, r1) at step t (active_end): their pre-activation
// gradients (and the projection's) are 0 and dL/dh, dL/dc pass to step t - 1 unchanged
template <typename T>
inline void ended_rows_bwd(const Loop<T>& L, Back<T>& K, int64_t t, int64_t e, int64_t r1) {
  const int64_t B = L.B, H = L.H, P = L.P, G = L.G;
  if (e >= r1) return;
  const size_t n = size_t(r1 - e);
  T* dgx = K.dgx + t * B * G;
  T* dgh = K.dgh + t * B * G;
  T* da = K.da + t * B * G;
  std::memset(dgx + e * G, 0, sizeof(T) * n * G);
  if (dgh != dgx) std::memset(dgh + e * G, 0, sizeof(T) * n * G);
  if (da != dgh) std::memset(da + e * G, 0, sizeof(T) * n * G);
  if (L.w_hr != nullptr) std::memset(K.dproj + (t * B + e) * P, 0, sizeof(T) * n * P);
  std::memcpy(K.dhnew + e * P, K.dh + e * P, sizeof(T) * n * P);
  if (L.lstm()) std::memcpy(K.dcp + e * H, K.dc + e * H, sizeof(T) * n * H);
}

// backward of step t over the rows [r0, e) still running then (see backward_rows)
template <typename T>
void active_rows_bwd(const Loop<T>& L, Back<T>& K, const WeightGemm<T>& mm_hh,
                     const WeightGemm<T>& mm_hr, int64_t t, int64_t r0, int64_t e) {
  const int64_t B = L.B, H = L.H, P = L.P, G = L.G;
  const bool ln = L.ln_w != nullptr, proj = L.w_hr != nullptr, lstm = L.lstm();
  const bool gru = L.cell.mode == kGRU;
  const T* hp = L.hs + t * B * P;
  const T* cp = lstm ? L.cs + t * B * H : nullptr;
  T* dPt = proj ? K.dproj + t * B * P : K.dP;
  T* dgx = K.dgx + t * B * G;
  T* dgh = K.dgh + t * B * G;
  T* da = K.da + t * B * G;
  // 1. dL/dh_t and dL/dc_t as the cell sees them
  over_rows(r0, e, 4 * (P + H), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const bool in = L.mask == nullptr || L.mask[t * B + b];
      const T* dout = K.dout ? K.dout + (t * B + b) * P : nullptr;
      for (int64_t j = 0; j < P; ++j) {
        T v = in ? K.dh[b * P + j] + (dout ? dout[j] : T(0)) : T(0);
        if (L.zone_h) {
          T k = v * L.zh(t, b, j);
          v = v - k;
          K.dkh[b * P + j] = k;
        }
        dPt[b * P + j] = v;
      }
      if (lstm) {
        for (int64_t j = 0; j < H; ++j) {
          T v = in ? K.dc[b * H + j] : T(0);
          if (L.zone_c) {
            T k = v * L.zc(t, b, j);
            v = v - k;
            K.dkc[b * H + j] = k;
          }
          K.dcs[b * H + j] = v;
        }
      }
    }
  });
  const T* dcell = dPt;  // gradient of the cell's h (B, H)
  if (proj) {
    mm_hr.run(e - r0, dPt + r0 * P, K.dH + r0 * H);
    dcell = K.dH;
  }
  // 2. the cell's backward, and the layer norm of the recurrent term
  over_rows(r0, e, 8 * G, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* d = dcell + b * H;
      const T* act = L.act + (t * B + b) * G;
      T* dg = dgx + b * G;
      if (lstm) {
        const T* tc = L.tc + (t * B + b) * H;
        if (L.cell.plain()) {
          lstm_plain_bwd(H, d, K.dcs + b * H, act, tc, cp + b * H, dg, K.dcp + b * H);
        } else {
          const T* craw = L.craw + (t * B + b) * H;
          const T* cstat = L.cstat ? L.cstat + (t * B + b) * 2 : nullptr;
          lstm_opts_bwd(L.cell, H, d, K.dcs + b * H, act, tc, craw, cstat, cp + b * H, dg,
                        K.dcp + b * H, K.dy + b * H, K.chat + b * H, K.tmp + b * H);
        }
      } else if (gru) {
        gru_bwd(H, d, act, L.ghn + (t * B + b) * H, hp + b * P, dg, dgh + b * G,
                K.dhd + b * P);
      } else {
        rnn_bwd(L.cell.mode == kRNNRelu, H, d, act, dg);
      }
      if (ln) {
        ln_backward_row(dgh + b * G, L.ln_w, L.a_hat + (t * B + b) * G, L.rstat[t * B + b],
                        G, da + b * G);
      }
      if (L.lnx_w) {  // x_hat of the input's layer norm, rebuilt from the saved stats
        const T* gx = L.gx + (t * B + b) * G;
        const T* xs = L.xstat + (t * B + b) * 2;
        const T mu = xs[0], rstd = xs[1];
        T* xh = K.xhat + b * G;
        LK_SIMD
        for (int64_t j = 0; j < G; ++j) xh[j] = (gx[j] - mu) * rstd;
      }
    }
  });
  sum_step(L, K, t, r0, e);
  if (L.lnx_w) {  // d gx through the input's layer norm, in place
    over_rows(r0, e, 4 * G, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        T* dg = dgx + b * G;
        ln_backward_row(dg, L.lnx_w, K.xhat + b * G, L.xstat[(t * B + b) * 2 + 1], G, dg);
      }
    });
  }
  // 3. dL/dh_{t-1}: through W_hh, then recurrent dropout, the direct paths and the mask
  mm_hh.run(e - r0, da + r0 * G, K.dhnew + r0 * P);
  over_rows(r0, e, 4 * (P + H), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const bool in = L.mask == nullptr || L.mask[t * B + b];
      for (int64_t j = 0; j < P; ++j) {
        const int64_t k = b * P + j;
        T v = K.dhnew[k];
        if (L.rec_mask) v *= L.rec_mask[k];
        if (gru) v += K.dhd[k];
        if (L.zone_h) v += K.dkh[k];
        if (!in) v += K.dh[k];
        K.dhnew[k] = v;
      }
      if (lstm) {
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = b * H + j;
          T v = K.dcp[k];
          if (L.zone_c) v += K.dkc[k];
          if (!in) v += K.dc[k];
          K.dcp[k] = v;
        }
      }
    }
  });
}

// backward over rows [r0, r1) of the batch (see backward_loop); K is the block's own copy
template <typename T>
void backward_rows(const Loop<T>& L, Back<T>& K, const WeightGemm<T>& mm_hh,
                   const WeightGemm<T>& mm_hr, int64_t r0, int64_t r1) {
  for (int64_t t = L.steps - 1; t >= 0; --t) {
    const int64_t e = active_end(L, t, r0, r1);  // rows [e, r1) have ended
    ended_rows_bwd(L, K, t, e, r1);
    if (e > r0) active_rows_bwd(L, K, mm_hh, mm_hr, t, r0, e);
    std::swap(K.dh, K.dhnew);
    if (L.lstm()) std::swap(K.dc, K.dcp);
  }
}

// A block's own zeroed copy of the sums that are on in `S` (storage kept in `store`).
inline Sums block_sums(const Sums& S, int64_t G, int64_t H, std::vector<std::vector<double>>& store) {
  auto own = [&](double* p, int64_t n) -> double* {
    if (p == nullptr) return nullptr;
    store.emplace_back(size_t(n), 0.0);
    return store.back().data();
  };
  return Sums{own(S.gh, G), own(S.lnw, G), own(S.x, G), own(S.xw, G), own(S.pi, H),
              own(S.pf, H), own(S.po, H), own(S.cw, H), own(S.cb, H)};
}

// acc += part, for every sum that is on
inline void add_sums(const Sums& acc, const Sums& part, int64_t G, int64_t H) {
  auto add = [](double* a, const double* p, int64_t n) {
    if (a == nullptr) return;
    for (int64_t j = 0; j < n; ++j) a[j] += p[j];
  };
  add(acc.gh, part.gh, G);
  add(acc.lnw, part.lnw, G);
  add(acc.x, part.x, G);
  add(acc.xw, part.xw, G);
  add(acc.pi, part.pi, H);
  add(acc.pf, part.pf, H);
  add(acc.po, part.po, H);
  add(acc.cw, part.cw, H);
  add(acc.cb, part.cb, H);
}

// Backward through time, in the forward's row blocks (row_blocks): each block runs the
// loop over its rows with its own copy of K (the scratch rows are per batch row, so the
// blocks never share one) and its own parameter sums, added to K's in block order.
template <typename T>
void backward_loop(const Loop<T>& L, Back<T>& K) {
  const int64_t n = row_blocks(L.B, L.P, L.G), rows = (L.B + n - 1) / n;
  WeightGemm<T> mm_hh, mm_hr;  // dh_{t-1} = da W_hh; d h_cell = d h W_hr
  mm_hh.init(L.w_hh, L.P, L.G, false, rows, L.steps);
  if (L.w_hr) mm_hr.init(L.w_hr, L.H, L.P, false, rows, L.steps);
  if (n == 1) {
    backward_rows(L, K, mm_hh, mm_hr, 0, L.B);
    return;
  }
  std::vector<std::vector<std::vector<double>>> store(static_cast<size_t>(n));
  std::vector<Sums> parts(static_cast<size_t>(n), K.sums);  // block 0 adds into K's sums directly
  for (int64_t k = 1; k < n; ++k) parts[k] = block_sums(K.sums, L.G, L.H, store[k]);
  over_blocks(L.B, n, [&](int64_t k, int64_t r0, int64_t r1) {
    Back<T> own = K;
    own.sums = parts[k];
    backward_rows(L, own, mm_hh, mm_hr, r0, r1);
  });
  for (int64_t k = 1; k < n; ++k) add_sums(K.sums, parts[k], L.G, L.H);
  if (L.steps % 2 == 1) {  // where each block's swaps of the gradient rows ended
    std::swap(K.dh, K.dhnew);
    if (L.lstm()) std::swap(K.dc, K.dcp);
  }
}

}  // namespace lstmkit
