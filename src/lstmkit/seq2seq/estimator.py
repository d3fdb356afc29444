"""``lstmkit.Translator``: strings to strings with an LSTM encoder-decoder with attention.

The estimator holds the character vocabularies and the network (:class:`Seq2Seq`),
trains it through the engine (:func:`lstmkit.spine.engine.fit_module`: teacher-forced
cross-entropy, Adam with warm-up and cosine decay, gradient clipping at norm 1), decodes
greedily or with beam search, saves in lstmkit's one saved-model format and exports to
ONNX as two graphs, the encoder and one decoder step (:mod:`lstmkit.seq2seq.onnx_graphs`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from lstmkit.errors import InputError, TrainingInterrupted
from lstmkit.seq2seq.model import Seq2Seq, Seq2SeqConfig
from lstmkit.seq2seq.vocab import Vocab
from lstmkit.spine.engine.callbacks import digest
from lstmkit.spine.estimator import Estimator

# the optimiser steps a fit runs when neither max_steps nor max_epochs is given
DEFAULT_STEPS = 4000


@dataclass
class TranslatorConfig(Seq2SeqConfig):
    """What a :class:`Translator` is and how it trains (saved with the model): the
    architecture (:class:`~lstmkit.seq2seq.model.Seq2SeqConfig`), then these.

    Attributes:
        max_len: the longest output decoding produces (None: twice the longest training
            target plus 5).
        source_chars: the source vocabulary (None: the training sources' characters).
        target_chars: the target vocabulary (None: the training targets' characters).
        batch_size: pairs per optimiser step (default 64).
        lr: peak learning rate (default 3e-3).
        warmup_steps: steps of linear warm-up before the cosine decay (default 100).
        teacher_forcing: probability of feeding the gold previous token, in [0, 1]
            (default 1).
        seed: seeds the weights and the batch order (default 0).

    Raises:
        InputError: a field out of range.
    """

    max_len: int | None = None  # longest output decoding produces; None: 2 x longest training target + 5
    source_chars: str | None = None  # the source vocabulary; None: the training sources' characters
    target_chars: str | None = None  # the target vocabulary; None: the training targets' characters
    batch_size: int = 64
    lr: float = 3e-3  # peak learning rate
    warmup_steps: int = 100
    teacher_forcing: float = 1.0  # probability of feeding the gold previous token
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()  # checks the architecture
        for name in ("batch_size", "seed", "warmup_steps"):
            v = getattr(self, name)
            low = 1 if name == "batch_size" else 0
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise InputError(f"{name} must be an integer >= {low}, got {v!r}")
        if self.max_len is not None and (not isinstance(self.max_len, int) or self.max_len <= 0):
            raise InputError(f"max_len must be a positive integer or None, got {self.max_len!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise InputError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.teacher_forcing <= 1:
            raise InputError(f"teacher_forcing must be in [0, 1], got {self.teacher_forcing!r}")
        for name in ("source_chars", "target_chars"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                raise InputError(f"{name} must be a non-empty string of characters or None, got {v!r}")


def _strings(texts, what: str) -> list[str]:
    if isinstance(texts, str):
        raise InputError(f"{what}: expected a list of strings, found one string (wrap it in a list)")
    if texts is None or not hasattr(texts, "__iter__"):
        raise InputError(f"{what}: expected a list of strings, found {type(texts).__name__}")
    out = list(texts)
    bad = next((i for i, t in enumerate(out) if not isinstance(t, str)), None)  # an index: None may be the item
    if bad is not None:
        raise InputError(f"{what}: expected strings, found a {type(out[bad]).__name__}: {out[bad]!r:.60}")
    return out


def _pairs(sources, targets, what: str) -> tuple[list[str], list[str]]:
    sources, targets = _strings(sources, f"{what} sources"), _strings(targets, f"{what} targets")
    if len(sources) != len(targets):
        raise InputError(f"{what}: expected as many targets as sources, found {len(targets)} targets "
                         f"for {len(sources)} sources")
    if not sources:
        raise InputError(f"{what}: no pairs")
    return sources, targets


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between two strings.

    Example:
        >>> edit_distance("2021-03-03", "2021-03-30")
        2
    """
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


class Translator(Estimator):
    """An LSTM encoder-decoder with attention over characters, strings in and out.

    The keywords are the fields of the config, :class:`TranslatorConfig` (saved with the
    model): the network's ``embedding_dim``, ``hidden_size``, ``num_layers``,
    ``bidirectional``, ``attention`` (``"luong"`` or ``"bahdanau"``), ``dropout`` and
    ``backend`` (:class:`~lstmkit.seq2seq.model.Seq2SeqConfig`), and these; then the
    engine's settings.

    Args:
        max_len: the longest output decoding writes (None: twice the longest training
            target plus 5).
        source_chars: the source vocabulary (None: the characters of the training
            sources). Characters outside it read as ``<unk>``.
        target_chars: the target vocabulary (None: the training targets' characters).
        batch_size: pairs per optimiser step (default 64).
        lr: peak learning rate (default 3e-3).
        warmup_steps: linear warm-up before the cosine decay (default 100).
        teacher_forcing: probability of feeding the gold previous token (default 1).
        seed: seeds the weights and the batch order (default 0).
        **trainer_kwargs: the engine's settings (:mod:`lstmkit.spine.engine`):
            ``max_steps`` (default 4000 optimiser steps, whatever the data's size, when
            neither it nor ``max_epochs`` is given), ``max_epochs``, ``max_time``
            (seconds), ``accelerator``, ``devices``, ``strategy``, ``precision``,
            ``checkpoint_dir``, ``gradient_clip_val`` (default 1.0), ``verbose``, ...

    Raises:
        InputError: an unknown keyword (naming the closest valid one) or a field out of
            range.

    Example:
        Reverse three-letter strings, two optimiser steps (so only the call sequence is
        shown; ``lstmkit seq2seq train`` learns the date task in minutes):

        >>> import tempfile
        >>> from lstmkit.seq2seq import Translator
        >>> sources = ["abc", "bca", "cab", "acb"] * 4
        >>> targets = [s[::-1] for s in sources]
        >>> tr = Translator(hidden_size=16, embedding_dim=8, max_steps=2, verbose=False)
        >>> tr = tr.fit(sources, targets)
        >>> len(tr.predict(["abc", "cab"], beam=2))
        2
        >>> sorted(tr.evaluate(sources, targets))
        ['cer', 'exact_match', 'n']
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = tr.save(d)
        ...     type(Translator.load(d).predict("abc")).__name__
        'str'
    """

    TASK = "seq2seq"
    Config = TranslatorConfig

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model: Seq2Seq | None = None
        self.src_vocab: Vocab | None = None
        self.tgt_vocab: Vocab | None = None
        self.max_len: int | None = None
        self.is_global_zero = True  # False in the other processes of a DDP fit
        self.steps = 0  # optimiser steps of the last fit

    # ---- training -------------------------------------------------------------------
    def fit(self, sources: Sequence[str], targets: Sequence[str], *,
            validation: tuple[Sequence[str], Sequence[str]] | None = None, resume: bool = False) -> Translator:
        """Train on the pairs ``(sources[i], targets[i])``, batches drawn in a seeded
        shuffled order, for ``max_steps`` optimiser steps (default 4000; or
        ``max_epochs`` passes).

        Args:
            sources: N source strings.
            targets: their N target strings.
            validation: (sources, targets): their teacher-forced loss after every epoch,
                and the weights of the best epoch kept.
            resume: continue an interrupted run from ``checkpoint_dir``.

        Returns:
            This translator, trained.

        Raises:
            InputError: not lists of strings, different counts, no pairs, or ``resume``
                without ``checkpoint_dir``.
        """
        from lstmkit.seq2seq.training import batch_loss, collate, warmup_cosine
        from lstmkit.spine.engine import IndexData, TaskModule, fit_module

        c = self.config
        sources, targets = _pairs(sources, targets, "fit")
        if validation is not None and (not isinstance(validation, (tuple, list)) or len(validation) != 2):
            raise InputError("validation: expected (sources, targets), two lists of strings")
        val_src, val_tgt = _pairs(*validation, "validation") if validation is not None else ([], [])
        src_vocab = Vocab(c.source_chars) if c.source_chars is not None else Vocab.from_texts(sources)
        tgt_vocab = Vocab(c.target_chars) if c.target_chars is not None else Vocab.from_texts(targets)
        missing = tgt_vocab.unknown("".join(targets))
        if missing:  # the model could only learn to write <unk> for them
            raise InputError(f"target_chars lacks {missing!r}, which the training targets use: add them "
                             "(or leave target_chars at None to take the targets' own characters)")
        max_len = c.max_len or 2 * max(len(t) for t in targets) + 5
        torch.manual_seed(c.seed)  # the initial weights
        net = Seq2Seq(len(src_vocab), len(tgt_vocab), c.network())
        tf = c.teacher_forcing
        module = TaskModule(net, lambda n, b: batch_loss(n, b, tf), warmup_cosine(c.lr, c.warmup_steps),
                            validate=lambda n, b: {"loss": batch_loss(n, b, 1.0)})
        data = IndexData(len(sources), collate(src_vocab, tgt_vocab, sources, targets), c.batch_size, c.seed,
                         n_val=len(val_src), val_collate=collate(src_vocab, tgt_vocab, val_src, val_tgt))
        defaults: dict = {"gradient_clip_val": 1.0}
        if "max_steps" not in self.trainer_kwargs and "max_epochs" not in self.trainer_kwargs:
            defaults.update(max_steps=DEFAULT_STEPS, max_epochs=-1)
        engine = self._engine_kwargs(**defaults)
        budget = {k: engine.get(k) for k in ("max_steps", "max_epochs")}  # the schedule's length
        fingerprint = {**dataclasses.asdict(c), **budget, "data": digest(sources, targets, val_src, val_tgt)}
        try:
            outcome = fit_module(module, data, seed=c.seed, has_val=bool(val_src), resume=resume,
                                 fingerprint=fingerprint, **engine)
        except TrainingInterrupted as exc:  # Ctrl-C: keep what was learned, usable and savable
            self._keep(module.net, src_vocab, tgt_vocab, max_len, exc.history)
            exc.result = self
            raise
        self._keep(module.net, src_vocab, tgt_vocab, max_len, outcome.history)
        self.resumed_from = outcome.resumed_from
        self.is_global_zero = outcome.is_global_zero
        self.steps = outcome.steps
        return self

    def _keep(self, net: Seq2Seq, src_vocab: Vocab, tgt_vocab: Vocab, max_len: int, history) -> None:
        self.model = net.cpu().eval()
        self.src_vocab, self.tgt_vocab, self.max_len = src_vocab, tgt_vocab, max_len
        self.history = [dict(r) for r in history.rows] if history is not None else []

    # ---- decoding -------------------------------------------------------------------
    def _decode(self, texts: list[str], beam: int, max_len: int | None, length_penalty: float):
        from lstmkit.seq2seq.decoding import decode

        self._require_fitted()
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1):
            raise InputError(f"expected max_len as a positive integer (or None), found {max_len!r}")
        if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) \
                or not math.isfinite(length_penalty):
            raise InputError(f"expected length_penalty as a finite number, found {length_penalty!r}")
        return decode(self.model, self.src_vocab, self.tgt_vocab, texts, beam, max_len or self.max_len,
                      length_penalty)

    def predict(self, sources: Sequence[str] | str, beam: int = 0, *, max_len: int | None = None,
                length_penalty: float = 0.0) -> list[str] | str:
        """The output for each source.

        Args:
            sources: a list of strings, or one string.
            beam: 0 or 1: greedy decoding; more: beam search keeping ``beam`` hypotheses,
                ranked by ``log p / len^length_penalty``.
            max_len: the longest output (None: the model's ``max_len``).
            length_penalty: the exponent above (default 0: plain log probability).

        Returns:
            A list of outputs for a list, one string for one string.
        """
        single = isinstance(sources, str)
        texts = [sources] if single else _strings(sources, "predict")
        outs, _ = self._decode(texts, beam, max_len, length_penalty)
        return outs[0] if single else outs

    def attend(self, text: str, beam: int = 0) -> tuple[str, Tensor]:
        """The output for ``text`` and its attention weights (T_out + 1, S + 1): one row
        per output character and the final ``</s>``, one column per source character
        and the source's ``</s>``."""
        if not isinstance(text, str):
            raise InputError(f"attend: expected one string, found {type(text).__name__}")
        outs, alphas = self._decode([text], beam, None, 0.0)
        return outs[0], alphas[0]

    def evaluate(self, sources: Sequence[str], targets: Sequence[str], beam: int = 0) -> dict:
        """Exact match and character error rate on pairs.

        Args:
            sources: N source strings.
            targets: their N expected outputs.
            beam: beam size for :meth:`predict` (0: greedy).

        Returns:
            ``{"exact_match", "cer", "n"}``: the fraction of outputs equal to their
            target, the character error rate (edit distance over target length, summed
            over the pairs) and the number of pairs.
        """
        sources, targets = _pairs(sources, targets, "evaluate")
        outs = self.predict(sources, beam)
        errors = sum(edit_distance(o, t) for o, t in zip(outs, targets))
        chars = sum(len(t) for t in targets)
        return {"exact_match": sum(o == t for o, t in zip(outs, targets)) / len(targets),
                "cer": errors / chars if chars else float(errors > 0), "n": len(targets)}

    def unknown(self, text: str) -> str:
        """The characters of ``text`` the source vocabulary lacks, each once, in order."""
        self._require_fitted()
        if not isinstance(text, str):
            raise InputError(f"unknown: expected one string, found {type(text).__name__}")
        return self.src_vocab.unknown(text)

    # ---- the Estimator hooks ----------------------------------------------------------
    def _network(self):
        return self.model

    def _state(self) -> dict:
        return {"source_chars": self.src_vocab.chars, "target_chars": self.tgt_vocab.chars,
                "max_len": self.max_len}

    def _restore(self, state: dict) -> None:
        # "src_chars"/"tgt_chars": models saved by Seq2Seq.save before the Translator
        src = state.get("source_chars", state.get("src_chars"))
        tgt = state.get("target_chars", state.get("tgt_chars"))
        if src is None or tgt is None:
            raise InputError("the saved state lacks the vocabularies (source_chars, target_chars); "
                             "not a seq2seq model")
        self.src_vocab, self.tgt_vocab = Vocab(src), Vocab(tgt)
        self.max_len = state.get("max_len") or self.config.max_len or 40
        self.model = Seq2Seq(len(self.src_vocab), len(self.tgt_vocab), self.config.network())

    # ---- ONNX -------------------------------------------------------------------------
    def export_spec(self):
        """Not available: a Translator is two graphs; raises InputError pointing to :meth:`export`."""
        raise InputError("a Translator exports as two ONNX graphs (the encoder and one decoder step): "
                         "use Translator.export(path), which writes <path stem>.encoder.onnx and "
                         "<path stem>.decoder.onnx")

    def export(self, path: str | os.PathLike, recurrent: str = "auto") -> list[Path]:
        """Write ``<stem>.encoder.onnx`` and ``<stem>.decoder.onnx`` next to ``path``
        (``model.onnx`` -> ``model.encoder.onnx``, ``model.decoder.onnx``) and return
        both paths. The encoder maps padded source ids and lengths to the attention
        memory and the decoder's first state; the decoder runs one step. The greedy loop
        over them: :func:`lstmkit.seq2seq.onnx_graphs.onnx_translate` (docs/seq2seq.md)."""
        from lstmkit.seq2seq.onnx_graphs import export

        self._require_fitted()
        return export(self, path, recurrent)

    def check_export(self, paths) -> float:
        """Largest absolute difference between onnxruntime running the graphs of
        :meth:`export` (``paths``: the two it returned) and PyTorch, over the encoder's
        outputs and every greedy decoding step of a few sources."""
        from lstmkit.seq2seq.onnx_graphs import check_export

        self._require_fitted()
        return check_export(self, paths)
