"""The bookkeeping of a job's images that both executors share: which images are to be done,
reading them, estimating a batch, and booking each image (its people counted, its COCO results
gathered, its outputs written, or its failure recorded).

A bad file never stops a job: it is reported in the summary and the job goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from multipose.errors import MultiposeError
from multipose.io.csv_file import csv_rows
from multipose.io.media import read_image
from multipose.io.openpose_json import read_openpose_json
from multipose.poses import Poses
from multipose.runner.outputs import Outputs
from multipose.runner.register import Entry

Estimate = Callable[[Sequence[np.ndarray], Sequence[int | None]], list[Poses]]
# (the image's entry, the image or None, None or why it could not be read)
Item = tuple[Entry, np.ndarray | None, str | None]


@dataclass
class Summary:
    """What a job did: images and video frames estimated, images skipped as already done,
    people found, one line per failure, the COCO results and CSV rows of the images' people
    (rows only where the outputs ask for CSV); for a whole job, also its seconds
    (`load_seconds` of them loading the model), what Ctrl-C cut off ("images" or "videos",
    else None) and each video's tracks (ids and their frames)."""

    images: int = 0
    frames: int = 0
    skipped: int = 0
    people: int = 0
    failures: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    seconds: float = 0.0
    load_seconds: float = 0.0
    interrupted: str | None = None
    tracks: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, other: Summary) -> None:
        """Counts, failures and results of `other` added to these."""
        self.images += other.images
        self.frames += other.frames
        self.skipped += other.skipped
        self.people += other.people
        self.failures += other.failures
        self.results += other.results
        self.rows += other.rows
        self.tracks.update(other.tracks)


def images_to_do(
    entries: Sequence[Entry], outputs: Outputs, resume: bool
) -> tuple[Summary, list[Entry]]:
    """The images to estimate, and the summary of those skipped: with `resume`, images whose
    outputs are all there (`Outputs.done`), their people read back from their OpenPose JSON
    (one that cannot be is done again)."""
    summary = Summary()
    todo = []
    for entry in entries:
        people = _done(entry, outputs) if resume else None
        if people is None:
            todo.append(entry)
        else:
            summary.results += people.to_coco(entry.id)
            if outputs.csv:
                summary.rows += csv_rows(str(entry.path), people, outputs.layout)
            summary.skipped += 1
    return summary, todo


def _done(entry: Entry, outputs: Outputs) -> Poses | None:
    """The people of an image whose outputs are all there, read back; else None (an OpenPose
    JSON that cannot be read back is not done)."""
    if not outputs.done(entry.name):
        return None
    try:
        return read_openpose_json(outputs.keypoints_path(entry.name))
    except MultiposeError:
        return None


def read(path: Path) -> tuple[np.ndarray | None, str | None]:
    """The image and None, or None and the failure line of an image that cannot be read."""
    try:
        return read_image(path), None
    except MultiposeError as exc:
        return None, str(exc)


def batches(items: Iterable, size: int) -> Iterable[list]:
    """`items` in lists of `size` (the last one shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def estimate_batch(estimate: Estimate, batch: Sequence[Item]) -> list[Poses | str]:
    """The people of each image of `batch` found in one call of `estimate`, or the failure line
    of an image that could not be read or that the estimator refused (a MultiposeError, e.g.
    no boxes for these images: all of the call's images fail)."""
    found: list[Poses | str] = [error or "" for *_, error in batch]
    readable = [i for i, (*_, error) in enumerate(batch) if not error]
    if not readable:
        return found
    try:
        people = estimate([batch[i][1] for i in readable], [batch[i][0].id for i in readable])
    except MultiposeError as exc:
        people = [f"{batch[i][0].path}: {exc}" for i in readable]
    for i, poses in zip(readable, people, strict=True):
        found[i] = poses
    return found


def run_now(function: Callable, *args) -> Future:
    """Runs `function` at once, its outcome in a finished Future (a pool's `submit`, serial)."""
    future: Future = Future()
    try:
        future.set_result(function(*args))
    except Exception as exc:
        future.set_exception(exc)
    return future


@dataclass
class Ledger:
    """Books images into `summary`, writing their outputs through `run` (`run_now`, or a
    pool's `submit` to write behind)."""

    outputs: Outputs
    min_score: float = 0.0
    run: Callable[..., Future] = run_now
    summary: Summary = field(default_factory=Summary)
    writes: list[tuple[Path, Future]] = field(default_factory=list)

    def book(self, entry: Entry, image: np.ndarray | None, found: Poses | str) -> str | None:
        """One image with what `estimate_batch` found in it: its failure line, recorded and
        returned, or its people above `min_score` counted, their COCO results gathered and
        its outputs written (None returned)."""
        if isinstance(found, str):
            self.summary.failures.append(found)
            return found
        people = found.filter(min_score=self.min_score)
        self.summary.images += 1
        self.summary.people += len(people)
        self.summary.results += people.to_coco(entry.id)
        if self.outputs.csv:
            self.summary.rows += csv_rows(str(entry.path), people, self.outputs.layout)
        self.writes.append((entry.path, self.run(self.outputs.write, entry.name, image, people)))
        return None

    def settle(self, keep: int = 0) -> None:
        """Waits for the oldest writes until at most `keep` are pending; a failed write is a
        failure of its image."""
        while len(self.writes) > keep:
            path, future = self.writes.pop(0)
            if (error := future.exception()) is not None:
                self.summary.failures.append(f"{path}: could not write its outputs ({error})")
