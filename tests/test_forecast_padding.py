"""Series shorter than the derived lookback: the lookback is not cut to the shortest
series; the plan makes up the missing steps in front of every series instead
(``plan.pad``, :func:`lstmkit.forecasting.frame.pad_front`), and marks them."""

import numpy as np
import pandas as pd
import pytest

from lstmkit import Forecaster
from lstmkit.errors import InputError
from lstmkit.forecasting.config import ForecasterConfig, plan
from lstmkit.forecasting.frame import pad_front
from lstmkit.forecasting.windows import count_windows


def windows(lengths, H):
    return lambda L, val, pad, recent=0: count_windows(np.asarray(lengths) + pad, L, H, val, recent)


def test_the_derived_lookback_is_not_cut_to_the_shortest_series():
    lengths = [10, 40, 60]  # quarterly, horizon 8: the shortest leaves 2 points before its horizon
    p = plan(ForecasterConfig(8), 4, min(lengths), windows(lengths, 8))
    assert p.lookbacks == [16] and p.pad == 14
    long = plan(ForecasterConfig(8), 4, 40, windows([40, 60], 8))
    assert long.lookbacks == [16] and long.pad == 0  # every series feeds the lookback: nothing made up
    with pytest.raises(InputError, match="lookback \\+ horizon = 16 \\+ 8 = 24"):
        plan(ForecasterConfig(8, lookback=16), 4, 10, windows(lengths, 8))  # a set lookback is not padded
    with pytest.raises(InputError, match="1 \\+ horizon = 1 \\+ 8 = 9"):
        plan(ForecasterConfig(8), 4, 8, windows([8, 40], 8))  # nothing before the horizon


def test_pad_front_repeats_the_first_season_at_its_phases():
    ds = pd.date_range("2001-01-01", periods=6, freq="MS")
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    x = np.arange(12.0).reshape(6, 2)
    d2, y2, x2, seen = pad_front(ds, y, x, 5, "MS", 3)
    assert list(y2) == [2.0, 3.0, 1.0, 2.0, 3.0, *y]  # step -k has the phase of step 3j - k
    assert (x2[:5] == x[0]).all() and (x2[5:] == x).all()
    assert list(seen) == [0] * 5 + [1] * 6
    assert d2[0] == pd.Timestamp("2000-08-01") and d2.freqstr == ds.freqstr and d2[5:].equals(ds)
    _, y3, _, _ = pad_front(ds[:2], y[:2], x[:2], 3, "MS", 3)  # shorter than a season: its first value
    assert list(y3) == [1.0, 1.0, 1.0, 1.0, 2.0]


def short_and_long(n_short: int = 12):
    rng = np.random.default_rng(0)
    frames = []
    for uid, n in (("long", 60), ("short", n_short)):
        t = np.arange(n)
        y = 50 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 1, n)
        frames.append(pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2000-01-01", periods=n, freq="QS"),
                                    "y": y}))
    return pd.concat(frames, ignore_index=True)


def test_a_short_series_is_fitted_and_forecast_with_the_full_lookback(tmp_path):
    df = short_and_long()
    model = Forecaster(8, hidden_size=8, max_epochs=3, seed=0, verbose=False).fit(df)
    assert model.plan.lookbacks == [16] and model.plan.pad == 12
    fc = model.predict()
    assert len(fc) == 16 and np.isfinite(fc["y_hat"]).all()
    assert model.min_predict_length() == 4
    # a new series between L - pad and L points is padded at predict time too
    new = short_and_long(6).query("unique_id == 'short'").assign(unique_id="new")
    assert len(model.predict(new)) == 8
    with pytest.raises(InputError, match="has 3 points: expected at least the lookback 16 less the 12 steps made up, 4"):
        model.predict(new.head(3))
    model.save(tmp_path / "m")
    back = Forecaster.load(tmp_path / "m")
    assert back.plan.pad == 12
    pd.testing.assert_frame_equal(back.predict(), fc)


def test_the_made_up_steps_are_a_feature_the_network_sees():
    model = Forecaster(8, hidden_size=8, max_epochs=1, seed=0, verbose=False).fit(short_and_long())
    plain = Forecaster(8, hidden_size=8, max_epochs=1, seed=0, verbose=False).fit(short_and_long(40))
    assert plain.plan.pad == 0
    # one more input feature (observed or made up) when the plan pads
    assert model.net.cfg.n_features == plain.net.cfg.n_features + 1
