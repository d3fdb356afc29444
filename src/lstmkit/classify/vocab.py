"""The classifier's vocabulary: words (or characters) seen in training, with ids reserved
for padding and for what the training text did not contain, so any text can be encoded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from lstmkit.errors import InputError

# words (letters/digits, with an inner apostrophe: "don't") and single punctuation marks
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str, level: str = "word", lowercase: bool = True) -> list[str]:
    """Split ``text`` into words and punctuation marks, or characters.

    Args:
        text: the text.
        level: ``"word"`` (words with inner apostrophes, and single punctuation marks) or
            ``"char"`` (characters, each run of whitespace kept as one space).
        lowercase: lowercase first (default True).

    Returns:
        The tokens, in order.

    Raises:
        InputError: ``level`` is neither ``"word"`` nor ``"char"``.

    Example:
        >>> tokenize("Don't panic!")
        ["don't", 'panic', '!']
        >>> tokenize("a  b", level="char")
        ['a', ' ', 'b']
    """
    if lowercase:
        text = text.lower()
    if level == "word":
        return _WORD_RE.findall(text)
    if level == "char":
        return list(" ".join(text.split()))
    raise InputError(f"level must be 'word' or 'char', got {level!r}")


class TokenVocab:
    """Tokens (words or characters) seen in training, most frequent first, limited to
    ``max_size`` entries including the two specials: ``<pad>`` (id 0) and ``<unk>`` (id 1).
    Ties in frequency are broken alphabetically, so the vocabulary is deterministic.

    Args:
        tokens: the entries in id order, the two specials first.

    Example:
        >>> v = TokenVocab.build([["a", "b", "a"], ["c"]], max_size=4)
        >>> v.tokens
        ['<pad>', '<unk>', 'a', 'b']
        >>> v.encode(["a", "c", "z"])
        [2, 1, 1]
    """

    PAD, UNK = 0, 1
    SPECIALS = ("<pad>", "<unk>")

    def __init__(self, tokens: list[str]):
        self.tokens = list(tokens)
        self._index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(
        cls, docs: Iterable[list[str]], max_size: int = 20000, min_freq: int = 1
    ) -> TokenVocab:
        """The vocabulary of tokenized documents.

        Args:
            docs: token lists (one per text).
            max_size: entries kept, the two specials included (default 20000; at least 3).
            min_freq: tokens seen fewer times are left out (default 1).

        Returns:
            A :class:`TokenVocab`, most frequent tokens first.

        Raises:
            InputError: ``max_size`` below 3.
        """
        if max_size < 3:
            raise InputError(
                f"max_size must be at least 3 (two specials and a token), got {max_size}"
            )
        counts = Counter(t for doc in docs for t in doc)
        ranked = sorted(
            (t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        return cls(list(cls.SPECIALS) + ranked[: max_size - len(cls.SPECIALS)])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> list[int]:
        """The id of each token; ``UNK`` (1) for one not in the vocabulary."""
        get = self._index.get
        return [get(t, self.UNK) for t in tokens]

    def to_state(self) -> dict:
        """A JSON-able dict (``{"tokens": [...]}``) that :meth:`from_state` reads back."""
        return {"tokens": self.tokens}

    @classmethod
    def from_state(cls, state: dict) -> TokenVocab:
        """The vocabulary saved by :meth:`to_state`."""
        return cls(state["tokens"])
