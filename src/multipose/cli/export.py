"""`multipose export-onnx`: a model's network as ONNX."""

from __future__ import annotations

from pathlib import Path

import click

from multipose.cli.params import parse_size


@click.command("export-onnx")
@click.argument("name")
@click.option(
    "--weights",
    type=click.Path(path_type=Path),
    help="Weights file (public format or ours); random weights if left out.",
)
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path))
@click.option(
    "--size",
    default="432x368",
    show_default=True,
    help="WIDTHxHEIGHT of the traced input (fixed where the network needs it).",
)
def export_onnx(name: str, weights: Path | None, out_file: Path, size: str) -> None:
    """Export a model's network (last stage) to ONNX."""
    from multipose.runtime.onnx import export_onnx as export
    from multipose.specs import get_spec

    spec = get_spec(name)
    network = spec.load(weights) if weights is not None else spec.build()
    export(spec, network, out_file, parse_size(size))
    shape = "any height and width" if spec.input.dynamic_size else f"{size} only"
    click.echo(f"{name} -> {out_file} ({shape})")
