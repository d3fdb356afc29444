"""Which implementation runs the sLSTM and mLSTM recurrences: the ``backend=`` argument.

- sLSTM: ``"reference"`` (the loop of torch operations in :mod:`lstmkit.xlstm.slstm_math`,
  the truth), ``"compiled"`` (the C++ loop of :mod:`lstmkit.xlstm.slstm_compiled`), and
  ``"auto"`` (default): compiled where it can run (a CPU tensor of float32 or float64, the
  extension built, and no torch.func transform, ``torch.onnx`` export or autocast in
  effect, see :func:`lstmkit.backends.active_tools`), else reference.
- mLSTM: ``"reference"`` (the layer's ``form`` in :mod:`lstmkit.xlstm.mlstm_math`),
  ``"fused"`` (:mod:`lstmkit.xlstm.mlstm_fused`: the chunkwise form with every chunk in
  one batched matmul, plain torch operations, so it runs on any device and dtype and under
  every tool), and ``"auto"`` (default): fused.

Every backend gives the reference's numbers (float32 within 1e-5 relative, float64 to
rounding) and gradients; tests/test_xlstm_backends.py checks them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.errors import InputError

SLSTM_BACKENDS = ("auto", "reference", "compiled")
MLSTM_BACKENDS = ("auto", "reference", "fused")

_BLOCKING_TOOLS = {
    "functorch": "a torch.func transform",
    "functorch_forward": "torch.func.vmap or jvp",
    "onnx_export": "torch.onnx.export",
    "autocast": "torch.autocast",
}


def check(name, kind: str) -> str:
    """``name`` if it is one of the ``kind`` ("sLSTM" or "mLSTM") backends, else one
    :class:`~lstmkit.errors.InputError` line.

    Args:
        name: the requested backend.
        kind: "sLSTM" or "mLSTM".

    Returns:
        The name.

    Raises:
        InputError: ``name`` is not a backend of ``kind``.
    """
    names = SLSTM_BACKENDS if kind == "sLSTM" else MLSTM_BACKENDS
    if name not in names:
        raise InputError(f"backend must be one of {', '.join(repr(n) for n in names)} for the "
                         f"{kind}, got {name!r}")
    return name


def compiled_unsupported(x: Tensor) -> str | None:
    """Why the compiled sLSTM cannot run on ``x`` now, or None."""
    if x.device.type != "cpu":
        return f"it runs on the CPU only, the input is on {x.device.type}"
    if x.dtype not in (torch.float32, torch.float64):
        return f"it runs float32 and float64 only, the input is {x.dtype}"
    from lstmkit.backends import active_tools

    tools = active_tools(x)
    for tool, words in _BLOCKING_TOOLS.items():
        if tool in tools:
            return f"it has no rule for {words}"
    from lstmkit.xlstm import slstm_compiled

    return slstm_compiled.reason()


def slstm_choice(requested: str, x: Tensor) -> str:
    """The sLSTM backend that runs ``x``: ``requested`` itself, or for ``"auto"`` compiled
    where it can run and reference elsewhere.

    Raises:
        InputError: "compiled" was requested where it cannot run (the reason is given).
    """
    if requested == "reference":
        return requested
    why = compiled_unsupported(x)
    if why is None:
        return "compiled"
    if requested == "compiled":
        raise InputError(f"backend='compiled' cannot run here: {why}; use backend='auto' or "
                         f"'reference'")
    return "reference"


def mlstm_choice(requested: str, x: Tensor) -> str:
    """The mLSTM backend that runs ``x``: "reference" when asked for, else "fused" (which
    runs everywhere torch does)."""
    return "reference" if requested == "reference" else "fused"


def use(module: torch.nn.Module, backend: str) -> int:
    """Set ``backend`` on every sLSTM and mLSTM layer (or block with a ``backend``
    attribute) inside ``module``; returns how many were set.

    Args:
        module: any module, e.g. an :class:`lstmkit.xlstm.xLSTMStack`.
        backend: a name valid for every such submodule ("auto" and "reference" are).

    Returns:
        The number of submodules whose backend was set.
    """
    count = 0
    for sub in module.modules():
        if hasattr(sub, "backend") and hasattr(sub, "_backend_kind"):
            sub.backend = check(backend, sub._backend_kind)
            count += 1
    return count
