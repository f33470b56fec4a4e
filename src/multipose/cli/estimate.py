"""`multipose estimate`: the estimate job run with progress bars, then its summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from multipose import DEFAULT_MODEL

if TYPE_CHECKING:
    from rich.progress import Progress

    from multipose.runner import Events, Summary

INTERRUPTED = {
    "start-up": "interrupted while starting: no image or frame was estimated",
    "images": "interrupted: the images done so far are written; run again with --resume to finish",
    "videos": "interrupted: the frames done so far are written",
}


@click.command()
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
    type=click.Choice(["openpose", "coco", "both", "csv", "all"]),
    default="both",
    show_default=True,
    help="openpose: JSON per image or frame; coco: COCO results; both: the two; csv: one row "
    "per person per image or frame (poses.csv for the images, <stem>.csv per video); all: "
    "the three.",
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
    "--backend",
    type=click.Choice(["auto", "torch", "onnxruntime", "openvino"]),
    default="auto",
    show_default=True,
    help="auto: onnxruntime on the CPU, PyTorch on a GPU. openvino: bfloat16 on CPUs with AMX "
    "(faster, not exact; pip install openvino).",
)
@click.option("--flip", is_flag=True, help="Also run the mirrored input and merge the two.")
@click.option(
    "--threads",
    type=click.IntRange(1),
    help="CPU threads for the whole job: the networks, image operations and --workers share "
    "them [default: OMP_NUM_THREADS where set, else the CPUs this process may use "
    "(affinity, cgroup quota) that other programs leave idle].",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(0),
    help="Threads reading images ahead and writing outputs while the network runs (0: none; "
    "at most --threads minus 1).",
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
    help="Skip images whose outputs are all there (OpenPose JSON, and with --render the "
    "overlay), and videos whose frame index is complete.",
)
@click.option(
    "--track",
    is_flag=True,
    help="Give people in videos ids stable across frames (kept through gaps of up to 10 "
    "frames); the ids and their frames go into <stem>_tracks.json and the summary.",
)
@click.option(
    "--smooth",
    is_flag=True,
    help="Smooth tracked keypoints in videos with a One-Euro filter, run both ways on video "
    "files (frames written 5 frames late) and forward on cameras (implies --track); the raw "
    "ones stay in <stem>_raw_coco_results.json.",
)
@click.option(
    "--detect-every",
    default=10,
    show_default=True,
    type=click.IntRange(0),
    help="Video mode (models built on BlazePose): people are followed from frame to frame, "
    "the whole model runs every this many frames and after someone still in view is lost (0: "
    "every frame estimated as a photo).",
)
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
    threads: int | None,
    workers: int,
    batch_size: int,
    resume: bool,
    track: bool,
    smooth: bool,
    detect_every: int,
    ray_address: str | None,
    ray_actors: int | None,
) -> None:
    """Find every person in images (files, folders, globs), videos and cameras (an index such
    as 0): OpenPose JSON per image or frame (<stem>_keypoints.json; a video's in a folder of
    their own, <stem>_keypoints/<stem>_<frame>_keypoints.json, with <stem>_frames.json giving
    each frame's time and file), COCO results (coco_results.json for the images, merged with
    other jobs' there, their ids and files in coco_images.json; <stem>_coco_results.json per
    video), optional overlays (images, or an .mp4 per video). A bad input is reported and
    skipped; the exit status is 1 if any was. Ctrl-C (the way to end a camera) keeps what was
    done and exits with 130."""
    from multipose.io.media import list_inputs
    from multipose.runner import Cluster, Job, ModelChoice, Options, Outputs
    from multipose.smoothing import OneEuro
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
    spec = get_spec(model)
    if spec.licence_notice():
        click.echo(f"licence: {spec.licence_notice()}", err=True)
    job = Job(
        ModelChoice(spec.name, weights, device, scale_values, boxes, backend, flip, threads),
        Outputs(
            out_dir,
            openpose=output_format in ("openpose", "both", "all"),
            coco=output_format in ("coco", "both", "all"),
            render=render,
            layout=spec.output_layout,
            csv=output_format in ("csv", "all"),
        ),
        paths,
        videos,
        Options(
            min_score,
            resume,
            workers,
            batch_size,
            track or smooth,
            (OneEuro.min_cutoff, OneEuro.beta) if smooth else None,
            detect_every,
        ),
        None if ray_address is None else Cluster(ray_address, ray_actors),
    )
    with _progress() as progress:
        summary = job.run(_events(progress))
    _report(summary, out_dir)
    if summary.interrupted:
        click.echo(INTERRUPTED[summary.interrupted], err=True)
        sys.exit(130)
    if summary.failures:
        for failure in summary.failures:
            click.echo(f"failed: {failure}", err=True)
        sys.exit(1)


def _events(progress: Progress) -> Events:
    """The job's events shown on `progress`: a bar per part of the job, failures in red."""
    from multipose.runner import Events

    tasks: list[int] = []

    def begin(name: str, total: int | None) -> None:
        tasks.append(progress.add_task(name, total=total))

    def failure(error: str) -> None:
        progress.console.print(f"error: {error}", style="red", highlight=False, soft_wrap=True)

    def image(path: Path, error: str | None) -> None:
        if error:
            failure(error)
        progress.advance(tasks[-1])

    return Events(begin, image, lambda: progress.advance(tasks[-1]), failure)


def _report(summary: Summary, out_dir: Path) -> None:
    """The job's summary line: images done and skipped, video frames, people, failures, time
    (and the model's load time)."""
    seconds = summary.seconds
    rate = (summary.images + summary.frames) / seconds if seconds > 0 else 0.0
    frames = f", {_count(summary.frames, 'video frame')}" if summary.frames else ""
    click.echo(
        f"{_count(summary.images, 'image')} ({summary.skipped} skipped as done){frames}, "
        f"{_count(summary.people, 'person', 'people')}, {len(summary.failures)} failed, "
        f"{seconds:.1f} s ({rate:.1f} images/s; model loaded in {summary.load_seconds:.1f} s) "
        f"-> {out_dir}"
    )
    for stem, tracks in summary.tracks.items():
        frames = ", ".join(f"{t['id']}: {t['frames']}" for t in tracks)
        click.echo(f"{stem}: {_count(len(tracks), 'id')} (frames per id: {frames})")


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _progress() -> Progress:
    """A progress bar with images per second, on stderr, gone when done; none where stderr is
    not a terminal (a log or a pipe gets the failure lines and nothing else)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:.1f} images/s")

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
