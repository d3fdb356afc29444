"""Which implementation runs the sLSTM and mLSTM recurrences: the ``backend=`` argument.

- sLSTM: ``"reference"`` (the loop of torch operations in :mod:`lstmkit.xlstm.slstm_math`,
  the truth), ``"compiled"`` (the C++ loop of :mod:`lstmkit.xlstm.slstm_compiled`),
  ``"triton"`` (the Triton kernels of :mod:`lstmkit.xlstm.slstm_triton`), and ``"auto"``
  (default): on the CPU compiled where it can run (float32 or float64, the extension
  built, and no torch.func transform, ``torch.onnx`` export or autocast in effect, see
  :func:`lstmkit.backends.active_tools`); on CUDA triton where it can run (triton
  installed, float32 or float64, no tool in effect: the kernels are opaque to tracing);
  else reference.
- mLSTM: ``"reference"`` (the layer's ``form`` in :mod:`lstmkit.xlstm.mlstm_math`),
  ``"fused"`` (:mod:`lstmkit.xlstm.mlstm_fused`: the chunkwise form with every chunk in
  one batched matmul, plain torch operations, so it runs on any device and dtype and under
  every tool but the ONNX exporter), ``"triton"`` (:mod:`lstmkit.xlstm.mlstm_triton`), and
  ``"auto"`` (default): triton on CUDA where it can run (as for the sLSTM), else fused; the
  reference under ``torch.onnx.export``.

The Triton kernels run on CUDA tensors, or on the CPU in triton's interpreter
(``TRITON_INTERPRET=1``, for tests; ``auto`` never picks them on the CPU).

Every backend gives the reference's numbers (float32 within 1e-5 relative, float64 to
rounding) and gradients; tests/test_xlstm_backends.py checks them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.errors import InputError
from lstmkit.xlstm import slstm_compiled  # registers its operators (the build waits for first use)

SLSTM_BACKENDS = ("auto", "reference", "compiled", "triton")
MLSTM_BACKENDS = ("auto", "reference", "fused", "triton")

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


#: tools the Triton kernels are not run under: their launches are invisible to tracing and
#: export, and they have no torch.func or autocast rules
_TRITON_BLOCKING_TOOLS = {**_BLOCKING_TOOLS, "jit_trace": "torch.jit.trace",
                          "compile": "torch.compile", "export": "torch.export"}


def triton_unsupported(x: Tensor) -> str | None:
    """Why the Triton kernels cannot run on ``x`` now, or None.

    Args:
        x: the input (its device and dtype count, and the torch tools in effect).

    Returns:
        The reason, or None when they can run.
    """
    from lstmkit.xlstm import slstm_triton

    why = slstm_triton.unsupported(x)
    if why is not None:
        return why
    from lstmkit.backends import active_tools

    tools = active_tools(x)
    for tool, words in _TRITON_BLOCKING_TOOLS.items():
        if tool in tools:
            return f"the triton kernels are not run under {words}"
    return None


def _triton(requested: str, x: Tensor) -> bool:
    """Whether ``requested`` runs on triton here (raises for an explicit request that
    cannot)."""
    if requested == "triton":
        why = triton_unsupported(x)
        if why is not None:
            raise InputError(f"backend='triton' cannot run here: {why}; use backend='auto' or "
                             f"'reference'")
        return True
    return requested == "auto" and x.device.type == "cuda" and triton_unsupported(x) is None


def slstm_choice(requested: str, x: Tensor) -> str:
    """The sLSTM backend that runs ``x``: ``requested`` itself, or for ``"auto"`` compiled
    where it can run and reference elsewhere.

    Args:
        requested: "auto", "reference" or "compiled".
        x: the input.

    Returns:
        "compiled", "triton" or "reference".

    Raises:
        InputError: "compiled" or "triton" was requested where it cannot run (the reason
            is given).
    """
    if requested == "reference":
        return requested
    if _triton(requested, x):
        return "triton"
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
        requested: "auto", "reference", "fused" or "triton".
        x: the input (its device and the torch tools in effect count).

    Returns:
        "reference" when asked for, and for "auto" under ``torch.onnx.export`` (whose
        TorchScript exporter writes the fused form's chunk loop as a graph onnxruntime
        rejects); "triton" when asked for, and for "auto" on CUDA where the kernels can
        run; else "fused".

    Raises:
        InputError: "triton" was requested where it cannot run (the reason is given).
    """
    if requested == "reference":
        return "reference"
    if _triton(requested, x):
        return "triton"
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
        backend: "auto", "reference", "compiled" or "triton".

    Returns:
        (outputs (T, B, H), final state (h, c, n, m) each (B, H)).

    Raises:
        InputError: an unknown backend, or "compiled" / "triton" where it cannot run.
    """
    from lstmkit.xlstm import slstm_math

    if state is None:
        state = tuple(pre.new_zeros(pre.shape[1], pre.shape[2] // 4) for _ in range(4))
    choice = slstm_choice(check(backend, "sLSTM"), pre)
    if choice == "compiled":
        return slstm_compiled.sequence(pre, weight_hh, tuple(state), forget_gate, mask)
    if choice == "triton":
        from lstmkit.xlstm import slstm_triton

        return slstm_triton.sequence(pre, weight_hh, tuple(state), forget_gate, mask)
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
        form: the reference's form ("parallel", "chunkwise", "recurrent"); the fused and
            triton backends always run chunkwise.
        chunk_size: steps per chunk.
        backend: "auto", "reference", "fused" or "triton".

    Returns:
        (h̃ (B, NH, T, d), final state (C, n, m)).

    Raises:
        InputError: an unknown backend, or "triton" where it cannot run.
    """
    from lstmkit.xlstm import mlstm_fused, mlstm_math

    choice = mlstm_choice(check(backend, "mLSTM"), q)
    if q.shape[0] == 0:  # an empty batch: nothing to run (the chunked kernels cannot reshape it)
        B, NH, _, d = q.shape
        if state is None:
            state = (q.new_zeros(B, NH, d, d), q.new_zeros(B, NH, d), q.new_zeros(B, NH))
        return torch.zeros_like(v), tuple(state)
    if choice == "fused":
        return mlstm_fused.chunkwise(q, k, v, log_i, log_f, state, chunk_size=chunk_size)
    if choice == "triton":
        from lstmkit.xlstm import mlstm_triton

        return mlstm_triton.chunkwise(q, k, v, log_i, log_f, state, chunk_size=chunk_size)
    kwargs = {"chunk_size": chunk_size} if form == "chunkwise" else {}
    return mlstm_math.FORMS[form](q, k, v, log_i, log_f, state, **kwargs)
