"""Layers ONNX has no operator for (the variants, ``proj_size``) as an ONNX ``Scan``.

The graph mirrors :mod:`lstmkit.backends.reference` in eval mode, step for step:

- the input projection ``gx = [LN](x W_ih^T) + b_ih`` is hoisted out of the loop (one
  MatMul for all steps);
- the reverse direction runs forward over each sequence reversed within its own length
  (``ReverseSequence``, as ``backends.base.reverse_time``), or with the Scan's own
  reverse direction when every sequence is full length;
- the body takes one step of the cell (:mod:`lstmkit.cells`: layer norm, peephole,
  coupled gates, cell clip, projection), then blends with the previous state by the
  zoneout rates (eval mode's expectation), then applies the length mask (outputs zero and
  states frozen past each end). Recurrent dropout and weight drop are the identity in eval.

Shapes: T time, B batch, H hidden, P = proj_size or H, G = gates * H.
"""

from __future__ import annotations

from lstmkit.cells.layernorm import EPS
from lstmkit.export.graph import BOOL, FLOAT, GraphBuilder, value_info
from lstmkit.variants import Variants


def _recurrent_projection(bb: GraphBuilder, h: str, p: dict, hint: str) -> str:
    """gh = [LN](h W_hh^T) + b_hh, (B, G)."""
    if p.get("ln_hh_weight") is None:
        return bb.linear(h, p["weight_hh"], p.get("bias_hh"), hint + "_hh")
    gh = bb.linear(h, p["weight_hh"], None, hint + "_hh")
    gh = bb.layer_norm(gh, p["ln_hh_weight"], p["ln_hh_bias"], EPS, hint + "_lnhh")
    return gh if p.get("bias_hh") is None else bb.op("Add", [gh, bb.init(p["bias_hh"], hint + "_bhh")])


def _lerp_back(bb: GraphBuilder, new: str, prev: str, rate: float) -> str:
    """Zoneout in eval: ``new + rate * (prev - new)`` (torch.lerp(new, prev, rate))."""
    if not rate:
        return new
    diff = bb.op("Sub", [prev, new])
    return bb.op("Add", [new, bb.op("Mul", [diff, bb.scalar(rate)])])


def _lstm_step(bb: GraphBuilder, gates: str, h: str, c: str, p: dict, v: Variants, H: int, hint: str):
    """One LSTM step from the summed pre-activations (B, G); returns (h_t, c_t)."""
    mul, add = (lambda a, b_: bb.op("Mul", [a, b_])), (lambda a, b_: bb.op("Add", [a, b_]))
    if v.coupled_gates:
        f, g, o = bb.split(gates, [H, H, H])
        i = None
    else:
        i, f, g, o = bb.split(gates, [H, H, H, H])
    if v.peephole:
        f = add(f, mul(c, bb.init(p["peephole_f"], hint + "_pf")))
        if not v.coupled_gates:
            i = add(i, mul(c, bb.init(p["peephole_i"], hint + "_pi")))
    f = bb.op("Sigmoid", [f])
    i = bb.op("Sub", [bb.scalar(1.0), f]) if v.coupled_gates else bb.op("Sigmoid", [i])
    g = bb.op("Tanh", [g])
    c_new = add(mul(f, c), mul(i, g))
    if v.cell_clip is not None:
        c_new = bb.op("Clip", [c_new, bb.scalar(-v.cell_clip), bb.scalar(v.cell_clip)])
    if v.peephole:
        o = add(o, mul(c_new, bb.init(p["peephole_o"], hint + "_po")))
    o = bb.op("Sigmoid", [o])
    cc = c_new
    if v.layer_norm:
        cc = bb.layer_norm(c_new, p["ln_c_weight"], p["ln_c_bias"], EPS, hint + "_lnc")
    h_new = mul(o, bb.op("Tanh", [cc]))
    if p.get("weight_hr") is not None:
        h_new = bb.linear(h_new, p["weight_hr"], None, hint + "_hr")  # (B, P)
    return h_new, c_new


def _gru_step(bb: GraphBuilder, gx: str, gh: str, h: str, H: int) -> str:
    """torch's GRU: r, z from both projections; r scales the whole recurrent candidate."""
    xr, xz, xn = bb.split(gx, [H, H, H])
    hr, hz, hn = bb.split(gh, [H, H, H])
    r = bb.op("Sigmoid", [bb.op("Add", [xr, hr])])
    z = bb.op("Sigmoid", [bb.op("Add", [xz, hz])])
    n = bb.op("Tanh", [bb.op("Add", [xn, bb.op("Mul", [r, hn])])])
    return bb.op("Add", [n, bb.op("Mul", [z, bb.op("Sub", [h, n])])])  # n + z (h - n)


def input_projection(b: GraphBuilder, x: str, p: dict, hint: str) -> str:
    """gx = [LN](x W_ih^T) + b_ih for all steps.

    Args:
        b: the graph being built.
        x: the name of x (T, B, I).
        p: the direction's tensors by name (see :func:`lstmkit.export.layer.direction_params`).
        hint: a prefix for the node names.

    Returns:
        The name of gx (T, B, G).
    """
    if p.get("ln_ih_weight") is None:
        return b.linear(x, p["weight_ih"], p.get("bias_ih"), hint + "_ih")
    gx = b.linear(x, p["weight_ih"], None, hint + "_ih")
    gx = b.layer_norm(gx, p["ln_ih_weight"], p["ln_ih_bias"], EPS, hint + "_lnih")
    return gx if p.get("bias_ih") is None else b.op("Add", [gx, b.init(p["bias_ih"], hint + "_bih")])


def emit_loop_direction(
    b: GraphBuilder,
    mode: str,
    p: dict,
    v: Variants,
    H: int,
    x: str,  # (T, B, I)
    h0: str,  # (B, P)
    c0: str | None,  # (B, H), LSTM only
    mask: str | None,  # (T, B, 1) bool
    lens: str | None,  # (B,) int64
    reverse: bool,
    hint: str,
) -> tuple[str, str, str | None]:
    """One direction of one layer as a Scan.

    Args:
        b: the graph being built.
        mode: ``LSTM``, ``GRU``, ``RNN_TANH`` or ``RNN_RELU``.
        p: the direction's tensors by name.
        v: the module's variants (eval mode: zoneout as its expectation).
        H: hidden size.
        x: the name of x (T, B, I).
        h0: the name of h_0 (B, P).
        c0: the name of c_0 (B, H), LSTM only.
        mask: the name of the (T, B, 1) bool step mask, or None.
        lens: the name of the (B,) int64 lengths, or None.
        reverse: the backward direction.
        hint: a prefix for the node names.

    Returns:
        The names ``(y (T, B, P), h_n (B, P), c_n (B, H) or None)``.
    """
    gx = input_projection(b, x, p, hint)  # (T, B, G)
    if reverse and lens is not None:
        gx = b.op("ReverseSequence", [gx, lens], batch_axis=1, time_axis=0)
    bb = b.child()
    has_c = mode == "LSTM"
    h, gx_t = bb.name("h_prev"), bb.name("gx_t")
    c = bb.name("c_prev") if has_c else None
    m = bb.name("m_t") if mask is not None else None
    gh = _recurrent_projection(bb, h, p, hint)
    c_new = None
    if mode == "LSTM":
        h_new, c_new = _lstm_step(bb, bb.op("Add", [gx_t, gh]), h, c, p, v, H, hint)
        h_new = _lerp_back(bb, h_new, h, v.zoneout[1])
        c_new = _lerp_back(bb, c_new, c, v.zoneout[0])
    elif mode == "GRU":
        h_new = _lerp_back(bb, _gru_step(bb, gx_t, gh, h, H), h, v.zoneout[1])
    else:  # Elman RNN (only when a loop is asked for explicitly)
        act = "Tanh" if mode == "RNN_TANH" else "Relu"
        h_new = bb.op(act, [bb.op("Add", [gx_t, gh])])
    if m is not None:
        y_t = bb.op("Where", [m, h_new, bb.scalar(0.0)])  # zero past the end
        h_new = bb.op("Where", [m, h_new, h])  # state frozen past the end
        if has_c:
            c_new = bb.op("Where", [m, c_new, c])
    else:
        y_t = bb.op("Identity", [h_new])
    rank2 = [None, None]
    body_in = [value_info(h, FLOAT, rank2)] + ([value_info(c, FLOAT, rank2)] if has_c else [])
    body_in.append(value_info(gx_t, FLOAT, rank2))
    if m is not None:
        body_in.append(value_info(m, BOOL, rank2))
    states_out = [h_new] + ([c_new] if has_c else [])
    body_out = [value_info(n, FLOAT, rank2) for n in (*states_out, y_t)]
    body = bb.graph(b.name(hint + "_body"), body_in, body_out)
    n_scan = 1 if m is None else 2
    attrs = {"body": body, "num_scan_inputs": n_scan}
    if reverse and lens is None:  # full-length sequences: the Scan itself runs backwards
        attrs.update(scan_input_directions=[1], scan_output_directions=[1])
    inputs = [h0] + ([c0] if has_c else []) + [gx] + ([mask] if m is not None else [])
    outs = b.op("Scan", inputs, n_out=len(states_out) + 1, **attrs)
    hn, y = outs[0], outs[-1]
    cn = outs[1] if has_c else None
    if reverse and lens is not None:
        y = b.op("ReverseSequence", [y, lens], batch_axis=1, time_axis=0)
    return y, hn, cn
