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
