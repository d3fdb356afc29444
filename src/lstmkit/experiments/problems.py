"""The long-time-lag problems: adding, temporal order and copy (delayed recall).

Each problem draws fresh random batches from a ``torch.Generator`` (so a seed fixes
the whole data stream), knows how to score a prediction, and says what "solved" means.

Shape legend: T time steps, B batch, I input features, K symbols to recall, A alphabet.

- Adding (Hochreiter & Schmidhuber 1997, experiment 4): inputs are pairs (value in
  [-1, 1], marker in {0, 1}); exactly two values are marked, the first among the first
  10 steps, the second before T/2; the target is 0.5 + (X1 + X2) / 4 and a sequence
  counts as right when |error| < 0.04.
- Temporal order (1997, experiment 6a): a sequence of distractors a-d opened by B and
  closed by E, with X or Y at one position in [0.1T, 0.2T] and one in [0.5T, 0.6T];
  the class is the order (XX, XY, YX, YY).
- Copy: K random symbols, a blank of T steps, a delimiter, then the K symbols must be
  reproduced; a sequence counts as right when all K are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor
from torch.nn import functional as F

from lstmkit.errors import InputError


@dataclass
class Problem:
    """Base class: a synthetic sequence problem of delay ``length`` (T).

    A subclass sets ``name``, ``input_size``, ``output_size`` (and ``readout_steps``,
    ``min_length``, ``query_channel`` where they differ) and implements :meth:`sample`,
    and :meth:`loss`/:meth:`correct` when it does not classify each sequence.

    Attributes:
        length: the delay T, at least ``min_length``.
        solve_fraction: the fraction of test sequences that must meet the criterion for
            the run to count as solved, in (0, 1] (default 0.99).

    Raises:
        InputError: a length below ``min_length`` or a ``solve_fraction`` out of range.
    """

    length: int
    #: fraction of test sequences that must meet the criterion for ``solved``
    solve_fraction: float = 0.99

    name = "problem"
    input_size = 1
    output_size = 1
    #: how many final time steps the read-out sees (1: the last step only)
    readout_steps = 1
    #: the smallest delay the problem is defined for
    min_length = 1
    #: None: read out at the last steps; else the input channel marking, per sequence,
    #: the step to read out (the formal-language tasks' query token)
    query_channel = None

    def __post_init__(self) -> None:
        if not isinstance(self.length, int) or isinstance(self.length, bool):
            raise InputError(f"{self.name}: length must be an integer, got {self.length!r}")
        if self.length < self.min_length:
            raise InputError(
                f"{self.name}: length must be at least {self.min_length}, got {self.length}"
            )
        if not 0 < self.solve_fraction <= 1:
            raise InputError(
                f"{self.name}: solve_fraction must be in (0, 1], got {self.solve_fraction}"
            )

    @property
    def total_length(self) -> int:
        """Time steps of one input sequence."""
        return self.length

    def sample(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """A batch: inputs (T', B, I) time-major, targets (problem-specific)."""
        raise NotImplementedError

    def relevant_steps(self, x: Tensor) -> list[int]:
        """The time steps of one sequence ``x`` (T', I) that carry what must be remembered."""
        return []

    def loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """The training loss of the read-out ``pred`` (B, classes) against ``target`` (B,):
        cross-entropy, for the problems that classify each sequence."""
        return F.cross_entropy(pred, target)

    def correct(self, pred: Tensor, target: Tensor) -> Tensor:
        """(B,) bool: which sequences meet the problem's criterion (the class is right)."""
        return pred.argmax(-1) == target


@dataclass
class Adding(Problem):
    """The adding problem (1997, experiment 4); the criterion is |error| < ``tolerance``.

    Attributes:
        length: the delay T, at least 22.
        solve_fraction: as :class:`Problem`'s (default 0.99).
        tolerance: the largest |error| that counts as right (default 0.04).
    """

    tolerance: float = 0.04

    name = "adding"
    input_size = 2
    output_size = 1
    # the second marked value lies in [10, T/2): T/2 must exceed the first window
    min_length = 22

    def sample(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """Inputs (T, B, 2): (value, marker) per step; targets (B, 1)."""
        T = self.length
        values = torch.rand(T, batch, generator=gen) * 2 - 1  # (T, B) in [-1, 1]
        first = torch.randint(0, 10, (batch,), generator=gen)
        second = torch.randint(10, T // 2, (batch,), generator=gen)
        cols = torch.arange(batch)
        markers = torch.zeros(T, batch)
        markers[first, cols] = 1.0
        markers[second, cols] = 1.0
        x = torch.stack((values, markers), -1)  # (T, B, 2)
        target = 0.5 + (values[first, cols] + values[second, cols]) / 4  # (B,)
        return x, target.unsqueeze(1)

    def relevant_steps(self, x: Tensor) -> list[int]:
        """The two marked steps."""
        return torch.nonzero(x[:, 1] > 0.5).flatten().tolist()

    def loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Mean squared error of pred (B, 1) against target (B, 1)."""
        return F.mse_loss(pred, target)

    def correct(self, pred: Tensor, target: Tensor) -> Tensor:
        """(B,) bool: |error| below ``tolerance``."""
        return (pred - target).abs().squeeze(1) < self.tolerance


# temporal order alphabet: the one-hot index of each symbol
_TO_SYMBOLS = ("a", "b", "c", "d", "B", "E", "X", "Y")
_TO = {s: k for k, s in enumerate(_TO_SYMBOLS)}


@dataclass
class TemporalOrder(Problem):
    """Temporal order (1997, experiment 6a): 4 classes, the order of X/Y at two places.

    Attributes:
        length: the delay T, at least 10.
        solve_fraction: as :class:`Problem`'s (default 0.99).
    """

    name = "temporal_order"
    input_size = len(_TO_SYMBOLS)
    output_size = 4
    # the two windows [0.1T, 0.2T] and [0.5T, 0.6T] must be separate and inside (0, T-1)
    min_length = 10

    def sample(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """One-hot inputs (T, B, 8); classes (B,): XX 0, XY 1, YX 2, YY 3."""
        T = self.length
        sym = torch.randint(0, 4, (T, batch), generator=gen)  # distractors a-d
        sym[0] = _TO["B"]
        sym[-1] = _TO["E"]
        lo1, hi1 = max(1, T // 10), max(2, T // 5)
        lo2, hi2 = T // 2, max(T // 2 + 1, (6 * T) // 10)
        t1 = torch.randint(lo1, hi1 + 1, (batch,), generator=gen).clamp(max=T // 2 - 1)
        t2 = torch.randint(lo2, hi2 + 1, (batch,), generator=gen).clamp(max=T - 2)
        bits = torch.randint(0, 2, (2, batch), generator=gen)  # 0: X, 1: Y
        cols = torch.arange(batch)
        sym[t1, cols] = _TO["X"] + bits[0]
        sym[t2, cols] = _TO["X"] + bits[1]
        x = F.one_hot(sym, self.input_size).float()  # (T, B, 8)
        return x, bits[0] * 2 + bits[1]  # class: XX 0, XY 1, YX 2, YY 3

    def relevant_steps(self, x: Tensor) -> list[int]:
        """The two steps holding X or Y."""
        return torch.nonzero(x[:, _TO["X"] :].sum(1) > 0.5).flatten().tolist()



@dataclass
class Copy(Problem):
    """Copy / delayed recall: ``symbols`` random symbols from an alphabet of ``alphabet``,
    a blank of ``length`` steps, a delimiter, then the symbols must be reproduced.

    Attributes:
        length: the delay T, at least 1.
        solve_fraction: as :class:`Problem`'s (default 0.99).
        symbols: K, symbols to recall (default 5).
        alphabet: A, distinct symbols (default 8).

    Raises:
        InputError: ``symbols`` below 1 or ``alphabet`` below 2.
    """

    symbols: int = 5
    alphabet: int = 8

    name = "copy"
    min_length = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.symbols < 1 or self.alphabet < 2:
            raise InputError(
                f"copy: needs symbols >= 1 and alphabet >= 2, got {self.symbols}, {self.alphabet}"
            )

    @property
    def input_size(self) -> int:  # type: ignore[override]
        """I: the alphabet, the blank and the delimiter, one-hot."""
        return self.alphabet + 2  # symbols, blank, delimiter

    @property
    def output_size(self) -> int:  # type: ignore[override]
        """O: one logit per alphabet symbol."""
        return self.alphabet

    @property
    def readout_steps(self) -> int:  # type: ignore[override]
        """K: the last ``symbols`` steps are read out."""
        return self.symbols

    @property
    def total_length(self) -> int:
        """T' = ``length`` + 2K steps: the symbols, the blank and delimiter, the answer slots."""
        return self.length + 2 * self.symbols

    def sample(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """One-hot inputs (T', B, A + 2); targets (B, K), the symbols to recall."""
        K, A, T = self.symbols, self.alphabet, self.length
        blank, delim = A, A + 1
        seq = torch.randint(0, A, (K, batch), generator=gen)  # (K, B)
        # layout: K symbols | T-1 blanks | delimiter | K blanks (answer slots)
        sym = torch.full((K + T + K, batch), blank, dtype=torch.long)
        sym[:K] = seq
        sym[K + T - 1] = delim
        x = F.one_hot(sym, self.input_size).float()  # (T', B, A+2)
        return x, seq.t()  # targets (B, K)

    def relevant_steps(self, x: Tensor) -> list[int]:
        """The first K steps, which hold the symbols."""
        return list(range(self.symbols))

    def loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy of pred (B, K, A) against target (B, K), over all K symbols."""
        # pred (B, K, A): one distribution per recalled symbol
        return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1))

    def correct(self, pred: Tensor, target: Tensor) -> Tensor:
        """(B,) bool: all K symbols recalled."""
        return (pred.argmax(-1) == target).all(1)


def _problems() -> dict[str, type[Problem]]:
    from lstmkit.experiments.formal import FORMAL

    return {p.name: p for p in (Adding, TemporalOrder, Copy, *FORMAL)}


#: the long-time-lag problems and the formal-language tasks of
#: :mod:`lstmkit.experiments.formal`, by name
PROBLEMS: dict[str, type[Problem]] = _problems()


def make_problem(name: str, length: int, **options) -> Problem:
    """The problem called ``name`` at delay ``length``.

    Args:
        name: ``"adding"``, ``"temporal_order"``, ``"copy"``, or a formal-language task:
            ``"parity"``, ``"modular_arithmetic"``, ``"modular_arithmetic_brackets"``,
            ``"cycle_navigation"``.
        length: the delay T (the longest training sequence for a formal-language task).
        **options: the problem's own fields (``symbols=``, ``alphabet=`` for copy,
            ``tolerance=`` for adding, ``test_length=`` for the formal languages,
            ``solve_fraction=``).

    Returns:
        The :class:`Problem`.

    Raises:
        InputError: an unknown name or option, or a length below the problem's minimum.

    Example:
        A batch of 4 adding sequences at T=30, time-major (T, B, I):

        >>> import torch
        >>> p = make_problem("adding", 30)
        >>> x, y = p.sample(4, torch.Generator().manual_seed(0))
        >>> x.shape, y.shape, len(p.relevant_steps(x[:, 0]))
        (torch.Size([30, 4, 2]), torch.Size([4, 1]), 2)
    """
    if name not in PROBLEMS:
        raise InputError(f"unknown task {name!r}; expected one of {', '.join(PROBLEMS)}")
    _check_option_types(name, PROBLEMS[name], options)
    try:
        return PROBLEMS[name](length=length, **options)
    except TypeError as exc:
        raise InputError(f"{name}: bad task option ({exc})") from None


def _check_option_types(name: str, cls, options: dict) -> None:
    """Refuse an option whose value is not of its field's kind (a whole number for an
    integer field, a finite number for a float one), naming it, before the problem's own
    range checks compare it."""
    defaults = {f.name: f.default for f in fields(cls)}
    for key, value in options.items():
        default = defaults.get(key)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue  # unknown options are refused by the constructor
        if isinstance(default, int):
            ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            kind = "a finite number"
        if not ok:
            raise InputError(f"{name}: expected the task option {key} as {kind}, found {value!r}")
