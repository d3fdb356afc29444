"""The language model's learning curve: bits per character against training time."""

from __future__ import annotations

from pathlib import Path

from lstmkit.spine.figures import save_png

_VAL_STYLES = [("s-", "*"), ("^--", "P"), ("v:", "X"), ("d-.", "D")]


def plot_lm_curve(
    history: list[dict],
    path: str | Path,
    title: str,
    reference: float | None = None,
    others: dict[str, list[dict]] | None = None,
) -> Path:
    """Train and validation bits per character against training time, as a PNG.

    Args:
        history: a run's history rows (``TextGenerator.history``).
        path: the PNG to write.
        title: the figure's title.
        reference: a goal in bits to draw as a horizontal line, or None.
        others: the validation curves of other runs (label -> history), or None.

    Returns:
        the path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    ax.plot(
        [r["train_time"] / 60 for r in history],
        [r["train_bpc"] for r in history],
        "o-",
        label="train (mean since last point)",
    )
    runs = {"validation": history} if history and "val_bpc" in history[0] else {}
    for (label, rows), (line, mark) in zip({**runs, **(others or {})}.items(), _VAL_STYLES):
        # during training a window of the validation text is scored; the final point (if
        # any) scores all of it, a different number: it gets its own marker
        during = [r for r in rows if not r.get("final")]
        final = [r for r in rows if r.get("final")]
        drawn = ax.plot(
            [r["train_time"] / 60 for r in during],
            [r["val_bpc"] for r in during],
            line,
            label=f"{label}: its first characters (during training)",
        )
        if final:
            ax.plot(
                [r["train_time"] / 60 for r in final],
                [r["val_bpc"] for r in final],
                mark,
                ms=11,
                color=drawn[0].get_color(),
                label=f"{label}: the whole text (end)",
            )
    if reference is not None:
        ax.axhline(
            reference, color="grey", ls="--", lw=1, label=f"goal {reference:.2f} bits (1.40 nats)"
        )
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("bits per character")
    # every point stays on the axes: early points (about log2 of the alphabet, 6 bits
    # and more) are part of the curve, not outliers to crop
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)
