"""A frozen TensorFlow graph run as a PyTorch module, with no TensorFlow.

The ops from the input placeholder to the outputs run in order on torch tensors: Conv2D,
DepthwiseConv2dNative, BiasAdd, Relu, Relu6, FusedBatchNorm (frozen, or with the statistics of
each image when the graph was frozen in training mode), Add, ConcatV2, MaxPool, ResizeBilinear
(TF1's legacy mode, half-pixel centres or aligned corners) with the Shape/StridedSlice pair
that gives its size, Identity, Placeholder and Const. Four-dimensional tensors are NCHW inside
and in the inputs and outputs (TensorFlow's are NHWC); padding follows TensorFlow's SAME rule
(the odd extra pixel after). Constants become buffers when the module is built, so it moves
to any device, takes any batch and exports to ONNX. Batch statistics are taken per image, as
the graph's authors ran it one image at a time. Concatenations that feed depthwise
convolutions get zero channels up to a multiple of 16 in each input, for onnxruntime's blocked
layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from multipose.errors import MultiposeError
from multipose.runtime.tf_conventions import legacy_resize, padded_conv2d, same_pads
from multipose.runtime.tf_graph import Graph, Node

# NHWC axis -> NCHW axis.
_NCHW_AXIS = (0, 2, 3, 1)
Value = torch.Tensor | list[int]
Step = Callable[[dict[str, Value]], Value]


def _source(name: str) -> str:
    """A node input's node name (`name:0` is `name`)."""
    return name.removesuffix(":0")


# A widened tensor's channels: (how many it has, where its own lie among them; the rest zero).
Layout = tuple[int, np.ndarray]
BLOCK = 16  # onnxruntime's blocked layout: convolutions and concatenations of multiples of it
_PER_CHANNEL = ("BiasAdd", "Relu", "Relu6", "Identity")  # and frozen batch norms


def _aligned_channels(graph: Graph, order: list[Node], outputs: Sequence[str]) -> dict[str, Layout]:
    """Zero channels that bring channel concatenations, read only by depthwise convolutions
    (multiplier 1) read only by convolutions, to a multiple of BLOCK in each of their inputs:
    an input made by a convolution (through per-channel ops read by nothing else) gets zero
    filters up to a multiple, any rest goes at the end; the depthwise convolutions get zero
    filters there and their readers zero weights. onnxruntime runs convolutions of other
    channel counts outside its blocked layout, several times slower, and concatenates in it
    only inputs of whole blocks (the thin OpenPose's stages read 38 PAF, 19 heatmap and 864
    feature channels). Zero channels with zero weights change nothing. Returns the layouts of
    the tensors widened."""
    readers: dict[str, list[Node]] = {}
    for node in order:
        for name in node.inputs:
            readers.setdefault(_source(name), []).append(node)

    def alone(name: str, reader: Node) -> bool:
        return name not in outputs and readers.get(name) == [reader]

    def widenable(name: str, reader: Node) -> list[str]:
        """The tensors from a convolution to `name`, each read only by the next: [] if none."""
        chain = []
        while alone(name, reader):
            chain.append(name)
            node = graph[name]
            if node.op == "Conv2D":
                return chain
            if node.op not in _PER_CHANNEL and not _frozen_norm(node):
                return []
            name, reader = _source(node.inputs[0]), node
        return []

    layouts: dict[str, Layout] = {}
    for node in order:
        depthwise = readers.get(node.name, [])
        if node.op != "ConcatV2" or not depthwise:
            continue
        if int(graph.constant(_source(node.inputs[-1]))) not in (3, -1):
            continue
        if any(
            d.op != "DepthwiseConv2dNative"
            or graph.constant(_source(d.inputs[1])).shape[3] != 1
            or not readers.get(d.name)
            or any(r.op != "Conv2D" for r in readers[d.name])
            for d in depthwise
        ):
            continue
        counts = [_channels(graph, _source(i)) for i in node.inputs[:-1]]
        if None in counts:
            continue
        positions, width = [], 0
        for name, count in zip((_source(i) for i in node.inputs[:-1]), counts, strict=True):
            chain = widenable(name, node) if count % BLOCK else []
            positions.append(width + np.arange(count))
            wide = count + (-count % BLOCK if chain else 0)
            layouts.update((link, (wide, np.arange(count))) for link in chain)
            width += wide
        width += -width % BLOCK
        layout = width, np.concatenate(positions)
        if width > len(layout[1]):
            layouts[node.name] = layout
            layouts.update((d.name, layout) for d in depthwise)
    return layouts


def _channels(graph: Graph, name: str) -> int | None:
    """The channels of a convolution's output, or of one made from such outputs by
    per-channel ops, max pooling and concatenation (None: another op's)."""
    node = graph[name]
    if node.op in ("Conv2D", "DepthwiseConv2dNative"):
        _, _, channels, out = graph.constant(_source(node.inputs[1])).shape
        return int(out if node.op == "Conv2D" else channels * out)
    if node.op == "ConcatV2":
        counts = [_channels(graph, _source(i)) for i in node.inputs[:-1]]
        return None if None in counts else sum(counts)
    if node.op in (*_PER_CHANNEL, "MaxPool") or _frozen_norm(node):
        return _channels(graph, _source(node.inputs[0]))
    return None


def _frozen_norm(node: Node) -> bool:
    """A batch norm that applies its stored statistics (one affine map per channel)."""
    return node.op.startswith("FusedBatchNorm") and not node.attrs.get("is_training", True)


def _widened(array: np.ndarray, axis: int, layout: Layout | None) -> np.ndarray:
    """`array` with its `axis` spread over a layout's channels, zeros in between."""
    if layout is None:
        return array
    width, positions = layout
    shape = list(array.shape)
    shape[axis] = width
    out = np.zeros(shape, array.dtype)
    index = [slice(None)] * array.ndim
    index[axis] = positions
    out[tuple(index)] = array
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class TfGraphNetwork(nn.Module):
    """The ops of `graph` that lead from its placeholder `input` to `outputs`, as a module
    called on an NCHW batch; returns the outputs (NCHW where four-dimensional) as a tuple."""

    def __init__(self, graph: Graph, input: str, outputs: Sequence[str]) -> None:
        super().__init__()
        self.path, self.digest = graph.path, graph.digest
        graph.require([input, *outputs])
        self.input, self.outputs = input, tuple(outputs)
        self._constants: dict[str, np.ndarray] = {}
        self._steps: list[tuple[str, Step]] = []
        order = self._order(graph)
        self._layouts = _aligned_channels(graph, order, self.outputs)
        for node in order:
            self._add(graph, node)
        self._constants.clear()  # folded into buffers and steps

    @classmethod
    def read(cls, path: str | Path, input: str, outputs: Sequence[str]) -> TfGraphNetwork:
        return cls(Graph.read(path), input, outputs)

    def export_fingerprint(self) -> str | None:
        """What the module was built from, for the export cache: its file's digest and the
        names of its input and outputs (None if it was built from no file)."""
        if not self.digest:
            return None
        return f"graphdef {self.digest} {self.input} {self.outputs}"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values: dict[str, Value] = {self.input: x}
        for name, step in self._steps:
            values[name] = step(values)
        return tuple(values[name] for name in self.outputs)

    # -- building ---------------------------------------------------------------------------

    def _order(self, graph: Graph) -> list[Node]:
        """The nodes the outputs need, each after its inputs."""
        order: list[Node] = []
        done: set[str] = set()
        stack = [(name, False) for name in reversed(self.outputs)]
        while stack:
            name, ready = stack.pop()
            if name in done:
                continue
            node = graph[name]
            if ready:
                done.add(name)
                order.append(node)
                continue
            stack.append((name, True))
            for source in reversed(node.inputs):
                if not source.startswith("^") and _source(source) not in done:
                    stack.append((_source(source), False))
        return order

    def _fail(self, node: Node, why: str) -> MultiposeError:
        return MultiposeError(f"node {node.name!r} ({node.op}): {why}", self.path)

    def _buffer(self, array: np.ndarray) -> str:
        name = f"constant{len(self._buffers)}"
        self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(array, np.float32)))
        return name

    def _constant(self, node: Node, index: int) -> np.ndarray:
        source = _source(node.inputs[index])
        if source not in self._constants:
            raise self._fail(node, f"input {source!r} is not a constant")
        return self._constants[source]

    def _add(self, graph: Graph, node: Node) -> None:
        op = node.op
        inputs = [_source(name) for name in node.inputs if not name.startswith("^")]
        if op == "Const":
            self._constants[node.name] = graph.constant(node.name)
        elif op == "Identity" and inputs[0] in self._constants:
            self._constants[node.name] = self._constants[inputs[0]]
        elif op == "Placeholder":
            if node.name != self.input:
                raise self._fail(node, f"a second input besides {self.input!r}")
        elif op in self._BUILDERS:
            self._steps.append((node.name, self._BUILDERS[op](self, node, inputs)))
        else:
            raise MultiposeError(f"unsupported TensorFlow op {op} (node {node.name!r})", self.path)

    def _conv(self, node: Node, inputs: list[str]) -> Step:
        if _text(node.attrs.get("data_format", b"NHWC")) != "NHWC":
            raise self._fail(node, "only NHWC graphs are read")
        weights = self._constant(node, 1)  # (kh, kw, in, out), or (kh, kw, in, multiplier)
        depthwise = node.op == "DepthwiseConv2dNative"
        weights = _widened(weights, 2, self._layouts.get(inputs[0]))  # zero channels in
        if not depthwise:  # a depthwise convolution's output is laid out as its input
            weights = _widened(weights, 3, self._layouts.get(node.name))
        kh, kw, channels, out = weights.shape
        if depthwise:
            weights = weights.transpose(2, 3, 0, 1).reshape(channels * out, 1, kh, kw)
        else:
            weights = weights.transpose(3, 2, 0, 1)
        name, groups = self._buffer(weights), channels if depthwise else 1
        stride = node.attrs["strides"][1:3]
        dilation = node.attrs.get("dilations", [1, 1, 1, 1])[1:3]
        same = _text(node.attrs["padding"]) == "SAME"

        def conv(values: dict[str, Value]) -> torch.Tensor:
            x = values[inputs[0]]
            pads = same_pads(x, (kh, kw), stride, dilation) if same else (0, 0, 0, 0)
            return padded_conv2d(x, getattr(self, name), None, stride, pads, dilation, groups)

        return conv

    def _bias_add(self, node: Node, inputs: list[str]) -> Step:
        bias = _widened(self._constant(node, 1), 0, self._layouts.get(node.name))
        name = self._buffer(bias.reshape(1, -1, 1, 1))
        return lambda values: values[inputs[0]] + getattr(self, name)

    def _batch_norm(self, node: Node, inputs: list[str]) -> Step:
        if _text(node.attrs.get("data_format", b"NHWC")) != "NHWC":
            raise self._fail(node, "only NHWC graphs are read")
        eps = float(node.attrs.get("epsilon", 1e-3))
        scale, offset = (self._constant(node, i).reshape(1, -1, 1, 1) for i in (1, 2))
        if _frozen_norm(node):  # one affine map, zero on the channels widened
            mean, variance = (self._constant(node, i).reshape(1, -1, 1, 1) for i in (3, 4))
            factor = scale / np.sqrt(variance + eps)
            layout = self._layouts.get(node.name)
            factor, shift = (_widened(a, 1, layout) for a in (factor, offset - mean * factor))
            name_a, name_b = self._buffer(factor), self._buffer(shift)
            return lambda values: values[inputs[0]] * getattr(self, name_a) + getattr(self, name_b)
        name_s, name_o = self._buffer(scale), self._buffer(offset)

        def normalise(values: dict[str, Value]) -> torch.Tensor:
            x = values[inputs[0]]
            variance, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
            return (x - mean) * torch.rsqrt(variance + eps) * getattr(self, name_s) + getattr(
                self, name_o
            )

        return normalise

    def _activation(self, node: Node, inputs: list[str]) -> Step:
        if node.op == "Relu":
            return lambda values: torch.relu(values[inputs[0]])
        return lambda values: values[inputs[0]].clamp(0.0, 6.0)

    def _add_op(self, node: Node, inputs: list[str]) -> Step:
        for source in inputs:
            if source in self._constants:
                raise self._fail(node, "adding a constant is not supported")
        return lambda values: values[inputs[0]] + values[inputs[1]]

    def _concat(self, node: Node, inputs: list[str]) -> Step:
        axis = int(self._constant(node, len(inputs) - 1))
        parts = inputs[:-1]
        width = self._layouts.get(node.name, (0, None))[0]  # zero channels at the end to it

        def concat(values: dict[str, Value]) -> torch.Tensor:
            tensors = [values[p] for p in parts]
            extra = width - sum(int(t.shape[1]) for t in tensors) if width else 0
            if extra:
                n, _, h, w = tensors[0].shape
                tensors.append(tensors[0].new_zeros(n, extra, h, w))
            return torch.cat(tensors, _NCHW_AXIS[axis] if tensors[0].dim() == 4 else axis)

        return concat

    def _max_pool(self, node: Node, inputs: list[str]) -> Step:
        kernel, stride = node.attrs["ksize"][1:3], node.attrs["strides"][1:3]
        same = _text(node.attrs["padding"]) == "SAME"

        def pool(values: dict[str, Value]) -> torch.Tensor:
            x = values[inputs[0]]
            pads = same_pads(x, kernel, stride) if same else (0, 0, 0, 0)
            if any(pads):  # no Pad of nothing in the export (onnxruntime reorders around it)
                x = F.pad(x, pads, value=-math.inf)
            return F.max_pool2d(x, kernel, stride)

        return pool

    def _shape(self, node: Node, inputs: list[str]) -> Step:
        def shape(values: dict[str, Value]) -> list[int]:
            x = values[inputs[0]]
            dims = list(x.shape)
            return [dims[i] for i in _NCHW_AXIS] if x.dim() == 4 else dims

        return shape

    def _strided_slice(self, node: Node, inputs: list[str]) -> Step:
        if any(node.attrs.get(m, 0) for m in ("ellipsis_mask", "new_axis_mask")):
            raise self._fail(node, "ellipsis and new-axis masks are not supported")
        begin, end, step = (int(self._constant(node, i).reshape(-1)[0]) for i in (1, 2, 3))
        begin_mask, end_mask = node.attrs.get("begin_mask", 0), node.attrs.get("end_mask", 0)
        shrink = node.attrs.get("shrink_axis_mask", 0)

        def strided_slice(values: dict[str, Value]) -> list[int] | int:
            shape = values[inputs[0]]
            if not isinstance(shape, list):
                raise self._fail(node, "only slices of a Shape are supported")
            if shrink:
                return shape[begin]
            return shape[None if begin_mask else begin : None if end_mask else end : step]

        return strided_slice

    def _resize(self, node: Node, inputs: list[str]) -> Step:
        corners = bool(node.attrs.get("align_corners", False))
        half_pixel = bool(node.attrs.get("half_pixel_centers", False))
        fixed = self._constants.get(inputs[1])

        def resize(values: dict[str, Value]) -> torch.Tensor:
            size = [int(v) for v in (fixed if fixed is not None else values[inputs[1]])]
            x = values[inputs[0]]
            if corners or half_pixel:
                return F.interpolate(x, size=size, mode="bilinear", align_corners=corners)
            return legacy_resize(x, size)

        return resize

    def _identity(self, node: Node, inputs: list[str]) -> Step:
        return lambda values: values[inputs[0]]

    _BUILDERS: ClassVar[dict[str, Callable[[TfGraphNetwork, Node, list[str]], Step]]] = {
        "Conv2D": _conv,
        "DepthwiseConv2dNative": _conv,
        "BiasAdd": _bias_add,
        "FusedBatchNorm": _batch_norm,
        "FusedBatchNormV3": _batch_norm,
        "Relu": _activation,
        "Relu6": _activation,
        "Add": _add_op,
        "AddV2": _add_op,
        "ConcatV2": _concat,
        "MaxPool": _max_pool,
        "Shape": _shape,
        "StridedSlice": _strided_slice,
        "ResizeBilinear": _resize,
        "Identity": _identity,
    }
