"""`multipose models`: the model specs."""

from __future__ import annotations

import click

from multipose import DEFAULT_MODEL


@click.command()
def models() -> None:
    """List the model specs: method, input, stride, layout, whether their published weights are
    in the user cache ("cached"), else downloadable from the spec's address ("download") or not
    ("no weights"), and where weights come from. The default model is marked with *."""
    from multipose.specs import SPECS
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
        notes = f"{spec.licence_notice()}; {spec.notes}" if spec.licence_notice() else spec.notes
        click.echo(
            f"{mark}{spec.name:24s} {spec.codec().method:9s} {spec.describe_input():16s} "
            f"{spec.stride:<6g}  {spec.layout.name:11s} {weights:10s}  {notes}"
        )
    click.echo(
        "* the default model. INPUT: what the network sees (WxH crops, or images resized "
        "to a height)"
    )
