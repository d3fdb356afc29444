"""A character-level language model: embedding -> recurrent layers -> linear head.

Shapes: B batch (parallel text streams), T time (characters), V vocabulary size,
E embedding size, H hidden size, L layers.

``CharLM.forward`` takes and returns the recurrent state, so a caller can carry it across
consecutive chunks of a text (truncated backpropagation through time) or feed one
character at a time while generating (constant cost per character). The recurrent layer
is any cell of :mod:`lstmkit.spine.nets`: ``"lstm"``, ``"gru"``, ``"rnn"`` and the xLSTM
cells ``"slstm"``, ``"mlstm"`` and ``"xlstm"`` (a stack of residual blocks, whose state
is a tuple with one tuple of tensors per block).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.spine.nets import CELLS, XLSTM_CELLS, make_rnn
from lstmkit.variants import Dropout

LM_CELLS = CELLS + XLSTM_CELLS
"""The cells a character model takes: lstm, gru, rnn, slstm, mlstm, xlstm."""

# what a layer's state is: (h, c) for an LSTM, h for a GRU/RNN, (h, c, n, m) for an sLSTM,
# (C, n, m) for an mLSTM, one tuple per block for the xlstm stack
State = Any


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InputError(f"{name} must be a positive integer, got {value!r}")


def _probability(name: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise InputError(f"{name} must be a number in [0, 1), got {value!r}")


@dataclass
class CharLMConfig:
    """Hyperparameters of :class:`CharLM`.

    Args:
        vocab_size: V, the number of character ids (id 0 the unknown character).
        embedding_dim: E, the width of the character embeddings.
        hidden_size: H, the recurrent layer's width.
        num_layers: L, recurrent layers (blocks for ``cell="xlstm"``).
        cell: one of :data:`LM_CELLS`.
        dropout: applied to the embeddings, between layers (the xlstm stack: in its
            blocks) and before the head; in [0, 1).
        layer_options: extra keyword arguments of the recurrent layer (its ``backend``,
            LSTM variants such as ``layer_norm=True``, the xLSTM layers' ``num_heads``,
            the xlstm stack's ``slstm_at``).

    Raises:
        InputError: a size that is not a positive integer, an unknown cell, a dropout
            outside [0, 1), ``layer_options`` not a dict.
    """

    vocab_size: int
    embedding_dim: int = 64
    hidden_size: int = 512
    num_layers: int = 1
    cell: str = "lstm"
    dropout: float = 0.0
    layer_options: dict = field(default_factory=lambda: {"backend": "auto"})

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            _positive_int(name, getattr(self, name))
        if self.cell not in LM_CELLS:
            raise InputError(f"cell must be one of {', '.join(LM_CELLS)}, got {self.cell!r}")
        _probability("dropout", self.dropout)
        if not isinstance(self.layer_options, dict):
            raise InputError(
                f"layer_options must be a dict, got {type(self.layer_options).__name__}"
            )

    def to_dict(self) -> dict:
        """The fields as a JSON-able dict."""
        return asdict(self)


class CharLM(nn.Module):
    """Next-character model: embedding -> dropout -> recurrent layer -> dropout -> linear.

    Args:
        config: a :class:`CharLMConfig`.

    ``forward(x (B, T) int64, state=None) -> (logits (B, T, V), state)``; the state is the
    recurrent layer's (None: zeros), so consecutive chunks of a text can carry it.

    Example:
        >>> import torch
        >>> lm = CharLM(CharLMConfig(vocab_size=65, hidden_size=128))
        >>> logits, state = lm(torch.randint(0, 65, (4, 10)))
        >>> logits.shape
        torch.Size([4, 10, 65])
        >>> xl = CharLM(CharLMConfig(vocab_size=65, hidden_size=32, num_layers=2, cell="xlstm",
        ...                          layer_options={"slstm_at": [1]}))
        >>> logits, state = xl(torch.randint(0, 65, (4, 10)))
        >>> logits, state = xl(torch.randint(0, 65, (4, 1)), state)   # one more character
        >>> logits.shape, len(state)
        (torch.Size([4, 1, 65]), 2)
    """

    def __init__(self, config: CharLMConfig):
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim)
        inter = c.dropout if c.num_layers > 1 else 0.0  # torch warns on dropout with 1 layer
        if c.cell == "xlstm":  # the stack's own dropout, in its blocks
            inter = c.dropout
        self.rnn = make_rnn(
            c.cell,
            c.embedding_dim,
            c.hidden_size,
            num_layers=c.num_layers,
            cells=LM_CELLS,
            batch_first=True,
            dropout=inter,
            **c.layer_options,
        )
        self.drop = Dropout(c.dropout)  # nn.Dropout's maths, a faster mask
        self.head = nn.Linear(c.hidden_size, c.vocab_size)

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Logits of the next character after each of ``x``.

        Args:
            x: (B, T) int64 character ids.
            state: the recurrent layer's state from a previous call, or None (zeros).

        Returns:
            (logits (B, T, V), the layer's final state).
        """
        emb = self.drop(self.embedding(x))  # (B, T, E)
        out, state = self.rnn(emb, state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)

    @staticmethod
    def detach_state(state: State) -> State:
        """The state cut from the graph: carried to the next chunk, but gradients stop.

        Args:
            state: a layer's state (a tensor, a tuple of tensors, or the xlstm stack's
                tuple of tuples) or None.

        Returns:
            the same structure, every tensor detached.
        """
        return map_state(lambda s: s.detach(), state)

    @staticmethod
    def select_state(state: State, index: Tensor) -> State:
        """The state of the batch elements ``index``.

        Args:
            state: a layer's state: torch.nn-style tensors (L*D, B, ...) (the batch on
                dimension 1) or the xlstm stack's tuple of block states (B, ...) (the
                batch on dimension 0).
            index: (K,) int64 batch indices.

        Returns:
            the same structure holding only those batch elements.
        """
        stacked = isinstance(state, tuple) and bool(state) and isinstance(state[0], tuple)
        dim = 0 if stacked else 1
        return map_state(lambda s: s.index_select(dim, index), state)


def map_state(fn, state: State) -> State:
    """``fn`` applied to every tensor of a state (None, a tensor, or nested tuples/lists of
    tensors), keeping its structure.

    Args:
        fn: tensor -> tensor.
        state: the state.

    Returns:
        the state with each tensor ``t`` replaced by ``fn(t)``.
    """
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(map_state(fn, s) for s in state)
    return fn(state)


def count_parameters(module: nn.Module) -> int:
    """The number of parameters of ``module`` (every element of every parameter).

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in module.parameters())


__all__ = ["LM_CELLS", "CharLM", "CharLMConfig", "count_parameters", "map_state"]
