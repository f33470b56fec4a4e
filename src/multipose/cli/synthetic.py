"""`multipose synthetic`: a synthetic COCO keypoint dataset."""

from __future__ import annotations

from pathlib import Path

import click

from multipose.cli.params import parse_size


def _people_range(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition("-")
    try:
        lo_n, hi_n = int(lo), int(hi or lo)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a count or a range like 1-10") from None
    if not 0 <= lo_n <= hi_n:
        raise click.BadParameter(f"{value!r} is not a valid range")
    return lo_n, hi_n


@click.command()
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--images", "num_images", default=10, show_default=True, help="Number of images.")
@click.option(
    "--people",
    default="1-10",
    show_default=True,
    help="People per image: a count or a range like 1-10.",
)
@click.option("--size", default="512x512", show_default=True, help="Image size, WIDTHxHEIGHT.")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--max-iou",
    default=0.3,
    show_default=True,
    help="The most that two people's boxes may overlap.",
)
@click.option(
    "--render/--no-render",
    "render_images",
    default=True,
    show_default=True,
    help="Also draw the images.",
)
def synthetic(
    out_dir: Path,
    num_images: int,
    people: str,
    size: str,
    seed: int,
    max_iou: float,
    render_images: bool,
) -> None:
    """Write a synthetic COCO keypoint dataset (annotations.json and images/) to OUT_DIR."""
    from rich.progress import track

    from multipose.data.synthetic import make_dataset
    from multipose.io.jsonfile import write_json
    from multipose.io.media import write_image

    width, height = parse_size(size)
    data, scenes = make_dataset(
        num_images, _people_range(people), width, height, seed, max_iou=max_iou
    )
    if render_images:
        pairs = list(zip(data["images"], scenes, strict=True))
        for record, scene in track(pairs, description="rendering", transient=True):
            write_image(out_dir / "images" / record["file_name"], scene.render(seed=record["id"]))
    write_json(out_dir / "annotations.json", data)
    click.echo(
        f"{num_images} images, {len(data['annotations'])} people -> {out_dir / 'annotations.json'}"
    )
