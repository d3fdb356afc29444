"""The language model's vocabulary: the characters of the training text. It reserves an
id for what the training text did not contain, so any text can be encoded; what was
unknown is counted, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lstmkit.errors import InputError

UNKNOWN_CHAR = "\ufffd"  # how the unknown id decodes (the Unicode replacement character)


class CharVocab:
    """The characters of a training text. Id 0 is "unknown"; characters get ids 1..N in
    sorted order, so a vocabulary is fully described by its string of characters.

    Args:
        chars: the characters (any iterable of single characters; repeats are ignored).

    Raises:
        InputError: no characters, or an item that is not a single character.

    Example:
        >>> v = CharVocab.from_text("hello")
        >>> len(v), v.encode("helo?").tolist(), v.decode([1, 2])
        (5, [2, 1, 3, 4, 0], 'eh')
    """

    UNK = 0

    def __init__(self, chars: Iterable[str]):
        chars = sorted(set(chars))
        if not chars:
            raise InputError("expected a non-empty text to build a character vocabulary, got none")
        if any(len(c) != 1 for c in chars):
            raise InputError("a character vocabulary holds single characters")
        self.chars: list[str] = chars
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of the characters of ``text``."""
        return cls(set(text))

    def __len__(self) -> int:
        return len(self.chars) + 1

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str) -> torch.Tensor:
        """The ids of ``text``'s N characters.

        Args:
            text: any str.

        Returns:
            (N,) int64 ids; unknown characters get id 0.
        """
        get = self._index.get
        return torch.tensor([get(c, 0) for c in text], dtype=torch.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of ``ids`` (id 0 decodes as U+FFFD, the replacement character)."""
        chars = self.chars
        return "".join(chars[i - 1] if i > 0 else UNKNOWN_CHAR for i in (int(j) for j in ids))

    def to_state(self) -> dict:
        """The vocabulary as a JSON-able dict (:meth:`from_state` is its inverse)."""
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_state(cls, state: dict) -> CharVocab:
        """The vocabulary :meth:`to_state` described."""
        return cls(state["chars"])
