r"""The encoder-decoder with attention, :class:`Seq2Seq` (the network of
:class:`~lstmkit.seq2seq.Translator`, which holds the vocabularies and trains it).

Encoder: embeddings -> :class:`lstmkit.LSTM` (optionally bidirectional; padded batches
run with ``lengths=``, so padding never leaks into the states or the memory). Its outputs
are the attention memory m_1..m_S; its final states (forward and backward halves
concatenated per layer) start the decoder.

Decoder, per target step t with previous token y_{t-1} (``<s>`` first)::

    luong:    s_t = LSTM(emb(y_{t-1}), s_{t-1});  ctx_t = attend(query s_t)
    bahdanau: ctx_t = attend(query s_{t-1});  s_t = LSTM([emb(y_{t-1}); ctx_t], s_{t-1})
    h~_t = tanh(W_c [ctx_t; s_t]),   p(y_t | y_<t, x) = softmax(W_o h~_t)

(Luong, Pham & Manning 2015, "general" score, without input feeding; Bahdanau, Cho &
Bengio 2015, additive score.) Under full teacher forcing Luong's decoder sees only gold
tokens, so the whole target runs through the LSTM in ONE call (the layer's fast
backends) and attention is one batched matmul; Bahdanau's context feeds the LSTM, so it
runs step by step, as does any teacher-forcing ratio below 1.

Shapes: B batch, S source length, T target length, E embedding, H decoder hidden size
(the encoder has H/2 per direction when bidirectional, so its outputs are H wide), V
target vocabulary, L layers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

import lstmkit
from lstmkit.errors import InputError, check_keywords, strict_keywords
from lstmkit.seq2seq.attention import make_attention
from lstmkit.seq2seq.vocab import PAD


@strict_keywords
@dataclass
class Seq2SeqConfig:
    """Architecture of a :class:`Seq2Seq`.

    Attributes:
        embedding_dim: E, of the source and target embeddings (default 32).
        hidden_size: H, the decoder's hidden size and the memory's width; the encoder has
            H/2 per direction when bidirectional, so H must then be even (default 128).
        num_layers: L, of the encoder and the decoder (default 1).
        bidirectional: a bidirectional encoder (default True).
        attention: ``"luong"`` (general score; default) or ``"bahdanau"`` (additive).
        dropout: in [0, 1), on the embeddings, the read-out and between layers (default 0).
        backend: the lstmkit backend of both LSTMs (default ``"auto"``).

    Raises:
        InputError: a field out of range, or an odd ``hidden_size`` with a bidirectional
            encoder.
    """

    embedding_dim: int = 32
    hidden_size: int = 128  # decoder H; memory width; the encoder's H/2 per direction if bidirectional
    num_layers: int = 1
    bidirectional: bool = True
    attention: str = "luong"  # "luong" (general) or "bahdanau" (additive)
    dropout: float = 0.0  # on the embeddings and the read-out (and between layers)
    backend: str = "auto"  # lstmkit backend of the encoder and decoder LSTMs

    def network(self) -> Seq2SeqConfig:
        """The architecture alone (for a subclass that adds training settings)."""
        return Seq2SeqConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Seq2SeqConfig)})

    def __post_init__(self) -> None:
        for name in ("embedding_dim", "hidden_size", "num_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if self.bidirectional and self.hidden_size % 2:
            raise InputError(
                f"hidden_size must be even with a bidirectional encoder (H/2 per direction), got {self.hidden_size}"
            )
        if self.attention not in ("luong", "bahdanau"):
            raise InputError(f"attention must be 'luong' or 'bahdanau', got {self.attention!r}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout!r}")


@dataclass
class Memory:
    """What the encoder leaves for the decoder.

    Attributes:
        memory: (B, S, H) encoder outputs.
        keys: (B, S, H) their attention projection, computed once.
        mask: (B, S) bool, True at real (unpadded) source positions.
    """

    memory: Tensor  # (B, S, H) encoder outputs
    keys: Tensor  # (B, S, H) their attention projection, computed once
    mask: Tensor  # (B, S) bool, True at real (unpadded) source positions

    def repeat(self, k: int) -> Memory:
        """Each batch element repeated k times in a row (for beam search)."""
        return Memory(*(t.repeat_interleave(k, 0) for t in (self.memory, self.keys, self.mask)))


class Seq2Seq(nn.Module):
    """An LSTM encoder-decoder with attention over token ids (``source_size`` and
    ``target_size`` ids, the four specials of :mod:`lstmkit.seq2seq.vocab` first).

    Strings in and out, training and decoding: :class:`~lstmkit.seq2seq.Translator`.

    Args:
        source_size: source ids (vocabulary size, specials included).
        target_size: V, target ids.
        config: the architecture; or give its fields as keywords (``**options``).
        **options: fields of :class:`Seq2SeqConfig` (``hidden_size=128``...).

    Raises:
        InputError: both ``config`` and keywords, or an unknown keyword.

    Example:
        A teacher-forced pass: source ids (B=2, S=5) with their lengths, target inputs
        (B, T=6) starting with ``<s>`` (id 1):

        >>> import torch
        >>> net = Seq2Seq(10, 12, hidden_size=16, embedding_dim=8)
        >>> src, lengths = torch.randint(4, 10, (2, 5)), torch.tensor([5, 3])
        >>> tgt_in = torch.cat([torch.ones(2, 1, dtype=torch.long), torch.randint(4, 12, (2, 5))], 1)
        >>> logits, attention = net(src, lengths, tgt_in)
        >>> logits.shape, attention.shape
        (torch.Size([2, 6, 12]), torch.Size([2, 6, 5]))
    """

    def __init__(self, source_size: int, target_size: int, config: Seq2SeqConfig | None = None,
                 **options) -> None:
        super().__init__()
        check_keywords(options, [f.name for f in dataclasses.fields(Seq2SeqConfig)], "Seq2Seq")
        if config is not None and options:
            raise InputError("give either a Seq2SeqConfig or its fields as keywords, not both")
        self.config = c = config or Seq2SeqConfig(**options)
        D = 2 if c.bidirectional else 1
        H, E, L = c.hidden_size, c.embedding_dim, c.num_layers
        between = c.dropout if L > 1 else 0.0
        self.src_embed = nn.Embedding(source_size, E, padding_idx=PAD)
        self.encoder = lstmkit.LSTM(E, H // D, L, batch_first=True, bidirectional=c.bidirectional,
                                    dropout=between, backend=c.backend)
        self.tgt_embed = nn.Embedding(target_size, E, padding_idx=PAD)
        dec_in = E + (H if c.attention == "bahdanau" else 0)
        self.decoder = lstmkit.LSTM(dec_in, H, L, batch_first=True, dropout=between, backend=c.backend)
        self.attention = make_attention(c.attention, H)
        self.combine = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, target_size)
        self.drop = nn.Dropout(c.dropout)

    @property
    def target_size(self) -> int:
        """V, the target vocabulary's size (specials included)."""
        return self.out.out_features

    # ---- encoder --------------------------------------------------------------------
    def encode(self, src: Tensor, lengths: Tensor) -> tuple[Memory, tuple[Tensor, Tensor]]:
        """src (B, S) ids, lengths (B,) -> memory, decoder initial state ((L, B, H) twice)."""
        out, (h, c) = self.encoder(self.drop(self.src_embed(src)), lengths=lengths)  # (B, S, H)
        if self.config.bidirectional:  # (L*2, B, H/2) -> (L, B, H): [forward; backward] per layer
            L, B = self.config.num_layers, src.shape[0]
            h = h.view(L, 2, B, -1).transpose(1, 2).reshape(L, B, -1)
            c = c.view(L, 2, B, -1).transpose(1, 2).reshape(L, B, -1)
        mask = torch.arange(src.shape[1], device=src.device) < lengths.to(src.device).unsqueeze(1)
        return Memory(out, self.attention.keys(out), mask), (h.contiguous(), c.contiguous())

    # ---- decoder --------------------------------------------------------------------
    def _readout(self, s: Tensor, ctx: Tensor) -> Tensor:
        return self.out(self.drop(torch.tanh(self.combine(torch.cat((ctx, s), -1)))))

    def _decoder_step(self, x: Tensor, state: tuple[Tensor, Tensor]):
        if torch.jit.is_tracing():  # ONNX export sees the layer's forward, over one step
            out, state = self.decoder(x.unsqueeze(1), state)
            return out[:, 0], state
        return self.decoder.step(x, state)

    def step(self, y_prev: Tensor, state: tuple[Tensor, Tensor], mem: Memory):
        """One decoder step: y_prev (B,) ids -> logits (B, V), attention (B, S), new state."""
        e = self.drop(self.tgt_embed(y_prev))  # (B, E)
        if self.config.attention == "luong":
            s, state = self._decoder_step(e, state)  # (B, H)
            ctx, alpha = self.attention(s.unsqueeze(1), mem.keys, mem.memory, mem.mask)
        else:
            query = state[0][-1].unsqueeze(1)  # top layer's s_{t-1}, (B, 1, H)
            ctx, alpha = self.attention(query, mem.keys, mem.memory, mem.mask)
            s, state = self._decoder_step(torch.cat((e, ctx[:, 0]), -1), state)
        return self._readout(s, ctx[:, 0]), alpha[:, 0], state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                teacher_forcing: float = 1.0) -> tuple[Tensor, Tensor]:
        """Training pass. tgt_in (B, T) starts with ``<s>``; returns logits (B, T, V) for
        the next tokens and attention weights (B, T, S). With ``teacher_forcing`` < 1, each
        step feeds the model's own previous prediction with probability 1 - ratio."""
        if not 0 <= teacher_forcing <= 1:
            raise InputError(f"teacher_forcing must be in [0, 1], got {teacher_forcing!r}")
        mem, state = self.encode(src, src_lengths)
        if self.config.attention == "luong" and teacher_forcing >= 1:
            s, _ = self.decoder(self.drop(self.tgt_embed(tgt_in)), state)  # (B, T, H) in one call
            ctx, alpha = self.attention(s, mem.keys, mem.memory, mem.mask)
            return self._readout(s, ctx), alpha
        logits, alphas = [], []
        y = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            lg, a, state = self.step(y, state, mem)
            logits.append(lg)
            alphas.append(a)
            if t + 1 < tgt_in.shape[1]:
                y = tgt_in[:, t + 1]
                if teacher_forcing < 1:
                    own = torch.rand(y.shape, device=y.device) >= teacher_forcing
                    y = torch.where(own, lg.argmax(-1), y)
        return torch.stack(logits, 1), torch.stack(alphas, 1)


__all__ = ["Memory", "Seq2Seq", "Seq2SeqConfig"]
