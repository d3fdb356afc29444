"""Writing a matplotlib figure as a PNG file, the one way every task does it: through a
temporary sibling renamed into place (never half a PNG at the path), the figure closed
afterwards whatever happened."""

from __future__ import annotations

import os
from pathlib import Path


def save_png(fig, path: str | os.PathLike, dpi: int = 110, write=None, **savefig) -> Path:
    """Write ``fig`` to ``path`` as PNG with ``write(path, writer)`` (default
    :func:`lstmkit.spine.io.atomic_write`; a :class:`~lstmkit.spine.io.Staged`'s
    ``write`` to make it appear with other files), close it, and return the path.

    Args:
        fig: a matplotlib figure (closed afterwards).
        path: the PNG file.
        dpi: resolution (default 110).
        write: ``write(path, writer)`` (None: :func:`lstmkit.spine.io.atomic_write`).
        **savefig: more ``Figure.savefig`` keywords.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import matplotlib.pyplot as plt

    from lstmkit.spine.io import atomic_write

    try:
        return (write or atomic_write)(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png", **savefig))
    finally:
        plt.close(fig)
