"""The formal-language state-tracking tasks (Deletang et al. 2023, "Neural networks and
the Chomsky hierarchy"; the xLSTM paper's table of them): parity, modular arithmetic
without and with brackets, cycle navigation.

A sequence is n tokens (n uniform in [1, ``length``], the training range) followed by the
query token "="; the network reads its output at the "=" step of each sequence (its own
length), and the batch is padded after that with zero vectors. :meth:`sample_long` draws
the same task at lengths in [``length`` + 1, ``test_length``] (default 4 x ``length``):
the length-generalisation test. Labels come from a direct computation; all draws come
from the ``torch.Generator`` given, so a seed fixes the data.

Shape legend: T time steps (longest sequence + 1), B batch, V tokens + 1 (the query).

- parity: tokens 0/1; the class is the number of 1s mod 2.
- modular_arithmetic: digits 0-4 and operators + - * alternating (d op d op ... d, odd
  n); evaluated left to right, mod 5 (5 classes).
- modular_arithmetic_brackets: E -> d | ( E op E ) with digits 0-4, operators + - *,
  mod 5 (n = 1, 5, 9, ...: 4 tokens per operator).
- cycle_navigation: moves +1, -1, 0 on a cycle of 5 from position 0; the class is the
  final position.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from lstmkit.errors import InputError
from lstmkit.experiments.problems import Problem

MODULUS = 5
_OPS = "+-*"


def _apply(a: int, op: str, b: int) -> int:
    return (a + b if op == "+" else a - b if op == "-" else a * b) % MODULUS


@dataclass
class FormalLanguage(Problem):
    """Base class: tokens -> one class, read at the query step; ``length`` is the longest
    training sequence, ``test_length`` the longest of the generalisation test.

    Attributes:
        length: the longest training sequence, in tokens.
        test_length: the longest sequence of the length-generalisation test (None: 4 x
            ``length``).
        solve_fraction: as :class:`~lstmkit.experiments.Problem`'s.

    Raises:
        InputError: a ``test_length`` not above ``length``.
    """

    test_length: int | None = None

    name = "formal"
    tokens = ()
    output_size = 2
    min_length = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.test_length is None:
            self.test_length = 4 * self.length
        if not isinstance(self.test_length, int) or self.test_length <= self.length:
            raise InputError(f"{self.name}: test_length must be an integer above length "
                             f"{self.length}, got {self.test_length!r}")

    @property
    def input_size(self) -> int:  # type: ignore[override]
        """I: one-hot channels of the tokens and the query token."""
        return len(self.tokens) + 1  # the tokens and the query "="

    @property
    def query_channel(self) -> int:
        """The one-hot channel of the query token: each sequence's read-out step."""
        return len(self.tokens)

    @property
    def total_length(self) -> int:
        """Steps of the longest training sequence: ``length`` tokens and the query."""
        return self.length + 1

    def generate(self, n: int, rng: random.Random) -> tuple[list[int], int]:
        """One sequence of about ``n`` tokens (indices into ``tokens``) and its class."""
        raise NotImplementedError

    def _batch(self, batch: int, lo: int, hi: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        rng = random.Random(int(torch.randint(0, 2**62, (1,), generator=gen)))
        seqs, labels = zip(*(self.generate(rng.randint(lo, hi), rng) for _ in range(batch)))
        T = max(len(s) for s in seqs) + 1
        sym = torch.full((T, batch), -1, dtype=torch.long)
        for b, s in enumerate(seqs):
            sym[: len(s), b] = torch.tensor(s, dtype=torch.long)
            sym[len(s), b] = len(self.tokens)  # the query
        x = F.one_hot(sym.clamp(min=0), self.input_size).float() * (sym >= 0).unsqueeze(-1)
        return x, torch.tensor(labels, dtype=torch.long)  # (T, B, V), (B,)

    def sample(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """Sequences of 1 to ``length`` tokens: (T, B, V) inputs, (B,) classes."""
        return self._batch(batch, 1, self.length, gen)

    def sample_long(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """Sequences of ``length`` + 1 to ``test_length`` tokens (length generalisation)."""
        return self._batch(batch, self.length + 1, self.test_length, gen)

    def relevant_steps(self, x: Tensor) -> list[int]:
        """Every token step of ``x`` (T, I) (all of them matter), padding excluded."""
        return torch.nonzero(x.sum(1) > 0.5).flatten().tolist()


@dataclass
class Parity(FormalLanguage):
    """Parity: is the number of 1s odd (class 1) or even (class 0).

    Attributes:
        length: the longest training sequence, in tokens.
        test_length: the longest sequence of the length-generalisation test (None: 4 x
            ``length``).
        solve_fraction: as :class:`~lstmkit.experiments.Problem`'s.

    Example:
        >>> import torch
        >>> x, y = Parity(length=8).sample(3, torch.Generator().manual_seed(0))
        >>> x.shape[1:], y.shape
        (torch.Size([3, 3]), torch.Size([3]))
    """

    name = "parity"
    tokens = ("0", "1")
    output_size = 2

    def generate(self, n, rng):
        """``n`` random bits and their parity."""
        s = [rng.randrange(2) for _ in range(n)]
        return s, sum(s) % 2


@dataclass
class ModularArithmetic(FormalLanguage):
    """d op d op ... d (digits 0-4, op in + - *) evaluated left to right, mod 5; a drawn
    even n is shortened by one token so that the sequence ends on a digit.

    Attributes:
        length: the longest training sequence, in tokens.
        test_length: the longest sequence of the length-generalisation test (None: 4 x
            ``length``).
        solve_fraction: as :class:`~lstmkit.experiments.Problem`'s.
    """

    name = "modular_arithmetic"
    tokens = ("0", "1", "2", "3", "4", "+", "-", "*")
    output_size = MODULUS

    def generate(self, n, rng):
        """A left-to-right expression of about ``n`` tokens (odd) and its value mod 5."""
        digits = [rng.randrange(MODULUS) for _ in range((n + 1) // 2)]
        ops = [rng.randrange(3) for _ in range(len(digits) - 1)]
        value, seq = digits[0], [digits[0]]
        for op, d in zip(ops, digits[1:]):
            value = _apply(value, _OPS[op], d)
            seq += [MODULUS + op, d]
        return seq, value


@dataclass
class ModularArithmeticBrackets(FormalLanguage):
    """E -> d | ( E op E ), digits 0-4, op in + - *, mod 5; a drawn n is rounded down to
    1 + 4k tokens (k operators, split at random between the two sides).

    Attributes:
        length: the longest training sequence, in tokens.
        test_length: the longest sequence of the length-generalisation test (None: 4 x
            ``length``).
        solve_fraction: as :class:`~lstmkit.experiments.Problem`'s.
    """

    name = "modular_arithmetic_brackets"
    tokens = ("0", "1", "2", "3", "4", "+", "-", "*", "(", ")")
    output_size = MODULUS

    def _expr(self, k: int, rng: random.Random) -> tuple[list[int], int]:
        if k == 0:
            d = rng.randrange(MODULUS)
            return [d], d
        left = rng.randrange(k)
        a, va = self._expr(left, rng)
        b, vb = self._expr(k - 1 - left, rng)
        op = rng.randrange(3)
        return [8, *a, MODULUS + op, *b, 9], _apply(va, _OPS[op], vb)

    def generate(self, n, rng):
        """A bracketed expression of 1 + 4k <= ``n`` tokens and its value mod 5."""
        return self._expr((n - 1) // 4, rng)


@dataclass
class CycleNavigation(FormalLanguage):
    """Moves +1, -1, 0 on a cycle of 5 positions from 0; the class is where it ends.

    Attributes:
        length: the longest training sequence, in tokens.
        test_length: the longest sequence of the length-generalisation test (None: 4 x
            ``length``).
        solve_fraction: as :class:`~lstmkit.experiments.Problem`'s.
    """

    name = "cycle_navigation"
    tokens = ("+1", "-1", "0")
    output_size = MODULUS

    def generate(self, n, rng):
        """``n`` random moves and the position they end at."""
        s = [rng.randrange(3) for _ in range(n)]
        return s, sum((1, -1, 0)[m] for m in s) % MODULUS


FORMAL = (Parity, ModularArithmetic, ModularArithmeticBrackets, CycleNavigation)
