"""Running an estimator over many inputs, as `multipose estimate` does: what is written for each
image or frame, a job over image files (resumable; reading ahead and writing behind in worker
threads while the network runs), and a job over a video or camera.

A bad file never stops a job: it is reported in the summary and the job goes on.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from multipose.errors import MultiposeError
from multipose.io.coco import write_coco_results
from multipose.io.jsonfile import read_json, write_json
from multipose.io.media import (
    VideoWriter,
    iter_video,
    read_image,
    video_fps,
    video_frames,
    write_image,
)
from multipose.io.openpose_json import (
    openpose_json_path,
    read_openpose_json,
    write_openpose_json,
)
from multipose.poses import Poses
from multipose.render import draw
from multipose.tracking import Tracker


@dataclass
class Outputs:
    """Where and what a job writes: OpenPose JSON per image or frame (`<stem>_keypoints.json`,
    in `layout`), COCO results (`coco_results.json` for the images, one file per video) and
    overlays (`<stem>_rendered.png`, or an .mp4 per video)."""

    folder: Path
    openpose: bool = True
    coco: bool = True
    render: bool = False
    layout: str = "coco18"

    def keypoints_path(self, source: Path | str) -> Path:
        return openpose_json_path(self.folder, source)

    def write(self, name: str, image: np.ndarray, people: Poses, ids: bool = False) -> None:
        """The OpenPose JSON and the overlay of one image or frame called `name`."""
        if self.openpose:
            path = self.folder / f"{name}_keypoints.json"
            write_openpose_json(path, people.convert(self.layout), self.layout)
        if self.render:
            write_image(self.folder / f"{name}_rendered.png", draw(image, people, 0.05, ids=ids))

    def write_coco(self, results: list[dict], stem: str = "") -> None:
        """The COCO results of the job's images (`coco_results.json`), or of the video `stem`
        (`<stem>_coco_results.json`, image ids = frame numbers)."""
        if self.coco:
            name = f"{stem}_coco_results.json" if stem else "coco_results.json"
            write_coco_results(self.folder / name, results)


@dataclass
class Summary:
    """What a job did: images and video frames estimated, images skipped as already done,
    people found, one line per failure, and the COCO results of the images' people."""

    images: int = 0
    frames: int = 0
    skipped: int = 0
    people: int = 0
    failures: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    def add(self, other: Summary) -> None:
        self.images += other.images
        self.frames += other.frames
        self.skipped += other.skipped
        self.people += other.people
        self.failures += other.failures
        self.results += other.results


Estimate = Callable[[Sequence[np.ndarray], Sequence[int | None]], list[Poses]]


def image_id(path: Path, fallback: int) -> int:
    """A COCO image id from a file name's last number (000000397133.jpg -> 397133)."""
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else fallback


def images_to_do(
    paths: Sequence[Path], outputs: Outputs, resume: bool
) -> tuple[Summary, list[tuple[Path, int]]]:
    """The images to estimate with their COCO ids, and the summary of those skipped: with
    `resume`, images whose OpenPose JSON exists, their people read back from it."""
    summary = Summary()
    todo = []
    for index, path in enumerate(paths):
        done = outputs.keypoints_path(path)
        if resume and done.is_file():
            summary.results += read_openpose_json(done).to_coco(image_id(path, index))
            summary.skipped += 1
        else:
            todo.append((path, image_id(path, index)))
    return summary, todo


def estimate_images(
    estimate: Estimate,
    paths: Sequence[Path],
    outputs: Outputs,
    min_score: float = 0.0,
    resume: bool = False,
    workers: int = 2,
    batch_size: int = 1,
    on_image: Callable[[Path, str | None], None] | None = None,
) -> Summary:
    """Estimates the people of each image file with `estimate` (a pipeline's `batch`),
    `batch_size` images per call, and writes what `outputs` asks for (except the COCO file,
    which the caller writes once all jobs are done). With `resume`, images whose OpenPose JSON
    exists are read back instead. `workers` threads read images ahead and write outputs
    behind (0: all in this thread). `on_image(path, error)` is called after each image."""
    summary, todo = images_to_do(paths, outputs, resume)
    with ThreadPoolExecutor(max(workers, 1)) as pool:
        run = pool.submit if workers else _now
        writes: list[tuple[Path, Future]] = []
        for batch in _batches(_read_ahead(todo, run, workers + batch_size), batch_size):
            readable = [(path, ident, image) for path, ident, image, error in batch if not error]
            for path, _, _, error in batch:
                if error:
                    summary.failures.append(error)
                    if on_image:
                        on_image(path, error)
            if not readable:
                continue
            paths_, ids, images = zip(*readable, strict=True)
            try:
                found = estimate(images, ids)
            except MultiposeError as exc:  # e.g. boxes that cannot be had for these images
                for path in paths_:
                    summary.failures.append(f"{path}: {exc}")
                    if on_image:
                        on_image(path, str(exc))
                continue
            for path, ident, image, people in zip(paths_, ids, images, found, strict=True):
                people = people.filter(min_score=min_score)
                summary.images += 1
                summary.people += len(people)
                summary.results += people.to_coco(ident)
                writes.append((path, run(outputs.write, path.stem, image, people)))
                if on_image:
                    on_image(path, None)
            writes = _finished(writes, summary, keep=workers)
        _finished(writes, summary, keep=0)
    return summary


def _now(function: Callable, *args) -> Future:
    """Runs `function` at once, its outcome in a finished Future (a pool's `submit`, serial)."""
    future: Future = Future()
    try:
        future.set_result(function(*args))
    except Exception as exc:
        future.set_exception(exc)
    return future


def read(path: Path) -> tuple[np.ndarray | None, str | None]:
    """The image and None, or None and the failure line of an image that cannot be read."""
    try:
        return read_image(path), None
    except MultiposeError as exc:
        return None, str(exc)


def _read_ahead(todo: list[tuple[Path, int]], run: Callable, depth: int) -> Iterable[tuple]:
    """(path, image id, image, error) of each image in order, up to `depth` being read ahead."""
    pending: deque = deque()
    for path, ident in todo:
        pending.append((path, ident, run(read, path)))
        if len(pending) > depth:
            path_, ident_, future = pending.popleft()
            yield path_, ident_, *future.result()
    while pending:
        path_, ident_, future = pending.popleft()
        yield path_, ident_, *future.result()


def _batches(items: Iterable[tuple], size: int) -> Iterable[list[tuple]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_failure(path: Path, error: BaseException) -> str:
    """The failure line of an image whose outputs could not be written."""
    return f"{path}: could not write its outputs ({error})"


def _finished(writes: list[tuple[Path, Future]], summary: Summary, keep: int) -> list:
    """Waits for the oldest writes until at most `keep` are pending; a failed write is a
    failure of its image."""
    while len(writes) > keep:
        path, future = writes.pop(0)
        if (error := future.exception()) is not None:
            summary.failures.append(write_failure(path, error))
    return writes


def video_done(video: Path | int, outputs: Outputs) -> bool:
    """Whether a video file's frame index lists as many frames as its header states (a camera,
    or a video whose header states none, is never done)."""
    if isinstance(video, int):
        return False
    index = outputs.folder / f"{video.stem}_frames.json"
    if not index.is_file():
        return False
    try:
        frames = read_json(index)
    except MultiposeError:
        return False
    return isinstance(frames, list) and len(frames) == video_frames(video)


def estimate_video(
    estimate: Estimate,
    video: Path | int,
    outputs: Outputs,
    summary: Summary,
    min_score: float = 0.0,
    track: bool = False,
    batch_size: int = 1,
    on_frame: Callable[[], None] | None = None,
) -> None:
    """Every frame of a video file or camera, `batch_size` frames per call of `estimate`:
    OpenPose JSON per frame (`<stem>_<frame>_keypoints.json`), an index of the frames' times and
    files (`<stem>_frames.json`), the video's COCO results (`<stem>_coco_results.json`, image id
    = frame number), an overlay video; with `track`, people keep an id across frames. Frames and
    people are counted into `summary` as each frame is done. If the video breaks off or the job
    is interrupted, what was done stays: files closed, index and results written."""
    stem = f"camera{video}" if isinstance(video, int) else video.stem
    fps = 25.0 if isinstance(video, int) else video_fps(video)
    tracker = Tracker() if track else None
    writer = VideoWriter(outputs.folder / f"{stem}_rendered.mp4", fps) if outputs.render else None
    frames_only = Outputs(outputs.folder, outputs.openpose, layout=outputs.layout)
    index, results = [], []
    try:
        for batch in _batches(iter_video(video), batch_size):
            frames, times, images = zip(*batch, strict=True)
            for frame, time_ms, image, people in zip(
                frames, times, images, estimate(images, frames), strict=True
            ):
                people = people.filter(min_score=min_score)
                if tracker is not None:
                    people = tracker.update(people)
                name = f"{stem}_{frame:012d}"
                frames_only.write(name, image, people)
                summary.frames += 1
                summary.people += len(people)
                results += people.to_coco(frame)
                index.append(
                    {
                        "frame": frame,
                        "time_ms": round(time_ms, 3),
                        "people": len(people),
                        "file": f"{name}_keypoints.json",
                    }
                )
                if writer is not None:
                    writer.write(draw(image, people, 0.05, ids=track))
                if on_frame is not None:
                    on_frame()
    finally:
        if writer is not None:
            writer.close()
        if index:
            write_json(outputs.folder / f"{stem}_frames.json", index, indent=1)
            outputs.write_coco(results, stem)
