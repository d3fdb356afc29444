"""Looking inside the cell: the per-step gates and states of a trained experiment model.

Built on :func:`lstmkit.record_states`: inside it the layer runs its reference path and
keeps, per layer and direction, (T, B, H) tensors named ``i f g o c h`` (LSTM),
``r z n h`` (GRU) or ``h`` (RNN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import lstmkit
from lstmkit.errors import InputError
from lstmkit.experiments.model import SequenceModel
from lstmkit.experiments.problems import Problem
from lstmkit.spine.nets import XLSTM_CELLS


@dataclass
class GateTrace:
    """One sequence through a trained model: its input, what the gates did, the answer.

    Attributes:
        cell: the cell's name.
        task: the problem's name.
        inputs: (T, I) the sequence.
        states: a name (``"f"``, ``"i"``, ``"c"``...) -> a (T, H) array.
        marks: the time steps holding what must be remembered.
        prediction: the model's output for the sequence.
        target: the right answer.
    """

    cell: str
    task: str
    inputs: np.ndarray  # (T, I)
    states: dict[str, np.ndarray]
    marks: list[int]
    prediction: np.ndarray
    target: np.ndarray


@torch.no_grad()
def trace_gates(
    model: SequenceModel, problem: Problem, seed: int = 12345, layer: int = 0
) -> GateTrace:
    """Run one fresh sequence of ``problem`` through ``model`` and record a layer's gates.

    Args:
        model: a trained :class:`~lstmkit.experiments.model.SequenceModel` (rnn, gru or
            lstm).
        problem: the problem it was trained on.
        seed: seeds the sequence (default 12345).
        layer: which stacked layer to record (default 0).

    Returns:
        A :class:`GateTrace`.

    Raises:
        InputError: an xLSTM cell (it records no gates).
    """
    if model.cell in XLSTM_CELLS:
        raise InputError(f"gate traces read rnn, gru and lstm layers; the {model.cell} cell "
                         "records none: use one of those cells or drop the gate plot")
    x, y = problem.sample(1, torch.Generator().manual_seed(seed))  # x (T, 1, I)
    was_training = model.training
    model.eval()
    try:
        with lstmkit.record_states(model.rnn) as rec:
            pred = model(x)
    finally:
        model.train(was_training)
    per_direction = rec.layers[layer][0]  # forward direction
    states = {k: v[:, 0].double().numpy() for k, v in per_direction.items()}  # (T, H)
    return GateTrace(
        cell=model.cell,
        task=problem.name,
        inputs=x[:, 0].numpy(),
        states=states,
        marks=problem.relevant_steps(x[:, 0]),
        prediction=pred[0].numpy(),
        target=y[0].numpy(),
    )
