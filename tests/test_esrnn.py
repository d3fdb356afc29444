"""ES-RNN-style smoothing (``smoothing="es"``): the Holt-Winters equations on hand-checkable
windows, per-series parameters, the calendar phase, a real fit, save/load, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit.errors import InputError
from lstmkit.forecasting import Forecaster
from lstmkit.forecasting.forecaster import phases, seasonal_start
from lstmkit.forecasting.network import ForecastNet, ForecastNetConfig

BIG = 30.0  # a logit whose sigmoid is 1 (and -BIG: 0) to float precision


def es_net(L=4, H=3, m=2, S=2, F=0) -> ForecastNet:
    torch.manual_seed(0)
    return ForecastNet(ForecastNetConfig(H, [L], F, [0.5], m, hidden_size=4, num_layers=1,
                                         smoothing="es", n_series=S)).eval()


def meta(B, L, H, sid, phase):
    """The two trailing feats columns: series index and seasonal phase of each step."""
    s = torch.full((B, L + H, 1), float(sid))
    p = ((torch.arange(L + H) + phase) % 2).float()[None, :, None].expand(B, -1, -1)
    return torch.cat([s, p], dim=-1)


def set_params(member, alpha, gamma, season):
    with torch.no_grad():
        member.es_alpha.fill_(alpha)
        member.es_gamma.fill_(gamma)
        member.es_season.copy_(torch.as_tensor(season, dtype=torch.float32))


def test_level_and_season_recursion_by_hand():
    member = es_net().members[0]
    x = torch.tensor([[1.0, 3.0, 2.0, 5.0]])
    # alpha = 0.5 (logit 0), gamma = 0: indices stay at their start [0.5, -0.5]
    set_params(member, 0.0, -BIG, [[0.5, -0.5], [0.0, 0.0]])
    levels, used, future = member.smooth(x, torch.tensor([0]), torch.tensor([0]))
    # l1 = 1 - 0.5; l2 = .5 (3 + .5) + .5 l1; l3 = .5 (2 - .5) + .5 l2; l4 = .5 (5 + .5) + .5 l3
    l1 = 0.5
    l2 = 0.5 * 3.5 + 0.5 * l1
    l3 = 0.5 * 1.5 + 0.5 * l2
    l4 = 0.5 * 5.5 + 0.5 * l3
    torch.testing.assert_close(levels[0], torch.tensor([l1, l2, l3, l4]))
    torch.testing.assert_close(used[0], torch.tensor([0.5, -0.5, 0.5, -0.5]))
    torch.testing.assert_close(future[0], torch.tensor([0.5, -0.5, 0.5]))
    # phase 1 at the first step: the same indices, shifted by one
    _, used, _ = member.smooth(x, torch.tensor([0]), torch.tensor([1]))
    torch.testing.assert_close(used[0], torch.tensor([-0.5, 0.5, -0.5, 0.5]))


def test_alpha_one_level_is_the_last_deseasonalised_value_and_gamma_one_season_the_last_deviation():
    member = es_net().members[0]
    x = torch.tensor([[1.0, 3.0, 2.0, 5.0]])
    set_params(member, BIG, -BIG, [[0.5, -0.5], [0.0, 0.0]])
    levels, used, _ = member.smooth(x, torch.tensor([0]), torch.tensor([0]))
    torch.testing.assert_close(levels[0], x[0] - used[0])  # alpha = 1: l_t = x_t - s_t
    assert levels[0, -1].item() == pytest.approx(5.0 + 0.5)
    # gamma = 1 with alpha < 1: each index becomes the last deviation x_t - l_t of its phase
    set_params(member, 0.0, BIG, [[0.5, -0.5], [0.0, 0.0]])
    levels, _, future = member.smooth(x, torch.tensor([0]), torch.tensor([0]))
    dev = x[0] - levels[0]
    torch.testing.assert_close(future[0], torch.stack([dev[2], dev[3], dev[2]]))


def test_seasonal_indices_are_normalised_and_unseen_series_get_the_means():
    member = es_net(m=3).members[0]
    set_params(member, 0.0, 0.0, [[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    with torch.no_grad():
        member.es_alpha.copy_(torch.tensor([2.0, -2.0]))
    alpha, gamma, s0 = member.smoothing_params(torch.tensor([0, 1, -1]))
    torch.testing.assert_close(s0.sum(1), torch.zeros(3))  # in the original units: product 1
    torch.testing.assert_close(s0[0], torch.tensor([-2.0, -1.0, 3.0]))
    torch.testing.assert_close(alpha, torch.sigmoid(torch.tensor([2.0, -2.0, 0.0])))  # mean logit
    torch.testing.assert_close(s0[2], torch.tensor([-1.5, -1.0, 2.5]))  # mean indices, centred
    torch.testing.assert_close(gamma, torch.full((3,), 0.5))


def test_a_seasonal_window_at_a_constant_level_is_continued_exactly():
    # head, highway and level weight at zero: the forecast is the last level times the
    # seasonal indices (plus, on the log axis), the exact continuation of the series
    L, H = 6, 5
    model = es_net(L=L, H=H)
    member = model.members[0]
    with torch.no_grad():
        member.highway.weight.zero_()
        member.highway.bias.zero_()
    set_params(member, 0.0, 0.0, [[0.0, 0.0], [0.7, -0.7]])
    t = torch.arange(L + H)
    series = 4.0 + torch.where(t % 2 == 0, 0.7, -0.7)
    out = model(series[None, :L], meta(1, L, H, sid=1, phase=0))[0, 0, :, 0]
    torch.testing.assert_close(out, series[L:])


def test_without_deseasonalising_es_smooths_the_level_only():
    cfg = ForecastNetConfig(3, [4], 0, [0.5], 12, smoothing="es", n_series=1, deseasonalize=False)
    member = ForecastNet(cfg).members[0]
    assert member.es_season.shape == (1, 1)
    _, used, future = member.smooth(torch.randn(2, 4), torch.tensor([0, 0]), torch.tensor([3, 7]))
    assert not used.any() and not future.any()


def test_config_checks():
    with pytest.raises(ValueError, match="smoothing"):
        ForecastNetConfig(3, [4], 0, [0.5], 2, smoothing="holt")
    with pytest.raises(ValueError, match="n_series"):
        ForecastNetConfig(3, [4], 0, [0.5], 2, smoothing="es")
    with pytest.raises(InputError, match="smoothing"):
        Forecaster(3, smoothing="holt")


def test_phase_follows_the_calendar():
    months = pd.date_range("1999-11-01", periods=5, freq="MS")
    assert phases(months, "MS", 12).tolist() == [10, 11, 0, 1, 2]  # months since 1970
    quarters = pd.date_range("2000-01-01", periods=5, freq="QS")
    assert phases(quarters, "QS", 4).tolist() == [0, 1, 2, 3, 0]
    days = pd.date_range("2024-01-01", periods=8, freq="D")
    p = phases(days, "D", 7)
    assert p[0] == p[7] and len(set(p[:7].tolist())) == 7
    assert phases(months, "MS", 1).tolist() == [0] * 5


def test_seasonal_start_reads_the_profile_off_the_data():
    pattern = np.array([1.0, -1.0, 0.5, -0.5])
    z = np.tile(pattern, 6) + 0.01 * np.arange(24)
    start = seasonal_start(z, np.arange(24) % 4, 4)
    assert start.sum() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(start, pattern - pattern.mean(), atol=0.02)
    assert not seasonal_start(z[:7], np.arange(7) % 4, 4).any()  # under two seasons: zeros


def seasonal_frame(n=84):
    """Two multiplicative monthly series with trend: level x season x noise."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2000-01-01", periods=n, freq="MS")
    season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 12)
    frames = [pd.DataFrame({"unique_id": uid, "ds": ds,
                            "y": (base + slope * np.arange(n)) * season * np.exp(0.02 * rng.normal(size=n))})
              for uid, base, slope in (("a", 100.0, 1.0), ("b", 40.0, 0.2))]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def es_fitted():
    df = seasonal_frame()
    train = df.groupby("unique_id").head(72)
    model = Forecaster(12, smoothing="es", quantiles=[0.1, 0.9], max_epochs=120, hidden_size=16,
                       enable_progress_bar=False).fit(train)
    return model, df


def test_es_fit_learns_per_series_smoothing_and_forecasts(es_fitted):
    model, df = es_fitted
    assert model.series_ids == ["a", "b"] and model.plan.lookbacks == [36]  # three seasons
    member = model.net.members[0]
    assert member.es_alpha.shape == (2,) and member.es_season.shape == (2, 12)
    fc = model.predict()
    truth = df.groupby("unique_id").tail(12)["y"].to_numpy()
    mape = np.mean(np.abs(fc["y_hat"].to_numpy() / truth - 1))
    assert mape < 0.08, f"MAPE {mape:.3f} on a clean seasonal series"
    assert model.history.train[-1] < 0.5 * model.history.train[0]
    # a series unseen in training is forecast with the mean parameters
    new = df[df.unique_id == "a"].head(72).assign(unique_id="new")
    assert np.isfinite(model.predict(new)["y_hat"]).all()


def test_es_save_load_roundtrip_and_mismatch(es_fitted, tmp_path):
    model, df = es_fitted
    path = tmp_path / "es"
    model.save(path)
    loaded = Forecaster.load(path)
    assert loaded.series_ids == ["a", "b"] and loaded.config.smoothing == "es"
    pd.testing.assert_frame_equal(loaded.predict(), model.predict())
    hist = df.groupby("unique_id").head(60)
    pd.testing.assert_frame_equal(loaded.predict(hist), model.predict(hist))
    meta_json = json.loads((path / "config.json").read_text())
    meta_json["state"]["series_ids"] = ["a"]  # one series fewer than the weights have
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes((path / "model.safetensors").read_bytes())
    (bad / "config.json").write_text(json.dumps(meta_json))
    with pytest.raises(InputError, match="series"):
        Forecaster.load(bad)


def test_smoothing_rule_follows_the_number_of_windows():
    from lstmkit.forecasting.config import ForecasterConfig, plan

    def windows(n):  # n_windows_of for one series of n points, horizon 12
        return lambda L, val, pad: n + pad - val - L - 12 + 1

    small = plan(ForecasterConfig(12), 12, 132, windows(132))  # airline's training years
    assert (small.smoothing, small.lookbacks, small.num_layers) == ("es", [36], 1)
    large = plan(ForecasterConfig(12), 12, 400, lambda L, val, pad: 30_000)  # a competition set
    assert (large.smoothing, large.lookbacks) == ("profile", [24])
    assert plan(ForecasterConfig(12), 1, 132, windows(132)).smoothing == "profile"  # no season
    forced = plan(ForecasterConfig(12, smoothing="profile"), 12, 132, windows(132))
    assert (forced.smoothing, forced.lookbacks) == ("profile", [24])
    assert ForecasterConfig(12).damping_for(12, "es") == 0.98
    assert ForecasterConfig(12).damping_for(12, "profile") == 0.9
    assert ForecasterConfig(12).damping_for(1, "es") == 1.0  # no season: undamped by default
    assert ForecasterConfig(12, damping=0.5).damping_for(1, "es") == 0.5  # as set, with or without one


def test_a_model_saved_before_the_es_mode_still_loads(tmp_path):
    # a "profile" model whose config lacks every key the "es" mode added, as older
    # versions wrote it, loads and forecasts as saved
    df = seasonal_frame(60)
    model = Forecaster(6, smoothing="profile", max_epochs=2, hidden_size=8,
                       enable_progress_bar=False).fit(df)
    path = tmp_path / "old"
    model.save(path)
    meta_json = json.loads((path / "config.json").read_text())
    del meta_json["config"]["forecaster"]["smoothing"]
    del meta_json["config"]["net"]["smoothing"], meta_json["config"]["net"]["n_series"]
    del meta_json["state"]["plan"]["smoothing"], meta_json["state"]["series_ids"]
    (path / "config.json").write_text(json.dumps(meta_json))
    loaded = Forecaster.load(path)
    assert loaded.plan.smoothing == "profile" and loaded.config.smoothing == "profile"
    pd.testing.assert_frame_equal(loaded.predict(), model.predict())
