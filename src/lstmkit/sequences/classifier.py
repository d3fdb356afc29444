"""``SequenceClassifier``: multivariate numeric sequences of any lengths in, labels out,
through per-channel scaling and a bidirectional LSTM with pooling over time."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lstmkit.errors import InputError
from lstmkit.sequences.inputs import as_sequences, check_labels, pad
from lstmkit.sequences.model import SequenceClassifierNet, SequenceNetConfig
from lstmkit.sequences.scaling import SCALINGS, ChannelScaler
from lstmkit.spine.engine.callbacks import digest
from lstmkit.spine.estimator import Estimator
from lstmkit.spine.flags import check_seed
from lstmkit.spine.labels import check_batch_size
from lstmkit.spine.metrics import classification_report
from lstmkit.spine.pooling import PooledRNNOptions

TASK = "classify-series"
PCT_START = 0.2  # share of the run spent warming up to the peak learning rate (one-cycle)
CLIP = 5.0  # gradient norm clipping: the engine's gradient_clip_val unless one is given


@dataclass(kw_only=True)
class SequenceClassifierConfig(PooledRNNOptions):
    """Scaling, network and training settings of :class:`SequenceClassifier`.

    The recurrent encoder's fields (``hidden_size=64``, ``num_layers=1``, ``cell="lstm"``,
    ``bidirectional=True``, ``dropout=0.2``, ``layer_options``) come from
    :class:`~lstmkit.spine.pooling.PooledRNNOptions`.

    Attributes:
        scaling: ``"channel"`` (standardise each channel with the training data's mean
            and std; default) or ``"none"``.
        pooling: ``"max_mean"`` (default), ``"max"``, ``"mean"`` or ``"last"``.
        epochs: passes over the data; None (default): see :meth:`resolve_epochs`.
        min_steps: optimiser updates at least when ``epochs`` is None (default 400).
        batch_size: sequences per update (default 32).
        lr: peak learning rate of the one-cycle AdamW schedule (default 3e-3).
        weight_decay: AdamW's weight decay (default 1e-4).
        seed: seeds the weights and the batch order, in [0, 2**32) (default 0).

    Raises:
        InputError: a field out of its range.
    """

    scaling: str = "channel"  # "channel" (standardise each channel) or "none"
    pooling: str = "max_mean"
    epochs: int | None = None  # None: at least 30, and enough for min_steps updates
    min_steps: int = 400
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

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
        check_seed(self.seed)
        self.net_config(n_channels=1, num_classes=2)  # validates the network's fields now

    def resolve_epochs(self, n_sequences: int) -> int:
        """``epochs``, or when it is None: at least 30 epochs and at least ``min_steps``
        optimiser updates, so that a set of 50 sequences (2 batches an epoch) trains as
        long as one of 300 (the small UCR sets need this to get past chance). The
        engine's ``max_epochs=`` overrides this."""
        if self.epochs is not None:
            return self.epochs
        steps_per_epoch = -(-n_sequences // self.batch_size)  # the last batch partial
        return max(30, -(-self.min_steps // steps_per_epoch))

    def net_config(self, n_channels: int, num_classes: int) -> SequenceNetConfig:
        """The network's config for ``n_channels`` input channels and ``num_classes``
        classes, with this config's encoder settings."""
        return SequenceNetConfig(n_channels=n_channels, num_classes=num_classes, **self.rnn_options())


class ScaledClassifier(nn.Module):
    """The exported graph: raw values -> the training data's channel scaling -> the
    network. ``forward(x (B, T, C) float, lengths (B,) int64) -> logits (B, K)``.

    Args:
        net: the trained network.
        scaler: the training data's channel scaling (``mode="none"``: none).
    """

    def __init__(self, net: SequenceClassifierNet, scaler: ChannelScaler) -> None:
        super().__init__()
        self.net = net
        C = net.config.n_channels
        on = scaler.mode != "none"
        mean = torch.as_tensor(scaler.mean, dtype=torch.float32) if on else torch.zeros(C)
        std = torch.as_tensor(scaler.std, dtype=torch.float32) if on else torch.ones(C)
        self.register_buffer("mean", mean, persistent=False)  # (C,)
        self.register_buffer("std", std, persistent=False)  # (C,)

    def forward(self, x, lengths):
        """Raw x (B, T, C) and lengths (B,) -> logits (B, K)."""
        return self.net((x - self.mean) / self.std, lengths)


class SequenceClassifier(Estimator):
    """A classifier of numeric sequences: multivariate, of varying lengths.

    Each channel is standardised with the training data's statistics; a (bidirectional)
    lstmkit LSTM runs over each sequence's true length (``lengths=``, so padding never
    leaks); its outputs are pooled over time (max and mean by default) and a linear
    head gives the class. Labels may be ints or strings and come back as given.

    ``X`` everywhere is a list of (T_i, C) arrays (or (T_i,) for one channel), or a
    padded (N, T, C) array with ``lengths`` (N,).

    Args:
        **kwargs: the fields of :class:`SequenceClassifierConfig` (``hidden_size=64``,
            ``pooling="max_mean"``, ``epochs=None`` (auto), ``lr=3e-3``, ``seed=0``...);
            the engine's settings (``max_epochs``, which overrides ``epochs``,
            ``max_steps``, ``max_time``, ``accelerator``, ``devices``, ``strategy``,
            ``precision``, ``checkpoint_dir``, ``verbose``...; see
            :mod:`lstmkit.spine.estimator`); any other keyword goes to the lstmkit layer
            (``backend=``, LSTM variants such as ``layer_norm=True``).

    Raises:
        InputError: an unknown keyword (naming the closest valid one) or a field out of
            range.

    Example:
        Sixteen random 2-channel sequences of 5 to 11 steps, one epoch (so only the call
        sequence is shown; ``load_ucr("japanese_vowels")`` gives a real set):

        >>> import tempfile
        >>> import numpy as np
        >>> from lstmkit.sequences import SequenceClassifier
        >>> rng = np.random.default_rng(0)
        >>> X = [rng.normal(size=(int(n), 2)).astype("float32") for n in rng.integers(5, 12, size=16)]
        >>> y = ["up" if i % 2 else "down" for i in range(16)]
        >>> clf = SequenceClassifier(hidden_size=8, max_epochs=1, verbose=False).fit(X, y)
        >>> clf.classes_
        ['down', 'up']
        >>> clf.predict_proba(X[:3]).shape
        (3, 2)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = clf.save(d)
        ...     len(SequenceClassifier.load(d).predict(X[:3]))
        3
    """

    TASK = TASK
    Config = SequenceClassifierConfig
    LAYER_OPTIONS = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scaler = ChannelScaler(self.config.scaling)
        self.classes_: list = []
        self.n_channels: int | None = None
        self.model: SequenceClassifierNet | None = None
        self.is_global_zero = True  # False in the other processes of a DDP fit

    # ---- the Estimator's hooks ----------------------------------------------------------
    def _network(self):
        return self.model

    def _state(self) -> dict:
        return {"scaler": self.scaler.to_state(), "classes": self.classes_, "n_channels": self.n_channels}

    def _restore(self, state: dict) -> None:
        self.scaler = ChannelScaler.from_state(state["scaler"])
        self.classes_ = list(state["classes"])
        self.n_channels = int(state["n_channels"])
        for name in ("mean", "std"):
            values = getattr(self.scaler, name)
            if values is not None and np.shape(values) != (self.n_channels,):
                raise InputError(f"the saved channel scaling has {np.size(values)} {name} value(s) for "
                                 f"{self.n_channels} channels: config.json was edited or belongs to another model")
        self.model = SequenceClassifierNet(self.config.net_config(self.n_channels, len(self.classes_)))

    def export_spec(self):
        """The graph: ``x`` (batch, time, channels) raw values and ``lengths`` (batch,)
        int64 -> ``logits`` (batch, classes); the channel scaling is inside the graph, the
        classes (the logits' order) and the scaling are in the metadata."""
        from lstmkit.export.tasks import ExportSpec

        self._require_fitted()
        c = self.model.config
        example = (torch.randn(3, 6, c.n_channels), torch.tensor([6, 2, 4]))
        axes = {"x": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}}
        meta = {"lstmkit.task": TASK, "lstmkit.config": json.dumps(c.to_dict()),
                "lstmkit.state": json.dumps(self._state())}
        return ExportSpec(ScaledClassifier(self.model, self.scaler).eval(), example, ["x", "lengths"],
                          ["logits"], axes, meta)

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
        resume: bool = False,
    ) -> SequenceClassifier:
        """Fit the scaler and train a fresh network through the engine (AdamW, one-cycle
        learning rate, gradients clipped at norm 5) for ``max_epochs`` (default: the
        config's ``epochs``, see :meth:`SequenceClassifierConfig.resolve_epochs`).

        Args:
            X: N sequences: a list of (T_i, C) arrays (or (T_i,) for one channel), or a
                padded (N, T, C) array with ``lengths``.
            y: N labels, ints or strings (at least two classes); they come back as given.
            lengths: (N,) true lengths when ``X`` is padded.
            X_val: validation sequences; with ``y_val`` the validation accuracy is
                measured after each epoch (``val_accuracy`` in :attr:`history` and the
                rows given to ``log``); it never picks the model.
            y_val: their labels (only ones that ``y`` has).
            log: called with each epoch's row of :attr:`history`.
            resume: continue an interrupted run from ``checkpoint_dir``.

        Returns:
            This classifier, trained.

        Raises:
            InputError: fewer than two classes, labels and sequences of different
                counts, only one of ``X_val``/``y_val``, or validation labels unknown to
                ``y``.
        """
        from lstmkit.spine.engine import EpochRows, IndexData, TaskModule, one_cycle

        c = self.config
        seqs = as_sequences(X, lengths)
        labels = check_labels(y, len(seqs))
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise InputError(f"expected at least two classes in y, found only {classes}")
        n_channels = int(seqs[0].shape[1])
        index = {k: i for i, k in enumerate(classes)}
        val = None
        if X_val is not None or y_val is not None:
            if X_val is None or y_val is None:
                raise InputError("validation needs both X_val and y_val")
            vseqs = as_sequences(X_val, None, n_channels, what="X_val")
            vlabels = check_labels(y_val, len(vseqs), what="y_val")
            unknown = sorted({str(v) for v in vlabels if v not in index})
            if unknown:
                raise InputError(f"y_val has labels that y does not: {unknown}")
            val = (vseqs, vlabels)

        self.classes_, self.n_channels = classes, n_channels
        self.scaler = ChannelScaler(c.scaling).fit(seqs)
        scaled = self.scaler.transform(seqs)
        target = torch.tensor([index[v] for v in labels])  # (N,)
        torch.manual_seed(c.seed)  # the initial weights
        self.model = SequenceClassifierNet(c.net_config(n_channels, len(classes)))

        def collate(idx: list[int]):
            x, lens = pad([scaled[j] for j in idx])
            return x, lens, target[idx]

        def loss(net, batch):
            x, lens, t = batch
            return F.cross_entropy(net(x, lens), t)

        n_val, val_collate, validate = 0, None, None
        if val is not None:
            vscaled = self.scaler.transform(val[0])
            vtarget = torch.tensor([index[v] for v in val[1]])
            n_val = len(vscaled)

            def val_collate(idx: list[int]):
                x, lens = pad([vscaled[j] for j in idx])
                return x, lens, vtarget[idx]

            def validate(net, batch):
                x, lens, t = batch
                return {"accuracy": (net(x, lens).argmax(dim=-1) == t).float().mean()}

        module = TaskModule(self.model, loss, one_cycle("adamw", c.lr, c.weight_decay, pct_start=PCT_START),
                            validate=validate)
        data = IndexData(len(scaled), collate, c.batch_size, c.seed, n_val=n_val, val_collate=val_collate,
                         val_batch_size=256)
        kw = self._engine_kwargs(max_epochs=c.resolve_epochs(len(scaled)), gradient_clip_val=CLIP)
        rows = EpochRows(log)
        fingerprint = {"config": dataclasses.asdict(c), "data": digest(seqs, labels),
                       "val": digest(*val) if val is not None else None,
                       "max_epochs": kw.get("max_epochs"), "max_steps": kw.get("max_steps")}
        self._train(module, data, has_val=val is not None, resume=resume, fingerprint=fingerprint, engine=kw,
                    rows=rows)
        return self

    # ---- prediction ---------------------------------------------------------------------
    def _require_model(self) -> None:
        self._require_fitted()

    @torch.inference_mode()
    def predict_proba(self, X, lengths=None, batch_size: int = 256) -> np.ndarray:
        """Class probabilities of each sequence.

        Args:
            X: N sequences, as for :meth:`fit`.
            lengths: (N,) true lengths when ``X`` is padded.
            batch_size: sequences per forward pass (default 256).

        Returns:
            (N, K) float64 array; columns follow ``classes_``.
        """
        self._require_model()
        batch_size = check_batch_size(batch_size)
        seqs = self.scaler.transform(as_sequences(X, lengths, self.n_channels))
        self.model.eval()
        device = next(self.model.parameters()).device
        out = []
        for i in range(0, len(seqs), batch_size):
            x, lens = pad(seqs[i : i + batch_size])
            out.append(torch.softmax(self.model(x.to(device), lens.to(device)).double(), dim=-1).cpu())
        return torch.cat(out).numpy()

    def predict(self, X, lengths=None) -> list:
        """The most probable label of each sequence.

        Args:
            X: N sequences, as for :meth:`fit`.
            lengths: (N,) true lengths when ``X`` is padded.

        Returns:
            N labels, as given to :meth:`fit`.
        """
        return [self.classes_[k] for k in self.predict_proba(X, lengths).argmax(axis=1)]

    def evaluate(self, X, y, lengths=None) -> dict:
        """Accuracy, macro F1 and the confusion matrix on labelled sequences.

        Args:
            X: N sequences, as for :meth:`fit`.
            y: their N true labels.
            lengths: (N,) true lengths when ``X`` is padded.

        Returns:
            ``{"accuracy", "macro_f1", "confusion_matrix", "labels", "n"}``; the matrix's
            rows are true labels and its columns predictions, both in ``labels`` order.

        Raises:
            InputError: a label the model was not trained on.
        """
        self._require_model()
        proba = self.predict_proba(X, lengths)
        labels = check_labels(y, len(proba))
        index = {k: i for i, k in enumerate(self.classes_)}
        unknown = sorted({str(v) for v in labels if v not in index})
        if unknown:
            raise InputError(f"y has labels the model was not trained on: {unknown}; known: {self.classes_}")
        true = [index[v] for v in labels]
        return classification_report(true, proba.argmax(axis=1).tolist(), [str(k) for k in self.classes_])
