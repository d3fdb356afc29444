"""What every backend shares: the layer spec it is asked to run, the per-direction
parameters and masks, the interface, and the per-direction plumbing (input projection,
reversal of variable-length sequences, masks).

Shapes: T time, B batch, I input features, H hidden, P = proj_size or H (the size of h),
D directions, G = n_gates * H.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.cells import CellMath
from lstmkit.cells.layernorm import EPS
from lstmkit.variants import SPECS, variant_fields


@dataclass(frozen=True)
@variant_fields
class LayerSpec:
    """The configuration of a recurrent layer for one forward, as backends see it.

    Frozen and hashable (``select`` caches its choice on it). The first eight fields are
    torch.nn's arguments; the rest, one per :data:`lstmkit.variants.SPECS` entry, are the
    variants (off by default; added by :func:`~lstmkit.variants.variant_fields`). ``recurrent_dropout`` is the rate in effect (0 in eval mode, where it is
    the identity); ``zoneout`` is ``(rate of c, rate of h)``.

    Example:
        >>> from lstmkit.backends import LayerSpec
        >>> spec = LayerSpec("LSTM", 8, 16, bidirectional=True, layer_norm=True, cell_clip=3.0)
        >>> spec.num_directions, spec.variants
        (2, ('layer_norm', 'cell_clip'))
    """

    mode: str  # LSTM, GRU, RNN_TANH, RNN_RELU
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0

    @property
    def num_directions(self) -> int:
        """D: 2 if bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def variants(self) -> tuple[str, ...]:
        """The options in effect that change the recurrence's math (the specs with
        ``recurrence=True``; ``weight_drop`` and ``forget_bias`` act on the weights only,
        so any backend runs them)."""
        return tuple(s.name for s in SPECS if s.recurrence and s.is_on(getattr(self, s.name)))


@dataclass
class DirParams:
    """The parameters and random masks of one direction of one layer for one forward."""

    w_ih: Tensor  # (G, I)
    w_hh: Tensor  # (G, P), already masked when weight_drop is on
    b_ih: Tensor | None = None  # (G,)
    b_hh: Tensor | None = None  # (G,)
    w_hr: Tensor | None = None  # (P, H)
    ln_ih: tuple[Tensor, Tensor] | None = None  # gain, bias (G,) of LN(W_ih x)
    ln_hh: tuple[Tensor, Tensor] | None = None  # gain, bias (G,) of LN(W_hh h)
    cp: tuple = (None,) * 5  # cell params: peephole p_i, p_f, p_o (H,); LN(c) gain, bias (H,)
    rec_mask: Tensor | None = None  # (B, P) recurrent dropout mask, scaled by 1/(1-p)
    zone_h: Tensor | None = None  # (T, B, P) weight of h_{t-1} in h_t (zoneout)
    zone_c: Tensor | None = None  # (T, B, H) weight of c_{t-1} in c_t (zoneout)

    def flat_torch(self) -> list[Tensor]:
        """torch.nn's flat weight list for this direction."""
        return [t for t in (self.w_ih, self.w_hh, self.b_ih, self.b_hh, self.w_hr) if t is not None]


#: the cell's mode as the operators (lstmkit::compiled_*, lstmkit::fused_*) take it
CELL_MODES = {"LSTM": 0, "GRU": 1, "RNN_TANH": 2, "RNN_RELU": 3}


def cell_options(cell: CellMath) -> tuple[int, bool, bool, float, bool]:
    """A cell as plain values, what the operators take in place of the :class:`CellMath` object.

    Args:
        cell: the cell math of the layer.

    Returns:
        ``(mode, peephole, coupled, clip or -1, layer norm of c)``, mode as in
        :data:`CELL_MODES`.
    """
    clip = getattr(cell, "cell_clip", None)
    return (
        CELL_MODES[cell.mode],
        bool(getattr(cell, "peephole", False)),
        bool(getattr(cell, "coupled", False)),
        -1.0 if clip is None else float(clip),
        bool(getattr(cell, "layer_norm", False)),
    )


def cell_from_options(mode: int, peephole: bool, coupled: bool, clip: float, ln_cell: bool) -> CellMath:
    """The :class:`CellMath` that :func:`cell_options` describes (its inverse).

    Args:
        mode: the cell's code in :data:`CELL_MODES`.
        peephole: peephole connections (LSTM).
        coupled: coupled input and forget gates (LSTM).
        clip: the cell clip, or a negative number for none (LSTM).
        ln_cell: layer norm of c (LSTM).

    Returns:
        The cell math.
    """
    from lstmkit.cells import cell_math

    name = next(k for k, v in CELL_MODES.items() if v == mode)
    if name != "LSTM":
        return cell_math(name)
    return cell_math(name, peephole=peephole, coupled=coupled,
                     cell_clip=None if clip < 0 else clip, layer_norm=ln_cell)


def hidden_of(mode: int, coupled: bool, G):
    """H from G = n_gates * H (works on symbolic sizes).

    Args:
        mode: the cell's code in :data:`CELL_MODES`.
        coupled: coupled gates (3 gates for the LSTM).
        G: the number of gate rows.

    Returns:
        H.
    """
    if mode == 0:
        return G // 3 if coupled else G // 4
    if mode == 1:
        return G // 3
    return G


def functorch_active() -> bool:
    """Whether a torch.func transform (grad, vjp, jvp, vmap, ...) is running."""
    try:
        return torch._C._functorch.maybe_current_level() is not None
    except AttributeError:  # pragma: no cover - a torch without functorch's C API
        return False


class Backend:
    """A way to run one layer (all its directions) of a recurrent network.

    Subclasses set ``name`` and ``priority``, say why they cannot run a configuration in
    :meth:`unsupported`, and implement :meth:`run_layer` (or
    :meth:`DirectionalBackend.run_direction`). They may declare
    ``unsupported_under(tools) -> str | None`` (see :mod:`lstmkit.backends`), and
    override :meth:`prepare_input`, :meth:`layer_context` and :meth:`run_cell` where
    they need to. Register an instance with :func:`lstmkit.backends.register`.
    """

    name: str = ""
    #: higher runs first under ``backend="auto"``
    priority: int = 0
    #: whether :meth:`run_plain_layer` is offered
    offers_plain_layer: bool = False

    def unavailable(self) -> str | None:
        """Why this backend cannot run on this machine at all, or None."""
        return None

    def unsupported(self, spec: LayerSpec, x: Tensor) -> str | None:
        """Why this backend cannot run ``spec`` on input ``x``, or None.

        Args:
            spec: the layer's configuration.
            x: the input (T, B, I).

        Returns:
            A reason in words (shown by ``select``'s errors and ``lstmkit info``), or None.
        """
        return self.unavailable()

    def run_layer(
        self,
        spec: LayerSpec,
        cell: CellMath,
        x: Tensor,  # (T, B, I)
        h0: Tensor,  # (D, B, P)
        c0: Tensor | None,  # (D, B, H)
        params: list[DirParams],
        lengths: Tensor | None,  # (B,) int64 on x's device
        training: bool,
        record: list | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Run one layer, all its directions.

        Args:
            spec: the layer's configuration.
            cell: the cell math (:func:`lstmkit.cells.cell_math`).
            x: the layer's input (T, B, I).
            h0: (D, B, P) initial h.
            c0: (D, B, H) initial c, or None for cells without one.
            params: one :class:`DirParams` per direction, masks drawn.
            lengths: (B,) int64 on x's device, or None.
            training: the module's training mode.
            record: when a list, append one dict of (T, B, H) activations per direction.

        Returns:
            ``(output (T, B, D*P), h_n (D, B, P), c_n (D, B, H) or None)``.
        """
        raise NotImplementedError

    def prepare_input(self, x: Tensor, tools: frozenset) -> Tensor:
        """The layer stack's input (T, B, I) as this backend needs it under ``tools``
        (names from :data:`lstmkit.backends.tools.TOOLS`); ``x`` itself by default."""
        return x

    def layer_context(self, x: Tensor, tools: frozenset) -> contextlib.AbstractContextManager:
        """A context manager each :meth:`run_layer` call of a forward on ``x`` runs in,
        under ``tools``; none by default."""
        return contextlib.nullcontext()

    def run_plain_layer(self, spec: LayerSpec, x: Tensor, h0: Tensor, c0: Tensor | None,
                        weights: list[Tensor], training: bool):
        """A plain one-layer module's forward from torch.nn's flat weight list, where the
        backend can run it without :class:`DirParams` (a shortcut the layers take for a
        call's fixed costs); None (the default) where it offers none.

        Args:
            spec: the layer's configuration (no variant, one layer).
            x: (T, B, I).
            h0, c0: (D, B, P) and (D, B, H) (c0 None for cells without one).
            weights: torch.nn's flat weight list, every direction.
            training: the module's training mode.

        Returns:
            ``(output (T, B, D*P), h_n, c_n or None)``, or None.
        """
        return

    def run_cell(self, spec: LayerSpec, cell: CellMath, x: Tensor, h: Tensor, c: Tensor | None,
                 p: DirParams, training: bool) -> tuple[Tensor, Tensor | None]:
        """One step of a one-step cell (``LSTMCell``, ``GRUCell``, ``RNNCell``).

        Args:
            spec: the cell's configuration (one layer, one direction).
            cell: the cell math.
            x: (B, I).
            h: (B, H).
            c: (B, H), or None for cells without one.
            p: the cell's parameters, masks drawn for T = 1.
            training: the module's training mode.

        Returns:
            ``(h_1 (B, H), c_1 (B, H) or None)``; by default :meth:`run_layer` on a
            one-step sequence.
        """
        _, hn, cn = self.run_layer(spec, cell, x.unsqueeze(0), h.unsqueeze(0),
                                   None if c is None else c.unsqueeze(0), [p], None, training)
        return hn[0], None if cn is None else cn[0]


def time_mask(lengths: Tensor | None, T: int) -> Tensor | None:
    """(T, B, 1) bool: True where step t is inside sequence b.

    Args:
        lengths: (B,) int64, or None.
        T: the number of steps.

    Returns:
        The mask, or None without lengths.
    """
    if lengths is None:
        return None
    steps = torch.arange(T, device=lengths.device).unsqueeze(1)  # (T, 1)
    return (steps < lengths.unsqueeze(0)).unsqueeze(-1)


def reverse_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` (T, B, F) within its own length; padding stays put.

    It is its own inverse, and differentiable (a gather).

    Args:
        x: (T, B, F).
        lengths: (B,) int64, or None (then a plain flip).

    Returns:
        (T, B, F).
    """
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    idx = torch.where(t < lengths.unsqueeze(0), lengths.unsqueeze(0) - 1 - t, t)  # (T, B)
    return x.gather(0, idx.unsqueeze(-1).expand_as(x))


#: On the CPU, inputs at most this wide are projected as ``addmm(b, x, W^T)`` with W^T made
#: contiguous instead of ``F.linear``: the same product forward, but autograd then forms
#: the weight's gradient as x^T dgx (and transposes the small result), where linear's
#: dgx^T x, shaped like W, is much slower on MKL when x has so few columns. The
#: whole projection, forward and backward, measured 0.27x to 0.69x of F.linear's time for
#: I = 2 to 10 (G = 128 to 1536, 3,200 and 12,800 rows), level or mixed at 16 (0.70x to
#: 1.30x) and 0.79x to 1.11x above, in two runs (``python benchmarks/projection.py``;
#: benchmarks/reports/2026-12-04-row-blocks.md).
NARROW_INPUT = 10


def project(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """x W^T (+ b) over the last dimension of ``x`` (..., I), as ``F.linear``; see
    :data:`NARROW_INPUT` for why a narrow input on the CPU takes another form."""
    if w.shape[1] > NARROW_INPUT or x.device.type != "cpu" or x.dim() < 2:
        return F.linear(x, w, b)
    flat, wt = x.reshape(-1, w.shape[1]), w.t().contiguous()
    y = torch.mm(flat, wt) if b is None else torch.addmm(b, flat, wt)
    return y.view(*x.shape[:-1], w.shape[0])


def input_projection(x: Tensor, p: DirParams) -> Tensor:
    """gx = [LN](x W_ih^T) + b_ih for all steps at once, under autograd.

    Args:
        x: (T, B, I).
        p: the direction's parameters (``w_ih``, ``b_ih``, ``ln_ih``).

    Returns:
        gx (T, B, G).
    """
    if p.ln_ih is None:
        return project(x, p.w_ih, p.b_ih)
    gx = F.layer_norm(project(x, p.w_ih), (p.w_ih.shape[0],), p.ln_ih[0], p.ln_ih[1], EPS)
    return gx if p.b_ih is None else gx + p.b_ih


class DirectionalBackend(Backend):
    """A backend that runs one direction at a time with :meth:`run_direction`; the
    reverse direction runs forward over each sequence reversed within its length."""

    def run_direction(
        self,
        cell: CellMath,
        gx: Tensor,  # (T, B, G) input projections, already in processing order
        h0: Tensor,  # (B, P)
        c0: Tensor | None,  # (B, H)
        p: DirParams,
        mask: Tensor | None,  # (T, B, 1) bool
        record: list | None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Run one direction forward over ``gx`` (already reversed for direction 2).

        Returns:
            ``(out (T, B, P), h_n (B, P), c_n (B, H) or None)``; with ``record`` a list,
            append one dict of (T, B, H) activations.
        """
        raise NotImplementedError

    def run_layer(self, spec, cell, x, h0, c0, params, lengths, training, record=None):
        """:meth:`Backend.run_layer` through :meth:`run_direction`, once per direction."""
        mask = time_mask(lengths, x.shape[0])
        outs, hns, cns = [], [], []
        for d, p in enumerate(params):
            rec = [] if record is not None else None
            gx = input_projection(x, p)
            if d == 1:
                gx = reverse_time(gx, lengths)
            out, hn, cn = self.run_direction(cell, gx, h0[d], None if c0 is None else c0[d], p, mask, rec)
            outs.append(out if d == 0 else reverse_time(out, lengths))
            hns.append(hn)
            cns.append(cn)
            if record is not None:
                steps = rec[0] if rec else {}
                if d == 1:  # back to the input's time order
                    steps = {k: reverse_time(v, lengths) for k, v in steps.items()}
                record.append(steps)
        out = outs[0] if len(outs) == 1 else torch.cat(outs, -1)
        cn = None if c0 is None else torch.stack(cns)
        return out, torch.stack(hns), cn


def stack_records(steps: list[dict[str, Any]]) -> dict:
    """Turn a list of per-step dicts of (B, H) tensors into a dict of (T, B, H) tensors.

    Args:
        steps: one dict per step, all with the same keys.

    Returns:
        The stacked dict ({} for no steps).
    """
    if not steps:
        return {}
    return {k: torch.stack([s[k] for s in steps]) for k in steps[0]}
