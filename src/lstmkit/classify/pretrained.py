"""Pretrained sentence language models for :class:`~lstmkit.classify.TextClassifier`
(ULMFiT's first step): reading and writing them in the one saved-model format
(:mod:`lstmkit.spine.io`, task ``"classify-lm"``), pretraining one on unlabelled text,
and moving its weights onto a task's vocabulary.

The bundled model (``pretrained="bundled"``, the directory ``classify/weights/wordlm``
of the package) was pretrained by ``examples/pretrain_sentiment_lm.py`` on the bundled
Tiny Shakespeare (public domain) alone, never on the review sentences.

Shapes: V vocabulary size, E embedding size, H hidden size per direction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from lstmkit.classify.lm import SentenceLM, TiedLMHead
from lstmkit.classify.network import TextClassifierNet, TextClassifierNetConfig
from lstmkit.classify.vocab import TokenVocab
from lstmkit.errors import InputError

LM_TASK = "classify-lm"
BUNDLED_DIR = Path(__file__).resolve().parent / "weights" / "wordlm"
ENCODER_FIELDS = ("embedding_dim", "hidden_size", "num_layers", "cell")


@dataclass
class PretrainedLM:
    """A sentence language model as read from disk.

    Attributes:
        path: where it was read from.
        config: the encoder's fields (``embedding_dim``, ``hidden_size``, ``num_layers``,
            ``cell``) and the tokenizer's (``level``, ``lowercase``).
        vocab: its tokens, ids in order.
        tensors: ``embedding.weight`` (V, E), ``rnn.*`` and ``lm.*`` (the tied decoder).
    """

    path: str
    config: dict
    vocab: TokenVocab
    tensors: dict


def resolve(spec: str) -> Path:
    """The directory of a ``pretrained=`` value: ``"bundled"`` is the package's model,
    anything else a path."""
    return BUNDLED_DIR if spec == "bundled" else Path(spec)


def _where(spec: str) -> str:
    return "the bundled language model" if spec == "bundled" else str(resolve(spec))


def read_lm_config(spec: str) -> dict:
    """The config of a pretrained language model (its ``config.json`` only, no weights).

    Args:
        spec: ``"bundled"`` or a directory.

    Returns:
        The encoder's fields and the tokenizer's.

    Raises:
        InputError: one line: nothing there, or not a sentence language model.
    """
    from lstmkit.spine import io

    path = resolve(spec)
    if not path.exists():
        raise InputError(f"pretrained={spec!r}: expected a language model saved by "
                         f"lstmkit.classify.pretrained.save_lm, found nothing at {path}"
                         + (" (reinstall lstmkit)" if spec == "bundled" else ""))
    try:
        config = io.read_config(path, LM_TASK)["config"]
    except InputError as exc:
        raise InputError(f"pretrained={spec!r}: {exc}") from None
    missing = [k for k in (*ENCODER_FIELDS, "level", "lowercase") if k not in config]
    if missing:
        raise InputError(f"{_where(spec)} is not a sentence language model: its config lacks "
                         f"{', '.join(missing)}")
    return dict(config)


def read_lm(spec: str) -> PretrainedLM:
    """Read and check a pretrained language model.

    Args:
        spec: ``"bundled"`` or the directory of a model saved by :func:`save_lm`.

    Returns:
        The :class:`PretrainedLM`.

    Raises:
        InputError: one line: a missing, truncated or corrupted file, a model of another
            task, or a vocabulary that does not fit the embedding.
    """
    from lstmkit.spine import io

    path, where = resolve(spec), _where(spec)
    config = read_lm_config(spec)
    try:
        _, tensors, state, _ = io.load_model(path, LM_TASK)
    except InputError as exc:
        raise InputError(f"pretrained={spec!r}: {exc}") from None
    if "tokens" not in (state.get("vocab") or {}) or "embedding.weight" not in tensors \
            or "lm.bias" not in tensors:
        raise InputError(f"{where} is not a sentence language model: its vocabulary, embedding "
                         "or decoder is missing")
    vocab = TokenVocab.from_state(state["vocab"])
    rows = tensors["embedding.weight"].shape[0]
    if len(vocab) != rows or vocab.tokens[:2] != list(TokenVocab.SPECIALS):
        raise InputError(f"{where}: vocabulary mismatch: {len(vocab)} tokens for {rows} embedding "
                         f"rows (expected one row per token, '<pad>' and '<unk>' first)")
    return PretrainedLM(str(path), dict(config), vocab, tensors)


def build(vocab_size: int, config: dict, num_classes: int = 2, dropout: float = 0.0,
          pooling: str = "concat") -> SentenceLM:
    """A fresh language model (a :class:`TextClassifierNet` encoder and its tied
    decoder) of the encoder ``config`` (:data:`ENCODER_FIELDS`)."""
    net = TextClassifierNet(TextClassifierNetConfig(
        vocab_size=vocab_size, num_classes=num_classes, embedding_dim=config["embedding_dim"],
        hidden_size=config["hidden_size"], num_layers=config["num_layers"], cell=config["cell"],
        bidirectional=True, pooling=pooling, dropout=dropout))
    return SentenceLM(net, TiedLMHead(config["hidden_size"], config["embedding_dim"], vocab_size))


def lm_tensors(lm: SentenceLM) -> dict:
    """What :func:`save_lm` keeps of a :class:`SentenceLM`: the embedding, the recurrent
    layer and the decoder (``lm.*``), not the classifier head."""
    out = {k: v for k, v in lm.net.state_dict().items() if k.startswith(("embedding.", "rnn."))}
    out.update({f"lm.{k}": v for k, v in lm.head.state_dict().items()})
    return out


def save_lm(path: str | os.PathLike, lm: SentenceLM, vocab: TokenVocab, config: dict,
            provenance: dict | None = None) -> Path:
    """Write a language model for ``pretrained=path`` (task ``"classify-lm"``).

    Args:
        path: the model directory.
        lm: the trained :class:`SentenceLM`.
        vocab: its vocabulary.
        config: the encoder's fields and ``level``, ``lowercase``.
        provenance: JSON-able notes kept in the state (corpus, licence, command).

    Returns:
        The directory written.
    """
    from lstmkit.spine import io

    return io.save_model(path, LM_TASK, dict(config), lm_tensors(lm),
                         {"vocab": vocab.to_state(), "provenance": provenance or {}})


def extend_vocab(vocab: TokenVocab, lm_vocab: TokenVocab, max_size: int) -> TokenVocab:
    """``vocab`` followed by the language model's tokens it lacks, ``max_size`` tokens at
    most: words never seen in the labelled texts keep their pretrained embeddings.

    Example:
        >>> a, b = TokenVocab(["<pad>", "<unk>", "good"]), TokenVocab(["<pad>", "<unk>", "bad", "good"])
        >>> extend_vocab(a, b, 10).tokens
        ['<pad>', '<unk>', 'good', 'bad']
    """
    seen = set(vocab.tokens)
    extra = [t for t in lm_vocab.tokens if t not in seen]
    return TokenVocab((vocab.tokens + extra)[:max_size])


def transfer(pre: PretrainedLM, lm: SentenceLM, vocab: TokenVocab) -> int:
    """Copy a pretrained model's weights into ``lm``, whose vocabulary is ``vocab``:
    the recurrent layer and decoder projections as they are, each token's embedding
    row and decoder bias from the pretrained row of the same token, and tokens the
    pretrained model never saw at the mean of its rows (ULMFiT's rule).

    Args:
        pre: the pretrained model.
        lm: a :class:`SentenceLM` of the same encoder sizes over ``vocab``.
        vocab: the task's vocabulary.

    Returns:
        How many of ``vocab``'s tokens the pretrained model knew.

    Raises:
        InputError: the encoders' sizes differ.
    """
    t = pre.tensors
    emb, bias = t["embedding.weight"], t["lm.bias"]
    if emb.shape[1] != lm.net.embedding.weight.shape[1]:
        raise InputError(f"{pre.path}: embedding width {emb.shape[1]} does not fit the "
                         f"classifier's {lm.net.embedding.weight.shape[1]}")
    ids = torch.tensor([pre.vocab._index.get(tok, -1) for tok in vocab.tokens])
    known = ids >= 0
    new_emb = emb.float().mean(0).expand(len(vocab), -1).clone()  # (V, E)
    new_bias = torch.full((len(vocab),), float(bias.float().mean()))
    new_emb[known] = emb.float()[ids[known]]
    new_bias[known] = bias.float()[ids[known]]
    new_emb[TokenVocab.PAD] = 0.0
    new_bias[TokenVocab.PAD] = bias.float()[TokenVocab.PAD]  # the sentence boundary
    rnn = {k[len("rnn."):]: v for k, v in t.items() if k.startswith("rnn.")}
    head = {k[len("lm."):]: v for k, v in t.items() if k.startswith("lm.") and k != "lm.bias"}
    from lstmkit.spine import io

    io.load_weights(lm.net.rnn, rnn, pre.path)
    with torch.no_grad():
        lm.net.embedding.weight.copy_(new_emb)
        lm.head.bias.copy_(new_bias)
        for name, p in lm.head.named_parameters():
            if name in head:
                p.copy_(head[name])
    return int(known.sum())


def play_sentences(text: str, lowercase: bool = True, max_len: int = 60) -> list[list[str]]:
    """The sentences of a play script such as Tiny Shakespeare, as word tokens: the
    speaker lines (a name and a colon alone on a line) dropped, each speech's lines joined
    and cut into sentences (:func:`~lstmkit.classify.lm.split_sentences`).

    Args:
        text: the script.
        lowercase: lowercase the words (default True, as the classifier).
        max_len: the longest sentence kept whole (default 60 tokens).

    Returns:
        The sentences, each a non-empty list of tokens.

    Example:
        >>> play_sentences("First Citizen:\\nBefore we proceed, hear me.\\nSpeak!\\n")
        [['before', 'we', 'proceed', ',', 'hear', 'me', '.'], ['speak', '!']]
    """
    from lstmkit.classify.lm import split_sentences
    from lstmkit.classify.vocab import tokenize

    out = []
    for speech in text.split("\n\n"):
        lines = [ln for ln in speech.split("\n") if ln.strip() and not ln.rstrip().endswith(":")]
        out += split_sentences(tokenize(" ".join(lines), "word", lowercase), max_len)
    return [s for s in out if s]


def pretrain(sentences: list[list[str]], *, max_vocab: int = 10000, min_freq: int = 2, embedding_dim: int = 100,
             hidden_size: int = 128, num_layers: int = 1, cell: str = "lstm", dropout: float = 0.2,
             epochs: int = 4, lr: float = 3e-3, weight_decay: float = 1e-4, batch_size: int = 64,
             seed: int = 0, val_sentences: list[list[str]] | None = None, verbose: bool = True,
             log=None) -> tuple[SentenceLM, TokenVocab, dict]:
    """Train a sentence language model (forward and backward, tied decoder) from scratch
    on tokenized sentences: ULMFiT's first step, run once (``examples/pretrain_sentiment_lm.py``).

    Args:
        sentences: the training sentences, token lists.
        max_vocab: tokens kept, the two specials included (default 10000).
        min_freq: rarer tokens are unknown (default 2).
        embedding_dim, hidden_size, num_layers, cell: the encoder (defaults 100, 128, 1,
            ``"lstm"``).
        dropout: on the embeddings and the states (default 0.2).
        epochs: passes over the sentences (default 4).
        lr: peak learning rate of the slanted triangular schedule (default 3e-3).
        weight_decay: AdamW's (default 1e-4).
        batch_size: sentences per step (default 64).
        seed: seeds the weights and the batch order (default 0).
        val_sentences: held-out sentences whose loss is measured after each epoch.
        verbose: the engine's progress lines.
        log: called with each epoch's row.

    Returns:
        ``(lm, vocab, config)``: the trained model, its vocabulary and the config that
        :func:`save_lm` writes.
    """
    from lstmkit.classify.finetune import discriminative_recipe
    from lstmkit.classify.training import CLIP, LengthBuckets
    from lstmkit.spine.engine import IndexData, TaskModule, fit_module

    vocab = TokenVocab.build(sentences, max_vocab, min_freq)
    config = {"embedding_dim": embedding_dim, "hidden_size": hidden_size, "num_layers": num_layers,
              "cell": cell, "level": "word", "lowercase": True}
    torch.manual_seed(seed)
    lm = build(len(vocab), config, dropout=dropout)

    def collate_of(seqs):
        def collate(idx):
            lengths = torch.tensor([len(seqs[i]) for i in idx])
            tokens = torch.zeros(len(idx), int(lengths.max()), dtype=torch.int64)
            for row, i in enumerate(idx):
                tokens[row, : len(seqs[i])] = torch.tensor(seqs[i])
            return tokens, lengths
        return collate

    seqs = [vocab.encode(s) for s in sentences]
    vseqs = [vocab.encode(s) for s in (val_sentences or [])]
    module = TaskModule(lm, lambda net, batch: net(*batch),
                        discriminative_recipe(lr, weight_decay, discriminative=False))
    data = IndexData(len(seqs), collate_of(seqs), batch_size, seed, n_val=len(vseqs),
                     val_collate=collate_of(vseqs) if vseqs else None)
    data.sampler = LengthBuckets([len(q) for q in seqs], batch_size, seed)
    from lstmkit.spine.engine import EpochRows

    fit_module(module, data, seed=seed, has_val=bool(vseqs), verbose=verbose, history=EpochRows(log),
               max_epochs=epochs, gradient_clip_val=CLIP)
    return lm.cpu().eval(), vocab, config
