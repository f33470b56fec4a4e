"""`multipose convert-weights`: a public checkpoint saved as safetensors."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("convert-weights")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--arch", required=True, help="Model spec name (see `multipose models`).")
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(path_type=Path),
    help="The .safetensors file to write.",
)
def convert_weights(source: Path, arch: str, out_file: Path) -> None:
    """Import a public checkpoint (or TF graph) into a network and save it as safetensors."""
    from multipose.specs import get_spec
    from multipose.weights.checkpoints import write_safetensors

    if out_file.suffix != ".safetensors":
        raise click.BadParameter("must end in .safetensors", param_hint="--out")
    model = get_spec(arch).load(source)
    write_safetensors(out_file, model)
    count = sum(p.numel() for p in model.parameters())
    click.echo(f"{arch}: {count:,} parameters -> {out_file}")
