"""The espeak-ng data: synthesis, the voice split, the corpus cache, and the speech CLI.

Tests that run espeak-ng skip when it is not installed (scripts/install_speech_deps.sh
installs it); the voice split and the CLI on a tone model need nothing else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import cli
from lstmkit.errors import InputError
from lstmkit.speech import CorpusConfig, SpeechRecognizer, espeak_path, make_corpus, synthesize
from lstmkit.speech.audio import read_wav, write_wav
from lstmkit.speech.corpus import TEST_VARIANTS, TRAIN_VARIANTS, plan
from lstmkit.speech.synth import spoken_digits

needs_espeak = pytest.mark.skipif(espeak_path() is None, reason="espeak-ng is not installed "
                                  "(scripts/install_speech_deps.sh installs it)")


def test_test_voices_are_never_heard_in_training():
    assert not set(TRAIN_VARIANTS) & set(TEST_VARIANTS)
    cfg = CorpusConfig(n_train=300, n_test=100, max_digits=5)
    train, test = plan(cfg, "train"), plan(cfg, "test")
    train_variants = {u.voice.split("+")[1] for u in train}
    test_variants = {u.voice.split("+")[1] for u in test}
    assert test_variants <= set(TEST_VARIANTS) and not train_variants & test_variants
    assert len(test_variants) >= 10  # many unseen voices, not one
    assert all(1 <= len(u.digits) <= 5 and u.digits.isdigit() for u in train + test)
    assert plan(cfg, "train") == train  # the seed fixes everything


def test_spoken_digits_are_words():
    assert spoken_digits("407") == "four zero seven"
    with pytest.raises(InputError, match="digits 0-9"):
        spoken_digits("4a")


@needs_espeak
def test_synthesis_gives_speech_at_22khz():
    x, sr = synthesize(spoken_digits("123"), "en-gb-scotland+f2", speed=180, pitch=60)
    assert sr == 22050 and 0.5 < len(x) / sr < 3.0
    assert np.abs(x).max() > 0.1 and np.isfinite(x).all()
    slow, _ = synthesize(spoken_digits("123"), "en-gb-scotland+f2", speed=100)
    assert len(slow) > 1.4 * len(x)


@needs_espeak
def test_synthesis_rejects_bad_settings():
    with pytest.raises(InputError, match="speed"):
        synthesize("one", speed=10)


@needs_espeak
def test_corpus_is_cached_and_reloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMKIT_CACHE", str(tmp_path))
    cfg = CorpusConfig(n_train=6, n_test=3, max_digits=3)
    first = make_corpus(cfg)
    assert len(list((tmp_path / "speech").glob("digits-*.npz"))) == 1
    again = make_corpus(cfg)
    assert again.train_text == first.train_text and again.test_voices == first.test_voices
    for a, b in zip(first.train_features + first.test_features, again.train_features + again.test_features):
        assert a.shape == b.shape and a.shape[1] == 40
        assert (a - b).abs().max() < 1e-2  # stored as float16


@needs_espeak
def test_cli_say_then_train_tiny_and_transcribe(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LSTMKIT_CACHE", str(tmp_path / "cache"))
    wav = tmp_path / "d.wav"
    assert cli.main(["speech", "say", "42", "--out", str(wav), "--voice", "en-us+m3"]) == 0
    x, sr = read_wav(wav)
    assert sr == 22050 and len(x) > sr // 4
    model = tmp_path / "m"
    assert cli.main(["speech", "train", "--n-train", "8", "--n-test", "4", "--epochs", "1",
                     "--hidden-size", "8", "--num-layers", "1", "--beam", "2", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "test voices, greedy decoding: CER" in out and "beam search (2)" in out
    assert cli.main(["speech", "transcribe", str(wav), "--load", str(model)]) == 0
    text = capsys.readouterr().out.strip()
    assert set(text) <= set("0123456789")  # one epoch on 8 utterances: any digits, or none
    cer = out.split("greedy decoding: CER ")[1].split(",")[0]
    # evaluate reads the test voices from the corpus train cached
    assert cli.main(["speech", "evaluate", "--load", str(model), "--n-train", "8", "--n-test", "4"]) == 0
    again = capsys.readouterr().out
    assert f"greedy decoding: CER {cer}," in again and "4 utterances" in again


def test_cli_transcribe_with_a_saved_model(tmp_path, capsys):
    # a model trained for a moment on random features: the CLI path, not the quality
    rec = SpeechRecognizer(hidden_size=4, num_layers=1, epochs=1, seed=0)
    rec.fit([torch.randn(40, 40) for _ in range(4)], ["1", "22", "3", "45"])
    rec.save(tmp_path / "m")
    write_wav(tmp_path / "a.wav", np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1, 16000)
    write_wav(tmp_path / "b.wav", np.zeros(4000, np.float32), 16000)
    assert cli.main(["speech", "transcribe", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"),
                     "--load", str(tmp_path / "m"), "--beam", "0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[1] for line in lines] == [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]


def test_cli_evaluate_on_a_list_of_recordings_and_predict(tmp_path, capsys):
    # a model trained for a moment on random features: the CLI path, not the quality
    rec = SpeechRecognizer(hidden_size=4, num_layers=1, epochs=1, seed=0, verbose=False)
    rec.fit([torch.randn(40, 40) for _ in range(4)], ["1", "22", "3", "45"])
    rec.save(tmp_path / "m")
    rng = np.random.default_rng(0)
    (tmp_path / "wavs").mkdir()
    for name in ("a", "b"):
        write_wav(tmp_path / "wavs" / f"{name}.wav", rng.standard_normal(8000).astype(np.float32) * 0.1, 16000)
    listing = tmp_path / "wavs" / "list.tsv"
    listing.write_text("# recordings\na.wav\t12\n\nb.wav\t7\n")
    assert cli.main(["speech", "evaluate", "--load", str(tmp_path / "m"), "--data", str(listing),
                     "--beam", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 utterances" in out and "list.tsv, greedy decoding: CER" in out and "beam search (2)" in out
    assert cli.main(["speech", "predict", str(tmp_path / "wavs" / "a.wav"), "--load", str(tmp_path / "m"),
                     "--beam", "0"]) == 0
    assert capsys.readouterr().out.strip() == rec.transcribe(tmp_path / "wavs" / "a.wav")
    listing.write_text("a.wav 12\n")
    assert cli.main(["speech", "evaluate", "--load", str(tmp_path / "m"), "--data", str(listing)]) == 2
    assert "expected 'FILE.wav<TAB>transcript'" in capsys.readouterr().err


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["speech", "transcribe", str(tmp_path / "none.wav"), "--load", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lstmkit speech: error:" in err
