"""``TextGenerator``: a character language model you fit on any text, score in bits per
character, sample from (streaming, one step per character), save and export, on the
:class:`~lstmkit.spine.estimator.Estimator` contract."""

from __future__ import annotations

import dataclasses
import math
import random
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from lstmkit.errors import InputError, TrainingInterrupted
from lstmkit.spine.engine.callbacks import digest
from lstmkit.spine.estimator import Estimator
from lstmkit.spine.flags import check_seed
from lstmkit.spine.nets import XLSTM_CELLS, make_rnn
from lstmkit.textgen.network import LM_CELLS, CharLM, CharLMConfig
from lstmkit.textgen.scoring import LN2, DynamicEval, bits_per_char, score_dynamic
from lstmkit.textgen.training import LOOP_KEYWORDS, TBPTTConfig, train_tbptt
from lstmkit.textgen.vocab import CharVocab

TASK = "textgen"


class UnknownCharactersWarning(UserWarning):
    """Text held characters the model's vocabulary does not have."""


#: each cell's default (hidden_size, num_layers) when they are not given. The LSTM's is
#: the measured recipe (docs/text.md); the GRU and the Elman RNN keep the earlier 384 (not
#: re-tuned). The xLSTM cells' hold about as many parameters as the default LSTM model on
#: tiny Shakespeare (963,010 with its 66 characters, counted by
#: ``count_parameters(gen.model)``; each within 5% of it): the sLSTM with one head has the
#: LSTM's weight shapes (953,154, -1.0%); two mLSTM layers of 448 (959,058, -0.4%); the
#: xlstm stack [mLSTM, sLSTM, mLSTM] of width 216 (955,650, -0.8%).
CELL_SIZES = {"lstm": (448, 1), "gru": (384, 1), "rnn": (384, 1), "slstm": (448, 1),
              "mlstm": (448, 2), "xlstm": (216, 3)}


def default_layer_options(cell: str) -> dict:
    """The recurrent layer's options when none are given.

    ``backend="auto"`` and, for the LSTM and the GRU, ``layer_norm=True`` (the Elman RNN
    has no variants). Layer normalisation costs the LSTM recipe about 9% of its characters
    per second on the compiled backend and lowered its 10-minute validation loss by 0.017
    nats (docs/text.md). The xLSTM cells: ``backend="auto"`` (the compiled sLSTM loop, the
    fused chunkwise mLSTM), ``num_heads=1`` for the sLSTM (the LSTM's weight shapes), 4
    for the mLSTM, and for the ``"xlstm"`` stack 4 heads with the sLSTM block in the
    middle of three (``slstm_at=[1]``: mostly mLSTM blocks, as the paper's 7:1 layout
    scaled down, with one sLSTM block for state tracking).

    Args:
        cell: one of ``"lstm"``, ``"gru"``, ``"rnn"``, ``"slstm"``, ``"mlstm"``, ``"xlstm"``.

    Returns:
        a new dict of keyword arguments for the layer.

    Example:
        >>> default_layer_options("xlstm")
        {'backend': 'auto', 'num_heads': 4, 'slstm_at': [1]}
    """
    if cell == "slstm":
        return {"backend": "auto", "num_heads": 1}
    if cell == "mlstm":
        return {"backend": "auto", "num_heads": 4}
    if cell == "xlstm":
        return {"backend": "auto", "num_heads": 4, "slstm_at": [1]}
    return {"backend": "auto"} if cell == "rnn" else {"backend": "auto", "layer_norm": True}


@dataclass
class TextGeneratorConfig(TBPTTConfig):
    """The model (embedding, recurrent layers, head) and its training recipe.

    Defaults are the recipe measured in docs/text.md: one layer-normalised LSTM layer of
    448 units, dropout 0.25 on its input and output, 32 streams x 50 characters, AdamW
    peaking at 4e-3 after a warm-up, then a cosine decay over the budget, weight decay
    0.2 on the weight matrices, gradients clipped at norm 1.

    Args:
        hidden_size: H; None: the cell's default (:data:`CELL_SIZES`: 448 for the LSTM, 216 for the
            xlstm stack).
        num_layers: layers (blocks for ``cell="xlstm"``); None: the cell's default
            (:data:`CELL_SIZES`: 1, 2 for the mLSTM, 3 for the xlstm stack).
        cell: ``"lstm"``, ``"gru"``, ``"rnn"``, ``"slstm"``, ``"mlstm"`` or ``"xlstm"``.
        embedding_dim: the character embeddings' width.
        dropout: on the embeddings and before the head (and between layers, or in the
            xlstm stack's blocks).
        weight_decay: AdamW's decoupled weight decay on the weight matrices.
        seed: seeds the initialisation, the dropout masks and the passes' offsets.
        layer_options: the recurrent layer's keywords; None gives
            :func:`default_layer_options` of the cell.
        **training: the fields of :class:`~lstmkit.textgen.training.TBPTTConfig`
            (``batch_size``, ``seq_len``, ``lr``...).

    Raises:
        InputError: a bad value, or a layer option the cell does not take.
    """

    hidden_size: int | None = None  # None: CELL_SIZES[cell]
    num_layers: int | None = None
    cell: str = "lstm"
    embedding_dim: int = 64
    dropout: float = 0.25
    lr: float = 4e-3  # the peak; TBPTTConfig's other fields keep their defaults
    weight_decay: float = 0.2
    seed: int = 0
    layer_options: dict | None = None  # None: default_layer_options(cell)

    def __post_init__(self) -> None:
        if self.cell not in LM_CELLS:
            raise InputError(f"cell must be one of {', '.join(LM_CELLS)}, got {self.cell!r}")
        if self.layer_options is None:
            self.layer_options = default_layer_options(self.cell)
        width, layers = CELL_SIZES[self.cell]
        self.hidden_size = width if self.hidden_size is None else self.hidden_size
        self.num_layers = layers if self.num_layers is None else self.num_layers
        super().__post_init__()
        self.model_config(vocab_size=1)  # validates the model's fields now, not at fit
        check_seed(self.seed)
        # an unknown layer option (a typo) fails here, with torch's own TypeError (for the
        # xLSTM cells an InputError naming it); a bad value or a variant the cell lacks, as
        # an InputError (a clear CLI message)
        try:
            if self.cell in XLSTM_CELLS:  # head counts must divide the real width
                make_rnn(self.cell, 1, self.hidden_size, self.num_layers, cells=LM_CELLS,
                         bad_options=lambda exc: f"the {self.cell} layer does not take the "
                                                 f"options {self.layer_options}: {exc}",
                         **self.layer_options)
            else:
                make_rnn(self.cell, 1, 1, **self.layer_options)
        except ValueError as exc:
            raise InputError(f"the {self.cell} layer's options: {exc}") from exc

    def model_config(self, vocab_size: int) -> CharLMConfig:
        """The network's :class:`~lstmkit.textgen.network.CharLMConfig` for a vocabulary
        of ``vocab_size`` ids."""
        return CharLMConfig(
            vocab_size=vocab_size,
            embedding_dim=self.embedding_dim,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            cell=self.cell,
            dropout=self.dropout,
            layer_options=dict(self.layer_options),
        )

    def train_config(self) -> TBPTTConfig:
        """The training recipe's fields as a :class:`~lstmkit.textgen.training.TBPTTConfig`."""
        names = [f.name for f in dataclasses.fields(TBPTTConfig)]
        return TBPTTConfig(**{n: getattr(self, n) for n in names})


def _as_text(text, what: str) -> str:
    if not isinstance(text, str):
        raise InputError(f"{what} must be a str, got {type(text).__name__}")
    if len(text) < 2:
        raise InputError(f"{what} is empty: expected at least 2 characters, got {len(text)}")
    return text


class TextGenerator(Estimator):
    """A character-level language model.

    Args:
        **kwargs: any field of :class:`TextGeneratorConfig` (``hidden_size=448,
            num_layers=1, cell="lstm", embedding_dim=64, dropout=0.25, batch_size=32,
            seq_len=50, lr=4e-3, weight_decay=0.2, seed=0``...); the engine's settings
            for the training loop (``accelerator``, ``devices``, ``strategy``,
            ``num_nodes``, ``precision``, ``max_steps``, ``max_time`` in seconds,
            ``max_epochs``, ``gradient_clip_val`` (overrides ``grad_clip``),
            ``checkpoint_dir``, ``checkpoint_every_n_steps``, ``checkpoint_every_seconds``,
            ``verbose``); other keywords are options of the lstmkit layer
            (``backend="native"``, variants: ``layer_norm=False`` for the plain cell, on
            by default for the LSTM and GRU; ``zoneout=0.1``...). ``batch_size`` is the
            number of streams of each process (under DDP, W processes read W x
            ``batch_size``).

    Raises:
        InputError: a bad value, or an engine setting the TBPTT loop does not read.
        TypeError: an unknown keyword (naming the closest valid one).

    ``cell="xlstm"`` (or ``"slstm"``, ``"mlstm"``) trains an xLSTM model the same way, its
    state carried across batches and through generation; its defaults
    (:data:`CELL_SIZES`, :func:`default_layer_options`) hold about as many parameters as
    the default LSTM model.

    Example:
        >>> import lstmkit, tempfile
        >>> text = "to be or not to be, that is the question. " * 40
        >>> gen = lstmkit.TextGenerator(hidden_size=32, batch_size=4, seq_len=20, seed=0,
        ...                             verbose=False)
        >>> gen = gen.fit(text, max_steps=5)          # TBPTT, the state carried
        >>> sorted(gen.evaluate(text[:200]))                  # bits and nats per character
        ['bits_per_char', 'characters', 'nats_per_char']
        >>> len(gen.predict("to be", length=20, temperature=0.8, seed=1))  # = generate
        20
        >>> xl = lstmkit.TextGenerator(cell="xlstm", hidden_size=16, num_layers=2,
        ...                            batch_size=4, seq_len=20, seed=0, verbose=False)
        >>> xl = xl.fit(text, max_steps=3)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = xl.save(d)
        ...     back = lstmkit.TextGenerator.load(d)
        >>> back.config.cell, back.generate("to", length=5, seed=1) == xl.generate("to", length=5, seed=1)
        ('xlstm', True)
    """

    TASK = TASK
    Config = TextGeneratorConfig
    LAYER_OPTIONS = True

    def __init__(self, **kwargs):
        if kwargs.get("layer_options") is None:  # the cell's defaults, under any option given
            kwargs["layer_options"] = default_layer_options(kwargs.get("cell", "lstm"))
        super().__init__(**kwargs)
        unused = sorted(set(self.trainer_kwargs) - set(LOOP_KEYWORDS))
        if unused:
            raise InputError(f"TextGenerator trains with its own loop (TBPTT on Lightning Fabric), which "
                             f"takes {', '.join(LOOP_KEYWORDS)} of the engine's settings, not "
                             f"{', '.join(unused)}")
        self.model: CharLM | None = None
        self.vocab: CharVocab | None = None
        self.counts: list[int] = []  # training frequency of each id: how an empty prompt starts
        self.is_global_zero = True

    # ---- the Estimator hooks -------------------------------------------------------------
    def _network(self):
        return self.model

    def _state(self) -> dict:
        return {"vocab": self.vocab.to_state(), "counts": self.counts}

    def _restore(self, state: dict) -> None:
        self.vocab = CharVocab.from_state(state["vocab"])
        self.counts = list(state["counts"])
        ok = all(isinstance(n, (int, float)) and not isinstance(n, bool) and 0 <= n < math.inf for n in self.counts)
        if len(self.counts) != len(self.vocab) or not ok or not sum(self.counts) > 0:
            raise InputError(f"the saved character counts ({len(self.counts)} values) do not fit the vocabulary "
                             f"of {len(self.vocab)} (expected one count >= 0 per character, some above 0): "
                             "config.json was edited or belongs to another model")
        self.model = CharLM(self.config.model_config(len(self.vocab)))

    def export_spec(self):
        """The ONNX graph: ``tokens`` (batch, time) int64 and the state ``h_0`` (L, batch,
        H) [, ``c_0`` for an LSTM] in; ``logits`` (batch, time, V), ``h_n`` [, ``c_n``]
        out, so a deployment generates one character per call. The metadata holds the
        vocabulary and the training counts (``lstmkit.state``).

        Returns:
            the :class:`~lstmkit.export.tasks.ExportSpec`.

        Raises:
            InputError: the model is not trained, or its cell is an xLSTM cell (no ONNX
                graph for those yet).
        """
        from lstmkit.textgen.export import charlm_spec

        self._require_fitted()
        if self.config.cell in XLSTM_CELLS:
            raise InputError(f"ONNX export of the character model takes the lstm, gru and rnn "
                             f"cells; this model's cell is {self.config.cell!r}")
        return charlm_spec(self.model, {"vocab": self.vocab.to_state(), "counts": list(self.counts)})

    # ---- training and scoring -----------------------------------------------------------
    def fit(
        self,
        text: str,
        max_steps: int | None = None,
        max_time: float | None = None,
        *,
        val_text: str | None = None,
        log: Callable[[dict], None] | None = None,
        resume: bool = False,
    ) -> TextGenerator:
        """Train a fresh model on ``text`` for ``max_steps`` batches and/or ``max_time``
        seconds of training (whichever ends first; given here or to the constructor, with
        ``max_epochs`` passes; none: one pass over the text). The alphabet is the
        characters of ``text`` and ``val_text``. With ``val_text``, ``log`` gets a record
        with train and validation bits per character every ``eval_every`` seconds, and
        ``history`` keeps them all. ``resume=True`` continues the run interrupted in
        ``checkpoint_dir`` (the same settings and text, else refused).

        Args:
            text: the training text (at least 2 characters).
            max_steps: a step budget (over the constructor's), or None.
            max_time: a budget in seconds of training (over the constructor's), or None.
            val_text: the validation text, or None.
            log: called with each history row, or None.
            resume: continue from ``checkpoint_dir``.

        Returns:
            this estimator, trained.

        Raises:
            InputError: an empty or too short text, a bad budget, a checkpoint of
                another run.
            TrainingInterrupted: on Ctrl-C (the model keeps what it learned).
        """
        text = _as_text(text, "the training text")
        if val_text is not None:
            val_text = _as_text(val_text, "the validation text")
        cfg = self.config
        engine = self._engine_kwargs()
        if max_steps is not None:
            engine["max_steps"] = max_steps
        if max_time is not None:
            engine["max_time"] = max_time
        torch.manual_seed(cfg.seed)
        self.vocab = CharVocab.from_text(text + (val_text or ""))
        ids = self.vocab.encode(text)
        self.counts = torch.bincount(ids, minlength=len(self.vocab)).tolist()
        self.model = CharLM(cfg.model_config(len(self.vocab)))
        val_ids = self.vocab.encode(val_text) if val_text is not None else None
        settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("eval_every", "eval_chars")}
        fingerprint = {"task": TASK, "config": settings, "text": digest(text),
                       "val_text": digest(val_text) if val_text is not None else None}
        try:
            outcome = train_tbptt(self.model, ids, val_ids, cfg.train_config(), engine.pop("max_steps", None),
                                  engine.pop("max_time", None), cfg.seed, log, resume=resume,
                                  fingerprint=fingerprint, **engine)
        except TrainingInterrupted as exc:  # Ctrl-C: the model keeps what it learned
            self.history = list(exc.history or [])
            raise
        self.history = outcome.history
        self.resumed_from = outcome.resumed_from
        self.is_global_zero = outcome.is_global_zero
        return self

    def evaluate(self, text: str, dynamic: bool | DynamicEval = False) -> dict:
        """``{"bits_per_char", "nats_per_char", "characters"}`` of ``text`` (predicting
        every character after the first; ``characters`` is how many were predicted).
        Characters outside the vocabulary count as the unknown id and are reported.

        ``dynamic=True`` (or a :class:`~lstmkit.textgen.scoring.DynamicEval` with its
        own ``lr``, ``decay``, ``steps``) scores with dynamic evaluation: a copy of the
        model keeps adapting its weights to the text as it reads it, each character still
        predicted before it is seen (Krause et al. 2018). The model itself is unchanged.

        Args:
            text: the text to score (at least 2 characters).
            dynamic: False (static), True (dynamic with the defaults) or a
                :class:`~lstmkit.textgen.scoring.DynamicEval`.

        Returns:
            ``{"bits_per_char", "nats_per_char", "characters"}``.

        Raises:
            InputError: not trained, a text too short, a bad ``dynamic``.
        """
        self._require_fitted()
        text = _as_text(text, "the text to evaluate")
        self._warn_unknown(text, "the text to evaluate", "they are scored as 'unknown'")
        ids = self.vocab.encode(text)
        if dynamic is False:
            bpc = bits_per_char(self.model, ids)
        else:
            if dynamic is True:
                dynamic = DynamicEval()
            if not isinstance(dynamic, DynamicEval):
                raise InputError(f"dynamic must be True, False or a DynamicEval, got {dynamic!r}")
            total, n = score_dynamic(self.model, ids, dynamic)
            bpc = total / n / LN2
        return {"bits_per_char": bpc, "nats_per_char": bpc * LN2, "characters": ids.numel() - 1}

    def predict(self, *args, **kwargs) -> str:
        """The estimator's prediction is generation: :meth:`generate` (same arguments)."""
        return self.generate(*args, **kwargs)

    def _warn_unknown(self, text: str, what: str, consequence: str) -> list[str]:
        unknown = self.vocab.unknown(text)
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            warnings.warn(
                f"{what} has {len(unknown)} character(s) the model never saw in training "
                f"({shown}); {consequence}",
                UnknownCharactersWarning,
                stacklevel=3,
            )
        return unknown

    # ---- sampling -----------------------------------------------------------------------
    @torch.inference_mode()
    def stream(
        self,
        prompt: str = "",
        length: int = 500,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Yield ``length`` sampled characters that continue ``prompt``, one at a time.

        The prompt is read once; then each character costs one recurrent step from the
        carried state (constant cost per character). ``temperature`` scales the logits
        (0 picks the most likely character); ``top_k`` keeps the k most likely ones.
        Prompt characters outside the vocabulary are skipped, with a warning. An empty
        prompt starts from a character drawn by its training frequency.

        Args:
            prompt: the text to continue.
            length: characters to generate (>= 0).
            temperature: >= 0.
            top_k: a positive int or None.
            seed: seeds the sampling; None draws a fresh seed.

        Yields:
            one character (a str) at a time.

        Raises:
            InputError: not trained, or a bad ``length``, ``temperature`` or ``top_k``.
        """
        self._require_fitted()  # every check here, before the first character is asked for
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be a str, got {type(prompt).__name__}")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise InputError(f"length must be a non-negative integer, got {length!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not 0 <= temperature < math.inf:
            raise InputError(f"temperature must be a finite number >= 0, got {temperature!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
            raise InputError(f"top_k must be a positive integer or None, got {top_k!r}")
        if seed is not None:
            check_seed(seed)
        return self._characters(prompt, length, temperature, top_k, seed)

    def _characters(self, prompt: str, length: int, temperature: float, top_k: int | None,
                    seed: int | None) -> Iterator[str]:
        """The generator behind :meth:`stream` (its arguments checked)."""
        gen = torch.Generator()
        gen.manual_seed(seed if seed is not None else random.SystemRandom().randrange(2**63))
        model, vocab = self.model, self.vocab
        model.eval()
        self._warn_unknown(prompt, "the prompt", "they were skipped")
        ids = [i for i in vocab.encode(prompt).tolist() if i != CharVocab.UNK]
        state, produced = None, 0
        if not ids:  # no context: the first character comes from the training frequencies
            if length == 0:
                return
            first = torch.multinomial(
                torch.tensor(self.counts, dtype=torch.float), 1, generator=gen
            )
            ids = [int(first)]
            produced = 1
            yield vocab.decode(ids)
        logits, state = model(torch.tensor([ids]), state)  # the prompt, read once
        logits = logits[0, -1]
        while produced < length:
            nxt = self._sample(logits, temperature, top_k, gen)
            produced += 1
            yield vocab.decode([nxt])
            if produced < length:
                logits, state = model(torch.tensor([[nxt]]), state)  # one step, state carried
                logits = logits[0, -1]

    @staticmethod
    def _sample(logits: torch.Tensor, temperature: float, top_k: int | None, gen) -> int:
        logits = logits.clone()
        logits[CharVocab.UNK] = float("-inf")  # never emit "unknown"
        if temperature == 0:
            return int(logits.argmax())
        # shifted by the largest logit first, so a tiny temperature sends the others to
        # -inf (probability 0) rather than everything to inf (NaN)
        logits = (logits.double() - logits.max()) / temperature
        if top_k is not None and top_k < logits.numel():
            kth = torch.topk(logits, top_k).values[-1]
            logits[logits < kth] = float("-inf")
        probs = torch.softmax(logits, dim=-1)
        return int(torch.multinomial(probs, 1, generator=gen))

    def generate(
        self,
        prompt: str = "",
        length: int = 500,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> str:
        """The ``length`` characters :meth:`stream` yields, as one string (the
        continuation, without the prompt); the arguments are :meth:`stream`'s.

        Returns:
            the generated text.
        """
        return "".join(self.stream(prompt, length, temperature, top_k, seed))


