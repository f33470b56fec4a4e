"""An estimate job: its inputs, outputs, options and model, run locally or with its images on
a Ray cluster, then its videos and cameras, into one `Summary`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from multipose.errors import MultiposeError
from multipose.io.media import video_frames
from multipose.pipelines.video_mode import VideoMode, follows
from multipose.runner.images import Estimate, Summary
from multipose.runner.local import estimate_images
from multipose.runner.model import ModelChoice
from multipose.runner.outputs import Outputs
from multipose.runner.ray import estimate_images_on_ray
from multipose.runner.register import Entry
from multipose.runner.video import estimate_video, video_done, video_names
from multipose.smoothing import OneEuro, TwoWayOneEuro
from multipose.threads import default_threads

if TYPE_CHECKING:
    from multipose.pipelines import Pipeline


# Images a job estimates at once at most (one per thread of its budget): on 2 CPUs, two images
# on one thread each took the default 0.91x the time of one image on two over coco-mini-val2017
# (bench/results/images_at_once.md: the networks gain little from a second thread, and decoding
# and cropping run on one); not measured beyond 2 CPUs.
MAX_AT_ONCE = 4


@dataclass(frozen=True)
class Options:
    """How a job runs: people scoring under `min_score` dropped; with `resume`, images whose outputs
    are all there and videos whose frame index is complete skipped; `workers` threads reading and
    writing behind the network (local images); `batch_size` images or frames per network call; with
    `track`, people in videos keep ids across frames; with `smooth` (min_cutoff in Hz, beta), their
    keypoints are smoothed by a One-Euro filter (implies `track`; run both ways on video files, see
    TwoWayOneEuro, forward only on cameras); `detect_every`: in video mode (pipelines built on
    BlazePose), the whole pipeline runs every this many frames and people are followed in between
    (0: every frame is estimated as a photo); `at_once`: local images estimated at once, each on
    its share of the threads (None: `Job.images_at_once`)."""

    min_score: float = 0.0
    resume: bool = False
    workers: int = 2
    batch_size: int = 1
    track: bool = False
    smooth: tuple[float, float] | None = None
    detect_every: int = 10
    at_once: int | None = None


@dataclass(frozen=True)
class Cluster:
    """The Ray cluster to run a job's images on: `address` as `ray.init` takes it, `actors`
    model copies (None: as many as Ray sees fit)."""

    address: str
    actors: int | None = None


def _ignore(*_: object) -> None:
    pass


@dataclass(frozen=True)
class Events:
    """What a running job reports, each a no-op unless given: `begin(name, total)` as its
    images ("estimating", how many), a video (its file name, its frame count or None) or a
    camera ("camera N", None) begin; `image(path, error)` after each image, with its failure
    line if it failed; `frame()` after each video frame; `failure(error)` when a video or
    camera fails."""

    begin: Callable[[str, int | None], None] = _ignore
    image: Callable[[Path, str | None], None] = _ignore
    frame: Callable[[], None] = _ignore
    failure: Callable[[str], None] = _ignore


@dataclass(frozen=True)
class Job:
    """Image files and videos or cameras (an index) estimated with `model` into `outputs`: the
    images locally or on `cluster` (image files only), the videos locally."""

    model: ModelChoice
    outputs: Outputs
    paths: Sequence[Path] = ()
    videos: Sequence[Path | int] = ()
    options: Options = field(default_factory=Options)
    cluster: Cluster | None = None

    def __post_init__(self) -> None:
        if self.cluster is not None and self.videos:
            raise MultiposeError(
                "--ray runs image files only: estimate videos and cameras without it"
            )

    def run(self, events: Events = Events()) -> Summary:
        """Checks the output folder and gives the images their ids and output names, loads the
        model (here, unless on a cluster), then estimates the images and then each video, and
        merges the images' results into `coco_results.json`. A bad input is a failure in the
        summary and the job goes on. Ctrl-C ends the job, keeping what was done (a video's
        frames, index, COCO results and overlay; the images' outputs, and their COCO results
        once all are done): the summary counts it and says what was cut off."""
        start, summary, stage = time.perf_counter(), Summary(), "start-up"
        try:
            self.outputs.prepare()
            entries = self.outputs.register(self.paths) if self.paths else []
            loading = time.perf_counter()
            pipelines = [] if self.cluster else self._load(len(entries))
            summary.load_seconds = time.perf_counter() - loading
            stage = "images"
            if entries:
                events.begin("estimating", len(entries))
                self._images([p.batch for p in pipelines], entries, events, summary)
                self.outputs.merge_coco(summary.results, {entry.id for entry in entries})
                self.outputs.write_csv(summary.rows)
            pipeline = pipelines[0] if pipelines else None
            stage = "videos"
            for video, name in zip(self.videos, video_names(self.videos), strict=True):
                self._video(pipeline, video, name, summary, events)
        except KeyboardInterrupt:
            summary.interrupted = stage
        summary.seconds = time.perf_counter() - start
        return summary

    def images_at_once(self, images: int) -> int:
        """Local images estimated at once (`options.at_once`, else one per thread of the
        budget, at most MAX_AT_ONCE, on the CPU; one on a GPU, and in a job with videos, whose
        frames run one at a time on the whole budget: the networks keep the thread count they
        were made with), at most one per batch of the `images`."""
        at_once = self.options.at_once
        if at_once is None and self.videos:
            at_once = 1
        elif at_once is None:
            at_once = min(self.budget(), MAX_AT_ONCE) if self.model.device == "cpu" else 1
        return max(1, min(at_once, -(-images // self.options.batch_size)))

    def _load(self, images: int) -> list[Pipeline]:
        """The model, here: a pipeline per image estimated at once (`images_at_once`), sharing
        its weights and networks, each image on an equal share of the budget's threads."""
        count = self.images_at_once(images)
        if count == 1:
            return self.model.load_copies(1)
        return self.model.load_copies(count, max(1, self.budget() // count))

    def budget(self) -> int:
        """The job's CPU threads: the model's, else `default_threads()`."""
        return self.model.threads or default_threads()

    def workers(self) -> int:
        """The reader/writer threads of local images: `options.workers`, at most one fewer
        than the model's threads (none with one thread), so that they share its budget."""
        return min(self.options.workers, self.budget() - 1)

    def _images(
        self, estimates: list[Estimate], entries: list[Entry], events: Events, summary: Summary
    ) -> None:
        """The images into `summary`, here with `estimates` (the first, and the others at once
        with it) or on the cluster."""
        options = self.options
        if self.cluster is None:
            estimate_images(
                estimates[0],
                entries,
                self.outputs,
                options.min_score,
                options.resume,
                self.workers(),
                options.batch_size,
                events.image,
                summary,
                estimates[1:],
            )
        else:
            estimate_images_on_ray(
                self.cluster.address,
                self.model,
                entries,
                self.outputs,
                options.min_score,
                options.resume,
                options.batch_size,
                self.cluster.actors,
                events.image,
                summary,
            )

    def _video(
        self, pipeline: Pipeline, video: Path | int, name: str, summary: Summary, events: Events
    ) -> None:
        """One video or camera into `summary` under `name`, unless `resume` finds it done, in
        video mode where the pipeline has one; a video that fails is a failure and the job goes
        on."""
        if self.options.resume and video_done(video, self.outputs, name):
            summary.skipped += 1
            return
        if isinstance(video, int):
            events.begin(f"camera {video}", None)
        else:
            events.begin(video.name, video_frames(video))
        options = self.options
        estimate = pipeline.batch
        if options.detect_every and follows(pipeline):
            estimate = VideoMode(pipeline, options.detect_every).batch
        smooth = None
        if options.smooth:  # a file both ways, a camera live
            live = isinstance(video, int)
            smooth = OneEuro(*options.smooth) if live else TwoWayOneEuro(*options.smooth)
        try:
            estimate_video(
                estimate,
                video,
                self.outputs,
                summary,
                options.min_score,
                options.track,
                options.batch_size,
                events.frame,
                name,
                smooth,
            )
        except MultiposeError as exc:
            summary.failures.append(str(exc))
            events.failure(str(exc))
