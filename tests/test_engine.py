"""The training engine (lstmkit.spine.engine): a fit on Lightning with resume after a
real kill, checked resume, progress off a terminal, keyword checks, DDP on 2 processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from lstmkit.errors import InputError, UnknownKeywordError
from lstmkit.spine.engine import check_checkpoint, split_keywords

SCRIPT = textwrap.dedent('''
    import os, signal, sys, json
    import lightning as L
    import torch
    from torch import nn
    from torch.nn import functional as F
    from lstmkit.spine.engine import IndexData, TaskModule, fit_module, one_cycle

    mode, folder, hidden = sys.argv[1], sys.argv[2], int(sys.argv[3])
    extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    torch.manual_seed(0)
    X = torch.randn(60, 4)
    y = (X[:, 0] + X[:, 1] > 0).long()
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Dropout(0.3), nn.Linear(hidden, 2))

    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if mode == "kill" and trainer.global_step == 13:
                os.kill(os.getpid(), signal.SIGKILL)

    def collate(idx):
        return X[idx], y[idx]

    def loss(n, b):
        return F.cross_entropy(n(b[0]), b[1])

    module = TaskModule(net, loss, one_cycle("adamw", 1e-2))
    data = IndexData(60, collate, batch_size=8, seed=0, n_val=60, val_collate=collate)
    out = fit_module(module, data, seed=0, has_val=True, max_epochs=4, checkpoint_dir=folder,
                     checkpoint_every_n_steps=5, resume=mode == "resume", callbacks=[Kill()],
                     accelerator="cpu", fingerprint={"hidden": hidden}, **extra)
    if out.is_global_zero:
        print("RESULT", json.dumps({"steps": out.steps, "val": out.history.val,
                                     "w": float(net[0].weight.detach().double().sum())}))
''')


def _run(tmp_path, *args, env=None):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    run_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          env=run_env, timeout=300, cwd=tmp_path, check=False)


def _result(proc) -> dict:
    import json

    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout + proc.stderr
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    full = _result(_run(tmp_path, "full", tmp_path / "a", 8))
    killed = _run(tmp_path, "kill", tmp_path / "b", 8)
    assert killed.returncode == -9, killed.stderr  # a real SIGKILL, nothing cleaned up
    assert (tmp_path / "b" / "last.ckpt").is_file()
    assert not list((tmp_path / "b").glob(".*partial"))
    resumed = _run(tmp_path, "resume", tmp_path / "b", 8)
    assert "resumed from step 10 (epoch 1)" in resumed.stderr
    again = _result(resumed)
    assert again["steps"] == full["steps"] == 32  # 4 epochs of 8 batches
    # the same batches in the same order and the same dropout draws: the same numbers
    assert again["w"] == pytest.approx(full["w"], rel=1e-6)
    assert again["val"][-1] == pytest.approx(full["val"][-1], rel=1e-6)


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path):
    killed = _run(tmp_path, "kill", tmp_path / "b", 8)
    assert killed.returncode == -9
    other = _run(tmp_path, "resume", tmp_path / "b", 16)
    assert other.returncode != 0
    assert "cannot resume from" in other.stderr and "differs in: hidden" in other.stderr
    ckpt = torch.load(tmp_path / "b" / "last.ckpt", weights_only=False)
    shapes = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items()}
    shapes["net.0.weight"] = (3, 3)
    with pytest.raises(InputError, match="another network"):
        check_checkpoint(tmp_path / "b", None, shapes)


def test_resume_refuses_missing_or_broken_checkpoints(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        check_checkpoint(tmp_path / "nowhere", None, None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no last.ckpt"):
        check_checkpoint(tmp_path / "empty", None, None)
    (tmp_path / "empty" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        check_checkpoint(tmp_path / "empty", None, None)


def test_progress_off_a_terminal_is_lines_and_verbose_false_is_silent(tmp_path):
    out = _run(tmp_path, "full", tmp_path / "a", 8)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert any(ln.startswith("done: epoch 4/4 · step 32") for ln in lines), out.stderr
    assert "\r" not in out.stderr  # no redrawn bar in a log
    quiet = _run(tmp_path, "full", tmp_path / "q", 8, '{"verbose": false}')
    assert "done:" not in quiet.stderr and _result(quiet)["steps"] == 32


def test_keywords_are_split_and_unknown_ones_refused():
    mine, engine = split_keywords({"hidden_size": 8, "max_epochs": 3, "accelerator": "cpu", "verbose": False},
                                  {"hidden_size", "seed"}, "Thing")
    assert mine == {"hidden_size": 8}
    assert engine == {"max_epochs": 3, "accelerator": "cpu", "verbose": False}
    with pytest.raises(UnknownKeywordError, match="did you mean 'max_epochs'"):
        split_keywords({"max_epoch": 3}, {"hidden_size"}, "Thing")
    for every in ({"checkpoint_every_n_steps": 5}, {"checkpoint_every_seconds": 30.0}):
        with pytest.raises(InputError, match="give checkpoint_dir too"):
            split_keywords(every, (), "Thing")
        assert split_keywords({**every, "checkpoint_dir": "ck"}, (), "Thing")[1] == {**every, "checkpoint_dir": "ck"}


def test_ddp_on_two_cpu_processes(tmp_path):
    out = _run(tmp_path, "full", tmp_path / "d", 8,
               '{"strategy": "ddp", "devices": 2, "verbose": false}')
    assert out.returncode == 0, out.stderr[-2000:]
    result = _result(out)
    assert result["steps"] == 16  # each process takes half of every epoch's 8 batches
