"""The language model's text: the bundled corpus and the train/validation split."""

from __future__ import annotations

from lstmkit.errors import InputError
from lstmkit.spine.text import TEXT_DIR, read_text


def shakespeare() -> str:
    """Tiny Shakespeare, 1,115,394 characters (bundled; see data/files/text/PROVENANCE.md).

    Returns:
        the whole text, a str.

    Example:
        >>> len(shakespeare())
        1115394
    """
    return read_text(TEXT_DIR / "tinyshakespeare.txt")


def split_text(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """The first ``1 - val_fraction`` of ``text`` for training, the rest for validation
    (a contiguous tail, so validation text is never seen in training).

    Args:
        text: the whole text.
        val_fraction: the share of the tail kept for validation, in (0, 1).

    Returns:
        (training text, validation text).

    Raises:
        InputError: ``val_fraction`` outside (0, 1), or a text too short to split.

    Example:
        >>> split_text("abcdefghij", 0.2)
        ('abcdefgh', 'ij')
    """
    if not 0 < val_fraction < 1:
        raise InputError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    cut = round(len(text) * (1 - val_fraction))
    if cut < 2 or len(text) - cut < 2:
        raise InputError(
            f"the text is too short to split: {len(text)} characters, expected at least "
            f"{int(4 / min(val_fraction, 1 - val_fraction))}"
        )
    return text[:cut], text[cut:]
