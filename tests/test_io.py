"""The saved-model format (lstmkit.spine.io): round trip, atomic replacement (a crash at any
point leaves the old model or the new one), refusal to overwrite what is not a model,
and one clear InputError, never a half-loaded model, for truncated, corrupted or
mismatched files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmkit.errors import InputError
from lstmkit.spine import io


def _tensors(scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(int(scale * 10))
    return {"rnn.weight_ih_l0": scale * torch.randn(8, 3, generator=g),
            "head.bias": scale * torch.randn(2, generator=g),
            "steps": torch.arange(4)}


def _save(path, scale=1.0, task="textgen"):
    return io.save_model(path, task, {"hidden_size": 2, "scale": scale}, _tensors(scale),
                         {"vocab": {"chars": "abc"}})


def test_round_trip(tmp_path):
    path = _save(tmp_path / "m")
    config, tensors, state, meta = io.load_model(path, "textgen")
    assert config == {"hidden_size": 2, "scale": 1.0}
    assert state == {"vocab": {"chars": "abc"}}
    for k, v in _tensors().items():
        assert torch.equal(tensors[k], v) and tensors[k].dtype == v.dtype
    assert meta["format"] == io.FORMAT_VERSION and meta["task"] == "textgen"
    assert meta["lstmkit"] and meta["torch"] == torch.__version__ and len(meta["sha256"]) == 64
    assert sorted(os.listdir(path)) == ["config.json", "model.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["m"], "no temporary directory left behind"
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o777 & ~umask, "an ordinary directory, not a private temp dir"


def test_json_friendly_values_and_tied_tensors(tmp_path):
    """numpy numbers in the config/state; two names for one tensor (tied weights)."""
    shared = torch.randn(5, 3)
    io.save_model(tmp_path / "m", "t", {"lr": np.float32(0.5), "sizes": np.arange(3)},
                  {"embedding.weight": shared, "head.weight": shared}, {"mean": np.float64(2.5)})
    config, tensors, state, _ = io.load_model(tmp_path / "m")
    assert config == {"lr": 0.5, "sizes": [0, 1, 2]} and state == {"mean": 2.5}
    assert torch.equal(tensors["embedding.weight"], shared) and torch.equal(tensors["head.weight"], shared)


def test_unserialisable_config_fails_before_writing(tmp_path):
    old = _save(tmp_path / "m")
    with pytest.raises(TypeError, match="JSON-able"):
        io.save_model(old, "textgen", {"fn": print}, _tensors(2.0))
    assert io.load_model(old)[0]["scale"] == 1.0
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_overwrite_replaces_and_refuses_what_is_not_a_model(tmp_path):
    path = _save(tmp_path / "m")
    _save(path, scale=2.0)
    assert io.load_model(path)[0]["scale"] == 2.0
    assert sorted(os.listdir(tmp_path)) == ["m"]
    (tmp_path / "empty").mkdir()
    _save(tmp_path / "empty")  # an empty directory may be used
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "file").write_text("keep me too")
    for target in ("mine", "file"):
        with pytest.raises(InputError, match="refusing to overwrite .* not a saved lstmkit model"):
            _save(tmp_path / target)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "file").read_text() == "keep me too"


def test_failed_save_leaves_the_old_model(tmp_path, monkeypatch):
    path = _save(tmp_path / "m")

    def fail(*args):
        raise KeyboardInterrupt  # the user hits Ctrl-C just before the swap

    monkeypatch.setattr(io, "_install", fail)
    with pytest.raises(KeyboardInterrupt):
        _save(path, scale=2.0)
    assert io.load_model(path)[0]["scale"] == 1.0
    assert sorted(os.listdir(tmp_path)) == ["m"]


# A process killed (no clean-up at all) at three points of a save that replaces a model.
CRASH = {
    # while the new weights are half written
    "writing": "orig = os.fsync\n"
               "def crash(fd):\n    os.ftruncate(fd, 10); os._exit(17)\n"
               "os.fsync = crash",
    # right after the atomic swap, before the old model is deleted
    "after_swap": "orig = io._exchange\n"
                  "def crash(a, b):\n    orig(a, b); os._exit(17)\n"
                  "io._exchange = crash",
    # the fallback without renameat2: between its two renames
    "between_renames": "io._exchange = lambda a, b: False\norig = os.rename\n"
                       "def crash(a, b):\n    orig(a, b)\n    if '.old-' in str(b): os._exit(17)\n"
                       "os.rename = crash",
}


@pytest.mark.parametrize("point", list(CRASH))
def test_crash_leaves_old_or_new_model(point, tmp_path):
    path = _save(tmp_path / "m")
    script = "\n".join([
        "import os, sys, torch",
        "from lstmkit.spine import io",
        CRASH[point],
        "io.save_model(sys.argv[1], 'textgen', {'hidden_size': 2, 'scale': 2.0},",
        "              {'w': torch.zeros(1000)}, {})",
    ])
    proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 17, proc.stderr
    with pytest.warns(UserWarning, match="restored") if point == "between_renames" else _no_warning():
        config = io.load_model(path)[0]
    assert config["scale"] == (2.0 if point == "after_swap" else 1.0)
    _save(path, scale=3.0)  # the next save clears what the dead process left
    assert io.load_model(path)[0]["scale"] == 3.0
    assert sorted(os.listdir(tmp_path)) == ["m"]


class _no_warning:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _corrupt(path: Path, how: str) -> None:
    w, c = path / io.WEIGHTS_FILE, path / io.CONFIG_FILE
    if how == "truncated_weights":
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    elif how == "flipped_byte":
        data = bytearray(w.read_bytes())
        data[-5] ^= 0xFF  # inside the tensor data: safetensors alone would not notice
        w.write_bytes(bytes(data))
    elif how == "empty_weights":
        w.write_bytes(b"")
    elif how == "truncated_config":
        c.write_text(c.read_text()[:40])
    elif how == "config_not_object":
        c.write_text("[1, 2]")
    elif how == "missing_weights":
        w.unlink()
    elif how == "weights_of_another_save":
        other = _save(path.parent / "other", scale=5.0)
        w.write_bytes((other / io.WEIGHTS_FILE).read_bytes())


@pytest.mark.parametrize("how,match", [
    ("truncated_weights", "truncated or corrupted"),
    ("flipped_byte", "truncated or corrupted, or comes from another save"),
    ("empty_weights", "truncated or corrupted"),
    ("truncated_config", "config.json is truncated or corrupted"),
    ("config_not_object", "expected a JSON object"),
    ("missing_weights", "model.safetensors is missing"),
    ("weights_of_another_save", "SHA-256 differs"),
])
def test_damaged_files_give_one_clear_error(how, match, tmp_path):
    path = _save(tmp_path / "m")
    _corrupt(path, how)
    with pytest.raises(InputError, match=match) as info:
        io.load_model(path)
    assert "\n" not in str(info.value)


def _edit_config(path: Path, **changes) -> None:
    meta = json.loads((path / io.CONFIG_FILE).read_text())
    meta.update(changes)
    (path / io.CONFIG_FILE).write_text(json.dumps(meta))


def test_config_and_weights_that_disagree(tmp_path):
    path = _save(tmp_path / "m")
    listed = json.loads((path / io.CONFIG_FILE).read_text())["tensors"]
    listed["rnn.weight_ih_l0"] = [[4, 6], "float32"]
    listed["extra"] = [[1], "float32"]
    del listed["head.bias"]
    _edit_config(path, tensors=listed)
    with pytest.raises(InputError, match=r"weights do not match the config: missing \['extra'\]; "
                                         r"unexpected \['head.bias'\]; shape/dtype differ for "
                                         r"rnn.weight_ih_l0 \(expected \[\[4, 6\], 'float32'\]"):
        io.load_model(path)


def test_models_saved_without_a_checksum_still_load(tmp_path):
    path = _save(tmp_path / "m")
    meta = json.loads((path / io.CONFIG_FILE).read_text())
    del meta["sha256"]
    (path / io.CONFIG_FILE).write_text(json.dumps(meta))
    assert io.load_model(path)[0]["scale"] == 1.0


def test_wrong_task_format_or_place(tmp_path):
    path = _save(tmp_path / "m")
    with pytest.raises(InputError, match="holds a 'textgen' model, expected a 'forecast' model"):
        io.load_model(path, "forecast")
    _edit_config(path, format=io.FORMAT_VERSION + 1)
    with pytest.raises(InputError, match="written by a newer lstmkit"):
        io.load_model(path)
    with pytest.raises(InputError, match="found no directory"):
        io.load_model(tmp_path / "nothing")
    assert io.read_config(_save(tmp_path / "n"), "textgen")["config"]["scale"] == 1.0


def test_load_weights_is_all_or_nothing(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    good = {k: torch.randn_like(v) for k, v in before.items()}
    bad = dict(good)
    bad["1.weight"] = torch.randn(2, 5)  # the config said 4 hidden units; the weights, 5
    with pytest.raises(InputError, match=r"do not fit the network .* 1.weight \(expected \[\[2, 4\]"):
        io.load_weights(net, bad, "m")
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} was changed by a failed load"
    io.load_weights(net, good, "m")
    assert all(torch.equal(net.state_dict()[k], good[k]) for k in good)
