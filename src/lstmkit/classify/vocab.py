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
    """Split ``text`` into words and punctuation marks (``level="word"``) or characters
    (``level="char"``, whitespace kept as one space)."""
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
    Ties in frequency are broken alphabetically, so the vocabulary is deterministic."""

    PAD, UNK = 0, 1
    SPECIALS = ("<pad>", "<unk>")

    def __init__(self, tokens: list[str]):
        self.tokens = list(tokens)
        self._index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(
        cls, docs: Iterable[list[str]], max_size: int = 20000, min_freq: int = 1
    ) -> TokenVocab:
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
        get = self._index.get
        return [get(t, self.UNK) for t in tokens]

    def to_state(self) -> dict:
        return {"tokens": self.tokens}

    @classmethod
    def from_state(cls, state: dict) -> TokenVocab:
        return cls(state["tokens"])
