"""The forecaster on the airline series: a small network, a few epochs."""

from __future__ import annotations

import numpy as np

from tests.contract_cases.case import Case


def _frame():
    from lstmkit.forecasting.datasets import airline

    s = airline()
    return s.rename("y").rename_axis("ds").reset_index()


def _train_cli(tmp_path):
    csv = tmp_path / "airline.csv"
    if not csv.exists():
        _frame().to_csv(csv, index=False)
    # full-batch steps: one step per epoch, 60 of them
    return ["forecast", "train", "--data", csv, "--horizon", 12, "--max-epochs", 60, "--hidden-size", 8,
            "--quantiles", ""]


def _same(a, b) -> bool:
    return a.columns.tolist() == b.columns.tolist() and np.allclose(a["y_hat"], b["y_hat"], atol=1e-5)


def case() -> Case:
    frame = _frame()
    from lstmkit import Forecaster

    return Case(
        task="forecast",
        make=lambda **kw: Forecaster(12, hidden_size=8, max_epochs=5, quantiles=[0.1, 0.9], **kw),
        fit_args=(frame,),
        predict_args=(),
        evaluate_args=(frame,),
        train_cli=_train_cli,
        same=_same,
    )
