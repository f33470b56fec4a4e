"""The local executor of a job's images: resumable, `batch_size` images per network call,
worker threads reading images ahead and writing outputs behind while the network runs."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from multipose.runner.images import (
    Estimate,
    Item,
    Ledger,
    Summary,
    batches,
    estimate_batch,
    images_to_do,
    read,
    run_now,
)
from multipose.runner.outputs import Outputs


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
    which the job writes once all is done). With `resume`, images whose OpenPose JSON exists
    are read back instead. `workers` threads read images ahead and write outputs behind (0: all
    in this thread). `on_image(path, error)` is called after each image, with its failure line
    if it failed."""
    skipped, todo = images_to_do(paths, outputs, resume)
    with ThreadPoolExecutor(max(workers, 1)) as pool:
        ledger = Ledger(outputs, min_score, pool.submit if workers else run_now, skipped)
        for batch in batches(_read_ahead(todo, ledger.run, workers + batch_size), batch_size):
            for (path, ident, image, _), found in zip(
                batch, estimate_batch(estimate, batch), strict=True
            ):
                error = ledger.book(path, ident, image, found)
                if on_image:
                    on_image(path, error)
            ledger.settle(keep=workers)
        ledger.settle()
    return ledger.summary


def _read_ahead(todo: list[tuple[Path, int]], run: Callable, depth: int) -> Iterable[Item]:
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
