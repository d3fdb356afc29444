"""``lstmkit speech``: a CTC speech recogniser for spoken digit strings.

    lstmkit speech train [--out speech-model] [--n-train 2000] [--epochs 10 | --max-epochs N] [engine flags]
    lstmkit speech evaluate [--load speech-model] [--n-test 300] [--seed 0] [--data LIST.tsv] [--beam 8]
    lstmkit speech transcribe FILE.wav [FILE.wav ...] [--load speech-model] [--beam 8]
    lstmkit speech predict FILE.wav ...          (the same as transcribe)
    lstmkit speech say 4071 --out digits.wav [--voice en-gb-scotland+f2]

``train`` synthesises spoken digit strings with espeak-ng (varied voices, speeds, pitch,
pauses and noise; cached under ~/.cache/lstmkit/speech), trains a bidirectional LSTM
acoustic model with CTC on log-mel features, and prints the character error rate (CER)
on the test voices, which training never hears, with greedy and beam-search decoding.
``evaluate`` prints a saved model's CER on the test voices of the corpus of ``--seed``
(the cached one of a ``train`` with the same ``--n-train``, ``--n-test`` and ``--seed``,
or synthesised), or on ``--data``: a list of ``FILE.wav<TAB>digits`` lines (paths
relative to the list). ``say`` writes a WAV file to try ``transcribe`` on. Needs the
espeak-ng program for synthesis (scripts/install_speech_deps.sh installs it).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from lstmkit.errors import InputError
from lstmkit.spine import flags
from lstmkit.spine.cli import add_threads_arg, apply_threads, estimator_saver, save_on_interrupt
from lstmkit.spine.text import read_text
from lstmkit.spine.train_flags import add_train_flags, engine_kwargs, task_parser

TRAIN_OUT = "speech-model"


def _rank_zero() -> bool:
    """Whether this process is the first of a run (a DDP fit re-runs the command line
    in one more process per device, each with its rank in the environment)."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def _report(rec, features, texts, beam: int, what: str = "test voices") -> None:
    greedy = rec.evaluate(features, texts, beam=0)
    print(f"{what}, greedy decoding: CER {greedy['cer']:.2%}, exact {greedy['exact']:.2%} "
          f"({greedy['n']} utterances)")
    if beam > 0:
        b = rec.evaluate(features, texts, beam=beam)
        print(f"{what}, beam search ({beam}): CER {b['cer']:.2%}, exact {b['exact']:.2%}")


def train(args: argparse.Namespace) -> int:
    """``lstmkit speech train``: synthesise the corpus (cached), train, report the CER on
    the test voices and save to ``--out``.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.speech import CorpusConfig, SpeechRecognizer, make_corpus
    from lstmkit.speech.synth import require_espeak

    if args.resume and not args.checkpoint_dir:
        raise InputError("--resume needs --checkpoint-dir (where the interrupted run wrote its checkpoints)")
    apply_threads(args)
    require_espeak()  # before any output: without it there is no data
    options = {k: v for k, v in {
        "epochs": args.epochs, "hidden_size": args.hidden_size, "num_layers": args.num_layers,
        "lr": args.lr, "seed": args.seed,
    }.items() if v is not None}
    if args.backend != "auto":
        options["backend"] = args.backend
    rec = SpeechRecognizer(**options, **engine_kwargs(args))
    corpus_cfg = CorpusConfig(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    talk = _rank_zero()
    t0 = time.perf_counter()
    if talk:
        print(f"speech: synthesising {args.n_train} training / {args.n_test} test utterances with "
              "espeak-ng (cached after the first run)...", flush=True)
    data = make_corpus(corpus_cfg, rec.feature_config, cache=not args.no_cache)
    variants = [{v.split("+")[1] for v in voices} for voices in (data.train_voices, data.test_voices)]
    if talk:
        print(f"speech: data ready in {time.perf_counter() - t0:.0f}s; voices (accent+variant): "
              f"{len(set(data.train_voices))} in training, {len(set(data.test_voices))} in the test, whose "
              f"{len(variants[1])} variants training never hears", flush=True)
    t0 = time.perf_counter()

    with save_on_interrupt("speech train", estimator_saver(rec, args.out)):
        rec.fit(data.train_features, data.train_text, resume=args.resume)
    if not rec.is_global_zero:
        return 0  # another process of a DDP run: the first one reports and saves
    print(f"trained in {time.perf_counter() - t0:.0f}s")
    _report(rec, data.test_features, data.test_text, args.beam)
    rec.save(args.out)
    print(f"saved to {args.out}")
    return 0


def _read_list(path: str):
    """(WAV paths, transcripts) of a list file: ``FILE.wav<TAB>digits`` per line, paths
    relative to the list's folder; blank lines and ``#`` lines skipped."""
    base = Path(path).parent
    files, texts = [], []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 2 or not parts[0].strip():
            raise InputError(f"--data {path}:{lineno}: expected 'FILE.wav<TAB>transcript', "
                             f"found {line[:60]!r}")
        files.append(base / parts[0].strip())
        texts.append(parts[1].strip())
    if not files:
        raise InputError(f"--data {path}: no 'FILE.wav<TAB>transcript' lines")
    return files, texts


def evaluate(args: argparse.Namespace) -> int:
    """``lstmkit speech evaluate``: the CER of the ``--load`` model on the test voices or a
    ``--data`` list of WAV files and transcripts.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.speech import CorpusConfig, SpeechRecognizer
    from lstmkit.speech.audio import read_wav
    from lstmkit.speech.corpus import test_corpus

    apply_threads(args)
    rec = SpeechRecognizer.load(args.load)
    if args.data:
        files, texts = _read_list(args.data)
        alphabet = set(rec.config.alphabet)
        for f, t in zip(files, texts):  # a character the model cannot write would be scored as its error
            if not t or not set(t) <= alphabet:
                raise InputError(f"--data {args.data}: expected transcripts in the model's alphabet "
                                 f"{rec.config.alphabet!r}, found {t!r} for {f.name}")
        features = [rec.featurize(*read_wav(f)) for f in files]
        print(f"speech: {args.load} on {args.data}: {len(files)} utterances")
        what = Path(args.data).name
    else:
        data = test_corpus(CorpusConfig(n_train=args.n_train, n_test=args.n_test, seed=args.seed),
                           rec.feature_config, cache=not args.no_cache)
        features, texts = data.test_features, data.test_text
        print(f"speech: {args.load} on the test voices of corpus seed {args.seed}: {len(texts)} utterances")
        what = "test voices"
    _report(rec, features, texts, args.beam, what)
    return 0


def transcribe(args: argparse.Namespace) -> int:
    """``lstmkit speech transcribe`` (and ``predict``): print the transcript of each WAV
    file.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.speech import SpeechRecognizer

    apply_threads(args)
    rec = SpeechRecognizer.load(args.load)
    for path in args.files:
        text = rec.transcribe(path, beam=args.beam)
        print(f"{text}\t{path}" if len(args.files) > 1 else text)
    return 0


def say(args: argparse.Namespace) -> int:
    """``lstmkit speech say``: synthesise a digit string to a WAV file with espeak-ng.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    import numpy as np

    from lstmkit.speech.audio import add_noise, write_wav
    from lstmkit.speech.synth import spoken_digits, synthesize

    x, sr = synthesize(spoken_digits(args.digits), args.voice, args.speed, args.pitch)
    if args.snr is not None:
        x = add_noise(x, args.snr, np.random.default_rng(0))
    write_wav(args.out, x, sr)
    print(f"wrote {args.out} ({len(x) / sr:.2f}s, {sr} Hz, voice {args.voice})")
    return 0


def _positive(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return n


def add_parser(subparsers) -> None:
    """Add ``lstmkit speech`` and its commands to ``subparsers``.

    Args:
        subparsers: the ``lstmkit`` parser's subcommands (``add_subparsers()``).
    """
    _, sub = task_parser(subparsers, "speech", "CTC speech recognition of spoken digits (espeak-ng data)", __doc__)

    t = sub.add_parser("train", help="synthesise data, train, print the test-voice CER, save")
    t.add_argument("--n-train", type=_positive, default=2000, help="training utterances (2000)")
    t.add_argument("--n-test", type=_positive, default=300, help="test utterances, unseen voices (300)")
    t.add_argument("--epochs", type=int, help="passes over the data (10; --max-epochs overrides it)")
    t.add_argument("--hidden-size", type=int)
    t.add_argument("--num-layers", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--beam", type=int, default=8, help="beam width for the second CER (8; 0: skip)")
    t.add_argument("--no-cache", action="store_true", help="synthesise afresh, write no cache")
    add_train_flags(t, out_default=TRAIN_OUT, data_help=None, threads_default=None)
    flags.outputs(t, out="model")
    t.set_defaults(func=train)

    e = sub.add_parser("evaluate", help="print a saved model's CER on the test voices (or on a list of WAVs)")
    e.add_argument("--load", default=TRAIN_OUT, help=f"a model saved by `speech train` ({TRAIN_OUT})")
    e.add_argument("--data", metavar="LIST.tsv",
                   help="evaluate on these recordings: lines 'FILE.wav<TAB>digits' "
                        "(paths relative to the list)")
    e.add_argument("--n-train", type=_positive, default=2000,
                   help="with --n-test and --seed: which corpus's test voices (a train's own: 2000)")
    e.add_argument("--n-test", type=_positive, default=300, help="test utterances, unseen voices (300)")
    e.add_argument("--seed", type=int, default=0, help="the corpus's seed (0)")
    e.add_argument("--beam", type=int, default=8, help="beam width for the second CER (8; 0: skip)")
    e.add_argument("--no-cache", action="store_true", help="synthesise afresh, write no cache")
    add_threads_arg(e)
    e.set_defaults(func=evaluate)

    r = sub.add_parser("transcribe", aliases=["predict"], help="print the digits spoken in WAV files")
    r.add_argument("files", nargs="+", metavar="FILE.wav")
    r.add_argument("--load", default=TRAIN_OUT, help=f"a model saved by `speech train` ({TRAIN_OUT})")
    r.add_argument("--beam", type=int, default=8, help="beam width (8); 0 for greedy decoding")
    add_threads_arg(r)
    r.set_defaults(func=transcribe)

    s = sub.add_parser("say", help="speak a digit string into a WAV file with espeak-ng")
    s.add_argument("digits", help="digits to speak, e.g. 4071")
    s.add_argument("--out", required=True, help="WAV file to write")
    s.add_argument("--voice", default="en-us", help="espeak-ng voice, language+variant (en-us)")
    s.add_argument("--speed", type=int, default=160, help="words per minute (160)")
    s.add_argument("--pitch", type=int, default=50, help="0 to 99 (50)")
    s.add_argument("--snr", type=float, help="add white noise at this signal-to-noise ratio (dB)")
    flags.outputs(s, out="file")
    s.set_defaults(func=say)
