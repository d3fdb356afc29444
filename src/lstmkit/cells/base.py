"""The interface every cell family implements.

Shapes (one time step): B batch, H hidden, G = n_gates * H.

    gx  (B, G)  input projection of x_t, including b_ih (computed for all steps at once)
    gh  (B, G)  recurrent projection h_{t-1} @ W_hh^T + b_hh
    h   (B, H)  hidden state;  c (B, H) cell state (LSTM only, else None)

``forward`` uses only differentiable torch operations, so the reference backend runs it
under autograd; the fused backend runs it without autograd and keeps ``saved`` for
``backward``, which returns the gradients of the step's inputs.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor


class CellMath:
    """One step of a recurrent cell: ``forward`` and its hand-written ``backward``."""

    #: torch.nn mode name
    mode: str = ""
    #: gates stacked in the weight matrices (W_ih is (n_gates * H, I))
    n_gates: int = 1
    #: whether the cell carries a cell state c besides h
    has_cell: bool = False
    #: True when the gradient w.r.t. gh equals the one w.r.t. gx (gates = gx + gh)
    additive: bool = True
    #: names of the per-step activations :meth:`record` returns
    record_names: tuple[str, ...] = ("h",)

    def forward(
        self, gx: Tensor, gh: Tensor, h: Tensor, c: Tensor | None, cp: tuple | None = None
    ) -> tuple[Tensor, Tensor | None, tuple[Any, ...]]:
        """Return ``(h_t, c_t, saved)``. For an ``additive`` cell ``gh`` may be None, meaning
        ``gx`` already holds gx + gh. ``cp`` holds the cell's own parameters (the
        variants' peephole and cell-norm weights), None entries for options that are off."""
        raise NotImplementedError

    def backward(
        self,
        dh: Tensor,
        dc: Tensor | None,
        h: Tensor,
        c: Tensor | None,
        saved: tuple[Any, ...],
        cp: tuple | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Any]:
        """Given dL/dh_t and dL/dc_t (``dc`` may be None meaning zero), return
        ``(d_gx, d_gh, dh_direct, dc_prev, extra)``: gradients w.r.t. the pre-activations
        from the input and from the recurrence, the part of dL/dh_{t-1} that does not flow
        through W_hh (None when zero), dL/dc_{t-1}, and whatever :meth:`param_grads`
        needs from this step (None if nothing)."""
        raise NotImplementedError

    def param_grads(self, dgates, c_prev, saved: list, extras: list, cp, need) -> tuple:
        """Gradients of ``cp`` summed over all steps (None where not needed or absent)."""
        return (None,) * 5

    def record(self, h: Tensor, c: Tensor | None, saved: tuple[Any, ...]) -> dict[str, Tensor]:
        """The named per-step activations, for :func:`lstmkit.record_states`."""
        return {"h": h}
