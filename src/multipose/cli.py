"""The `multipose` command line."""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from multipose import DEFAULT_MODEL, __version__
from multipose.errors import MultiposeError

if TYPE_CHECKING:
    from multipose.runner import Summary


class _Group(click.Group):
    """Reports `MultiposeError`s as one line on stderr with exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MultiposeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="multipose")
def main() -> None:
    """Multi-person 2D human pose estimation."""


@main.command()
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

    metrics = run_evaluation(gt_file, pred_file)
    click.echo(format_metrics(metrics))
    if json_out is not None:
        write_json(json_out, metrics, indent=2)


@main.command()
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


def _people_range(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition("-")
    try:
        lo_n, hi_n = int(lo), int(hi or lo)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a count or a range like 1-10") from None
    if not 0 <= lo_n <= hi_n:
        raise click.BadParameter(f"{value!r} is not a valid range")
    return lo_n, hi_n


def _size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size like 512x512") from None
    if w <= 0 or h <= 0:
        raise click.BadParameter(f"{value!r} is not a positive size")
    return w, h


@main.command()
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

    width, height = _size(size)
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


@main.command()
@click.argument("annotations", metavar="ANN.json", type=click.Path(path_type=Path))
@click.option(
    "--method",
    type=click.Choice(["openpose", "ae", "topdown"]),
    default="openpose",
    show_default=True,
)
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
    jitter: float,
    peak_min: float,
    heatmap_noise: float,
    field_noise: float,
    seed: int,
    max_detections: int,
    out_file: Path | None,
) -> None:
    """COCO AP of a dataset's ground truth encoded as a method's maps and decoded: what the
    method's codec alone loses."""
    from multipose.evaluate import format_metrics
    from multipose.io.coco import CocoDataset, write_coco_results
    from multipose.oracle import Noise, run_oracle

    if not 0 <= peak_min <= 1:
        raise click.BadParameter("must be within [0, 1]", param_hint="--peak-min")
    noise = Noise(jitter, peak_min, heatmap_noise, field_noise)
    metrics, results = run_oracle(CocoDataset(annotations), method, noise, seed, max_detections)
    click.echo(format_metrics(metrics))
    if out_file is not None:
        write_coco_results(out_file, results)


@main.command()
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
        click.echo(
            f"{mark}{spec.name:24s} {spec.codec().method:9s} {spec.describe_input():16s} "
            f"{spec.stride:<6g}  {spec.layout.name:11s} {weights:10s}  {spec.notes}"
        )
    click.echo(
        "* the default model. INPUT: what the network sees (WxH crops, or images resized "
        "to a height)"
    )


@main.group()
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


@main.command("convert-weights")
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


@main.command("export-onnx")
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
    export(spec, network, out_file, _size(size))
    shape = "any height and width" if spec.input.dynamic_size else f"{size} only"
    click.echo(f"{name} -> {out_file} ({shape})")


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--resume", is_flag=True, help="Go on from the run's last checkpoint.")
def train(config: Path, resume: bool) -> None:
    """Train a model as CONFIG.yaml says (under torchrun for several processes)."""
    from multipose.train.config import TrainConfig
    from multipose.train.trainer import Trainer

    Trainer(TrainConfig.read(config), resume=resume).run()


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="Model spec (see `multipose models`).",
)
@click.option(
    "--weights",
    help="The model's weights: a file, a folder holding them, or an address (default: the "
    "user cache, where `multipose weights fetch blazepose` puts BlazePose's).",
)
@click.option(
    "--out",
    "out_dir",
    default="multipose-out",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the outputs.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["openpose", "coco", "both"]),
    default="both",
    show_default=True,
)
@click.option(
    "--render",
    is_flag=True,
    help="Also write overlays: <stem>_rendered.png per image, <stem>_rendered.mp4 per video.",
)
@click.option(
    "--boxes",
    type=click.Path(path_type=Path),
    help="COCO detections file of person boxes (top-down models; extra person seeds for "
    "BlazePose).",
)
@click.option("--min-score", default=0.0, show_default=True, help="Drop people scoring less.")
@click.option("--scales", default="1", show_default=True, help="Comma-separated input scales.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or mps.")
@click.option(
    "--backend", type=click.Choice(["torch", "onnxruntime"]), default="torch", show_default=True
)
@click.option("--flip", is_flag=True, help="Also run the mirrored input and merge the two.")
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(0),
    help="Threads reading images ahead and writing outputs while the network runs (0: none).",
)
@click.option(
    "--batch-size",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Images or video frames per network call (bottom-up: those of one size; top-down: "
    "all their crops).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Skip images whose OpenPose JSON exists, and videos whose frame index is complete.",
)
@click.option("--track", is_flag=True, help="Give people in videos ids stable across frames.")
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    help="Run the images as a Ray Data job on the cluster at ADDRESS: a head node's host:port, "
    "auto (the cluster started on this machine) or local (a new one for this run). Every node "
    "must see the same paths (a shared filesystem). Image files only: videos and cameras are "
    "refused. --workers does not apply. Needs the extra: pip install 'multipose[ray]'.",
)
@click.option(
    "--ray-actors",
    type=click.IntRange(1),
    help="With --ray: this many model copies (default: as many as Ray sees fit).",
)
def estimate(
    inputs: tuple[str, ...],
    model: str,
    weights: str | None,
    out_dir: Path,
    output_format: str,
    render: bool,
    boxes: Path | None,
    min_score: float,
    scales: str,
    device: str,
    backend: str,
    flip: bool,
    workers: int,
    batch_size: int,
    resume: bool,
    track: bool,
    ray_address: str | None,
    ray_actors: int | None,
) -> None:
    """Find every person in images (files, folders, globs), videos and cameras (an index such
    as 0): OpenPose JSON per image or frame (<stem>_keypoints.json, <stem>_<frame>_keypoints.json
    with <stem>_frames.json giving each frame's time), COCO results (coco_results.json for the
    images, <stem>_coco_results.json per video), optional overlays (images, or an .mp4 per
    video). A bad input is reported and skipped; the exit status is 1 if any was. Ctrl-C (the
    way to end a camera) keeps what was done and exits with 130."""
    from multipose.io.media import list_inputs, video_frames
    from multipose.runner import Outputs, Summary, estimate_images, estimate_video, video_done
    from multipose.scaleout import ModelArgs, estimate_images_on_ray
    from multipose.specs import get_spec

    try:
        scale_values = tuple(float(s) for s in scales.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{scales!r} is not a list of numbers", param_hint="--scales"
        ) from None

    paths, videos = list_inputs(inputs)
    if ray_actors is not None and ray_address is None:
        raise click.UsageError("--ray-actors needs --ray")
    if ray_address is not None and videos:
        raise MultiposeError("--ray runs image files only: estimate videos and cameras without it")
    model_args = ModelArgs(model, weights, device, scale_values, boxes, backend, flip)
    if ray_address is None:
        estimator = model_args.load()
    outputs = Outputs(
        out_dir,
        openpose=output_format in ("openpose", "both"),
        coco=output_format in ("coco", "both"),
        render=render,
        layout=get_spec(model).output_layout,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    start, summary, images_done = time.perf_counter(), Summary(), not paths
    try:
        with _progress() as progress:
            task = progress.add_task("estimating", total=len(paths), visible=bool(paths))

            def on_image(path: Path, error: str | None) -> None:
                if error:
                    progress.console.print(f"error: {error}", style="red", highlight=False)
                progress.advance(task)

            if ray_address is None:
                summary.add(
                    estimate_images(
                        estimator.batch,
                        paths,
                        outputs,
                        min_score,
                        resume,
                        workers,
                        batch_size,
                        on_image,
                    )
                )
            else:
                summary.add(
                    estimate_images_on_ray(
                        ray_address,
                        model_args,
                        paths,
                        outputs,
                        min_score,
                        resume,
                        batch_size,
                        ray_actors,
                        on_image,
                    )
                )
            images_done = True
            for video in videos:
                if resume and video_done(video, outputs):
                    summary.skipped += 1
                    continue
                if isinstance(video, int):
                    task = progress.add_task(f"camera {video}", total=None)
                else:
                    task = progress.add_task(video.name, total=video_frames(video))
                try:
                    estimate_video(
                        estimator.batch,
                        video,
                        outputs,
                        summary,
                        min_score,
                        track,
                        batch_size,
                        partial(progress.advance, task),
                    )
                except MultiposeError as exc:
                    summary.failures.append(str(exc))
                    progress.console.print(f"error: {exc}", style="red", highlight=False)
    except KeyboardInterrupt:
        _report(summary, start, out_dir)
        if images_done:
            if paths:
                outputs.write_coco(summary.results)
            click.echo("interrupted: the frames done so far are written", err=True)
        else:
            click.echo(
                "interrupted: the images done so far are written; run again with --resume to "
                "finish",
                err=True,
            )
        sys.exit(130)
    if paths:
        outputs.write_coco(summary.results)
    _report(summary, start, out_dir)
    if summary.failures:
        for failure in summary.failures:
            click.echo(f"failed: {failure}", err=True)
        sys.exit(1)


def _report(summary: Summary, start: float, out_dir: Path) -> None:
    """The job's summary line: images done and skipped, video frames, people, failures, time."""
    seconds = time.perf_counter() - start
    rate = (summary.images + summary.frames) / seconds if seconds > 0 else 0.0
    frames = f", {_count(summary.frames, 'video frame')}" if summary.frames else ""
    click.echo(
        f"{_count(summary.images, 'image')} ({summary.skipped} skipped as done){frames}, "
        f"{_count(summary.people, 'person', 'people')}, {len(summary.failures)} failed, "
        f"{seconds:.1f} s ({rate:.1f} images/s) -> {out_dir}"
    )


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _progress():
    """A progress bar with images per second, on stderr, gone when done."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:.1f} images/s")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        console=Console(stderr=True),
        transient=True,
    )
