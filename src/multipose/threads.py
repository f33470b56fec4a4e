"""The CPU threads a job may use, and one budget of them shared by the libraries that run
threads of their own: PyTorch (intra-op, and one inter-op thread), OpenCV, onnxruntime (its
sessions take PyTorch's count, see pipelines/network.py) and the job's reader/writer threads
(runner/job.py). numba runs none: no kernel of ours is `parallel`."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from multipose.errors import MultiposeError

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


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


def default_threads() -> int:
    """`available_cpus()`, lowered to OMP_NUM_THREADS where that is set to a positive count."""
    try:
        limit = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        limit = 0
    return min(available_cpus(), limit) if limit > 0 else available_cpus()


def use_threads(threads: int | None = None) -> int:
    """Makes this process's compute run on `threads` threads (None: `default_threads()`):
    PyTorch's intra-op pool and OpenCV's; PyTorch's inter-op pool gets one thread where it is
    not started yet (our networks run one op at a time). Returns the count."""
    import cv2
    import torch

    count = default_threads() if threads is None else threads
    if count < 1:
        raise MultiposeError(f"threads must be at least 1, not {count}")
    torch.set_num_threads(count)
    with suppress(RuntimeError):  # set once per process, before any inter-op work
        torch.set_num_interop_threads(1)
    cv2.setNumThreads(count)
    return count
