"""A character-level language model: embedding -> recurrent layers -> linear head.

Shapes: B batch (parallel text streams), T time (characters), V vocabulary size,
E embedding size, H hidden size, L layers.

``CharLM.forward`` takes and returns the recurrent state, so a caller can carry it across
consecutive chunks of a text (truncated backpropagation through time) or feed one
character at a time while generating (constant cost per character).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.spine.nets import CELLS, make_rnn
from lstmkit.variants import Dropout

# what a layer's state is: (h, c) for an LSTM, h for a GRU/RNN
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

    ``dropout`` is applied to the embeddings, between layers and before the head;
    ``layer_options`` are extra keyword arguments of the lstmkit layer (its ``backend``,
    or LSTM variants such as ``layer_norm=True``)."""

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
        if self.cell not in CELLS:
            raise InputError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        _probability("dropout", self.dropout)
        if not isinstance(self.layer_options, dict):
            raise InputError(
                f"layer_options must be a dict, got {type(self.layer_options).__name__}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


class CharLM(nn.Module):
    """Next-character model. ``forward(x (B, T) int64, state) -> (logits (B, T, V), state)``.

    Example::

        >>> lm = CharLM(CharLMConfig(vocab_size=65, hidden_size=128))
        >>> logits, state = lm(torch.randint(0, 65, (4, 10)))
        >>> logits.shape
        torch.Size([4, 10, 65])
    """

    def __init__(self, config: CharLMConfig):
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim)
        inter = c.dropout if c.num_layers > 1 else 0.0  # torch warns on dropout with 1 layer
        self.rnn = make_rnn(
            c.cell,
            c.embedding_dim,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            dropout=inter,
            **c.layer_options,
        )
        self.drop = Dropout(c.dropout)  # nn.Dropout's maths, a faster mask
        self.head = nn.Linear(c.hidden_size, c.vocab_size)

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        emb = self.drop(self.embedding(x))  # (B, T, E)
        out, state = self.rnn(emb, state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)

    @staticmethod
    def detach_state(state: State) -> State:
        """The state cut from the graph: carried to the next chunk, but gradients stop."""
        if state is None:
            return None
        if isinstance(state, tuple):
            return tuple(s.detach() for s in state)
        return state.detach()

    @staticmethod
    def select_state(state: State, index: Tensor) -> State:
        """The state of the batch elements ``index`` (dimension 1 of each tensor)."""
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["CharLM", "CharLMConfig", "count_parameters"]
