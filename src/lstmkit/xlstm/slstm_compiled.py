"""The sLSTM's time loop in C++ (``csrc/slstm.cpp``), as two torch.library operators.

``lstmkit::xlstm_slstm_forward`` runs the recurrence of :mod:`lstmkit.xlstm.slstm_math`
forward over T steps, ``lstmkit::xlstm_slstm_backward`` back through time with a
hand-written derivative of every operation of the step (the same as torch's, ties of
``maximum`` and the clamp's edge included). Both have fake kernels over symbolic shapes and
the backward is registered with :func:`torch.library.register_autograd`, so
``torch.compile(fullgraph=True)``, ``torch.export`` and ``torch.jit.trace`` see one opaque,
correct operator. Double backward (``create_graph=True``) recomputes the sequence on the
differentiable reference loop (:func:`lstmkit.xlstm.slstm_math.sequence`) and returns its
gradients with a graph: never a gradient without one.

The extension is built on first use with torch.utils.cpp_extension (ninja and a C++
compiler), cached in ``$LSTMKIT_CACHE/xlstm`` or ``~/.cache/lstmkit/xlstm`` under a name
from torch's and Python's versions, the CPU's vector extension and a hash of the flags
(``lstmkit.backends.compiled._build.vector_flags``), and rebuilt when the source changes.
Its large buffers come from the LSTM compiled backend's buffer cache, whose extension is
loaded (built if needed) with it. ``LSTMKIT_COMPILED=0`` turns it off. :func:`reason`
says why it is unavailable.

Shapes: T time, B batch, H hidden (NH heads of width d); ``pre`` (T, B, 4H) = W x + b,
``weight_hh`` (4, NH, d, d), states (B, H), ``mask`` (T, B) bool or None.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

# the checks before a build and the loading of a built module: the LSTM's compiled backend's
from lstmkit.backends.compiled import _build as compiled_build
from lstmkit.backends.compiled._build import _import, _precheck, vector_flags

SOURCE = Path(__file__).parent / "csrc" / "slstm.cpp"
MODES = {"sigmoid": 0, "exp": 1}

_module: ModuleType | None = None
_reason: str | None = None
_tried = False


def _cache_dir() -> Path:
    env = os.environ.get("LSTMKIT_CACHE")
    base = Path(env).expanduser() if env else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lstmkit"
    py = "".join(map(str, sys.version_info[:2]))
    cap = torch.backends.cpu.get_cpu_capability().lower()
    h = hashlib.sha256(" ".join(_flags()).encode()).hexdigest()[:8]  # one build per flags
    return base / "xlstm" / f"torch{torch.__version__.replace('+', '-')}-py{py}-{platform.machine()}-{cap}-{h}"


def _flags() -> list[str]:
    return ["-O3", "-DNDEBUG", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", *vector_flags()]


def _build() -> ModuleType:
    from torch.utils import cpp_extension

    name = "lstmkit_xlstm_slstm"
    build_dir = _cache_dir()
    built, stamp = build_dir / f"{name}.so", build_dir / "source.sha256"
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(_flags()).encode()).hexdigest()
    if built.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return _import(name, built)
    build_dir.mkdir(parents=True, exist_ok=True)
    print(f"lstmkit: building the compiled sLSTM recurrence (once) in {build_dir} ...",
          file=sys.stderr, flush=True)
    module = cpp_extension.load(name=name, sources=[str(SOURCE)], extra_cflags=_flags(),
                                extra_ldflags=["-fopenmp"], build_directory=str(build_dir))
    stamp.write_text(digest)
    return module


def _share_buffer_cache(module: ModuleType) -> None:
    """Let the loop take its large buffers from the buffer cache of the LSTM's compiled
    extension (``lstmkit.backends.compiled.buffer_cache``; loaded, and built if needed,
    here); where that extension cannot load, they come from at::empty (same numbers)."""
    try:
        lstm = compiled_build.load()
        address = None if lstm is None else lstm.cached_empty_address()
    except Exception:  # noqa: BLE001 - the cache only saves page faults; the loop runs without it
        address = None
    if address is not None:
        module.use_buffer_cache(address)


def load() -> ModuleType | None:
    """The extension module, built if needed (tried once per process).

    Returns:
        The module, or None (and :func:`reason` says why) when it cannot be built or loaded.
    """
    global _module, _reason, _tried
    if not _tried:
        _tried = True
        _reason = _precheck()
        if _reason is None:
            try:
                _module = _build()
            except Exception as err:  # noqa: BLE001 - a failed build is reported by reason()
                lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
                errors = [ln for ln in lines if "error" in ln.lower()]
                _reason = f"the C++ build failed: {((errors or lines) or [type(err).__name__])[0][:300]}"
        if _module is not None:
            _share_buffer_cache(_module)
    return _module


@torch.compiler.assume_constant_result
def reason() -> str | None:
    """Why the compiled sLSTM cannot run here (after trying to build it), or None.

    Under ``torch.compile`` dynamo runs it once while tracing and keeps the answer.
    """
    load()
    return _reason


# --- the operators ---------------------------------------------------------------------------

torch.library.define(
    "lstmkit::xlstm_slstm_forward",
    "(Tensor pre, Tensor weight_hh, Tensor h0, Tensor c0, Tensor n0, Tensor m0, Tensor? mask, "
    "int mode, bool save) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor[])")
torch.library.define(
    "lstmkit::xlstm_slstm_backward",
    "(Tensor weight_hh, Tensor? mask, Tensor[] saved, Tensor? dout, Tensor? dhn, Tensor? dcn, "
    "Tensor? dnn, Tensor? dmn, int mode) -> Tensor[]")


def _ext() -> ModuleType:
    module = load()
    if module is None:
        raise RuntimeError(f"the compiled sLSTM is not available: {_reason}")
    return module


@torch.library.impl("lstmkit::xlstm_slstm_forward", "CPU")
def _forward_cpu(pre, weight_hh, h0, c0, n0, m0, mask, mode, save):
    res = _ext().forward(pre, weight_hh, h0, c0, n0, m0, mask, mode, save)
    return res[0], res[1], res[2], res[3], res[4], list(res[5:])


@torch.library.impl("lstmkit::xlstm_slstm_backward", "CPU")
def _backward_cpu(weight_hh, mask, saved, dout, dhn, dcn, dnn, dmn, mode):
    return _ext().backward(weight_hh, mask, list(saved), dout, dhn, dcn, dnn, dmn, mode)


@torch.library.register_fake("lstmkit::xlstm_slstm_forward")
def _forward_fake(pre, weight_hh, h0, c0, n0, m0, mask, mode, save):
    T, B, G = pre.shape
    H = G // 4
    saved = ([pre.new_empty((T + 1, B, H)) for _ in range(4)] + [pre.new_empty((T, B, G))]
             if save else [])
    return (pre.new_empty((T, B, H)), *(pre.new_empty((B, H)) for _ in range(4)), saved)


@torch.library.register_fake("lstmkit::xlstm_slstm_backward")
def _backward_fake(weight_hh, mask, saved, dout, dhn, dcn, dnn, dmn, mode):
    raw = saved[4]
    T, B, G = raw.shape
    return [raw.new_empty((T, B, G)), weight_hh.new_empty(weight_hh.shape),
            *(raw.new_empty((B, G // 4)) for _ in range(4))]


def _setup_context(ctx, inputs, output):
    pre, weight_hh, h0, c0, n0, m0, mask, mode, _ = inputs
    ctx.mode = mode
    ctx.save_for_backward(pre, weight_hh, h0, c0, n0, m0, mask, *output[5])
    ctx.mark_non_differentiable(*output[5])
    ctx.set_materialize_grads(False)


def _backward(ctx, dout, dhn, dcn, dnn, dmn, dsaved):
    pre, weight_hh, h0, c0, n0, m0, mask, *saved = ctx.saved_tensors
    if torch.is_grad_enabled():  # create_graph: differentiate the reference loop instead
        from lstmkit.xlstm import slstm_math

        inputs = (pre, weight_hh, h0, c0, n0, m0)
        want = [i for i, t in enumerate(inputs) if ctx.needs_input_grad[i]]
        out, final = slstm_math.sequence(pre, weight_hh, (h0, c0, n0, m0), _FORGET[ctx.mode], mask)
        pairs = [(o, g) for o, g in zip((out, *final), (dout, dhn, dcn, dnn, dmn)) if g is not None]
        grads = torch.autograd.grad([o for o, _ in pairs], [inputs[i] for i in want],
                                    [g for _, g in pairs], create_graph=True, allow_unused=True)
        res = [None] * 9
        for i, g in zip(want, grads):
            res[i] = g
        return tuple(res)
    if not saved:
        raise RuntimeError("lstmkit::xlstm_slstm_forward ran without autograd (no_grad, or a graph "
                           "traced without grad), so it kept nothing for the backward")
    g = torch.ops.lstmkit.xlstm_slstm_backward(weight_hh, mask, saved, dout, dhn, dcn, dnn, dmn,
                                               ctx.mode)
    return (*g, None, None, None)


_FORGET = {v: k for k, v in MODES.items()}

torch.library.register_autograd("lstmkit::xlstm_slstm_forward", _backward,
                                setup_context=_setup_context)


def _traced(x: Tensor) -> bool:
    return (torch.compiler.is_compiling() or torch._C._get_tracing_state() is not None
            or type(x) is not Tensor or is_in_torch_dispatch_mode())


def sequence(pre: Tensor, weight_hh: Tensor, state, forget_gate: str = "sigmoid",
             mask: Tensor | None = None) -> tuple[Tensor, tuple]:
    """The compiled sLSTM over T steps: the numbers and gradients of
    :func:`lstmkit.xlstm.slstm_math.sequence`.

    Args:
        pre: (T, B, 4H), W x_t + b (CPU, float32 or float64).
        weight_hh: (4, NH, d, d).
        state: (h, c, n, m), each (B, H).
        forget_gate: "sigmoid" or "exp".
        mask: (T, B) bool, or None; where False the state is kept.

    Returns:
        (outputs (T, B, H), the final (h, c, n, m)).

    Raises:
        RuntimeError: the extension is unavailable (:func:`reason`).
    """
    tensors = (pre, weight_hh, *state)
    save = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    if not _traced(pre):
        load()
    out, hn, cn, nn_, mn, _ = torch.ops.lstmkit.xlstm_slstm_forward(
        pre, weight_hh, *state, mask, MODES[forget_gate], save)
    return out, (hn, cn, nn_, mn)
