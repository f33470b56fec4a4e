"""What runs the requests' estimates: the served models (each network loaded once, a pipeline
around it per worker thread) and a bounded queue of worker threads with a time limit."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from multipose.errors import MultiposeError
from multipose.pipelines import Pipeline
from multipose.pipelines.network import shared_networks
from multipose.specs import ModelSpec, get_spec
from multipose.threads import available_cpus, network_threads, use_threads

T = TypeVar("T")


class Busy(Exception):
    """The queue is full: the request is refused at once (503)."""


class TimeLimit(Exception):
    """A request ran past its time limit (504)."""


class Models:
    """The served models by name, the first the default: each network is loaded once (at
    start, so that missing weights stop the server before it listens), and each worker
    thread builds its own light pipeline around it per flip choice (pipelines keep per-call
    state), all sharing its runtimes (`shared_networks`: each export made once)."""

    def __init__(self, names: Sequence[str | ModelSpec], device: str = "cpu") -> None:
        if not names:
            raise MultiposeError("serve at least one model")
        self.specs = {spec.name: spec for spec in map(get_spec, names)}
        self.default = next(iter(self.specs))
        self.device = device
        self.networks = {
            name: spec.load(spec.find_weights(spec, None)) for name, spec in self.specs.items()
        }
        self._local = threading.local()
        self._shared: dict = {}  # the pipelines' networks, shared by the workers' pipelines

    def spec(self, name: str | None) -> ModelSpec:
        """The spec of a served model (None: the default)."""
        name = name or self.default
        if name not in self.specs:
            raise MultiposeError(
                f"model {name!r} is not served here; served: {', '.join(self.specs)}"
            )
        return self.specs[name]

    def pipeline(self, name: str, flip: bool) -> Pipeline:
        """This thread's pipeline of the served model `name`, with or without the flip test."""
        cache = self._local.__dict__.setdefault("pipelines", {})
        if (name, flip) not in cache:
            spec = self.specs[name]
            with shared_networks(self._shared):  # each export made once, for every worker
                cache[name, flip] = spec.pipeline(spec, self.networks[name], self.device, flip=flip)
        return cache[name, flip]


class WorkQueue:
    """`workers` threads running estimates, each with its share of the CPU cores (torch and
    OpenCV threads set once, never more than torch was given, e.g. by OMP_NUM_THREADS, so
    that concurrent requests do not oversubscribe the CPU); at
    most `capacity` requests running or waiting, the others refused at once."""

    def __init__(self, workers: int = 1, capacity: int = 16) -> None:
        if workers < 1 or capacity < workers:
            raise MultiposeError(
                f"need workers >= 1 and a queue >= workers, not {workers}, {capacity}"
            )
        use_threads(max(1, min(network_threads(), available_cpus() // workers)))
        self.workers, self.capacity = workers, capacity
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="multipose-serve")
        self._lock = threading.Lock()
        self.pending = 0

    async def run(self, work: Callable[[float], T], seconds: float) -> T:
        """`work(deadline)` on a worker thread, its result once done. Busy if the queue is
        full; TimeLimit once `seconds` have passed (the work is told its `time.monotonic()`
        deadline: it is skipped if it had waited that long, and may stop itself early; its
        place in the queue is freed only when it really ends)."""
        with self._lock:
            if self.pending >= self.capacity:
                raise Busy
            self.pending += 1
        deadline = time.monotonic() + seconds
        future = self._pool.submit(_before_deadline, work, deadline)
        future.add_done_callback(self._release)
        outcome = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), seconds)
        except asyncio.TimeoutError:
            outcome.add_done_callback(_ignore)  # nobody waits for it any more
            raise TimeLimit from None

    def _release(self, _: object) -> None:
        with self._lock:
            self.pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ignore(outcome: asyncio.Future) -> None:
    if not outcome.cancelled():
        outcome.exception()


def _before_deadline(work: Callable[[float], T], deadline: float) -> T:
    if time.monotonic() >= deadline:
        raise TimeLimit
    return work(deadline)
