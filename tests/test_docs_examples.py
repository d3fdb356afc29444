"""The examples in README.md and docs/**/*.md run, so they cannot rot.

Every ```python block runs, the blocks of one page in order in one fresh namespace, in a
temporary working directory, after ``torch.manual_seed(0)``. A block is skipped when the
HTML comments right before its fence include ``<!-- not-run: reason -->`` (a fragment, or one that needs
something the suite does not have); a block preceded by ``<!-- slow -->`` runs only in the
page's slow case (``pytest -m slow``), so the fast blocks of a page must not need it.
Blocks meant as shell or output use ```bash or ```text and are not collected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python\s*$")
MARK = re.compile(r"^<!--\s*(not-run|slow)\s*(?::\s*(.*?))?\s*-->\s*$")


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    code: str
    mark: str | None  # None, "slow" or "not-run"
    reason: str


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The ```python blocks of one Markdown file, with the mark before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            m = None  # the mark may sit among other HTML comments right before the fence
            for s in reversed(lines[:i]):
                s = s.strip()
                if not s:
                    continue
                if not s.startswith("<!--"):
                    break
                m = m or MARK.match(s)
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            assert end is not None, f"{path.name}:{i + 1}: a ```python block is never closed"
            out.append(Block(str(path.relative_to(ROOT)), i + 1, "\n".join(lines[i + 1:end]),
                             m.group(1) if m else None, (m.group(2) or "") if m else ""))
            i = end
        i += 1
    return out


ALL = {str(p.relative_to(ROOT)): blocks(p) for p in pages()}


def _cases():
    for page, bs in ALL.items():
        if any(b.mark is None for b in bs):
            yield pytest.param(page, False, id=page)
        if any(b.mark == "slow" for b in bs):
            yield pytest.param(page, True, id=f"{page}[slow]", marks=pytest.mark.slow)


def run_page(page: str, with_slow: bool) -> int:
    """Run the page's blocks in order in one namespace; returns how many ran."""
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for b in ALL[page]:
        if b.mark == "not-run" or (b.mark == "slow" and not with_slow):
            continue
        code = compile(b.code, f"{page}:{b.line}", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation's own examples
        ran += 1
    return ran


@pytest.mark.parametrize(("page", "with_slow"), list(_cases()))
def test_docs_examples_run(page, with_slow, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    torch.manual_seed(0)
    assert run_page(page, with_slow) > 0


def test_every_skipped_block_says_why():
    skipped = [b for bs in ALL.values() for b in bs if b.mark == "not-run"]
    missing = [f"{b.page}:{b.line}" for b in skipped if not b.reason]
    assert not missing, f"<!-- not-run: reason --> without a reason at {missing}"


def test_examples_exist_and_few_are_skipped():
    every = [b for bs in ALL.values() for b in bs]
    skipped = [b for b in every if b.mark == "not-run"]
    assert len(every) >= 10, f"only {len(every)} python examples in README.md and docs/"
    assert len(skipped) * 4 <= len(every), (
        f"{len(skipped)} of {len(every)} python examples are marked not-run: "
        "make them runnable or write them as ```text")
