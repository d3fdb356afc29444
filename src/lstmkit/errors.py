"""Errors raised for bad user input.

``InputError`` is a ``ValueError``: code that catches ``ValueError`` keeps working,
and the CLI turns it into one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: the message names what was expected and what came."""


def expect(condition: bool, message: str) -> None:
    """Raise :class:`InputError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InputError(message)


class UnknownKeywordError(InputError, TypeError):
    """A keyword argument no parameter takes. Both an :class:`InputError` (one line from
    the CLI) and the ``TypeError`` Python raises for an unexpected keyword."""


def closest(name: str, valid) -> str | None:
    """The entry of ``valid`` most like ``name`` (difflib), or None when none is close."""
    import difflib

    match = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
    return match[0] if match else None


def check_keywords(given, valid, where: str) -> None:
    """Raise :class:`UnknownKeywordError` naming the first keyword of ``given`` that is
    not in ``valid``, and the closest valid one."""
    valid = set(valid)
    for name in given:
        if name not in valid:
            near = closest(name, valid)
            hint = f"; did you mean {near!r}?" if near else f"; expected one of {', '.join(sorted(valid))}"
            raise UnknownKeywordError(f"{where} got an unknown keyword argument {name!r}{hint}")


def strict_keywords(cls):
    """Class decorator for a dataclass: an unknown keyword to its constructor raises
    :class:`UnknownKeywordError` naming the closest field, not a bare TypeError."""
    import dataclasses
    import functools

    init = cls.__init__
    valid = [f.name for f in dataclasses.fields(cls) if f.init]

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        check_keywords(kwargs, valid, cls.__name__)
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


def layer_option_names() -> list[str]:
    """The options a task may pass on to an lstmkit recurrent layer: the keyword-only
    parameters of its constructor (``backend``, ``layer_norm``, ``zoneout``, ...)."""
    import inspect

    import lstmkit

    from lstmkit.variants import SPECS

    variants = [spec.name for spec in SPECS]  # the layers take these through **variants
    for klass in lstmkit.LSTM.__mro__:
        params = inspect.signature(klass.__init__).parameters
        if "backend" in params:
            named = [p.name for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
            return named + [name for name in variants if name not in named]
    return ["backend", *variants]


def check_estimator_keywords(kwargs, fields, where: str) -> None:
    """An estimator's keywords are its config's ``fields`` or options of the recurrent
    layer; anything else is refused at once, naming the closest valid keyword."""
    check_keywords(kwargs, {*fields, *layer_option_names()}, where)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a training loop, raised by the loop with how far it got: ``step``
    (optimiser updates done; the network holds their result) and what the loop had
    recorded (``history``); ``result``, where the loop built what it trains, is that
    (a partly trained run)."""

    def __init__(self, step: int, history=None, what: str = "step", result=None) -> None:
        super().__init__(f"training interrupted after {what} {step}")
        self.step, self.history, self.what, self.result = step, history, what, result
