"""The CPU threads a job may use (by default those of its CPUs that other programs leave idle
when it starts), and one budget of them shared by the libraries that run threads of their own:
PyTorch (intra-op, and one inter-op thread), OpenCV and the job's reader/writer threads
(runner/job.py). onnxruntime's sessions run each call on the CPUs a CpuWatch finds spare at
the time, at most `network_threads()` (runtime/onnx.py). numba runs none: no kernel of ours is
`parallel`."""

from __future__ import annotations

import os
import threading
import time
from contextlib import suppress
from functools import cache
from pathlib import Path

from multipose.errors import MultiposeError

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
PROC_STAT = Path("/proc/stat")
# How long the CPUs are watched for other programs' work, once per process (/proc/stat counts
# in 10 ms ticks).
SAMPLE_S = 0.2
# How old the CpuWatch's measure may get while a job runs.
WATCH_S = 0.5


def available_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The CPUs this process may run on: its CPU affinity, lowered to its cgroup's CPU quota
    (rounded down, at least 1) where one is set; not the host's core count."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = cgroup_quota(cpu_max)
    return max(1, min(cpus or 1, quota or cpus or 1))


def cgroup_quota(cpu_max: Path = CPU_MAX) -> int | None:
    """Whole CPUs the cgroup v2 quota allows (`cpu.max`: "quota period", or "max period" for
    none), at least 1; None where there is no quota or no such file."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return None if quota == "max" else max(1, int(quota) // int(period))
    except (OSError, ValueError):
        return None


def cpu_times(stat: Path = PROC_STAT) -> dict[int, tuple[int, int]]:
    """Per CPU, its idle and total ticks since boot (idle counting I/O wait), from /proc/stat."""
    times = {}
    for line in stat.read_text().splitlines():
        name, *ticks = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            counts = [int(t) for t in ticks[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (counts[3] + counts[4], sum(counts))
    return times


def idle_share(
    before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], cpus: set[int]
) -> float:
    """How many of the `cpus` sat idle between two `cpu_times()` readings (0 to len(cpus))."""
    idle = 0.0
    for cpu in cpus & before.keys() & after.keys():
        ticks = after[cpu][1] - before[cpu][1]
        idle += (after[cpu][0] - before[cpu][0]) / ticks if ticks > 0 else 1.0
    return idle


@cache
def spare_cpus() -> int | None:
    """The CPUs of this process's affinity that other programs left idle over SAMPLE_S seconds
    when first asked (rounded, at least 1; asked once per process); None where /proc/stat
    cannot be read. On a machine busy with other work, fewer threads than CPUs finish sooner:
    beside a program burning one of two CPUs our default model took 1.1-1.3x its quiet time on
    1 thread and 2.2-2.5x on 2 (bench/results/cpu_speed.md)."""
    start = _reading()
    if start is None:
        return None
    time.sleep(SAMPLE_S)
    end = _reading()
    return None if end is None else _spare(start, end)


class CpuWatch:
    """`spare_cpus()` kept up to date while a job runs: asked, it measures again over the time
    since its last measure once that is `every` seconds old (else it gives the last one, so
    that a call costs a clock read), and never sleeps. The networks ask it at each call
    (runtime/onnx.py), so that a load arriving after the start is seen within `every`."""

    def __init__(self, every: float = WATCH_S) -> None:
        self.every = every
        self.spare = spare_cpus()
        self._mark = _reading()
        self._lock = threading.Lock()

    def __call__(self) -> int | None:
        mark = self._mark
        if mark is None or time.perf_counter() - mark[2] < self.every:
            return self.spare
        if self._lock.acquire(blocking=False):  # one thread measures, the others go on
            try:
                now = _reading()
                if now is not None:
                    self.spare, self._mark = _spare(mark, now), now
            finally:
                self._lock.release()
        return self.spare


@cache
def cpu_watch() -> CpuWatch:
    """The process's one CpuWatch."""
    return CpuWatch()


Reading = tuple[dict[int, tuple[int, int]], float, float]


def _reading() -> Reading | None:
    """The CPUs' ticks, this process's CPU time (all its threads) and the clock, now; None
    where /proc/stat or the affinity cannot be read."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return cpu_times(), time.process_time(), time.perf_counter()
    except (OSError, ValueError, IndexError):
        return None


def _spare(start: Reading, end: Reading) -> int:
    """The CPUs idle between two readings plus those this process kept busy (rounded, at
    least 1)."""
    own = (end[1] - start[1]) / max(end[2] - start[2], 1e-9)
    return max(1, round(idle_share(start[0], end[0], os.sched_getaffinity(0)) + own))


def default_threads() -> int:
    """`available_cpus()`, lowered to OMP_NUM_THREADS where that is set to a positive count,
    else to the CPUs other programs leave idle (`spare_cpus()`)."""
    cap = _cpu_cap()
    return cap if _omp_limit() else min(cap, spare_cpus() or cap)


def network_threads() -> int:
    """The most threads a network call may take: the count given to `use_threads`, else
    OMP_NUM_THREADS where set, else every available CPU (the CpuWatch then picks, call by
    call, those other programs leave idle)."""
    return _given or _cpu_cap()


def _cpu_cap() -> int:
    """`available_cpus()`, lowered to OMP_NUM_THREADS where that is set to a positive count."""
    cpus = available_cpus()
    return min(cpus, _omp_limit() or cpus)


def _omp_limit() -> int:
    """OMP_NUM_THREADS where set to a positive count, else 0."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return 0


_given: int | None = None


def use_threads(threads: int | None = None) -> int:
    """Makes this process's compute run on `threads` threads (None: `default_threads()`):
    PyTorch's intra-op pool and OpenCV's; PyTorch's inter-op pool gets one thread where it is
    not started yet (our networks run one op at a time); `threads` also caps the networks'
    calls (`network_threads()`). Returns the count."""
    import cv2
    import torch

    global _given
    count = default_threads() if threads is None else threads
    if count < 1:
        raise MultiposeError(f"threads must be at least 1, not {count}")
    _given = threads
    torch.set_num_threads(count)
    with suppress(RuntimeError):  # set once per process, before any inter-op work
        torch.set_num_interop_threads(1)
    cv2.setNumThreads(count)
    return count
