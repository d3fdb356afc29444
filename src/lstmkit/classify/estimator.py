"""``TextClassifier``: sentences in, labels out, through a bidirectional LSTM over each
sentence's true length, trained by the engine (:mod:`lstmkit.spine.engine`). Any number
of classes; labels are strings, or integers that come back as integers."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from lstmkit.classify.data import check_labels
from lstmkit.classify.labels import check_texts, classes_of, label_ids
from lstmkit.classify.lm import SentenceLM, TiedLMHead
from lstmkit.classify.network import TextClassifierNetConfig, classifier_net, member_logits
from lstmkit.classify.pretrained import extend_vocab, read_lm, read_lm_config, transfer
from lstmkit.classify.vocab import TokenVocab, tokenize
from lstmkit.errors import InputError
from lstmkit.spine.engine.callbacks import digest
from lstmkit.spine.estimator import Estimator
from lstmkit.spine.labels import check_batch_size, plain_labels
from lstmkit.spine.metrics import classification_report
from lstmkit.spine.pooling import PooledRNNOptions

TASK = "classify"
#: networks in the from-scratch recipe's ensemble (docs/sentiment.md, means of training
#: seeds 0-2: one network 0.846 on the default split and 0.739 leaving one source out,
#: below TF-IDF + logistic regression's 0.755 there; five side by side 0.860 and 0.760;
#: nine 0.868 and 0.771)
ENSEMBLE = 9
# the defaults of the fields a recipe sets: from scratch, and from a pretrained language model
RECIPES = {"scratch": {"pooling": "max", "dropout": 0.4, "epochs": 6, "lr": 1e-2, "ensemble": ENSEMBLE},
           "pretrained": {"pooling": "concat", "dropout": 0.3, "epochs": 10, "lr": 3e-2, "ensemble": 1}}


class TruncatedTextWarning(UserWarning):
    """Some texts were longer than ``max_length`` tokens and were cut."""


@dataclass(kw_only=True)
class TextClassifierConfig(PooledRNNOptions):
    """Preprocessing, network and training settings of :class:`TextClassifier`.

    The recurrent encoder's fields (``hidden_size=64``, ``num_layers=1``, ``cell="lstm"``,
    ``bidirectional=True``, ``layer_options``) come from
    :class:`~lstmkit.spine.pooling.PooledRNNOptions`; with ``pretrained`` the sizes left
    unset are the language model's. Fields left None take their recipe's default
    (:data:`RECIPES`: from scratch, or from a pretrained language model).

    Attributes:
        level: ``"word"`` (default) or ``"char"`` tokens.
        max_vocab: tokens kept, the most frequent first, the two specials (padding,
            unknown) included (default 20000; at least 3).
        min_freq: a token seen fewer times in the training texts is unknown (default 1).
        lowercase: lowercase the texts before tokenizing (default True).
        max_length: tokens per text; longer texts are cut, with one
            :class:`TruncatedTextWarning` per call (default 200).
        embedding_dim: width E of the token embeddings (default 100, or the
            pretrained language model's).
        pooling: ``"max"`` (default from scratch), ``"mean"``, ``"max_mean"``, ``"last"``
            or ``"concat"`` (last state, max and mean; default with ``pretrained``).
        dropout: on the embeddings and the pooled vector, in [0, 1) (default 0.4 from
            scratch, 0.3 with ``pretrained``).
        epochs: the engine's ``max_epochs`` unless ``max_epochs=`` is given (default 6
            from scratch, 10 with ``pretrained``).
        batch_size: texts per optimiser step (default 32).
        lr: peak learning rate: of the one-cycle AdamW schedule from scratch (default
            1e-2); of the head's slanted triangular schedule with ``pretrained`` (default
            3e-2; each layer group below trains at the one above's / 2.6).
        weight_decay: AdamW's weight decay (default 1e-4).
        seed: seeds the initial weights and the batch order (default 0).
        pretrained: None (default: train from scratch), ``"bundled"`` (the language
            model shipped with lstmkit, :mod:`lstmkit.classify.pretrained`) or the
            directory of one saved by ``lstmkit.classify.pretrained.save_lm``: start from
            it with ULMFiT's steps (the model fine-tuned as a language model on the
            training texts for ``lm_epochs``, then the classifier trained with gradual
            unfreezing, discriminative learning rates and a slanted triangular
            schedule, :mod:`lstmkit.classify.finetune`). The encoder's sizes
            (``embedding_dim``, ``hidden_size``, ``num_layers``, ``cell``) are then the
            language model's when not given.
        lm_epochs: passes of language-model fine-tuning over the training texts with
            ``pretrained`` (default 4; 0 skips it).
        lm_lr: peak learning rate of that fine-tuning (default 1e-2).
        ensemble: networks trained side by side, each on its own loss over the same
            batches, predicting with their mean class probabilities (default
            :data:`ENSEMBLE` from scratch; 1, a single network, with ``pretrained``, which
            takes no other value).

    Raises:
        InputError: a field out of its range (one line naming it), or a ``pretrained``
            model that cannot be read.
    """

    level: str = "word"  # "word" or "char"
    embedding_dim: int | None = None  # 100, or the pretrained language model's
    hidden_size: int | None = None  # 64, or the pretrained language model's
    num_layers: int | None = None  # 1, or the pretrained language model's
    cell: str | None = None  # "lstm", or the pretrained language model's
    pooling: str | None = None  # "max", or "concat" with a pretrained language model
    max_vocab: int = 20000  # tokens kept (most frequent), specials included
    min_freq: int = 1
    lowercase: bool = True
    max_length: int = 200  # tokens; longer texts are truncated, with one warning
    dropout: float | None = None  # 0.4 from scratch, 0.3 with a pretrained language model
    epochs: int | None = None  # 6 (10 pretrained); the engine's max_epochs unless max_epochs= is given
    batch_size: int = 32
    lr: float | None = None  # peak of the schedule: 1e-2 from scratch, 3e-2 pretrained
    weight_decay: float = 1e-4
    seed: int = 0
    pretrained: str | None = None
    lm_epochs: int = 4
    lm_lr: float = 1e-2
    ensemble: int | None = None  # ENSEMBLE from scratch, 1 with a pretrained language model

    def __post_init__(self) -> None:
        self._resolve_encoder()
        if self.level not in ("word", "char"):
            raise InputError(f"level must be 'word' or 'char', got {self.level!r}")
        if not isinstance(self.lm_epochs, int) or isinstance(self.lm_epochs, bool) or self.lm_epochs < 0:
            raise InputError(f"lm_epochs must be a non-negative integer, got {self.lm_epochs!r}")
        if not (isinstance(self.lm_lr, (int, float)) and self.lm_lr > 0):
            raise InputError(f"lm_lr must be > 0, got {self.lm_lr!r}")
        for name in ("max_vocab", "min_freq", "max_length", "epochs", "batch_size", "ensemble"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if self.pretrained is not None and self.ensemble != 1:
            raise InputError(f"ensemble={self.ensemble} with pretrained={self.pretrained!r}: the "
                             "ULMFiT recipe fine-tunes one network; leave ensemble unset (1) or "
                             "pretrained=None")
        if self.max_vocab < 3:
            raise InputError(f"max_vocab must be at least 3, got {self.max_vocab}")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise InputError(
                f"lr must be > 0 and weight_decay >= 0, got {self.lr!r}, {self.weight_decay!r}"
            )
        self.net_config(vocab_size=3, num_classes=2)  # validates the network's fields now

    def _resolve_encoder(self) -> None:
        """Fill the fields left None: the encoder's from the pretrained language model's
        config or the defaults (embedding 100, hidden 64, 1 layer, LSTM); ``pooling``,
        ``dropout``, ``epochs`` and ``lr`` from the recipe's defaults (:data:`RECIPES`)."""
        if self.pretrained is not None and not isinstance(self.pretrained, str):
            raise InputError(f"pretrained must be None, 'bundled' or a directory, got {self.pretrained!r}")
        lm = None
        if self.pretrained is not None and None in (self.embedding_dim, self.hidden_size,
                                                    self.num_layers, self.cell):
            lm = read_lm_config(self.pretrained)
        defaults = {"embedding_dim": 100, "hidden_size": 64, "num_layers": 1, "cell": "lstm"}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, lm[name] if lm is not None else value)
        recipe = RECIPES["pretrained" if self.pretrained is not None else "scratch"]
        for name, value in recipe.items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def net_config(self, vocab_size: int, num_classes: int) -> TextClassifierNetConfig:
        """The network's config for a vocabulary of ``vocab_size`` tokens and
        ``num_classes`` classes, with this config's encoder settings."""
        return TextClassifierNetConfig(vocab_size=vocab_size, num_classes=num_classes,
                                       embedding_dim=self.embedding_dim, **self.rnn_options())


class TextClassifier(Estimator):
    """A sentence classifier: a word (or character) vocabulary with an unknown token and a
    size limit, embeddings, a bidirectional LSTM over each sentence's true length
    (``lengths=``, so padding never leaks), pooling over time and a linear head.

    Tokens are padded per batch to (B, T) int64 ids with their lengths (B,); the network
    returns logits (B, C) over the C classes in ``classes_`` order.

    Args:
        **kwargs: the fields of :class:`TextClassifierConfig` (``level="word"``,
            ``max_vocab=20000``, ``max_length=200``, ``hidden_size=64``,
            ``pooling="max"``, ``epochs=6``, ``seed=0``, ``pretrained=None``; with
            ``pretrained="bundled"`` ULMFiT from the shipped language model...); the engine's settings
            (``max_epochs`` (default ``epochs``), ``max_steps``, ``max_time``,
            ``accelerator``, ``devices``, ``strategy``, ``precision``,
            ``gradient_clip_val`` (default 5), ``checkpoint_dir``, ``verbose``...); any
            other keyword goes to the lstmkit layer (``backend=``, LSTM variants such as
            ``layer_norm=True``).

    Raises:
        InputError: an unknown keyword (naming the closest valid one) or a field out of
            range.

    Example:
        Train on a few sentences (one epoch, so only the call sequence is shown), then
        predict, evaluate, save and load:

        >>> import tempfile
        >>> from lstmkit.classify import TextClassifier
        >>> texts = ["good film", "great acting", "bad plot", "awful sound"] * 4
        >>> labels = ["pos", "pos", "neg", "neg"] * 4
        >>> clf = TextClassifier(hidden_size=8, embedding_dim=8, max_epochs=1, verbose=False)
        >>> clf = clf.fit(texts, labels)
        >>> clf.classes_
        ['neg', 'pos']
        >>> clf.predict_proba(["good plot", "bad film"]).shape
        (2, 2)
        >>> sorted(clf.evaluate(texts, labels))
        ['accuracy', 'confusion_matrix', 'labels', 'macro_f1', 'n']
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = clf.save(d)
        ...     len(TextClassifier.load(d).predict(["great film", "bad sound"]))
        2
    """

    TASK = TASK
    Config = TextClassifierConfig
    LAYER_OPTIONS = True
    SAVED_DEFAULTS = {"ensemble": 1}  # classifiers saved before ensembles were one network

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab: TokenVocab | None = None
        self.classes_: list = []
        self.model: torch.nn.Module | None = None  # a TextClassifierNet, or an ensemble of them
        self.lm_history: list[dict] = []  # the language-model fine-tuning's rows (pretrained=)
        self.is_global_zero = True

    # ---- the Estimator hooks ------------------------------------------------------------
    def _network(self):
        return self.model

    def _state(self) -> dict:
        return {"vocab": self.vocab.to_state(), "classes": list(self.classes_)}

    def _restore(self, state: dict) -> None:
        self.vocab = TokenVocab.from_state(state["vocab"])
        self.classes_ = list(state["classes"])
        c = self.config
        self.model = classifier_net(c.net_config(len(self.vocab), len(self.classes_)), c.ensemble)

    def export_spec(self):
        """The whole network as one graph: ``tokens`` (batch, time) int64 (0 = padding)
        and ``lengths`` (batch,) int64 in, ``logits`` (batch, classes) out; the metadata
        holds the network's config (``lstmkit.config``) and what turns text into tokens
        and logits into labels (``lstmkit.state``: vocabulary, classes in logit order,
        ``level``, ``lowercase``, ``max_length``)."""
        from lstmkit.export.tasks import classifier_spec

        self._require_fitted()
        c = self.config
        state = {"vocab": self.vocab.to_state(), "classes": list(self.classes_), "level": c.level,
                 "lowercase": c.lowercase, "max_length": c.max_length}
        return classifier_spec(self.model, state)

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
        return label_ids(labels, self.classes_, n, what)

    def _collate(self, seqs: list[list[int]], y: torch.Tensor) -> Callable:
        """The engine's ``collate(indices) -> (tokens, lengths, labels)``: the texts of a
        batch padded to its longest."""

        def collate(idx: list[int]):
            tokens, lengths = self._pad([seqs[i] for i in idx])
            return tokens, lengths, y[idx]

        return collate

    # ---- training -----------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence,
        *,
        val_texts: Sequence[str] | None = None,
        val_labels: Sequence | None = None,
        log: Callable[[dict], None] | None = None,
        resume: bool = False,
    ) -> TextClassifier:
        """Build the vocabulary from ``texts`` and train a fresh network for ``epochs``
        (or the engine's ``max_epochs``/``max_steps``).

        Args:
            texts: N training texts (str).
            labels: N labels, strings or integers (at least 2 classes); compared as
                strings, integer labels come back from :meth:`predict` as integers.
            val_texts, val_labels: an optional validation set (both or neither): its loss
                and accuracy are measured after each epoch and the weights of the epoch
                with the lowest validation loss are kept (the engine's rule).
            log: called with each epoch's row of :attr:`history` (``epoch``,
                ``train_loss``, and ``val_loss``/``val_accuracy`` with a validation set).
            resume: continue an interrupted run from ``checkpoint_dir``.

        Returns:
            This classifier, trained.

        Raises:
            InputError: texts and labels of different lengths, fewer than 2 classes, only
                one of ``val_texts``/``val_labels``, or ``resume`` without
                ``checkpoint_dir``.
        """
        from lstmkit.classify.finetune import GradualUnfreezing, discriminative_recipe
        from lstmkit.classify.training import CLIP, PCT_START, LengthBuckets
        from lstmkit.spine.engine import EpochRows, IndexData, TaskModule, one_cycle

        c = self.config
        texts = check_texts(texts)
        labels = plain_labels(labels)
        if len(labels) != len(texts):
            raise InputError(
                f"expected one label per text, got {len(texts)} texts and {len(labels)} labels"
            )
        check_labels([str(y) for y in labels], "the training labels")
        if (val_texts is None) != (val_labels is None):
            raise InputError("give both val_texts and val_labels, or neither")
        if resume and self.trainer_kwargs.get("checkpoint_dir") is None:
            raise InputError("resume=True needs checkpoint_dir: the run to resume wrote its checkpoints there")
        # integer labels stay integers (in numeric order); any others are compared as text
        self.classes_ = classes_of(labels)
        docs = [tokenize(t, c.level, c.lowercase)[: c.max_length] for t in texts]
        self.vocab = TokenVocab.build(docs, c.max_vocab, c.min_freq)
        pre = self._pretrained() if c.pretrained is not None else None
        if pre is not None:  # the language model's tokens too, after the training texts' own
            self.vocab = extend_vocab(self.vocab, pre.vocab, c.max_vocab)
        seqs = self._encode(texts)
        y = torch.tensor(self._label_ids(labels, len(texts), "the training data"))  # by str(label)
        data_parts = [texts, [str(v) for v in labels]]
        n_val, val_collate = 0, None
        if val_texts is not None:
            vx = check_texts(val_texts, "val_texts")
            vy = self._label_ids(plain_labels(val_labels), len(vx), "the validation data")
            order = sorted(range(len(vx)), key=lambda i: len(vx[i]))  # similar lengths together
            vseqs = self._encode([vx[i] for i in order])
            n_val, val_collate = len(vx), self._collate(vseqs, torch.tensor([vy[i] for i in order]))
            data_parts += [vx, [str(v) for v in val_labels]]
        torch.manual_seed(c.seed)  # the initial weights
        self.model = classifier_net(c.net_config(len(self.vocab), len(self.classes_)), c.ensemble)
        engine = self._engine_kwargs(max_epochs=c.epochs, gradient_clip_val=CLIP)
        self.lm_history = []
        if pre is not None:
            self._finetune_lm(pre, seqs, engine, log)

        def loss(net, batch):  # each member on its own loss: the mean of theirs
            tokens, lengths, target = batch
            logits = member_logits(net, tokens, lengths)  # (M, B, C)
            return F.cross_entropy(logits.flatten(0, 1), target.repeat(logits.shape[0]))

        def validate(net, batch):
            tokens, lengths, target = batch
            logits = net(tokens, lengths)
            return {"loss": F.cross_entropy(logits, target),
                    "accuracy": (logits.argmax(-1) == target).float().mean()}

        if pre is None:
            module = TaskModule(self.model, loss, one_cycle("adamw", c.lr, c.weight_decay, pct_start=PCT_START),
                                validate)
        else:  # ULMFiT: gradual unfreezing, discriminative learning rates, slanted triangular
            module = GradualUnfreezing(self.model, loss, discriminative_recipe(c.lr, c.weight_decay), validate)
        data = IndexData(len(seqs), self._collate(seqs, y), c.batch_size, c.seed,
                         n_val=n_val, val_collate=val_collate)
        data.sampler = LengthBuckets([len(q) for q in seqs], c.batch_size, c.seed)
        rows = EpochRows(log)
        fingerprint = {**dataclasses.asdict(c), "data": digest(*data_parts),
                       "max_epochs": engine.get("max_epochs"), "max_steps": engine.get("max_steps")}
        self._train(module, data, has_val=n_val > 0, resume=resume, fingerprint=fingerprint, engine=engine,
                    rows=rows)
        return self

    def _pretrained(self):
        """The pretrained language model of ``config.pretrained``, checked against this
        config (encoder sizes, tokenizer)."""
        c = self.config
        pre = read_lm(c.pretrained)
        for name in ("embedding_dim", "hidden_size", "num_layers", "cell", "level", "lowercase"):
            if pre.config[name] != getattr(c, name):
                raise InputError(
                    f"{name}={getattr(c, name)!r} does not fit the pretrained language model "
                    f"({pre.config[name]!r} in {pre.path}): leave {name} unset, or pretrained=None")
        if not c.bidirectional:
            raise InputError("the pretrained language model is bidirectional: leave bidirectional=True")
        return pre

    def _finetune_lm(self, pre, seqs: list[list[int]], engine: dict, log) -> None:
        """ULMFiT's second step: the pretrained weights moved onto this vocabulary
        (:func:`~lstmkit.classify.pretrained.transfer`), then ``lm_epochs`` of
        language-model training on the training texts (``seqs``), in place in
        ``self.model``; its rows go to :attr:`lm_history` (and ``log``, with
        ``"stage": "lm"``)."""
        from lstmkit.classify.finetune import discriminative_recipe
        from lstmkit.classify.training import LengthBuckets
        from lstmkit.spine.engine import EpochRows, IndexData, TaskModule, fit_module

        c = self.config
        lm = SentenceLM(self.model, TiedLMHead(c.hidden_size, c.embedding_dim, len(self.vocab)))
        transfer(pre, lm, self.vocab)
        if c.lm_epochs:
            module = TaskModule(lm, lambda net, batch: net(batch[0], batch[1]),
                                discriminative_recipe(c.lm_lr, c.weight_decay, discriminative=False))
            collate = self._collate(seqs, torch.zeros(len(seqs), dtype=torch.int64))
            data = IndexData(len(seqs), collate, c.batch_size, c.seed + 1)
            data.sampler = LengthBuckets([len(q) for q in seqs], c.batch_size, c.seed + 1)
            skip = ("max_epochs", "max_steps", "max_time", "checkpoint_dir", "checkpoint_every_n_steps",
                    "checkpoint_every_seconds", "callbacks")
            settings = {k: v for k, v in engine.items() if k not in skip}
            rows = EpochRows(None if log is None else (lambda r: log({"stage": "lm", **r})))
            fit_module(module, data, seed=c.seed, has_val=False, history=rows, max_epochs=c.lm_epochs,
                       **settings)
            self.lm_history = [dict(r) for r in rows.rows]
        self.model = lm.net.cpu()

    # ---- prediction ---------------------------------------------------------------------
    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities of each text.

        Args:
            texts: N texts.
            batch_size: texts per forward pass (default 256).

        Returns:
            (N, C) float64 array; columns follow ``classes_``.
        """
        self._require_fitted()
        batch_size = check_batch_size(batch_size)
        seqs = self._encode(check_texts(texts))
        self.model.eval()
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths together
        proba = torch.empty(len(seqs), len(self.classes_), dtype=torch.float64)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            tokens, lengths = self._pad([seqs[j] for j in idx])
            proba[idx] = torch.softmax(self.model(tokens, lengths).double(), dim=-1)
        return proba.numpy()

    def predict(self, texts: Sequence[str]) -> list:
        """The most probable label of each text.

        Args:
            texts: N texts.

        Returns:
            N labels: ints where the training labels were integers, else strs.
        """
        return [self.classes_[k] for k in self.predict_proba(texts).argmax(axis=1)]

    def evaluate(self, texts: Sequence[str], labels: Sequence) -> dict:
        """Accuracy, macro F1 and the confusion matrix on labelled texts.

        Args:
            texts: N texts.
            labels: their N true labels.

        Returns:
            ``{"accuracy", "macro_f1", "confusion_matrix", "labels", "n"}``; the matrix's
            rows are true labels and its columns predictions, both in ``labels`` order.
        """
        self._require_fitted()
        texts = check_texts(texts)
        true = self._label_ids(plain_labels(labels), len(texts), "the evaluation data")
        pred = self.predict_proba(texts).argmax(axis=1).tolist()
        return classification_report(true, pred, [str(c) for c in self.classes_])
