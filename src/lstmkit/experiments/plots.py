"""PNG pictures of the experiments: learning curves, solve rate against lag, gate heat maps.

matplotlib runs on its non-interactive Agg backend, so plotting works on a machine
without a display; each function writes one file and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

from lstmkit.spine.figures import save_png

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lstmkit.experiments.compare import Comparison
from lstmkit.experiments.gates import GateTrace
from lstmkit.experiments.report import _TASK_NAMES as _TITLES


def _save(fig, path) -> Path:
    return save_png(fig, path, dpi=110, bbox_inches="tight")


def learning_curves(comp: Comparison, path) -> Path:
    """Validation accuracy against training steps, one panel per task (its shortest
    lag and ``config.reference``'s lag for the reference task), one line per cell and
    seed.

    Args:
        comp: the comparison.
        path: the PNG to write.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    tasks = list(comp.config.tasks)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    ref_task, ref_T = comp.config.reference
    for ax, task in zip(axes[0], tasks):
        lengths = comp.config.tasks[task]
        T = ref_T if task == ref_task and ref_T in lengths else min(lengths)
        for k, label in enumerate(comp.labels()):
            for s, r in enumerate(comp.runs(label, task, T)):
                if r is None:
                    continue
                steps, _, acc = np.array(r.curve, dtype=float).T
                ax.plot(steps, acc, color=f"C{k}", alpha=1.0 if s == 0 else 0.5,
                        label=label if s == 0 else None)
        ax.set_title(f"{_TITLES[task]}, T={T}")
        ax.set_xlabel("training step")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def solve_rate(comp: Comparison, path) -> Path:
    """Fraction of seeds that solved each lag, one panel per task, one line per cell
    (hollow markers: not run, as a shorter lag had failed).

    Args:
        comp: the comparison.
        path: the PNG to write.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    tasks = list(comp.config.tasks)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    n = len(comp.labels())
    for ax, task in zip(axes[0], tasks):
        lengths = sorted(comp.config.tasks[task])
        for k, label in enumerate(comp.labels()):
            # a small vertical offset per cell keeps overlapping lines visible
            rates = np.array([comp.solve_rate(label, task, T) for T in lengths])
            rates = rates + 0.02 * (k - (n - 1) / 2)
            ax.plot(lengths, rates, "o-", color=f"C{k}", label=label)
            # hollow markers: lags not run because a shorter one failed (counted as 0)
            skipped = [j for j, T in enumerate(lengths)
                       if all(r is None for r in comp.runs(label, task, T))]
            ax.plot([lengths[j] for j in skipped], rates[skipped], "o", color=f"C{k}",
                    markerfacecolor="white")
        ax.set_xscale("log")
        ax.set_xticks(lengths, [str(T) for T in lengths])
        ax.minorticks_off()
        ax.set_ylim(-0.1, 1.1)
        ax.set_title(_TITLES[task])
        ax.set_xlabel("lag T")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"solve rate ({len(comp.config.seeds)} seed(s); hollow: not run)")
    axes[0][-1].legend(fontsize=8, loc="lower left")
    return _save(fig, path)


# the order and colour scale of each recorded quantity in the heat map
_PANELS = {
    "f": ("forget gate f", "viridis", (0.0, 1.0)),
    "i": ("input gate i", "viridis", (0.0, 1.0)),
    "o": ("output gate o", "viridis", (0.0, 1.0)),
    "z": ("update gate z (keep)", "viridis", (0.0, 1.0)),
    "r": ("reset gate r", "viridis", (0.0, 1.0)),
    "c": ("cell state c", "RdBu_r", None),
    "h": ("hidden state h", "RdBu_r", None),
}
_DEFAULT_KEYS = {"lstm": ("f", "i", "c"), "gru": ("z", "r", "h"), "rnn": ("h",)}


def gate_heatmap(trace: GateTrace, path, keys: tuple[str, ...] | None = None) -> Path:
    """Heat maps (units x time) of the gates and states of one sequence, under a strip
    showing the input, with the relevant time steps marked by dashed lines.

    Args:
        trace: a :class:`~lstmkit.experiments.gates.GateTrace`.
        path: the PNG to write.
        keys: the states to draw, in order (None: f, i, c for an LSTM; z, r, h for a
            GRU; h for an RNN).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    keys = keys or tuple(k for k in _DEFAULT_KEYS.get(trace.cell, ("h",)) if k in trace.states)
    T = trace.inputs.shape[0]
    fig, axes = plt.subplots(
        len(keys) + 1, 1, figsize=(9, 1.4 + 1.9 * len(keys)), sharex=True,
        gridspec_kw={"height_ratios": [0.6] + [1.0] * len(keys)},
    )
    ax = axes[0]
    if trace.task == "adding":
        ax.plot(np.arange(T), trace.inputs[:, 0], lw=0.6, color="0.5", label="value")
        ax.plot(trace.marks, trace.inputs[trace.marks, 0], "o", color="C3", label="marked")
        ax.set_ylim(-1.1, 1.1)
        ax.legend(fontsize=7, loc="upper right", ncol=2)
    else:
        ax.imshow(trace.inputs.T, aspect="auto", cmap="Greys", interpolation="nearest")
    pred = np.array2string(trace.prediction.squeeze(), precision=3)
    target = np.array2string(trace.target.squeeze(), precision=3)
    ax.set_title(f"{trace.cell.upper()} on {_TITLES.get(trace.task, trace.task)}, T={T}: "
                 f"output {pred}, target {target}", fontsize=10)
    ax.set_ylabel("input", fontsize=8)
    # an invisible colour bar keeps the input strip as wide as the heat maps below it
    spacer = fig.colorbar(matplotlib.cm.ScalarMappable(), ax=ax, pad=0.01, fraction=0.03)
    spacer.ax.set_visible(False)
    for ax, key in zip(axes[1:], keys):
        title, cmap, lim = _PANELS.get(key, (key, "RdBu_r", None))
        data = trace.states[key].T  # (H, T)
        if lim is None:
            m = float(np.abs(data).max()) or 1.0
            lim = (-m, m)
        im = ax.imshow(data, aspect="auto", cmap=cmap, vmin=lim[0], vmax=lim[1],
                       interpolation="nearest")
        ax.set_ylabel(f"{title}\nunit", fontsize=8)
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    for ax in axes:
        for t in trace.marks:
            ax.axvline(t, color="C3", ls="--", lw=0.7, alpha=0.6)
    axes[-1].set_xlabel("time step")
    return _save(fig, path)
