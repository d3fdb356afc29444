"""Which of torch's program-transforming tools is running a forward.

A layer's forward is not always run eagerly: it may be traced (``torch.jit.trace``, the
TorchScript ONNX exporter), captured (``torch.export``, ``torch.compile``, the dynamo ONNX
exporter), transformed (``torch.func.grad``/``vmap``/``jvp``) or autocast. A backend that
calls opaque code (a C++ extension through pybind11, an old-style autograd.Function)
can be invisible to such a tool or unsupported by it, and the result would then be
wrong without a word. :func:`active_tools` names the tools in effect so that
:func:`lstmkit.backends.select` can route ``auto`` to a backend that works under them,
and refuse an explicit backend that would not.

Tool names:

==============  ==========================================================================
``autocast``    ``torch.autocast`` is on for the input's device
``jit_trace``   ``torch.jit.trace`` (also the TorchScript ONNX exporter, ``dynamo=False``)
``onnx_export`` ``torch.onnx.export``, either exporter (``dynamo=False`` sets
                ``jit_trace`` too; ``dynamo=True`` sets ``export`` and ``compile`` too)
``export``      ``torch.export.export`` (strict or not)
``compile``     ``torch.compile`` / dynamo, and ``torch.export`` (which captures through it)
``functorch``   a ``torch.func`` transform (grad, vjp, jvp, vmap, ...) is active
``functorch_forward``  one of them is ``vmap``, ``jvp`` or functionalize: a transform that
                runs the forward itself, rather than differentiating it by autograd
==============  ==========================================================================

``lstmkit.export.to_onnx`` runs the real layer with the tracer switched off (it writes
the layer's ONNX nodes itself), so there ``onnx_export`` is not reported.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.base import functorch_active

TOOLS = ("autocast", "jit_trace", "onnx_export", "export", "compile", "functorch", "functorch_forward")

_NONE: frozenset[str] = frozenset()

#: tools that capture a program, under which reading a tensor's values on the host (a
#: data-dependent branch, e.g. a check of the lengths) would break the capture
CAPTURING = frozenset({"jit_trace", "onnx_export", "export", "compile"})


try:  # the dynamo exporter's own flag (see onnx_exporting)
    from torch.onnx._internal.exporter import _flags as _onnx_flags
except ImportError:  # pragma: no cover - a torch without the dynamo exporter
    _onnx_flags = None


def onnx_exporting() -> bool:
    """Whether ``torch.onnx.export`` (either exporter) is running.

    ``torch.onnx.is_in_onnx_export()`` is a constant False to dynamo, which runs the
    dynamo exporter's strict strategy (``torch.export.export(..., strict=True)``, tried
    when the non-strict capture fails), so the exporter's own flag is read as well: a
    module global, which dynamo reads at its value."""
    if _onnx_flags is not None and _onnx_flags._is_onnx_exporting:
        return True
    try:
        return torch.onnx.is_in_onnx_export()
    except Exception:  # pragma: no cover - a torch without the exporter's flags
        return False


def _functorch_forward() -> bool:
    """Whether a vmap, jvp or functionalize transform is on functorch's stack."""
    try:
        kinds = torch._C._functorch.TransformType
        forward = (kinds.Vmap, kinds.Jvp, kinds.Functionalize)
        return any(i.key() in forward for i in torch._C._functorch.get_interpreter_stack())
    except AttributeError:  # pragma: no cover - a torch without functorch's C API
        return True  # unknown: assume the strictest


def active_tools(x: Tensor | None = None) -> frozenset[str]:
    """The names (from :data:`TOOLS`) of the tools in effect for a forward on ``x``.

    Cheap: a handful of flag reads.

    Args:
        x: the forward's input, or None (then only the global flags are read).

    Returns:
        The tool names; empty in plain eager mode.

    Example:
        >>> import torch
        >>> from lstmkit.backends import active_tools
        >>> active_tools(torch.zeros(1))
        frozenset()
        >>> with torch.autocast("cpu", torch.bfloat16):
        ...     sorted(active_tools(torch.zeros(1)))
        ['autocast']
    """
    device = x.device.type if isinstance(x, Tensor) else "cpu"
    autocast = torch.is_autocast_enabled(device)
    if torch.compiler.is_compiling():
        # read only flags dynamo can trace: under compile there is no jit tracer, and
        # functorch's transforms are dynamo's own
        found = ["compile"]
        if torch.compiler.is_exporting():
            found.append("export")
            if onnx_exporting():
                found.append("onnx_export")
        if autocast:
            found.append("autocast")
        return frozenset(found)
    found = []
    if torch._C._get_tracing_state() is not None:
        found.append("jit_trace")
        if onnx_exporting():
            found.append("onnx_export")
    if autocast:
        found.append("autocast")
    if functorch_active():
        found.append("functorch")
        if _functorch_forward():
            found.append("functorch_forward")
    return frozenset(found) if found else _NONE


def describe(tools) -> str:
    """The tools as the user knows them, for error messages.

    Args:
        tools: names from :data:`TOOLS`.

    Returns:
        Their user-facing names, comma-separated.
    """
    words = {
        "autocast": "torch.autocast",
        "jit_trace": "torch.jit.trace",
        "onnx_export": "torch.onnx.export",
        "export": "torch.export",
        "compile": "torch.compile",
        "functorch": "a torch.func transform",
        "functorch_forward": "torch.func.vmap or jvp",
    }
    names = [words[t] for t in TOOLS if t in tools]
    if "onnx_export" in tools:  # the exporter brings the others with it
        names = [words["onnx_export"]]
    elif "functorch_forward" in tools:
        names = [n for n in names if n != words["functorch"]]
    if "export" in tools and "onnx_export" not in tools:
        names = [n for n in names if n != words["compile"]]
    return ", ".join(names)


__all__ = ["TOOLS", "active_tools", "describe"]
