"""A torch module exported to ONNX and run by onnxruntime on the CPU, called like the module."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from types import ModuleType

import numpy as np
import torch
from torch import nn

from multipose.errors import MultiposeError


def require_onnxruntime() -> ModuleType:
    """The onnxruntime module, or a MultiposeError saying what to install (the exporter needs
    the onnx package too)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        raise MultiposeError(
            "the onnxruntime backend needs: pip install onnxruntime onnx"
        ) from None
    return onnxruntime


class OnnxModule:
    """`module` (one input tensor, a tuple of output tensors) put in eval mode and exported to
    ONNX once, traced on an input of `shape` with the axes `free` left dynamic (the batch axis
    by default), and run by onnxruntime's CPU provider on `threads` intra-op threads (its
    default when None). Called like the module, it returns the outputs as a tuple of CPU
    tensors."""

    def __init__(
        self,
        module: nn.Module,
        shape: Sequence[int],
        free: Sequence[int] = (0,),
        threads: int | None = None,
    ) -> None:
        ort = require_onnxruntime()
        module.eval()  # the export restores the mode it finds
        example = torch.zeros(*shape)
        with torch.no_grad():
            ranks = [o.dim() for o in module(example)]
        outputs = [f"output{i}" for i in range(len(ranks))]
        axes = {"input": {axis: f"input_{axis}" for axis in free}}
        for name, rank in zip(outputs, ranks, strict=True):  # onnxruntime works out their sizes
            axes[name] = {axis: f"{name}_{axis}" for axis in range(rank)}
        model = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and exporter chatter
            torch.onnx.export(
                module,
                (example,),
                model,
                input_names=["input"],
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            model.getvalue(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        inputs = {"input": np.ascontiguousarray(x.cpu().numpy(), np.float32)}
        return tuple(torch.from_numpy(o) for o in self.session.run(None, inputs))
