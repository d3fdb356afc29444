"""Bad input to the tasks other than forecasting gets one line and exit status 2 (or the
library's error), before any work: unwritable outputs (checked by writing a probe file,
since permission bits say nothing to root), clips that are not intensities, labels a .ts
header does not declare, a device torch does not know, a variant flag that is not a
boolean, seeds out of numpy's range, a validation split that keeps nothing to train on,
a non-finite signal-to-noise ratio."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from lstmkit.cli import main
from lstmkit.errors import InputError
from lstmkit.sequences.ucr import parse_ts
from lstmkit.spine import flags
from lstmkit.video.estimator import as_clips


def one_line_exit_2(capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc (Linux)")
def test_check_output_writes_a_probe_where_permission_bits_say_nothing(tmp_path):
    with pytest.raises(InputError, match="--out /proc/x: cannot write in /proc"):
        flags.check_output("/proc/x", "model")
    flags.check_output(tmp_path / "new" / "model", "model")  # a folder that can be made
    flags.check_output(tmp_path, "dir")
    assert list(tmp_path.iterdir()) == []  # the probe is gone


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc (Linux)")
def test_an_unwritable_output_stops_a_task_before_it_trains(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abcde fgh\n" * 300)
    out = tmp_path / "model"
    one_line_exit_2(capsys, ["textgen", "train", "--data", str(text), "--out", str(out), "--max-steps", "3",
                             "--curve", "/proc/curve.png"], "--curve /proc/curve.png: cannot write in /proc")
    assert not out.exists()
    one_line_exit_2(capsys, ["experiment", "adding", "--length", "30", "--max-steps", "3",
                             "--json", "/proc/x.json"], "--json /proc/x.json: cannot write in /proc")


@pytest.mark.parametrize("clips, message", [
    (np.array(["a", "b"]), "floating-point intensities"),
    (np.zeros((0, 10, 16, 16), np.float32), "at least one clip"),
    (np.full((1, 10, 16, 16), np.nan, np.float32), "NaN or infinite"),
    (np.full((1, 10, 16, 16), 255.0, np.float32), "found values from 255 to 255"),
])
def test_clips_must_be_finite_intensities_in_0_1(clips, message):
    with pytest.raises(InputError, match=message):
        as_clips(clips)
    assert as_clips(np.full((1, 10, 16, 16), 0.5)).shape == (1, 10, 1, 16, 16)


def test_a_ts_label_the_header_does_not_declare_is_refused():
    text = "@problemName demo\n@classLabel true a b\n@data\n1,2,3:a\n1,2,3:z\n"
    with pytest.raises(InputError, match=re.escape("demo.ts:5: expected a label among the classes the header "
                                                   "declares ['a', 'b'], found 'z'")):
        parse_ts(text, "demo.ts")
    _, y, _ = parse_ts(text.replace(":z", ":b"), "demo.ts")
    assert y == ["a", "b"]


def test_info_refuses_a_device_torch_does_not_know(capsys):
    one_line_exit_2(capsys, ["info", "--explain", "2,10,4,8", "--device", "bogus"],
                    "expected --device as a torch device")


@pytest.mark.parametrize("value", ["maybe", 2])
def test_a_variant_switch_is_a_boolean(value, capsys):
    with pytest.raises(ValueError, match="layer_norm must be True or False"):
        lstmkit.LSTM(4, 8, layer_norm=value)
    assert lstmkit.LSTM(4, 8, layer_norm=np.bool_(True)).spec.variants == ("layer_norm",)
    one_line_exit_2(capsys, ["experiment", "adding", "--length", "30", "--max-steps", "3",
                             "--option", f"layer_norm={value}"], "layer_norm must be True or False")


def test_compare_refuses_a_negative_seed(capsys):
    one_line_exit_2(capsys, ["compare", "--cells", "lstm", "--seeds", "-1", "--task", "adding=30",
                             "--max-steps", "2", "--out", "-"], "expected seeds as integers in [0, 4294967295]")


def test_a_validation_fraction_of_1_is_refused(tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("abc\tcba\n" * 20)
    one_line_exit_2(capsys, ["seq2seq", "train", "--data", str(pairs), "--val-fraction", "1",
                             "--out", str(tmp_path / "m")], "expected --val-fraction in (0, 1), found 1")
    assert not (tmp_path / "m").exists()


def test_speech_say_refuses_a_non_finite_snr(tmp_path, capsys):
    one_line_exit_2(capsys, ["speech", "say", "123", "--out", str(tmp_path / "x.wav"), "--snr", "nan"],
                    "expected --snr as a finite number, found nan")
    assert not (tmp_path / "x.wav").exists()


def test_info_refuses_an_empty_shape(capsys):
    one_line_exit_2(capsys, ["info", "--explain", ""], "--explain expects B,T,I,H (four integers), got ''")
