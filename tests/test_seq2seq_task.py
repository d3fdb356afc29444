"""The date-normalisation task: the generator agrees with Python's own date parsing,
training and test dates and formats are kept apart, a small Translator learns four
formats in 150 steps (about 10 s of one core), and the CLI trains, saves, evaluates,
translates and reports bad input in one line. The documented full run (exact match on all training formats and
on the held-out ones) is under ``-m slow``.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime

import numpy as np
import pytest

from lstmkit.cli import main
from lstmkit.seq2seq import Translator
from lstmkit.seq2seq.dates import (
    FIRST,
    HELD_OUT_FORMATS,
    LAST,
    NAMES,
    TRAIN_FORMATS,
    DateFormat,
    date_pairs,
    is_test_date,
    ordinal,
    sample_dates,
    source_chars,
)
from lstmkit.seq2seq.tasks import date_training_pairs, date_translator, evaluate_dates

# our templates next to the strptime format that must read them back
STRPTIME = {
    "{mm}/{dd}/{Y}": "%m/%d/%Y", "{m}/{d}/{y}": "%m/%d/%y", "{d}.{m}.{y}": "%d.%m.%y",
    "{dd}.{mm}.{Y}": "%d.%m.%Y", "{Y}{mm}{dd}": "%Y%m%d", "{d} {B} {Y}": "%d %B %Y",
    "{A}, {B} {d}, {Y}": "%A, %B %d, %Y", "{a} {d} {b} {Y}": "%a %d %b %Y", "{d}-{b}-{y}": "%d-%b-%y",
    "{dd}.{mm}.{y}": "%d.%m.%y", "{d}-{m}-{Y}": "%d-%m-%Y", "{Y}-{b}-{dd}": "%Y-%b-%d", "{Y} {b} {dd}": "%Y %b %d",
}


def test_formats_read_back_with_python_strptime():
    rng = np.random.default_rng(0)
    for template, fmt in STRPTIME.items():
        for d in sample_dates(50, "train", rng) + [FIRST, LAST]:
            text = DateFormat("en", template).render(d)
            assert datetime.strptime(text, fmt).date() == d, (template, text)


def test_ordinals_and_names():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]
    assert NAMES["en"]["B"][2] == "March" and NAMES["de"]["B"][2] == "März"
    assert all(len(t) == 12 for names in NAMES.values() for k, t in names.items() if k in "Bb")
    assert all(len(t) == 7 for names in NAMES.values() for k, t in names.items() if k in "Aa")
    assert DateFormat("en", "{do} of {B} {Y}").render(date(2021, 3, 3)) == "3rd of March 2021"


def test_test_dates_and_held_out_formats_never_reach_training():
    rng = np.random.default_rng(1)
    assert not any(is_test_date(d) for d in sample_dates(2000, "train", rng))
    assert all(is_test_date(d) for d in sample_dates(200, "test", rng))
    assert not {f.template for f in HELD_OUT_FORMATS if f.lang == "en"} & {
        f.template for f in TRAIN_FORMATS if f.lang == "en"}
    assert not set(HELD_OUT_FORMATS) & set(TRAIN_FORMATS)
    chars = set(source_chars())
    pairs = date_pairs(3000, TRAIN_FORMATS + HELD_OUT_FORMATS, "train", rng)
    assert set("".join(s for s, _ in pairs)) <= chars
    assert all(date.fromisoformat(t).isoformat() == t for _, t in pairs)


def test_every_source_string_has_one_reading():
    # a string that two different dates render to would make exact match impossible
    seen: dict[str, str] = {}
    rng = np.random.default_rng(2)
    for fmt in TRAIN_FORMATS + HELD_OUT_FORMATS:
        for d in sample_dates(300, "train", rng):
            text = fmt.render(d)
            assert seen.setdefault(text, d.isoformat()) == d.isoformat(), text


def test_a_small_model_learns_four_formats():
    # 150 steps of H=64 on four English formats reached 0.995 exact match on 200 unseen
    # dates (docs/seq2seq.md); 0.9 leaves room for other CPUs' float rounding
    formats = tuple(DateFormat("en", t) for t in ("{d} {B} {Y}", "{m}/{d}/{Y}", "{Y}-{mm}-{dd}", "{b} {d}, {Y}"))
    tr = date_translator(hidden_size=64, dropout=0.0, lr=1e-2, warmup_steps=20, max_steps=150, verbose=False)
    pairs = date_training_pairs(150, 64, seed=0, formats=formats)
    assert len(pairs) == 150 * 64
    tr.fit([s for s, _ in pairs], [t for _, t in pairs])
    assert tr.steps == 150 and len(tr.history) == 1 and tr.history[0]["train_loss"] < 1.0
    test = date_pairs(200, formats, "test", np.random.default_rng(1))
    report = tr.evaluate([s for s, _ in test], [t for _, t in test])
    assert report["exact_match"] >= 0.9 and report["cer"] < 0.05
    assert tr.predict("3 March 2021", beam=3) == "2021-03-03"


def test_cli_train_evaluate_and_translate(tmp_path, capsys, monkeypatch):
    out, png = tmp_path / "m", tmp_path / "attn.png"
    rc = main(["seq2seq", "train", "--max-steps", "3", "--hidden-size", "16", "--eval-per-format", "2",
               "--out", str(out), "--heatmap", str(png), "--quiet"])
    assert rc == 0 and png.read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "exact match, seen formats" in text and "unseen formats" in text and "trained 3 steps" in text
    for action in ("translate", "predict"):
        assert main(["seq2seq", action, "--load", str(out), "--beam", "2", "--show-source",
                     "3rd of March 2021", "Ωmega"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("3rd of March 2021\t") and "unknown to the model: 'Ω'" in lines[1]
    assert isinstance(Translator.load(out), Translator)
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{d} March 2021\t2021-03-{d:02d}\n" for d in range(1, 13)))
    assert main(["seq2seq", "evaluate", "--load", str(out), "--data", str(data)]) == 0
    assert "exact match: " in capsys.readouterr().out
    # standard input: decoded as UTF-8 strictly, a byte-order mark and CRLF dropped
    for raw, rc in ((b"\xef\xbb\xbf3rd of March 2021\r\n\n", 0), (b"\xff\xfe\n", 2)):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
        assert main(["seq2seq", "predict", "--load", str(out), "--show-source"]) == rc
        got = capsys.readouterr()
        if rc == 0:
            assert got.out.splitlines()[0].startswith("3rd of March 2021\t")
        else:
            assert got.err.count("\n") == 1 and "standard input is not UTF-8 text: byte 0xff at offset 0" in got.err
    # an argument of bytes that are not UTF-8 (they arrive as lone surrogates)
    assert main(["seq2seq", "predict", "--load", str(out), os.fsdecode(b"ab\xffc")]) == 2
    assert "text argument 1 is not UTF-8 text: byte 0xff at offset 2" in capsys.readouterr().err
    # a blank argument (standard input's blank lines are skipped)
    assert main(["seq2seq", "predict", "--load", str(out), "3rd of March 2021", " "]) == 2
    got = capsys.readouterr()
    assert got.out == "" and got.err.count("\n") == 1 and "text argument 2 is blank" in got.err


def test_cli_trains_on_a_file_of_pairs(tmp_path, capsys):
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{w}\t{w[::-1]}\n" for w in ["abc", "hello", "lstm", "tab", "pair"] * 4))
    rc = main(["seq2seq", "train", "--data", str(data), "--max-steps", "2", "--hidden-size", "8",
               "--out", str(tmp_path / "m")])
    assert rc == 0 and "exact match on the validation pairs" in capsys.readouterr().out


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n")
    assert main(["seq2seq", "train", "--data", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "line 1: expected 'source<TAB>target'" in err
    assert main(["seq2seq", "translate", "--load", str(tmp_path / "missing"), "x"]) == 2


def test_ctrl_c_during_train_saves_what_was_trained(tmp_path):
    out, ckpt = tmp_path / "m", tmp_path / "ckpt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "lstmkit.cli", "seq2seq", "train", "--max-steps", "100000", "--hidden-size", "8",
           "--embedding-dim", "4", "--out", str(out), "--checkpoint-dir", str(ckpt), "--checkpoint-every", "3"]
    # a shell that ignores SIGINT in background jobs would pass that on: Ctrl-C as in a terminal
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    try:
        t0 = time.monotonic()
        while not (ckpt / "last.ckpt").exists():
            assert proc.poll() is None and time.monotonic() - t0 < 300, proc.stderr.read()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert f"saved what was trained to {out}" in err and "Traceback" not in err
    assert isinstance(Translator.load(out).predict("3 May 2001"), str)


@pytest.mark.slow
def test_dates_reach_the_issue_goal():
    # the default `lstmkit seq2seq train` run (docs/seq2seq.md): 4000 steps, H=128,
    # dropout 0.2, about 4 minutes of CPU. Measured seen / held-out on the engine: 1.0000 /
    # 0.9831 (seed 0, this run), 1.0000 / 0.9800 and 0.9938 (seeds 1, 2); the issue aims at
    # 0.98. Held-out accuracy moves by points between float paths (seeds, CPUs, backends),
    # so 0.95 here
    tr = date_translator(verbose=False)
    pairs = date_training_pairs(4000, 64, seed=0)
    tr.fit([s for s, _ in pairs], [t for _, t in pairs])
    assert tr.history[-1]["train_loss"] < 0.1  # the mean over the one pass; measured 0.049
    report = evaluate_dates(tr, per_format=200)
    assert report.seen >= 0.98, "\n".join(report.lines())
    assert report.unseen >= 0.95, "\n".join(report.lines())
    assert tr.predict("3rd of March 2021", beam=3) == "2021-03-03"
