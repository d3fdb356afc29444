"""Character vocabularies for the encoder-decoder: characters <-> ids, padded batches.

Ids 0-3 are the specials ``<pad>``, ``<s>`` (start of a target), ``</s>`` (end of a
sequence) and ``<unk>`` (a character the vocabulary lacks); characters follow in the
order given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from lstmkit.errors import InputError

PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


class Vocab:
    """A character vocabulary: ids 0-3 are ``<pad> <s> </s> <unk>``, the characters
    follow in the order given (repeats dropped).

    Args:
        chars: single characters (a string works).

    Raises:
        InputError: an entry that is not one character.

    Example:
        >>> v = Vocab("abc")
        >>> len(v), v.encode("abz", eos=True), v.decode([6, 4, 5, 2, 4])
        (7, [4, 5, 3, 2], 'cab')
        >>> Vocab.from_texts(["hello", "world"]).chars
        'dehlorw'
    """

    def __init__(self, chars: Iterable[str]) -> None:
        seen: dict[str, None] = {}
        for ch in chars:
            if not isinstance(ch, str) or len(ch) != 1:
                raise InputError(f"a vocabulary holds single characters, got {ch!r}")
            seen.setdefault(ch, None)
        self.chars = "".join(seen)
        self.itos = list(SPECIALS) + list(self.chars)
        self.stoi = {ch: i + len(SPECIALS) for i, ch in enumerate(self.chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocab:
        """The sorted set of characters in ``texts``."""
        return cls(sorted(set("".join(texts))))

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"Vocab({len(self.chars)} characters)"

    def encode(self, text: str, eos: bool = False) -> list[int]:
        """The ids of ``text``'s characters (``<unk>`` for one outside the vocabulary), with
        ``</s>`` appended when ``eos``."""
        ids = [self.stoi.get(ch, UNK) for ch in text]
        return ids + [EOS] if eos else ids

    def decode(self, ids: Iterable[int]) -> str:
        """Characters up to the first ``</s>``; other specials are dropped."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.itos[i])
        return "".join(out)

    def unknown(self, text: str) -> str:
        """The characters of ``text`` this vocabulary lacks, each once, in order."""
        return "".join(dict.fromkeys(ch for ch in text if ch not in self.stoi))

    def batch(self, texts: Sequence[str], sos: bool = False, eos: bool = False) -> tuple[Tensor, Tensor]:
        """Padded ids (B, L) and true lengths (B,) of ``texts``, optionally framed by
        ``<s>`` and ``</s>``."""
        seqs = [([SOS] if sos else []) + self.encode(t, eos) for t in texts]
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
        out = torch.full((len(seqs), max(1, int(lengths.max()) if seqs else 1)), PAD, dtype=torch.int64)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
        return out, lengths
