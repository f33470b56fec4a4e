"""The TFLite reader and its PyTorch executor, checked against the LiteRT interpreter; its ONNX
export."""

import io
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from multipose.errors import MultiposeError
from multipose.runtime.tflite import (
    Operator,
    Tensor,
    TfliteFormatError,
    TfliteModel,
    densify,
    read_tflite,
)
from multipose.runtime.tflite_network import TfliteNetwork, load_tflite

from conftest import SHARED

MEDIAPIPE = SHARED / "weights" / "mediapipe-0.10.21"
# model file, input side, input range low end
MODELS = [
    ("pose_detection.tflite", 224, -1.0),
    ("pose_landmark_full.tflite", 256, 0.0),
    ("face_detection_full_range_sparse.tflite", 192, -1.0),
]


def _model(name: str) -> Path:
    path = MEDIAPIPE / name
    if not path.is_file():
        pytest.skip("../shared/weights is not beside the checkout")
    return path


def _photo_input(side: int, low: float) -> np.ndarray:
    image = Image.open(SHARED / "data" / "photos" / "ski.jpg").convert("RGB")
    x = np.asarray(image.resize((side, side)), np.float32) / 255
    return x * (1 - low) + low


@pytest.mark.parametrize(("name", "side", "low"), MODELS)
def test_executor_matches_litert_on_a_real_photo(name: str, side: int, low: float) -> None:
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    path = _model(name)
    x = _photo_input(side, low)
    reference = interpreter_module.Interpreter(model_path=str(path))
    reference.allocate_tensors()
    reference.set_tensor(reference.get_input_details()[0]["index"], x[None])
    reference.invoke()
    expected = [reference.get_tensor(d["index"]) for d in reference.get_output_details()]

    network = load_tflite(path)
    batch = torch.from_numpy(x).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    with torch.inference_mode():
        outputs = network(batch)
    assert len(outputs) == len(expected)
    for want, got in zip(expected, outputs, strict=True):
        got = got.numpy()
        if got.ndim == 4:
            got = got.transpose(0, 2, 3, 1)
        assert got.shape[1:] == want.shape[1:]
        for item in got:  # every member of the batch
            assert np.abs(item - want[0]).max() <= 1e-3 * np.abs(want).max()


def onnx_graph(module: torch.nn.Module, x: torch.Tensor):
    """The module's ONNX export (as OnnxModule exports it, before fusing)."""
    onnx = pytest.importorskip("onnx")
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buffer, opset_version=17, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def onnx_ops(module: torch.nn.Module, x: torch.Tensor) -> set[str]:
    """The op types of the module's ONNX export."""
    return {node.op_type for node in onnx_graph(module, x).graph.node}


@pytest.mark.parametrize(
    ("name", "side", "fused"),
    [("pose_landmark_full.tflite", 256, 15), ("pose_detection.tflite", 224, 4)],
)
def test_residual_clips_fuse_into_the_convolutions(name: str, side: int, fused: int) -> None:
    """Each residual Conv -> Add -> Clip becomes one FusedConv (onnxruntime leaves its blocked
    layout around a lone Clip). OnnxModule runs the fused graph: the test below compares its
    outputs with the module's."""
    from multipose.runtime.onnx_fusion import fuse_residual_clips

    model = onnx_graph(load_tflite(_model(name)), torch.rand(1, 3, side, side))
    before = Counter(node.op_type for node in model.graph.node)
    assert fuse_residual_clips(model) == fused
    after = Counter(node.op_type for node in model.graph.node)
    assert after["FusedConv"] == fused
    assert after["Conv"] == before["Conv"] - fused and after["Add"] == before["Add"] - fused
    assert after["Clip"] == before["Clip"] - fused
    assert fuse_residual_clips(model) == 0  # nothing left to fuse


@pytest.mark.parametrize(("name", "side", "low"), MODELS)
def test_onnx_export_pads_inside_the_convolutions(name: str, side: int, low: float) -> None:
    """PADs and uneven SAME paddings become the Conv's own pads, DEPTH_TO_SPACE one
    DepthToSpace (onnxruntime fuses no Pad into a Conv, and reorders its blocked layout around
    each one: 2.6x LiteRT's time on the face detector), resizes by whole factors take constant
    scales (not sizes computed from the input's Shape: onnxruntime upsamples in its blocked
    layout only so, else reorders around each), and the export computes what the module
    does."""
    pytest.importorskip("onnxruntime")
    from multipose.runtime.onnx import OnnxModule

    network = load_tflite(_model(name))
    x = torch.from_numpy(_photo_input(side, low)).permute(2, 0, 1)[None]
    ops = onnx_ops(network, x)
    assert "Pad" not in ops and "Conv" in ops and "Shape" not in ops
    if name == "pose_detection.tflite":
        assert "DepthToSpace" in ops
    with torch.inference_mode():
        expected = network(x)
    found = OnnxModule(network, x.shape)(x)
    for want, got in zip(expected, found, strict=True):
        # 3e-4 of the largest value: the landmark network's segmentation logits (up to ~1600)
        # are 2e-4 apart in PyTorch and LiteRT
        torch.testing.assert_close(got, want, atol=3e-4 * float(want.abs().max()), rtol=1e-4)


def test_reader_decodes_the_landmark_model() -> None:
    model = read_tflite(_model("pose_landmark_full.tflite"))
    assert [model.tensors[i].shape for i in model.inputs] == [(1, 256, 256, 3)]
    assert model.tensors[model.outputs[0]].shape == (1, 195)
    convs = [op for op in model.operators if op.op == "CONV_2D"]
    assert len(convs) == 58
    assert all(op.options["activation"] in (0, 1, 3) for op in convs)
    weights = {model.tensors[op.inputs[0]].dtype for op in model.operators if op.op == "DEQUANTIZE"}
    assert weights == {np.dtype(np.float16)}


def test_sparse_weights_densify_to_their_stored_values() -> None:
    model = read_tflite(_model("pose_detection.tflite"))
    sparse = [t for t in model.tensors if t.sparsity is not None]
    assert len(sparse) == 38

    for tensor in sparse:
        dense = densify(tensor)
        assert dense.shape == tensor.shape
        # every stored value lands somewhere, in order along the rows
        assert np.array_equal(dense[dense != 0], tensor.data[tensor.data != 0])


def test_files_that_are_not_tflite_models_are_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.tflite"
    text.write_text("hello, this is not a model")
    with pytest.raises(TfliteFormatError, match=r"notes\.tflite: not a TensorFlow Lite"):
        read_tflite(text)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(_model("pose_detection.tflite").read_bytes()[:200_000])
    with pytest.raises(TfliteFormatError, match=r"cut\.tflite: truncated or damaged"):
        load_tflite(cut)
    with pytest.raises(TfliteFormatError, match="cannot read"):
        read_tflite(tmp_path / "absent.tflite")


def test_an_unsupported_operator_is_named() -> None:
    tensors = (
        Tensor("x", (1, 4), np.dtype(np.float32)),
        Tensor("y", (1, 4), np.dtype(np.float32)),
    )
    model = TfliteModel(tensors, (Operator("SOFTMAX", (0,), (1,), {}),), (0,), (1,))
    with pytest.raises(MultiposeError, match=r"tiny\.tflite: operator SOFTMAX is not supported"):
        TfliteNetwork(model, "tiny.tflite")


def test_same_padding_and_depth_to_space_follow_tflite() -> None:
    # a 3x3 stride-2 SAME convolution on an even input pads only after; DEPTH_TO_SPACE takes
    # the block position from the high part of the channel index (TensorFlow's DCR order)
    kernel = np.zeros((1, 3, 3, 1), np.float32)
    kernel[0, 0, 0, 0] = 1.0  # picks the top-left tap
    tensors = (
        Tensor("x", (1, 4, 4, 1), np.dtype(np.float32)),
        Tensor("k", (1, 3, 3, 1), np.dtype(np.float32), kernel),
        Tensor("y", (1, 2, 2, 1), np.dtype(np.float32)),
    )
    options = {"padding": 0, "stride_w": 2, "stride_h": 2, "activation": 0}
    conv = Operator("CONV_2D", (0, 1, -1), (2,), {**options, "dilation_w": 1, "dilation_h": 1})
    network = TfliteNetwork(TfliteModel(tensors, (conv,), (0,), (2,)))
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    (y,) = network(x)
    assert y[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]  # no padding before

    tensors = (
        Tensor("x", (1, 1, 1, 8), np.dtype(np.float32)),
        Tensor("y", (1, 2, 2, 2), np.dtype(np.float32)),
    )
    d2s = Operator("DEPTH_TO_SPACE", (0,), (1,), {"block_size": 2})
    network = TfliteNetwork(TfliteModel(tensors, (d2s,), (0,), (1,)))
    (y,) = network(torch.arange(8.0).reshape(1, 8, 1, 1))
    assert y[0].tolist() == [[[0.0, 2.0], [4.0, 6.0]], [[1.0, 3.0], [5.0, 7.0]]]
    assert not torch.equal(
        y, torch.nn.functional.pixel_shuffle(torch.arange(8.0).reshape(1, 8, 1, 1), 2)
    )
