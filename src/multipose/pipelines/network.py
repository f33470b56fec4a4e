"""A network as the pipelines call it: input batches in, its outputs as NumPy arrays out; a
torch module on a device, or its ONNX export run by onnxruntime on the CPU. Backend "auto" (the
default) is onnxruntime on the CPU, where it runs our networks 1.3-2x faster than PyTorch
(bench/results/cpu_speed.md), and PyTorch on a GPU or where onnxruntime is missing."""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch import nn

from multipose.devices import full_precision, torch_device
from multipose.errors import MultiposeError
from multipose.runtime.onnx import OnnxModule, require_onnxruntime
from multipose.threads import network_threads

BACKENDS = ("auto", "torch", "onnxruntime")
# One export at a time: torch's tracer is not thread-safe (serve's workers share networks).
_EXPORTING = threading.Lock()


class Network:
    """`module` (one input batch -> a tuple of output tensors) run in PyTorch on `device`, or
    with backend "onnxruntime" ("auto" on the CPU) as its ONNX export (on `network_threads()`
    at most), made once per input size met where the size is fixed (`dynamic_size`
    False), else once.
    Called on a batch, it returns the outputs as float32 NumPy arrays."""

    def __init__(
        self,
        module: nn.Module,
        device: str = "cpu",
        backend: str = "auto",
        dynamic_size: bool = True,
    ) -> None:
        if backend not in BACKENDS:
            raise MultiposeError(f"backend must be auto, torch or onnxruntime, not {backend!r}")
        self.device = torch_device(device)
        if backend == "auto":
            backend = "onnxruntime" if self.device.type == "cpu" and _has_onnxruntime() else "torch"
        if backend == "onnxruntime":
            if self.device.type != "cpu":
                raise MultiposeError("the onnxruntime backend runs on the CPU: use --device cpu")
            require_onnxruntime()
        self.module = module.to(self.device).eval()
        self.backend, self.dynamic_size = backend, dynamic_size
        self.sessions: dict[tuple[int, ...] | None, OnnxModule] = {}

    def __call__(self, batch: torch.Tensor) -> list[np.ndarray]:
        if self.backend == "onnxruntime":
            outputs = self._session(batch)(batch)
        else:
            with full_precision():
                outputs = self.module(batch.to(self.device))
        return [o.float().cpu().numpy() for o in outputs]

    def _session(self, batch: torch.Tensor) -> OnnxModule:
        key = None if self.dynamic_size else tuple(batch.shape[1:])
        if key in self.sessions:  # made: no lock, so calls never wait on another export
            return self.sessions[key]
        with _EXPORTING:
            if key not in self.sessions:
                free = (0, 2, 3) if self.dynamic_size else (0,)
                threads = network_threads()
                self.sessions[key] = OnnxModule(self.module, batch.shape, free, threads)
        return self.sessions[key]


def _has_onnxruntime() -> bool:
    try:
        require_onnxruntime()
    except MultiposeError:
        return False
    return True
