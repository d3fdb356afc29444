"""The LSTM/GRU variants torch.nn lacks: their options, their parameters and their
random masks, shared by the layers and the one-step cells.

Each variant is described once, by a :class:`VariantSpec` in :data:`SPECS`
(:mod:`lstmkit.variants.specs`): its keyword, validation, modes, parameters (names,
shapes, initialisation), masks (and their draw order), and whether torch's kernels, a
torch.nn module or ONNX's own operators can hold it. The layers' validation
(:class:`Variants`), parameters (:func:`register_direction`, :func:`reset_variants`), masks
(:func:`direction_params`), :class:`~lstmkit.backends.LayerSpec`'s fields and the reasons
the backends and exporters give are derived from that list.

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

from lstmkit.variants.masks import Dropout, bernoulli_mask, keep_mask
from lstmkit.variants.module import (
    Variants,
    direction_params,
    masks_of,
    parameters_of,
    register_direction,
    registered_names,
    reset_variants,
    variant_fields,
)
from lstmkit.variants.spec import MODES, Mask, Param, VariantSpec
from lstmkit.variants.specs import BY_NAME, SPECS

#: the options only the LSTM takes
LSTM_ONLY = tuple(s.name for s in SPECS if s.modes == ("LSTM",))

__all__ = [
    "BY_NAME",
    "LSTM_ONLY",
    "MODES",
    "SPECS",
    "Dropout",
    "Mask",
    "Param",
    "VariantSpec",
    "Variants",
    "bernoulli_mask",
    "direction_params",
    "keep_mask",
    "masks_of",
    "parameters_of",
    "register_direction",
    "registered_names",
    "reset_variants",
    "variant_fields",
]
