"""The language model as an ONNX graph (:meth:`TextGenerator.export_spec`): the state
goes in and comes out, so a deployment generates one character per call (streaming).

=====================  ==============================================  =======================================
graph                  inputs                                          outputs
=====================  ==============================================  =======================================
TextGenerator          tokens (batch, time) int64, h_0 (L, batch, H)   logits (batch, time, V), h_n [, c_n]
                       [, c_0 for an LSTM]
=====================  ==============================================  =======================================

The metadata holds the model's config (``lstmkit.config``) and the vocabulary and
training counts (``lstmkit.state``), as the saved model's config.json does.
"""

from __future__ import annotations

import json

import torch
from torch import nn


class CharLMGraph(nn.Module):
    """``CharLM`` with its state as separate tensors: ``(tokens, h_0[, c_0]) ->
    (logits, h_n[, c_n])`` (the lstm, gru and rnn cells).

    Args:
        lm: a :class:`~lstmkit.textgen.network.CharLM`.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.lstm = lm.config.cell == "lstm"

    def forward(self, tokens, h_0, c_0=None):
        """tokens (B, T) int64, h_0 (L, B, H) [, c_0 (L, B, H)] -> logits (B, T, V),
        h_n [, c_n]."""
        logits, state = self.lm(tokens, (h_0, c_0) if self.lstm else h_0)
        return (logits, *state) if self.lstm else (logits, state)


def charlm_spec(lm, state: dict | None):
    """The :class:`~lstmkit.export.tasks.ExportSpec` of a ``CharLM`` (batch and time
    dynamic).

    Args:
        lm: a ``CharLM`` of the lstm, gru or rnn cell.
        state: the vocabulary and counts for the metadata (``lstmkit.state``), or None.

    Returns:
        the export spec: the graph, an example input, input and output names, dynamic
        axes and metadata.
    """
    from lstmkit.export.tasks import ExportSpec

    c = lm.config
    lstm = c.cell == "lstm"
    names = ["tokens", "h_0"] + (["c_0"] if lstm else [])
    g = torch.Generator().manual_seed(0)  # the same example every time, the global generator untouched
    example = (torch.randint(0, c.vocab_size, (2, 5), generator=g),) + tuple(
        torch.zeros(c.num_layers, 2, c.hidden_size) for _ in names[1:])
    outs = ["logits", "h_n"] + (["c_n"] if lstm else [])
    axes = {"tokens": {0: "batch", 1: "time"}, "logits": {0: "batch", 1: "time"}}
    axes.update({n: {1: "batch"} for n in names[1:] + outs[1:]})
    meta = {"lstmkit.task": "textgen", "lstmkit.config": json.dumps(c.to_dict())}
    if state is not None:
        meta["lstmkit.state"] = json.dumps(state)
    return ExportSpec(CharLMGraph(lm), example, names, outs, axes, meta)
