// One direction of one layer as a Python object: built from the same tensors that
// _FusedDirection takes, `forward(save)` runs the loop, `backward(...)` the loop back
// through time and the weight gradients. The object keeps its inputs and the saved
// buffers alive between the two (it lives on the autograd context).
//
// Shapes: T time, B batch, H hidden, P = proj_size or H, G = n_gates * H.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace lstmkit {

using OptTensor = std::optional<at::Tensor>;

struct Direction {
  // cell: mode 0 LSTM, 1 GRU, 2 RNN tanh, 3 RNN relu; clip < 0 means no clip
  int64_t mode;
  bool peephole, coupled, ln_cell;
  double clip;
  // inputs
  at::Tensor gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b, p_i, p_f, p_o, lnc_w, lnc_b;
  at::Tensor rec_mask, zone_h, zone_c, mask;
  at::Tensor ln_x_w, ln_x_b, b_x;  // layer norm of gx done in the loop (gx is x W_ih^T)
  // what forward keeps for backward
  at::Tensor hs, cs, act, tc, craw, cstat, a_hat, rstat, hraw, ghn, xstat, bias, xbias, zero_g;
  bool saved = false;

  Direction(int64_t mode, bool peephole, bool coupled, double clip, bool ln_cell,
            at::Tensor gx, at::Tensor h0, OptTensor c0, at::Tensor w_hh, OptTensor b_hh,
            OptTensor w_hr, OptTensor ln_w, OptTensor ln_b, OptTensor p_i, OptTensor p_f,
            OptTensor p_o, OptTensor lnc_w, OptTensor lnc_b, OptTensor rec_mask,
            OptTensor zone_h, OptTensor zone_c, OptTensor mask, OptTensor ln_x_w,
            OptTensor ln_x_b, OptTensor b_x);

  // [output (T, B, P), h_n (B, P), c_n (B, H) or None]
  std::vector<at::Tensor> forward(bool save);

  // Gradients [gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b, p_i, p_f, p_o, lnc_w, lnc_b,
  // ln_x_w, ln_x_b, b_x] (None where not needed); `need` has the same order.
  std::vector<at::Tensor> backward(OptTensor dout, OptTensor dhn, OptTensor dcn,
                                   std::vector<bool> need);

  // Drop the saved buffers (after backward, unless the graph is retained).
  void release();

  int64_t steps() const { return gx.size(0); }
  int64_t batch() const { return gx.size(1); }
  int64_t gates() const { return gx.size(2); }
  int64_t hidden() const;
  int64_t hsize() const { return w_hh.size(1); }

 private:
  template <typename T>
  void run_forward(bool save, std::vector<at::Tensor>& res);
  template <typename T>
  void run_backward(const OptTensor& dout, const OptTensor& dhn, const OptTensor& dcn,
                    const std::vector<bool>& need, std::vector<at::Tensor>& res);
};

// One step of a layer for streaming inference (no autograd): the input projection,
// the recurrence and the cell in one call. zone_c / zone_h are eval-mode zoneout rates.
// Returns [h_1 (B, P), c_1 (B, H) or None].
std::vector<at::Tensor> step(int64_t mode, bool peephole, bool coupled, double clip,
                             bool ln_cell, const at::Tensor& x, const at::Tensor& h,
                             OptTensor c, const at::Tensor& w_ih, OptTensor b_ih,
                             OptTensor ln_ih_w, OptTensor ln_ih_b, const at::Tensor& w_hh,
                             OptTensor b_hh, OptTensor w_hr, OptTensor ln_w, OptTensor ln_b,
                             OptTensor p_i, OptTensor p_f, OptTensor p_o, OptTensor lnc_w,
                             OptTensor lnc_b, double zone_c, double zone_h);

bool uses_blas();

}  // namespace lstmkit
