"""``lstmkit speech``: a CTC speech recogniser for spoken digit strings.

    lstmkit speech train [--out speech-model] [--n-train 2000] [--epochs 20]
    lstmkit speech transcribe FILE.wav [FILE.wav ...] [--load speech-model] [--beam 8]
    lstmkit speech say 4071 --out digits.wav [--voice en-gb-scotland+f2]

``train`` synthesises spoken digit strings with espeak-ng (varied voices, speeds, pitch,
pauses and noise; cached under ~/.cache/lstmkit/speech), trains a bidirectional LSTM
acoustic model with CTC on log-mel features, and prints the character error rate (CER)
on the test voices, which training never hears, with greedy and beam-search decoding.
``say`` writes a WAV file to try ``transcribe`` on. Needs the espeak-ng program
(scripts/install_speech_deps.sh installs it).
"""

from __future__ import annotations

import argparse
import time

from lstmkit.spine import flags
from lstmkit.spine.cli import add_threads_arg, apply_threads, estimator_saver, save_on_interrupt


def train(args: argparse.Namespace) -> int:
    from lstmkit.speech import CorpusConfig, SpeechRecognizer, make_corpus
    from lstmkit.speech.synth import require_espeak

    apply_threads(args)
    require_espeak()  # before any output: without it there is no data
    options = {k: v for k, v in {
        "epochs": args.epochs, "hidden_size": args.hidden_size, "num_layers": args.num_layers,
        "lr": args.lr, "seed": args.seed, "backend": args.backend,
    }.items() if v is not None}
    rec = SpeechRecognizer(**options)
    corpus_cfg = CorpusConfig(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    t0 = time.perf_counter()
    print(f"speech: synthesising {args.n_train} training / {args.n_test} test utterances with "
          "espeak-ng (cached after the first run)...", flush=True)
    data = make_corpus(corpus_cfg, rec.feature_config, cache=not args.no_cache)
    variants = [{v.split("+")[1] for v in voices} for voices in (data.train_voices, data.test_voices)]
    print(f"speech: data ready in {time.perf_counter() - t0:.0f}s; voices (accent+variant): "
          f"{len(set(data.train_voices))} in training, {len(set(data.test_voices))} in the test, whose "
          f"{len(variants[1])} variants training never hears", flush=True)
    t0 = time.perf_counter()

    with save_on_interrupt("speech train", estimator_saver(rec, args.out)):
        rec.fit(data.train_features, data.train_text, log=lambda r: print(
            f"epoch {r['epoch']:3d}  CTC loss {r['train_loss']:.4f}  ({time.perf_counter() - t0:.0f}s)",
            flush=True))
        print(f"trained in {time.perf_counter() - t0:.0f}s")
        greedy = rec.evaluate(data.test_features, data.test_text, beam=0)
        print(f"test voices, greedy decoding: CER {greedy['cer']:.2%}, exact {greedy['exact']:.2%} "
              f"({greedy['n']} utterances)")
        if args.beam > 0:
            beam = rec.evaluate(data.test_features, data.test_text, beam=args.beam)
            print(f"test voices, beam search ({args.beam}): CER {beam['cer']:.2%}, exact {beam['exact']:.2%}")
    rec.save(args.out)
    print(f"saved to {args.out}")
    return 0


def transcribe(args: argparse.Namespace) -> int:
    from lstmkit.speech import SpeechRecognizer

    apply_threads(args)
    rec = SpeechRecognizer.load(args.load)
    for path in args.files:
        text = rec.transcribe(path, beam=args.beam)
        print(f"{text}\t{path}" if len(args.files) > 1 else text)
    return 0


def say(args: argparse.Namespace) -> int:
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
    p = subparsers.add_parser("speech", help="CTC speech recognition of spoken digits (espeak-ng data)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    t = sub.add_parser("train", help="synthesise data, train, print the test-voice CER, save")
    t.add_argument("--out", default="speech-model", help="where to save the model (speech-model)")
    t.add_argument("--n-train", type=_positive, default=2000, help="training utterances (2000)")
    t.add_argument("--n-test", type=_positive, default=300, help="test utterances, unseen voices (300)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--hidden-size", type=int)
    t.add_argument("--num-layers", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--beam", type=int, default=8, help="beam width for the second CER (8; 0: skip)")
    t.add_argument("--seed", type=int, default=0, help="seeds the data and the training (0)")
    t.add_argument("--backend", help="lstmkit backend of the recurrent layers (auto)")
    t.add_argument("--no-cache", action="store_true", help="synthesise afresh, write no cache")
    add_threads_arg(t)
    flags.outputs(t, out="model")
    t.set_defaults(func=train)

    r = sub.add_parser("transcribe", help="print the digits spoken in WAV files")
    r.add_argument("files", nargs="+", metavar="FILE.wav")
    r.add_argument("--load", default="speech-model", help="a model saved by `speech train` (speech-model)")
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

