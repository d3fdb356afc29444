"""The ``>>>`` examples in lstmkit's docstrings run (doctest), so they cannot rot.

Every module of ``src/lstmkit`` is imported and its docstrings' examples run in a
temporary working directory after ``torch.manual_seed(0)``, with ELLIPSIS and
NORMALIZE_WHITESPACE. A module whose optional dependency is missing is skipped, naming it.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import lstmkit


def _module_names() -> list[str]:
    names = ["lstmkit"]
    for info in pkgutil.walk_packages(lstmkit.__path__, "lstmkit.", onerror=lambda name: None):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            names.append(info.name)
    return sorted(names)


MODULES = _module_names()
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        pytest.skip(f"{name} needs {e.name}, which is not installed")
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name)
             if t.examples]
    if not tests:
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in tests:
        torch.manual_seed(0)
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name} (output above)"


def test_modules_are_found():
    assert "lstmkit.layers" in MODULES and len(MODULES) > 50
