"""Time-series forecasting: :class:`Forecaster` (a global LSTM, direct multi-horizon),
rolling-origin :func:`backtest` and plots. Baselines with the same API live in
:mod:`lstmkit.forecasting.baselines`, metrics in :mod:`lstmkit.forecasting.metrics`, data
in :mod:`lstmkit.forecasting.datasets`; the network in :mod:`lstmkit.forecasting.network`
and the ``lstmkit forecast`` command in :mod:`lstmkit.forecasting.cli`."""

from lstmkit.forecasting.backtest import BacktestResult, backtest, compare
from lstmkit.forecasting.forecaster import Forecaster

__all__ = ["BacktestResult", "Forecaster", "backtest", "compare"]
