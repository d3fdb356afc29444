// The input projection of a narrow input and its gradient (projection.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace lstmkit {

// x (R, I) W^T + b: W (G, I), b (G,) or none; float32 or float64. Returns (R, G).
at::Tensor narrow_project(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& b);

// The gradients of narrow_project from d (R, G): [dx (R, I) or undefined when !need_x,
// dW (G, I), db (G,)]. dW and db are summed in double, over blocks of rows in a fixed
// order (the same numbers on any number of threads).
std::vector<at::Tensor> narrow_project_backward(const at::Tensor& d, const at::Tensor& x,
                                                const at::Tensor& w, bool need_x);

}  // namespace lstmkit
