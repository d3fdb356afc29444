"""The attention heat map: which source characters each output character looked at."""

from __future__ import annotations

from pathlib import Path

from lstmkit.errors import InputError
from lstmkit.spine.figures import save_png


def _label(ch: str) -> str:
    return "␣" if ch == " " else ch


def attention_heatmap(translator, texts: list[str] | str, path: str | Path, beam: int = 0,
                      title: str | None = None) -> Path:
    """Decode each of ``texts`` with the :class:`~lstmkit.seq2seq.Translator` and draw
    its attention weights (one panel per text: rows
    the output characters and ``</s>``, columns the source characters and ``</s>``) to
    the PNG ``path``.

    Args:
        translator: the trained Translator.
        texts: one text or several.
        path: the PNG to write.
        beam: beam size (0: greedy).
        title: the figure's title.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: no text.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt


    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise InputError("attention_heatmap needs at least one text")
    outs, alphas = translator._decode(texts, beam, None, 0.0)
    widths = [a.shape[1] for a in alphas]
    fig, axes = plt.subplots(len(texts), 1, figsize=(max(6.0, 0.28 * max(widths) + 2), 3.2 * len(texts)),
                             squeeze=False)
    for ax, text, out, a in zip(axes[:, 0], texts, outs, alphas):
        im = ax.imshow(a.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(a.shape[1]), [_label(c) for c in text] + ["</s>"], fontsize=8)
        rows = [_label(c) for c in out][: a.shape[0] - 1]
        # An untrained model can emit tokens that do not print (padding, unknown): such rows
        # have no character in ``out``, so they are labelled "·" to keep one label per row.
        rows += ["·"] * (a.shape[0] - 1 - len(rows)) + ["</s>"]
        ax.set_yticks(range(a.shape[0]), rows, fontsize=8)
        ax.set_xlabel(f"source: {text!r}", fontsize=9)
        ax.set_ylabel(f"output: {out!r}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    c = translator.config
    fig.suptitle(title or f"Seq2Seq attention ({c.attention}, {'bi' if c.bidirectional else 'uni'}"
                 f"directional encoder, H={c.hidden_size})", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)
