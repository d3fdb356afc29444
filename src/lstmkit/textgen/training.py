"""Training a character language model with truncated backpropagation through time
(TBPTT), on Lightning Fabric (:mod:`lstmkit.spine.engine.fabric`).

The training text is cut into parallel streams, each a contiguous slice of the text;
batch k holds characters [kT, (k+1)T) of every stream, so the state at the end of batch k
is the right starting state for batch k+1 and is carried over (detached: gradients stop
at the batch boundary, the memory does not). Each new pass over the text starts the
streams at a fresh random offset, so the batch boundaries move. The loop carries that
state, so it is a loop of its own rather than a Trainer's batches; Fabric gives it the
engine's devices, DDP and precision. Under DDP each of the W processes reads its own
``batch_size`` streams (W x ``batch_size`` in all) with its own carried state, and Fabric
averages the gradients.

The learning rate warms up linearly, then follows a cosine from ``lr`` down to
``lr * final_lr_fraction``, scheduled on the fraction of the budget used: steps out of
``max_steps`` or training seconds out of ``max_time``, whichever is further along. A
time budget therefore gets a complete schedule however fast the machine is, and a
resumed run continues it from the saved step and training time.

A checkpoint (``checkpoint_dir/last.ckpt``, every N steps or seconds) holds the model,
the optimiser, the counters (step, characters, training time, pass), the streams' offset
and position, the carried state and the random generators of every process, and the
history so far, so a resumed run on one process continues exactly where it stopped.

Shapes: N characters, B streams, T steps per chunk, V vocabulary size, W processes.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from lstmkit.errors import InputError, TrainingInterrupted
from lstmkit.textgen.network import CharLM, map_state
from lstmkit.textgen.scoring import LN2, DynamicEval, bits_per_char, score, score_dynamic

__all__ = ["LN2", "LOOP_KEYWORDS", "DynamicEval", "TBPTTConfig", "TBPTTOutcome", "bits_per_char",
           "score", "score_dynamic", "stream_batches", "train_tbptt"]

# the engine settings the loop reads (the others of lightning.Trainer have no meaning here)
LOOP_KEYWORDS = ("accelerator", "devices", "strategy", "num_nodes", "precision", "max_time", "max_steps",
                 "max_epochs", "gradient_clip_val", "checkpoint_dir", "checkpoint_every_n_steps",
                 "checkpoint_every_seconds", "verbose")


@dataclass
class TBPTTConfig:
    """The training recipe (see the module docstring for the schedule).

    Args:
        batch_size: B, parallel text streams per process.
        seq_len: T, characters per TBPTT chunk (gradients stop at chunk boundaries, the
            state does not).
        lr: the peak learning rate.
        final_lr_fraction: the cosine decay ends at ``lr * final_lr_fraction``.
        warmup_steps: steps of linear warm-up.
        grad_clip: the gradient norm's clipping threshold.
        weight_decay: AdamW's decoupled weight decay on the weight matrices.
        eval_every: seconds of training between validations.
        eval_chars: validation characters scored during training (all at the end).

    Raises:
        InputError: a value outside its range.
    """

    batch_size: int = 32
    seq_len: int = 50
    lr: float = 3e-3
    final_lr_fraction: float = 0.02
    warmup_steps: int = 50
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    eval_every: float = 30.0  # seconds of training between validations
    eval_chars: int = 30000  # validation characters scored during training (all at the end)

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_len", "eval_chars"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise InputError(
                f"warmup_steps must be a non-negative integer, got {self.warmup_steps!r}"
            )
        for name in ("lr", "grad_clip", "eval_every"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0 <= self.final_lr_fraction <= 1:
            raise InputError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction!r}")
        if not self.weight_decay >= 0:
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def lr_at(self, step: int, progress: float) -> float:
        """The learning rate at ``step`` with ``progress`` (the fraction of the budget
        used, 0 to 1): the warm-up times the cosine decay.

        Example:
            >>> TBPTTConfig(warmup_steps=0).lr_at(0, 1.0)
            6e-05
        """
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        cos = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return self.lr * warm * (self.final_lr_fraction + (1.0 - self.final_lr_fraction) * cos)


@dataclass
class TBPTTOutcome:
    """What a run leaves besides the trained model: one history row per validation,
    the steps done, this process's place, and the checkpoint it resumed from."""

    history: list[dict]
    steps: int
    is_global_zero: bool = True
    world_size: int = 1
    resumed_from: dict | None = None  # {"path", "step"}


def stream_batches(
    ids: Tensor, batch: int, steps: int, offset: int = 0
) -> Iterator[tuple[Tensor, Tensor]]:
    """Consecutive chunks of ``ids[offset:]`` cut into ``batch`` streams.

    Args:
        ids: (N,) int64 character ids.
        batch: B, the number of contiguous streams.
        steps: T, characters per chunk.
        offset: characters skipped at the start.

    Yields:
        (x (B, T), y (B, T)): y is x shifted by one character; the last chunk may be
        shorter than T.
    """
    x, y = _streams(ids, batch, offset)
    for i in range(0, x.shape[1], steps):
        yield x[:, i : i + steps], y[:, i : i + steps]


def _streams(ids: Tensor, batch: int, offset: int) -> tuple[Tensor, Tensor]:
    """(x (B, N'), y (B, N')): ``ids[offset:]`` as B contiguous streams, y shifted by one."""
    per = (ids.numel() - 1 - offset) // batch  # characters per stream
    x = ids[offset : offset + batch * per].view(batch, per)
    y = ids[offset + 1 : offset + 1 + batch * per].view(batch, per)
    return x, y


def _adamw(groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel where this torch has it for the parameters' device
    (CPU since torch 2.4: 0.7 ms a step instead of 1.8 ms for the default model), else
    torch's default implementation."""
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


def _seconds(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"max_time must be seconds (a number) or a timedelta, got {value!r}")
    if not value > 0:
        raise InputError(f"max_time must be positive seconds, got {value}")
    return float(value)


def _steps(name: str, value) -> int | None:
    if value is None or value == -1:  # Lightning's "no limit"
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"{name} must be positive, got {value}")
    return value


def _gather(fabric, tensor: Tensor) -> Tensor:
    """(W, ...) on the CPU: ``tensor`` of every process (a collective under DDP)."""
    if fabric.world_size == 1:
        return tensor.detach().cpu().unsqueeze(0)
    import torch.distributed as dist

    mine = tensor.detach().to(fabric.device).contiguous()
    every = [torch.empty_like(mine) for _ in range(fabric.world_size)]
    dist.all_gather(every, mine)  # no autograd (Fabric's all_gather is differentiable)
    return torch.stack(every).cpu()


def _random_states(fabric, gen: torch.Generator) -> dict:
    from lstmkit.spine.engine.callbacks import RandomState

    states = {"host": RandomState().state_dict(), "torch": _gather(fabric, torch.get_rng_state()),
              "passes": gen.get_state()}
    if fabric.device.type == "cuda":
        states["cuda"] = _gather(fabric, torch.cuda.get_rng_state(fabric.device))
    return states


def _set_random_states(fabric, gen: torch.Generator, states: dict) -> None:
    from lstmkit.spine.engine.callbacks import RandomState

    RandomState().load_state_dict(states["host"])  # Python and NumPy (and torch: set next)
    rank = fabric.global_rank
    torch.set_rng_state(states["torch"][rank].clone())
    gen.set_state(states["passes"].clone())
    if "cuda" in states and fabric.device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"][rank].clone(), fabric.device)


def train_tbptt(
    model: CharLM,
    train_ids: Tensor,
    val_ids: Tensor | None,
    cfg: TBPTTConfig,
    max_steps: int | None,
    max_time: float | None,
    seed: int,
    log: Callable[[dict], None] | None = None,
    *,
    max_epochs: int | None = None,
    resume: bool = False,
    fingerprint: dict | None = None,
    checkpoint_dir=None,
    checkpoint_every_n_steps: int | None = None,
    checkpoint_every_seconds: float | None = 60.0,
    verbose: bool = True,
    **engine,
) -> TBPTTOutcome:
    """Train ``model`` in place for ``max_steps`` steps, ``max_time`` seconds of training
    (validation excluded) or ``max_epochs`` passes over the text, whichever ends first
    (none of them: one pass). ``engine``: ``accelerator``, ``devices``, ``strategy``,
    ``num_nodes``, ``precision`` (Lightning's). With ``checkpoint_dir`` a checkpoint is
    written every ``checkpoint_every_n_steps`` steps (default: a twentieth of a step
    budget) or ``checkpoint_every_seconds``; ``resume`` continues from it (checked
    against ``fingerprint``, saying ``resumed from step N`` on stderr).

    History: one dict per validation, ``step, chars, train_time, lr, train_bpc`` (mean
    since the last record, over every process) and ``val_bpc`` (on the first
    ``eval_chars`` validation characters; the last record on all of them). ``log`` gets
    each row on the first process. Ctrl-C raises :class:`TrainingInterrupted`, the
    model keeping what it learned. The model ends on the CPU in eval mode.

    Args:
        model: the :class:`~lstmkit.textgen.network.CharLM` to train (any cell; its
            state, however nested, is carried and checkpointed).
        train_ids: (N,) int64 ids of the training text.
        val_ids: (M,) int64 ids of the validation text, or None.
        cfg: the recipe.
        max_steps: a step budget or None.
        max_time: a budget in seconds of training (a number or timedelta) or None.
        seed: seeds the passes' offsets and, per process, the dropout masks.
        log: called with each history row on the first process, or None.
        max_epochs: a budget in passes over the text, or None.
        resume: continue from ``checkpoint_dir``.
        fingerprint: what a resumed run must match (settings, text digests).
        checkpoint_dir: where ``last.ckpt`` is written, or None.
        checkpoint_every_n_steps: steps between checkpoints.
        checkpoint_every_seconds: seconds between checkpoints.
        verbose: show the progress line.
        **engine: Lightning Fabric's ``accelerator``, ``devices``, ``strategy``,
            ``num_nodes``, ``precision`` and ``gradient_clip_val``.

    Returns:
        a :class:`TBPTTOutcome`.

    Raises:
        InputError: a text too short for the streams, a bad budget, or a checkpoint that
            does not match the run.
        TrainingInterrupted: on Ctrl-C.
    """
    from lstmkit.spine.engine.fabric import LoopCheckpoints, launch
    from lstmkit.spine.engine.progress import LoopProgress

    B, T = cfg.batch_size, cfg.seq_len
    N = train_ids.numel() - 1  # predicted characters
    if N // B < 2:
        raise InputError(
            f"the training text is too short for batch_size={B}: {train_ids.numel()} characters, "
            f"expected at least {2 * B + 1} (use a smaller batch_size or more text)"
        )
    max_steps, max_epochs = _steps("max_steps", max_steps), _steps("max_epochs", max_epochs)
    max_time = _seconds(max_time)
    clip = float(engine.pop("gradient_clip_val", None) or cfg.grad_clip)

    fabric = launch(engine)
    W, rank, dev = fabric.world_size, fabric.global_rank, fabric.device
    if N // (W * B) < 2:
        raise InputError(
            f"the training text is too short for {W} processes x batch_size={B}: {train_ids.numel()} "
            f"characters, expected at least {2 * W * B + 1} (fewer processes, a smaller batch_size or more text)"
        )
    pass_steps = math.ceil((N // (W * B)) / T)  # steps of the first pass
    if max_epochs is not None:
        max_steps = min(max_steps or math.inf, max_epochs * pass_steps)
    if max_steps is None and max_time is None:
        max_steps = pass_steps
    if fingerprint is not None:
        fingerprint = {**fingerprint, "processes": W}  # the streams depend on it

    gen = torch.Generator().manual_seed(seed)  # the passes' offsets: the same on every process
    if rank:
        torch.manual_seed(seed + 7919 * rank)  # dropout: a mask of its own on each process
    decay, no_decay = [], []
    for name, p in model.named_parameters():  # no decay on biases and embeddings
        (decay if p.dim() > 1 and not name.startswith("embedding") else no_decay).append(p)
    optimizer = _adamw([{"params": decay, "weight_decay": cfg.weight_decay},
                        {"params": no_decay, "weight_decay": 0.0}], cfg.lr)
    net = model
    model, opt = fabric.setup(net, optimizer)
    train_ids = train_ids.to(dev)
    val_ids = val_ids.to(dev) if val_ids is not None else None
    V = net.config.vocab_size

    # what a checkpoint holds besides the model and the optimiser
    run = {"step": 0, "chars": 0, "train_time": 0.0, "epoch": 0, "offset": 0, "chunk": 0,
           "state": None, "loss_sum": None, "loss_n": 0, "last_eval": 0.0, "history": [], "random": None}
    acc = torch.float64 if dev.type in ("cpu", "cuda") else torch.float32
    loss_sum = torch.zeros((), dtype=acc, device=dev)  # summed on the device: no sync per step
    state = None

    def snapshot() -> dict:
        carried = map_state(lambda s: _gather(fabric, s), state)  # each tensor (W, ...)
        return {"model": model, "optimizer": opt, **run, "state": carried,
                "loss_sum": _gather(fabric, loss_sum), "random": _random_states(fabric, gen)}

    ckpt = LoopCheckpoints(checkpoint_dir, fingerprint, checkpoint_every_n_steps
                           or (max(1, max_steps // 20) if max_steps else None), checkpoint_every_seconds)
    point = None
    if resume:
        holder = snapshot()
        point = ckpt.restore(fabric, holder)
        run.update({k: holder[k] for k in run})
        state = map_state(lambda s: s[rank].to(dev), run["state"])  # this process's own
        if net.config.cell in ("gru", "rnn") and isinstance(state, tuple):
            state = state[0]  # a checkpoint that kept a GRU's or RNN's state as a 1-tuple
        loss_sum.copy_(run["loss_sum"][rank])
        _set_random_states(fabric, gen, run["random"])
        run["state"] = run["loss_sum"] = run["random"] = None

    def fraction() -> float:
        p = 0.0
        if max_steps is not None:
            p = max(p, run["step"] / max_steps)
        if max_time is not None:
            p = max(p, run["train_time"] / max_time)
        return p

    shown: dict = {}
    history = run["history"]

    def record(final: bool) -> None:
        total, n = loss_sum.clone(), run["loss_n"]
        if W > 1:
            total, n = fabric.all_reduce(total, reduce_op="sum"), n * W
        row = {
            "step": run["step"],
            "chars": run["chars"],
            "train_time": round(run["train_time"], 2),
            "lr": optimizer.param_groups[0]["lr"],
            "train_bpc": float(total) / n / LN2 if n else float("nan"),
        }
        if val_ids is not None:
            part = val_ids if final else val_ids[: cfg.eval_chars + 1]
            row["val_bpc"] = bits_per_char(net, part)
        row["final"] = final
        history.append(row)
        loss_sum.zero_()
        run["loss_n"] = 0
        shown.clear()
        shown.update({k: row[k] for k in ("train_bpc", "val_bpc") if k in row and math.isfinite(row[k])})
        if log is not None and fabric.is_global_zero:
            log(row)

    def own_streams(offset: int) -> tuple[Tensor, Tensor, int]:
        """This process's B of the W x B streams starting at ``offset``, and their chunks."""
        x, y = _streams(train_ids, W * B, offset)
        x, y = x[rank * B : (rank + 1) * B], y[rank * B : (rank + 1) * B]
        return x, y, math.ceil(x.shape[1] / T)

    progress = LoopProgress(verbose, total=max_steps, enabled=fabric.is_global_zero)
    x_all, y_all, chunks = own_streams(run["offset"])
    model.train()
    try:
        while fraction() < 1.0:
            if run["chunk"] >= chunks:  # a new pass: a new offset, every stream starts afresh
                run["epoch"] += 1
                run["chunk"], run["offset"] = 0, int(torch.randint(0, T, (1,), generator=gen))
                state = None
                x_all, y_all, chunks = own_streams(run["offset"])
            t0 = time.perf_counter()
            lr = cfg.lr_at(run["step"], fraction())
            for group in optimizer.param_groups:
                group["lr"] = lr
            i = run["chunk"] * T
            x, y = x_all[:, i : i + T], y_all[:, i : i + T]
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, V).float(), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            fabric.backward(loss)
            fabric.clip_gradients(model, opt, max_norm=clip, error_if_nonfinite=False)
            opt.step()
            state = CharLM.detach_state(state)
            spent = time.perf_counter() - t0
            if W > 1:  # every process keeps the same clock: the same schedule, the same stop
                spent = float(fabric.all_reduce(torch.tensor(spent, device=dev), reduce_op="max"))
            run["train_time"] += spent
            run["step"] += 1
            run["chunk"] += 1
            k = y.numel()
            run["chars"] += k * W
            loss_sum.add_(loss.detach(), alpha=k)
            run["loss_n"] += k
            if run["train_time"] - run["last_eval"] >= cfg.eval_every:
                run["last_eval"] = run["train_time"]
                record(final=False)
            progress.update(run["step"], **shown)
            if ckpt.due(fabric, run["step"]):
                ckpt.save(fabric, snapshot())
        record(final=True)
        progress.close(**shown)
    except KeyboardInterrupt:
        raise TrainingInterrupted(run["step"], history) from None
    finally:
        net.eval()
        if dev.type != "cpu":
            net.to("cpu")
    return TBPTTOutcome(history, run["step"], fabric.is_global_zero, W, point)

