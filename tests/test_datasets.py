"""The bundled series: shape, frequency, completeness and provenance."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pandas as pd
import pytest

from lstmkit.errors import InputError
from lstmkit.forecasting import datasets

EXPECTED = {  # name: (points, frequency, first timestamp)
    "airline": (144, "MS", "1949-01-01"),
    "electricity": (4032, "30min", "2000-06-05 00:00"),
    "weather": (1461, "D", "2012-01-01"),
    "stock": (1268, "B", "2013-01-02"),
    "sunspots": (309, "YS-JAN", "1700-01-01"),
    "co2": (525, "MS", "1958-04-01"),
}
SERIES_DIR = resources.files("lstmkit").joinpath("data", "files", "series")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loader_returns_a_complete_regular_series(name):
    n, freq, first = EXPECTED[name]
    s = datasets.load(name)
    assert len(s) == n
    assert s.index.freqstr == freq
    assert s.index[0] == pd.Timestamp(first)
    assert not s.isna().any()
    assert pd.infer_freq(s.index) is not None
    long = datasets.load(name, long=True)
    assert list(long.columns) == ["unique_id", "ds", "y"]
    assert len(long) == n and (long["unique_id"] == name).all()


def test_known_values():
    air = datasets.airline()
    assert air.iloc[0] == 112 and air.iloc[-1] == 432 and air.sum() == 40363
    assert datasets.electricity().iloc[0] == 22262
    assert datasets.weather("temp_min").iloc[0] == 5.0
    with pytest.raises(InputError, match="weather column"):
        datasets.weather("humidity")
    with pytest.raises(InputError, match="bundled data set"):
        datasets.load("nope")


def test_every_file_has_a_provenance_line_and_its_checksum():
    text = SERIES_DIR.joinpath("PROVENANCE.md").read_text(encoding="utf-8")
    sums = dict(re.findall(r"([0-9a-f]{64})\s+(\S+\.csv)", text))
    files = sorted(p.name for p in SERIES_DIR.iterdir() if p.name.endswith(".csv"))
    assert files and sorted(sums.values()) == files
    for digest, name in sums.items():
        assert f"| {name} |" in text, f"{name} has no row in the provenance table"
        assert hashlib.sha256(SERIES_DIR.joinpath(name).read_bytes()).hexdigest() == digest, name
