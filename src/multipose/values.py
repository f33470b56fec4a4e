"""Checks of the values read from a user's files: what is wrong with them, in words (to follow
"result 3: 'keypoints'"), or None where they are fine. JSON gives ints, floats (NaN and
Infinity too), strings, lists, objects, booleans and null."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def shown(value: Any) -> str:
    """A value as its file spells it (JSON), cut to a few characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def is_number(value: Any) -> bool:
    """A real number (not a boolean, string or null)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def integer_problem(value: Any) -> str | None:
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return None
    return f"is {shown(value)}, not an integer"


def number_problem(value: Any) -> str | None:
    if not is_number(value):
        return f"is {shown(value)}, not a number"
    try:
        finite = math.isfinite(value)
    except OverflowError:
        return "is a number too large for a float"
    return None if finite else f"is {shown(float(value))}, not a finite number"


def numbers_problem(values: Any, length: int | None = None) -> str | None:
    """What keeps `values` from being a list of finite numbers (of `length` where given)."""
    if not isinstance(values, (list, tuple)):
        return f"is {shown(values)}, not a list of numbers"
    if length is not None and len(values) != length:
        return f"has {len(values)} values, not {length}"
    if not set(map(type, values)) <= {int, float}:  # JSON's numbers (the quick test)
        for v in values:
            if not is_number(v):
                return f"holds {shown(v)}, not a number"
    try:
        if all(map(math.isfinite, values)):
            return None
    except OverflowError:
        return "holds a number too large for a float"
    bad = next(v for v in values if not math.isfinite(v))
    return f"holds {shown(float(bad))}, not a finite number"
