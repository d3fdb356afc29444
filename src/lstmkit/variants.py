"""The LSTM/GRU variants torch.nn lacks: their options, their parameters and their
random masks, shared by the layers and the one-step cells.

=====================  =====================================================================
option                 what it does (paper)
=====================  =====================================================================
layer_norm=True        gx = LN(W_ih x) g_x + b_x + b_ih, gh = LN(W_hh h) g_h + b_h + b_hh, and
                       for the LSTM h_t = o_t tanh(LN(c_t) g_c + b_c)  (Ba, Kiros & Hinton 2016)
peephole=True          i, f see c_{t-1}; o sees c_t, through diagonal weights p_i, p_f, p_o
                       (Gers & Schmidhuber 2000). LSTM only.
coupled_gates=True     CIFG: i_t = 1 - f_t, no input-gate weights (gates f, g, o; 3H rows)
                       (Greff et al. 2017). LSTM only.
forget_bias=b          adds b to the forget gate's bias_hh at initialisation
                       (Jozefowicz et al. 2015 recommend 1.0). LSTM only.
cell_clip=v            c_t = clamp(c_t, -v, v). LSTM only.
recurrent_dropout=p    variational dropout on h_{t-1} where it enters W_hh: one mask per
                       sequence, layer and direction, scaled 1/(1-p); identity in eval
                       (Gal & Ghahramani 2016).
zoneout=z or (z_c,z_h) each unit keeps its previous value with probability z in training;
                       in eval the state is the expectation z s_{t-1} + (1-z) s_t
                       (Krueger et al. 2016). GRU takes one rate (h).
weight_drop=p          DropConnect on W_hh: one mask per forward, scaled 1/(1-p); identity in
                       eval (Merity et al. 2017).
=====================  =====================================================================

Masks are drawn by the module, once per forward, in a fixed order (per layer and
direction: weight_drop, recurrent_dropout, zoneout c, zoneout h), so a seeded run gives the
same result on every backend. Variant parameters are named ``ln_ih_weight_l0``,
``ln_ih_bias_l0``, ``ln_hh_weight_l0``, ``ln_hh_bias_l0``, ``ln_c_weight_l0``,
``ln_c_bias_l0``, ``peephole_i_l0``, ``peephole_f_l0``, ``peephole_o_l0`` (``_reverse`` for
the backward direction); with no variant on, the parameters are exactly torch.nn's.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lstmkit.backends import DirParams

LSTM_ONLY = ("peephole", "coupled_gates", "forget_bias", "cell_clip")


def _rate(name: str, value, upper_open: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not (0 <= value < 1 if upper_open else 0 <= value <= 1):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name} must be a number in {bound}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Variants:
    """Validated variant options of one module."""

    layer_norm: bool = False
    peephole: bool = False
    coupled_gates: bool = False
    forget_bias: float = 0.0
    cell_clip: float | None = None
    recurrent_dropout: float = 0.0
    zoneout: tuple[float, float] = (0.0, 0.0)  # (c, h)
    weight_drop: float = 0.0

    @classmethod
    def build(cls, mode: str, bias: bool, **opts) -> "Variants":
        if mode.startswith("RNN"):
            on = [k for k, v in opts.items() if v not in (False, 0, 0.0, None, (0.0, 0.0))]
            if on:
                raise ValueError(f"the Elman RNN has no variants; got {', '.join(on)} (use LSTM or GRU)")
            return cls()
        if mode == "GRU":
            on = [k for k in LSTM_ONLY if opts[k] not in (False, 0, 0.0, None)]
            if on:
                raise ValueError(f"{', '.join(on)} exist(s) only for the LSTM, not the GRU")
        z = opts["zoneout"]
        if isinstance(z, (tuple, list)):
            if len(z) != 2 or mode == "GRU":
                raise ValueError(
                    "zoneout takes a rate or, for the LSTM, a pair (zoneout_c, zoneout_h); "
                    f"got {z!r}"
                )
            zc, zh = (_rate("zoneout", v, upper_open=False) for v in z)
        else:
            zh = _rate("zoneout", z, upper_open=False)
            zc = zh if mode == "LSTM" else 0.0
        clip = opts["cell_clip"]
        if clip is not None and (not isinstance(clip, numbers.Real) or isinstance(clip, bool) or clip <= 0):
            raise ValueError(f"cell_clip must be a positive number or None, got {clip!r}")
        fb = opts["forget_bias"]
        if not isinstance(fb, numbers.Real) or isinstance(fb, bool):
            raise ValueError(f"forget_bias must be a number, got {fb!r}")
        if fb and not bias:
            raise ValueError("forget_bias needs bias=True (it initialises the forget gate's bias)")
        return cls(
            layer_norm=bool(opts["layer_norm"]),
            peephole=bool(opts["peephole"]),
            coupled_gates=bool(opts["coupled_gates"]),
            forget_bias=float(fb),
            cell_clip=None if clip is None else float(clip),
            recurrent_dropout=_rate("recurrent_dropout", opts["recurrent_dropout"]),
            zoneout=(zc, zh),
            weight_drop=_rate("weight_drop", opts["weight_drop"]),
        )

    def cell_options(self, mode: str) -> dict:
        if mode != "LSTM":
            return {}
        return dict(peephole=self.peephole, coupled=self.coupled_gates,
                    cell_clip=self.cell_clip, layer_norm=self.layer_norm)

    def spec_fields(self, training: bool) -> dict:
        return dict(
            layer_norm=self.layer_norm, peephole=self.peephole, coupled_gates=self.coupled_gates,
            cell_clip=self.cell_clip, recurrent_dropout=self.recurrent_dropout if training else 0.0,
            zoneout=self.zoneout, weight_drop=self.weight_drop, forget_bias=self.forget_bias,
        )

    def repr_items(self) -> list[str]:
        d = Variants()
        return [f"{k}={getattr(self, k)!r}" for k in self.__dataclass_fields__ if getattr(self, k) != getattr(d, k)]

    def torch_compatible(self) -> str | None:
        """Why a torch.nn module can't hold this model (None if it can, in eval mode)."""
        blocking = [k for k in ("layer_norm", "peephole", "coupled_gates") if getattr(self, k)]
        if self.cell_clip is not None:
            blocking.append("cell_clip")
        if any(self.zoneout):
            blocking.append("zoneout")
        return ", ".join(blocking) or None


def register_direction(module: nn.Module, sfx: str, mode: str, n_gates: int, layer_in: int,
                       H: int, P: int, bias: bool, proj: int, v: Variants, factory: dict) -> list[str]:
    """Create one direction's parameters on ``module`` (torch's names first); returns the
    torch-named ones in torch's order."""
    G = n_gates * H
    torch_shapes = [(f"weight_ih{sfx}", (G, layer_in)), (f"weight_hh{sfx}", (G, P))]
    if bias:
        torch_shapes += [(f"bias_ih{sfx}", (G,)), (f"bias_hh{sfx}", (G,))]
    if proj:
        torch_shapes.append((f"weight_hr{sfx}", (proj, H)))
    extra = []
    if v.layer_norm:
        extra += [(f"ln_ih_weight{sfx}", (G,)), (f"ln_ih_bias{sfx}", (G,)),
                  (f"ln_hh_weight{sfx}", (G,)), (f"ln_hh_bias{sfx}", (G,))]
        if mode == "LSTM":
            extra += [(f"ln_c_weight{sfx}", (H,)), (f"ln_c_bias{sfx}", (H,))]
    if v.peephole:
        names = ("f", "o") if v.coupled_gates else ("i", "f", "o")
        extra += [(f"peephole_{g}{sfx}", (H,)) for g in names]
    for name, shape in torch_shapes + extra:
        setattr(module, name, nn.Parameter(torch.empty(shape, **factory)))
    return [n for n, _ in torch_shapes]


def reset_variants(module: nn.Module, v: Variants, mode: str, H: int) -> None:
    """After torch's uniform init: layer-norm gains 1 and biases 0; the forget bias."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("ln_") and "_weight" in name:
                p.fill_(1.0)
            elif name.startswith("ln_") and "_bias" in name:
                p.zero_()
            elif v.forget_bias and name.startswith("bias_hh") and mode == "LSTM":
                f = slice(0, H) if v.coupled_gates else slice(H, 2 * H)
                p[f] += v.forget_bias


def direction_params(module: nn.Module, sfx: str, v: Variants, T: int, B: int, P: int, H: int,
                     ref: Tensor, training: bool) -> DirParams:
    """One direction's parameters with this forward's masks drawn (fixed order)."""
    g = lambda n: getattr(module, n + sfx, None)  # noqa: E731
    w_hh = g("weight_hh")
    if v.weight_drop and training:
        keep = 1 - v.weight_drop
        w_hh = w_hh * keep_mask(w_hh.shape, keep, w_hh)
    rec_mask = None
    if v.recurrent_dropout and training:
        keep = 1 - v.recurrent_dropout
        rec_mask = keep_mask((B, P), keep, ref)
    zc, zh = v.zoneout
    zone_c = _zone(zc, (T, B, H), ref, training) if module.mode == "LSTM" else None
    zone_h = _zone(zh, (T, B, P), ref, training)
    ln_ih = (g("ln_ih_weight"), g("ln_ih_bias")) if v.layer_norm else None
    ln_hh = (g("ln_hh_weight"), g("ln_hh_bias")) if v.layer_norm else None
    cp = (g("peephole_i"), g("peephole_f"), g("peephole_o"), g("ln_c_weight"), g("ln_c_bias"))
    return DirParams(g("weight_ih"), w_hh, g("bias_ih"), g("bias_hh"), g("weight_hr"),
                     ln_ih, ln_hh, cp, rec_mask, zone_h, zone_c)


def bernoulli_mask(shape, p: float, like: Tensor) -> Tensor:
    """0/1 draws with P(1) = p, in ``like``'s dtype and device. ``uniform < p`` has the
    same distribution as ``torch.bernoulli`` and is 2 to 3x faster on the CPU, where a mask
    as large as W_hh (weight_drop) or as the whole sequence's state (zoneout) otherwise
    costs a sizeable share of a training step (the character model's step, A/B: x1.14
    the characters/s with weight_drop=0.3, x1.19 with zoneout, x1.06 with
    recurrent_dropout; ``examples/text_step_speed.py``, docs/text.md).

    Args:
        shape: the mask's shape.
        p: the probability of a 1.
        like: a tensor whose dtype and device the mask takes.

    Returns:
        The mask, 0.0 and 1.0 in ``like``'s dtype.
    """
    return torch.rand(shape, dtype=like.dtype, device=like.device).lt_(p)


def keep_mask(shape, keep: float, like: Tensor) -> Tensor:
    """A dropout mask: 1/keep with probability ``keep``, else 0 (its mean is 1).

    Args:
        shape: the mask's shape.
        keep: the probability of keeping an element, in (0, 1].
        like: a tensor whose dtype and device the mask takes.

    Returns:
        The mask in ``like``'s dtype.
    """
    return bernoulli_mask(shape, keep, like).div_(keep)


class Dropout(nn.Module):
    """``nn.Dropout``'s maths (each element zeroed with probability ``p`` in training, the
    rest scaled by 1/(1-p); the identity in eval) with the mask drawn by
    :func:`keep_mask`. In a character model's training step ``nn.Dropout``'s
    ``bernoulli_`` took 10% of the time on the CPU (torch.profiler, docs/text.md).

    Args:
        p: the probability of zeroing an element, in [0, 1) (default 0.5).

    Raises:
        ValueError: ``p`` outside [0, 1).

    Example:
        >>> import torch
        >>> from lstmkit.variants import Dropout
        >>> drop = Dropout(0.25)
        >>> y = drop(torch.ones(1000))
        >>> sorted(set(y.tolist()))  # dropped, or kept and scaled by 1/(1-p)
        [0.0, 1.3333333730697632]
        >>> bool(drop.eval()(torch.ones(3)).eq(1).all())
        True
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = _rate("dropout", p)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` with the mask applied in training; ``x`` itself in eval (any shape)."""
        if not self.training or self.p == 0.0:
            return x
        return x * keep_mask(x.shape, 1.0 - self.p, x)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _zone(rate: float, shape: tuple, ref: Tensor, training: bool) -> Tensor | None:
    """Weight of the previous state: Bernoulli(rate) per unit and step in training, the
    constant rate (the expectation) in eval."""
    if not rate:
        return None
    if training:
        return bernoulli_mask(shape, rate, ref)
    return ref.new_full((1, 1, 1), rate).expand(shape)
