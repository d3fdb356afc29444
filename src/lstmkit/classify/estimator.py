"""``TextClassifier``: sentences in, labels out, through a bidirectional LSTM over each
sentence's true length. Any number of classes; labels are strings."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lstmkit.classify.data import check_labels
from lstmkit.classify.network import TextClassifierNet, TextClassifierNetConfig
from lstmkit.classify.vocab import TokenVocab, tokenize
from lstmkit.errors import InputError, TrainingInterrupted, check_estimator_keywords
from lstmkit.spine import io
from lstmkit.spine.metrics import classification_report

TASK = "classify"


class TruncatedTextWarning(UserWarning):
    """Some texts were longer than ``max_length`` tokens and were cut."""


@dataclass
class TextClassifierConfig:
    """Preprocessing, network and training settings of :class:`TextClassifier`."""

    level: str = "word"  # "word" or "char"
    max_vocab: int = 20000  # tokens kept (most frequent), specials included
    min_freq: int = 1
    lowercase: bool = True
    max_length: int = 200  # tokens; longer texts are truncated, with one warning
    embedding_dim: int = 100
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.4
    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-2  # peak of a one-cycle schedule
    weight_decay: float = 1e-4
    seed: int = 0
    layer_options: dict = field(default_factory=lambda: {"backend": "auto"})

    def __post_init__(self) -> None:
        if self.level not in ("word", "char"):
            raise InputError(f"level must be 'word' or 'char', got {self.level!r}")
        for name in ("max_vocab", "min_freq", "max_length", "epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if self.max_vocab < 3:
            raise InputError(f"max_vocab must be at least 3, got {self.max_vocab}")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise InputError(
                f"lr must be > 0 and weight_decay >= 0, got {self.lr!r}, {self.weight_decay!r}"
            )
        self.net_config(vocab_size=3, num_classes=2)  # validates the network's fields now

    def net_config(self, vocab_size: int, num_classes: int) -> TextClassifierNetConfig:
        return TextClassifierNetConfig(
            vocab_size=vocab_size,
            num_classes=num_classes,
            embedding_dim=self.embedding_dim,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            cell=self.cell,
            bidirectional=self.bidirectional,
            pooling=self.pooling,
            dropout=self.dropout,
            layer_options=dict(self.layer_options),
        )


def _plain_labels(labels) -> list:
    """Labels as plain Python values: integers (Python, numpy or tensor elements) as int,
    anything else as str."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().tolist()
    elif isinstance(labels, np.ndarray):
        labels = labels.tolist()
    elif isinstance(labels, str):
        raise InputError("expected a list of labels, found a single string")
    return [int(y) if isinstance(y, (int, np.integer)) and not isinstance(y, (bool, np.bool_)) else str(y)
            for y in labels]


def _check_texts(texts, what: str = "texts") -> list[str]:
    if isinstance(texts, str):
        raise InputError(
            f"{what} must be a list of strings, got a single string (wrap it in a list)"
        )
    texts = list(texts)
    if not texts:
        raise InputError(f"{what} is empty: expected at least one text")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise InputError(f"{what}[{bad}] must be a str, got {type(texts[bad]).__name__}")
    return texts


class TextClassifier:
    """A sentence classifier: a word (or character) vocabulary with an unknown token and a
    size limit, embeddings, a bidirectional LSTM over each sentence's true length
    (``lengths=``, so padding never leaks), pooling over time and a linear head.

    Args: the fields of :class:`TextClassifierConfig` (``level="word", max_vocab=20000,
    max_length=200, hidden_size=64, pooling="max", epochs=6, seed=0``...); other keywords
    go to the lstmkit layer (``backend=``, LSTM variants).

    Example::

        >>> clf = lstmkit.TextClassifier(seed=0).fit(train_texts, train_labels)
        >>> clf.predict(["What a great phone!"])
        ['positive']
        >>> clf.evaluate(test_texts, test_labels)["accuracy"]
    """

    def __init__(self, **kwargs):
        fields = {f.name for f in dataclasses.fields(TextClassifierConfig)}
        check_estimator_keywords(kwargs, fields, "TextClassifier")
        known = {k: v for k, v in kwargs.items() if k in fields}
        options = dict(known.pop("layer_options", {"backend": "auto"}))
        options.update({k: v for k, v in kwargs.items() if k not in fields})
        self.config = TextClassifierConfig(**known, layer_options=options)
        self.vocab: TokenVocab | None = None
        self.classes_: list[str] = []
        self.model: TextClassifierNet | None = None
        self.history: list[dict] = []

    # ---- preprocessing ------------------------------------------------------------------
    def _encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length`` (one warning per call); a text
        with no token becomes one unknown token, so every length is at least 1."""
        c = self.config
        docs = [tokenize(t, c.level, c.lowercase) for t in texts]
        long = sum(len(d) > c.max_length for d in docs)
        if long:
            warnings.warn(
                f"{long} text(s) longer than max_length={c.max_length} tokens were truncated "
                f"(the longest has {max(len(d) for d in docs)})",
                TruncatedTextWarning,
                stacklevel=3,
            )
        return [self.vocab.encode(d[: c.max_length]) or [TokenVocab.UNK] for d in docs]

    @staticmethod
    def _pad(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)  # (B,)
        tokens = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.int64)  # (B, T), 0 = <pad>
        for i, s in enumerate(seqs):
            tokens[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
        return tokens, lengths

    def _label_ids(self, labels, n: int, what: str) -> list[int]:
        labels = [str(y) for y in labels]
        if len(labels) != n:
            raise InputError(f"expected one label per text, got {n} texts and {len(labels)} labels")
        index = {str(c): i for i, c in enumerate(self.classes_)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise InputError(
                f"{what} has labels the model was not trained on: {unknown}; known: {self.classes_}"
            )
        return [index[y] for y in labels]

    # ---- training -----------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence,
        *,
        val_texts: Sequence[str] | None = None,
        val_labels: Sequence | None = None,
        log: Callable[[dict], None] | None = None,
    ) -> TextClassifier:
        """Build the vocabulary from ``texts`` and train a fresh network for ``epochs``.
        Labels are compared as strings. With ``val_texts``/``val_labels``, ``log`` gets the
        validation accuracy after each epoch (it is never used to pick a model)."""
        c = self.config
        texts = _check_texts(texts)
        labels = _plain_labels(labels)
        if len(labels) != len(texts):
            raise InputError(
                f"expected one label per text, got {len(texts)} texts and {len(labels)} labels"
            )
        check_labels([str(y) for y in labels], "the training labels")
        torch.manual_seed(c.seed)
        # integer labels stay integers (in numeric order); any others are compared as text
        ints = all(isinstance(y, int) for y in labels)
        self.classes_ = sorted(set(labels)) if ints else sorted({str(y) for y in labels})
        docs = [tokenize(t, c.level, c.lowercase)[: c.max_length] for t in texts]
        self.vocab = TokenVocab.build(docs, c.max_vocab, c.min_freq)
        seqs = self._encode(texts)
        y = torch.tensor(self._label_ids(labels, len(texts), "the training data"))  # by str(label)
        self.model = TextClassifierNet(c.net_config(len(self.vocab), len(self.classes_)))
        opt = torch.optim.AdamW(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        gen = torch.Generator().manual_seed(c.seed)
        steps_per_epoch = -(-len(seqs) // c.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=c.lr, total_steps=c.epochs * steps_per_epoch, pct_start=0.1
        )
        self.history = []
        updates = 0
        try:
            for epoch in range(c.epochs):
                self.model.train()
                total = 0.0
                for idx in self._batches([len(q) for q in seqs], gen):
                    tokens, lengths = self._pad([seqs[j] for j in idx])
                    loss = F.cross_entropy(self.model(tokens, lengths), y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
                    opt.step()
                    sched.step()
                    updates += 1
                    total += loss.item() * len(idx)
                row = {"epoch": epoch + 1, "train_loss": total / len(seqs)}
                if val_texts is not None:
                    row["val_accuracy"] = self.evaluate(val_texts, val_labels)["accuracy"]
                self.history.append(row)
                if log is not None:
                    log(row)
        except KeyboardInterrupt:
            self.model.eval()
            raise TrainingInterrupted(updates, self.history, "update") from None
        self.model.eval()
        return self

    def _batches(self, lengths: list[int], gen: torch.Generator) -> list[list[int]]:
        """Shuffled batches of similar lengths: each block of 32 batches' worth of shuffled
        texts is sorted by length before it is cut, so a batch runs about as many steps as
        its texts have tokens, not as many as the longest text of a random draw."""
        B = self.config.batch_size
        order = torch.randperm(len(lengths), generator=gen).tolist()
        batches = []
        for start in range(0, len(order), 32 * B):
            block = sorted(order[start : start + 32 * B], key=lengths.__getitem__)
            batches += [block[i : i + B] for i in range(0, len(block), B)]
        return [batches[k] for k in torch.randperm(len(batches), generator=gen).tolist()]

    # ---- prediction ---------------------------------------------------------------------
    def _require_model(self) -> None:
        if self.model is None:
            raise InputError(
                "this TextClassifier is not trained: call fit(texts, labels) or load(dir) first"
            )

    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """(N, C) class probabilities; columns follow ``classes_``."""
        self._require_model()
        seqs = self._encode(_check_texts(texts))
        self.model.eval()
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths together
        proba = torch.empty(len(seqs), len(self.classes_), dtype=torch.float64)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            tokens, lengths = self._pad([seqs[j] for j in idx])
            proba[idx] = torch.softmax(self.model(tokens, lengths).double(), dim=-1)
        return proba.numpy()

    def predict(self, texts: Sequence[str]) -> list:
        """The most probable label of each text: an int where the training labels were
        integers, else a str."""
        return [self.classes_[k] for k in self.predict_proba(texts).argmax(axis=1)]

    def evaluate(self, texts: Sequence[str], labels: Sequence) -> dict:
        """``{"accuracy", "macro_f1", "confusion_matrix", "labels", "n"}``; the matrix's
        rows are true labels and its columns predictions, both in ``labels`` order."""
        self._require_model()
        texts = _check_texts(texts)
        true = self._label_ids(labels, len(texts), "the evaluation data")
        pred = self.predict_proba(texts).argmax(axis=1).tolist()
        return classification_report(true, pred, [str(c) for c in self.classes_])

    # ---- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike):
        """Write the classifier to the directory ``path`` (config.json + model.safetensors)."""
        self._require_model()
        state = {"vocab": self.vocab.to_state(), "classes": self.classes_, "history": self.history}
        return io.save_model(
            path, TASK, dataclasses.asdict(self.config), self.model.state_dict(), state
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> TextClassifier:
        """A classifier saved by :meth:`save`."""
        config, tensors, state, _ = io.load_model(path, TASK)
        self = cls(**config)
        self.vocab = TokenVocab.from_state(state["vocab"])
        self.classes_ = list(state["classes"])
        self.history = list(state.get("history", []))
        self.model = TextClassifierNet(self.config.net_config(len(self.vocab), len(self.classes_)))
        io.load_weights(self.model, tensors, path)
        self.model.eval()
        return self
