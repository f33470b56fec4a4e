"""The local executor of a job's images: resumable, `batch_size` images per network call,
worker threads reading images ahead and writing outputs behind while the network runs, and
with copies of the model, as many batches estimated at once as the CPUs allow."""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from multipose.threads import cpu_watch, network_threads


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
    copies: Sequence[Estimate] = (),
) -> Summary:
    """Estimates the people of each image file (`entries`, from `outputs.register`) with
    `estimate` (a pipeline's `batch`), `batch_size` images per call, and writes what `outputs`
    asks for (except the COCO file, which the job writes once all is done). With `resume`,
    images whose outputs are all there are read back instead. `workers` threads read images
    ahead and write outputs behind (0: all in this thread). `on_image(path, error)` is called
    after each image, with its failure line if it failed. The images are counted into
    `summary` (a new one if None) as they are done, so that it holds them if Ctrl-C cuts the
    job short (the writes begun are finished first). `copies`: more estimates like
    `estimate` (pipelines of the same model, `load_copies`), each run on a thread of its own so
    that batches are estimated at once (`_estimated`); the images are booked in order."""
    summary = Summary() if summary is None else summary
    skipped, todo = images_to_do(entries, outputs, resume)
    summary.add(skipped)
    with ThreadPoolExecutor(max(workers, 1)) as pool:
        ledger = Ledger(outputs, min_score, pool.submit if workers else run_now, summary)
        try:
            ahead = workers + batch_size * (1 + len(copies))
            items = batches(_read_ahead(todo, ledger.run, ahead), batch_size)
            for batch, found in _estimated(items, [estimate, *copies]):
                for item, people in zip(batch, found, strict=True):
                    error = ledger.book(item[0], item[1], people)
                    if on_image:
                        on_image(item[0].path, error)
                ledger.settle(keep=workers)
        finally:
            ledger.settle()
    return summary


def _estimated(
    items: Iterable[list[Item]], estimates: Sequence[Estimate]
) -> Iterator[tuple[list[Item], list]]:
    """Each batch of `items` with what `estimate_batch` found in it, in order: with one
    estimate, here; with more, each batch on a thread with an estimate of its own, up to one
    batch per estimate at once, fewer while other programs keep the CPUs busy (`_at_once`)."""
    if len(estimates) == 1:
        for batch in items:
            yield batch, estimate_batch(estimates[0], batch)
        return
    idle: queue.SimpleQueue = queue.SimpleQueue()  # the estimates no thread is running
    for estimate in estimates:
        idle.put(estimate)

    def estimated(batch: list[Item]) -> list:
        estimate = idle.get()
        try:
            return estimate_batch(estimate, batch)
        finally:
            idle.put(estimate)

    pending: deque = deque()
    with ThreadPoolExecutor(len(estimates), thread_name_prefix="multipose-estimate") as pool:
        for batch in items:
            while pending and len(pending) >= _at_once(len(estimates)):
                done, future = pending.popleft()
                yield done, future.result()
            pending.append((batch, pool.submit(estimated, batch)))
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _at_once(most: int) -> int:
    """How many batches may be estimated at once: `most`, fewer while other programs keep busy
    the CPUs their networks' threads (`network_threads()` each) would need (the CpuWatch), at
    least one."""
    spare = cpu_watch()()
    if spare is None:
        return most
    return max(1, min(most, spare // network_threads()))


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
