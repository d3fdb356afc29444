"""Vocabularies: characters for the language model, words (or characters) for the
classifier. Both reserve ids for what the training text did not contain, so any text can
be encoded; what was unknown is counted, never silently dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import torch

from lstmkit.errors import InputError

UNKNOWN_CHAR = "\ufffd"  # how the unknown id decodes (the Unicode replacement character)

# words (letters/digits, with an inner apostrophe: "don't") and single punctuation marks
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


class CharVocab:
    """The characters of a training text. Id 0 is "unknown"; characters get ids 1..N in
    sorted order, so a vocabulary is fully described by its string of characters."""

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
        return cls(set(text))

    def __len__(self) -> int:
        return len(self.chars) + 1

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str) -> torch.Tensor:
        """(N,) int64 ids; unknown characters get id 0."""
        get = self._index.get
        return torch.tensor([get(c, 0) for c in text], dtype=torch.int64)

    def decode(self, ids: Iterable[int]) -> str:
        chars = self.chars
        return "".join(chars[i - 1] if i > 0 else UNKNOWN_CHAR for i in (int(j) for j in ids))

    def to_state(self) -> dict:
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_state(cls, state: dict) -> CharVocab:
        return cls(state["chars"])


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
