// One direction of one layer: built from the same tensors that _FusedDirection takes,
// `forward(save)` runs the loop, `backward(...)` the loop back through time and the
// weight gradients. What forward keeps for backward is a list of tensors (buffers(),
// their shapes mirrored in Python for the fake kernels), so the functional ops
// `forward_op` / `backward_op` below hand them to torch's autograd as ordinary tensors:
// no object survives between the two calls.
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

  // The buffers a saving forward keeps, and setting them from such a list, in this
  // order: hs (T+1, B, P), act (T, B, G); LSTM: cs (T+1, B, H), tc (T, B, H), craw
  // (T, B, H) unless the cell is plain, cstat (T, B, 2) with ln_cell; recurrent LN: a_hat
  // (T, B, G), rstat (T, B); projection: hraw (T, B, H); GRU: ghn (T, B, H); LN of the
  // input: xstat (T, B, 2). lstmkit.backends.compiled.function.saved_shapes mirrors it.
  std::vector<at::Tensor> buffers();
  void attach(const std::vector<at::Tensor>& bufs);

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

// The functional form (what the torch.library ops call): forward returns
// [out (T, B, P), h_n (B, P), c_n (B, H) or empty, saved buffers... (none when
// save=false)]; backward takes those buffers and returns the 16 gradients of Direction::backward,
// empty (0 elements) where not needed, no two of them sharing memory.
std::vector<at::Tensor> forward_op(int64_t mode, bool peephole, bool coupled, double clip,
                                   bool ln_cell, at::Tensor gx, at::Tensor h0, OptTensor c0,
                                   at::Tensor w_hh, OptTensor b_hh, OptTensor w_hr,
                                   OptTensor ln_w, OptTensor ln_b, OptTensor p_i,
                                   OptTensor p_f, OptTensor p_o, OptTensor lnc_w,
                                   OptTensor lnc_b, OptTensor rec_mask, OptTensor zone_h,
                                   OptTensor zone_c, OptTensor mask, OptTensor ln_x_w,
                                   OptTensor ln_x_b, OptTensor b_x, bool save);

std::vector<at::Tensor> backward_op(int64_t mode, bool peephole, bool coupled, double clip,
                                    bool ln_cell, at::Tensor gx, at::Tensor h0, OptTensor c0,
                                    at::Tensor w_hh, OptTensor b_hh, OptTensor w_hr,
                                    OptTensor ln_w, OptTensor ln_b, OptTensor p_i,
                                    OptTensor p_f, OptTensor p_o, OptTensor lnc_w,
                                    OptTensor lnc_b, OptTensor rec_mask, OptTensor zone_h,
                                    OptTensor zone_c, OptTensor mask, OptTensor ln_x_w,
                                    OptTensor ln_x_b, OptTensor b_x, std::vector<at::Tensor> saved,
                                    OptTensor dout, OptTensor dhn, OptTensor dcn,
                                    std::vector<bool> need);

bool uses_blas();

// Set the fewest rows a row block of the loops may have (0: never split the batch);
// returns the previous value. For benchmarks/row_blocks.py.
int64_t set_min_block_rows(int64_t rows);

// Set the most multiply-adds of a block's per-step GEMM at which blocks of fewer rows
// than min_block_rows (down to 4) are used (0: never); returns the previous value. For
// benchmarks/row_blocks.py.
int64_t set_small_block_work(int64_t work);

// How many row blocks the loops split a batch of B rows of width P with G gate rows into
// on this thread pool (see recurrence.h); the backend deals a batch sorted by length
// over them.
int64_t blocks_for(int64_t B, int64_t P, int64_t G);

// Set the least work (B N K multiply-adds) at which a step's small-batch GEMM runs on
// threads; returns the previous value. For benchmarks/gemm_settings.py.
int64_t set_gemm_thread_work(int64_t work);

// Set the most rows (per row block) for which the loops use their own panel GEMM rather
// than MKL's; returns the previous value. For benchmarks/gemm_settings.py.
int64_t set_small_gemm_max_rows(int64_t rows);

}  // namespace lstmkit
