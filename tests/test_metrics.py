"""lstmkit.forecasting.metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmkit.errors import InputError
from lstmkit.forecasting import metrics

Y = np.array([10.0, 20.0, 30.0, 40.0])
F = np.array([12.0, 18.0, 33.0, 40.0])  # errors -2, 2, -3, 0


def test_point_metrics_by_hand():
    assert metrics.mae(Y, F) == pytest.approx(7 / 4)
    assert metrics.rmse(Y, F) == pytest.approx(math.sqrt((4 + 4 + 9 + 0) / 4))
    assert metrics.mape(Y, F) == pytest.approx(100 * (0.2 + 0.1 + 0.1 + 0) / 4)
    # sMAPE = mean 200|e| / (|y| + |y_hat|)
    expected = np.mean([200 * 2 / 22, 200 * 2 / 38, 200 * 3 / 63, 0.0])
    assert metrics.smape(Y, F) == pytest.approx(expected)


def test_smape_range_and_zero_over_zero():
    assert metrics.smape([0.0, 0.0], [0.0, 0.0]) == 0.0  # a perfect forecast of zeros
    assert metrics.smape([1.0], [-1.0]) == pytest.approx(200.0)  # the maximum
    assert metrics.smape([0.0], [5.0]) == pytest.approx(200.0)


def test_mape_undefined_at_zero():
    assert math.isnan(metrics.mape([0.0, 1.0], [1.0, 1.0]))


def test_mase_uses_the_seasonal_insample_scale():
    history = np.array([1.0, 2.0, 3.0, 5.0, 7.0, 9.0])  # lag-3 differences: 4, 5, 6
    assert metrics.mase_scale(history, 3) == pytest.approx(5.0)
    assert metrics.mase(Y, F, history, 3) == pytest.approx((7 / 4) / 5.0)
    # lag 1: differences 1, 1, 2, 2, 2
    assert metrics.mase(Y, F, history, 1) == pytest.approx((7 / 4) / 1.6)
    # a history shorter than a season plus one falls back to lag 1
    assert metrics.mase_scale([1.0, 3.0], 12) == pytest.approx(2.0)
    assert math.isnan(metrics.mase(Y, F, [4.0, 4.0, 4.0], 1))


def test_seasonal_naive_scores_mase_one_on_a_repeating_pattern_plus_shift():
    season = np.array([1.0, 5.0, 3.0, 2.0])
    history = np.concatenate([season, season + 1, season + 2])  # each season 1 higher
    future = season + 3
    snaive = history[-4:]
    assert metrics.mase(future, snaive, history, 4) == pytest.approx(1.0)


def test_coverage_and_pinball():
    assert metrics.coverage(Y, Y - 1, Y + 1) == 1.0
    assert metrics.coverage(Y, F - 1, F + 1) == pytest.approx(0.25)  # only the exact point
    # q = 0.9: under-forecast by 2 costs 0.9 * 2, over-forecast by 2 costs 0.1 * 2
    assert metrics.pinball([10.0, 10.0], [8.0, 12.0], 0.9) == pytest.approx((1.8 + 0.2) / 2)
    assert metrics.pinball(Y, F, 0.5) == pytest.approx(metrics.mae(Y, F) / 2)


@pytest.mark.parametrize("call", [
    lambda: metrics.mae([1.0, 2.0], [1.0]),
    lambda: metrics.mae([], []),
    lambda: metrics.pinball([1.0], [1.0], 1.5),
    lambda: metrics.mase_scale([1.0], 1),
])
def test_bad_input_is_an_input_error(call):
    with pytest.raises(InputError, match="expected"):
        call()
