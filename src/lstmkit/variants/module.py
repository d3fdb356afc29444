"""What the layers and cells do with the specs: :class:`Variants` (the validated options
of one module), the parameters' registration and initialisation, and each forward's
per-direction parameters with the masks drawn. All of it is derived from
:data:`~lstmkit.variants.specs.SPECS`."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn

from lstmkit.variants.spec import Mask, Param, VariantSpec
from lstmkit.variants.specs import BY_NAME, SPECS

#: values that mean "off" for any option (the Elman RNN takes none)
_OFF_ANY = (False, 0, 0.0, None, (0.0, 0.0))
#: values that mean "off" for an option of another mode
_OFF = (False, 0, 0.0, None)
#: the direction suffix of a layer's parameter name
_SUFFIX = re.compile(r"_l\d+(_reverse)?$")


def variant_fields(cls):
    """Class decorator (below ``@dataclass``): add one field per variant of :data:`SPECS`,
    with the spec's annotation and default, after the class's own fields.

    Args:
        cls: the class (``Variants``, ``LayerSpec``).

    Returns:
        ``cls``, with the annotations and defaults added.
    """
    annotations = dict(inspect.get_annotations(cls))
    for s in SPECS:
        annotations[s.name] = s.annotation
        setattr(cls, s.name, s.default)
    cls.__annotations__ = annotations
    return cls


@dataclass(frozen=True)
@variant_fields
class Variants:
    """Validated variant options of one module: one field per spec of :data:`SPECS`
    (``layer_norm``, ``peephole``, ``coupled_gates``, ``forget_bias``, ``cell_clip``,
    ``recurrent_dropout``, ``zoneout`` as ``(rate of c, rate of h)``, ``weight_drop``).

    Example:
        >>> from lstmkit.variants import Variants
        >>> v = Variants.build("GRU", True, zoneout=0.1, layer_norm=True)
        >>> v.zoneout, v.repr_items()
        ((0.0, 0.1), ['layer_norm=True', 'zoneout=(0.0, 0.1)'])
    """

    @classmethod
    def build(cls, mode: str, bias: bool, *, owner: str = "", **opts) -> Variants:
        """Validate the keywords of a module.

        Args:
            mode: ``LSTM``, ``GRU``, ``RNN_TANH`` or ``RNN_RELU``.
            bias: whether the module has biases.
            owner: keyword-only; the class being built, for the messages.
            **opts: variant keywords; those not given are off.

        Returns:
            The validated options.

        Raises:
            TypeError: a keyword that is no variant.
            ValueError: a bad value, or a variant the mode does not take.
        """
        unknown = [k for k in opts if k not in BY_NAME]
        if unknown:
            raise TypeError(f"{owner or 'Variants.build'}() got an unexpected keyword argument {unknown[0]!r} "
                            f"(the variants are {', '.join(BY_NAME)})")
        values = {s.name: opts.get(s.name, s.keyword_default) for s in SPECS}
        if not any(mode in s.modes for s in SPECS):
            on = [k for k, v in values.items() if v not in _OFF_ANY]
            if on:
                raise ValueError(f"the Elman RNN has no variants; got {', '.join(on)} (use LSTM or GRU)")
            return cls()
        foreign = [s for s in SPECS if mode not in s.modes and values[s.name] not in _OFF]
        if foreign:
            only = " and ".join(sorted({m for s in foreign for m in s.modes}))
            raise ValueError(f"{', '.join(s.name for s in foreign)} exist(s) only for the "
                             f"{only}, not the {mode}")
        return cls(**{s.name: s.parse(values[s.name], mode, bias) for s in SPECS})

    def on(self) -> tuple[VariantSpec, ...]:
        """The specs of the variants in effect."""
        return tuple(s for s in SPECS if s.is_on(getattr(self, s.name)))

    def cell_options(self, mode: str) -> dict:
        """The keywords of :func:`lstmkit.cells.cell_math` (only the LSTM's cell takes any)."""
        if mode != "LSTM":
            return {}
        return {s.cell_option: getattr(self, s.name) for s in SPECS if s.cell_option}

    def spec_fields(self, training: bool) -> dict:
        """The variant fields of :class:`~lstmkit.backends.LayerSpec` in this training mode."""
        return {s.name: getattr(self, s.name) if training or not s.training_only_in_spec
                else s.default for s in SPECS}

    def repr_items(self) -> list[str]:
        """``name=value`` for each option that differs from its default (for ``repr``)."""
        d = Variants()
        return [f"{k}={getattr(self, k)!r}" for k in self.__dataclass_fields__ if getattr(self, k) != getattr(d, k)]

    def not_plain(self, onnx: bool = False) -> list[str]:
        """The options in effect that keep the eval-mode model from being a plain torch.nn
        (or, with ``onnx``, ONNX LSTM/GRU/RNN operator) model, with ONNX's notes."""
        return [s.name + (f" ({s.onnx_note})" if onnx and s.onnx_note else "")
                for s in self.on() if not s.plain_in_eval]

    def torch_compatible(self) -> str | None:
        """Why a torch.nn module can't hold this model (None if it can, in eval mode)."""
        return ", ".join(self.not_plain()) or None

    def draws_masks(self) -> bool:
        """Whether a training forward draws random masks."""
        return any(s.masks for s in self.on())


def _present(p: Param, v: Variants, mode: str) -> bool:
    return mode in p.modes and not (p.absent_with and BY_NAME[p.absent_with].is_on(getattr(v, p.absent_with)))


@lru_cache(maxsize=256)
def parameters_of(v: Variants, mode: str) -> tuple[Param, ...]:
    """The variant parameters a direction of a ``mode`` module with ``v`` has, in
    registration order.

    Args:
        v: the module's options.
        mode: ``LSTM``, ``GRU``, ``RNN_TANH`` or ``RNN_RELU``.

    Returns:
        The :class:`Param` descriptions.
    """
    return tuple(p for s in v.on() if mode in s.modes for p in s.params if _present(p, v, mode))


@lru_cache(maxsize=256)
def masks_of(v: Variants, mode: str) -> tuple[tuple[Mask, str], ...]:
    """The masks a forward draws, in draw order.

    Args:
        v: the module's options.
        mode: its mode.

    Returns:
        ``(mask, option name)`` pairs, sorted by :attr:`Mask.order`.
    """
    masks = [(m, s.name) for s in v.on() if mode in s.modes for m in s.masks if mode in m.modes]
    return tuple(sorted(masks, key=lambda pair: pair[0].order))


#: each DirParams tuple field the variant parameters go to, and its length
_SLOTS = {}
for _s in SPECS:
    for _p in _s.params:
        _SLOTS[_p.slot[0]] = max(_SLOTS.get(_p.slot[0], 0), _p.slot[1] + 1)


def register_direction(module: nn.Module, sfx: str, mode: str, n_gates: int, layer_in: int,
                       H: int, P: int, bias: bool, proj: int, v: Variants, factory: dict) -> list[str]:
    """Create one direction's parameters on ``module``: torch's, then the variants'.

    Args:
        module: the layer or cell.
        sfx: the direction's suffix (``_l0``, ``_l0_reverse``, or "" for a cell).
        mode: ``LSTM``, ``GRU``, ``RNN_TANH`` or ``RNN_RELU``.
        n_gates: gate blocks of the cell (G = n_gates * H).
        layer_in: the layer's input size.
        H: hidden size.
        P: proj_size or H.
        bias: whether to create ``bias_ih``/``bias_hh``.
        proj: proj_size (0: no ``weight_hr``).
        v: the module's options.
        factory: ``{"device": ..., "dtype": ...}``.

    Returns:
        The torch-named parameters' names, in torch's order.
    """
    G = n_gates * H
    torch_shapes = [(f"weight_ih{sfx}", (G, layer_in)), (f"weight_hh{sfx}", (G, P))]
    if bias:
        torch_shapes += [(f"bias_ih{sfx}", (G,)), (f"bias_hh{sfx}", (G,))]
    if proj:
        torch_shapes.append((f"weight_hr{sfx}", (proj, H)))
    sizes = {"G": G, "H": H}
    extra = [(p.name + sfx, tuple(sizes[d] for d in p.shape)) for p in parameters_of(v, mode)]
    for name, shape in torch_shapes + extra:
        setattr(module, name, nn.Parameter(torch.empty(shape, **factory)))
    return [n for n, _ in torch_shapes]


def registered_names(module: nn.Module) -> frozenset[str]:
    """The names of the parameters a layer's or cell's constructor registered (those not
    None). The compiled streaming step reads the weights straight from
    ``module._parameters``; where one of these names has left it (a
    ``torch.nn.utils.parametrize`` parametrization, pruning, ``weight_norm``: the weight
    is then computed, not stored), that step steps aside for the general path."""
    return frozenset(n for n, p in module._parameters.items() if p is not None)


def reset_variants(module: nn.Module, v: Variants, mode: str, H: int) -> None:
    """After torch's uniform pass over every parameter: each variant parameter's
    :attr:`Param.init`, then each variant's ``reset`` (the forget bias).

    Args:
        module: the layer or cell.
        v: its options.
        mode: its mode.
        H: hidden size.
    """
    inits = {p.name: p.init for p in parameters_of(v, mode) if p.init != "uniform"}
    with torch.no_grad():
        if inits:
            for name, p in module.named_parameters():
                init = inits.get(_SUFFIX.sub("", name))
                if init == "ones":
                    p.fill_(1.0)
                elif init == "zeros":
                    p.zero_()
        for s in v.on():
            if s.reset is not None and mode in s.modes:
                s.reset(module, v, mode, H)


def direction_params(module: nn.Module, sfx: str, v: Variants, T: int, B: int, P: int, H: int,
                     ref: Tensor, training: bool):
    """One direction's parameters with this forward's masks drawn (in :attr:`Mask.order`).

    Args:
        module: the layer or cell (its ``mode`` is read).
        sfx: the direction's suffix.
        v: the module's options.
        T: time steps of this forward.
        B: batch size.
        P: proj_size or H.
        H: hidden size.
        ref: a tensor whose dtype and device the masks take.
        training: whether masks are drawn (training) or expectations used (eval).

    Returns:
        A :class:`~lstmkit.backends.DirParams`.
    """
    from lstmkit.backends import DirParams

    registered, attrs = module._parameters, module.__dict__
    kind = type(module)

    def g(n: str):
        # the registered parameter without nn.Module.__getattr__'s exception for an absent
        # name; else a weight computed at each call: an instance attribute (pruning and
        # weight_norm set one in their forward pre-hooks) or a parametrization (a property
        # of the module's class)
        n = n + sfx
        p = registered.get(n)
        if p is None:
            p = attrs.get(n)
        return p if p is not None or not hasattr(kind, n) else getattr(module, n)
    fields = {"w_ih": g("weight_ih"), "w_hh": g("weight_hh"), "b_ih": g("bias_ih"),
              "b_hh": g("bias_hh"), "w_hr": g("weight_hr")}
    mode = module.mode
    params = parameters_of(v, mode)
    if params:
        slots = {}
        for p in params:
            field, i = p.slot
            slot = slots.get(field)
            if slot is None:
                slot = slots[field] = [None] * _SLOTS[field]
            slot[i] = g(p.name)
        fields.update({k: tuple(s) for k, s in slots.items()})
    masks = masks_of(v, mode)
    if masks:
        dims = {"T": T, "B": B, "P": P, "H": H}
        for m, name in masks:
            value = m.draw(getattr(v, name), fields, dims, ref, training)
            if value is not None:
                fields[m.field] = value
    return DirParams(**fields)
