// Python bindings of the compiled recurrence (lstmkit.backends.compiled).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "direction.h"

namespace py = pybind11;
using lstmkit::Direction;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "lstmkit: the LSTM/GRU/RNN recurrence in C++ (forward and backward loops)";
  py::class_<Direction>(m, "Direction")
      .def(py::init<int64_t, bool, bool, double, bool, at::Tensor, at::Tensor,
                    lstmkit::OptTensor, at::Tensor, lstmkit::OptTensor, lstmkit::OptTensor,
                    lstmkit::OptTensor, lstmkit::OptTensor, lstmkit::OptTensor,
                    lstmkit::OptTensor, lstmkit::OptTensor, lstmkit::OptTensor,
                    lstmkit::OptTensor, lstmkit::OptTensor, lstmkit::OptTensor,
                    lstmkit::OptTensor, lstmkit::OptTensor, lstmkit::OptTensor,
                    lstmkit::OptTensor, lstmkit::OptTensor>())
      .def("forward", &Direction::forward, py::arg("save"),
           py::call_guard<py::gil_scoped_release>())
      .def("backward", &Direction::backward, py::call_guard<py::gil_scoped_release>())
      .def("release", &Direction::release);
  m.def("step", &lstmkit::step, "one streaming inference step of one layer");
  m.def("uses_blas", &lstmkit::uses_blas, "whether the GEMMs call the BLAS directly");
}
