// The time loops of one direction of one layer: forward (keeping what backward needs,
// when asked) and backward through time. The C++ twin of the Python loops in
// lstmkit/backends/fused.py (_FusedDirection): same inputs, same outputs, same
// gradients, with every variant (recurrent layer norm, recurrent dropout mask, zoneout,
// projection, variable lengths, and the LSTM cell options).
//
// Per step: one GEMM h_in (B, P) x W_hh^T (P, G) into a preallocated buffer, then one
// fused pass per batch row (threads over rows where that pays), then the projection GEMM
// and the zoneout / length-mask pass when those are on. No allocation inside the loop.
//
// Shapes: T time, B batch, H hidden, P = proj_size or H, G = n_gates * H.
#pragma once

#include "cells.h"

namespace lstmkit {

// Raw views of one direction's inputs and of the buffers forward keeps for backward.
template <typename T>
struct Loop {
  CellOpts<T> cell;
  int64_t steps = 0, B = 0, H = 0, P = 0, G = 0;
  bool save = false;  // keep per-step activations for backward (else ping-pong rows)
  // inputs
  const T* gx = nullptr;        // (T, B, G) input projections (raw x W_ih^T when lnx_w)
  const T* lnx_w = nullptr;     // (G,) gain of LN(W_ih x), normalised here, or null
  const T* xbias = nullptr;     // (G,) ln_ih bias + b_ih (with lnx_w)
  const T* w_hh = nullptr;      // (G, P)
  const T* w_hr = nullptr;      // (P, H) or null
  const T* bias = nullptr;      // (G,) b_hh (+ ln_b when layer norm): never null
  const T* zero_g = nullptr;    // (G,) zeros
  const T* ln_w = nullptr;      // (G,) gain of LN(W_hh h) or null
  const T* rec_mask = nullptr;  // (B, P) or null
  const T* zone_h = nullptr;    // (T, B, P), or one value when zh_const
  const T* zone_c = nullptr;    // (T, B, H), or one value when zc_const
  bool zh_const = false, zc_const = false;
  const uint8_t* mask = nullptr;  // (T, B): 1 inside the sequence
  // states and outputs: hs (T+1 or 2, B, P), cs (T+1 or 2, B, H), out (T, B, P)
  T *hs = nullptr, *cs = nullptr, *out = nullptr;
  // inference only: read the first step's state from / write the last one's to these
  const T *h_in0 = nullptr, *c_in0 = nullptr;
  T *h_out = nullptr, *c_out = nullptr;
  // saved per step (rows of T when save, else of 1)
  T* act = nullptr;    // (T, B, G) activations (LSTM i f g o; GRU r z n; RNN h)
  T* tc = nullptr;     // (T, B, H) tanh at the LSTM output
  T* craw = nullptr;   // (T, B, H) the LSTM cell's c_t before the clip (options only)
  T* cstat = nullptr;  // (T, B, 2) mean, 1/std of c_t (ln_cell)
  T* a_hat = nullptr;  // (T, B, G) normalised W_hh h (layer norm)
  T* rstat = nullptr;  // (T, B) 1/std of W_hh h (layer norm)
  T* hraw = nullptr;   // (T, B, H) h before the projection
  T* ghn = nullptr;    // (T, B, H) GRU: W_hn h + b_hn (the reset gate's operand)
  T* xstat = nullptr;  // (T, B, 2) mean, 1/std of x W_ih^T (lnx_w)
  // scratch
  T* gh = nullptr;    // (B, G)
  T* hin = nullptr;   // (B, P) h masked by recurrent dropout
  T* hnew = nullptr;  // (B, P) new h before zoneout / mask
  T* cnew = nullptr;  // (B, H)
  T* hcell = nullptr; // (B, H) the cell's h when it is projected afterwards
  T* gxn = nullptr;   // (B, G) normalised input projection (lnx_w; not the LSTM with options)

  bool lstm() const { return cell.mode == kLSTM; }
  int64_t slot(int64_t t) const { return save ? t : 0; }
  int64_t hslot(int64_t t) const { return save ? t : (t & 1); }
  T zh(int64_t t, int64_t b, int64_t j) const {
    return zh_const ? zone_h[0] : zone_h[(t * B + b) * P + j];
  }
  T zc(int64_t t, int64_t b, int64_t j) const {
    return zc_const ? zone_c[0] : zone_c[(t * B + b) * H + j];
  }
};

// torch.lerp(a, b, w): two formulas, as torch has them, so results agree to the bit
template <typename T>
inline T lerp(T a, T b, T w) {
  return (w < T(0.5) && w > T(-0.5)) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

template <typename T>
inline void finish_row(const Loop<T>& L, int64_t t, int64_t b, const T* hp, const T* cp,
                       T* hn, T* cn) {
  const bool in = L.mask == nullptr || L.mask[t * L.B + b];
  const T* hv = L.hnew + b * L.P;
  T* o = L.out + (t * L.B + b) * L.P;
  for (int64_t j = 0; j < L.P; ++j) {
    T v = hv[j];
    if (L.zone_h) v = lerp(v, hp[j], L.zh(t, b, j));
    o[j] = in ? v : T(0);
    hn[j] = in ? v : hp[j];
  }
  if (L.lstm()) {
    const T* cv = L.cnew + b * L.H;
    for (int64_t j = 0; j < L.H; ++j) {
      T v = cv[j];
      if (L.zone_c) v = lerp(v, cp[j], L.zc(t, b, j));
      cn[j] = in ? v : cp[j];
    }
  }
}

// The batch is split into blocks of rows that run the whole loop on threads of their
// own (rows never meet in the recurrence: each block does its own per-step GEMM on its
// rows), when each block has at least this many rows (or fewer where a step is small:
// small_block_work below); else one block, with threads over the panels of each step's
// GEMM and over the rows of each fused pass. One fork for the whole loop instead of two
// or three per step (benchmarks/row_blocks.py measures it against one block). The
// minimum is settable (min_block_rows; 0: one block always) so that benchmark can
// compare both in one process.
inline int64_t& min_block_rows() {
  static int64_t rows = 16;
  return rows;
}

// Blocks of fewer rows (down to kFewBlockRows) pay too where a block's step is small:
// its GEMM at most this many multiply-adds (rows x P x G), too little to share between
// threads. At 2 threads, where this takes blocks of 4 to 8 rows (B = 8 to 16, H = 96 to
// 256), 0.57 to 0.94 of one block's time; blocks of 8 rows with steps of 1.6 to 8.4
// million multiply-adds (H = 256 to 512) took 0.86 to 1.13 (python
// benchmarks/row_blocks.py; benchmarks/reports/2026-12-05-small-blocks.md; measured at 2
// threads only). Settable (set_small_block_work; 0: off) for that benchmark.
constexpr int64_t kFewBlockRows = 4;
inline int64_t& small_block_work() {
  static int64_t work = int64_t(1) << 20;
  return work;
}

// The number of row blocks for a batch of B rows of width P and G gate rows on this
// thread pool (1 inside a parallel region, where nested threads would run inline anyway).
inline int64_t row_blocks(int64_t B, int64_t P, int64_t G) {
  const int64_t least = min_block_rows();
  if (least <= 0 || at::in_parallel_region()) return 1;
  const int64_t threads = at::get_num_threads();
  int64_t n = std::min(threads, B / least);
  const int64_t m = std::min(threads, B / std::min(least, kFewBlockRows));
  if (m > n && (B + m - 1) / m * P * G <= small_block_work()) n = m;
  return std::max<int64_t>(1, n);
}

// The first row of block k of n over a batch of B: block k has ceil((B - k) / n) rows, so
// the rows a round-robin deal of the batch gives block k (ranks k, k + n, k + 2n, ...)
// are exactly its rows (lstmkit/backends/compiled/__init__.py deals the batch sorted by
// length that way, so every block holds as many long sequences as the others).
inline int64_t block_start(int64_t B, int64_t n, int64_t k) {
  const int64_t q = B / n, r = B % n;  // the first r blocks have q + 1 rows
  return k * q + std::min(k, r);
}

// f(k, r0, r1) for blocks k = 0..n-1 of rows [r0, r1), in parallel when n > 1
template <typename F>
inline void over_blocks(int64_t B, int64_t n, const F& f) {
  if (n <= 1) {
    f(int64_t(0), int64_t(0), B);
    return;
  }
  at::parallel_for(0, n, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) f(k, block_start(B, n, k), block_start(B, n, k + 1));
  });
}

// The end of the rows of [r0, r1) that step t computes: one past the last row whose
// sequence runs at step t (r1 without lengths). Rows after it have ended: their state
// is carried over and their output is 0 without a GEMM row or a cell pass, so a batch
// sorted by length (longest first in each block) skips the steps past each sequence's
// end, as torch's packed sequences do.
template <typename T>
inline int64_t active_end(const Loop<T>& L, int64_t t, int64_t r0, int64_t r1) {
  if (L.mask == nullptr) return r1;
  const uint8_t* m = L.mask + t * L.B;
  int64_t e = r1;
  while (e > r0 && !m[e - 1]) --e;
  return e;
}

// forward of the ended rows [e, r1) at step t: output 0, state carried over (what
// finish_row does for a row outside its sequence). When saving for backward, their rows
// of the saved buffers are zeros: the operator returns the buffers, so they must not
// hold whatever the memory held (and W_hr's gradient reads hraw, times a zero gradient).
template <typename T>
inline void ended_rows_fwd(const Loop<T>& L, int64_t t, int64_t e, int64_t r1, const T* hp,
                           const T* cp, T* hnx, T* cnx) {
  const int64_t B = L.B, H = L.H, P = L.P, G = L.G, n = r1 - e;
  if (n <= 0) return;
  std::memset(L.out + (t * B + e) * P, 0, sizeof(T) * n * P);
  std::memcpy(hnx + e * P, hp + e * P, sizeof(T) * n * P);
  if (L.lstm()) std::memcpy(cnx + e * H, cp + e * H, sizeof(T) * n * H);
  if (!L.save) return;
  auto zero = [&](T* buf, int64_t width) {
    if (buf != nullptr) std::memset(buf + (t * B + e) * width, 0, sizeof(T) * n * width);
  };
  zero(L.act, G);
  zero(L.tc, H);
  zero(L.craw, H);
  zero(L.cstat, 2);
  zero(L.a_hat, G);
  zero(L.rstat, 1);
  zero(L.hraw, H);
  zero(L.ghn, H);
  zero(L.xstat, 2);
}

// mean and 1/std of a row under layer norm
template <typename T>
struct Norm {
  T mu = 0, rstd = 0;
};

// act (G) = the LSTM's pre-activations, [LN](gx) + [LN](gh) + biases, in one pass: the
// input's layer norm (lnx), the recurrent term's (ln, writing its normalised row to ah)
// and the sum, each element read once
template <typename T, bool lnx, bool ln>
inline void lstm_pre_(const Loop<T>& L, const T* gx, Norm<T> nx, const T* gh, Norm<T> nh,
                      T* ah, T* act) {
  const T *wx = L.lnx_w, *xb = L.xbias, *w = L.ln_w, *bias = L.bias;
  const T mx = nx.mu, rx = nx.rstd, mh = nh.mu, rh = nh.rstd;
  LK_SIMD
  for (int64_t j = 0; j < L.G; ++j) {
    const T xv = lnx ? (gx[j] - mx) * rx * wx[j] + xb[j] : gx[j];
    if (ln) {
      const T a = (gh[j] - mh) * rh;
      ah[j] = a;
      act[j] = xv + (a * w[j] + bias[j]);
    } else {
      act[j] = xv + gh[j] + bias[j];
    }
  }
}

template <typename T>
inline void lstm_pre(const Loop<T>& L, const T* gx, Norm<T> nx, const T* gh, Norm<T> nh,
                     T* ah, T* act) {
  const bool lnx = L.lnx_w != nullptr, ln = L.ln_w != nullptr;
  if (lnx && ln) return lstm_pre_<T, true, true>(L, gx, nx, gh, nh, ah, act);
  if (lnx) return lstm_pre_<T, true, false>(L, gx, nx, gh, nh, ah, act);
  if (ln) return lstm_pre_<T, false, true>(L, gx, nx, gh, nh, ah, act);
  lstm_pre_<T, false, false>(L, gx, nx, gh, nh, ah, act);
}

// forward over rows [r0, r1) of the batch (see forward_loop)
template <typename T>
void forward_rows(const Loop<T>& L, const WeightGemm<T>& mm_hh, const WeightGemm<T>& mm_hr,
                  int64_t r0, int64_t r1) {
  const int64_t B = L.B, H = L.H, P = L.P, G = L.G;
  const bool ln = L.ln_w != nullptr, proj = L.w_hr != nullptr;
  const bool direct = !(L.zone_h || L.mask || proj);  // the cell writes the state itself
  for (int64_t t = 0; t < L.steps; ++t) {
    const bool first = t == 0 && L.h_in0, last = t == L.steps - 1 && L.h_out;
    const T* hp = first ? L.h_in0 : L.hs + L.hslot(t) * B * P;
    const T* cp = L.lstm() ? (first ? L.c_in0 : L.cs + L.hslot(t) * B * H) : nullptr;
    T* hnx = last ? L.h_out : L.hs + L.hslot(t + 1) * B * P;
    T* cnx = L.lstm() ? (last ? L.c_out : L.cs + L.hslot(t + 1) * B * H) : nullptr;
    const int64_t e = active_end(L, t, r0, r1);  // rows [e, r1) have ended
    ended_rows_fwd(L, t, e, r1, hp, cp, hnx, cnx);
    if (e == r0) continue;
    const T* hin = hp;
    if (L.rec_mask) {
      for (int64_t k = r0 * P; k < e * P; ++k) L.hin[k] = hp[k] * L.rec_mask[k];
      hin = L.hin;
    }
    mm_hh.run(e - r0, hin + r0 * P, L.gh + r0 * G);
    const int64_t s = L.slot(t);
    auto rows = [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const T* gx = L.gx + (t * B + b) * G;
        T* gh = L.gh + b * G;  // W_hh h
        T* act = L.act + (s * B + b) * G;
        T* ah = ln ? L.a_hat + (s * B + b) * G : nullptr;
        // the statistics of the input's layer norm (fused here rather than a pass of its
        // own) and of the recurrent term's
        Norm<T> nx, nh;
        if (L.lnx_w) {
          ln_stats(gx, G, nx.mu, nx.rstd);
          T* xs = L.xstat + (s * B + b) * 2;
          xs[0] = nx.mu;
          xs[1] = nx.rstd;
        }
        if (ln) {
          ln_stats(gh, G, nh.mu, nh.rstd);
          L.rstat[s * B + b] = nh.rstd;
        }
        // the LSTM with options sums its pre-activations in one pass with both
        // normalisations; the other cells get the normalised rows first
        const bool pre_fused = L.lstm() && !L.cell.plain();
        if (!pre_fused) {
          if (L.lnx_w) {
            T* gn = L.gxn + b * G;
            const T *w = L.lnx_w, *xb = L.xbias;
            const T mu = nx.mu, rstd = nx.rstd;
            LK_SIMD
            for (int64_t j = 0; j < G; ++j) gn[j] = (gx[j] - mu) * rstd * w[j] + xb[j];
            gx = gn;
          }
          if (ln) {  // made into the recurrent term in place
            const T *w = L.ln_w, *bias = L.bias;
            const T mu = nh.mu, rstd = nh.rstd;
            LK_SIMD
            for (int64_t j = 0; j < G; ++j) {
              ah[j] = (gh[j] - mu) * rstd;
              gh[j] = ah[j] * w[j] + bias[j];
            }
          } else if (L.cell.mode == kGRU) {
            const T* bias = L.bias;
            LK_SIMD
            for (int64_t j = 0; j < G; ++j) gh[j] += bias[j];
          }
        }
        // biases not yet in gh for the cells that read gh directly (layer norm and GRU
        // fold them in above; lstm_pre adds them for the LSTM with options)
        const T* bias_left = ln || L.cell.mode == kGRU ? L.zero_g : L.bias;
        T* hcell = proj ? (L.save ? L.hraw + (s * B + b) * H : L.hcell + b * H)
                        : (direct ? hnx + b * P : L.hnew + b * P);
        if (L.lstm()) {
          T* cdst = direct ? cnx + b * H : L.cnew + b * H;
          T* tc = L.tc + (s * B + b) * H;
          if (L.cell.plain()) {
            lstm_plain_fwd(H, gx, gh, bias_left, cp + b * H, act, cdst, tc, hcell);
          } else {
            lstm_pre(L, gx, nx, gh, nh, ah, act);
            T* craw = L.craw ? L.craw + (s * B + b) * H : cdst;
            T* cstat = L.cstat ? L.cstat + (s * B + b) * 2 : nullptr;
            lstm_opts_fwd(L.cell, H, cp + b * H, act, craw, cdst, tc, cstat, hcell);
          }
        } else if (L.cell.mode == kGRU) {
          gru_fwd(H, gx, gh, hp + b * P, act, L.ghn + (s * B + b) * H, hcell);
        } else {
          LK_SIMD
          for (int64_t j = 0; j < G; ++j) gh[j] = gx[j] + gh[j] + bias_left[j];
          rnn_fwd(L.cell.mode == kRNNRelu, H, gh, act, hcell);
        }
        if (direct) {
          T* o = L.out + (t * B + b) * P;
          const T* hv = hnx + b * P;
          for (int64_t j = 0; j < P; ++j) o[j] = hv[j];
        } else if (!proj) {
          finish_row(L, t, b, hp + b * P, cp ? cp + b * H : nullptr, hnx + b * P,
                     cnx ? cnx + b * H : nullptr);
        }
      }
    };
    over_rows(r0, e, 8 * G, rows);
    if (proj) {
      const T* hc = L.save ? L.hraw + s * B * H : L.hcell;
      mm_hr.run(e - r0, hc + r0 * H, L.hnew + r0 * P);
      over_rows(r0, e, 2 * (P + H), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
          finish_row(L, t, b, hp + b * P, cp ? cp + b * H : nullptr, hnx + b * P,
                     cnx ? cnx + b * H : nullptr);
      });
    }
  }
}

// Forward through time: every row block (row_blocks) runs the loop over its rows; the
// weights are packed once for all of them.
template <typename T>
void forward_loop(const Loop<T>& L) {
  const int64_t n = row_blocks(L.B, L.P, L.G), rows = (L.B + n - 1) / n;
  WeightGemm<T> mm_hh, mm_hr;  // gh = h_in W_hh^T; h = h_cell W_hr^T
  mm_hh.init(L.w_hh, L.G, L.P, true, rows, L.steps);
  if (L.w_hr) mm_hr.init(L.w_hr, L.P, L.H, true, rows, L.steps);
  over_blocks(L.B, n, [&](int64_t, int64_t r0, int64_t r1) { forward_rows(L, mm_hh, mm_hr, r0, r1); });
}

}  // namespace lstmkit
