"""The speech pipeline without espeak-ng: WAV files, log-mel features, CTC decoding, the
character error rate, the acoustic model, and a recogniser that learns.

The learning check uses digit strings played as tones (digit d at 300 + 170 d Hz), so
it runs everywhere; the espeak-ng data and its quality are in test_speech_espeak.py and
test_speech_quality.py."""

from __future__ import annotations

import itertools
import math
import wave

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.errors import InputError
from lstmkit.speech import (
    FeatureConfig,
    SpeechRecognizer,
    beam_search_decode,
    character_error_rate,
    greedy_decode,
    log_mel,
    mel_filterbank,
)
from lstmkit.speech.audio import add_noise, read_wav, wav_bytes_to_array, write_wav
from lstmkit.speech.decode import edit_distance
from lstmkit.speech.features import hz_to_mel, mel_to_hz
from lstmkit.speech.model import AcousticModel, AcousticModelConfig, stack_frames

SR = 16000


def tone_utterance(digits: str, rng: np.random.Generator) -> np.ndarray:
    """Each digit a 0.10-0.16 s tone at 300 + 170 d Hz, 80 ms pauses, noise at 20 dB."""
    parts = [np.zeros(int(SR * rng.uniform(0.02, 0.1)), np.float32)]
    for d in digits:
        t = np.arange(int(SR * rng.uniform(0.1, 0.16))) / SR
        parts += [0.5 * np.sin(2 * np.pi * (300 + 170 * int(d)) * t).astype(np.float32),
                  np.zeros(int(SR * 0.08), np.float32)]
    return add_noise(np.concatenate(parts), 20.0, rng)


def tone_corpus(n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    texts = ["".join(map(str, rng.integers(0, 10, rng.integers(1, 5)))) for _ in range(n)]
    return [tone_utterance(t, rng) for t in texts], texts


# ---- audio ------------------------------------------------------------------------------
def test_wav_round_trip_and_formats(tmp_path):
    x = (0.5 * np.sin(np.linspace(0, 100, 4000))).astype(np.float32)
    write_wav(tmp_path / "a.wav", x, 8000)
    y, sr = read_wav(tmp_path / "a.wav")
    assert sr == 8000 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=2 / 32768)
    with wave.open(str(tmp_path / "stereo8.wav"), "wb") as w:  # 8-bit stereo: mixed to mono
        w.setnchannels(2), w.setsampwidth(1), w.setframerate(8000)
        w.writeframes(bytes([128, 255, 128, 1]))
    z, _ = read_wav(tmp_path / "stereo8.wav")
    np.testing.assert_allclose(z, [(127 / 128) / 2, (-127 / 128) / 2])


def test_wav_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such WAV file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(InputError, match="not a PCM WAV file"):
        read_wav(tmp_path / "text.wav")
    with pytest.raises(InputError, match="expected a WAV file, found a directory"):
        read_wav(tmp_path)
    write_wav(tmp_path / "ok.wav", np.zeros(800, np.float32), 8000)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "ok.wav").read_bytes()[:20])  # inside the header
    with pytest.raises(InputError, match=r"not a PCM WAV file \(\S"):  # a reason, not "()"
        read_wav(tmp_path / "cut.wav")


def test_piped_wav_with_placeholder_sizes(tmp_path):
    x = np.linspace(-0.5, 0.5, 100, dtype=np.float32)
    data = bytearray(write_wav(tmp_path / "p.wav", x, 22050).read_bytes())
    data[4:8] = data[40:44] = (0x7FFFF000).to_bytes(4, "little")  # as espeak-ng --stdout writes
    y, sr = wav_bytes_to_array(bytes(data))
    assert sr == 22050
    np.testing.assert_allclose(y, x, atol=2 / 32768)


def test_noise_has_the_requested_snr():
    rng = np.random.default_rng(0)
    x = np.sin(np.linspace(0, 2000, 100_000)).astype(np.float32)
    noise = add_noise(x, 10.0, rng) - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert abs(snr - 10.0) < 0.1


# ---- features ---------------------------------------------------------------------------
def test_htk_mel_scale():
    assert abs(hz_to_mel(1000.0) - 1000.0) < 0.1  # the scale is built so that 1 kHz = 1000 mel
    np.testing.assert_allclose(mel_to_hz(hz_to_mel([0.0, 440.0, 7600.0])), [0.0, 440.0, 7600.0])


def test_filterbank_triangles_peak_at_their_centres():
    fb = mel_filterbank(16000, 512, 40, 20.0, 7600.0).numpy()  # (40, 257)
    assert fb.shape == (40, 257) and fb.min() >= 0 and fb.max() <= 1
    freqs = np.linspace(0, 8000, 257)
    peaks = freqs[fb.argmax(axis=1)]
    assert np.all(np.diff(peaks) >= 0)  # filters in order of frequency
    assert (fb > 0).sum(axis=0)[(freqs > 200) & (freqs < 7000)].min() >= 1  # no gap in coverage
    assert (fb > 0).sum(axis=0).max() <= 2  # each bin in at most two overlapping triangles


def test_log_mel_shape_cmvn_and_tone_band():
    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    raw = log_mel(x, SR, FeatureConfig(cmvn=False))
    assert raw.shape == (1 + SR // 160, 40)  # 10 ms hop at 16 kHz
    centres = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(7600.0), 42))[1:-1]
    assert raw.mean(0).argmax().item() == int(np.abs(centres - 1000).argmin())  # energy in the 1 kHz band
    normed = log_mel(x, SR)
    torch.testing.assert_close(normed.mean(0), torch.zeros(40), atol=1e-4, rtol=0)


def test_features_barely_depend_on_the_sample_rate():
    # the same tone at 16 and 22.05 kHz: filters are defined in Hz, so features agree
    f = {sr: log_mel(np.sin(2 * np.pi * 700 * np.arange(sr) / sr).astype(np.float32), sr, FeatureConfig(cmvn=False))
         for sr in (16000, 22050)}
    assert abs(f[16000].mean(0).argmax().item() - f[22050].mean(0).argmax().item()) == 0


def test_feature_errors():
    with pytest.raises(InputError, match="too short"):
        log_mel(np.zeros(10, np.float32), SR)
    with pytest.raises(InputError, match="mono waveform"):
        log_mel(np.zeros((2, 1000), np.float32), SR)
    with pytest.raises(InputError, match="hop_ms"):
        FeatureConfig(hop_ms=30.0, win_ms=25.0)


# ---- decoding and CER -------------------------------------------------------------------
def _best_transcript_by_enumeration(lp: torch.Tensor) -> tuple[int, ...]:
    T, V = lp.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(V), repeat=T):
        merged = tuple(s for i, s in enumerate(path) if s != 0 and (i == 0 or s != path[i - 1]))
        totals[merged] = totals.get(merged, 0.0) + math.exp(sum(lp[t, s].item() for t, s in enumerate(path)))
    return max(totals, key=totals.get)


def test_greedy_merges_repeats_then_drops_blanks():
    ids = [1, 1, 0, 1, 2, 0, 0, 2, 2]
    lp = torch.log(torch.nn.functional.one_hot(torch.tensor(ids), 3).float() * 0.98 + 0.01)
    assert greedy_decode(lp) == [1, 1, 2, 2]
    assert greedy_decode(lp, length=4) == [1, 1]


@pytest.mark.parametrize("seed", range(6))
def test_beam_search_finds_the_most_probable_transcript(seed):
    g = torch.Generator().manual_seed(seed)
    lp = torch.log_softmax(2.5 * torch.randn(5, 3, generator=g), dim=-1)
    assert tuple(beam_search_decode(lp, beam=64, prune=-1e9)) == _best_transcript_by_enumeration(lp)


def test_beam_beats_greedy_when_many_paths_agree():
    # greedy takes "-" at both steps (0.4 each) but "a" has 0.3*0.3 + 2*0.3*0.4 = 0.33 > 0.16
    p = torch.tensor([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]])
    assert greedy_decode(p.log()) == [] and len(beam_search_decode(p.log(), beam=4)) == 1


def test_cer():
    assert edit_distance("kitten", "sitting") == 3
    assert character_error_rate(["123", "45"], ["13", "456"]) == pytest.approx(2 / 5)
    assert character_error_rate(["12"], ["12"]) == 0.0


# ---- model ------------------------------------------------------------------------------
def test_stack_frames_and_lengths():
    x = torch.arange(2 * 7 * 1, dtype=torch.float32).reshape(2, 7, 1)
    y, n = stack_frames(x, torch.tensor([7, 4]), 3)
    assert y.shape == (2, 3, 3) and n.tolist() == [3, 2]
    assert y[0, 2].tolist() == [6.0, 0.0, 0.0]


def test_acoustic_model_ignores_padding_and_uses_lstmkit():
    torch.manual_seed(0)
    m = AcousticModel(AcousticModelConfig(n_mels=5, hidden_size=8, stack=3)).eval()
    assert isinstance(m.rnn, lstmkit.LSTM) and m.rnn.bidirectional
    x = torch.randn(2, 20, 5)
    alone, n_alone = m(x[1:, :11], torch.tensor([11]))
    garbage = x.clone()
    garbage[1, 11:] = 50.0
    both, n = m(garbage, torch.tensor([20, 11]))
    assert n.tolist() == [7, 4] and n_alone.tolist() == [4]
    torch.testing.assert_close(both[1, :4], alone[0], atol=1e-5, rtol=1e-5)
    assert torch.allclose(both.exp().sum(-1), torch.ones(2, 7))


# ---- recogniser -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tone_model():
    """Trained on 400 tone strings for 10 epochs: about 15 s on one core."""
    rec = SpeechRecognizer(hidden_size=32, num_layers=1, stack=3, epochs=10, batch_size=16, lr=1e-2,
                           dropout=0.0, freq_masks=0, time_masks=0, seed=0)
    waves, texts = tone_corpus(400, seed=0)
    rec.fit([rec.featurize(w, SR) for w in waves], texts)
    return rec


def test_recognizer_learns_tone_strings(tone_model):
    waves, texts = tone_corpus(40, seed=1)
    feats = [tone_model.featurize(w, SR) for w in waves]
    greedy = tone_model.evaluate(feats, texts)
    beam = tone_model.evaluate(feats, texts, beam=4)
    assert greedy["cer"] <= 0.1, greedy
    assert beam["cer"] <= 0.1, beam
    assert tone_model.history[-1]["train_loss"] < 0.1 * tone_model.history[0]["train_loss"]


def test_recognizer_transcribes_files_and_round_trips(tmp_path, tone_model):
    rng = np.random.default_rng(5)
    write_wav(tmp_path / "x.wav", tone_utterance("3407", rng), SR)
    text = tone_model.transcribe(tmp_path / "x.wav")
    assert text == tone_model.transcribe(*read_wav(tmp_path / "x.wav"))
    tone_model.save(tmp_path / "m")
    back = SpeechRecognizer.load(tmp_path / "m")
    assert back.config == tone_model.config
    assert back.transcribe(tmp_path / "x.wav", beam=4) == tone_model.transcribe(tmp_path / "x.wav", beam=4)


def test_cli_evaluate_refuses_transcripts_outside_the_models_alphabet(tmp_path, tone_model, capsys):
    from lstmkit.cli import main

    rng = np.random.default_rng(6)
    write_wav(tmp_path / "x.wav", tone_utterance("4071", rng), SR)
    tone_model.save(tmp_path / "m")
    (tmp_path / "list.tsv").write_text("x.wav\t40x1\n")
    assert main(["speech", "evaluate", "--load", str(tmp_path / "m"), "--data", str(tmp_path / "list.tsv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected transcripts in the model's alphabet '0123456789', found '40x1'" in err


def test_cli_evaluate_reads_a_list_with_a_byte_order_mark(tmp_path, tone_model, capsys):
    from lstmkit.cli import main

    rng = np.random.default_rng(7)
    write_wav(tmp_path / "x.wav", tone_utterance("4071", rng), SR)
    tone_model.save(tmp_path / "m")
    (tmp_path / "list.tsv").write_bytes(b"\xef\xbb\xbfx.wav\t4071\r\n")
    assert main(["speech", "evaluate", "--load", str(tmp_path / "m"), "--data", str(tmp_path / "list.tsv")]) == 0
    assert "(1 utterances)" in capsys.readouterr().out
    (tmp_path / "bad.tsv").write_bytes(b"x\xff.wav\t4071\n")
    assert main(["speech", "evaluate", "--load", str(tmp_path / "m"), "--data", str(tmp_path / "bad.tsv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not UTF-8 text: byte 0xff at offset 1" in err


def test_validation_cer_is_the_corpus_cer_and_never_picks_the_model():
    rec_args = {"hidden_size": 8, "num_layers": 1, "stack": 3, "batch_size": 8, "freq_masks": 1,
                "time_masks": 1, "seed": 0, "verbose": False}
    waves, texts = tone_corpus(24, seed=2)
    feats = [log_mel(w, SR) for w in waves]
    val = (feats[:10], texts[:10])
    plain = SpeechRecognizer(epochs=2, **rec_args).fit(feats, texts)
    rows = []
    watched = SpeechRecognizer(epochs=2, **rec_args).fit(feats, texts, val_features=val[0],
                                                         val_texts=val[1], log=rows.append)
    assert rows == watched.history and [r["epoch"] for r in rows] == [1, 2]
    assert rows[-1]["val_cer"] == pytest.approx(watched.evaluate(*val)["cer"], abs=1e-6)
    for a, b in zip(plain.log_probs(val[0]), watched.log_probs(val[0])):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the last epoch's model either way
    short = SpeechRecognizer(epochs=5, max_epochs=1, **rec_args).fit(feats, texts)
    assert len(short.history) == 1  # the engine's max_epochs overrides epochs


def test_augmentation_depends_on_the_utterance_not_its_batch():
    from lstmkit.speech.recognizer import SpeechRecognizerConfig, augment_generator, spec_augment

    c = SpeechRecognizerConfig()
    x = torch.randn(3, 50, 40)
    lengths = torch.tensor([50, 30, 41])
    together = spec_augment(x, lengths, c, [augment_generator(0, 2, j) for j in (7, 8, 9)])
    alone = spec_augment(x[1:2], lengths[1:2], c, [augment_generator(0, 2, 8)])
    torch.testing.assert_close(together[1:2], alone, rtol=0, atol=0)
    other_epoch = spec_augment(x[1:2], lengths[1:2], c, [augment_generator(0, 3, 8)])
    assert not torch.equal(alone, other_epoch)


def test_onnx_graph_takes_any_batch_and_length(tmp_path, tone_model):
    pytest.importorskip("onnxruntime")
    import json

    import onnx

    from lstmkit.export.api import run_onnx

    path = tone_model.export(tmp_path / "speech.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    state = json.loads(meta["lstmkit.state"])
    assert state["alphabet"] == "0123456789" and state["blank"] == 0
    assert state["features"] == tone_model.feature_config.to_dict()
    g = torch.Generator().manual_seed(0)
    for B, T in ((1, 3), (2, 57), (5, 130)):
        x = torch.randn(B, T, 40, generator=g)
        lengths = torch.randint(1, T + 1, (B,), generator=g)
        lengths[0] = T
        got = run_onnx(path, {"features": x, "lengths": lengths})
        with torch.no_grad():
            lp, steps = tone_model.model(x, lengths)
        np.testing.assert_array_equal(got["output_lengths"], steps.numpy())
        np.testing.assert_allclose(got["log_probs"], lp.numpy(), atol=1e-4)


def test_recognizer_errors():
    with pytest.raises(InputError, match="not trained"):
        SpeechRecognizer().transcribe(np.zeros(1600, np.float32), SR)
    with pytest.raises(InputError, match="sample_rate"):
        SpeechRecognizer().transcribe(np.zeros(1600, np.float32))
    with pytest.raises(InputError, match="alphabet"):
        SpeechRecognizer().fit([torch.zeros(30, 40)], ["12a"])
    with pytest.raises(InputError, match="one transcript per utterance"):
        SpeechRecognizer().fit([torch.zeros(30, 40)], ["1", "2"])
    with pytest.raises(InputError, match="distinct characters"):
        SpeechRecognizer(alphabet="aa")
