"""``torch.jit.script`` of the layers and cells: TorchScript compiles their torch.nn twin.

TorchScript compiles a module's ``forward`` from its Python source, and lstmkit's forward
(the choice of a backend, the compiled C++ operator, the keyword-only ``lengths``) is not
in TorchScript's subset. torch.nn's recurrent modules are: a plain lstmkit layer or cell
is the same model, so :meth:`ScriptsAsTorch.__prepare_scriptable__`, which
``torch.jit.script`` calls on every module it compiles, hands it the torch.nn module of
the same configuration holding this module's own parameters (shared, not copied). The
scripted program computes what torch.nn computes, and trains the same parameters.

As torch does with every ``__prepare_scriptable__`` it calls, a parent module that is
scripted gets the twin in place of the lstmkit module (its ``_modules`` entry is
replaced), so after ``torch.jit.script(model)`` the eager ``model`` holds the torch.nn
module: the same parameters and numbers, without lstmkit's extras (``lengths=``,
``backend``, ``step``).

A module the twin cannot stand for is refused with one error naming what to use instead:
a variant torch.nn lacks (layer norm, peepholes, coupled gates, cell clip, zoneout), one
that acts in training only (recurrent dropout, weight drop: a scripted module can be
trained), and a parameter that is computed (weight norm, pruning, a parametrization).
"""

from __future__ import annotations

from torch import nn

_ALTERNATIVES = "torch.jit.trace, torch.export or torch.compile run it as it is"


class ScriptsAsTorch:
    """Mixin for the layers and cells: ``torch.jit.script`` compiles the torch.nn twin.

    The class provides ``_torch_twin(device, dtype)``: a torch.nn module of the same
    configuration, whose parameter names are this module's.
    """

    def __prepare_scriptable__(self) -> nn.Module:
        """The torch.nn module of this configuration holding this module's parameters,
        for ``torch.jit.script`` to compile (see :mod:`lstmkit.torchscript`).

        Returns:
            A ``torch.nn.LSTM``, ``GRU``, ``RNN``, ``LSTMCell``, ``GRUCell`` or ``RNNCell``
            sharing this module's parameters, in this module's training mode.

        Raises:
            RuntimeError: a variant, or a computed parameter, that torch.nn's module
                cannot hold.
        """
        kind = f"lstmkit.{_kind(self)}"
        variants = [s.name for s in self.variants.on()]
        if variants:
            raise RuntimeError(
                f"torch.jit.script compiles torch.nn's recurrent modules, and {kind} with "
                f"{', '.join(variants)} has no torch.nn twin; {_ALTERNATIVES}")
        params = dict(self.named_parameters(recurse=False))
        computed = [n for n in self._parameter_names if n not in params]
        if computed:
            raise RuntimeError(
                f"torch.jit.script compiles the torch.nn twin of {kind}, whose parameters must "
                f"be plain, but {', '.join(computed)} is computed (weight norm, pruning or a "
                f"parametrization); {_ALTERNATIVES}")
        weight = next(iter(params.values()))
        twin = self._torch_twin("meta", weight.dtype)  # every parameter is replaced
        expected = sorted(n for n, _ in twin.named_parameters())
        if sorted(params) != expected:  # a registry or torch change: never a partial twin
            raise RuntimeError(
                f"torch.jit.script: {kind}'s parameters {sorted(params)} do not match its torch.nn "
                f"twin's {expected}; {_ALTERNATIVES}")
        for name, p in params.items():
            setattr(twin, name, p)
        return twin.train(self.training)


class RefusesScripting:
    """Mixin for the modules torch.nn has no twin of (sLSTM, mLSTM, ConvLSTM and their
    cells): ``torch.jit.script`` is refused with one error naming what runs them, where
    TorchScript's own compiler stops at the first construct outside its subset."""

    def __prepare_scriptable__(self) -> nn.Module:
        """Raises: RuntimeError, always (see the class)."""
        raise RuntimeError(
            f"torch.jit.script compiles torch.nn's recurrent modules, and "
            f"lstmkit.{_kind(self)} has no torch.nn twin; {_ALTERNATIVES}")


def _kind(module: nn.Module) -> str:
    """The lstmkit class's name (torch's parametrizations subclass it as Parametrized...)."""
    return type(module).__name__.removeprefix("Parametrized")
