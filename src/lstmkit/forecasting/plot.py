"""Plot history, forecast and interval to a PNG (matplotlib, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.forecasting.frame import DS, ID, Y, quantile_column
from lstmkit.spine.figures import save_png
from lstmkit.spine.io import atomic_write

MAX_PANELS = 4


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, path: str | os.PathLike,
                  quantiles: list[float] = (), actual: pd.DataFrame | None = None,
                  title: str = "", show_last: int | None = None, write=atomic_write) -> Path:
    """Draw up to four series: the last ``show_last`` history points (default: four
    horizons), the forecast ``y_hat``, the band between the outermost quantiles and,
    when given, the actual values over the forecast period. Written atomically.

    Args:
        history: the long frame of the histories.
        forecast: :meth:`~lstmkit.forecasting.Forecaster.predict`'s frame.
        path: the PNG to write.
        quantiles: the levels whose columns ``forecast`` has.
        actual: the long frame of what happened over the forecast period.
        title: the figure's title.
        show_last: history points shown per series (None: four horizons).
        write: how to write (default atomically; a ``Staged``'s ``write``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    ids = list(pd.unique(forecast[ID]))[:MAX_PANELS]
    fig, axes = plt.subplots(len(ids), 1, figsize=(9, 3.2 * len(ids)), squeeze=False)
    for ax, uid in zip(axes[:, 0], ids):
        f = forecast[forecast[ID] == uid]
        h = history[history[ID] == uid]
        keep = show_last or 4 * len(f)
        h = h.iloc[-keep:]
        ax.plot(h[DS], h[Y], color="0.25", lw=1.2, label="history")
        if len(quantiles) >= 2:
            lo, hi = quantile_column(quantiles[0]), quantile_column(quantiles[-1])
            ax.fill_between(f[DS], f[lo], f[hi], color="tab:blue", alpha=0.2,
                            label=f"{round((quantiles[-1] - quantiles[0]) * 100):d}% interval")
        # join the forecast to the last observed point so the line is continuous
        xs = np.concatenate([h[DS].to_numpy()[-1:], f[DS].to_numpy()])
        ys = np.concatenate([h[Y].to_numpy()[-1:], f["y_hat"].to_numpy()])
        ax.plot(xs, ys, color="tab:blue", lw=1.6, label="forecast")
        if actual is not None:
            a = actual[actual[ID] == uid]
            ax.plot(a[DS], a[Y], color="tab:orange", lw=1.2, ls="--", label="actual")
        ax.set_title(f"{title}: {uid}" if title else str(uid))
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path, dpi=110, write=write)
