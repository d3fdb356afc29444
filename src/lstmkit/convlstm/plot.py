"""The PNG strip of a next-frame predictor: context frames, then true vs predicted future."""

from __future__ import annotations

from pathlib import Path

import torch

from lstmkit.errors import InputError


def prediction_strip(model, clips: torch.Tensor, path: str | Path, context: int, n_clips: int = 3,
                     title: str | None = None) -> Path:
    """For each of the first ``n_clips`` clips (B, T, 1, S, S): row 1 shows the clip (the
    first ``context`` frames are the model's input), row 2 the model's predictions of
    frames ``context+1..T``, each fed back in to predict the next (a rollout)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    T = clips.shape[1]
    if not 1 <= context < T:
        raise InputError(f"context must leave at least one frame to predict: 1 <= context < {T}, got {context}")
    clips = clips[:n_clips]
    preds = model.rollout(clips[:, :context], T - context)  # (n, T - context, 1, S, S)
    n = clips.shape[0]
    fig, axes = plt.subplots(2 * n, T, figsize=(1.1 * T, 2.3 * n), squeeze=False)
    for i in range(n):
        for t in range(T):
            top, bottom = axes[2 * i, t], axes[2 * i + 1, t]
            top.imshow(clips[i, t, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            if t >= context:
                bottom.imshow(preds[i, t - context, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            for ax in (top, bottom):
                ax.set_xticks([])
                ax.set_yticks([])
            top.set_title(("input " if t < context else "true ") + f"t={t + 1}", fontsize=7)
            if t >= context:
                bottom.set_title(f"predicted t={t + 1}", fontsize=7)
            else:
                bottom.axis("off")
    fig.suptitle(title or f"ConvLSTM next-frame rollout: {context} input frames, "
                 f"{T - context} predicted (each fed back in)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
