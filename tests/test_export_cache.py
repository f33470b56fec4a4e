"""The ONNX export cache: a module met before is loaded, not traced; anything that could change
the export changes the key; modules whose key could miss a change are not cached."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from multipose.runtime import export_cache
from multipose.runtime.export_cache import cached_onnx, export_key

pytest.importorskip("onnxruntime")

SHARED = Path(__file__).resolve().parents[2] / "shared"
FACES = SHARED / "weights" / "mediapipe-0.10.21" / "face_detection_full_range_sparse.tflite"
SHAPE = (1, 3, 16, 16)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path))
    return tmp_path / "onnx"


def small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1)).eval()


def outputs(graph: object, x: torch.Tensor) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(graph.SerializeToString())
    return session.run(None, {"input": x.numpy()})


def no_trace(*args: object) -> None:
    raise AssertionError("traced, not loaded from the cache")


def test_a_module_met_before_is_loaded_not_traced(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, x = small(), torch.rand(SHAPE)
    first = cached_onnx(module, SHAPE)
    (path,) = cache.glob("*.onnx")
    os.utime(path, (1000, 1000))
    monkeypatch.setattr("multipose.runtime.onnx.traced_onnx", no_trace)
    second = cached_onnx(small(), SHAPE)  # another object, the same weights and settings
    assert path.stat().st_mtime > 1000  # used now: the last to go when the cache is trimmed
    with torch.no_grad():
        expected = module(x).numpy()
    for graph in (first, second):
        np.testing.assert_allclose(outputs(graph, x)[0], expected, atol=1e-5)


def test_whatever_could_change_the_export_changes_the_key(monkeypatch) -> None:
    module = small()
    key = export_key(module, SHAPE, (0,))
    assert export_key(small(), SHAPE, (0,)) == key
    assert export_key(module, (1, 3, 32, 16), (0,)) != key
    assert export_key(module, SHAPE, (0, 2, 3)) != key
    strided = small()
    strided[0].stride = (2, 2)  # a setting, not a weight
    assert export_key(strided, SHAPE, (0,)) != key
    with torch.no_grad():
        module[2].bias[1] += 1e-6  # a weight changed in memory after loading
    assert export_key(module, SHAPE, (0,)) != key
    monkeypatch.setattr(export_cache, "_code_digest", lambda: "other code")
    assert export_key(small(), SHAPE, (0,)) != key


class Outside(nn.Module):
    """A class from outside multipose: its code may change under the same weights."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_modules_whose_key_could_miss_a_change_are_exported_every_time(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multipose.runtime.onnx import LastStage

    hooked = small()
    hooked[1].register_forward_hook(lambda module, inputs, output: output * 2)
    odd = small()
    odd[0].lookup = {"a": 1}  # an attribute that is not a plain value
    for module in (Outside(), LastStage(Outside()), hooked, odd):
        assert export_key(module, SHAPE, (0,)) is None
    traced = []
    monkeypatch.setattr(
        "multipose.runtime.onnx.traced_onnx", lambda *args: traced.append(args) or "graph"
    )
    assert cached_onnx(Outside(), SHAPE) == "graph" and len(traced) == 1
    assert not cache.exists()


def test_executors_are_keyed_by_the_file_they_were_built_from(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multipose.runtime.tflite import read_tflite
    from multipose.runtime.tflite_network import TfliteNetwork

    if not FACES.is_file():
        pytest.skip("../shared/weights is not beside the checkout")
    model = read_tflite(FACES)
    network = TfliteNetwork(model)
    shape = (1, 3, 192, 192)
    key = export_key(network, shape, (0,))
    assert key is not None and model.digest in network.export_fingerprint()
    other = TfliteNetwork(replace(model, digest="0" * 64))  # another file, the same weights
    assert export_key(other, shape, (0,)) not in (key, None)
    unread = TfliteNetwork(replace(model, digest=""))  # built from no file: nothing vouches
    assert export_key(unread, shape, (0,)) is None
    x = torch.rand(shape)
    cached_onnx(network, shape)
    monkeypatch.setattr("multipose.runtime.onnx.traced_onnx", no_trace)
    with torch.no_grad():
        expected = network(x)
    found = outputs(cached_onnx(TfliteNetwork(read_tflite(FACES)), shape), x)
    for want, got in zip(expected, found, strict=True):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4 * float(want.abs().max()))


def test_a_damaged_export_is_made_again(cache: Path) -> None:
    module = small()
    cached_onnx(module, SHAPE)
    (path,) = cache.glob("*.onnx")
    path.write_bytes(b"\x00not onnx")
    graph = cached_onnx(module, SHAPE)
    x = torch.rand(SHAPE)
    with torch.no_grad():
        np.testing.assert_allclose(outputs(graph, x)[0], module(x).numpy(), atol=1e-5)
    assert path.read_bytes() == graph.SerializeToString()


def test_the_least_recently_used_exports_go_first(tmp_path: Path) -> None:
    for age, name in enumerate(["new", "middle", "old"]):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 - age, 1000 - age))
    export_cache._trim(tmp_path, 250)
    assert sorted(p.stem for p in tmp_path.glob("*.onnx")) == ["middle", "new"]


def test_the_key_is_the_same_in_every_process() -> None:
    """Sets of strings iterate in another order under another hash seed; the key does not."""
    script = (
        "import torch; from torch import nn\n"
        "from multipose.runtime.export_cache import export_key\n"
        "torch.manual_seed(0); module = nn.Sequential(nn.Conv2d(3, 2, 1))\n"
        "module[0].names = {'nose', 'eye', 'ear', 'wrist', 'hip', 'knee'}\n"
        "print(export_key(module, (1, 3, 8, 8), (0,)))\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(keys) == 1 and "None" not in keys


def test_a_cache_it_cannot_write_is_still_read(cache: Path, monkeypatch: pytest.MonkeyPatch):
    module = small()
    cached_onnx(module, SHAPE)

    def refused(*args: object) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(export_cache.os, "utime", refused)
    monkeypatch.setattr("multipose.runtime.onnx.traced_onnx", no_trace)
    cached_onnx(module, SHAPE)


def test_weights_of_any_dtype_are_keyed() -> None:
    half = small().to(torch.bfloat16)
    assert export_key(half, SHAPE, (0,)) not in (None, export_key(small(), SHAPE, (0,)))
