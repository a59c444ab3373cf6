"""Click parameter types for numbers a user types: refused at parse time (exit 2) when not usable.

``click.FloatRange`` lets ``nan`` through (every comparison with it is false) and, without a
maximum, ``inf``: a ``--lock-wait nan`` would then wait forever. These types refuse both.
"""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloatRange(click.FloatRange):
    """A ``click.FloatRange`` that refuses ``nan`` and infinities."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


SECONDS = FiniteFloatRange(min=0)
"""A duration in seconds: finite, zero or more."""
