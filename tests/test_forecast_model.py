"""The forecasting network: shapes, window normalisation, seasonal profile, loss."""

from __future__ import annotations

import pytest
import torch

from lstmkit.errors import InputError
from lstmkit.forecasting.network import ForecastNet, ForecastNetConfig, pinball_loss
from lstmkit.layers import LSTM


def net(lookbacks=(24,), H=6, F=2, quantiles=(0.1, 0.5, 0.9), m=12, **kw) -> ForecastNet:
    torch.manual_seed(0)
    return ForecastNet(ForecastNetConfig(H, list(lookbacks), F, list(quantiles), m, hidden_size=8,
                                         num_layers=1, **kw)).eval()


def test_shapes_and_uses_lstmkit_layers():
    model = net(lookbacks=(24, 16))
    x, f = torch.randn(5, 24), torch.randn(5, 30, 2)
    assert model(x, f).shape == (2, 5, 6, 3)  # members, batch, horizon, quantiles
    out = model.predict(x, f)
    assert out.shape == (5, 6, 3)
    assert torch.all(out[..., 1:] >= out[..., :-1])  # quantiles never cross
    assert all(isinstance(m.rnn, LSTM) for m in model.members)


def test_window_normalisation_makes_the_forecast_follow_level_and_scale():
    # without known features (which act on the series' own scale) the forecast of
    # a * x + b is a * forecast(x) + b: only the window's shape matters
    model = net(F=0)
    with torch.no_grad():  # give the head something to say, so this is not trivial
        for p in model.members[0].head.parameters():
            p.normal_(0, 0.3)
    x, f = torch.randn(4, 24), torch.randn(4, 30, 0)
    base = model(x, f)
    moved = model(3.0 * x + 50.0, f)
    torch.testing.assert_close(moved, 3.0 * base + 50.0, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("L", [24, 30, 12])
def test_seasonal_profile_continues_a_periodic_window_exactly(L):
    # with the highway and the head at zero (and no known features), the forecast is the window mean
    # plus the seasonal profile: for a periodic input, its exact continuation
    model = net(lookbacks=(L,), H=18, F=0, quantiles=(0.5,))
    with torch.no_grad():
        model.members[0].highway.weight.zero_()
        model.members[0].highway.bias.zero_()
    pattern = torch.tensor([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0])
    t = torch.arange(L + 18) + 7  # any phase
    series = pattern[t % 12]
    out = model(series[None, :L], torch.zeros(1, L + 18, 0))[0, 0, :, 0]
    torch.testing.assert_close(out, series[L:], rtol=1e-4, atol=1e-4)


def test_adaptive_season_starts_as_one_weight_and_keeps_more_of_a_strong_profile():
    plain, adaptive = net(F=0), net(F=0, adaptive_season=True)
    adaptive.load_state_dict(plain.state_dict(), strict=False)  # a config saved before it lacks the slope
    assert plain.members[0].season_slope is None
    x, f = torch.randn(4, 24), torch.zeros(4, 30, 0)
    torch.testing.assert_close(adaptive(x, f), plain(x, f))  # slope 0: the same network
    # a window that is all season: the profile's share of its variance is 1
    pattern = torch.tensor([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0])
    strong = pattern.repeat(2)[None]
    member = adaptive.members[0]
    with torch.no_grad():
        member.season_weight.fill_(0.5)
        member.season_slope.fill_(0.5)
        member.highway.weight.zero_()
        member.highway.bias.zero_()
        out = adaptive(strong, torch.zeros(1, 30, 0))[0, 0, :, 1]
        # it keeps all of its profile (0.5 + 0.5 x 1): its exact continuation; with the
        # weight alone (no slope) it would keep half
        torch.testing.assert_close(out, pattern[:6], rtol=1e-4, atol=1e-4)
        member.season_slope.zero_()
        half = adaptive(strong, torch.zeros(1, 30, 0))[0, 0, :, 1]
        torch.testing.assert_close(half, strong.mean() + 0.5 * (pattern[:6] - strong.mean()), rtol=1e-4, atol=1e-4)


def test_no_deseasonalising_for_short_windows_or_when_off():
    assert not net(lookbacks=(8,)).members[0].seasonal  # shorter than one season
    assert not net(deseasonalize=False).members[0].seasonal
    assert not net(m=1).members[0].seasonal


def test_pinball_loss_is_mae_at_the_median():
    pred, target = torch.randn(2, 4, 3, 1), torch.randn(4, 3)
    loss = pinball_loss(pred, target, torch.tensor([0.5]))
    torch.testing.assert_close(loss, (pred[..., 0] - target).abs().mean())


def test_config_checks():
    with pytest.raises(ValueError, match="median"):
        ForecastNetConfig(3, [8], 0, [0.1, 0.9])
    with pytest.raises(ValueError, match="cell"):
        ForecastNetConfig(3, [8], 0, [0.5], cell="tcn")
    with pytest.raises(InputError, match="cell_options"):
        ForecastNet(ForecastNetConfig(3, [8], 0, [0.5], cell_options={"no_such_option": 1}))


def test_known_features_act_on_their_own_step():
    model = net(lookbacks=(12,), H=4, F=1, quantiles=(0.5,), m=1, n_covariates=1)
    with torch.no_grad():
        for p in model.members[0].parameters():
            p.zero_()
        model.members[0].step_effect.weight.fill_(2.0)
    x = torch.full((1, 12), 5.0)
    f = torch.zeros(1, 16, 1)
    f[0, 12 + 2, 0] = 1.0  # a promotion on the third forecast step
    f[0, 3, 0] = 1.0  # and one in the past, whose effect must not leak into the level
    x[0, 3] += 2.0
    out = model(x, f)[0, 0, :, 0]
    torch.testing.assert_close(out, torch.tensor([5.0, 5.0, 7.0, 5.0]))


def test_damping_levels_off_the_forecast_path_at_predict_time_only():
    plain, damped = net(), net(damping=0.5)
    damped.load_state_dict(plain.state_dict())
    with torch.no_grad():  # a strong trend from the highway: every step one unit up
        for model in (plain, damped):
            member = model.members[0]
            member.highway.weight.zero_()
            member.highway.bias.copy_(torch.arange(1.0, 7.0))
            member.season_weight.zero_()
    x, f = torch.randn(3, 24), torch.randn(3, 30, 2)
    a, b = plain.predict(x, f), damped.predict(x, f)
    torch.testing.assert_close(a[:, 0], b[:, 0])  # the first step is kept
    sd = torch.sqrt(x.var(1, unbiased=False) + 1e-4)[:, None]
    steps = (b[:, 1:, 1] - b[:, :-1, 1]) / sd  # median path, in window units
    torch.testing.assert_close(steps, 0.5 ** torch.arange(1.0, 6.0).expand(3, 5), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(b[..., 2] - b[..., 1], a[..., 2] - a[..., 1])  # bands move with it
    plain.train(), damped.train()
    for model in (plain, damped):
        model.members[0].drop.p = 0.0
    torch.testing.assert_close(plain(x, f), damped(x, f))  # training sees the undamped path
