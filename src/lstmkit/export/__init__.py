"""Deployment: ONNX export of lstmkit layers and task models, the ``lstmkit export``
command, and streaming (one step at a time, the state carried).

- :func:`to_onnx` writes a layer, a cell, a task model or any module using lstmkit layers
  as an ONNX file: plain layers as ONNX's own LSTM/GRU/RNN operators, variants as loops;
  dynamic batch and sequence length; bidirectional and multi-layer; variable lengths.
- :func:`check_onnx` runs an exported layer in onnxruntime against PyTorch.
- :mod:`lstmkit.export.streaming`: stateful streams over layers, language models,
  exported graphs and forecasters.

onnx and onnxruntime (the ``onnx`` extra) are imported on first use, so the rest of
lstmkit, and the ``lstmkit`` command, work without them. Docs: docs/deployment.md.
"""

from __future__ import annotations

import importlib

from lstmkit.export.cli import add_parser

_LAZY = {
    "to_onnx": "lstmkit.export.api",
    "build_onnx": "lstmkit.export.api",
    "check_onnx": "lstmkit.export.api",
    "check_model": "lstmkit.export.api",
    "run_onnx": "lstmkit.export.api",
    "session": "lstmkit.export.api",
    "recurrent_kind": "lstmkit.export.layer",
    "LayerStream": "lstmkit.export.streaming",
    "LMStream": "lstmkit.export.streaming",
    "OnnxStream": "lstmkit.export.streaming",
    "ForecastStream": "lstmkit.export.streaming",
}

__all__ = [
    "ForecastStream",
    "LMStream",
    "LayerStream",
    "OnnxStream",
    "add_parser",
    "build_onnx",
    "check_model",
    "check_onnx",
    "recurrent_kind",
    "run_onnx",
    "session",
    "to_onnx",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lstmkit.export' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
