"""`multipose weights fetch`: published weights into the user cache."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def weights() -> None:
    """Download published weights."""


@weights.command("fetch")
@click.argument("name")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="blazepose: folder for its files (default: mediapipe-0.10.21 in the user cache, "
    "MULTIPOSE_CACHE or ~/.cache/multipose).",
)
@click.option(
    "--index-url", metavar="URL", help="blazepose: package index to use instead of pip's."
)
def fetch_weights(name: str, dest: Path | None, index_url: str | None) -> None:
    """Download NAME's weights once into the user cache, so that using them needs no network.
    NAME: blazepose (three TFLite files out of the mediapipe 0.10.21 wheel) or a model spec
    with a download address ("download" in `multipose models`), checked by its sha256."""
    from multipose.specs import SPECS
    from multipose.weights.download import fetch
    from multipose.weights.mediapipe import FILES, fetch_blazepose

    if name in ("blazepose", "blazepose-full"):
        folder = fetch_blazepose(dest, index_url)
        click.echo(f"{name} weights in {folder}: {', '.join(FILES)}")
        return
    addressed = [spec.name for spec in SPECS.values() if spec.weights_url]
    if name not in addressed:
        raise click.BadParameter(
            f"{name!r} is not one of: blazepose, {', '.join(addressed)}", param_hint="NAME"
        )
    if dest is not None or index_url is not None:
        raise click.UsageError("--dest and --index-url are for blazepose")
    spec = SPECS[name]
    path = fetch(spec.weights_url, spec.weights_sha256 or None, spec.weights_file)
    click.echo(f"{name} weights in {path}")
