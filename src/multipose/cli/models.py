"""`multipose models`: the model specs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from multipose import DEFAULT_MODEL

if TYPE_CHECKING:
    from multipose.models.specs import ModelSpec


@click.command()
def models() -> None:
    """List the model specs: method, input, stride, layout, whether their published weights are
    in the user cache ("cached"), else downloadable from the spec's address ("download") or not
    ("no weights"), and where weights come from. The default model is marked with *."""
    from multipose.models.specs import SPECS
    from multipose.weights.download import cache_dir

    click.echo(
        f" {'NAME':24s} {'METHOD':9s} {'INPUT':16s} STRIDE  {'LAYOUT':11s} {'WEIGHTS':10s}  NOTES"
    )
    for spec in SPECS.values():
        if spec.weights_file and (cache_dir() / spec.weights_file).exists():
            weights = "cached"
        else:
            weights = "download" if spec.weights_url else "no weights"
        mark = "*" if spec.name == DEFAULT_MODEL else " "
        click.echo(
            f"{mark}{spec.name:24s} {spec.method:9s} {_input(spec):16s} {spec.stride:<6d}  "
            f"{spec.layout:11s} {weights:10s}  {spec.notes}"
        )
    click.echo(
        "* the default model. INPUT: what the network sees (WxH crops, or images resized "
        "to a height)"
    )


def _input(spec: ModelSpec) -> str:
    """What a spec's network sees: crop size (WxH) or the height images are resized to."""
    if spec.method == "topdown":
        width, height = spec.codec().input_size
        return f"{width}x{height} crops"
    if spec.method == "blazepose":
        return f"{spec.input_height}x{spec.input_height} crops"
    return f"height {spec.input_height}"
