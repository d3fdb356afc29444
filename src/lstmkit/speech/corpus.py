"""Spoken digit strings synthesised with espeak-ng, split by voice, cached on disk.

Each utterance is a random string of 1 to ``max_digits`` digits read as words ("four
zero seven") by one voice at a random speed, pitch and word gap, with random silence
before and after and white noise at a random signal-to-noise ratio. A voice is an
espeak-ng variant (the speaker's timbre: ``m3``, ``f2``, ``klatt``...) over one of eight
English accents; the test set uses only variants that the training set never hears
(:data:`TEST_VARIANTS`), so its error rate is the error on unseen voices.

The corpus is stored as log-mel features (float16) in ``$LSTMKIT_CACHE/speech/`` (default
``~/.cache/lstmkit/speech/``), keyed by a hash of its config, the feature config and the
espeak-ng version, so each is synthesised once. Synthesis runs espeak-ng in parallel
threads (it is a separate process; about 60 utterances a second on 2 cores).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lstmkit.errors import InputError
from lstmkit.speech.audio import add_noise
from lstmkit.speech.features import FeatureConfig, log_mel
from lstmkit.speech.synth import ACCENTS, espeak_version, require_espeak, spoken_digits, synthesize

# espeak-ng 1.51's variants, listed here so the split never depends on what is installed
TRAIN_VARIANTS = (
    "m1", "m2", "m4", "m5", "m7", "m8", "f1", "f3", "f5", "klatt", "klatt3", "klatt4",
    "klatt5", "klatt6", "adam", "Alex", "Andrea", "Andy", "antonio", "aunty", "benjamin",
    "boris", "caleb", "david", "Demonic", "Diogo", "ed", "edward", "edward2", "Gene", "Gene2",
    "gustave", "announcer", "Henrique", "iven", "iven3", "iven4", "Jacky", "john",
    "kaukovalta", "linda", "marcelo", "Marco", "Mario", "max", "Michael", "miguel", "Mike",
    "Mr", "Nguyen", "pablo", "paul", "pedro", "quincy", "RicishayMax", "RicishayMax2",
    "RicishayMax3", "rob", "robert", "robosoft", "robosoft2", "robosoft4", "robosoft5",
    "robosoft6", "robosoft7", "robosoft8", "steph", "steph3", "Storm", "Tweaky", "UniRobot",
    "zac", "anika", "anikaRobot", "AnxiousAndy", "fast", "whisperf", "whisper", "grandpa",
    "norbert", "sandro", "shelby", "victor", "croak",
)
TEST_VARIANTS = (
    "m3", "m6", "f2", "f4", "klatt2", "Alicia", "Annie", "belinda", "Denis", "Hugo", "Lee",
    "michel", "steph2", "robosoft3", "iven2", "travis", "grandma",
)


@dataclass(frozen=True)
class CorpusConfig:
    """How many utterances, how long, and how varied. Ranges are (low, high), drawn
    uniformly per utterance.

    Attributes:
        n_train: training utterances (default 2000), in the training voices.
        n_test: test utterances (default 300), in voices training never hears.
        min_digits: shortest digit string (default 1).
        max_digits: longest digit string (default 7).
        speed: words per minute (default (120, 220)).
        pitch: espeak-ng pitch, 0 to 99 (default (20, 80)).
        word_gap: extra pause between words in units of 10 ms (default (0, 3)).
        snr_db: signal-to-noise ratio of the added white noise (default (10, 40)).
        silence_s: silence before and after, each, in seconds (default (0, 0.3)).
        seed: seeds every draw (default 0).

    Raises:
        InputError: no utterance at all, or a range whose low end is above its high end.
    """

    n_train: int = 2000
    n_test: int = 300
    min_digits: int = 1
    max_digits: int = 7
    speed: tuple[int, int] = (120, 220)  # words per minute
    pitch: tuple[int, int] = (20, 80)  # espeak-ng 0..99
    word_gap: tuple[int, int] = (0, 3)  # extra pause between words, units of 10 ms
    snr_db: tuple[float, float] = (10.0, 40.0)
    silence_s: tuple[float, float] = (0.0, 0.3)  # before and after, each
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_train < 0 or self.n_test < 0 or self.n_train + self.n_test == 0:
            raise InputError("expected non-negative n_train and n_test, not both 0; "
                             f"got {self.n_train}, {self.n_test}")
        if not 1 <= self.min_digits <= self.max_digits:
            raise InputError("expected 1 <= min_digits <= max_digits, "
                             f"got {self.min_digits}, {self.max_digits}")
        for name in ("speed", "pitch", "word_gap", "snr_db", "silence_s"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise InputError(f"{name} must be a (low, high) range, got {(lo, hi)}")


@dataclass
class Utterance:
    """What one recording says and who says it how.

    Attributes:
        digits: the digit string spoken.
        voice: the espeak-ng voice.
        speed: words per minute.
        pitch: espeak-ng pitch, 0 to 99.
        word_gap: extra pause between words, units of 10 ms.
        snr_db: signal-to-noise ratio of the added noise.
        silence: seconds of silence before and after.
        seed: seeds the noise.
    """

    digits: str
    voice: str
    speed: int
    pitch: int
    word_gap: int
    snr_db: float
    silence: tuple[float, float]
    seed: int


@dataclass
class Corpus:
    """Log-mel features (F_i, M) float32 per utterance, their transcripts and voices.

    Attributes:
        train_features: the training utterances' features.
        train_text: their transcripts.
        train_voices: their voices.
        test_features: the test utterances' features (voices training never hears).
        test_text: their transcripts.
        test_voices: their voices.
    """

    train_features: list[torch.Tensor]
    train_text: list[str]
    train_voices: list[str]
    test_features: list[torch.Tensor]
    test_text: list[str]
    test_voices: list[str]


def plan(config: CorpusConfig, split: str) -> list[Utterance]:
    """The utterances of a split, drawn from ``config.seed``.

    Args:
        config: the corpus settings.
        split: ``"train"`` (``n_train`` utterances, training voices) or ``"test"``
            (``n_test``, test voices).

    Returns:
        The planned :class:`Utterance` list.
    """
    variants = TRAIN_VARIANTS if split == "train" else TEST_VARIANTS
    n = config.n_train if split == "train" else config.n_test
    rng = np.random.default_rng([config.seed, 0 if split == "train" else 1])
    out = []
    for _ in range(n):
        k = int(rng.integers(config.min_digits, config.max_digits + 1))
        digits = "".join(str(d) for d in rng.integers(0, 10, size=k))
        voice = f"{ACCENTS[rng.integers(len(ACCENTS))]}+{variants[rng.integers(len(variants))]}"
        out.append(Utterance(
            digits, voice,
            speed=int(rng.integers(config.speed[0], config.speed[1] + 1)),
            pitch=int(rng.integers(config.pitch[0], config.pitch[1] + 1)),
            word_gap=int(rng.integers(config.word_gap[0], config.word_gap[1] + 1)),
            snr_db=float(rng.uniform(*config.snr_db)),
            silence=(float(rng.uniform(*config.silence_s)), float(rng.uniform(*config.silence_s))),
            seed=int(rng.integers(2**31)),
        ))
    return out


def render(u: Utterance) -> tuple[np.ndarray, int]:
    """The waveform of one planned utterance: speech, silences, noise."""
    x, sr = synthesize(spoken_digits(u.digits), u.voice, u.speed, u.pitch, u.word_gap)
    x = x / max(1e-3, float(np.abs(x).max())) * 0.8  # voices differ in level; CMVN removes it anyway
    before, after = (np.zeros(int(s * sr), dtype=np.float32) for s in u.silence)
    return add_noise(np.concatenate([before, x, after]), u.snr_db, np.random.default_rng(u.seed)), sr


def _features(utts: list[Utterance], feature_config: FeatureConfig, workers: int) -> list[torch.Tensor]:
    def one(u: Utterance) -> torch.Tensor:
        x, sr = render(u)
        return log_mel(x, sr, feature_config)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, utts))


def cache_dir() -> Path:
    """Where synthesised corpora are cached: ``$LSTMKIT_CACHE/speech``, or
    ``~/.cache/lstmkit/speech``."""
    return Path(os.environ.get("LSTMKIT_CACHE", Path.home() / ".cache" / "lstmkit")) / "speech"


def _key(config: CorpusConfig, feature_config: FeatureConfig) -> str:
    blob = json.dumps([asdict(config), feature_config.to_dict(), espeak_version(),
                       TRAIN_VARIANTS, TEST_VARIANTS], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save(path: Path, parts: dict[str, tuple[list[torch.Tensor], list[Utterance]]]) -> None:
    arrays = {}
    for split, (feats, utts) in parts.items():
        arrays[f"{split}_feats"] = (torch.cat(feats).numpy().astype(np.float16) if feats
                                    else np.zeros((0, 1), np.float16))
        arrays[f"{split}_lengths"] = np.array([len(f) for f in feats], dtype=np.int64)
        arrays[f"{split}_meta"] = np.array(json.dumps([asdict(u) for u in utts]))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load(path: Path, split: str) -> tuple[list[torch.Tensor], list[Utterance]]:
    with np.load(path) as z:
        flat = torch.from_numpy(z[f"{split}_feats"].astype(np.float32))
        lengths = z[f"{split}_lengths"].tolist()
        meta = json.loads(str(z[f"{split}_meta"]))
    feats = list(torch.split(flat, lengths)) if lengths else []
    return feats, [Utterance(**{**m, "silence": tuple(m["silence"])}) for m in meta]


def make_corpus(config: CorpusConfig | None = None, feature_config: FeatureConfig | None = None,
                *, cache: bool = True, workers: int | None = None) -> Corpus:
    """Synthesise (or load from the cache) the train and test utterances as features.

    Args:
        config: what to synthesise (None: ``CorpusConfig()``).
        feature_config: the front end (None: ``FeatureConfig()``; give the recogniser's
            ``feature_config``).
        cache: read and write the corpus under :func:`cache_dir` (default True).
        workers: threads running espeak-ng (None: twice the CPU count, at least 2).

    Returns:
        A :class:`Corpus`: (F_i, M) float32 features, transcripts and voices of both
        splits.

    Raises:
        InputError: espeak-ng is not installed.
    """
    require_espeak()
    config = config or CorpusConfig()
    feature_config = feature_config or FeatureConfig()
    path = cache_dir() / f"digits-{_key(config, feature_config)}.npz"
    if cache and path.is_file():
        (trf, tru), (tef, teu) = _load(path, "train"), _load(path, "test")
    else:
        workers = workers or max(2, 2 * (os.cpu_count() or 1))  # threads mostly wait on espeak-ng
        tru, teu = plan(config, "train"), plan(config, "test")
        trf, tef = _features(tru, feature_config, workers), _features(teu, feature_config, workers)
        if cache:
            _save(path, {"train": (trf, tru), "test": (tef, teu)})
    return Corpus(trf, [u.digits for u in tru], [u.voice for u in tru],
                  tef, [u.digits for u in teu], [u.voice for u in teu])


def test_corpus(config: CorpusConfig | None = None, feature_config: FeatureConfig | None = None,
                *, cache: bool = True) -> Corpus:
    """The test utterances of ``config`` (the training split left empty).

    Read from the cache of the whole corpus when :func:`make_corpus` has written it (a
    ``speech train`` with the same settings), else synthesised alone (the test plan does
    not depend on ``n_train``).

    Args:
        config: the corpus settings (None: ``CorpusConfig()``).
        feature_config: the front end (None: ``FeatureConfig()``).
        cache: read and write the cache (default True).

    Returns:
        A :class:`Corpus` whose training lists are empty.

    Raises:
        InputError: espeak-ng is not installed.
    """
    require_espeak()
    config = config or CorpusConfig()
    feature_config = feature_config or FeatureConfig()
    path = cache_dir() / f"digits-{_key(config, feature_config)}.npz"
    if cache and path.is_file():
        tef, teu = _load(path, "test")
        return Corpus([], [], [], tef, [u.digits for u in teu], [u.voice for u in teu])
    from dataclasses import replace

    return make_corpus(replace(config, n_train=0), feature_config, cache=cache)

