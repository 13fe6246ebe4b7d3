"""The ``number`` family: a finite number within inclusive bounds, optionally an integer.

``bool`` is refused although Python calls it an ``int``; NaN and infinities are refused (every comparison
with NaN is false, so a NaN would slip past any bound); ``integer: true`` refuses floats, even ``5.0``.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from ._base import STRICT, FamilyCheck, Subject


class NumberSpec(BaseModel):
    """``number: {min: 0, max: 1000, integer: false}`` (bounds inclusive)."""

    model_config = STRICT

    min: int | float | None = None
    max: int | float | None = None
    integer: bool = False


class NumberCheck(FamilyCheck):
    __slots__ = ("_arg", "_integer", "_max", "_min", "_show")

    family = "number"

    def __init__(self, spec: NumberSpec, subject: Subject) -> None:
        for name, bound in (("min", spec.min), ("max", spec.max)):
            if isinstance(bound, float) and math.isnan(bound):
                raise ValueError(f"number.{name} is NaN")
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            raise ValueError(f"number.min ({spec.min}) is greater than number.max ({spec.max}): nothing could pass")
        if spec.min is None and spec.max is None and not spec.integer:
            raise ValueError("number: set min, max or integer (to only require a number, use 'type: number')")
        self._min = spec.min
        self._max = spec.max
        self._integer = spec.integer
        self._arg = subject.arg
        self._show = subject.show

    def check(self, value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"argument {self._arg!r}: {self._show(value)} is not a number"
        number: int | float
        if isinstance(value, int):
            number = int.__index__(value)
        else:
            number = float(value)
            if self._integer:
                return f"argument {self._arg!r}: {self._show(value)} is not an integer"
            if not math.isfinite(number):
                return f"argument {self._arg!r}: {self._show(value)} is not a finite number"
        if self._min is not None and number < self._min:
            return f"argument {self._arg!r}: {self._show(value)} is below the minimum {self._min}"
        if self._max is not None and number > self._max:
            return f"argument {self._arg!r}: {self._show(value)} is above the maximum {self._max}"
        return None
