"""A reader of TensorFlow Lite models (`.tflite` FlatBuffers files) that needs no TensorFlow.

It decodes the parts of the TFLite schema (`schema.fbs`) an inference graph of float
convolutions uses: the first subgraph's tensors (name, shape, type, constant data, sparsity),
its operators (builtin op, inputs, outputs, options) and its input and output tensors.
Constant data stays as stored (float16, or the non-zero values of a sparse tensor); `densify`
expands a sparse constant.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from multipose.errors import MultiposeError

# BuiltinOperator codes, by name (those the executor runs, and a few common ones to name).
OPS: dict[int, str] = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    2: "CONCATENATION",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE",
    6: "DEQUANTIZE",
    9: "FULLY_CONNECTED",
    14: "LOGISTIC",
    17: "MAX_POOL_2D",
    18: "MUL",
    19: "RELU",
    21: "RELU6",
    22: "RESHAPE",
    23: "RESIZE_BILINEAR",
    25: "SOFTMAX",
    34: "PAD",
    39: "TRANSPOSE",
    40: "MEAN",
    124: "DENSIFY",
}
# TensorType codes and their NumPy types.
DTYPES: dict[int, np.dtype] = {
    0: np.dtype(np.float32),
    1: np.dtype(np.float16),
    2: np.dtype(np.int32),
    3: np.dtype(np.uint8),
    4: np.dtype(np.int64),
    6: np.dtype(np.bool_),
    7: np.dtype(np.int16),
    9: np.dtype(np.int8),
    10: np.dtype(np.float64),
}
# Builtin options, by op: the option table's fields in order as (key, struct format, default);
# None skips a deprecated field.
_POOL = (
    ("padding", "b", 0),
    ("stride_w", "i", 1),
    ("stride_h", "i", 1),
    ("filter_w", "i", 1),
    ("filter_h", "i", 1),
    ("activation", "b", 0),
)
_OPTIONS: dict[str, tuple[tuple[str, str, Any] | None, ...]] = {
    "CONV_2D": (
        ("padding", "b", 0),
        ("stride_w", "i", 1),
        ("stride_h", "i", 1),
        ("activation", "b", 0),
        ("dilation_w", "i", 1),
        ("dilation_h", "i", 1),
    ),
    "DEPTHWISE_CONV_2D": (
        ("padding", "b", 0),
        ("stride_w", "i", 1),
        ("stride_h", "i", 1),
        ("depth_multiplier", "i", 1),
        ("activation", "b", 0),
        ("dilation_w", "i", 1),
        ("dilation_h", "i", 1),
    ),
    "MAX_POOL_2D": _POOL,
    "AVERAGE_POOL_2D": _POOL,
    "ADD": (("activation", "b", 0),),
    "MUL": (("activation", "b", 0),),
    "CONCATENATION": (("axis", "i", 0), ("activation", "b", 0)),
    "RESIZE_BILINEAR": (None, None, ("align_corners", "?", False), ("half_pixel_centers", "?", 0)),
    "DEPTH_TO_SPACE": (("block_size", "i", 1),),
}
PADDING = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH"}


class TfliteFormatError(MultiposeError):
    """A file that is not a TFLite model, or is damaged."""


@dataclass(frozen=True)
class Sparsity:
    """A sparse constant's layout: per dimension, dense (segments None) or CSR (segments and
    indices of the non-zero entries)."""

    traversal_order: tuple[int, ...]
    block_map: tuple[int, ...]
    dims: tuple[tuple[int, np.ndarray | None, np.ndarray | None], ...]


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    data: np.ndarray | None = field(default=None, compare=False)
    sparsity: Sparsity | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Operator:
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]


@dataclass(frozen=True)
class TfliteModel:
    """A subgraph; `digest`: the sha256 of the file it was read from ("" if none)."""

    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    digest: str = ""


class _Table:
    """A FlatBuffers table: fields found through its vtable, read little-endian."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    def _at(self, index: int) -> int:
        """The absolute position of field `index`, 0 when it is absent."""
        entry = 4 + 2 * index
        if entry >= self.vtable_size:
            return 0
        offset = struct.unpack_from("<H", self.buf, self.vtable + entry)[0]
        return self.pos + offset if offset else 0

    def _deref(self, pos: int) -> int:
        return pos + struct.unpack_from("<I", self.buf, pos)[0]

    def scalar(self, index: int, fmt: str, default: Any = 0) -> Any:
        pos = self._at(index)
        return struct.unpack_from("<" + fmt, self.buf, pos)[0] if pos else default

    def table(self, index: int) -> _Table | None:
        pos = self._at(index)
        return _Table(self.buf, self._deref(pos)) if pos else None

    def _vector(self, index: int) -> tuple[int, int]:
        pos = self._at(index)
        if not pos:
            return 0, 0
        start = self._deref(pos)
        return start + 4, struct.unpack_from("<I", self.buf, start)[0]

    def tables(self, index: int) -> list[_Table]:
        start, length = self._vector(index)
        return [_Table(self.buf, self._deref(start + 4 * i)) for i in range(length)]

    def array(self, index: int, dtype: np.dtype | type) -> np.ndarray:
        start, length = self._vector(index)
        dtype = np.dtype(dtype)
        if start + length * dtype.itemsize > len(self.buf):
            raise ValueError("vector past the end of the file")
        return np.frombuffer(self.buf, dtype.newbyteorder("<"), length, start)

    def string(self, index: int) -> str:
        return self.array(index, np.uint8).tobytes().decode("utf-8", "replace")


def read_tflite(path: str | Path) -> TfliteModel:
    """The first subgraph of the TFLite model at `path`."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise TfliteFormatError(f"cannot read ({exc.strerror})", path) from None
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TfliteFormatError("not a TensorFlow Lite model (no TFL3 identifier)", path)
    try:
        model = _model(_Table(buf, struct.unpack_from("<I", buf, 0)[0]))
    except (struct.error, ValueError, IndexError) as exc:
        raise TfliteFormatError(f"truncated or damaged TFLite file ({exc})", path) from None
    return replace(model, digest=hashlib.sha256(buf).hexdigest())


def _model(root: _Table) -> TfliteModel:
    codes = []
    for code in root.tables(1):
        builtin = max(code.scalar(0, "b"), code.scalar(3, "i"))
        custom = code.string(1)
        codes.append(custom or OPS.get(builtin, f"builtin op {builtin}"))
    buffers = root.tables(4)
    subgraphs = root.tables(2)
    if not subgraphs:
        raise ValueError("no subgraph")
    graph = subgraphs[0]
    tensors = tuple(_tensor(t, buffers) for t in graph.tables(0))
    operators = []
    for op in graph.tables(3):
        name = codes[op.scalar(0, "I")]
        options: dict[str, Any] = {}
        table = op.table(4)
        for index, spec in enumerate(_OPTIONS.get(name, ())):
            if spec is not None:
                key, fmt, default = spec
                options[key] = table.scalar(index, fmt, default) if table else default
        operators.append(
            Operator(
                name,
                tuple(int(i) for i in op.array(1, np.int32)),
                tuple(int(i) for i in op.array(2, np.int32)),
                options,
            )
        )
    return TfliteModel(
        tensors,
        tuple(operators),
        tuple(int(i) for i in graph.array(1, np.int32)),
        tuple(int(i) for i in graph.array(2, np.int32)),
    )


def _tensor(table: _Table, buffers: list[_Table]) -> Tensor:
    shape = tuple(int(d) for d in table.array(0, np.int32))
    code = table.scalar(1, "b")
    if code not in DTYPES:
        raise ValueError(f"tensor type {code} is not supported")
    dtype = DTYPES[code]
    raw = buffers[table.scalar(2, "I")].array(0, np.uint8) if buffers else np.empty(0, np.uint8)
    sparsity = _sparsity(table.table(6))
    data = None
    if raw.size:
        data = raw.view(dtype.newbyteorder("<")).astype(dtype)
        if sparsity is None:
            data = data.reshape(shape)
    return Tensor(table.string(3), shape, dtype, data, sparsity)


def _sparsity(table: _Table | None) -> Sparsity | None:
    if table is None:
        return None
    dims = []
    for meta in table.tables(2):
        dense_size = meta.scalar(1, "i")
        if meta.scalar(0, "b") == 0:
            dims.append((dense_size, None, None))
            continue
        vectors = []
        for type_field in (2, 4):  # array_segments, array_indices: unions of int vectors
            kind = meta.scalar(type_field, "B")
            values = meta.table(type_field + 1)
            dtype = {1: np.int32, 2: np.uint16, 3: np.uint8}.get(kind)
            if dtype is None or values is None:
                raise ValueError(f"sparse index vector type {kind} is not supported")
            vectors.append(values.array(0, dtype).astype(np.int64))
        dims.append((dense_size, vectors[0], vectors[1]))
    return Sparsity(
        tuple(int(i) for i in table.array(0, np.int32)),
        tuple(int(i) for i in table.array(1, np.int32)),
        tuple(dims),
    )


def densify(tensor: Tensor) -> np.ndarray:
    """The dense array of a sparse constant (dense and CSR dimensions in storage order, no
    blocks), or the data of a dense one."""
    if tensor.data is None:
        raise MultiposeError(f"tensor {tensor.name!r} has no constant data")
    sparsity = tensor.sparsity
    if sparsity is None:
        return tensor.data
    rank = len(tensor.shape)
    if sparsity.block_map or sparsity.traversal_order != tuple(range(rank)):
        raise MultiposeError(f"tensor {tensor.name!r}: block-sparse layouts are not supported")
    flat = np.zeros(1, np.int64)  # flat indices of the entries stored so far, in order
    for size, (_, segments, indices) in zip(tensor.shape, sparsity.dims, strict=True):
        if segments is None:
            flat = (flat[:, None] * size + np.arange(size)).ravel()
        else:
            counts = np.diff(segments)
            flat = np.repeat(flat, counts) * size + indices[: counts.sum()]
    if flat.size != tensor.data.size:
        raise MultiposeError(f"tensor {tensor.name!r}: sparse indices do not match its values")
    dense = np.zeros(int(np.prod(tensor.shape)), tensor.dtype)
    dense[flat] = tensor.data
    return dense.reshape(tensor.shape)
