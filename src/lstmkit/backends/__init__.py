"""Backends: the registry and the choice of which one runs a layer.

Each backend declares why it cannot run a configuration (``unsupported`` returns a
reason or None). ``backend="auto"`` takes the supported backend of highest priority;
an explicit request that cannot run raises ValueError with the reason. Nothing falls
back silently.

Under torch's tools (tracing, export, compile, torch.func, autocast; see
:mod:`lstmkit.backends.tools`) a backend may also declare, with the optional method
``unsupported_under(tools) -> str | None``, why it cannot run under them. ``auto`` skips
such backends, and an explicit request for one raises ValueError naming the tool. A
backend that does not declare the method is trusted under a tool only where
:data:`TRUSTED_UNDER_TOOLS` says so (torch's own kernels, and the reference loop of
autograd operations); otherwise it is treated as unsupported there. Under
``torch.onnx.export`` the backend choice does not matter (onnxruntime runs the graph),
so every request, explicit or ``auto``, runs on the form the exporter can write:
torch's kernels for the plain cells (ONNX's own LSTM/GRU/RNN operators), the reference
loop for the variants under the dynamo exporter, and an error naming what to use
instead under the TorchScript exporter.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.base import Backend, DirParams, LayerSpec
from lstmkit.backends.fused import FusedBackend
from lstmkit.backends.native import NativeBackend
from lstmkit.backends.reference import ReferenceBackend
from lstmkit.backends.rules import decide
from lstmkit.backends.tools import CAPTURING, TOOLS, active_tools, describe

_REGISTRY: dict[str, Backend] = {}


#: the backend ``select`` chose per call signature (spec, request, shape, dtype, device,
#: grad mode, tools): the choice is a pure function of these, and a layer called in a loop
#: should not pay the rules and every backend's checks on each call
_CHOICES: dict[tuple, Backend] = {}

#: a new object whenever the registry changes: a caller that keeps its own copy of a
#: choice (the layers' plain shortcut) compares it to know the copy is still the choice.
#: An object, not a count, so that a copy kept in a pickled or deep-copied module never
#: matches (a copy is another object; a count would start over in another process)
generation = object()


def register(backend: Backend) -> Backend:
    """Add ``backend`` to the registry, replacing one of the same name.

    Args:
        backend: an instance of a :class:`Backend` subclass with a unique ``name``.

    Returns:
        ``backend``, so that it can be used as ``register(MyBackend())``.

    Example:
        >>> from lstmkit import backends
        >>> class Slow(backends.get("reference").__class__):
        ...     name = "slow_reference"
        ...     priority = -1
        >>> _ = backends.register(Slow())
        >>> "slow_reference" in backends.names()
        True
        >>> backends.unregister("slow_reference")
    """
    global generation
    _REGISTRY[backend.name] = backend
    _CHOICES.clear()
    generation = object()
    return backend


for _b in (ReferenceBackend(), FusedBackend(), NativeBackend()):
    register(_b)

try:  # the compiled CPU recurrence, when this build has it
    from lstmkit.backends.compiled import CompiledBackend
except ImportError:  # pragma: no cover - a build without the compiled package
    CompiledBackend = None
if CompiledBackend is not None:
    register(CompiledBackend())

try:  # GPU kernels (importing this package must not import triton itself)
    from lstmkit.backends.triton import TritonBackend
except ImportError:  # pragma: no cover
    TritonBackend = None
if TritonBackend is not None:
    register(TritonBackend())


def unregister(name: str) -> None:
    """Remove the backend ``name`` from the registry (nothing if it is not there).

    Args:
        name: a registered backend's name.
    """
    global generation
    _REGISTRY.pop(name, None)
    _CHOICES.clear()
    generation = object()


def names() -> list[str]:
    """Registered backend names, highest priority first."""
    return [b.name for b in sorted(_REGISTRY.values(), key=lambda b: -b.priority)]


def get(name: str) -> Backend:
    """The registered backend called ``name``.

    Args:
        name: a backend name (not ``"auto"``).

    Returns:
        The :class:`Backend` instance.

    Raises:
        ValueError: no backend of that name is registered (the message lists them).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r}; expected 'auto' or one of {', '.join(names())}"
        ) from None


def check_name(name: str) -> str:
    """Validate a backend name at construction time.

    Args:
        name: ``"auto"`` or a registered backend's name.

    Returns:
        ``name`` unchanged.

    Raises:
        ValueError: an unknown name.
    """
    if name != "auto":
        get(name)
    return name


#: backends trusted under a tool without declaring ``unsupported_under``: torch's own
#: kernels (what torch.nn runs, so every tool handles them as it handles torch.nn), and
#: the reference loop of plain autograd operations. Everything else that does not declare
#: the method is taken not to run under any tool.
TRUSTED_UNDER_TOOLS = {
    # vmap and forward-mode AD have no rule for torch's fused LSTM kernel (torch.nn.LSTM
    # itself fails there): the reference loop runs them
    "native": frozenset(TOOLS) - {"functorch_forward"},
    "reference": frozenset(TOOLS),
}

#: tools under which torch's packed-sequence kernel cannot run (it reads the lengths on
#: the host, a data-dependent step that export and compile cannot capture)
_NO_HOST_LENGTHS = frozenset({"export", "compile"})
#: ... and those whose wrapped tensors it cannot read (torch.nn on a PackedSequence under
#: torch.func.grad: "Cannot access data pointer of Tensor that doesn't have storage")
_NO_PACKED = frozenset({"functorch"})


def unsupported_under(backend: Backend, tools: frozenset, lengths: bool = False) -> str | None:
    """Why ``backend`` cannot run under ``tools``, or None.

    Args:
        backend: a registered backend.
        tools: names from :data:`lstmkit.backends.tools.TOOLS` (what
            :func:`active_tools` returns).
        lengths: whether the forward has variable lengths.

    Returns:
        A reason in words, or None when it runs there.
    """
    if not tools:
        return None
    if lengths and backend.name == "native" and tools & _NO_HOST_LENGTHS:
        return (f"torch's packed kernel reads the lengths on the host, which "
                f"{describe(tools & _NO_HOST_LENGTHS)} cannot capture")
    if lengths and backend.name == "native" and tools & _NO_PACKED:
        return ("torch's packed kernel for lengths= cannot read its wrapped tensors (torch.nn "
                "fails there on a PackedSequence too)")
    declared = getattr(backend, "unsupported_under", None)
    if declared is not None:
        return declared(tools)
    untrusted = tools - TRUSTED_UNDER_TOOLS.get(backend.name, frozenset())
    if untrusted:
        return f"it does not declare that it runs under {describe(untrusted)}"
    return None


def _unsupported_here(backend: Backend, spec: LayerSpec, x: Tensor, tools: frozenset,
                      lengths: bool) -> str | None:
    """:func:`unsupported_under`, and what also depends on the layer: torch's LSTM layer
    kernel (a layer's input is (T, B, I); a cell's, (B, I), runs torch's cell kernel,
    which is fine) under torch.compile (not torch.export, which dynamo runs too and which
    keeps torch's portable aten.lstm) where autograd records (training) fails in
    AOTAutograd whenever the input needs no gradient (its saved tensors include an
    undefined one: "expected all tensors_saved_with_vc_check to be Tensors");
    torch.nn.LSTM is not compiled there at all (dynamo skips RNN modules)."""
    reason = unsupported_under(backend, tools, lengths)
    if reason is None and backend.name == "native" and "compile" in tools and "export" not in tools \
            and spec.mode == "LSTM" and x.dim() == 3 and torch.is_grad_enabled():
        reason = ("torch's LSTM kernel fails in training under torch.compile's AOTAutograd "
                  "when the input needs no gradient")
    return reason


def _dynamic_time(x: Tensor, tools: frozenset) -> bool:
    """Whether torch.export keeps a layer's sequence length symbolic (a dynamic time
    axis): torch's layer kernel, as torch.nn.LSTM's, would fix it and the export raise
    its ConstraintViolation, where the compiled operator's fake kernel keeps it. (Under
    torch.compile's dynamic shapes, dynamo specialises torch's kernel to each length
    instead, which is left as it is.)"""
    return "export" in tools and x.dim() == 3 and isinstance(x.shape[0], torch.SymInt)


def _for_onnx(spec: LayerSpec, x: Tensor, tools: frozenset, lengths: bool) -> Backend:
    """The backend whose operations torch.onnx.export writes correctly for ``spec``:
    torch's kernels for the plain cells (written as ONNX's own operator: the native
    backend's :mod:`~lstmkit.backends.onnx_ops`, time and batch dynamic), except an LSTM
    with ``proj_size`` (ONNX's LSTM operator has no projection: torch's TorchScript
    exporter refuses it, its dynamo exporter writes a graph onnxruntime rejects, for
    torch.nn.LSTM as well). The others export the reference loop under the dynamo
    exporter, at the example's sequence length (the exporter fixes a dynamic time axis
    there, as it does for torch.nn.LSTM)."""
    native = _REGISTRY["native"]
    if native.unsupported(spec, x) is None and not spec.proj_size:
        return native
    if "jit_trace" in tools:  # the TorchScript exporter (dynamo=False)
        missing = [*spec.variants, *(["proj_size"] if spec.proj_size else [])]
        raise ValueError(
            f"torch.onnx.export(dynamo=False) cannot write this {spec.mode} layer: ONNX's "
            f"{spec.mode.split('_')[0]} operator has no {', '.join(missing)}, and a "
            "traced time loop would hold one sequence length. Export it with "
            "lstmkit.export.to_onnx(model, path, example_inputs=...) or `lstmkit export` "
            "(an ONNX Scan loop with dynamic batch and time), or with "
            "torch.onnx.export(..., dynamo=True) at a fixed sequence length")
    reference = _REGISTRY["reference"]
    reason = reference.unsupported(spec, x) or unsupported_under(reference, tools, lengths)
    if reason:  # pragma: no cover - the reference runs everything
        raise ValueError(f"torch.onnx.export cannot write this layer: {reason}")
    return reference


def select(spec: LayerSpec, x: Tensor, requested: str = "auto", *, lengths: bool = False,
           tools: frozenset | None = None) -> Backend:
    """The backend that runs ``spec`` on ``x``.

    For ``"auto"``: the measured rules' order (:func:`auto_order`), then the first
    backend that runs the configuration and the tools in effect; otherwise the requested
    backend, if it can run there.

    Args:
        spec: the layer's configuration.
        x: the input (T, B, I); its dtype, device and shape matter.
        requested: ``"auto"`` or a backend name.
        lengths: keyword-only; the forward has variable lengths.
        tools: keyword-only; the tools in effect (default :func:`active_tools` of ``x``).

    Returns:
        The :class:`Backend` to run.

    Raises:
        ValueError: the requested backend cannot run this (the reason is in the
            message), or no backend can.

    Example:
        >>> import torch
        >>> from lstmkit import backends
        >>> spec = backends.LayerSpec("LSTM", 8, 16, layer_norm=True)
        >>> backends.select(spec, torch.randn(5, 2, 8), "native")
        Traceback (most recent call last):
        ...
        ValueError: backend 'native' cannot run this layer: torch's kernels run only the plain cell, not layer_norm
    """
    if tools is None:
        tools = active_tools(x)
    if tools & CAPTURING or "functorch" in tools:  # symbolic or wrapped inputs: no cache
        return _select(spec, x, requested, lengths, tools)
    amp = torch.get_autocast_dtype(x.device.type) if "autocast" in tools else None
    key = (spec, requested, lengths, tools, amp, tuple(x.shape), x.dtype, x.device,
           torch.is_grad_enabled())
    backend = _CHOICES.get(key)
    if backend is None or _REGISTRY.get(backend.name) is not backend:  # new or replaced
        backend = _select(spec, x, requested, lengths, tools)
        if len(_CHOICES) >= 4096:  # many distinct shapes: start over rather than grow
            _CHOICES.clear()
        _CHOICES[key] = backend
    return backend


def _select(spec: LayerSpec, x: Tensor, requested: str, lengths: bool,
            tools: frozenset) -> Backend:
    if "onnx_export" in tools:
        if requested != "auto":
            get(requested)  # the name must still exist
        return _for_onnx(spec, x, tools, lengths)
    if requested != "auto":
        backend = get(requested)
        reason = _unsupported_here(backend, spec, x, tools, lengths)
        if reason:
            others = "'reference'" if requested == "native" else "'native' (plain cells) or 'reference'"
            raise ValueError(
                f"backend {requested!r} cannot run this layer under {describe(tools)}: {reason}; "
                f"use backend='auto' (it picks one that runs there) or {others}")
        reason = backend.unsupported(spec, x)
        if reason:
            raise ValueError(f"backend {requested!r} cannot run this layer: {reason}")
        return backend
    skipped = []
    # the measured rules read the input's shape; a tracer or a capture would record each
    # comparison (a guard on a dynamic batch, a constant in a trace). There the only
    # candidates are the backends that run under the tool, so their priority decides.
    order = names() if tools & CAPTURING else auto_order(spec, x, lengths=lengths)
    for name in order:
        backend = _REGISTRY[name]
        # the tool first: a backend that does not run under it is not asked anything else
        # (its own checks need not be traceable there)
        reason = _unsupported_here(backend, spec, x, tools, lengths)
        if reason is None and name == "native" and _dynamic_time(x, tools):
            # an explicit native request keeps torch's behaviour there (its ConstraintViolation)
            reason = "torch's kernel fixes the sequence length, which this capture keeps dynamic"
        if reason is not None:
            skipped.append(f"{name}: {reason}")
        elif backend.unsupported(spec, x) is None:
            return backend
    why = "; ".join(skipped)
    raise ValueError(f"no backend can run this layer{' under ' + describe(tools) if tools else ''}"
                     f"{' (' + why + ')' if why else ''}")


def auto_order(spec: LayerSpec, x: Tensor, *, lengths: bool = False) -> list[str]:
    """The order in which ``auto`` tries the backends for this configuration.

    Args:
        spec: the layer's configuration.
        x: the input (T, B, I).
        lengths: keyword-only; the forward has variable lengths.

    Returns:
        Backend names: the measured rules of :mod:`lstmkit.backends.rules` first, then
        the rest by priority.
    """
    order = [n for n in decide(spec, x, names(), lengths)[0] if n in _REGISTRY]
    return order + [n for n in names() if n not in order]


def auto_rule(spec: LayerSpec, x: Tensor, *, lengths: bool = False) -> str:
    """The measured rule behind :func:`auto_order` for this configuration, in words.

    Args:
        spec: the layer's configuration.
        x: the input (T, B, I).
        lengths: keyword-only; the forward has variable lengths.

    Returns:
        One sentence naming the rule (what ``lstmkit info --explain`` prints).
    """
    return decide(spec, x, names(), lengths)[1]


def explain(spec: LayerSpec, x: Tensor) -> list[tuple[str, str | None]]:
    """Whether each backend can run ``spec`` on ``x``, and why not.

    Args:
        spec: the layer's configuration.
        x: the input (T, B, I).

    Returns:
        ``(name, reason or None)`` for every registered backend, highest priority first.

    Example:
        >>> import torch
        >>> from lstmkit import backends
        >>> spec = backends.LayerSpec("GRU", 8, 16, peephole=False, zoneout=(0.0, 0.1))
        >>> dict(backends.explain(spec, torch.randn(5, 2, 8)))["native"]
        "torch's kernels run only the plain cell, not zoneout"
    """
    return [(n, _REGISTRY[n].unsupported(spec, x)) for n in names()]


# streaming inference, one step at a time: ``cell_step(cell, x, h, c)`` and
# ``layer_step(layer, x_t, state)`` give the step on the fastest path, or None when no fast
# path applies (the caller then takes its general path, with the same numbers). The layers
# call these names, never a backend's own module.
from lstmkit.backends.compiled.streaming import cell_step, layer_step

__all__ = [
    "TRUSTED_UNDER_TOOLS",
    "Backend",
    "DirParams",
    "LayerSpec",
    "active_tools",
    "auto_order",
    "auto_rule",
    "cell_step",
    "explain",
    "get",
    "layer_step",
    "names",
    "register",
    "select",
    "unregister",
    "unsupported_under",
]
