"""The `lstmkit textgen` and `lstmkit classify` commands, including bad input: one line
on stderr, exit status 2, never a traceback."""

from __future__ import annotations

import pytest

from lstmkit.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _fails_in_one_line(capsys, message, *argv):
    """The command exits 2 with one line on stderr that contains ``message``, no traceback."""
    code, _, err = _run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture
def tiny_text(tmp_path):
    f = tmp_path / "tiny.txt"
    f.write_text("to be or not to be, that is the question.\n" * 30, encoding="utf-8")
    return f


def test_textgen_train_sample_evaluate(capsys, tmp_path, tiny_text):
    model = tmp_path / "lm"
    code, out, err = _run(
        capsys,
        "textgen",
        "train",
        "--data",
        str(tiny_text),
        "--out",
        str(model),
        "--max-steps",
        "20",
        "--hidden-size",
        "16",
        "--embedding-dim",
        "8",
        "--batch-size",
        "4",
        "--seq-len",
        "16",
        "--lr",
        "0.01",
        "--sample-length",
        "20",
        "--curve",
        str(tmp_path / "c.png"),
        "--dynamic",
    )
    assert code == 0, err
    assert "train" in out and "val" in out and "bits/char" in out and "saved to" in out
    assert "validation with dynamic evaluation" in out
    assert (model / "config.json").is_file() and (tmp_path / "c.png").stat().st_size > 1000
    code, out, err = _run(
        capsys,
        "textgen",
        "sample",
        "--load",
        str(model),
        "--prompt",
        "to be",
        "--length",
        "30",
        "--seed",
        "1",
    )
    assert code == 0 and out.startswith("to be") and len(out) == len("to be") + 30 + 1
    code, out, err = _run(
        capsys,
        "textgen",
        "sample",
        "--load",
        str(model),
        "--prompt",
        "tö bé",
        "--length",
        "5",
        "--seed",
        "1",
    )
    assert code == 0 and err.count("\n") == 1 and "note:" in err and "'ö', 'é'" in err
    code, out, err = _run(
        capsys, "textgen", "evaluate", "--load", str(model), "--data", str(tiny_text)
    )
    assert code == 0 and "bits/char" in out
    static = float(out.split(": ")[1].split()[0])
    code, out, err = _run(
        capsys, "textgen", "evaluate", "--load", str(model), "--data", str(tiny_text), "--dynamic"
    )
    assert code == 0 and "(dynamic evaluation)" in out, err
    assert float(out.split(": ")[1].split()[0]) != static  # the weights did adapt


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"\xff\xfe\x00bad bytes", "not UTF-8")],
    ids=["empty", "not-utf8"],
)
def test_textgen_bad_files_give_one_line(capsys, tmp_path, content, message):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    _fails_in_one_line(capsys, message, "textgen", "train", "--data", str(f))


def test_textgen_xlstm_cell_trains_predicts_and_evaluates(capsys, tmp_path, tiny_text):
    """``--cell xlstm``: the stack of residual blocks (sLSTM in the middle by default),
    its state carried through training and generation, saved and loaded."""
    model = tmp_path / "xlm"
    code, out, err = _run(capsys, "textgen", "train", "--data", str(tiny_text), "--out", str(model),
                          "--cell", "xlstm", "--hidden-size", "16", "--num-layers", "3",
                          "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16",
                          "--max-steps", "6", "--sample-length", "10", "--threads", "1")
    assert code == 0, err
    assert "xlstm 3x16, sLSTM blocks at [1]" in out and "saved to" in out
    code, out, err = _run(capsys, "textgen", "predict", "--load", str(model), "--prompt", "to be",
                          "--length", "12", "--seed", "1")
    assert code == 0 and out.startswith("to be") and len(out) == len("to be") + 12 + 1, err
    code, out, err = _run(capsys, "textgen", "evaluate", "--load", str(model), "--data",
                          str(tiny_text))
    assert code == 0 and "bits/char" in out, err


def test_textgen_xlstm_cell_with_an_option_it_lacks_gives_one_line(capsys, tiny_text):
    _fails_in_one_line(capsys, "backend must be one of", "textgen", "train", "--data",
                       str(tiny_text), "--cell", "xlstm", "--backend", "fused", "--max-steps", "1")
    _fails_in_one_line(capsys, "layer_norm", "textgen", "train", "--data", str(tiny_text),
                       "--cell", "xlstm", "--layer-norm", "--max-steps", "1")


def test_textgen_missing_model_gives_one_line(capsys, tmp_path):
    _fails_in_one_line(capsys, "no directory", "textgen", "sample", "--load", str(tmp_path / "nope"))


def test_classify_train_predict_evaluate(capsys, tmp_path):
    f = tmp_path / "reviews.tsv"
    rows = [f"great {w} love it\tpos" for w in "abcdefghij"] + [
        f"awful {w} hate it\tneg" for w in "abcdefghij"
    ]
    f.write_text("\n".join(rows * 3) + "\n", encoding="utf-8")
    model = tmp_path / "clf"
    code, out, err = _run(
        capsys,
        "classify",
        "train",
        "--data",
        str(f),
        "--out",
        str(model),
        "--epochs",
        "3",
        "--hidden-size",
        "8",
        "--seed",
        "1",
    )
    assert code == 0, err
    assert "accuracy" in out and "macro F1" in out and "seed 1" in out and "confusion matrix" in out
    code, out, err = _run(
        capsys, "classify", "predict", "--load", str(model), "great x love it", "hate it"
    )
    assert code == 0 and len(out.splitlines()) == 2
    assert out.splitlines()[0].split("\t")[0] in ("pos", "neg")
    code, out, err = _run(capsys, "classify", "evaluate", "--load", str(model), "--data", str(f))
    assert code == 0 and "accuracy" in out


@pytest.mark.parametrize(
    "content, message",
    [
        (b"good\tpos\nno label at all\n", "line 2: expected 'sentence<TAB>label', found no label"),
        (b"good\tpos\nfine\tpos\n", "1 class ('pos')"),
        (b"", "is empty"),
        (b"caf\xe9\tpos\nbad\tneg\n", "not UTF-8"),
    ],
    ids=["no-label", "one-class", "empty", "not-utf8"],
)
def test_classify_bad_files_give_one_line(capsys, tmp_path, content, message):
    f = tmp_path / "bad.tsv"
    f.write_bytes(content)
    _fails_in_one_line(capsys, message, "classify", "train", "--data", str(f))


def test_classify_predict_needs_sentences(capsys, tmp_path):
    code, _, err = _run(capsys, "classify", "predict", "--load", str(tmp_path))
    assert code == 2 and "expected sentences" in err
    # a blank one is refused before the model is read (a file's blank lines are skipped)
    code, out, err = _run(capsys, "classify", "predict", "--load", str(tmp_path), "fine", "  ")
    assert code == 2 and out == "" and err.count("\n") == 1 and "sentence argument 2 is blank" in err
