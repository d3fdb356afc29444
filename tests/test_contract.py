"""The estimator contract, the same for every task (lstmkit.spine.estimator): unknown
keywords refused at once, fit returns the estimator, save/load gives the same
predictions, evaluate returns a dict, ONNX export agrees with PyTorch, and the task's
``train`` command resumes after a real ``kill -9`` and ends at the step count of an
uninterrupted run; DDP on 2 CPU processes (one task in the default run, every task
with -m slow)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tests.contract_cases as cases_pkg
from lstmkit.errors import UnknownKeywordError
from lstmkit.spine.estimator import Estimator

NAMES = sorted(m.name for m in pkgutil.iter_modules(cases_pkg.__path__) if m.name != "case")
DDP_DEFAULT = "sequences"  # the task whose DDP run is in the default suite
# the tasks whose kill -9 and resume run is in the default suite (three processes each,
# 25-57 s); the others run under `make test-all`, the engine's own resume test covers them all
RESUME_DEFAULT = ("forecast", "textgen")


def _case(name: str):
    return importlib.import_module(f"tests.contract_cases.{name}").case()


def _same(case, a, b) -> bool:
    if case.same is not None:
        return case.same(a, b)
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=1e-5)


@pytest.fixture(scope="module", params=NAMES)
def fitted(request):
    case = _case(request.param)
    est = case.make(verbose=False)
    out = est.fit(*case.fit_args, **case.fit_kwargs)
    return case, est, out


def test_unknown_keyword_is_refused_naming_the_closest(fitted):
    case, _, _ = fitted
    bad, good = case.bad_keyword
    with pytest.raises(UnknownKeywordError, match=f"did you mean '{good}'"):
        case.make(**{bad: 1})


def test_fit_returns_the_estimator_and_evaluate_a_dict(fitted):
    case, est, out = fitted
    assert out is est and isinstance(est, Estimator)
    report = est.evaluate(*case.evaluate_args)
    assert isinstance(report, dict) and report
    assert est.TASK == case.task


def test_save_load_predicts_the_same(fitted, tmp_path):
    case, est, _ = fitted
    est.save(tmp_path / "model")
    again = type(est).load(tmp_path / "model")
    assert _same(case, est.predict(*case.predict_args), again.predict(*case.predict_args))
    from lstmkit.spine import estimator

    assert type(estimator.load(tmp_path / "model")) is type(est)


def test_onnx_export_agrees_with_pytorch(fitted, tmp_path):
    pytest.importorskip("onnxruntime")
    from lstmkit.export.api import check_model

    case, est, _ = fitted
    paths = est.export(tmp_path / "model.onnx")
    for path in paths if isinstance(paths, (list, tuple)) else [paths]:
        assert os.path.getsize(path) > 0
    assert check_model(est, paths) < case.onnx_tolerance


def _lstmkit(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "lstmkit.cli", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _final_step(stderr: str) -> int:
    found = re.findall(r"done: .*?step (\d+)", stderr)
    assert found, stderr[-3000:]
    return int(found[-1])


def _train_args(case, tmp_path, name: str) -> list:
    return [*case.train_cli(tmp_path), "--out", tmp_path / f"{name}-model", "--seed", 3, "--threads", 1]


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in RESUME_DEFAULT else pytest.mark.slow)
                                  for n in NAMES])
def test_train_resumes_after_kill_9(name, tmp_path):
    case = _case(name)
    if case.train_cli is None:
        pytest.skip(f"{name} has no train command")
    full = _lstmkit(_train_args(case, tmp_path, "full"))
    out, err = full.communicate(timeout=600)
    assert full.returncode == 0, err[-3000:]
    steps = _final_step(err)

    ckpt = tmp_path / "ckpt"
    run = _lstmkit([*_train_args(case, tmp_path, "killed"), "--checkpoint-dir", ckpt, "--checkpoint-every", 5])
    deadline = time.monotonic() + 300
    while not (ckpt / "last.ckpt").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before its first checkpoint: give the case more steps"
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not (tmp_path / "killed-model").exists()  # nothing half-written

    again = _lstmkit([*_train_args(case, tmp_path, "killed"), "--checkpoint-dir", ckpt, "--resume"])
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    assert re.search(r"resumed from step \d+", err), err[-3000:]
    assert _final_step(err) == steps
    assert (tmp_path / "killed-model" / "config.json").is_file()


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n == DDP_DEFAULT else pytest.mark.slow)
                                  for n in NAMES])
def test_train_runs_ddp_on_two_cpu_processes(name, tmp_path):
    case = _case(name)
    if case.train_cli is None:
        pytest.skip(f"{name} has no train command")
    run = _lstmkit([*_train_args(case, tmp_path, "ddp"), "--accelerator", "cpu", "--strategy", "ddp",
                    "--devices", 2])
    out, err = run.communicate(timeout=900)
    assert run.returncode == 0, err[-3000:]
    assert (tmp_path / "ddp-model" / "config.json").is_file()
