"""Seq2Seq: the vocabulary, the model's two decoder paths (parallel Luong vs step by step),
padding invariance of variable-length batches, attention weights, greedy vs beam search,
save/load and bad input. Training quality is in test_seq2seq_task.py.
"""

from __future__ import annotations

import pytest
import torch

import lstmkit
from lstmkit.errors import InputError
from lstmkit.seq2seq import Seq2Seq, Vocab
from lstmkit.seq2seq.decoding import beam_search, greedy_search
from lstmkit.seq2seq.vocab import EOS, PAD, SOS, UNK

SRC = "abcdefghij 0123456789"
TGT = "0123456789-"
TEXTS = ["abc 12", "j", "hello 0123456789", "deed 4"]


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
    m = Seq2Seq(SRC, TGT, hidden_size=16, embedding_dim=8, attention=attention,
                bidirectional=bidirectional, num_layers=num_layers, max_len=8)
    return m.to(dtype).eval()


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_uses_lstmkit_layers(attention):
    m = _model(attention)
    assert isinstance(m.encoder, lstmkit.LSTM) and isinstance(m.decoder, lstmkit.LSTM)
    assert lstmkit.Seq2Seq is Seq2Seq
    assert m.encoder.bidirectional and m.encoder.hidden_size == 8


@pytest.mark.parametrize("layers", [1, 2])
def test_parallel_teacher_forcing_equals_the_step_loop(layers):
    m = _model("luong", num_layers=layers)
    src, lengths = m.source_batch(TEXTS)
    tgt_in, _ = m.target_batch(["12-3", "4", "2021-03-03", ""])
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
    src, lengths = m.source_batch(TEXTS)
    tgt_in, _ = m.target_batch(tgts)
    logits, alpha = m(src, lengths, tgt_in)
    assert torch.allclose(alpha.sum(-1), torch.ones_like(alpha.sum(-1)))
    for b, (text, tgt) in enumerate(zip(TEXTS, tgts)):
        assert alpha[b, :, int(lengths[b]):].abs().sum() == 0  # no weight on padding
        s1, l1 = m.source_batch([text])
        t1, _ = m.target_batch([tgt])
        alone, _ = m(s1, l1, t1)
        n = t1.shape[1]
        assert (logits[b, :n] - alone[0]).abs().max() < 1e-10, text


def test_teacher_forcing_below_one_feeds_predictions():
    m = _model("luong")
    src, lengths = m.source_batch(TEXTS)
    tgt_in, _ = m.target_batch(["12-3", "4", "2021-03-03", ""])
    full, _ = m(src, lengths, tgt_in, teacher_forcing=1.0)
    torch.manual_seed(0)
    none, _ = m(src, lengths, tgt_in, teacher_forcing=0.0)
    assert (none[:, 0] - full[:, 0]).abs().max() < 1e-10  # the first step sees <s> either way
    assert (none - full).abs().max() > 1e-3
    with pytest.raises(InputError, match="teacher_forcing"):
        m(src, lengths, tgt_in, teacher_forcing=1.5)


@torch.no_grad()
def _sequence_logprob(m, text: str, out_ids: list[int]) -> float:
    src, lengths = m.source_batch([text])
    tgt_in = torch.tensor([[SOS] + out_ids[:-1]])
    logits, _ = m(src, lengths, tgt_in)
    logp = torch.log_softmax(logits[0], -1)
    return float(logp[torch.arange(len(out_ids)), torch.tensor(out_ids)].sum())


def _cut(ids: list[int]) -> list[int]:
    return ids[: ids.index(EOS) + 1] if EOS in ids else ids


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_beam_search_scores_are_exact_and_never_below_greedy(attention):
    m = _model(attention, seed=3)
    src, lengths = m.source_batch(TEXTS)
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
    m = _model("luong", seed=5)
    batch = m.translate(TEXTS, beam_size=3)
    assert batch == [m.translate(t, beam_size=3) for t in TEXTS]
    out, att = m.attend("abc 12")
    # one row per output character and </s> (or max_len + 1 rows if it never ended)
    assert att.shape in ((len(out) + 1, len("abc 12") + 1), (m.config.max_len + 1, len("abc 12") + 1))
    assert torch.allclose(att.sum(1), torch.ones(att.shape[0], dtype=att.dtype))


def test_save_and_load_give_the_same_translations(tmp_path):
    m = _model("bahdanau", seed=2).float()
    m.save(tmp_path / "m")
    loaded = Seq2Seq.load(tmp_path / "m")
    assert loaded.config == m.config and loaded.src_vocab == m.src_vocab
    assert loaded.translate(TEXTS, beam_size=2) == m.translate(TEXTS, beam_size=2)
    with pytest.raises(InputError, match="expected a 'seq2seq' model"):
        from lstmkit.spine.io import save_model

        save_model(tmp_path / "other", "forecast", {}, {"w": torch.zeros(1)})
        Seq2Seq.load(tmp_path / "other")


@pytest.mark.parametrize("bad, match", [
    (dict(hidden_size=15), "even"),
    (dict(attention="dot"), "luong"),
    (dict(dropout=1.0), "dropout"),
    (dict(num_layers=0), "positive"),
])
def test_bad_configs(bad, match):
    with pytest.raises(InputError, match=match):
        Seq2Seq(SRC, TGT, **bad)


def test_bad_beam_size():
    with pytest.raises(InputError, match="beam_size"):
        _model("luong").translate("abc", beam_size=0)
