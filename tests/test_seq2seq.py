"""Seq2Seq and the Translator: the vocabulary, the network's two decoder paths (parallel
Luong vs step by step), padding invariance of variable-length batches, attention
weights, greedy vs beam search, save/load (and models saved before the Translator), the
ONNX graphs and their greedy loop, and bad input. Training quality is in
test_seq2seq_task.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import lstmkit
from lstmkit.errors import InputError
from lstmkit.seq2seq import Seq2Seq, Translator, Vocab
from lstmkit.seq2seq.decoding import beam_search, decode, greedy_search
from lstmkit.seq2seq.training import pair_batch
from lstmkit.seq2seq.vocab import EOS, PAD, SOS, UNK

SRC = "abcdefghij 0123456789"
TGT = "0123456789-"
SV, TV = Vocab(SRC), Vocab(TGT)
TEXTS = ["abc 12", "j", "hello 0123456789", "deed 4"]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "seq2seq.md"


def source_batch(texts):
    return SV.batch(texts, eos=True)


def target_batch(texts):
    _, _, tgt_in, tgt_out = pair_batch(SV, TV, ["x"] * len(texts), texts)
    return tgt_in, tgt_out


def untrained(seed: int = 0, **options) -> Translator:
    """A Translator with random weights over SRC -> TGT (outputs of at most 8 characters)."""
    torch.manual_seed(seed)
    tr = Translator(**{"hidden_size": 16, "embedding_dim": 8, "max_len": 8, **options})
    tr._restore({"source_chars": SRC, "target_chars": TGT, "max_len": 8})
    tr.model.eval()
    return tr


def test_vocab_round_trip_and_padding():
    v = Vocab("abc")
    assert len(v) == 7 and v.encode("cab", eos=True) == [6, 4, 5, EOS]
    assert v.encode("az") == [4, UNK] and v.unknown("azbz") == "z"
    assert v.decode([SOS, 5, 6, EOS, 4]) == "bc"
    ids, lengths = v.batch(["ab", "c"], sos=True, eos=True)
    assert ids.tolist() == [[SOS, 4, 5, EOS], [SOS, 6, EOS, PAD]] and lengths.tolist() == [4, 3]
    with pytest.raises(InputError, match="single characters"):
        Vocab(["ab"])


def _model(attention: str, bidirectional: bool = True, num_layers: int = 1, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    m = Seq2Seq(len(SV), len(TV), hidden_size=16, embedding_dim=8, attention=attention,
                bidirectional=bidirectional, num_layers=num_layers)
    return m.to(dtype).eval()


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_uses_lstmkit_layers(attention):
    m = _model(attention)
    assert isinstance(m.encoder, lstmkit.LSTM) and isinstance(m.decoder, lstmkit.LSTM)
    assert lstmkit.Seq2Seq is Seq2Seq and lstmkit.Translator is Translator
    assert m.encoder.bidirectional and m.encoder.hidden_size == 8


@pytest.mark.parametrize("layers", [1, 2])
def test_parallel_teacher_forcing_equals_the_step_loop(layers):
    m = _model("luong", num_layers=layers)
    src, lengths = source_batch(TEXTS)
    tgt_in, _ = target_batch(["12-3", "4", "2021-03-03", ""])
    logits, alpha = m(src, lengths, tgt_in)  # one LSTM call over all target steps
    mem, state = m.encode(src, lengths)
    for t in range(tgt_in.shape[1]):
        lg, a, state = m.step(tgt_in[:, t], state, mem)
        assert (lg - logits[:, t]).abs().max() < 1e-10
        assert (a - alpha[:, t]).abs().max() < 1e-10


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_a_result(attention, bidirectional):
    m = _model(attention, bidirectional)
    tgts = ["1-2", "33", "2021-03-03", "9"]
    src, lengths = source_batch(TEXTS)
    tgt_in, _ = target_batch(tgts)
    logits, alpha = m(src, lengths, tgt_in)
    assert torch.allclose(alpha.sum(-1), torch.ones_like(alpha.sum(-1)))
    for b, (text, tgt) in enumerate(zip(TEXTS, tgts)):
        assert alpha[b, :, int(lengths[b]):].abs().sum() == 0  # no weight on padding
        s1, l1 = source_batch([text])
        t1, _ = target_batch([tgt])
        alone, _ = m(s1, l1, t1)
        n = t1.shape[1]
        assert (logits[b, :n] - alone[0]).abs().max() < 1e-10, text


def test_teacher_forcing_below_one_feeds_predictions():
    m = _model("luong")
    src, lengths = source_batch(TEXTS)
    tgt_in, _ = target_batch(["12-3", "4", "2021-03-03", ""])
    full, _ = m(src, lengths, tgt_in, teacher_forcing=1.0)
    torch.manual_seed(0)
    none, _ = m(src, lengths, tgt_in, teacher_forcing=0.0)
    assert (none[:, 0] - full[:, 0]).abs().max() < 1e-10  # the first step sees <s> either way
    assert (none - full).abs().max() > 1e-3
    with pytest.raises(InputError, match="teacher_forcing"):
        m(src, lengths, tgt_in, teacher_forcing=1.5)


@torch.no_grad()
def _sequence_logprob(m, text: str, out_ids: list[int]) -> float:
    src, lengths = source_batch([text])
    tgt_in = torch.tensor([[SOS] + out_ids[:-1]])
    logits, _ = m(src, lengths, tgt_in)
    logp = torch.log_softmax(logits[0], -1)
    return float(logp[torch.arange(len(out_ids)), torch.tensor(out_ids)].sum())


def _cut(ids: list[int]) -> list[int]:
    return ids[: ids.index(EOS) + 1] if EOS in ids else ids


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_beam_search_scores_are_exact_and_never_below_greedy(attention):
    m = _model(attention, seed=3)
    src, lengths = source_batch(TEXTS)
    g_tok, _, g_score = greedy_search(m, src, lengths, 8)
    b1_tok, _, _ = beam_search(m, src, lengths, 1, 8)
    b_tok, b_att, b_score = beam_search(m, src, lengths, 4, 8)
    for i, text in enumerate(TEXTS):
        assert _cut(b1_tok[i].tolist()) == _cut(g_tok[i].tolist())  # beam 1 is greedy
        ids = _cut(b_tok[i].tolist())
        assert abs(_sequence_logprob(m, text, ids) - float(b_score[i])) < 1e-8
        assert float(b_score[i]) >= float(g_score[i]) - 1e-9
    assert b_att.shape[:2] == b_tok.shape


def test_beam_search_of_a_batch_equals_one_source_at_a_time():
    m = _model("luong", seed=5).float()
    batch, _ = decode(m, SV, TV, TEXTS, 3, 8)
    assert batch == [decode(m, SV, TV, [t], 3, 8)[0][0] for t in TEXTS]
    (out,), (att,) = decode(m, SV, TV, ["abc 12"], 1, 8)
    # one row per output character and </s> (or max_len + 1 rows if it never ended)
    assert att.shape in ((len(out) + 1, len("abc 12") + 1), (8 + 1, len("abc 12") + 1))
    assert torch.allclose(att.sum(1), torch.ones(att.shape[0], dtype=att.dtype))


def test_translator_predict_beam_zero_and_one_are_greedy():
    tr = untrained(seed=4, attention="bahdanau")
    greedy = tr.predict(TEXTS)
    assert tr.predict(TEXTS, beam=1) == greedy and tr.predict(TEXTS[0]) == greedy[0]
    assert decode(tr.model, SV, TV, TEXTS, 1, 8)[0] == greedy
    out, att = tr.attend(TEXTS[0])
    assert out == greedy[0] and att.shape[1] == len(TEXTS[0]) + 1
    report = tr.evaluate(TEXTS, greedy[:1] + ["x"] * 3)
    assert report["exact_match"] == 0.25 and report["n"] == 4 and report["cer"] > 0


def test_save_and_load_give_the_same_translations(tmp_path):
    pairs = [("abc 12", "12"), ("j 3", "3"), ("hello 45", "45"), ("deed 4", "4")] * 4
    tr = Translator(hidden_size=16, embedding_dim=8, attention="bahdanau", max_steps=2, verbose=False)
    tr.fit([s for s, _ in pairs], [t for _, t in pairs])
    tr.save(tmp_path / "m")
    loaded = Translator.load(tmp_path / "m")
    assert loaded.config == tr.config and loaded.src_vocab == tr.src_vocab and loaded.max_len == tr.max_len
    assert loaded.predict(TEXTS, beam=2) == tr.predict(TEXTS, beam=2)
    assert loaded.history == tr.history
    with pytest.raises(InputError, match="expected a 'seq2seq' model"):
        from lstmkit.spine.io import save_model

        save_model(tmp_path / "other", "forecast", {}, {"w": torch.zeros(1)})
        Translator.load(tmp_path / "other")


def test_a_model_saved_by_seq2seq_save_still_loads(tmp_path):
    # the layout Seq2Seq.save wrote before the Translator: the network's config with
    # max_len, the vocabularies as src_chars / tgt_chars, the same weight names
    from lstmkit.spine.io import save_model

    m = _model("luong", seed=6).float()
    config = {**m.config.__dict__, "max_len": 8}
    save_model(tmp_path / "old", "seq2seq", config, dict(m.state_dict()), {"src_chars": SRC, "tgt_chars": TGT})
    tr = Translator.load(tmp_path / "old")
    assert tr.max_len == 8 and tr.predict(TEXTS) == decode(m, SV, TV, TEXTS, 1, 8)[0]


@pytest.mark.parametrize("bad, match", [
    ({"hidden_size": 15}, "even"),
    ({"attention": "dot"}, "luong"),
    ({"dropout": 1.0}, "dropout"),
    ({"num_layers": 0}, "positive"),
    ({"teacher_forcing": 2.0}, "teacher_forcing"),
    ({"max_len": 0}, "max_len"),
    ({"source_chars": ""}, "source_chars"),
])
def test_bad_configs(bad, match):
    with pytest.raises(InputError, match=match):
        Translator(**bad)


def test_bad_input():
    tr = untrained()
    with pytest.raises(InputError, match="beam"):
        tr.predict(["abc"], beam=-1)
    with pytest.raises(InputError, match="not trained"):
        Translator().predict(["abc"])
    with pytest.raises(InputError, match="as many targets as sources"):
        Translator().fit(["a", "b"], ["c"])
    with pytest.raises(InputError, match="one string"):
        Translator().fit("abc", ["c"])
    with pytest.raises(InputError, match="two ONNX graphs"):
        tr.export_spec()


# ---- ONNX: the encoder and one decoder step ------------------------------------------
@pytest.mark.parametrize("options", [
    {"attention": "luong"},
    {"attention": "bahdanau", "bidirectional": False, "num_layers": 2},
], ids=["luong-bi", "bahdanau-uni-2layers"])
def test_onnx_greedy_loop_gives_the_strings_of_predict(options, tmp_path):
    pytest.importorskip("onnxruntime")
    from lstmkit.export.api import check_model
    from lstmkit.seq2seq.onnx_graphs import onnx_translate

    tr = untrained(seed=7, **options)
    paths = tr.export(tmp_path / "model.onnx")
    assert [p.name for p in paths] == ["model.encoder.onnx", "model.decoder.onnx"]
    assert check_model(tr, paths) < 1e-4
    texts = TEXTS + ["", "zz unknown ¿"]  # an empty source, characters outside the vocabulary
    assert onnx_translate(*paths, texts) == tr.predict(texts)


def test_the_documented_onnx_loop_runs(tmp_path):
    """The greedy loop docs/seq2seq.md shows, run as written."""
    pytest.importorskip("onnxruntime")
    tr = untrained(seed=8)
    encoder, decoder = tr.export(tmp_path / "dates.onnx")
    text = DOCS.read_text(encoding="utf-8")
    code = re.search(r"<!-- onnx-greedy-loop -->\s*```python\n(.*?)```", text, re.DOTALL).group(1)
    scope = {"encoder_path": str(encoder), "decoder_path": str(decoder), "sources": TEXTS}
    exec(compile(code, str(DOCS), "exec"), scope)  # noqa: S102 - the documented code, run as written
    assert scope["outputs"] == tr.predict(TEXTS)
