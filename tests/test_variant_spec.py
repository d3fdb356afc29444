"""The variants' declarative specs (lstmkit.variants.SPECS) and what is derived from them:
each spec's parameters exist with their shapes and initialisation on every module built
with the option, every option is validated, the masks are drawn in the documented order,
and the places that stay explicit (the operators' argument lists, the docs) cover every
spec."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import lstmkit
import lstmkit.variants.masks as masks_module
from lstmkit.backends import DirParams, LayerSpec, explain
from lstmkit.backends.compiled import streaming
from lstmkit.export.layer import _PARAM_NAMES, why_not_native
from lstmkit.variants import BY_NAME, SPECS, Variants, masks_of, parameters_of

I, H, P, T, B = 3, 5, 2, 7, 4
LAYERS = {"LSTM": lstmkit.LSTM, "GRU": lstmkit.GRU}
CELLS = {"LSTM": lstmkit.LSTMCell, "GRU": lstmkit.GRUCell}
#: the draw order the docs state (lstmkit.variants' docstring)
DRAW_ORDER = ("weight_drop", "recurrent_dropout", "zoneout_c", "zoneout_h")


def _cases():
    for s in SPECS:
        for mode in s.modes:
            yield pytest.param(s, mode, id=f"{s.name}-{mode}")


def _suffixes(module) -> list[str]:
    if isinstance(module, (lstmkit.LSTMCell, lstmkit.GRUCell)):
        return [""]
    D = 2 if module.bidirectional else 1
    return [f"_l{k}" + ("_reverse" if d else "") for k in range(module.num_layers) for d in range(D)]


def _expected_params(s, mode, coupled: bool) -> list:
    return [p for p in s.params if mode in p.modes and not (p.absent_with == "coupled_gates" and coupled)]


@pytest.mark.parametrize(("s", "mode"), list(_cases()))
@pytest.mark.parametrize("kind", ["layer", "cell"])
def test_parameters_exist_with_their_shapes_and_init(s, mode, kind):
    torch.manual_seed(0)
    n_gates = 4 if mode == "LSTM" else 3
    if kind == "layer":
        m = LAYERS[mode](I, H, num_layers=2, bidirectional=True, **{s.name: s.example})
    else:
        m = CELLS[mode](I, H, **{s.name: s.example})
    sizes = {"G": n_gates * H, "H": H}
    torch_names = {n for n, _ in torch.nn.LSTM(I, H, num_layers=2, bidirectional=True).named_parameters()}
    expected = _expected_params(s, mode, coupled=False)
    names = [n for n, _ in m.named_parameters()]
    extra = [n for n in names if n not in torch_names and n not in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert extra == [p.name + sfx for sfx in _suffixes(m) for p in expected], \
        "the variant's parameters, direction by direction, in the spec's order"
    bound = 1 / math.sqrt(H)
    for sfx in _suffixes(m):
        for p in expected:
            t = getattr(m, p.name + sfx)
            assert tuple(t.shape) == tuple(sizes[d] for d in p.shape), p.name
            if p.init == "ones":
                assert torch.equal(t, torch.ones_like(t)), p.name
            elif p.init == "zeros":
                assert torch.equal(t, torch.zeros_like(t)), p.name
            else:
                assert t.abs().max() <= bound and t.std() > 0, p.name


def test_coupled_gates_drop_the_input_peephole():
    m = lstmkit.LSTM(I, H, peephole=True, coupled_gates=True)
    names = {n for n, _ in m.named_parameters()}
    assert "peephole_i_l0" not in names and {"peephole_f_l0", "peephole_o_l0"} <= names
    assert m.weight_ih_l0.shape == (3 * H, I)


def test_seeded_initialisation_draws_every_parameter_in_registration_order():
    """torch's uniform pass runs over every parameter before the specs' inits, so the torch
    parameters of a layer with variants are those of the plain layer with the same seed."""
    torch.manual_seed(0)
    plain = lstmkit.LSTM(I, H, num_layers=2)
    torch.manual_seed(0)
    ln = lstmkit.LSTM(I, H, num_layers=2, layer_norm=True)
    torch.manual_seed(0)
    uniform = [torch.empty(p.shape).uniform_(-1 / math.sqrt(H), 1 / math.sqrt(H)) for p in ln.parameters()]
    for (name, p), u in zip(ln.named_parameters(), uniform):
        if not name.startswith("ln_"):
            assert torch.equal(p, u), name
    assert torch.equal(plain.weight_ih_l0, ln.weight_ih_l0)


def test_forget_bias_reset_adds_to_the_forget_rows():
    for coupled, rows in ((False, slice(H, 2 * H)), (True, slice(0, H))):
        torch.manual_seed(0)
        a = lstmkit.LSTM(I, H, coupled_gates=coupled, bidirectional=True)
        torch.manual_seed(0)
        b = lstmkit.LSTM(I, H, coupled_gates=coupled, bidirectional=True, forget_bias=2.0)
        for sfx in ("_l0", "_l0_reverse"):
            diff = getattr(b, "bias_hh" + sfx) - getattr(a, "bias_hh" + sfx)
            expected = torch.zeros_like(diff)
            expected[rows] = 2.0
            torch.testing.assert_close(diff, expected)
            assert torch.equal(getattr(b, "bias_ih" + sfx), getattr(a, "bias_ih" + sfx))


# ---- validation --------------------------------------------------------------------------
@pytest.mark.parametrize("s", SPECS, ids=lambda s: s.name)
def test_every_option_is_validated(s):
    for mode in ("RNN_TANH", "RNN_RELU"):
        with pytest.raises(ValueError, match=rf"the Elman RNN has no variants; got {s.name} "):
            Variants.build(mode, True, **{s.name: s.example})
    for mode in ("LSTM", "GRU"):
        if mode in s.modes:
            v = Variants.build(mode, True, **{s.name: s.example})
            assert s.is_on(getattr(v, s.name)) and [o.name for o in v.on()] == [s.name]
            assert not s.is_on(s.parse(s.keyword_default, mode, True))
            assert s.parse(s.keyword_default, mode, True) == s.default
        else:
            with pytest.raises(ValueError, match=rf"{s.name} exist\(s\) only for the LSTM, not the {mode}"):
                Variants.build(mode, True, **{s.name: s.example})
    if s.annotation != "bool":  # numbers and rates: a string is refused with the option's name
        with pytest.raises(ValueError, match=rf"^{s.name} must be"):
            Variants.build("LSTM", True, **{s.name: "x"})


@pytest.mark.parametrize(("name", "value", "match"), [
    ("recurrent_dropout", 1.0, r"recurrent_dropout must be a number in \[0, 1\)"),
    ("weight_drop", -0.1, r"weight_drop must be a number in \[0, 1\)"),
    ("zoneout", 1.5, r"zoneout must be a number in \[0, 1\]"),
    ("zoneout", (0.1, 0.2, 0.3), r"zoneout takes a rate or, for the LSTM, a pair"),
    ("cell_clip", 0, r"cell_clip must be a positive number or None"),
    ("cell_clip", True, r"cell_clip must be a positive number or None"),
])
def test_out_of_range_values(name, value, match):
    with pytest.raises(ValueError, match=match):
        lstmkit.LSTM(I, H, **{name: value})


def test_forget_bias_needs_bias_and_gru_takes_one_zoneout_rate():
    with pytest.raises(ValueError, match=r"forget_bias needs bias=True"):
        lstmkit.LSTM(I, H, bias=False, forget_bias=1.0)
    with pytest.raises(ValueError, match=r"zoneout takes a rate or, for the LSTM, a pair"):
        lstmkit.GRU(I, H, zoneout=(0.1, 0.2))
    assert lstmkit.GRU(I, H, zoneout=0.2).variants.zoneout == (0.0, 0.2)
    assert lstmkit.LSTM(I, H, zoneout=0.2).variants.zoneout == (0.2, 0.2)


@pytest.mark.parametrize("cls", [lstmkit.LSTM, lstmkit.GRU, lstmkit.LSTMCell, lstmkit.GRUCell])
def test_unknown_keywords_raise(cls):
    with pytest.raises(TypeError, match=rf"{cls.__name__}\(\) got an unexpected keyword argument 'lyer_norm'"):
        cls(I, H, lyer_norm=True)


# ---- masks -------------------------------------------------------------------------------
def test_masks_are_drawn_in_the_documented_order(monkeypatch):
    drawn = []
    real = masks_module.bernoulli_mask

    def recording(shape, p, like):
        drawn.append(tuple(shape))
        return real(shape, p, like)

    monkeypatch.setattr(masks_module, "bernoulli_mask", recording)
    opts = {s.name: s.example for s in SPECS if s.masks}
    m = lstmkit.LSTM(I, H, proj_size=P, bidirectional=True, backend="reference", **opts).train()
    v = m.variants
    assert [mask.name for mask, _ in masks_of(v, "LSTM")] == list(DRAW_ORDER)
    m(torch.randn(T, B, I))
    G = 4 * H
    one_direction = [(G, P), (B, P), (T, B, H), (T, B, P)]  # weight_drop, recurrent, zone c, zone h
    assert drawn == one_direction * 2
    # the shapes the specs state
    sizes = {"G": G, "P": P, "B": B, "T": T, "H": H}
    assert [tuple(sizes[d] for d in mask.shape) for mask, _ in masks_of(v, "LSTM")] == one_direction
    drawn.clear()
    m.eval()(torch.randn(T, B, I))
    assert drawn == [], "eval draws nothing (zoneout uses its expectation)"


def test_gru_draws_no_cell_mask():
    v = lstmkit.GRU(I, H, zoneout=0.2, recurrent_dropout=0.1).variants
    assert [mask.name for mask, _ in masks_of(v, "GRU")] == ["recurrent_dropout", "zoneout_h"]


def test_direction_params_fill_every_slot():
    m = lstmkit.LSTM(I, H, layer_norm=True, peephole=True).eval()
    p = m._layer_params(0, torch.randn(T, B, I))[0]
    assert p.ln_ih == (m.ln_ih_weight_l0, m.ln_ih_bias_l0)
    assert p.ln_hh == (m.ln_hh_weight_l0, m.ln_hh_bias_l0)
    assert p.cp == (m.peephole_i_l0, m.peephole_f_l0, m.peephole_o_l0, m.ln_c_weight_l0, m.ln_c_bias_l0)
    plain = lstmkit.GRU(I, H)._layer_params(0, torch.randn(T, B, I))[0]
    assert plain.ln_ih is None and plain.cp == (None,) * 5 and plain.rec_mask is None


# ---- what is derived, and what stays explicit ----------------------------------------------
def test_layerspec_and_variants_have_one_field_per_spec():
    names = [s.name for s in SPECS]
    assert [f.name for f in dataclasses.fields(Variants)] == names
    spec_fields = {f.name: f.default for f in dataclasses.fields(LayerSpec)}
    assert list(spec_fields)[-len(names):] == names
    assert all(spec_fields[s.name] == s.default for s in SPECS)
    assert LayerSpec("LSTM", I, H) == LayerSpec("LSTM", I, H, **{s.name: s.default for s in SPECS})


@pytest.mark.parametrize("s", SPECS, ids=lambda s: s.name)
def test_reasons_are_derived(s):
    mode = s.modes[0]
    m = LAYERS[mode](I, H, **{s.name: s.example}).eval()
    spec = m.spec
    native = dict(explain(spec, torch.zeros(T, B, I)))["native"]
    if s.recurrence and not s.training_only_in_spec:
        assert spec.variants == (s.name,)
        assert native is not None and s.name in native
    else:
        assert spec.variants == ()
        assert native is None
    if s.plain_in_eval:
        assert why_not_native(m) is None
        assert isinstance(m.to_torch(), torch.nn.RNNBase)
    else:
        assert why_not_native(m).startswith(s.name)
        with pytest.raises(ValueError, match=rf"torch.nn has no equivalent of {s.name}"):
            m.to_torch()


def test_explicit_argument_lists_cover_every_parameter():
    params = {p.name for s in SPECS for p in s.params}
    assert params <= set(streaming._NAMES), "the compiled step's weight arguments"
    assert params <= set(_PARAM_NAMES), "the ONNX export's parameter names"
    dir_fields = {f.name for f in dataclasses.fields(DirParams)}
    assert {p.slot[0] for s in SPECS for p in s.params} <= dir_fields
    assert {mask.field for s in SPECS for mask in s.masks} <= dir_fields


def test_docs_name_every_variant():
    table = lstmkit.variants.__doc__
    for s in SPECS:
        assert f"\n{s.name}=" in table, f"{s.name} missing from the table in lstmkit.variants"
        assert s.name in lstmkit.LSTM.__doc__
        if "GRU" in s.modes:
            assert s.name in lstmkit.GRU.__doc__
    assert ", ".join(DRAW_ORDER).replace("zoneout_c", "zoneout c").replace("zoneout_h", "zoneout h") \
        in " ".join(table.split())


def test_parameters_of_is_what_the_module_registers():
    for mode, cls in LAYERS.items():
        opts = {s.name: s.example for s in SPECS if mode in s.modes and s.name != "forget_bias"}
        m = cls(I, H, **opts)
        expected = [p.name + "_l0" for p in parameters_of(m.variants, mode)]
        assert [n for n, _ in m.named_parameters()][4:] == expected, "after torch's four"
    assert BY_NAME["zoneout"].is_on((0.0, 0.1)) and not BY_NAME["cell_clip"].is_on(None)


def test_the_layers_signatures_list_torchs_arguments_and_their_variants():
    """``inspect.signature`` (IDEs, help) shows every keyword a layer takes."""
    import inspect

    import lstmkit
    from lstmkit.variants import SPECS

    for layer, mode in ((lstmkit.LSTM, "LSTM"), (lstmkit.GRU, "GRU"), (lstmkit.RNN, "RNN_TANH")):
        params = inspect.signature(layer).parameters
        torch_args = ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                      "bidirectional"]
        assert all(name in params for name in torch_args), layer.__name__
        variants = [s.name for s in SPECS if mode in s.modes]
        assert [p for p in params if p in {s.name for s in SPECS}] == variants
        for name in variants:  # each listed keyword is accepted with its listed default
            layer(3, 4, **{name: params[name].default})
    assert list(inspect.signature(lstmkit.RNN).parameters)[3] == "nonlinearity"
