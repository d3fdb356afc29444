"""Vocabularies, tokenisation, file reading, splits and metrics of the text tasks
(lstmkit.textgen, lstmkit.classify; no training)."""

from __future__ import annotations

import pytest
import torch

from lstmkit.classify import (
    TokenVocab,
    read_labelled,
    sentiment_sentences,
    stratified_split,
    tokenize,
)
from lstmkit.classify.data import check_labels, parse_labelled
from lstmkit.errors import InputError
from lstmkit.spine.metrics import classification_report, macro_f1
from lstmkit.spine.text import read_text
from lstmkit.textgen import CharVocab, shakespeare, split_text


def test_char_vocab_round_trip_and_unknown_id():
    v = CharVocab.from_text("hello world")
    assert len(v) == len(set("hello world")) + 1  # + the unknown id
    ids = v.encode("hello")
    assert ids.dtype == torch.int64 and int(ids.min()) >= 1
    assert v.decode(ids.tolist()) == "hello"
    assert v.encode("hé").tolist()[1] == CharVocab.UNK
    assert v.unknown("héllo wörld é") == ["é", "ö"]
    assert CharVocab.from_state(v.to_state()).chars == v.chars


def test_tokenize_words_punctuation_and_chars():
    assert tokenize("Don't buy it!! Great, though.") == [
        "don't",
        "buy",
        "it",
        "!",
        "!",
        "great",
        ",",
        "though",
        ".",
    ]
    assert tokenize("Ab  c", level="char") == ["a", "b", " ", "c"]
    assert tokenize("Ab", level="char", lowercase=False) == ["A", "b"]
    with pytest.raises(InputError, match="level"):
        tokenize("x", level="byte")


def test_token_vocab_limits_size_orders_by_frequency_and_maps_unknown():
    docs = [["b", "a", "b"], ["c", "b", "a"], ["d"]]
    v = TokenVocab.build(docs, max_size=4)
    assert v.tokens == ["<pad>", "<unk>", "b", "a"]  # b (3) before a (2); c, d cut by the limit
    assert v.encode(["a", "zzz", "c"]) == [3, TokenVocab.UNK, TokenVocab.UNK]
    assert TokenVocab.build(docs, min_freq=2).tokens == ["<pad>", "<unk>", "b", "a"]
    with pytest.raises(InputError, match="max_size"):
        TokenVocab.build(docs, max_size=2)


def test_read_text_rejects_empty_non_utf8_and_directories(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n\n")
    with pytest.raises(InputError, match="empty"):
        read_text(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8.*0xe9 at offset 3"):
        read_text(tmp_path / "latin1.txt")
    with pytest.raises(InputError, match="directory"):
        read_text(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "missing.txt")
    (tmp_path / "bom.txt").write_bytes("\ufeffabc".encode("utf-8"))
    assert read_text(tmp_path / "bom.txt") == "abc"


def test_labelled_rows_need_a_label_and_keep_odd_line_breaks(tmp_path):
    texts, labels = parse_labelled("good one\tpos\n\nbad\u0085one\tneg\r\n")
    assert texts == ["good one", "bad\u0085one"] and labels == ["pos", "neg"]
    f = tmp_path / "d.tsv"
    f.write_text("fine\tpos\nno label here\nx\tneg\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: expected 'sentence<TAB>label', found no label"):
        read_labelled(f)
    f.write_text("fine\tpos\nempty label\t \n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2.*no label"):
        read_labelled(f)
    with pytest.raises(InputError, match="1 class"):
        check_labels(["a", "a"])


def test_bundled_corpora_are_complete():
    text = shakespeare()
    assert len(text) == 1_115_394 and len(set(text)) == 65
    texts, labels = sentiment_sentences()
    assert len(texts) == 3000
    assert labels.count("positive") == labels.count("negative") == 1500


def test_splits_are_contiguous_for_text_and_seeded_stratified_for_sentences():
    train, val = split_text("abcdefghij", 0.2)
    assert (train, val) == ("abcdefgh", "ij")
    with pytest.raises(InputError, match="too short"):
        split_text("abc", 0.1)
    x = [f"s{i}" for i in range(100)]
    y = ["a"] * 80 + ["b"] * 20
    a = stratified_split(x, y, 0.25, seed=3)
    assert a == stratified_split(x, y, 0.25, seed=3)
    assert a != stratified_split(x, y, 0.25, seed=4)
    tr_x, _, te_x, te_y = a
    assert sorted(tr_x + te_x) == sorted(x) and not set(tr_x) & set(te_x)
    assert te_y.count("a") == 20 and te_y.count("b") == 5


def test_metrics_match_hand_computed_values():
    # true: 0 0 0 1 1 2 ; pred: 0 0 1 1 2 2
    r = classification_report([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ["x", "y", "z"])
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    # F1: x 2*2/(2+3)=0.8, y 2*1/(2+2)=0.5, z 2*1/(2+1)=2/3
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert macro_f1([[0, 3], [0, 0]]) == 0.0  # class 0 never right, class 1 absent: left out
