"""The declarative description of a variant: :class:`VariantSpec`, its parameters
(:class:`Param`) and its random masks (:class:`Mask`).

One :class:`VariantSpec` per variant, listed in :data:`lstmkit.variants.SPECS`; the
layers' validation, parameters, initialisation, masks, :class:`~lstmkit.backends.LayerSpec`
fields and the reasons a backend or an exporter gives are derived from that list.

Shape symbols of :attr:`Param.shape` and :attr:`Mask.shape`: T time, B batch, H hidden,
P = proj_size or H, G = n_gates * H.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: torch.nn's recurrent modes, as the layers name them
MODES = ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")

#: how a parameter is initialised after torch's U(-1/sqrt(H), 1/sqrt(H)) pass over every
#: parameter (which runs first, in registration order, so a seeded run draws the same
#: numbers whichever variants are on)
INITS = ("uniform", "ones", "zeros")


@dataclass(frozen=True)
class Param:
    """One parameter a variant adds to each direction of each layer.

    Attributes:
        name: the base name; the module's attribute is ``name`` + the direction's suffix
            (``_l0``, ``_l0_reverse``; none on a cell).
        shape: its shape in symbols, ``("G",)`` or ``("H",)``.
        init: one of :data:`INITS`, applied after torch's uniform pass.
        slot: where the backends receive it: a :class:`~lstmkit.backends.DirParams`
            field and the index in that field's tuple.
        modes: the modes that have it (a subset of the variant's).
        absent_with: the name of another variant with which this parameter does not
            exist (``peephole_i`` under ``coupled_gates``), or None.
    """

    name: str
    shape: tuple[str, ...]
    init: str
    slot: tuple[str, int]
    modes: tuple[str, ...] = ("LSTM", "GRU")
    absent_with: str | None = None

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"Param {self.name}: init must be one of {INITS}, got {self.init!r}")


@dataclass(frozen=True)
class Mask:
    """One random mask a variant draws per forward, layer and direction (training mode).

    Attributes:
        name: what the mask is called in the docs (``zoneout_c``).
        field: the :class:`~lstmkit.backends.DirParams` field it sets (``w_hh`` for
            weight drop: the masked weight).
        shape: its shape in symbols, e.g. ``("T", "B", "H")``.
        order: its place in the draw order of all masks (lower first); a seeded run
            draws the masks in this order on every backend.
        draw: ``draw(value, fields, dims, ref, training) -> Tensor | None``: the
            variant's validated value, the DirParams fields so far, the sizes
            ``{"T", "B", "H", "P"}``, a tensor giving dtype and device, and the training
            mode; returns the field's value (None: not in effect).
        modes: the modes that draw it.
    """

    name: str
    field: str
    shape: tuple[str, ...]
    order: int
    draw: Callable[..., Any]
    modes: tuple[str, ...] = ("LSTM", "GRU")


@dataclass(frozen=True)
class VariantSpec:
    """Everything about one variant, in one place.

    Attributes:
        name: the layer's and the cell's keyword, and the field of
            :class:`~lstmkit.variants.Variants` and :class:`~lstmkit.backends.LayerSpec`.
        summary: what it does, one line (the paper).
        modes: the modes that take it (``("LSTM",)`` or ``("LSTM", "GRU")``).
        annotation: the type of the validated value (as a string).
        default: the validated value when off (also LayerSpec's default).
        keyword_default: the keyword's default value (what "off" is written as).
        example: a keyword value that turns it on (``lstmkit info --variant``, tests).
        parse: ``parse(value, mode, bias) -> validated value``; raises ValueError with
            a one-line message.
        is_on: ``is_on(validated value) -> bool``.
        params: the parameters it adds, in registration order.
        masks: the masks it draws.
        cell_option: the :class:`~lstmkit.cells.LSTMMath` keyword that receives its
            value, or None (the cell's math does not change).
        recurrence: True when it changes the recurrence's math: it is then named in
            :attr:`LayerSpec.variants`, and torch's kernels (backend ``native``) cannot
            run it.
        plain_in_eval: True when, in eval mode, a layer with it on is a plain torch.nn
            layer (so ``to_torch`` and ONNX's own LSTM/GRU/RNN operators hold it).
        onnx_note: why ONNX's operator cannot hold it, when that needs more than the name.
        training_only_in_spec: True when LayerSpec carries the value only in training
            (eval mode runs the identity).
        reset: ``reset(module, value, mode, H)`` after the initialisation, or None.
        where: the code beyond this spec that implements it (the math), for maintainers.
    """

    name: str
    summary: str
    modes: tuple[str, ...]
    annotation: str
    default: Any
    keyword_default: Any
    example: Any
    parse: Callable[[Any, str, bool], Any]
    is_on: Callable[[Any], bool] = bool
    params: tuple[Param, ...] = ()
    masks: tuple[Mask, ...] = ()
    cell_option: str | None = None
    recurrence: bool = True
    plain_in_eval: bool = False
    onnx_note: str = ""
    training_only_in_spec: bool = False
    reset: Callable[..., None] | None = None
    where: str = ""
