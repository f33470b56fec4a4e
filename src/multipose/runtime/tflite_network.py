"""A TFLite model run as a PyTorch module: float convolution graphs (the BlazePose models).

The graph's constant ops (DEQUANTIZE of float16 weights, DENSIFY of sparse ones) are folded
when the module is built; the rest run in order on torch tensors, batched (any batch size) on
any device, and export to ONNX. Four-dimensional tensors are kept NCHW inside and in the
inputs and outputs (TFLite's are NHWC); padding follows TFLite's SAME rule (the odd extra
pixel after), resizing its half-pixel or corner-aligned bilinear modes. A PAD of height and
width read only by convolutions becomes their padding.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from multipose.errors import MultiposeError
from multipose.runtime.tf_conventions import padded_conv2d, same_padding
from multipose.runtime.tflite import ACTIVATIONS, PADDING, TfliteModel, densify, read_tflite

# NHWC axis -> NCHW axis.
_NCHW_AXIS = (0, 2, 3, 1)
_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "NONE": lambda x: x,
    "RELU": torch.relu_,
    "RELU6": lambda x: x.clamp_(0.0, 6.0),
    "RELU_N1_TO_1": lambda x: x.clamp_(-1.0, 1.0),
    "TANH": torch.tanh,
}
_CONVS = {"CONV_2D", "DEPTHWISE_CONV_2D"}
_CONSTANT_OPS = {"DEQUANTIZE": lambda a: a.astype(np.float32), "DENSIFY": lambda a: a}


class TfliteNetwork(nn.Module):
    """`forward(*inputs)` returns the model's outputs as a tuple, in the model's order."""

    def __init__(self, model: TfliteModel, source: str = "model") -> None:
        super().__init__()
        self.model, self.source = model, source
        constants: dict[int, np.ndarray] = {}
        for index, tensor in enumerate(model.tensors):
            if tensor.data is not None:
                constants[index] = densify(tensor)
        self.steps: list[tuple[Callable[..., torch.Tensor], tuple[int, ...], int]] = []
        self._readers = _readers(model)
        self._padded: dict[int, tuple[int, tuple[int, ...]]] = {}  # PADs left to the convs
        for op in model.operators:
            if op.op in _CONSTANT_OPS and all(i in constants for i in op.inputs):
                constants[op.outputs[0]] = _CONSTANT_OPS[op.op](constants[op.inputs[0]])
                continue
            build = getattr(self, f"_{op.op.lower()}", None)
            if build is None:
                raise MultiposeError(f"operator {op.op} is not supported by multipose", source)
            step = build(op, constants)
            if step is not None:
                self.steps.append((*step, op.outputs[0]))

    def export_fingerprint(self) -> str | None:
        """What the module was built from, for the export cache: its file's digest (None if
        it was built from no file)."""
        return f"tflite {self.model.digest}" if self.model.digest else None

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.model.inputs):
            raise MultiposeError(f"{self.source} takes {len(self.model.inputs)} inputs")
        values = dict(zip(self.model.inputs, inputs, strict=True))
        for run, args, output in self.steps:
            values[output] = run(*(values[i] for i in args))
        return tuple(values[i] for i in self.model.outputs)

    # Builders: each returns the step's function and the tensors it reads.

    def _weight(self, index: int, array: np.ndarray) -> torch.Tensor:
        name = f"w{index}"
        self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(array, np.float32)))
        return getattr(self, name)

    def _fetch(self, index: int) -> Callable[[], torch.Tensor]:
        name = f"w{index}"
        return lambda: getattr(self, name)

    def _activation(self, options: dict) -> Callable[[torch.Tensor], torch.Tensor]:
        name = ACTIVATIONS.get(options.get("activation", 0), "unknown")
        if name not in _ACTIVATIONS:
            raise MultiposeError(f"fused activation {name} is not supported", self.source)
        return _ACTIVATIONS[name]

    def _input_shape(self, op) -> tuple[int, ...]:
        return self.model.tensors[op.inputs[0]].shape

    def _padding(self, op, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, ...]:
        """F.pad's (left, right, top, bottom) for the op's input."""
        if PADDING[op.options["padding"]] == "VALID":
            return (0, 0, 0, 0)
        _, height, width, _ = self._input_shape(op)
        top, bottom = same_padding(height, kernel[0], op.options["stride_h"], dilation[0])
        left, right = same_padding(width, kernel[1], op.options["stride_w"], dilation[1])
        return (left, right, top, bottom)

    def _convolution(self, op, constants, depthwise: bool):
        weight = constants[op.inputs[1]]  # (O, kh, kw, I), depthwise (1, kh, kw, O)
        weight = weight.transpose(3, 0, 1, 2) if depthwise else weight.transpose(0, 3, 1, 2)
        self._weight(op.inputs[1], weight)
        has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
        if has_bias:
            self._weight(op.inputs[2], constants[op.inputs[2]])
        groups = self._input_shape(op)[3] if depthwise else 1
        stride = (op.options["stride_h"], op.options["stride_w"])
        dilation = (op.options["dilation_h"], op.options["dilation_w"])
        pads = self._padding(op, weight.shape[2:], dilation)
        source, before = self._padded.get(op.inputs[0], (op.inputs[0], (0, 0, 0, 0)))
        pads = tuple(a + b for a, b in zip(pads, before, strict=True))
        activation = self._activation(op.options)
        get_weight = self._fetch(op.inputs[1])
        get_bias = self._fetch(op.inputs[2]) if has_bias else lambda: None

        def run(x: torch.Tensor) -> torch.Tensor:
            y = padded_conv2d(x, get_weight(), get_bias(), stride, pads, dilation, groups)
            return activation(y)

        return run, (source,)

    def _conv_2d(self, op, constants):
        return self._convolution(op, constants, depthwise=False)

    def _depthwise_conv_2d(self, op, constants):
        return self._convolution(op, constants, depthwise=True)

    def _max_pool_2d(self, op, constants):
        kernel = (op.options["filter_h"], op.options["filter_w"])
        stride = (op.options["stride_h"], op.options["stride_w"])
        pad = self._padding(op, kernel, (1, 1))
        activation = self._activation(op.options)

        def run(x: torch.Tensor) -> torch.Tensor:
            if any(pad):
                x = F.pad(x, pad, value=float("-inf"))
            return activation(F.max_pool2d(x, kernel, stride))

        return run, (op.inputs[0],)

    def _binary(self, op, constants, combine):
        activation = self._activation(op.options)
        rank = max(len(self.model.tensors[i].shape) for i in op.inputs)
        for index in op.inputs:
            if index in constants:  # NHWC constants broadcast to NCHW
                value = constants[index]
                if value.ndim == 4:
                    value = value.transpose(0, 3, 1, 2)
                elif value.ndim == 1 and rank == 4:
                    value = value.reshape(1, -1, 1, 1)
                self._weight(index, value)
        getters = [self._fetch(i) if i in constants else None for i in op.inputs]

        def run(*xs: torch.Tensor) -> torch.Tensor:
            values = iter(xs)
            a, b = (get() if get else next(values) for get in getters)
            return activation(combine(a, b))

        return run, tuple(i for i in op.inputs if i not in constants)

    def _add(self, op, constants):
        return self._binary(op, constants, torch.add)

    def _mul(self, op, constants):
        return self._binary(op, constants, torch.mul)

    def _logistic(self, op, constants):
        return torch.sigmoid, (op.inputs[0],)

    def _pad(self, op, constants):
        pads = constants[op.inputs[1]].astype(int)  # NHWC (before, after) per axis
        if pads[0].any():
            raise MultiposeError("PAD of the batch axis is not supported", self.source)
        rank = len(self._input_shape(op))
        if rank == 4:  # F.pad lists the last NCHW axis first: W, H, C
            flat = (*pads[2], *pads[1], *pads[3])
        else:
            flat = tuple(int(v) for pair in pads[:0:-1] for v in pair)
        flat = tuple(int(v) for v in flat)
        if rank == 4 and not any(flat[4:]) and set(self._readers[op.outputs[0]]) <= _CONVS:
            self._padded[op.outputs[0]] = (op.inputs[0], flat[:4])  # the convs pad it
            return None
        return (lambda x: F.pad(x, flat)), (op.inputs[0],)

    def _concatenation(self, op, constants):
        rank = len(self._input_shape(op))
        axis = op.options["axis"] % rank
        if rank == 4:
            axis = _NCHW_AXIS[axis]
        return (lambda *xs: torch.cat(xs, axis)), op.inputs

    def _reshape(self, op, constants):
        rank_in = len(self._input_shape(op))
        shape = self.model.tensors[op.outputs[0]].shape

        def run(x: torch.Tensor) -> torch.Tensor:
            if rank_in == 4:
                x = x.permute(0, 2, 3, 1)
            y = x.reshape(-1, *shape[1:])
            return y.permute(0, 3, 1, 2) if len(shape) == 4 else y

        return run, (op.inputs[0],)

    def _resize_bilinear(self, op, constants):
        size = tuple(int(v) for v in constants[op.inputs[1]])
        if op.options["align_corners"]:
            corners = True
        elif op.options["half_pixel_centers"]:
            corners = False
        else:
            raise MultiposeError("legacy RESIZE_BILINEAR is not supported", self.source)
        height, width = self._input_shape(op)[1:3]
        if not corners and min(height, width) > 0 and size[0] % height == size[1] % width == 0:
            factor = (size[0] // height, size[1] // width)  # constant scales in the export

            def run(x: torch.Tensor) -> torch.Tensor:
                return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

            return run, (op.inputs[0],)
        return (lambda x: F.interpolate(x, size=size, mode="bilinear", align_corners=corners)), (
            op.inputs[0],
        )

    def _depth_to_space(self, op, constants):
        block = op.options["block_size"]

        def run(x: torch.Tensor) -> torch.Tensor:
            if torch.onnx.is_in_onnx_export():
                return _DepthToSpace.apply(x, block)
            return _depth_to_space(x, block)

        return run, (op.inputs[0],)


def _depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """TFLite's (and ONNX's DCR) order: the block position is the slower-varying part of the
    channel."""
    n, c, h, w = x.shape
    y = x.reshape(n, block, block, c // block**2, h, w)
    return y.permute(0, 3, 4, 1, 5, 2).reshape(n, c // block**2, h * block, w * block)


class _DepthToSpace(torch.autograd.Function):
    """DEPTH_TO_SPACE as the ONNX exporter sees it: one DepthToSpace, not a six-dimensional
    Transpose between Reshapes."""

    @staticmethod
    def forward(ctx, x, block):
        return _depth_to_space(x, block)

    @staticmethod
    def symbolic(g, x, block):
        return g.op("DepthToSpace", x, blocksize_i=block, mode_s="DCR")


def _readers(model: TfliteModel) -> dict[int, list[str]]:
    """The operators (op names) that read each tensor; "output" for the model's outputs."""
    readers: dict[int, list[str]] = collections.defaultdict(list)
    for index in model.outputs:
        readers[index].append("output")
    for op in model.operators:
        for index in op.inputs:
            readers[index].append(op.op)
    return readers


def load_tflite(path: str | Path) -> TfliteNetwork:
    """The TFLite model at `path` as a PyTorch module in eval mode."""
    return TfliteNetwork(read_tflite(path), str(path)).eval()
