"""The documentation site builds with ``mkdocs build --strict`` (``make docs``): a broken
internal link, a missing page in the nav or an API reference to a name that does not exist
fails it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mkdocs() -> str | None:
    here = Path(sys.executable).with_name("mkdocs")
    return str(here) if here.exists() else shutil.which("mkdocs")


def test_site_builds_strict(tmp_path):
    mkdocs = _mkdocs()
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (the docs extra: pip install -e '.[docs]')")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(site)], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-6000:]}"
    for page in ("index.html", "lstm.html", "backends.html", "api/layers.html"):
        assert (site / page).is_file(), f"{page} missing from the built site"
    api = (site / "api" / "layers.html").read_text(encoding="utf-8")
    assert 'id="lstmkit.LSTM"' in api, "the API reference did not render lstmkit.LSTM"
