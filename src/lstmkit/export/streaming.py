"""Streaming inference: one step in, one out, the state carried between calls.

- :class:`LayerStream` wraps an lstmkit layer's ``step(x_t, state)`` (unidirectional
  layers): ``y_t = stream.step(x_t)``.
- :class:`LMStream` feeds a character language model (``TextGenerator`` or ``CharLM``)
  one token at a time and returns the next-token logits, as text generation does.
- :class:`OnnxStream` does the same with an exported ONNX graph in onnxruntime (a layer
  exported with ``initial_states=True``, or a text generator): the states come out of one
  call and go into the next.
- :class:`ForecastStream` keeps a fitted ``Forecaster`` up to date as observations arrive.
  Its state is each series' lookback window, not a recurrent state: the forecaster
  normalises every window by its own mean and scale, so the network must re-read the
  window (L steps) after each new point; the result equals forecasting from the whole
  history at once.

Each stream gives exactly what running the whole sequence at once gives (tests/test_export_streaming.py).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch


class LayerStream:
    """``stream = LayerStream(lstm); y_t = stream.step(x_t)`` for x_t (B, I) or (I,);
    ``stream.state`` is the carried state (``(h, c)`` for an LSTM), ``reset()`` clears it.

    Args:
        layer: a unidirectional lstmkit layer.
        state: the initial state (None: zeros).

    Raises:
        ValueError: a bidirectional layer (it needs the whole sequence).

    Example:
        Step by step gives what the whole sequence gives, x (T=3, B=2, I=4):

        >>> import torch
        >>> import lstmkit
        >>> lstm = lstmkit.LSTM(4, 6)
        >>> stream = LayerStream(lstm)
        >>> x = torch.randn(3, 2, 4)
        >>> ys = torch.stack([stream.step(x_t) for x_t in x])
        >>> ys.shape, torch.allclose(ys, lstm(x)[0], atol=1e-6)
        (torch.Size([3, 2, 6]), True)
    """

    def __init__(self, layer, state=None) -> None:
        if getattr(layer, "bidirectional", False):
            raise ValueError("a bidirectional layer needs the whole sequence; it cannot stream")
        self.layer = layer
        self.state = state

    def reset(self, state=None) -> None:
        """Start again from ``state`` (None: zeros)."""
        self.state = state

    @torch.no_grad()
    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        """Read x_t (B, I) or (I,); return the output y_t (B, H) or (H,) and keep the state."""
        y, self.state = self.layer.step(x_t, self.state)
        return y


class LMStream:
    """A character language model read one token at a time.

    ``logits = stream.feed(ids)`` reads a prompt (a 1-D int tensor or list) and returns the
    logits (V,) of the next token; ``stream.step(token)`` reads one token.

    Args:
        model: a trained ``TextGenerator`` (then :meth:`feed_text` encodes with its
            vocabulary) or a ``CharLM`` network.

    Raises:
        InputError: a TextGenerator that is not trained.
    """

    def __init__(self, model) -> None:
        self.vocab = getattr(model, "vocab", None)
        self.model = getattr(model, "model", model)
        if self.model is None:
            from lstmkit.errors import InputError

            raise InputError("this TextGenerator is not trained: fit or load it first")
        self.state = None

    def reset(self) -> None:
        """Forget what was read."""
        self.state = None

    @torch.no_grad()
    def feed(self, ids) -> torch.Tensor:
        """Read token ids (a 1-D int tensor or list); return the next token's logits (V,)."""
        ids = torch.as_tensor(ids, dtype=torch.int64).reshape(1, -1)  # (1, T)
        self.model.eval()
        logits, self.state = self.model(ids, self.state)
        return logits[0, -1]

    def step(self, token: int) -> torch.Tensor:
        """Read one token id; return the next token's logits (V,)."""
        return self.feed([int(token)])

    def feed_text(self, text: str) -> torch.Tensor:
        """Read ``text`` encoded with the TextGenerator's vocabulary; return the next
        token's logits (V,). ValueError for a bare ``CharLM`` (no vocabulary)."""
        if self.vocab is None:
            raise ValueError("feed_text needs a TextGenerator (its vocabulary); use feed(ids)")
        return self.feed(self.vocab.encode(text))


class OnnxStream:
    """An exported graph run chunk by chunk (or step by step) in onnxruntime.

    The graph's state inputs (``h_0``/``c_0``) start at zero for ``batch`` sequences and
    are replaced after each call by its state outputs (``h_n``/``c_n``, or ``h_1``/``c_1``
    for a cell). ``outputs = stream.step(input=x_t)`` returns the other outputs by name.

    Args:
        model: the graph's path or ModelProto (a layer exported with
            ``initial_states=True``, a cell, or a text generator).
        batch: sequences streamed side by side (default 1).

    Raises:
        ValueError: the graph has no state inputs, or returns no state for one.
    """

    #: state input -> the outputs that feed it (a layer's, a cell's)
    _PAIRS: ClassVar[dict] = {"h_0": ("h_n", "h_1"), "c_0": ("c_n", "c_1")}

    def __init__(self, model, batch: int = 1) -> None:
        from lstmkit.export.api import session

        self.session = session(model)
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.links = {}
        for name, candidates in self._PAIRS.items():
            if name in self.inputs:
                out = next((c for c in candidates if c in self.outputs), None)
                if out is None:
                    raise ValueError(f"the graph takes {name} but returns none of {candidates}")
                self.links[name] = out
        if not self.links:
            raise ValueError("the graph has no state inputs: export the layer with initial_states=True")
        self.batch = batch
        self.reset()

    def reset(self) -> None:
        """Set the state inputs back to zeros for ``batch`` sequences."""
        self.state = {}
        for name in self.links:
            dims = [d if isinstance(d, int) else self.batch for d in self.inputs[name].shape]
            self.state[name] = np.zeros(dims, dtype=np.float32)

    def step(self, **feeds) -> dict[str, np.ndarray]:
        """Run the graph on ``feeds`` (input name -> array or tensor, e.g. ``input=x_t``)
        and the carried state; return the outputs that are not state, by name."""
        arrays = {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
                  for k, v in feeds.items()}
        got = dict(zip(self.outputs, self.session.run(self.outputs, {**arrays, **self.state})))
        for name, out in self.links.items():
            self.state[name] = got[out]
        return {k: v for k, v in got.items() if k not in self.links.values()}


class ForecastStream:
    """A fitted ``Forecaster`` updated with new observations.

    ``stream = ForecastStream(fc)`` starts from the end of the training data (or from
    ``history``, a long frame ``unique_id, ds, y[, covariates]``); ``stream.update(rows)``
    appends new observations (same columns) and returns the new forecast;
    ``stream.forecast()`` forecasts from the current window. Only each series' last
    ``lookback`` points are kept (the state).

    Args:
        forecaster: a fitted :class:`~lstmkit.forecasting.Forecaster`.
        history: a long frame to start from (None: the end of the training data).

    Raises:
        InputError: the forecaster is not fitted.
    """

    def __init__(self, forecaster, history=None) -> None:
        self.forecaster = forecaster
        forecaster.min_predict_length()  # raises InputError if not fitted
        self.window = max(forecaster.plan.lookbacks)  # all the points a forecast reads
        frame = forecaster.tails.to_frame() if history is None else history
        self.frame = self._trim(frame)

    def _trim(self, frame):
        import pandas as pd

        frame = pd.DataFrame(frame).copy()
        frame["unique_id"] = frame["unique_id"].astype(str)
        frame["ds"] = pd.to_datetime(frame["ds"])
        frame = frame.sort_values(["unique_id", "ds"], kind="stable")
        return frame.groupby("unique_id", sort=False).tail(self.window).reset_index(drop=True)

    def update(self, rows, future=None):
        """Append ``rows`` (one or more new observations per series) and forecast."""
        import pandas as pd

        self.frame = self._trim(pd.concat([self.frame, pd.DataFrame(rows)], ignore_index=True))
        return self.forecast(future)

    def forecast(self, future=None):
        """The forecast from the current windows (``Forecaster.predict``'s frame);
        ``future``: the covariates of the forecast steps, as for ``predict``."""
        return self.forecaster.predict(self.frame, future=future)
