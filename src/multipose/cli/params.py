"""Option values parsed for several commands."""

from __future__ import annotations

import click


def parse_size(value: str) -> tuple[int, int]:
    """A WIDTHxHEIGHT value (512x512) as (width, height)."""
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size like 512x512") from None
    if w <= 0 or h <= 0:
        raise click.BadParameter(f"{value!r} is not a positive size")
    return w, h
