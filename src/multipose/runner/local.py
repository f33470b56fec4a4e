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
from multipose.runner.register import Entry


def estimate_images(
    estimate: Estimate,
    entries: Sequence[Entry],
    outputs: Outputs,
    min_score: float = 0.0,
    resume: bool = False,
    workers: int = 2,
    batch_size: int = 1,
    on_image: Callable[[Path, str | None], None] | None = None,
    summary: Summary | None = None,
) -> Summary:
    """Estimates the people of each image file (`entries`, from `outputs.register`) with
    `estimate` (a pipeline's `batch`), `batch_size` images per call, and writes what `outputs`
    asks for (except the COCO file, which the job writes once all is done). With `resume`,
    images whose outputs are all there are read back instead. `workers` threads read images
    ahead and write outputs behind (0: all in this thread). `on_image(path, error)` is called
    after each image, with its failure line if it failed. The images are counted into
    `summary` (a new one if None) as they are done, so that it holds them if Ctrl-C cuts the
    job short (the writes begun are finished first)."""
    summary = Summary() if summary is None else summary
    skipped, todo = images_to_do(entries, outputs, resume)
    summary.add(skipped)
    with ThreadPoolExecutor(max(workers, 1)) as pool:
        ledger = Ledger(outputs, min_score, pool.submit if workers else run_now, summary)
        try:
            for batch in batches(_read_ahead(todo, ledger.run, workers + batch_size), batch_size):
                for item, found in zip(batch, estimate_batch(estimate, batch), strict=True):
                    error = ledger.book(item[0], item[1], found)
                    if on_image:
                        on_image(item[0].path, error)
                ledger.settle(keep=workers)
        finally:
            ledger.settle()
    return summary


def _read_ahead(todo: list[Entry], run: Callable, depth: int) -> Iterable[Item]:
    """(entry, image, error) of each image in order, up to `depth` being read ahead."""
    pending: deque = deque()
    for entry in todo:
        pending.append((entry, run(read, entry.path)))
        if len(pending) > depth:
            entry_, future = pending.popleft()
            yield entry_, *future.result()
    while pending:
        entry_, future = pending.popleft()
        yield entry_, *future.result()
