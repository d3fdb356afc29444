"""The PNG strip of a next-frame predictor: true frames, one-step predictions, a rollout."""

from __future__ import annotations

from pathlib import Path

import torch

from lstmkit.errors import InputError
from lstmkit.spine.figures import save_png


def prediction_strip(model, clips: torch.Tensor, path: str | Path, context: int, n_clips: int = 3,
                     title: str | None = None) -> Path:
    """For each of the first ``n_clips`` clips (B, T, 1, S, S), three rows: the true
    frames; the one-step predictions (frame t from the true frames 1..t-1, what the
    reported MSE measures); and a rollout from the first ``context`` frames, each
    prediction fed back in to predict the next.

    Args:
        model: a :class:`~lstmkit.video.network.FramePredictor`.
        clips: (B, T, 1, S, S).
        path: the PNG to write.
        context: true frames the rollout starts from.
        n_clips: clips drawn (default 3).
        title: the figure's title.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt


    T = clips.shape[1]
    if not 1 <= context < T:
        raise InputError(f"context must leave at least one frame to predict: 1 <= context < {T}, got {context}")
    clips = clips[:n_clips]
    with torch.no_grad():
        one_step = torch.sigmoid(model(clips[:, :-1])[0])  # (n, T-1, 1, S, S): frames 2..T
    rollout = model.rollout(clips[:, :context], T - context)  # (n, T - context, 1, S, S)
    n = clips.shape[0]
    fig, axes = plt.subplots(3 * n, T, figsize=(1.1 * T, 3.4 * n), squeeze=False)
    for i in range(n):
        rows = [(clips[i], 0, "true"), (one_step[i], 1, "1-step"), (rollout[i], context, "rollout")]
        for r, (frames, first, name) in enumerate(rows):
            for t in range(T):
                ax = axes[3 * i + r, t]
                ax.set_xticks([])
                ax.set_yticks([])
                if t < first:
                    ax.axis("off")
                    continue
                ax.imshow(frames[t - first, 0].numpy(), cmap="gray", vmin=0, vmax=1)
                label = "input" if name == "true" and t < context else name
                ax.set_title(f"{label} t={t + 1}", fontsize=6)
    fig.suptitle(title or f"ConvLSTM on moving digits: true frames; one-step predictions; rollout "
                 f"from {context} input frames (each prediction fed back in)", fontsize=8)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)
