"""Shared fixtures: the backend x dtype grid and the comparison helpers.

Tolerances are per dtype (habit 5): float64 1e-10, float32 2e-5, max abs error.
"""

from __future__ import annotations

import pytest
import torch

BACKENDS = ["reference", "fused", "native"]
TOL = {torch.float64: 1e-10, torch.float32: 2e-5}
DTYPES = {"f64": torch.float64, "f32": torch.float32}


def pytest_configure(config):
    # Tests check correctness on small tensors: one thread is as fast, and immune to the
    # 100x OpenMP slow-down when the cores are shared with other work.
    torch.set_num_threads(1)


def assert_close(actual, expected, dtype, what: str, scaled: bool = False) -> None:
    """Max abs error within the dtype's tolerance, with a message naming the tensor.

    ``scaled``: the tolerance is multiplied by max(1, max |expected|), for float32
    gradients of large magnitude (layer norm's 1/std amplifies rounding)."""
    assert actual is not None, f"{what}: got None"
    assert expected is not None, f"{what}: reference is None"
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    err = (actual.double() - expected.double()).abs().max().item() if actual.numel() else 0.0
    tol = TOL[dtype]
    if scaled and expected.numel():
        tol *= max(1.0, expected.abs().max().item())
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:g}"


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=list(DTYPES), ids=list(DTYPES))
def dtype(request):
    return DTYPES[request.param]


def gradcheck_layer(m: torch.nn.Module) -> bool:
    """torch.autograd.gradcheck of a float64 recurrent layer with input size 2 on a
    (4, 2, 2) batch with lengths [4, 2], against the input and every parameter; the
    random masks (dropouts, zoneout) are re-seeded so that every evaluation draws the same."""
    names = [n for n, _ in m.named_parameters()]
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)

    def f(x, *ps):
        torch.manual_seed(5)  # the same masks at every evaluation
        out, st = torch.func.functional_call(m, dict(zip(names, ps)), (x,), {"lengths": torch.tensor([4, 2])})
        return (out, *(st if isinstance(st, tuple) else (st,)))

    params = [p.detach().clone().requires_grad_() for p in m.parameters()]
    return torch.autograd.gradcheck(f, (x, *params), fast_mode=True)
