"""`multipose evaluate`: COCO keypoint AP/AR of predictions."""

from __future__ import annotations

from pathlib import Path

import click

from multipose.errors import MultiposeError


@click.command()
@click.option(
    "--gt",
    "gt_file",
    required=True,
    type=click.Path(path_type=Path),
    help="COCO keypoint annotation file (the ground truth).",
)
@click.option(
    "--pred",
    "pred_file",
    required=True,
    type=click.Path(path_type=Path),
    help="COCO keypoint results file (the predictions).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    help="Also write the metrics to this JSON file.",
)
def evaluate(gt_file: Path, pred_file: Path, json_out: Path | None) -> None:
    """Print COCO keypoint AP/AR of predictions against a ground truth."""
    from multipose.evaluate import evaluate as run_evaluation
    from multipose.evaluate import format_metrics
    from multipose.io.jsonfile import write_json

    if json_out is not None and json_out.is_dir():
        raise MultiposeError("is a folder; --json takes the name of a file to write", json_out)
    metrics = run_evaluation(gt_file, pred_file)
    click.echo(format_metrics(metrics))
    if json_out is not None:
        write_json(json_out, metrics, indent=2)
