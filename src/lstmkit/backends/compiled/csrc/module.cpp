// Python bindings of the compiled recurrence (lstmkit.backends.compiled).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "buffers.h"
#include "direction.h"
#include "projection.h"

namespace py = pybind11;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "lstmkit: the LSTM/GRU/RNN recurrence in C++ (forward and backward loops)";
  // the functional ops behind lstmkit::compiled_forward / compiled_backward
  // (lstmkit/backends/compiled/function.py registers them with torch.library)
  m.def("forward", &lstmkit::forward_op, "one direction's forward loop",
        py::call_guard<py::gil_scoped_release>());
  m.def("backward", &lstmkit::backward_op, "one direction's loop back through time",
        py::call_guard<py::gil_scoped_release>());
  m.def("step", &lstmkit::step, "one streaming inference step of one layer");
  m.def("uses_blas", &lstmkit::uses_blas, "whether the GEMMs call the BLAS directly");
  m.def("set_min_block_rows", &lstmkit::set_min_block_rows,
        "the fewest rows of a row block (0: one block); returns the previous value");
  m.def("set_gemm_thread_work", &lstmkit::set_gemm_thread_work,
        "the least multiply-adds at which a step's small-batch GEMM is threaded; returns the previous value");
  m.def("set_small_gemm_max_rows", &lstmkit::set_small_gemm_max_rows,
        "the most rows a block's GEMM runs on the panel kernel (else MKL); returns the previous value");
  m.def("cache_info", &lstmkit::cache_info,
        "the buffer cache: [idle bytes, idle blocks, limit, blocks reused, blocks allocated]");
  m.def("set_cache_limit", &lstmkit::set_cache_limit,
        "the most idle bytes the buffer cache keeps (0: off); returns the previous limit");
  m.def("empty_cache", &lstmkit::empty_cache, "free the buffer cache's idle blocks; returns the bytes");
  m.def("cached_empty_address",
        [] { return reinterpret_cast<int64_t>(&lstmkit::cached_empty); },
        "the address of cached_empty, at::Tensor (*)(IntArrayRef, const TensorOptions&), for "
        "the sLSTM's extension to share the buffer cache");
  m.def("set_small_block_work", &lstmkit::set_small_block_work,
        "the most multiply-adds of a block's step at which blocks of 4 or more rows are used (0: off); returns the previous value");
  m.def("narrow_project", &lstmkit::narrow_project, "x (R, I) W^T + b for a narrow input, one pass",
        py::call_guard<py::gil_scoped_release>());
  m.def("narrow_project_backward", &lstmkit::narrow_project_backward,
        "[dx or None, dW, db] of narrow_project from its gradient, one pass",
        py::call_guard<py::gil_scoped_release>());
  m.def("row_blocks", &lstmkit::blocks_for,
        "how many row blocks the loops split a batch of B rows of width P, G gate rows into (this thread pool)");
}
