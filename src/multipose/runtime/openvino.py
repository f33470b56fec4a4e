"""OpenVINO: a torch module's ONNX export compiled by OpenVINO for the CPU, called like the
module (backend "openvino", opt-in). On CPUs with bfloat16 matrix units (Intel AMX: Xeon of the
4th generation on) OpenVINO computes in bfloat16 unless told otherwise: per call, BlazePose's
networks run 0.9-1.7x and the thin OpenPose 2.3-2.5x as fast as in onnxruntime's float32 there
(bench/results/litert.md), the default model 1.2-1.6x per photo (cpu_speed.md) with its AP on
coco-mini within what a +-1 grey-level noise on the input moves it (precision.md); but
keypoints move by pixels (by tens where a limb is guessed beyond the frame), some crowd people
come and go, and results change with the thread count beyond float noise, so it is not the
default. Elsewhere it computes in float32, at onnxruntime's speed on the default model."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from types import ModuleType

import numpy as np
import torch
from torch import nn

from multipose.errors import MultiposeError
from multipose.runtime.export_cache import cached_onnx
from multipose.runtime.onnx import watched_threads

PRECISIONS = ("f32", "bf16")


def require_openvino() -> ModuleType:
    """The openvino module, or a MultiposeError saying what to install."""
    try:
        import openvino
    except ImportError:
        raise MultiposeError(
            "the openvino backend needs: pip install openvino (or multipose[openvino])"
        ) from None
    return openvino


@cache
def _core() -> object:
    """The process's one OpenVINO Core (made once: a Core made and dropped per network, then
    a fork, crashed the parent now and then)."""
    return require_openvino().Core()


def default_precision() -> str:
    """What OpenVINO computes in on this CPU unless told: "bf16" or "f32"."""
    return _core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()


class OpenVinoModule:
    """`module` exported to ONNX once (`cached_onnx`: an input of `shape`, the axes `free`
    dynamic) and compiled by OpenVINO for the CPU at `precision` ("f32", "bf16"; None:
    OpenVINO's choice for this CPU), on `threads` threads at most (OpenVINO's default when
    None): at each call on those the CpuWatch finds spare, a compiled model for each count met.
    Called like the module (from any thread), it returns the outputs as CPU tensors."""

    def __init__(
        self,
        module: nn.Module,
        shape: Sequence[int],
        free: Sequence[int] = (0,),
        threads: int | None = None,
        precision: str | None = None,
    ) -> None:
        if precision not in (None, *PRECISIONS):
            raise MultiposeError(f"precision must be f32 or bf16, not {precision!r}")
        self.core = _core()
        self.model = self.core.read_model(cached_onnx(module, shape, free).SerializeToString())
        self.threads, self.precision = threads, precision
        self.compiled: dict[int | None, object] = {}
        self._making = threading.Lock()
        self._requests = threading.local()  # per thread, per compiled model: its buffers kept
        self.compiled_model(watched_threads(threads)[0])

    def compiled_model(self, threads: int | None) -> object:
        """The model compiled to run on `threads` threads (made once)."""
        if threads not in self.compiled:
            with self._making:
                if threads not in self.compiled:
                    config = {
                        "PERFORMANCE_HINT": "LATENCY",  # one call at a time, all its threads
                        "NUM_STREAMS": 1,
                        "ENABLE_CPU_PINNING": False,  # a shared machine: let the OS place them
                    }
                    if threads:
                        config["INFERENCE_NUM_THREADS"] = threads
                    if self.precision:
                        config["INFERENCE_PRECISION_HINT"] = self.precision
                    self.compiled[threads] = self.core.compile_model(self.model, "CPU", config)
        return self.compiled[threads]

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        threads = watched_threads(self.threads)[0]
        requests = self._requests.__dict__
        if threads not in requests:
            requests[threads] = self.compiled_model(threads).create_infer_request()
        request = requests[threads]
        request.infer([np.ascontiguousarray(x.cpu().numpy(), np.float32)])
        return tuple(torch.from_numpy(np.array(t.data)) for t in request.output_tensors)
