"""``SpeechRecognizer``: audio in, text out, through log-mel features, a bidirectional
LSTM acoustic model trained with CTC, and greedy or beam-search decoding."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lstmkit.errors import InputError
from lstmkit.speech.audio import read_wav
from lstmkit.speech.decode import beam_search_decode, character_error_rate, greedy_decode
from lstmkit.speech.features import FeatureConfig, log_mel
from lstmkit.speech.model import AcousticModel, AcousticModelConfig
from lstmkit.spine import io
from lstmkit.spine.fitting import config_from_kwargs, seeded_generator, train_one_cycle

TASK = "speech"


@dataclass
class SpeechRecognizerConfig:
    """Alphabet, front end, network and training settings of :class:`SpeechRecognizer`.

    ``freq_masks``/``time_masks``: SpecAugment (Park et al. 2019) during training, that
    many bands of up to ``freq_mask_width`` mel channels and spans of up to
    ``time_mask_width`` frames set to zero per utterance; it makes the model lean on
    more than one cue, which is what carries it to voices it never heard."""

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
        self.feature_config()
        self.model_config()

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(**self.features)

    def model_config(self) -> AcousticModelConfig:
        return AcousticModelConfig(
            n_mels=self.feature_config().n_mels, vocab_size=len(self.alphabet) + 1, stack=self.stack,
            hidden_size=self.hidden_size, num_layers=self.num_layers, dropout=self.dropout,
            layer_options=dict(self.layer_options),
        )


def pad_features(feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(F_i, M) tensors -> (B, F, M) zero-padded and lengths (B,) int64."""
    lengths = torch.tensor([len(f) for f in feats], dtype=torch.int64)
    return nn.utils.rnn.pad_sequence(list(feats), batch_first=True), lengths


def spec_augment(x: torch.Tensor, lengths: torch.Tensor, c: SpeechRecognizerConfig,
                 gen: torch.Generator) -> torch.Tensor:
    """Zero random mel bands and time spans of each utterance in ``x`` (B, F, M)."""
    x = x.clone()
    B, _, M = x.shape
    for b in range(B):
        for _ in range(c.freq_masks):
            w = int(torch.randint(0, c.freq_mask_width + 1, (1,), generator=gen))
            f0 = int(torch.randint(0, max(1, M - w), (1,), generator=gen))
            x[b, :, f0 : f0 + w] = 0
        for _ in range(c.time_masks):
            w = int(torch.randint(0, c.time_mask_width + 1, (1,), generator=gen))
            t0 = int(torch.randint(0, max(1, int(lengths[b]) - w), (1,), generator=gen))
            x[b, t0 : t0 + w] = 0
    return x


class SpeechRecognizer:
    """A CTC speech recogniser: log-mel features (:mod:`lstmkit.speech.features`), a
    bidirectional lstmkit LSTM acoustic model (:mod:`lstmkit.speech.model`) trained with
    ``torch.nn.CTCLoss``, greedy or prefix beam-search decoding.

    Args: the fields of :class:`SpeechRecognizerConfig` (``alphabet="0123456789",
    hidden_size=96, num_layers=2, epochs=10, seed=0``...); other keywords go to the
    lstmkit layer (``backend=``, LSTM variants).

    Example::

        >>> from lstmkit.speech import SpeechRecognizer, make_corpus
        >>> rec = SpeechRecognizer()
        >>> data = make_corpus(feature_config=rec.feature_config)     # needs espeak-ng
        >>> rec.fit(data.train_features, data.train_text)
        >>> rec.evaluate(data.test_features, data.test_text)["cer"]
        >>> rec.transcribe("digits.wav")
        '4071'
    """

    def __init__(self, **kwargs):
        self.config = config_from_kwargs(SpeechRecognizerConfig, kwargs)
        self.model: AcousticModel | None = None
        self.history: list[dict] = []

    @property
    def feature_config(self) -> FeatureConfig:
        return self.config.feature_config()

    def featurize(self, samples: np.ndarray, sample_rate: int) -> torch.Tensor:
        """(F, M) features of a waveform, as this recogniser's front end computes them."""
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
            log: Callable[[dict], None] | None = None) -> SpeechRecognizer:
        """Train a fresh acoustic model on (F_i, M) feature tensors and their transcripts
        for ``epochs`` (AdamW, one-cycle learning rate, gradients clipped at norm 5,
        SpecAugment). With ``val_*``, ``log`` gets the greedy validation CER per epoch."""
        c = self.config
        if len(features) != len(texts) or not len(features):
            raise InputError(f"expected one transcript per utterance (at least one); got "
                             f"{len(features)} utterances and {len(texts)} transcripts")
        targets = self._encode(texts)
        gen = seeded_generator(c.seed)
        self.model = AcousticModel(c.model_config())
        ctc = nn.CTCLoss(blank=0, zero_infinity=True)  # an impossible alignment must not poison a batch

        def batch_loss(idx: list[int]) -> torch.Tensor:
            x, lengths = pad_features([features[j] for j in idx])
            x = spec_augment(x, lengths, c, gen)
            log_probs, steps_b = self.model(x, lengths)  # (B, S, V), (B,)
            tgt = [targets[j] for j in idx]
            return ctc(log_probs.transpose(0, 1), torch.tensor([s for t in tgt for s in t]),
                       steps_b, torch.tensor([len(t) for t in tgt]))

        def validate() -> dict:
            return {"val_cer": self.evaluate(val_features, val_texts, beam=0)["cer"]}

        self.history = []
        train_one_cycle(self.model, lr=c.lr, weight_decay=c.weight_decay, pct_start=0.15,
                        epochs=c.epochs, n_items=len(features), batch_size=c.batch_size, gen=gen,
                        batch_loss=batch_loss, history=self.history,
                        validate=validate if val_features is not None else None, log=log)
        return self

    # ---- recognition --------------------------------------------------------------------
    def _require_model(self) -> None:
        if self.model is None:
            raise InputError("this SpeechRecognizer is not trained: call fit(...) or load(dir) first")

    @torch.inference_mode()
    def log_probs(self, features: Sequence[torch.Tensor], batch_size: int = 64) -> list[torch.Tensor]:
        """Per-utterance CTC log-probabilities (S_i, V); column 0 is the blank."""
        self._require_model()
        self.model.eval()
        out = []
        for i in range(0, len(features), batch_size):
            x, lengths = pad_features(features[i : i + batch_size])
            lp, steps = self.model(x, lengths)
            out += [lp[b, : int(steps[b])] for b in range(len(steps))]
        return out

    def transcribe_features(self, features: Sequence[torch.Tensor], beam: int = 0) -> list[str]:
        """Transcripts of (F_i, M) feature tensors: greedy with ``beam=0`` (default),
        else prefix beam search of that width."""
        decode = greedy_decode if beam <= 0 else (lambda lp: beam_search_decode(lp, beam))
        return [self._decode(decode(lp)) for lp in self.log_probs(features)]

    def transcribe(self, audio, sample_rate: int | None = None, beam: int = 0) -> str:
        """The transcript of a WAV file path, or of samples (N,) with ``sample_rate``."""
        if isinstance(audio, (str, os.PathLike)):
            samples, sample_rate = read_wav(audio)
        elif sample_rate is None:
            raise InputError("expected a WAV path, or samples with sample_rate=...")
        else:
            samples = audio
        return self.transcribe_features([self.featurize(samples, sample_rate)], beam)[0]

    def evaluate(self, features: Sequence[torch.Tensor], texts: Sequence[str], beam: int = 0) -> dict:
        """``{"cer", "exact", "n"}``: character error rate and the share of utterances
        transcribed exactly right."""
        hyps = self.transcribe_features(features, beam)
        texts = list(texts)
        return {"cer": character_error_rate(texts, hyps),
                "exact": float(np.mean([h == t for h, t in zip(hyps, texts)])), "n": len(texts)}

    # ---- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike):
        """Write the recogniser to the directory ``path`` (config.json + model.safetensors)."""
        self._require_model()
        return io.save_model(path, TASK, dataclasses.asdict(self.config), self.model.state_dict(),
                             {"history": self.history})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpeechRecognizer:
        """A recogniser saved by :meth:`save`."""
        config, tensors, state, _ = io.load_model(path, TASK)
        self = cls(**config)
        self.history = list(state.get("history", []))
        self.model = AcousticModel(self.config.model_config())
        io.load_weights(self.model, tensors, path)
        self.model.eval()
        return self
