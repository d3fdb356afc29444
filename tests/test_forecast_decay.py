"""Weight decay: 1e-2 below DECAY_FREE_WINDOWS training windows, none from there on
(config.py's rule); ``weight_decay`` sets it."""

import json

import numpy as np
import pandas as pd
import pytest

from lstmkit import Forecaster
from lstmkit.errors import InputError
from lstmkit.forecasting.config import DECAY_FREE_WINDOWS, WEIGHT_DECAY, ForecasterConfig, plan


def windows(n: int):
    return lambda L, val, pad, recent=0: n


def test_the_rule_turns_the_decay_off_on_many_windows():
    assert plan(ForecasterConfig(8), 4, 60, windows(DECAY_FREE_WINDOWS - 1), n_series=300).weight_decay == WEIGHT_DECAY
    assert plan(ForecasterConfig(8), 4, 60, windows(DECAY_FREE_WINDOWS), n_series=300).weight_decay == 0.0
    assert plan(ForecasterConfig(8), 1, 60, windows(97)).weight_decay == WEIGHT_DECAY  # one short series
    set_ = ForecasterConfig(8, weight_decay=0.05)
    assert plan(set_, 4, 60, windows(10 * DECAY_FREE_WINDOWS), n_series=300).weight_decay == 0.05
    with pytest.raises(InputError, match="weight_decay as a number >= 0"):
        ForecasterConfig(8, weight_decay=-1.0)


def seasonal(n_series: int, n: int = 48) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2000-01-01", periods=n, freq="MS"),
                                    "y": 50 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n)})
                      for i in range(n_series)], ignore_index=True)


def test_the_fit_uses_the_plans_decay_and_a_saved_model_keeps_it(tmp_path, monkeypatch):
    import lstmkit.forecasting.module as mmod

    seen = []

    class Recording(mmod.WindowModule):
        def __init__(self, *args, **kwargs):
            seen.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(mmod, "WindowModule", Recording)
    model = Forecaster(12, hidden_size=8, max_steps=1, calibration=0, verbose=False).fit(seasonal(3))
    assert model.plan.weight_decay == WEIGHT_DECAY and seen[-1][3] == WEIGHT_DECAY  # 3 series: few windows
    model.save(tmp_path / "m")
    assert Forecaster.load(tmp_path / "m").plan.weight_decay == WEIGHT_DECAY
    # a model saved before the rule (no decay in its plan) takes its config's
    path = tmp_path / "m" / "config.json"
    meta = json.loads(path.read_text())
    del meta["state"]["plan"]["weight_decay"]
    meta["config"]["forecaster"]["weight_decay"] = 0.05
    path.write_text(json.dumps(meta))
    assert Forecaster.load(tmp_path / "m").plan.weight_decay == 0.05
