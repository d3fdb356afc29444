"""A griffe extension for the API reference: a Google-style ``Example:`` section is read as
``Examples:`` (griffe knows only the plural), so its ``>>>`` lines render as code blocks and
are not parsed as Markdown (where ``x[0][-1]`` would read as a reference link)."""

from __future__ import annotations

import re

import griffe

_SINGULAR = re.compile(r"(?m)^(\s*)Example:\s*$")


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
