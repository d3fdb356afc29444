// The gate math of one step for one batch row, forward and backward: the C++ twins of
// lstmkit/cells/{lstm,gru,rnn}.py (same equations, same saved quantities). Each is a few
// `omp simd` loops over the row, fused so a row is read and written once per step.
//
// Shapes (one row): H hidden, G = n_gates * H. `pre` holds the pre-activations of the
// additive cells (gx + gh + biases); the LSTM writes its activations over them.
#pragma once

#include "kernels.h"

namespace lstmkit {

enum Mode : int { kLSTM = 0, kGRU = 1, kRNNTanh = 2, kRNNRelu = 3 };

template <typename T>
struct CellOpts {
  int mode = kLSTM;
  bool peephole = false, coupled = false, ln_cell = false, has_clip = false;
  T clip = 0;
  const T *p_i = nullptr, *p_f = nullptr, *p_o = nullptr;  // (H,) peephole weights
  const T *lnc_w = nullptr, *lnc_b = nullptr;              // (H,) LN(c) gain and bias
  bool plain() const { return !(peephole || coupled || ln_cell || has_clip); }
};

// ---- LSTM ------------------------------------------------------------------------------
// Plain cell: reads the pre-activations from gx + gh + bias directly (one pass).
template <typename T>
inline void lstm_plain_fwd(int64_t H, const T* gx, const T* gh, const T* bias, const T* cp,
                           T* act, T* c, T* tc, T* h) {
  LK_SIMD
  for (int64_t j = 0; j < H; ++j) {
    T i = lk_sigmoid(gx[j] + gh[j] + bias[j]);
    T f = lk_sigmoid(gx[H + j] + gh[H + j] + bias[H + j]);
    T g = lk_tanh(gx[2 * H + j] + gh[2 * H + j] + bias[2 * H + j]);
    T o = lk_sigmoid(gx[3 * H + j] + gh[3 * H + j] + bias[3 * H + j]);
    T cn = f * cp[j] + i * g;
    T t = lk_tanh(cn);
    act[j] = i;
    act[H + j] = f;
    act[2 * H + j] = g;
    act[3 * H + j] = o;
    c[j] = cn;
    tc[j] = t;
    h[j] = o * t;
  }
}

// Cell with options; `act` holds the pre-activations on entry. `craw` gets c_t before
// the clip (what backward needs to rebuild the clip's mask), `c` the clipped c_t,
// `cstat` the mean and 1/std of c_t when ln_cell.
template <typename T, bool peep>
inline void lstm_opts_fwd_(const CellOpts<T>& o_, int64_t H, const T* cp, T* act, T* craw,
                           T* c, T* tc, T* cstat, T* h) {
  T *ai, *af, *ag, *ao;
  if (o_.coupled) {
    ai = nullptr, af = act, ag = act + H, ao = act + 2 * H;
  } else {
    ai = act, af = act + H, ag = act + 2 * H, ao = act + 3 * H;
  }
  // Struct fields into locals and `peep` a template argument: loads through o_, or
  // loads under a condition, inside the loops keep GCC from vectorising them.
  const T *p_i = o_.p_i, *p_f = o_.p_f, *p_o = o_.p_o;
  if (o_.coupled) {
    LK_SIMD
    for (int64_t j = 0; j < H; ++j) {
      T f = lk_sigmoid(af[j] + (peep ? p_f[j] * cp[j] : T(0)));
      T g = lk_tanh(ag[j]);
      af[j] = f;
      ag[j] = g;
      craw[j] = f * cp[j] + (T(1) - f) * g;
    }
  } else {
    LK_SIMD
    for (int64_t j = 0; j < H; ++j) {
      T f = lk_sigmoid(af[j] + (peep ? p_f[j] * cp[j] : T(0)));
      T i = lk_sigmoid(ai[j] + (peep ? p_i[j] * cp[j] : T(0)));
      T g = lk_tanh(ag[j]);
      ai[j] = i;
      af[j] = f;
      ag[j] = g;
      craw[j] = f * cp[j] + i * g;
    }
  }
  const T v = o_.has_clip ? o_.clip : T(0);
  const bool has_clip = o_.has_clip;
  LK_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T cr = craw[j];
    const T cl = cr < -v ? -v : (cr > v ? v : cr);
    const T cn = has_clip ? cl : cr;
    c[j] = cn;
    ao[j] = lk_sigmoid(ao[j] + (peep ? p_o[j] * cn : T(0)));
  }
  if (o_.ln_cell) {
    T mu, rstd;
    ln_stats(c, H, mu, rstd);
    cstat[0] = mu;
    cstat[1] = rstd;
    const T *w = o_.lnc_w, *bb = o_.lnc_b;
    LK_SIMD
    for (int64_t j = 0; j < H; ++j) {
      T t = lk_tanh((c[j] - mu) * rstd * w[j] + bb[j]);
      tc[j] = t;
      h[j] = ao[j] * t;
    }
  } else {
    LK_SIMD
    for (int64_t j = 0; j < H; ++j) {
      T t = lk_tanh(c[j]);
      tc[j] = t;
      h[j] = ao[j] * t;
    }
  }
}

template <typename T>
inline void lstm_opts_fwd(const CellOpts<T>& o_, int64_t H, const T* cp, T* act, T* craw,
                          T* c, T* tc, T* cstat, T* h) {
  if (o_.peephole) {
    lstm_opts_fwd_<T, true>(o_, H, cp, act, craw, c, tc, cstat, h);
  } else {
    lstm_opts_fwd_<T, false>(o_, H, cp, act, craw, c, tc, cstat, h);
  }
}

// Backward of the plain cell: d = dL/dh_t (H), dc = dL/dc_t from the future (H).
// Writes the pre-activation gradients `dg` (G) and dL/dc_{t-1} `dcp` (H).
template <typename T>
inline void lstm_plain_bwd(int64_t H, const T* d, const T* dc, const T* act, const T* tc,
                           const T* cp, T* dg, T* dcp) {
  LK_SIMD
  for (int64_t j = 0; j < H; ++j) {
    T i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j], t = tc[j];
    T dcn = d[j] * o * (T(1) - t * t) + dc[j];
    dg[j] = dcn * g * i * (T(1) - i);
    dg[H + j] = dcn * cp[j] * f * (T(1) - f);
    dg[2 * H + j] = dcn * i * (T(1) - g * g);
    dg[3 * H + j] = d[j] * t * o * (T(1) - o);
    dcp[j] = dcn * f;
  }
}

// Backward with options. `dy` (H) receives the gradient at the input of the output tanh
// and `chat` (H) the normalised c_t (ln_cell: the LN(c) parameters' gradients are summed
// from them); `tmp` (H) is scratch.
template <typename T, bool peep>
inline void lstm_opts_bwd_(const CellOpts<T>& o_, int64_t H, const T* d, const T* dc,
                           const T* act, const T* tc, const T* craw, const T* cstat,
                           const T* cp, T* dg, T* dcp, T* dy, T* chat, T* tmp) {
  const T *ai, *af, *ag, *ao;
  T *dgi, *dgf, *dgg, *dgo;
  if (o_.coupled) {
    ai = nullptr, af = act, ag = act + H, ao = act + 2 * H;
    dgi = nullptr, dgf = dg, dgg = dg + H, dgo = dg + 2 * H;
  } else {
    ai = act, af = act + H, ag = act + 2 * H, ao = act + 3 * H;
    dgi = dg, dgf = dg + H, dgg = dg + 2 * H, dgo = dg + 3 * H;
  }
  LK_SIMD
  for (int64_t j = 0; j < H; ++j) {
    T o = ao[j], t = tc[j];
    dgo[j] = d[j] * t * o * (T(1) - o);
    dy[j] = d[j] * o * (T(1) - t * t);
  }
  const T v = o_.has_clip ? o_.clip : T(0);
  const bool has_clip = o_.has_clip, coupled = o_.coupled;
  const T *p_i = o_.p_i, *p_f = o_.p_f, *p_o = o_.p_o;
  T* dcn = tmp;
  if (o_.ln_cell) {
    // c_hat rebuilt from the clipped c_t and the saved statistics
    const T mu = cstat[0], rstd = cstat[1];
    LK_SIMD
    for (int64_t j = 0; j < H; ++j) {
      T cn = craw[j];
      if (has_clip) cn = cn < -v ? -v : (cn > v ? v : cn);
      chat[j] = (cn - mu) * rstd;
    }
    ln_backward_row(dy, o_.lnc_w, chat, rstd, H, dcn);
  } else {
    LK_SIMD
    for (int64_t j = 0; j < H; ++j) dcn[j] = dy[j];
  }
  if (coupled) {
    LK_SIMD
    for (int64_t j = 0; j < H; ++j) {
      T x = dcn[j] + dc[j], cr = craw[j];
      if (peep) x += dgo[j] * p_o[j];
      if (has_clip) x = (cr <= v && cr >= -v) ? x : T(0);
      T f = af[j], g = ag[j], i = T(1) - f;
      T di = x * g;
      T df = (x * cp[j] - di) * f * (T(1) - f);
      dgf[j] = df;
      dgg[j] = x * i * (T(1) - g * g);
      dcp[j] = x * f + (peep ? df * p_f[j] : T(0));
    }
  } else {
    LK_SIMD
    for (int64_t j = 0; j < H; ++j) {
      T x = dcn[j] + dc[j], cr = craw[j];
      if (peep) x += dgo[j] * p_o[j];
      if (has_clip) x = (cr <= v && cr >= -v) ? x : T(0);
      T f = af[j], g = ag[j], i = ai[j];
      T di = x * g * i * (T(1) - i);
      T df = x * cp[j] * f * (T(1) - f);
      dgi[j] = di;
      dgf[j] = df;
      dgg[j] = x * i * (T(1) - g * g);
      dcp[j] = x * f + (peep ? di * p_i[j] + df * p_f[j] : T(0));
    }
  }
}

template <typename T>
inline void lstm_opts_bwd(const CellOpts<T>& o_, int64_t H, const T* d, const T* dc,
                          const T* act, const T* tc, const T* craw, const T* cstat,
                          const T* cp, T* dg, T* dcp, T* dy, T* chat, T* tmp) {
  if (o_.peephole) {
    lstm_opts_bwd_<T, true>(o_, H, d, dc, act, tc, craw, cstat, cp, dg, dcp, dy, chat, tmp);
  } else {
    lstm_opts_bwd_<T, false>(o_, H, d, dc, act, tc, craw, cstat, cp, dg, dcp, dy, chat, tmp);
  }
}

// ---- GRU -------------------------------------------------------------------------------
// ghv (G) is the recurrent term with its biases (and layer norm) applied.
template <typename T>
inline void gru_fwd(int64_t H, const T* gx, const T* ghv, const T* hp, T* act, T* hn, T* h) {
  LK_SIMD
  for (int64_t j = 0; j < H; ++j) {
    T r = lk_sigmoid(gx[j] + ghv[j]);
    T z = lk_sigmoid(gx[H + j] + ghv[H + j]);
    T hnv = ghv[2 * H + j];
    T n = lk_tanh(gx[2 * H + j] + r * hnv);
    act[j] = r;
    act[H + j] = z;
    act[2 * H + j] = n;
    hn[j] = hnv;
    h[j] = n + z * (hp[j] - n);
  }
}

template <typename T>
inline void gru_bwd(int64_t H, const T* d, const T* act, const T* hn, const T* hp, T* dgx,
                    T* dgh, T* dh_direct) {
  LK_SIMD
  for (int64_t j = 0; j < H; ++j) {
    T r = act[j], z = act[H + j], n = act[2 * H + j];
    T dn = d[j] * (T(1) - z) * (T(1) - n * n);
    T dr = dn * hn[j] * r * (T(1) - r);
    T dz = d[j] * (hp[j] - n) * z * (T(1) - z);
    dgx[j] = dr;
    dgx[H + j] = dz;
    dgx[2 * H + j] = dn;
    dgh[j] = dr;
    dgh[H + j] = dz;
    dgh[2 * H + j] = dn * r;
    dh_direct[j] = d[j] * z;
  }
}

// ---- Elman RNN -------------------------------------------------------------------------
template <typename T>
inline void rnn_fwd(bool relu, int64_t H, const T* pre, T* act, T* h) {
  LK_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T x = pre[j];
    const T r = x > T(0) ? x : T(0);
    const T v = relu ? r : lk_tanh(x);
    act[j] = v;
    h[j] = v;
  }
}

template <typename T>
inline void rnn_bwd(bool relu, int64_t H, const T* d, const T* act, T* dg) {
  LK_SIMD
  for (int64_t j = 0; j < H; ++j) {
    T v = act[j];
    dg[j] = relu ? (v > T(0) ? d[j] : T(0)) : d[j] * (T(1) - v * v);
  }
}

}  // namespace lstmkit
