"""ULMFiT's classifier fine-tuning (Howard & Ruder 2018) for the engine
(:mod:`lstmkit.spine.engine`): layer groups, discriminative learning rates, the slanted
triangular schedule and gradual unfreezing.

The layer groups of a :class:`~lstmkit.classify.network.TextClassifierNet`, top first:
the head, then each recurrent layer from the last to the first (both directions of a
layer together), then the embedding. Group k (0 = the head) trains at ``lr / 2.6**k``;
in epoch e (0-based) only the groups 0..e train, the others are frozen
(``requires_grad`` off, so AdamW neither moves nor decays them): the head alone first,
then one more group per epoch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import torch
from torch import nn

from lstmkit.spine.engine import TaskModule

DISCRIMINATIVE = 2.6  # each group down trains at the learning rate of the one above / 2.6
CUT_FRAC = 0.1  # share of the run spent rising, in the slanted triangular schedule
RATIO = 32  # how much smaller the lowest learning rate is than the peak


def layer_groups(net: nn.Module) -> list[list[nn.Parameter]]:
    """The parameters of a :class:`~lstmkit.classify.network.TextClassifierNet` in layer
    groups, top first: the head, the recurrent layers from the last to the first, the
    embedding.

    Args:
        net: the network.

    Returns:
        One list of parameters per group; every parameter is in exactly one.

    Example:
        >>> from lstmkit.classify.network import TextClassifierNet, TextClassifierNetConfig
        >>> net = TextClassifierNet(TextClassifierNetConfig(vocab_size=20, num_classes=2,
        ...                                                 embedding_dim=4, hidden_size=3, num_layers=2))
        >>> [len(g) for g in layer_groups(net)]
        [2, 8, 8, 1]
    """
    layers: dict[int, list[nn.Parameter]] = {}
    head, embedding = [], []
    for name, p in net.named_parameters():
        if name.startswith("rnn."):
            m = re.search(r"_l(\d+)(?:_reverse)?$", name) or re.search(r"\.(\d+)\.", name)
            layers.setdefault(int(m.group(1)) if m else 0, []).append(p)
        elif name.startswith("embedding."):
            embedding.append(p)
        else:
            head.append(p)
    return [head, *(layers[k] for k in sorted(layers, reverse=True)), embedding]


def slanted_triangular(total_steps: int, cut_frac: float = CUT_FRAC, ratio: float = RATIO) -> Callable[[int], float]:
    """ULMFiT's slanted triangular learning rate as a multiplier of the peak: a linear
    rise over the first ``cut_frac`` of the run from ``1/ratio`` to 1, then a linear fall
    back to ``1/ratio`` at the end.

    Args:
        total_steps: optimiser steps in the run.
        cut_frac: the rising share (default 0.1).
        ratio: peak over lowest (default 32).

    Returns:
        ``factor(step) -> float`` in [1/ratio, 1].

    Example:
        >>> f = slanted_triangular(100)
        >>> round(f(0), 4), f(10), round(f(100), 4)
        (0.0312, 1.0, 0.0312)
    """
    cut = max(1, math.floor(total_steps * cut_frac))

    def factor(step: int) -> float:
        if step < cut:
            p = step / cut
        else:
            p = max(0.0, 1 - (step - cut) / max(1, total_steps - cut))
        return (1 + p * (ratio - 1)) / ratio

    return factor


def discriminative_recipe(lr: float, weight_decay: float, discriminative: bool = True) -> Callable:
    """A recipe for :class:`~lstmkit.spine.engine.TaskModule`: AdamW with one parameter
    group per layer group (:func:`layer_groups`), group k at ``lr / 2.6**k``, all under
    the slanted triangular schedule, stepped once per optimiser step.

    Args:
        lr: the head's peak learning rate.
        weight_decay: AdamW's, for every group.
        discriminative: False: every parameter in one group at ``lr`` (for a network
            that is not a classifier, e.g. the language model).

    Returns:
        ``recipe(net, total_steps)`` -> Lightning's optimizer configuration.
    """

    def configure(net: nn.Module, total_steps: int):
        parts = layer_groups(net) if discriminative else [list(net.parameters())]
        groups = [{"params": g, "lr": lr / DISCRIMINATIVE**k, "weight_decay": weight_decay}
                  for k, g in enumerate(parts) if g]
        opt = torch.optim.AdamW(groups, lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, slanted_triangular(max(2, total_steps)))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return configure


def unfreeze(net: nn.Module, epoch: int) -> int:
    """Gradual unfreezing: let the top ``epoch + 1`` layer groups train and freeze the
    rest.

    Args:
        net: the network.
        epoch: the epoch about to run, 0-based.

    Returns:
        How many groups train.
    """
    groups = layer_groups(net)
    n = min(len(groups), epoch + 1)
    for k, group in enumerate(groups):
        for p in group:
            p.requires_grad_(k < n)
    return n


class GradualUnfreezing(TaskModule):
    """A :class:`~lstmkit.spine.engine.TaskModule` that applies :func:`unfreeze` at the
    start of every epoch (a resumed run too, from the epoch it resumes in) and leaves
    every parameter trainable at the end.

    Args:
        *args, **kwargs: those of :class:`~lstmkit.spine.engine.TaskModule`.
    """

    def on_train_epoch_start(self) -> None:
        """Freeze the groups this epoch leaves out."""
        unfreeze(self.net, self.current_epoch)

    def on_train_end(self) -> None:
        """Every parameter trainable again."""
        for p in self.net.parameters():
            p.requires_grad_(True)
