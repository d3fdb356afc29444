"""``SequenceClassifier``: multivariate numeric sequences of any lengths in, labels out,
through per-channel scaling and a bidirectional LSTM with pooling over time."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from lstmkit.errors import InputError
from lstmkit.sequences.inputs import as_sequences, check_labels, pad
from lstmkit.sequences.model import SequenceClassifierNet, SequenceNetConfig
from lstmkit.sequences.scaling import SCALINGS, ChannelScaler
from lstmkit.spine import io
from lstmkit.spine.fitting import (
    config_from_kwargs,
    seeded_generator,
    steps_per_epoch,
    train_one_cycle,
)
from lstmkit.spine.metrics import classification_report

TASK = "classify-series"


@dataclass
class SequenceClassifierConfig:
    """Scaling, network and training settings of :class:`SequenceClassifier`."""

    scaling: str = "channel"  # "channel" (standardise each channel) or "none"
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "max_mean"
    dropout: float = 0.2
    epochs: int | None = None  # None: at least 30, and enough for min_steps updates
    min_steps: int = 400
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    layer_options: dict = field(default_factory=lambda: {"backend": "auto"})

    def __post_init__(self) -> None:
        if self.scaling not in SCALINGS:
            raise InputError(f"scaling must be one of {', '.join(SCALINGS)}, got {self.scaling!r}")
        for name in ("epochs", "min_steps", "batch_size"):
            v = getattr(self, name)
            if name == "epochs" and v is None:
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise InputError(f"lr must be > 0 and weight_decay >= 0, got {self.lr!r}, {self.weight_decay!r}")
        self.net_config(n_channels=1, num_classes=2)  # validates the network's fields now

    def resolve_epochs(self, n_sequences: int) -> int:
        """``epochs``, or when it is None: at least 30 epochs and at least ``min_steps``
        optimiser updates, so that a set of 50 sequences (2 batches an epoch) trains as
        long as one of 300 (the small UCR sets need this to get past chance)."""
        if self.epochs is not None:
            return self.epochs
        return max(30, -(-self.min_steps // steps_per_epoch(n_sequences, self.batch_size)))

    def net_config(self, n_channels: int, num_classes: int) -> SequenceNetConfig:
        return SequenceNetConfig(
            n_channels=n_channels, num_classes=num_classes, hidden_size=self.hidden_size,
            num_layers=self.num_layers, cell=self.cell, bidirectional=self.bidirectional,
            pooling=self.pooling, dropout=self.dropout, layer_options=dict(self.layer_options),
        )


class SequenceClassifier:
    """A classifier of numeric sequences: multivariate, of varying lengths.

    Each channel is standardised with the training data's statistics; a (bidirectional)
    lstmkit LSTM runs over each sequence's true length (``lengths=``, so padding never
    leaks); its outputs are pooled over time (max and mean by default) and a linear
    head gives the class. Labels may be ints or strings and come back as given.

    ``X`` everywhere is a list of (T_i, C) arrays (or (T_i,) for one channel), or a
    padded (N, T, C) array with ``lengths`` (N,).

    Args: the fields of :class:`SequenceClassifierConfig` (``hidden_size=64,
    pooling="max_mean", epochs=None (auto), lr=3e-3, seed=0``...); other keywords go to the
    lstmkit layer (``backend=``, LSTM variants such as ``layer_norm=True``).

    Example::

        >>> from lstmkit.sequences import load_ucr
        >>> d = load_ucr("japanese_vowels")
        >>> clf = lstmkit.SequenceClassifier(seed=0).fit(d.X_train, d.y_train)
        >>> clf.evaluate(d.X_test, d.y_test)["accuracy"]      # about 0.98
        >>> clf.save("jv-model"); lstmkit.SequenceClassifier.load("jv-model").predict(d.X_test[:3])
    """

    def __init__(self, **kwargs):
        self.config = config_from_kwargs(SequenceClassifierConfig, kwargs)
        self.scaler = ChannelScaler(self.config.scaling)
        self.classes_: list = []
        self.n_channels: int | None = None
        self.model: SequenceClassifierNet | None = None
        self.history: list[dict] = []

    # ---- training -----------------------------------------------------------------------
    def fit(
        self,
        X,
        y,
        lengths=None,
        *,
        X_val=None,
        y_val=None,
        log: Callable[[dict], None] | None = None,
    ) -> SequenceClassifier:
        """Fit the scaler and train a fresh network for ``epochs`` (see
        :meth:`SequenceClassifierConfig.resolve_epochs`; AdamW, one-cycle learning rate,
        gradients clipped at norm 5). With ``X_val``/``y_val``, ``log``
        gets the validation accuracy after each epoch (it never picks the model)."""
        c = self.config
        seqs = as_sequences(X, lengths)
        labels = check_labels(y, len(seqs))
        self.classes_ = sorted(set(labels))
        if len(self.classes_) < 2:
            raise InputError(f"expected at least two classes in y, found only {self.classes_}")
        gen = seeded_generator(c.seed)
        self.n_channels = int(seqs[0].shape[1])
        self.scaler = ChannelScaler(c.scaling).fit(seqs)
        seqs = self.scaler.transform(seqs)
        index = {k: i for i, k in enumerate(self.classes_)}
        target = torch.tensor([index[v] for v in labels])  # (N,)
        self.model = SequenceClassifierNet(c.net_config(self.n_channels, len(self.classes_)))
        epochs = c.resolve_epochs(len(seqs))

        def batch_loss(idx: list[int]) -> torch.Tensor:
            x, lens = pad([seqs[j] for j in idx])
            return F.cross_entropy(self.model(x, lens), target[idx])

        def validate() -> dict:
            return {"val_accuracy": self.evaluate(X_val, y_val)["accuracy"]}

        self.history = []
        train_one_cycle(self.model, lr=c.lr, weight_decay=c.weight_decay, pct_start=0.2,
                        epochs=epochs, n_items=len(seqs), batch_size=c.batch_size, gen=gen,
                        batch_loss=batch_loss, history=self.history,
                        validate=validate if X_val is not None else None, log=log)
        return self

    # ---- prediction ---------------------------------------------------------------------
    def _require_model(self) -> None:
        if self.model is None:
            raise InputError("this SequenceClassifier is not trained: call fit(X, y) or load(dir) first")

    @torch.inference_mode()
    def predict_proba(self, X, lengths=None, batch_size: int = 256) -> np.ndarray:
        """(N, K) class probabilities; columns follow ``classes_``."""
        self._require_model()
        seqs = self.scaler.transform(as_sequences(X, lengths, self.n_channels))
        self.model.eval()
        out = []
        for i in range(0, len(seqs), batch_size):
            x, lens = pad(seqs[i : i + batch_size])
            out.append(torch.softmax(self.model(x, lens).double(), dim=-1))
        return torch.cat(out).numpy()

    def predict(self, X, lengths=None) -> list:
        """The most probable label of each sequence."""
        return [self.classes_[k] for k in self.predict_proba(X, lengths).argmax(axis=1)]

    def evaluate(self, X, y, lengths=None) -> dict:
        """``{"accuracy", "macro_f1", "confusion_matrix", "labels", "n"}``; the matrix's
        rows are true labels and its columns predictions, both in ``labels`` order."""
        self._require_model()
        proba = self.predict_proba(X, lengths)
        labels = check_labels(y, len(proba))
        index = {k: i for i, k in enumerate(self.classes_)}
        unknown = sorted({str(v) for v in labels if v not in index})
        if unknown:
            raise InputError(f"y has labels the model was not trained on: {unknown}; known: {self.classes_}")
        true = [index[v] for v in labels]
        return classification_report(true, proba.argmax(axis=1).tolist(), [str(k) for k in self.classes_])

    # ---- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike):
        """Write the classifier to the directory ``path`` (config.json + model.safetensors)."""
        self._require_model()
        state = {"scaler": self.scaler.to_state(), "classes": self.classes_,
                 "n_channels": self.n_channels, "history": self.history}
        return io.save_model(path, TASK, dataclasses.asdict(self.config), self.model.state_dict(), state)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SequenceClassifier:
        """A classifier saved by :meth:`save`."""
        config, tensors, state, _ = io.load_model(path, TASK)
        self = cls(**config)
        self.scaler = ChannelScaler.from_state(state["scaler"])
        self.classes_ = list(state["classes"])
        self.n_channels = int(state["n_channels"])
        self.history = list(state.get("history", []))
        self.model = SequenceClassifierNet(self.config.net_config(self.n_channels, len(self.classes_)))
        io.load_weights(self.model, tensors, path)
        self.model.eval()
        return self
