"""Which implementation runs the sLSTM and mLSTM recurrences: the ``backend=`` argument.

- sLSTM: ``"reference"`` (the loop of torch operations in :mod:`lstmkit.xlstm.slstm_math`,
  the truth), ``"compiled"`` (the C++ loop of :mod:`lstmkit.xlstm.slstm_compiled`), and
  ``"auto"`` (default): compiled where it can run (a CPU tensor of float32 or float64, the
  extension built, and no torch.func transform, ``torch.onnx`` export or autocast in
  effect, see :func:`lstmkit.backends.active_tools`), else reference.
- mLSTM: ``"reference"`` (the layer's ``form`` in :mod:`lstmkit.xlstm.mlstm_math`),
  ``"fused"`` (:mod:`lstmkit.xlstm.mlstm_fused`: the chunkwise form with every chunk in
  one batched matmul, plain torch operations, so it runs on any device and dtype and under
  every tool but the ONNX exporter), and ``"auto"`` (default): fused, the reference under
  ``torch.onnx.export``.

Every backend gives the reference's numbers (float32 within 1e-5 relative, float64 to
rounding) and gradients; tests/test_xlstm_backends.py checks them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.errors import InputError
from lstmkit.xlstm import slstm_compiled  # registers its operators (the build waits for first use)

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
    """Why the compiled sLSTM cannot run on ``x`` now, or None.

    Args:
        x: the input (its device and dtype count, and the torch tools in effect).

    Returns:
        The reason, or None when it can run.
    """
    if x.device.type != "cpu":
        return f"it runs on the CPU only, the input is on {x.device.type}"
    if x.dtype not in (torch.float32, torch.float64):
        return f"it runs float32 and float64 only, the input is {x.dtype}"
    from lstmkit.backends import active_tools

    tools = active_tools(x)
    for tool, words in _BLOCKING_TOOLS.items():
        if tool in tools:
            return f"it has no rule for {words}"
    return slstm_compiled.reason()


def slstm_choice(requested: str, x: Tensor) -> str:
    """The sLSTM backend that runs ``x``: ``requested`` itself, or for ``"auto"`` compiled
    where it can run and reference elsewhere.

    Args:
        requested: "auto", "reference" or "compiled".
        x: the input.

    Returns:
        "compiled" or "reference".

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
    """The mLSTM backend that runs ``x``.

    Args:
        requested: "auto", "reference" or "fused".
        x: the input (the torch tools in effect count).

    Returns:
        "reference" when asked for, and for "auto" under ``torch.onnx.export`` (whose
        TorchScript exporter writes the fused form's chunk loop as a graph onnxruntime
        rejects); else "fused".
    """
    if requested == "reference":
        return "reference"
    if requested == "auto":
        from lstmkit.backends import active_tools

        if "onnx_export" in active_tools(x):
            return "reference"
    return "fused"


def use(module: torch.nn.Module, backend: str) -> int:
    """Set ``backend`` on every sLSTM and mLSTM layer (or block with a ``backend``
    attribute) inside ``module``; returns how many were set.

    Args:
        module: any module, e.g. an :class:`lstmkit.xlstm.xLSTMStack`.
        backend: a name valid for every such submodule ("auto" and "reference" are).

    Returns:
        The number of submodules whose backend was set.

    Raises:
        InputError: ``backend`` is not valid for one of them.
    """
    count = 0
    for sub in module.modules():
        if hasattr(sub, "backend") and hasattr(sub, "_backend_kind"):
            sub.backend = check(backend, sub._backend_kind)
            count += 1
    return count


def slstm_sequence(pre: Tensor, weight_hh: Tensor, state=None, forget_gate: str = "sigmoid",
                   mask: Tensor | None = None, backend: str = "auto") -> tuple[Tensor, tuple]:
    """The sLSTM recurrence over T steps on the chosen backend (what the sLSTM layer and
    block run).

    Args:
        pre: (T, B, 4H), W x_t + b, gates i, f, z, o.
        weight_hh: (4, NH, d, d), the block-diagonal recurrent matrix.
        state: (h, c, n, m), each (B, H); zeros when None.
        forget_gate: "sigmoid" or "exp".
        mask: (T, B) bool, False where a step is padding (the state is kept), or None.
        backend: "auto", "reference" or "compiled".

    Returns:
        (outputs (T, B, H), final state (h, c, n, m) each (B, H)).

    Raises:
        InputError: an unknown backend, or "compiled" where it cannot run.
    """
    from lstmkit.xlstm import slstm_math

    if state is None:
        state = tuple(pre.new_zeros(pre.shape[1], pre.shape[2] // 4) for _ in range(4))
    if slstm_choice(check(backend, "sLSTM"), pre) == "compiled":
        return slstm_compiled.sequence(pre, weight_hh, tuple(state), forget_gate, mask)
    return slstm_math.sequence(pre, weight_hh, tuple(state), forget_gate, mask)


def mlstm_sequence(q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor, state=None, *,
                   form: str = "chunkwise", chunk_size: int = 64,
                   backend: str = "auto") -> tuple[Tensor, tuple]:
    """The mLSTM recurrence over T steps on the chosen backend (what the mLSTM layer and
    block run).

    Args:
        q, k, v: (B, NH, T, d); k unscaled.
        log_i, log_f: (B, NH, T), the log input and log forget gates.
        state: (C (B, NH, d, d), n (B, NH, d), m (B, NH)), zeros when None.
        form: the reference's form ("parallel", "chunkwise", "recurrent"); the fused
            backend always runs chunkwise.
        chunk_size: steps per chunk.
        backend: "auto", "reference" or "fused".

    Returns:
        (h̃ (B, NH, T, d), final state (C, n, m)).

    Raises:
        InputError: an unknown backend.
    """
    from lstmkit.xlstm import mlstm_fused, mlstm_math

    if mlstm_choice(check(backend, "mLSTM"), q) == "fused":
        return mlstm_fused.chunkwise(q, k, v, log_i, log_f, state, chunk_size=chunk_size)
    kwargs = {"chunk_size": chunk_size} if form == "chunkwise" else {}
    return mlstm_math.FORMS[form](q, k, v, log_i, log_f, state, **kwargs)
