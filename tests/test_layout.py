"""The package layout: one folder per task, shared code in lstmkit.spine, and no task
importing another (checked on the source with ast, so nothing is imported here)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lstmkit

PACKAGE = Path(lstmkit.__file__).resolve().parent
TASKS = ("forecasting", "textgen", "classify", "sequences", "speech", "seq2seq", "video",
         "experiments")


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every lstmkit module that ``path`` imports, at any depth (also
    inside functions); ``from lstmkit import x`` counts as ``lstmkit.x``."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "lstmkit"]


def _task_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in TASKS else None


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("task", TASKS)
def test_no_task_imports_another(task):
    assert (PACKAGE / task).is_dir(), f"task folder src/lstmkit/{task} is missing"
    bad = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in _modules(task)
        for line, name in _imported(path)
        if _task_of(name) not in (None, task)
    ]
    assert not bad, "a task imports another task:\n" + "\n".join(bad)


def test_the_spine_imports_no_task():
    bad = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in _modules("spine")
        for line, name in _imported(path)
        if _task_of(name)
    ]
    assert not bad, "the spine imports a task:\n" + "\n".join(bad)


@pytest.mark.parametrize("old", ["tasks", "text", "models"])
def test_old_folders_are_gone(old):
    assert not (PACKAGE / old).exists(), f"src/lstmkit/{old} should not exist (see lstmkit.spine)"


def test_every_task_has_a_cli_module_the_command_lists():
    from lstmkit.cli import _COMMANDS

    for task in TASKS:
        assert (PACKAGE / task / "cli.py").is_file(), f"src/lstmkit/{task}/cli.py is missing"
        assert f"lstmkit.{task}.cli" in _COMMANDS, f"lstmkit.cli does not list lstmkit.{task}.cli"


def test_the_io_attribute_is_the_spines():
    from lstmkit.spine import io

    assert lstmkit.io is io
