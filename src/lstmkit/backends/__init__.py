"""Backends: the registry and the choice of which one runs a layer.

Each backend declares why it cannot run a configuration (``unsupported`` returns a
reason or None). ``backend="auto"`` takes the supported backend of highest priority;
an explicit request that cannot run raises ValueError with the reason. Nothing falls
back silently.
"""

from __future__ import annotations

from torch import Tensor

from lstmkit.backends.base import Backend, LayerSpec
from lstmkit.backends.fused import FusedBackend
from lstmkit.backends.native import NativeBackend
from lstmkit.backends.reference import ReferenceBackend
from lstmkit.backends.rules import decide

_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add ``backend`` to the registry (replacing one of the same name)."""
    _REGISTRY[backend.name] = backend
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


def names() -> list[str]:
    """Registered backend names, highest priority first."""
    return [b.name for b in sorted(_REGISTRY.values(), key=lambda b: -b.priority)]


def get(name: str) -> Backend:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r}; expected 'auto' or one of {', '.join(names())}"
        ) from None


def check_name(name: str) -> str:
    """Validate a backend name at construction time."""
    if name != "auto":
        get(name)
    return name


def select(spec: LayerSpec, x: Tensor, requested: str = "auto") -> Backend:
    """The backend that runs ``spec`` on ``x``: the requested one, or for ``"auto"`` the
    supported one of highest priority. Raises ValueError naming why it can't run."""
    if requested != "auto":
        backend = get(requested)
        reason = backend.unsupported(spec, x)
        if reason:
            raise ValueError(f"backend {requested!r} cannot run this layer: {reason}")
        return backend
    for name in auto_order(spec, x):
        backend = _REGISTRY[name]
        if backend.unsupported(spec, x) is None:
            return backend
    raise ValueError("no backend can run this layer")  # reference runs everything


def auto_order(spec: LayerSpec, x: Tensor) -> list[str]:
    """The order in which ``auto`` tries the backends for this configuration: the
    measured rules of :mod:`lstmkit.backends.rules`, then the rest by priority."""
    order = [n for n in decide(spec, x, names())[0] if n in _REGISTRY]
    return order + [n for n in names() if n not in order]


def auto_rule(spec: LayerSpec, x: Tensor) -> str:
    """The measured rule behind :func:`auto_order` for this configuration, in words."""
    return decide(spec, x, names())[1]


def explain(spec: LayerSpec, x: Tensor) -> list[tuple[str, str | None]]:
    """(name, reason it can't run or None) for every backend, in priority order."""
    return [(n, _REGISTRY[n].unsupported(spec, x)) for n in names()]


__all__ = ["Backend", "LayerSpec", "register", "names", "get", "select", "auto_order", "auto_rule",
           "explain"]
