"""`multipose oracle`: what a method's codec alone loses."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("annotations", metavar="ANN.json", type=click.Path(path_type=Path))
@click.option(
    "--method",
    type=click.Choice(["openpose", "ae", "topdown"]),
    default="openpose",
    show_default=True,
    help="A method, run with the codec and input size of its reference model: openpose-vgg19, "
    "hourglass-ae or simplebaseline-r50.",
)
@click.option("--model", help="A model spec whose codec and input size to use instead.")
@click.option(
    "--jitter",
    default=0.0,
    show_default=True,
    help="Std of the keypoint displacement, in map cells.",
)
@click.option(
    "--peak-min",
    default=1.0,
    show_default=True,
    help="Peak heights are drawn uniformly from [PEAK_MIN, 1].",
)
@click.option(
    "--heatmap-noise",
    default=0.0,
    show_default=True,
    help="Std of Gaussian noise added to the heatmaps.",
)
@click.option(
    "--field-noise",
    default=0.0,
    show_default=True,
    help="Std of Gaussian noise added to the method's other maps (PAFs, tags).",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--max-detections", default=20, show_default=True, help="People evaluated per image (COCO: 20)."
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path),
    help="Also write the decoded people as a COCO results file.",
)
def oracle(
    annotations: Path,
    method: str,
    model: str | None,
    jitter: float,
    peak_min: float,
    heatmap_noise: float,
    field_noise: float,
    seed: int,
    max_detections: int,
    out_file: Path | None,
) -> None:
    """COCO AP of a dataset's ground truth encoded as a model's maps (with its spec's codec)
    and decoded: what the codec alone loses."""
    from multipose.evaluate import format_metrics
    from multipose.io.coco import CocoDataset, write_coco_results
    from multipose.oracle import Noise, run_oracle

    if not 0 <= peak_min <= 1:
        raise click.BadParameter("must be within [0, 1]", param_hint="--peak-min")
    noise = Noise(jitter, peak_min, heatmap_noise, field_noise)
    metrics, results = run_oracle(
        CocoDataset(annotations), model or method, noise, seed, max_detections
    )
    click.echo(format_metrics(metrics))
    if out_file is not None:
        write_coco_results(out_file, results)
