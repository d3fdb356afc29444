"""Time-series forecasting: :class:`Forecaster` (a global LSTM, direct multi-horizon),
rolling-origin :func:`backtest` and plots. Baselines with the same API live in
:mod:`lstmkit.baselines`, metrics in :mod:`lstmkit.metrics`, data in :mod:`lstmkit.datasets`."""

from lstmkit.forecasting.backtest import BacktestResult, backtest, compare
from lstmkit.forecasting.forecaster import Forecaster

__all__ = ["BacktestResult", "Forecaster", "backtest", "compare"]
