"""An lstmkit recurrent layer (or one-step cell) as ONNX nodes: layers, directions,
initial states, variable lengths and ``batch_first``.

:func:`emit_recurrent` writes one module into a :class:`GraphBuilder`; each layer of it
becomes ONNX's own LSTM/GRU/RNN operator when the layer is plain in eval mode
(:mod:`lstmkit.export.native`), else a Scan per direction (:mod:`lstmkit.export.loop`).
:func:`recurrent_kind` says which and why.

Shapes: T time, B batch, I input, H hidden, P = proj_size or H, L layers, D directions.
"""

from __future__ import annotations

from torch import nn

from lstmkit.export.graph import INT32, GraphBuilder
from lstmkit.export.loop import emit_loop_direction
from lstmkit.export.native import emit_native
from lstmkit.variants import SPECS

KINDS = ("auto", "native", "loop")
#: torch's parameter names, then every variant's (lstmkit.variants.SPECS)
_PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr",
                *(p.name for s in SPECS for p in s.params))


def is_recurrent(module) -> bool:
    """Whether ``module`` is one of lstmkit's layers or cells.

    Args:
        module: any object.

    Returns:
        True for lstmkit's LSTM, GRU, RNN and their cells.
    """
    from lstmkit.cell_layers import _CellBase
    from lstmkit.layers import _RNNBase

    return isinstance(module, (_RNNBase, _CellBase))


def _is_cell(module) -> bool:
    from lstmkit.cell_layers import _CellBase

    return isinstance(module, _CellBase)


def why_not_native(module) -> str | None:
    """Why ONNX's own operator cannot hold this module in eval mode.

    Args:
        module: an lstmkit layer or cell.

    Returns:
        The blocking options in words, or None when ONNX's LSTM/GRU/RNN holds it.
    """
    reasons = module.variants.not_plain(onnx=True)
    if getattr(module, "proj_size", 0):
        reasons.append("proj_size")
    return ", ".join(reasons) or None


def recurrent_kind(module, requested: str = "auto") -> str:
    """How ``module`` is written for ``requested``.

    Args:
        module: an lstmkit layer or cell.
        requested: one of :data:`KINDS`.

    Returns:
        ``"native"`` or ``"loop"``.

    Raises:
        ValueError: an unknown ``requested``, or ``"native"`` for a module ONNX's
            operator cannot hold.
    """
    if requested not in KINDS:
        raise ValueError(f"recurrent must be one of {KINDS}, got {requested!r}")
    why = why_not_native(module)
    if requested == "native" and why:
        raise ValueError(f"ONNX's {module.mode.split('_')[0]} operator has no equivalent of {why}; "
                         "export it with recurrent='loop' (or 'auto')")
    if requested == "auto":
        return "loop" if why else "native"
    return requested


def direction_params(module: nn.Module, layer: int, direction: int) -> dict:
    """One direction's tensors under their names without the layer suffix.

    Args:
        module: an lstmkit layer or cell.
        layer: the layer index (ignored for a cell).
        direction: 0 or 1 (``_reverse``).

    Returns:
        ``{"weight_ih": tensor, ...}`` for the parameters that exist.
    """
    sfx = "" if _is_cell(module) else f"_l{layer}" + ("_reverse" if direction else "")
    return {n: getattr(module, n + sfx) for n in _PARAM_NAMES if getattr(module, n + sfx, None) is not None}


def _zeros_state(b: GraphBuilder, x: str, size: int) -> str:
    """A (B, size) zero state with B read from x (T, B, I)."""
    batch = b.op("Shape", [x], start=1, end=2)  # (1,)
    shape = b.op("Concat", [batch, b.ints(size)], axis=0)
    return b.op("ConstantOfShape", [shape])  # float32 zeros


def _length_mask(b: GraphBuilder, x: str, lens: str) -> str:
    """(T, B, 1) bool: step t lies inside sequence b."""
    T = b.op("Squeeze", [b.op("Shape", [x], start=0, end=1), b.ints(0)])  # scalar
    steps = b.op("Range", [b.iscalar(0), T, b.iscalar(1)])  # (T,)
    inside = b.op("Less", [b.op("Unsqueeze", [steps, b.ints(1)]), b.op("Unsqueeze", [lens, b.ints(0)])])
    return b.op("Unsqueeze", [inside, b.ints(2)])


def emit_recurrent(
    b: GraphBuilder,
    module: nn.Module,
    x: str,
    h0: str | None = None,
    c0: str | None = None,
    lengths: str | None = None,
    *,
    recurrent: str = "auto",
    hint: str = "rnn",
) -> tuple[str, str, str | None]:
    """Write ``module`` (eval-mode semantics) applied to the value ``x``.

    A layer takes ``x`` (T, B, I), or (B, T, I) with ``batch_first``, optional ``h0``
    (L*D, B, P), ``c0`` (L*D, B, H) and ``lengths`` (B,) int64, and returns the names of
    ``output``, ``h_n``, ``c_n`` (None for GRU/RNN) shaped as torch's. A cell takes
    ``x`` (B, I) and ``h0``/``c0`` (B, H) and returns ``(h_1, h_1, c_1)``.

    Args:
        b: the graph being built.
        module: an lstmkit layer or cell.
        x: the input value's name.
        h0: the initial h's name, or None for zeros.
        c0: the initial c's name (LSTM), or None for zeros.
        lengths: the lengths' name (layers), or None.
        recurrent: keyword-only; ``"auto"``, ``"native"`` or ``"loop"``.
        hint: keyword-only; a prefix for the node names.

    Returns:
        The names ``(output, h_n, c_n or None)``.

    Raises:
        ValueError: as :func:`recurrent_kind`.
    """
    kind = recurrent_kind(module, recurrent)
    cell = _is_cell(module)
    mode, H = module.mode, module.hidden_size
    has_c = mode == "LSTM"
    L = 1 if cell else module.num_layers
    D = 1 if cell or not module.bidirectional else 2
    P = getattr(module, "proj_size", 0) or H
    if cell:  # one step of a one-layer network
        x = b.op("Unsqueeze", [x, b.ints(0)])  # (1, B, I)
        h0 = None if h0 is None else b.op("Unsqueeze", [h0, b.ints(0)])
        c0 = None if c0 is None else b.op("Unsqueeze", [c0, b.ints(0)])
    elif module.batch_first:
        x = b.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, I)
    lens32 = None if lengths is None or kind == "loop" else b.op("Cast", [lengths], to=INT32)
    mask = _length_mask(b, x, lengths) if lengths is not None and kind == "loop" else None
    hns, cns = [], []
    for layer in range(L):
        hl = cl = None
        if h0 is not None:  # this layer's (D, B, .) slice of the stacked states
            hl = b.op("Slice", [h0, b.ints(layer * D), b.ints((layer + 1) * D), b.ints(0)])
            cl = b.op("Slice", [c0, b.ints(layer * D), b.ints((layer + 1) * D), b.ints(0)]) if has_c else None
        params = [direction_params(module, layer, d) for d in range(D)]
        tag = f"{hint}_l{layer}"
        if kind == "native":
            x, hn, cn = emit_native(b, mode, params, H, x, hl, cl, lens32, tag)
        else:
            x, hn, cn = _emit_loop_layer(b, module, params, x, hl, cl, mask, lengths, P, H, tag)
        hns.append(hn)
        cns.append(cn)
    hn = hns[0] if L == 1 else b.op("Concat", hns, axis=0)  # (L*D, B, P)
    cn = (cns[0] if L == 1 else b.op("Concat", cns, axis=0)) if has_c else None
    if cell:
        hn = b.op("Squeeze", [hn, b.ints(0)])
        cn = b.op("Squeeze", [cn, b.ints(0)]) if has_c else None
        return hn, hn, cn
    if module.batch_first:
        x = b.op("Transpose", [x], perm=[1, 0, 2])
    return x, hn, cn


def _emit_loop_layer(b, module, params, x, hl, cl, mask, lengths, P, H, tag):
    """All directions of one layer as Scans; outputs concatenated as torch does."""
    has_c = module.mode == "LSTM"
    ys, hns, cns = [], [], []
    for d, p in enumerate(params):
        if hl is None:
            h_init = _zeros_state(b, x, P)
            c_init = _zeros_state(b, x, H) if has_c else None
        else:
            # a scalar index drops the axis: (D, B, .) -> (B, .)
            h_init = b.op("Gather", [hl, b.iscalar(d)], axis=0)
            c_init = b.op("Gather", [cl, b.iscalar(d)], axis=0) if has_c else None
        y, hn, cn = emit_loop_direction(b, module.mode, p, module.variants, H, x, h_init, c_init,
                                        mask, lengths, d == 1, f"{tag}_d{d}")
        ys.append(y)
        hns.append(b.op("Unsqueeze", [hn, b.ints(0)]))
        if has_c:
            cns.append(b.op("Unsqueeze", [cn, b.ints(0)]))
    y = ys[0] if len(ys) == 1 else b.op("Concat", ys, axis=-1)  # (T, B, D*P)
    hn = hns[0] if len(hns) == 1 else b.op("Concat", hns, axis=0)  # (D, B, P)
    cn = (cns[0] if len(cns) == 1 else b.op("Concat", cns, axis=0)) if has_c else None
    return y, hn, cn
