"""Every public class and function of lstmkit has a docstring (the API reference of the
docs site is generated from them, docs/api/)."""

from __future__ import annotations

import ast
from pathlib import Path

import lstmkit

ROOT = Path(lstmkit.__file__).parent


def _is_kernel(node) -> bool:
    """A ``@triton.jit`` kernel: its body is compiled by Triton, documented in its module."""
    return any("jit" in ast.unparse(d) for d in node.decorator_list)


def _public_definitions():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if any(part.startswith("_") and part != "__init__.py" for part in rel.parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                yield f"{rel}:{node.name}", node


def test_every_public_module_level_definition_has_a_docstring():
    missing = [name for name, node in _public_definitions()
               if ast.get_docstring(node) is None and not _is_kernel(node)]
    assert not missing, f"public definitions without a docstring: {missing}"


def test_the_main_classes_carry_an_example():
    """The classes a user starts from show a call that runs (doctest, tests/test_doctests.py)."""
    main = [lstmkit.LSTM, lstmkit.GRU, lstmkit.RNN, lstmkit.LSTMCell, lstmkit.sLSTM, lstmkit.mLSTM,
            lstmkit.ConvLSTM, lstmkit.Forecaster, lstmkit.TextGenerator, lstmkit.TextClassifier,
            lstmkit.SequenceClassifier, lstmkit.SpeechRecognizer, lstmkit.Seq2Seq,
            lstmkit.Translator, lstmkit.VideoPredictor, lstmkit.VideoClassifier]
    without = [k.__name__ for k in main if ">>>" not in (k.__doc__ or "")]
    assert not without, f"main classes without a >>> example: {without}"
