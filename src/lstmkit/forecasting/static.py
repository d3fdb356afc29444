"""Static covariates: per-series values, numeric (standardised over the series) or
categorical (an index into a learned embedding of the network).

The kind of each column is given (``static_covariates={"size": "numeric", "region":
"categorical"}``) or, for a list of names, inferred from the values: float columns are
numeric, integer, boolean and text columns categorical. Categories are kept as text
(``1`` and ``"1"`` are one category). A category not seen in training is an InputError
at predict time naming the category and the series: the network has no embedding for it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from lstmkit.errors import InputError


def embedding_size(levels: int) -> int:
    """The embedding width of a categorical column: ``levels`` categories, at least 1 and
    at most 4 wide."""
    return max(1, min(4, levels))


def _infer(values: list) -> str:
    is_float = all(isinstance(v, float) for v in values)
    return "numeric" if is_float else "categorical"


@dataclass
class StaticEncoding:
    """What fitting learned of the static columns (JSON-able): each column's kind, the
    numeric columns' mean and std over the training series, the categorical columns'
    categories in index order.

    Attributes:
        names: the static columns.
        kinds: ``"numeric"`` or ``"categorical"`` per column.
        mean: per numeric column, in ``names`` order.
        std: per numeric column (1 for a constant one).
        levels: per categorical column, its categories in index order.
    """

    names: list[str]
    kinds: list[str]
    mean: list[float]  # per numeric column, in ``names`` order
    std: list[float]
    levels: list[list[str]]  # per categorical column, in ``names`` order

    @property
    def numeric(self) -> list[int]:
        """Positions in ``names`` of the numeric columns."""
        return [j for j, k in enumerate(self.kinds) if k == "numeric"]

    @property
    def categorical(self) -> list[int]:
        """Positions in ``names`` of the categorical columns."""
        return [j for j, k in enumerate(self.kinds) if k == "categorical"]

    @classmethod
    def fit(cls, names: list[str], spec, values: list[list]) -> StaticEncoding:
        """``values[i]`` holds series i's value of each of ``names``; ``spec`` is the
        Forecaster's ``static_covariates`` (a list of names or a dict name -> kind)."""
        kinds = [spec[n] if isinstance(spec, dict) else _infer([v[j] for v in values])
                 for j, n in enumerate(names)]
        enc = cls(list(names), kinds, [], [], [])
        for j, (n, k) in enumerate(zip(names, kinds)):
            col = [v[j] for v in values]
            if k == "numeric":
                num = np.array([_number(n, v) for v in col])
                sd = float(num.std())
                enc.mean.append(float(num.mean()))
                enc.std.append(sd if sd > 1e-8 else 1.0)
            else:
                enc.levels.append(sorted({str(v) for v in col}))
        return enc

    def encode(self, ids: list[str], values: list[list]) -> tuple[np.ndarray, np.ndarray]:
        """Series ``ids`` with static ``values`` -> the scaled numeric columns (S, n_numeric)
        float32 and the category indices (S, n_categorical) int64; InputError naming the
        series and the category where a category was not seen in training."""
        num = np.zeros((len(ids), len(self.numeric)), dtype=np.float32)
        cat = np.zeros((len(ids), len(self.categorical)), dtype=np.int64)
        for i, (uid, row) in enumerate(zip(ids, values)):
            for k, j in enumerate(self.numeric):
                num[i, k] = (_number(self.names[j], row[j]) - self.mean[k]) / self.std[k]
            for k, j in enumerate(self.categorical):
                key = str(row[j])
                if key not in self.levels[k]:
                    shown = ", ".join(map(repr, self.levels[k][:5])) + (" ..." if len(self.levels[k]) > 5 else "")
                    raise InputError(f"series {uid!r}: unknown category {key!r} of static covariate "
                                     f"{self.names[j]!r}; the model was trained on {shown}")
                cat[i, k] = self.levels[k].index(key)
        return num, cat

    def to_dict(self) -> dict:
        """The encoding as JSON-able values, read back by :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StaticEncoding:
        """The encoding written by :meth:`to_dict`."""
        return cls(list(d["names"]), list(d["kinds"]), list(d["mean"]), list(d["std"]),
                   [list(v) for v in d["levels"]])


def _number(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"expected a number in numeric static covariate {name!r}, found {v!r}")
    if not math.isfinite(v):
        raise InputError(f"expected a finite number in numeric static covariate {name!r}, found {v!r}")
    return float(v)
