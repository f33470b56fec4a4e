"""`multipose models`: the model specs."""

from __future__ import annotations

import click

from multipose import DEFAULT_MODEL


@click.command()
def models() -> None:
    """List the model specs: method, input, stride, layout, whether their published weights are
    in the user cache ("cached"), else downloadable from the spec's address ("download") or not
    ("no weights"), and where weights come from. The default model is marked with *."""
    from multipose.io.files import cache_dir
    from multipose.specs import SPECS, ModelSpec

    name_width = max(len(name) for name in SPECS)
    input_width = max(len(spec.describe_input()) for spec in SPECS.values())
    click.echo(
        f" {'NAME':{name_width}s} {'METHOD':9s} {'INPUT':{input_width}s} STRIDE  "
        f"{'LAYOUT':11s} {'WEIGHTS':10s}  NOTES"
    )

    def weights_state(spec: ModelSpec) -> str:
        if spec.parts:  # made of others (the hybrid): cached when all of them are
            states = [weights_state(part) for part in spec.parts]
            return "cached" if set(states) == {"cached"} else "no weights"
        if spec.weights_file and (cache_dir() / spec.weights_file).exists():
            return "cached"
        return "download" if spec.weights_url else "no weights"

    for spec in SPECS.values():
        weights = weights_state(spec)
        mark = "*" if spec.name == DEFAULT_MODEL else " "
        notes = f"{spec.licence_notice()}; {spec.notes}" if spec.licence_notice() else spec.notes
        click.echo(
            f"{mark}{spec.name:{name_width}s} {spec.codec().method:9s} "
            f"{spec.describe_input():{input_width}s} "
            f"{spec.stride:<6g}  {spec.layout.name:11s} {weights:10s}  {notes}"
        )
    click.echo(
        "* the default model. INPUT: what the network sees (WxH crops, or images resized "
        "to a height)"
    )
