"""What the task models look like as ONNX graphs: inputs, outputs, dynamic axes and the
preprocessing state a deployment needs (stored in the model's metadata as JSON).

=====================  ======================================================  =========================
model                  graph inputs                                             graph outputs
=====================  ======================================================  =========================
TextGenerator/CharLM   tokens (batch, time) int64, h_0 (L, batch, H)            logits (batch, time, V),
                       [, c_0 for an LSTM]                                      h_n [, c_n]
TextClassifier/Net     tokens (batch, time) int64, lengths (batch,) int64       logits (batch, C)
Forecaster/ForecastNet x (batch, window) scaled values, feats (batch, window    forecast (batch, H, Q):
                       + H, F) calendar and covariate features                  members' median, sorted
=====================  ======================================================  =========================

The text generator's graph carries its state in and out, so a deployment generates one
character per call (streaming); the metadata holds the vocabulary (``lstmkit.state``).
The forecaster's graph is its network: the per-series scaling and the calendar features
are preprocessing, described in the metadata, as in the saved model's config.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ExportSpec:
    """How to trace a model: the module whose forward is the graph, example inputs, names.

    Attributes:
        module: the module whose forward is the graph.
        example: one example input per graph input.
        input_names: the graph's input names.
        output_names: its output names.
        dynamic_axes: torch.onnx's ``dynamic_axes``.
        metadata: ONNX metadata (``lstmkit.task``, ``lstmkit.config``, ``lstmkit.state``).

    Raises:
        ValueError: as many names as example inputs are needed.
    """

    module: nn.Module
    example: tuple
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.example) != len(self.input_names):
            raise ValueError(f"{len(self.input_names)} input names for {len(self.example)} example inputs")


class _ClassifierGraph(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, tokens, lengths):
        return self.net(tokens, lengths)


class _ForecastGraph(nn.Module):
    """ForecastNet.predict as a graph: the members' median, quantiles sorted."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x, feats):
        return self.net.combine(torch.stack([m(x, feats) for m in self.net.members]))  # (B, H, Q)


def classifier_spec(net, state: dict | None) -> ExportSpec:
    """The text classifier's network as a graph (tokens, lengths -> logits), batch and
    time dynamic, with ``state`` (vocabulary, classes, text settings) in its metadata.

    Args:
        net: a :class:`~lstmkit.classify.network.TextClassifierNet`, or a
            :class:`~lstmkit.classify.network.TextClassifierEnsemble` (its logits are the
            log of the members' mean probabilities).
        state: what turns text into tokens and logits into labels (None: left out).

    Returns:
        The :class:`ExportSpec`.
    """
    c = net.config
    example = (torch.randint(1, c.vocab_size, (3, 6)), torch.tensor([6, 2, 4]))
    axes = {"tokens": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}}
    meta = {"lstmkit.task": "classify", "lstmkit.config": json.dumps(c.to_dict())}
    if state is not None:
        meta["lstmkit.state"] = json.dumps(state)
    return ExportSpec(_ClassifierGraph(net), example, ["tokens", "lengths"], ["logits"], axes, meta)


def forecast_spec(net, state: dict | None) -> ExportSpec:
    """The forecaster's network as a graph: ``x`` (batch, window) scaled values and
    ``feats`` (batch, window + horizon, F) -> ``forecast`` (batch, horizon, quantiles), the
    members' median; ``state`` (scaling, calendar, quantiles, calibration) in its metadata.

    Args:
        net: a :class:`~lstmkit.forecasting.network.ForecastNet`.
        state: the forecaster's preprocessing state (None: left out).

    Returns:
        The :class:`ExportSpec`.
    """
    from lstmkit.forecasting.network import ES_META

    c = net.cfg
    L = max(c.lookbacks)
    feats = torch.randn(3, L + c.horizon, c.n_features)
    if c.smoothing in ("es", "both"):
        # "es" mode: feats carries ES_META more columns, the series index and the seasonal
        # phase (the same on every step of a window)
        meta_cols = torch.stack([torch.arange(3) % c.n_series, torch.arange(3) % c.season_length], 1)
        feats = torch.cat([feats, meta_cols[:, None, :].expand(3, L + c.horizon, ES_META).float()], -1)
    example = (torch.randn(3, L), feats)
    axes = {"x": {0: "batch", 1: "window"}, "feats": {0: "batch", 1: "window_plus_horizon"},
            "forecast": {0: "batch"}}
    meta = {"lstmkit.task": "forecast", "lstmkit.config": json.dumps(c.to_dict())}
    if state is not None:
        meta["lstmkit.state"] = json.dumps(state)
    return ExportSpec(_ForecastGraph(net), example, ["x", "feats"], ["forecast"], axes, meta)


def task_spec(obj) -> ExportSpec | None:
    """The export spec of a task model.

    Args:
        obj: an estimator (through its own ``export_spec``), a task network, or anything
            else.

    Returns:
        The :class:`ExportSpec`, or None for an object that is not a task model.
    """
    from lstmkit.spine.estimator import Estimator

    if isinstance(obj, Estimator):
        return obj.export_spec()
    from lstmkit.classify.network import TextClassifierEnsemble, TextClassifierNet
    from lstmkit.forecasting.network import ForecastNet
    from lstmkit.textgen.network import CharLM

    if isinstance(obj, CharLM):
        from lstmkit.textgen.export import charlm_spec

        return charlm_spec(obj, None)
    if isinstance(obj, (TextClassifierNet, TextClassifierEnsemble)):
        return classifier_spec(obj, None)
    if isinstance(obj, ForecastNet):
        return forecast_spec(obj, None)
    return None


def generic_spec(module: nn.Module, example_inputs, input_names=None, output_names=None,
                 dynamic_axes=None) -> ExportSpec:
    """Any ``nn.Module`` holding lstmkit layers, traced with ``example_inputs``. Without
    ``dynamic_axes``, the first two axes of every input and output (the first one of a
    1-D tensor) are dynamic.

    Args:
        module: the module.
        example_inputs: a tensor or a tuple of them.
        input_names: the graph's input names (None: ``input_0``, ...).
        output_names: its output names (None: ``output_0``, ...).
        dynamic_axes: torch.onnx's (None: the rule above).

    Returns:
        The :class:`ExportSpec`.
    """
    example = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    names = list(input_names or [f"input_{i}" for i in range(len(example))])
    with torch.no_grad():
        leaves = _leaves(module.eval()(*example))  # torch flattens nested outputs the same way
    outs = list(output_names or [f"output_{i}" for i in range(len(leaves))])
    if dynamic_axes is None:
        dynamic_axes = {n: {a: f"{n}_dim{a}" for a in range(min(2, t.dim()))}
                        for n, t in zip(names + outs, example + tuple(leaves))}
    return ExportSpec(module, example, names, outs, dynamic_axes, {"lstmkit.task": "module"})


def _leaves(out) -> list:
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in _leaves(item)]
    return [out]
