"""A reader of frozen TensorFlow graphs (GraphDef `.pb` files) that needs no TensorFlow.

It decodes just the protobuf messages a frozen inference graph uses (GraphDef, NodeDef,
AttrValue, TensorProto, TensorShapeProto) straight from the wire format: nodes with their op,
inputs and attributes, and constant tensors as NumPy arrays (from `tensor_content`, from
repeated values, or a single value splatted over the shape).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multipose.errors import MultiposeError

# TensorFlow DataType enum values and their NumPy types.
DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.float64),
    3: np.dtype(np.int32),
    4: np.dtype(np.uint8),
    5: np.dtype(np.int16),
    6: np.dtype(np.int8),
    9: np.dtype(np.int64),
    10: np.dtype(np.bool_),
    19: np.dtype(np.float16),
}
# TensorProto fields of repeated values, by field number: (dtype of the wire values, packed
# element format: "varint", "f32" or "f64").
_VALUE_FIELDS = {5: "f32", 6: "f64", 7: "varint", 10: "varint", 11: "varint", 13: "varint"}


class GraphFormatError(MultiposeError):
    """A file that is not a frozen TensorFlow GraphDef, or is damaged."""


@dataclass
class Node:
    """One node of a graph: its name, op, inputs (names, `^name` for control inputs, `name:1`
    for a second output) and attributes (ints, floats, bools, strings, shapes, lists, arrays)."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)


class Graph:
    """The nodes of a frozen GraphDef, by name, in file order; `digest`: the sha256 of the file
    it was read from ("" if none)."""

    def __init__(self, nodes: list[Node], path: Path | None = None, digest: str = "") -> None:
        self.nodes = {node.name: node for node in nodes}
        self.path, self.digest = path, digest

    @classmethod
    def read(cls, path: str | Path) -> Graph:
        path = Path(path)
        if not path.is_file():
            raise GraphFormatError("no such file", path)
        data = path.read_bytes()
        if not data:
            raise GraphFormatError("file is empty", path)
        try:
            nodes = [_node(value) for number, _, value in _fields(data) if number == 1]
        except (GraphFormatError, IndexError, ValueError, UnicodeDecodeError) as exc:
            raise GraphFormatError(
                f"not a TensorFlow GraphDef, or truncated ({exc})", path
            ) from None
        if not nodes:
            raise GraphFormatError("not a TensorFlow GraphDef: it holds no nodes", path)
        return cls(nodes, path, hashlib.sha256(data).hexdigest())

    def __contains__(self, name: str) -> bool:
        return name in self.nodes

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def constant(self, name: str) -> np.ndarray:
        """The value of the Const node `name`, followed through Identity nodes."""
        node = self.nodes.get(name)
        while node is not None and node.op == "Identity":
            node = self.nodes.get(node.inputs[0].split(":")[0])
        if node is None or node.op != "Const":
            raise GraphFormatError(f"no constant named {name!r}", self.path)
        return node.attrs["value"]

    def require(self, names: list[str]) -> None:
        """Raise one error listing every name of `names` the graph lacks."""
        missing = [n for n in names if n not in self.nodes]
        if missing:
            shown = ", ".join(missing[:8]) + (
                f" and {len(missing) - 8} more" if len(missing) > 8 else ""
            )
            raise GraphFormatError(
                f"not the expected network: {len(missing)} nodes missing: {shown}", self.path
            )


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise GraphFormatError("malformed varint")


def _fields(data: bytes | memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of a message: ints for varints, bytes
    for length-delimited fields and for 32/64-bit fixed fields."""
    data = memoryview(data)
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise GraphFormatError("a field runs past the end of the data")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        else:
            raise GraphFormatError(f"unsupported wire type {wire}")
        if number == 0 or pos > end:
            raise GraphFormatError("malformed field")
        yield number, wire, value


def _text(value: memoryview) -> str:
    return bytes(value).decode("utf-8")


def _node(data: memoryview) -> Node:
    node = Node("", "")
    for number, _, value in _fields(data):
        if number == 1:
            node.name = _text(value)
        elif number == 2:
            node.op = _text(value)
        elif number == 3:
            node.inputs.append(_text(value))
        elif number == 5:
            key, attr = "", None
            for n, _, v in _fields(value):
                if n == 1:
                    key = _text(v)
                elif n == 2:
                    attr = _attr(v)
            node.attrs[key] = attr
    if not node.name or not node.op:
        raise GraphFormatError("a node without a name or an op")
    return node


def _attr(data: memoryview) -> Any:
    for number, _, value in _fields(data):
        if number == 2:
            return bytes(value)
        if number in (3, 6):
            return _signed(value)
        if number == 4:
            return float(np.frombuffer(value, "<f4")[0])
        if number == 5:
            return bool(value)
        if number == 7:
            return _shape(value)
        if number == 8:
            return _tensor(value)
        if number == 1:
            return _list(value)
    return None


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _list(data: memoryview) -> list:
    items: list = []
    for number, wire, value in _fields(data):
        if number in (3, 6):
            items.extend(_packed(value, "varint") if wire == 2 else [_signed(value)])
        elif number == 4:
            items.extend(_packed(value, "f32").tolist())
        elif number == 2:
            items.append(bytes(value))
        elif number == 5:
            items.extend(bool(v) for v in (_packed(value, "varint") if wire == 2 else [value]))
        elif number == 7:
            items.append(_shape(value))
    return items


def _shape(data: memoryview) -> list[int] | None:
    dims: list[int] = []
    for number, _, value in _fields(data):
        if number == 2:
            size = 0  # the protobuf default: a dimension of size 0 writes no field
            for n, _, v in _fields(value):
                if n == 1:
                    size = _signed(v)
            dims.append(size)
        elif number == 3 and value:
            return None  # unknown rank
    return dims


def _packed(value: memoryview, kind: str) -> Any:
    if kind == "f32":
        return np.frombuffer(value, "<f4")
    if kind == "f64":
        return np.frombuffer(value, "<f8")
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(_signed(v))
    return out


def _tensor(data: memoryview) -> np.ndarray:
    dtype_code, shape, content, values = 1, [], None, []
    for number, wire, value in _fields(data):
        if number == 1:
            dtype_code = value
        elif number == 2:
            shape = _shape(value) or []
        elif number == 4:
            content = bytes(value)
        elif number in _VALUE_FIELDS:
            kind = _VALUE_FIELDS[number]
            if wire == 2:
                values.extend(np.asarray(_packed(value, kind)).tolist())
            elif kind == "varint":
                values.append(_signed(value))
            else:
                values.append(float(np.frombuffer(value, "<f4" if kind == "f32" else "<f8")[0]))
    if dtype_code not in DTYPES:
        raise GraphFormatError(f"a constant of unsupported type {dtype_code}")
    dtype = DTYPES[dtype_code]
    count = int(np.prod(shape)) if shape else 1
    if content is not None:
        array = np.frombuffer(content, dtype.newbyteorder("<")).astype(dtype)
    elif dtype == np.float16 and values:  # half_val holds the raw 16-bit patterns
        array = np.array(values, np.uint16).view(np.float16)
    else:
        array = np.array(values, dtype)
    if array.size == count:
        return array.reshape(shape)
    if array.size == 1:  # one value stands for all of them
        return np.full(shape, array[0], dtype)
    if array.size == 0:
        return np.zeros(shape, dtype)
    raise GraphFormatError(f"a constant of shape {shape} holds {array.size} values")
