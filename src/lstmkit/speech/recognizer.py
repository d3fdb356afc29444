"""``SpeechRecognizer``: audio in, text out, through log-mel features, a bidirectional
LSTM acoustic model trained with CTC, and greedy or beam-search decoding."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lstmkit.errors import InputError
from lstmkit.speech.audio import read_wav
from lstmkit.speech.decode import (
    beam_search_decode,
    character_error_rate,
    edit_distance,
    greedy_decode,
)
from lstmkit.speech.features import FeatureConfig, log_mel
from lstmkit.speech.model import AcousticModel, AcousticModelConfig
from lstmkit.spine.engine.callbacks import digest
from lstmkit.spine.estimator import Estimator
from lstmkit.spine.flags import check_seed

TASK = "speech"
PCT_START = 0.15  # share of the run spent warming up to the peak learning rate (one-cycle)
CLIP = 5.0  # gradient norm clipping: the engine's gradient_clip_val unless one is given


@dataclass
class SpeechRecognizerConfig:
    """Alphabet, front end, network and training settings of :class:`SpeechRecognizer`.

    SpecAugment (Park et al. 2019) during training sets ``freq_masks`` bands of up to
    ``freq_mask_width`` mel channels and ``time_masks`` spans of up to
    ``time_mask_width`` frames to zero per utterance; it makes the model lean on more
    than one cue, which is what carries it to voices it never heard.

    Attributes:
        alphabet: the output characters, distinct (default the ten digits); the CTC blank
            is id 0, character i is id i + 1.
        features: the front end, a :class:`~lstmkit.speech.features.FeatureConfig` as a
            dict (default 40 mel bands, 25 ms windows, 10 ms hop).
        stack: frames stacked per LSTM step (default 4).
        hidden_size: units per direction (default 96).
        num_layers: bidirectional LSTM layers (default 2).
        dropout: in [0, 1) (default 0.2).
        epochs: the training's length unless the engine's ``max_epochs=`` is given
            (default 10).
        batch_size: utterances per update (default 32).
        lr: peak learning rate of the one-cycle AdamW schedule (default 3e-3).
        weight_decay: AdamW's weight decay (default 1e-4).
        freq_masks: SpecAugment mel bands masked per utterance (default 2).
        freq_mask_width: their widest, in mel channels (default 6).
        time_masks: SpecAugment time spans masked per utterance (default 2).
        time_mask_width: their longest, in frames (default 10).
        seed: seeds the weights, the batch order and the masks, in [0, 2**32) (default 0).
        layer_options: lstmkit keywords for the LSTM (``backend``, variants).

    Raises:
        InputError: a field out of its range or a repeated character in ``alphabet``.
    """

    alphabet: str = "0123456789"
    features: dict = field(default_factory=lambda: FeatureConfig().to_dict())
    stack: int = 4
    hidden_size: int = 96
    num_layers: int = 2
    dropout: float = 0.2
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    freq_masks: int = 2
    freq_mask_width: int = 6
    time_masks: int = 2
    time_mask_width: int = 10
    seed: int = 0
    layer_options: dict = field(default_factory=lambda: {"backend": "auto"})

    def __post_init__(self) -> None:
        if not self.alphabet or len(set(self.alphabet)) != len(self.alphabet):
            raise InputError("alphabet must be a non-empty string of distinct characters, "
                             f"got {self.alphabet!r}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        for name in ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InputError(f"{name} must be a non-negative integer, got {v!r}")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise InputError(f"lr must be > 0 and weight_decay >= 0, got {self.lr!r}, {self.weight_decay!r}")
        check_seed(self.seed)
        self.feature_config()
        self.model_config()

    def feature_config(self) -> FeatureConfig:
        """The front end's settings as a :class:`~lstmkit.speech.features.FeatureConfig`."""
        return FeatureConfig(**self.features)

    def model_config(self) -> AcousticModelConfig:
        """The acoustic model's config: these settings, the front end's mel bands and a
        vocabulary of the blank plus the alphabet."""
        return AcousticModelConfig(
            n_mels=self.feature_config().n_mels, vocab_size=len(self.alphabet) + 1, stack=self.stack,
            hidden_size=self.hidden_size, num_layers=self.num_layers, dropout=self.dropout,
            layer_options=dict(self.layer_options),
        )


def pad_features(feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad feature tensors to a batch.

    Args:
        feats: B tensors (F_i, M).

    Returns:
        ``(x, lengths)``: (B, F, M) zero-padded to the longest, and (B,) int64.
    """
    lengths = torch.tensor([len(f) for f in feats], dtype=torch.int64)
    return nn.utils.rnn.pad_sequence(list(feats), batch_first=True), lengths


def spec_augment(x: torch.Tensor, lengths: torch.Tensor, c: SpeechRecognizerConfig,
                 gen: torch.Generator | Sequence[torch.Generator]) -> torch.Tensor:
    """SpecAugment: zero random mel bands and time spans of each utterance.

    Args:
        x: (B, F, M) features (not changed: a copy is returned).
        lengths: (B,) frames per utterance.
        c: the recogniser's config (``freq_masks``, ``freq_mask_width``, ``time_masks``,
            ``time_mask_width``).
        gen: one generator for the batch, or one per utterance
            (:func:`augment_generator`).

    Returns:
        (B, F, M), the masked copy.
    """
    x = x.clone()
    B, _, M = x.shape
    gens = [gen] * B if isinstance(gen, torch.Generator) else list(gen)
    for b in range(B):
        g = gens[b]
        for _ in range(c.freq_masks):
            w = int(torch.randint(0, c.freq_mask_width + 1, (1,), generator=g))
            f0 = int(torch.randint(0, max(1, M - w), (1,), generator=g))
            x[b, :, f0 : f0 + w] = 0
        for _ in range(c.time_masks):
            w = int(torch.randint(0, c.time_mask_width + 1, (1,), generator=g))
            t0 = int(torch.randint(0, max(1, int(lengths[b]) - w), (1,), generator=g))
            x[b, t0 : t0 + w] = 0
    return x


def augment_generator(seed: int, epoch: int, item: int) -> torch.Generator:
    """The generator of one utterance's SpecAugment masks in one epoch: a function of
    (seed, epoch, utterance) alone, so the masks do not depend on the batches an
    utterance falls in (nor on the processes of a DDP run), and a resumed run draws them
    again exactly.

    Args:
        seed: the run's seed.
        epoch: the epoch.
        item: the utterance's index in the training set.

    Returns:
        A seeded ``torch.Generator``.
    """
    mixed = ((seed * 1_000_003 + epoch) * 1_000_033 + item) % (2**63)
    return torch.Generator().manual_seed(mixed)


class SpeechRecognizer(Estimator):
    """A CTC speech recogniser: log-mel features (:mod:`lstmkit.speech.features`), a
    bidirectional lstmkit LSTM acoustic model (:mod:`lstmkit.speech.model`) trained with
    ``torch.nn.CTCLoss``, greedy or prefix beam-search decoding.

    Features are (F, M) tensors per utterance (F frames, M mel bands); the model reads
    them padded to (B, F, M) with lengths (B,) and gives CTC log-probabilities (B, S, V)
    over S = ceil(F / stack) steps and V = 1 + len(alphabet) symbols.

    Args:
        **kwargs: the fields of :class:`SpeechRecognizerConfig` (``alphabet="0123456789"``,
            ``hidden_size=96``, ``num_layers=2``, ``epochs=10``, ``seed=0``...); the
            engine's settings (``max_epochs``, which overrides ``epochs``, ``max_steps``,
            ``max_time``, ``accelerator``, ``devices``, ``strategy``, ``precision``,
            ``checkpoint_dir``, ``verbose``...; see :mod:`lstmkit.spine.estimator`); any
            other keyword goes to the lstmkit layer (``backend=``, LSTM variants).

    Raises:
        InputError: an unknown keyword (naming the closest valid one) or a field out of
            range.

    Example:
        Four half-second noise clips with made-up transcripts, one epoch (so only the
        call sequence is shown; ``make_corpus`` synthesises spoken digits with
        espeak-ng, and ``lstmkit speech train`` trains on them):

        >>> import tempfile
        >>> import numpy as np
        >>> from lstmkit.speech import SpeechRecognizer
        >>> rec = SpeechRecognizer(alphabet="01", hidden_size=8, num_layers=1, max_epochs=1,
        ...                        verbose=False)
        >>> rng = np.random.default_rng(0)
        >>> waves = [rng.normal(scale=0.1, size=8000).astype("float32") for _ in range(4)]
        >>> feats = [rec.featurize(w, 16000) for w in waves]
        >>> feats[0].shape
        torch.Size([51, 40])
        >>> rec = rec.fit(feats, ["01", "10", "0", "1"])
        >>> rec.log_probs(feats[:1])[0].shape
        torch.Size([13, 3])
        >>> type(rec.transcribe(waves[0], sample_rate=16000)).__name__
        'str'
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = rec.save(d)
        ...     sorted(SpeechRecognizer.load(d).evaluate(feats, ["01", "10", "0", "1"]))
        ['cer', 'exact', 'n']
    """

    TASK = TASK
    Config = SpeechRecognizerConfig
    LAYER_OPTIONS = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.model: AcousticModel | None = None
        self.is_global_zero = True  # False in the other processes of a DDP fit

    # ---- the Estimator's hooks ----------------------------------------------------------
    def _network(self):
        return self.model

    def _state(self) -> dict:
        return {}

    def _restore(self, state: dict) -> None:
        self.model = AcousticModel(self.config.model_config())

    def export_spec(self):
        """The acoustic model up to the CTC log-probabilities: ``features`` (batch, time,
        n_mels) float32, as :meth:`featurize` computes them, and ``lengths`` (batch,)
        int64 -> ``log_probs`` (batch, steps, 1 + alphabet size; column 0 is the blank)
        and ``output_lengths`` (batch,) int64. The metadata holds the feature settings,
        the alphabet and the blank index, what a deployment needs to compute the features
        and decode (greedy: best path, merge repeats, drop blanks)."""
        from lstmkit.export.tasks import ExportSpec

        self._require_fitted()
        c = self.model.config
        example = (torch.randn(3, 23, c.n_mels), torch.tensor([23, 9, 16]))
        axes = {"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                "log_probs": {0: "batch", 1: "steps"}, "output_lengths": {0: "batch"}}
        state = {"alphabet": self.config.alphabet, "blank": 0, "features": self.feature_config.to_dict(),
                 "stack": c.stack}
        meta = {"lstmkit.task": TASK, "lstmkit.config": json.dumps(c.to_dict()),
                "lstmkit.state": json.dumps(state)}
        return ExportSpec(self.model.eval(), example, ["features", "lengths"],
                          ["log_probs", "output_lengths"], axes, meta)

    # ---- text and features --------------------------------------------------------------
    @property
    def feature_config(self) -> FeatureConfig:
        """The front end's settings (:meth:`SpeechRecognizerConfig.feature_config`)."""
        return self.config.feature_config()

    def featurize(self, samples: np.ndarray, sample_rate: int) -> torch.Tensor:
        """The features of a waveform, as this recogniser's front end computes them.

        Args:
            samples: (N,) mono samples, floats in [-1, 1].
            sample_rate: in Hz.

        Returns:
            (F, M) float32 log-mel features, F frames of M mel bands.
        """
        return log_mel(samples, sample_rate, self.feature_config)

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        index = {ch: i + 1 for i, ch in enumerate(self.config.alphabet)}  # 0 is the blank
        out = []
        for i, t in enumerate(texts):
            bad = sorted(set(t) - set(index))
            if bad or not t:
                raise InputError(f"transcript {i} ({t!r}) must be non-empty and use only the "
                                 f"alphabet {self.config.alphabet!r}; found {bad or 'nothing'}")
            out.append([index[ch] for ch in t])
        return out

    def _decode(self, ids: list[int]) -> str:
        return "".join(self.config.alphabet[i - 1] for i in ids)

    # ---- training -----------------------------------------------------------------------
    def fit(self, features: Sequence[torch.Tensor], texts: Sequence[str], *,
            val_features: Sequence[torch.Tensor] | None = None, val_texts: Sequence[str] | None = None,
            log: Callable[[dict], None] | None = None, resume: bool = False) -> SpeechRecognizer:
        """Train a fresh acoustic model through the engine (AdamW, one-cycle learning rate,
        gradients clipped at norm 5, SpecAugment) for ``max_epochs`` (default: the
        config's ``epochs``).

        Args:
            features: N (F_i, M) feature tensors (:meth:`featurize`).
            texts: their N transcripts, in the characters of ``alphabet``.
            val_features: validation utterances; with ``val_texts`` the greedy CER on
                them is measured after each epoch (``val_cer`` in :attr:`history` and the
                rows given to ``log``); it never picks the model.
            val_texts: their transcripts.
            log: called with each epoch's row of :attr:`history`.
            resume: continue an interrupted run from ``checkpoint_dir``.

        Returns:
            This recogniser, trained.

        Raises:
            InputError: counts that differ, no utterance, a character outside
                ``alphabet``, or only one of ``val_features``/``val_texts``.
        """
        from lstmkit.spine.engine import EpochRows, IndexData, TaskModule, one_cycle

        c = self.config
        if len(features) != len(texts) or not len(features):
            raise InputError(f"expected one transcript per utterance (at least one); got "
                             f"{len(features)} utterances and {len(texts)} transcripts")
        targets = self._encode(texts)
        has_val = val_features is not None or val_texts is not None
        if has_val:
            if val_features is None or val_texts is None or len(val_features) != len(val_texts) \
                    or not len(val_features):
                raise InputError("validation needs val_features and val_texts, one transcript per utterance")
            val_targets = self._encode(val_texts)
        torch.manual_seed(c.seed)  # the initial weights
        self.model = AcousticModel(c.model_config())
        ctc = nn.CTCLoss(blank=0, zero_infinity=True)  # an impossible alignment must not poison a batch
        module = None  # set below; the training batches read its epoch

        def batch(feats, tgts, idx: list[int], weight: int):
            x, lengths = pad_features([feats[j] for j in idx])
            tgt = [tgts[j] for j in idx]
            flat = torch.tensor([s for t in tgt for s in t], dtype=torch.int64)
            return x, lengths, flat, torch.tensor([len(t) for t in tgt], dtype=torch.int64), weight

        def collate(idx: list[int]):
            x, lengths, flat, tlen, _ = batch(features, targets, idx, len(idx))
            trainer = getattr(module, "_trainer", None)
            epoch = trainer.current_epoch if trainer is not None else 0
            x = spec_augment(x, lengths, c, [augment_generator(c.seed, epoch, j) for j in idx])
            return x, lengths, flat, tlen, len(idx)

        def val_collate(idx: list[int]):
            return batch(val_features, val_targets, idx, sum(len(val_targets[j]) for j in idx))

        def loss(net, b):
            x, lengths, flat, tlen, _ = b
            log_probs, steps = net(x, lengths)  # (B, S, V), (B,)
            return ctc(log_probs.transpose(0, 1), flat, steps, tlen)

        def validate(net, b):
            # the batch's character error rate, weighted by its reference characters
            # (the batch weight), so the epoch's value is the corpus CER
            x, lengths, flat, tlen, chars = b
            log_probs, steps = net(x, lengths)
            refs = torch.split(flat.cpu(), tlen.cpu().tolist())
            errors = sum(edit_distance(r.tolist(), greedy_decode(lp[: int(n)].cpu()))
                         for r, lp, n in zip(refs, log_probs, steps))
            return {"cer": errors / max(1, chars)}

        module = TaskModule(self.model, loss, one_cycle("adamw", c.lr, c.weight_decay, pct_start=PCT_START), validate=validate,
                            batch_size=lambda b: b[-1])
        data = IndexData(len(features), collate, c.batch_size, c.seed,
                         n_val=len(val_features) if has_val else 0, val_collate=val_collate,
                         val_batch_size=64)
        kw = self._engine_kwargs(max_epochs=c.epochs, gradient_clip_val=CLIP)
        rows = EpochRows(log)
        fingerprint = {"config": dataclasses.asdict(c), "data": digest(features, texts),
                       "val": digest(val_features, val_texts) if has_val else None,
                       "max_epochs": kw.get("max_epochs"), "max_steps": kw.get("max_steps")}
        self._train(module, data, has_val=has_val, resume=resume, fingerprint=fingerprint, engine=kw,
                    rows=rows)
        return self

    # ---- recognition --------------------------------------------------------------------
    @torch.inference_mode()
    def log_probs(self, features: Sequence[torch.Tensor], batch_size: int = 64) -> list[torch.Tensor]:
        """Per-utterance CTC log-probabilities.

        Args:
            features: N (F_i, M) feature tensors.
            batch_size: utterances per forward pass (default 64).

        Returns:
            N tensors (S_i, V), S_i = ceil(F_i / stack); column 0 is the blank.
        """
        self._require_fitted()
        self.model.eval()
        device = next(self.model.parameters()).device
        out = []
        for i in range(0, len(features), batch_size):
            x, lengths = pad_features(features[i : i + batch_size])
            lp, steps = self.model(x.to(device), lengths.to(device))
            lp = lp.cpu()
            out += [lp[b, : int(steps[b])] for b in range(len(steps))]
        return out

    def transcribe_features(self, features: Sequence[torch.Tensor], beam: int = 0) -> list[str]:
        """Transcripts of feature tensors.

        Args:
            features: N (F_i, M) feature tensors.
            beam: 0 (default): greedy decoding; else CTC prefix beam search of that width.

        Returns:
            N strings.
        """
        decode = greedy_decode if beam <= 0 else (lambda lp: beam_search_decode(lp, beam))
        return [self._decode(decode(lp)) for lp in self.log_probs(features)]

    def transcribe(self, audio, sample_rate: int | None = None, beam: int = 0) -> str:
        """The transcript of one recording.

        Args:
            audio: a WAV file path, or (N,) samples.
            sample_rate: in Hz, required with samples (a WAV file carries its own).
            beam: 0 (default): greedy decoding; else beam search of that width.

        Returns:
            The transcript.

        Raises:
            InputError: samples without ``sample_rate``.
        """
        if isinstance(audio, (str, os.PathLike)):
            samples, sample_rate = read_wav(audio)
        elif sample_rate is None:
            raise InputError("expected a WAV path, or samples with sample_rate=...")
        else:
            samples = audio
        return self.transcribe_features([self.featurize(samples, sample_rate)], beam)[0]

    def predict(self, features: Sequence[torch.Tensor], beam: int = 0) -> list[str]:
        """The transcripts of N (F_i, M) feature tensors (:meth:`transcribe_features`);
        ``beam`` as there. Returns N strings."""
        return self.transcribe_features(features, beam)

    def evaluate(self, features: Sequence[torch.Tensor], texts: Sequence[str], beam: int = 0) -> dict:
        """Character error rate and exact transcripts on labelled utterances.

        Args:
            features: N (F_i, M) feature tensors.
            texts: their N true transcripts.
            beam: 0 (default): greedy decoding; else beam search of that width.

        Returns:
            ``{"cer", "exact", "n"}``: character error rate, the share of utterances
            transcribed exactly right, and N.
        """
        hyps = self.transcribe_features(features, beam)
        texts = list(texts)
        return {"cer": character_error_rate(texts, hyps),
                "exact": float(np.mean([h == t for h, t in zip(hyps, texts)])), "n": len(texts)}
