"""ONNX: a torch module exported and run by onnxruntime on the CPU, called like the module; and
the export of a spec's network to a file (its last stage's maps, with dynamic height and width
where the architecture allows)."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from multipose.errors import MultiposeError, quiet
from multipose.threads import cpu_watch

if TYPE_CHECKING:
    from multipose.specs import ModelSpec


def require_onnxruntime() -> ModuleType:
    """The onnxruntime module, or a MultiposeError saying what to install (the exporter needs
    the onnx package too)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        raise MultiposeError(
            "the onnxruntime backend needs: pip install onnxruntime onnx (dependencies of "
            "multipose: reinstall it)"
        ) from None
    return onnxruntime


def session_options(ort: ModuleType, threads: int | None = None, spin: bool = False) -> object:
    """onnxruntime's options for our networks: every graph optimisation, one op at a time
    (sequential, one inter-op thread), `threads` intra-op threads (its default when None),
    spinning between ops during a run if `spin` (and stopping at its end), else sleeping."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


def call_threads(threads: int, spare: int | None) -> tuple[int, bool]:
    """How a network call runs with `threads` at most while `spare` CPUs are left idle by other
    programs (None: unknown): on as many threads as are spare, spinning between ops when all
    of them are (1.2-1.3x faster per call than sleeping ones on an idle machine,
    bench/results/litert.md), sleeping otherwise (spinning ones, beside other work, wait on a
    descheduled peer at every op: the default model took 1.6x longer per photo with them than
    with sleeping ones beside a CPU burner)."""
    if spare is None:
        return threads, False
    count = max(1, min(threads, spare))
    return count, count > 1


def watched_threads(threads: int | None) -> tuple[int | None, bool]:
    """`call_threads` for a network call on `threads` at most, on the CPUs the CpuWatch finds
    spare now (None: the runtime's default count, sleeping)."""
    if threads is None:
        return None, False
    return call_threads(threads, cpu_watch()())


class OnnxModule:
    """`module` (one input tensor, a tuple of output tensors) put in eval mode and exported to ONNX
    once, traced on an input of `shape` with the axes `free` left dynamic (the batch axis by
    default), its residual blocks fused for onnxruntime (`fuse_residual_clips`), and run by
    onnxruntime's CPU provider on `threads` intra-op threads at most (its default when None):
    at each call on those the CpuWatch finds spare (`call_threads`), a session made for each
    count met. Called like the module, it returns the outputs as a tuple of CPU tensors."""

    def __init__(
        self,
        module: nn.Module,
        shape: Sequence[int],
        free: Sequence[int] = (0,),
        threads: int | None = None,
    ) -> None:
        self.ort = require_onnxruntime()
        from multipose.runtime.export_cache import cached_onnx
        from multipose.runtime.onnx_fusion import fuse_residual_clips

        graph = cached_onnx(module, shape, free)
        fuse_residual_clips(graph)
        self.graph = graph.SerializeToString()
        self.threads = threads
        self.sessions: dict[tuple[int | None, bool], object] = {}
        self._making = threading.Lock()
        self.session(*watched_threads(self.threads))

    def session(self, threads: int | None, spin: bool) -> object:
        """The session running on `threads` intra-op threads, spinning or not (made once)."""
        key = threads, spin
        if key not in self.sessions:
            with self._making:
                if key not in self.sessions:
                    options = session_options(self.ort, threads, spin)
                    self.sessions[key] = self.ort.InferenceSession(
                        self.graph, options, providers=["CPUExecutionProvider"]
                    )
        return self.sessions[key]

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        inputs = {"input": np.ascontiguousarray(x.cpu().numpy(), np.float32)}
        outputs = self.session(*watched_threads(self.threads)).run(None, inputs)
        return tuple(torch.from_numpy(o) for o in outputs)


def traced_onnx(module: nn.Module, shape: Sequence[int], free: Sequence[int] = (0,)) -> object:
    """`module` (one input tensor, a tuple of output tensors) put in eval mode and exported to
    an ONNX model (onnx.ModelProto), traced on an input of `shape` with the axes `free` left
    dynamic; input "input", the outputs' sizes left to the runtime (the trace is the one run of
    the module: no other to learn the outputs' ranks first)."""
    import onnx

    module.eval()  # the export restores the mode it finds
    axes = {"input": {axis: f"input_{axis}" for axis in free}}
    model = io.BytesIO()
    with torch.no_grad(), quiet():  # tracer and exporter chatter
        torch.onnx.export(
            module,
            (torch.zeros(*shape),),
            model,
            input_names=["input"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    graph = onnx.load_from_string(model.getvalue())
    for output in graph.graph.output:
        for axis, dim in enumerate(output.type.tensor_type.shape.dim):
            dim.dim_param = f"{output.name}_{axis}"
    return graph


class LastStage(nn.Module):
    """The network's last stage outputs, as a tuple of tensors."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.network(image)[-1])


def export_onnx(
    spec: ModelSpec, network: nn.Module, path: str | Path, size: tuple[int, int] = (256, 256)
) -> Path:
    """Write the network to `path` as ONNX, traced on a (1, 3, height, width) input of `size`
    = (width, height), its outputs named as the spec's; batch, height and width stay free where
    `spec.input.dynamic_size`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    names = list(spec.outputs)
    axes = {0: "batch", 2: "height", 3: "width"} if spec.input.dynamic_size else {0: "batch"}
    with torch.no_grad(), quiet():  # tracer and exporter chatter
        torch.onnx.export(
            LastStage(network).eval(),
            (torch.rand(1, 3, height, width) * 255,),
            str(path),
            input_names=["image"],
            output_names=names,
            dynamic_axes={"image": axes, **{n: axes for n in names}},
            opset_version=17,
            dynamo=False,
        )
    return path
