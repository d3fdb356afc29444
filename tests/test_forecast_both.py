"""``smoothing="both"``: members that smooth per series ("es") alternate with members
that normalise the window ("profile"); the default on large seasonal data of short
series (config.py's rule)."""

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit import Forecaster
from lstmkit.forecasting.config import BOTH_SEASONS, ForecasterConfig, plan
from lstmkit.forecasting.network import ForecastNet, ForecastNetConfig


def many(n: int):
    return lambda L, val, pad, recent=0: n


def test_the_rule_picks_both_on_large_seasonal_sets_of_short_series():
    cfg = ForecasterConfig(18)
    # M1 monthly's shape: 617 series, median 66 points (5.5 seasons), tens of thousands of windows
    p = plan(cfg, 12, 30, many(30_000), n_median=66)
    assert p.smoothing == "both" and p.lookbacks == [36, 36]  # es: 3 seasons, profile: max(2m, 2H, 16)
    p = plan(ForecasterConfig(8), 4, 22, many(30_000), n_median=40)
    assert p.smoothing == "both" and p.lookbacks == [16, 16]
    # long series (Tourism: 25 seasons in the median series): window normalisation alone
    assert plan(cfg, 12, 67, many(30_000), n_median=BOTH_SEASONS * 12 + 1).smoothing == "profile"
    assert plan(cfg, 12, 67, many(30_000), n_median=BOTH_SEASONS * 12).smoothing == "both"
    assert plan(cfg, 1, 20, many(30_000), n_median=20).smoothing == "profile"  # no season
    assert plan(cfg, 12, 132, many(100), n_median=132).smoothing == "es"  # small data: one batch
    # an ensemble keeps the es, profile alternation; a set lookback gives each mode one member
    p = plan(ForecasterConfig(18, ensemble=2, smoothing="both"), 12, 200, many(30_000))
    assert p.lookbacks == [36, 36, 36, 36]
    assert plan(ForecasterConfig(18, lookback=[24, 30], smoothing="both"), 12, 200, many(30_000)).lookbacks \
        == [24, 24, 30, 30]


def test_members_alternate_and_take_their_own_damping():
    cfg = ForecastNetConfig(6, [24, 16, 24, 16], 2, [0.1, 0.5, 0.9], season_length=4, hidden_size=8,
                            num_layers=1, damping=[0.98, 0.9, 0.98, 0.9], smoothing="both", n_series=3)
    net = ForecastNet(cfg).eval()
    assert [m.es for m in net.members] == [True, False, True, False]
    assert [m.damping for m in net.members] == [0.98, 0.9, 0.98, 0.9]
    x = torch.randn(5, 24)
    feats = torch.cat([torch.randn(5, 30, 2), torch.zeros(5, 30, 2)], -1)  # series 0, phase 0
    y = net(x, feats)
    assert y.shape == (4, 5, 6, 3)
    # the forecast is the mean of the two middle members (an even number of them)
    mid = y.sort(0).values
    expect = ((mid[1] + mid[2]) / 2).sort(-1).values
    torch.testing.assert_close(net.predict(x, feats), expect)
    with pytest.raises(ValueError, match="one such per member"):
        ForecastNetConfig(6, [24, 16], 4, [0.5], season_length=4, damping=[0.9], smoothing="both", n_series=1)


def frame(n_series: int = 3, n: int = 48):
    rng = np.random.default_rng(1)
    parts = []
    for i in range(n_series):
        t = np.arange(n)
        y = 100 + 3 * i + 0.4 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n)
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2001-01-01", periods=n, freq="MS"),
                                   "y": y}))
    return pd.concat(parts, ignore_index=True)


def test_both_fits_predicts_and_round_trips(tmp_path):
    model = Forecaster(6, smoothing="both", hidden_size=8, max_epochs=2, seed=0, verbose=False).fit(frame())
    assert model.plan.smoothing == "both" and len(model.net.members) == 2
    assert model.series_ids == ["s0", "s1", "s2"]
    # the es member starts from each series' seasonal profile, the profile member has none
    assert model.net.members[0].es_season.abs().sum() > 0 and not hasattr(model.net.members[1], "es_season")
    fc = model.predict()
    assert len(fc) == 18 and np.isfinite(fc[["y_hat", "y_hat_q10", "y_hat_q90"]].to_numpy()).all()
    model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(Forecaster.load(tmp_path / "m").predict(), fc)
