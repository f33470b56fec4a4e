"""`multipose render`: people drawn on an image."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.argument("poses_file", metavar="POSES.json", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the overlay (.png, .jpg, ...).",
)
@click.option("--image-id", type=int, help="The image's id in a COCO file of several images.")
@click.option(
    "--threshold",
    default=0.1,
    show_default=True,
    help="Keypoints scoring at or below this are not drawn.",
)
@click.option("--boxes", is_flag=True, help="Draw a box around each person.")
@click.option("--ids", is_flag=True, help="Label each person with its id and score.")
def render(
    image: Path,
    poses_file: Path,
    out_file: Path,
    image_id: int | None,
    threshold: float,
    boxes: bool,
    ids: bool,
) -> None:
    """Draw the people of POSES.json (OpenPose JSON, COCO results or COCO annotations) on
    IMAGE."""
    from multipose.io.media import read_image, write_image
    from multipose.io.poses_file import load_poses_for_image
    from multipose.render import draw

    poses = load_poses_for_image(poses_file, image, image_id)
    write_image(out_file, draw(read_image(image), poses, threshold, boxes=boxes, ids=ids))
    click.echo(f"{len(poses)} people drawn to {out_file}")
