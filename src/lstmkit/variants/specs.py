"""The variants, one :class:`~lstmkit.variants.spec.VariantSpec` each: :data:`SPECS`.

The order of :data:`SPECS` is the order of the keywords, of the fields of
:class:`~lstmkit.variants.Variants` and :class:`~lstmkit.backends.LayerSpec`, of the
parameters' registration (and so of the seeded initialisation) and of the names in
messages. The masks are drawn in their own order (:attr:`Mask.order`).

Beyond the spec, what each variant computes is written out where the math lives (the
``where`` of each spec): the cell (:mod:`lstmkit.cells`), the reference loop, the fused
loop, the compiled C++ (its argument lists: ``backends/compiled/function.py``
``TENSOR_ARGS`` and ``streaming._NAMES``, and ``csrc/``), the Triton kernels
(``backends/triton/plan.py`` ``Recurrence``) and the ONNX Scan body
(``export/loop.py``). Those argument lists stay explicit: they are the operators'
signatures; ``tests/test_variant_spec.py`` checks that they cover every parameter here.
"""

from __future__ import annotations

import numbers

import numpy as np

from lstmkit.variants.masks import keep_mask, rate, zone
from lstmkit.variants.spec import Mask, Param, VariantSpec


def _flag_of(name: str):
    def parse(value, mode: str, bias: bool) -> bool:
        # True / False (or 1 / 0); anything else (a string such as "maybe") is refused
        if isinstance(value, np.bool_) or (isinstance(value, numbers.Integral) and value in (0, 1)):
            return bool(value)
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return parse


def _forget_bias(value, mode: str, bias: bool) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"forget_bias must be a number, got {value!r}")  # noqa: TRY004 - the message the tests and users know
    if value and not bias:
        raise ValueError("forget_bias needs bias=True (it initialises the forget gate's bias)")
    return float(value)


def _cell_clip(value, mode: str, bias: bool) -> float | None:
    if value is not None and (not isinstance(value, numbers.Real) or isinstance(value, bool)
                              or value <= 0):
        raise ValueError(f"cell_clip must be a positive number or None, got {value!r}")
    return None if value is None else float(value)


def _recurrent_dropout(value, mode: str, bias: bool) -> float:
    return rate("recurrent_dropout", value)


def _weight_drop(value, mode: str, bias: bool) -> float:
    return rate("weight_drop", value)


def _zoneout(value, mode: str, bias: bool) -> tuple[float, float]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or mode == "GRU":
            raise ValueError(
                "zoneout takes a rate or, for the LSTM, a pair (zoneout_c, zoneout_h); "
                f"got {value!r}"
            )
        zc, zh = (rate("zoneout", v, upper_open=False) for v in value)
    else:
        zh = rate("zoneout", value, upper_open=False)
        zc = zh if mode == "LSTM" else 0.0
    return (zc, zh)


def _add_forget_bias(module, v, mode: str, H: int) -> None:
    """Add the forget bias to the forget gate's rows of every ``bias_hh`` (under no_grad)."""
    f = slice(0, H) if v.coupled_gates else slice(H, 2 * H)
    for name, p in module.named_parameters():
        if name.startswith("bias_hh"):
            p[f] += v.forget_bias


def _drop_weight(p: float, fields: dict, dims: dict, ref, training: bool):
    if not (p and training):
        return None
    w = fields["w_hh"]
    return w * keep_mask(w.shape, 1 - p, w)


def _recurrent_mask(p: float, fields: dict, dims: dict, ref, training: bool):
    if not (p and training):
        return None
    return keep_mask((dims["B"], dims["P"]), 1 - p, ref)


def _zone_c(z: tuple[float, float], fields: dict, dims: dict, ref, training: bool):
    return zone(z[0], (dims["T"], dims["B"], dims["H"]), ref, training)


def _zone_h(z: tuple[float, float], fields: dict, dims: dict, ref, training: bool):
    return zone(z[1], (dims["T"], dims["B"], dims["P"]), ref, training)


LSTM, BOTH = ("LSTM",), ("LSTM", "GRU")

#: every variant, in keyword order
SPECS: tuple[VariantSpec, ...] = (
    VariantSpec(
        name="layer_norm",
        summary="layer normalisation of W_ih x, W_hh h and (LSTM) c_t (Ba, Kiros & Hinton 2016)",
        modes=BOTH, annotation="bool", default=False, keyword_default=False, example=True,
        parse=_flag_of("layer_norm"),
        params=(
            Param("ln_ih_weight", ("G",), "ones", ("ln_ih", 0)),
            Param("ln_ih_bias", ("G",), "zeros", ("ln_ih", 1)),
            Param("ln_hh_weight", ("G",), "ones", ("ln_hh", 0)),
            Param("ln_hh_bias", ("G",), "zeros", ("ln_hh", 1)),
            Param("ln_c_weight", ("H",), "ones", ("cp", 3), modes=LSTM),
            Param("ln_c_bias", ("H",), "zeros", ("cp", 4), modes=LSTM),
        ),
        cell_option="layer_norm",
        where="cells/lstm.py (LN of c); backends/base.py input_projection; reference.py, "
              "fused.py, compiled (ln_w/ln_b/lnx_w, csrc), triton (ln_h, ln_c); export/loop.py",
    ),
    VariantSpec(
        name="peephole",
        summary="i, f see c_{t-1} and o sees c_t through diagonal weights (Gers & Schmidhuber 2000)",
        modes=LSTM, annotation="bool", default=False, keyword_default=False, example=True,
        parse=_flag_of("peephole"),
        params=(
            Param("peephole_i", ("H",), "uniform", ("cp", 0), modes=LSTM, absent_with="coupled_gates"),
            Param("peephole_f", ("H",), "uniform", ("cp", 1), modes=LSTM),
            Param("peephole_o", ("H",), "uniform", ("cp", 2), modes=LSTM),
        ),
        cell_option="peephole",
        where="cells/lstm.py; compiled (p_i/p_f/p_o, csrc), triton (peephole); export/loop.py",
    ),
    VariantSpec(
        name="coupled_gates",
        summary="CIFG: i_t = 1 - f_t, no input-gate rows (3H) (Greff et al. 2017)",
        modes=LSTM, annotation="bool", default=False, keyword_default=False, example=True,
        parse=_flag_of("coupled_gates"), cell_option="coupled",
        where="cells/lstm.py (n_gates 3); compiled (coupled, csrc), triton (coupled); "
              "export/loop.py",
    ),
    VariantSpec(
        name="forget_bias",
        summary="adds b to the forget gate's bias_hh at initialisation (Jozefowicz et al. 2015)",
        modes=LSTM, annotation="float", default=0.0, keyword_default=0.0, example=1.0,
        parse=_forget_bias, recurrence=False, plain_in_eval=True, reset=_add_forget_bias,
        where="initialisation only (this spec's reset)",
    ),
    VariantSpec(
        name="cell_clip",
        summary="c_t = clamp(c_t, -v, v)",
        modes=LSTM, annotation="float | None", default=None, keyword_default=None, example=1.0,
        parse=_cell_clip, is_on=lambda v: v is not None, cell_option="cell_clip",
        onnx_note="ONNX's clip bounds the gate inputs, not the cell",
        where="cells/lstm.py; compiled (clip, csrc), triton (cell_clip); export/loop.py",
    ),
    VariantSpec(
        name="recurrent_dropout",
        summary="variational dropout on h_{t-1} where it enters W_hh, one mask per sequence "
                "(Gal & Ghahramani 2016)",
        modes=BOTH, annotation="float", default=0.0, keyword_default=0.0, example=0.1,
        parse=_recurrent_dropout, plain_in_eval=True, training_only_in_spec=True,
        masks=(Mask("recurrent_dropout", "rec_mask", ("B", "P"), 1, _recurrent_mask),),
        where="reference.py, fused.py, compiled (rec_mask, csrc), triton (HAS_RD)",
    ),
    VariantSpec(
        name="zoneout",
        summary="each unit keeps its previous value with probability z; the expectation in "
                "eval (Krueger et al. 2016)",
        modes=BOTH, annotation="tuple[float, float]", default=(0.0, 0.0), keyword_default=0.0,
        example=0.1, parse=_zoneout, is_on=any,
        masks=(Mask("zoneout_c", "zone_c", ("T", "B", "H"), 2, _zone_c, modes=LSTM),
               Mask("zoneout_h", "zone_h", ("T", "B", "P"), 3, _zone_h)),
        where="reference.py, fused.py, compiled (zone_h/zone_c, csrc; streaming's eval lerp), "
              "triton (HAS_ZH, HAS_ZC); export/loop.py (eval: the expectation)",
    ),
    VariantSpec(
        name="weight_drop",
        summary="DropConnect on W_hh, one mask per forward (Merity et al. 2017)",
        modes=BOTH, annotation="float", default=0.0, keyword_default=0.0, example=0.1,
        parse=_weight_drop, recurrence=False, plain_in_eval=True,
        masks=(Mask("weight_drop", "w_hh", ("G", "P"), 0, _drop_weight),),
        where="the mask only: every backend receives the masked W_hh",
    ),
)

#: the specs by name
BY_NAME: dict[str, VariantSpec] = {s.name: s for s in SPECS}
