"""A network as the pipelines call it: input batches in, its outputs as NumPy arrays out; a
torch module on a device, or its ONNX export run on the CPU by onnxruntime or OpenVINO. Backend
"auto" (the default) is onnxruntime on the CPU, where it runs our networks 1.3-3x faster than
PyTorch (bench/results/cpu_speed.md), and PyTorch on a GPU or where onnxruntime is missing.
"openvino" (opt-in) computes in bfloat16 on CPUs with AMX: faster again, but not to float noise
(runtime/openvino.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch
from torch import nn

from multipose.devices import full_precision, torch_device
from multipose.errors import MultiposeError
from multipose.runtime.onnx import LastStage, OnnxModule, require_onnxruntime
from multipose.runtime.openvino import OpenVinoModule, require_openvino
from multipose.threads import network_threads

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
# The runtimes of the ONNX backends (runners made from a module, an input shape, its free axes
# and the most threads), and what each needs installed.
RUNTIMES: dict[str, tuple[Callable[..., Callable], Callable[[], object]]] = {
    "onnxruntime": (OnnxModule, require_onnxruntime),
    "openvino": (OpenVinoModule, require_openvino),
}
# One export at a time: torch's tracer is not thread-safe (serve's workers share networks).
_EXPORTING = threading.Lock()
# Exports whose height and width stay free are traced on an input of the batch's sizes modulo
# this (the same padding at every stride up to it, so the same graph): the trace runs the
# module once, and the default's thin OpenPose took 0.8 s of its first call to do that at full
# size (height 496) in PyTorch.
TRACE_MODULO = 64
# Where `network_of` keeps the Networks it shares (see `shared_networks`), and its lock.
_SHARED: ContextVar[dict | None] = ContextVar("multipose_shared_networks", default=None)
_SHARING = threading.Lock()


class Network:
    """`module` (one input batch -> a tuple of output tensors) run in PyTorch on `device`, or
    with backend "onnxruntime" ("auto" on the CPU) or "openvino" as its ONNX export
    (on `network_threads()` at most), made once per input size met where the size is fixed
    (`dynamic_size` False), else once. Called on a batch, it returns the outputs as float32
    NumPy arrays."""

    def __init__(
        self,
        module: nn.Module,
        device: str = "cpu",
        backend: str = "auto",
        dynamic_size: bool = True,
    ) -> None:
        if backend not in BACKENDS:
            raise MultiposeError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.device = torch_device(device)
        if backend == "auto":
            on_cpu = self.device.type == "cpu" and _installed("onnxruntime")
            backend = "onnxruntime" if on_cpu else "torch"
        if backend in RUNTIMES:
            if self.device.type != "cpu":
                raise MultiposeError(f"the {backend} backend runs on the CPU: use --device cpu")
            RUNTIMES[backend][1]()
        self.module = module.to(self.device).eval()
        self.backend, self.dynamic_size = backend, dynamic_size
        self.runners: dict[tuple[int, ...] | None, Callable] = {}

    def __call__(self, batch: torch.Tensor) -> list[np.ndarray]:
        if self.backend in RUNTIMES:
            outputs = self._runner(batch)(batch)
        else:
            with full_precision():
                outputs = self.module(batch.to(self.device))
        return [o.float().cpu().numpy() for o in outputs]

    def _runner(self, batch: torch.Tensor) -> Callable:
        key = None if self.dynamic_size else tuple(batch.shape[1:])
        if key in self.runners:  # made: no lock, so calls never wait on another export
            return self.runners[key]
        with _EXPORTING:
            if key not in self.runners:
                free = (0, 2, 3) if self.dynamic_size else (0,)
                shape = traced_shape(batch.shape) if self.dynamic_size else batch.shape
                runner = RUNTIMES[self.backend][0]
                self.runners[key] = runner(self.module, shape, free, network_threads())
        return self.runners[key]


@contextmanager
def shared_networks(shared: dict | None = None) -> Iterator[dict]:
    """Pipelines built inside share one Network per module and settings (`network_of`), so that
    copies of a pipeline running at once, one per thread, make each export once (onnxruntime's
    sessions and OpenVINO's compiled models take calls from several threads). The Networks are
    kept in `shared` (a caller keeps it to share them with pipelines built later, on other
    threads too), else in a new dict; it is yielded."""
    shared = {} if shared is None else shared
    token = _SHARED.set(shared)
    try:
        yield shared
    finally:
        _SHARED.reset(token)


def network_of(
    module: nn.Module,
    device: str = "cpu",
    backend: str = "auto",
    dynamic_size: bool = True,
    last_stage: bool = False,
) -> Network:
    """The Network of `module` (of its last stage's outputs with `last_stage`: `LastStage`),
    as a pipeline makes it: the one made for the same module and settings inside the same
    `shared_networks`, else a new one."""

    def made() -> Network:
        return Network(LastStage(module) if last_stage else module, device, backend, dynamic_size)

    shared = _SHARED.get()
    if shared is None:
        return made()
    key = id(module), last_stage, str(device), backend, dynamic_size
    with _SHARING:
        if key not in shared:
            shared[key] = made()
        return shared[key]


def traced_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The input shape (N, C, H, W) an export with free sizes is traced on: batch 1, each side
    of at least 2 TRACE_MODULO brought down to TRACE_MODULO plus its remainder."""
    small = [
        side if side < 2 * TRACE_MODULO else TRACE_MODULO + side % TRACE_MODULO
        for side in shape[2:]
    ]
    return (1, shape[1], *small)


def _installed(backend: str) -> bool:
    try:
        RUNTIMES[backend][1]()
    except MultiposeError:
        return False
    return True
