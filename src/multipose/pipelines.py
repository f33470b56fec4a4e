"""Inference pipelines: from an image to `Poses` with a model spec and its network.

Bottom-up (OpenPose, Associative Embedding): the image is resized so that its height is the
spec's input height (aspect kept) times each scale, padded and normalised as the spec says, run
through the network; the last output's maps of every scale are brought to the size of the first
scale's and averaged, decoded, and the people scaled back to the original image.

Top-down: person boxes from a box source, one affine crop per person, one batch through the
network, heatmaps decoded and mapped back through each crop's inverse transform.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from multipose import DEFAULT_MODEL
from multipose.boxes import BoxSource
from multipose.data.datasets import normalise
from multipose.errors import MultiposeError
from multipose.models.specs import ModelSpec, get_spec
from multipose.poses import Poses
from multipose.skeleton import get_layout
from multipose.topdown import (
    box_regions,
    check_boxes,
    crop_transforms,
    people_from_heatmaps,
    warp_crops,
)
from multipose.weights.download import cache_dir, fetch, resolve


class OnnxNetwork:
    """The network exported to ONNX and run by onnxruntime, called like the torch module on an
    input batch (returning its last output). Networks of fixed input size are exported once
    per size met."""

    def __init__(self, spec: ModelSpec, model: torch.nn.Module, threads: int | None = None):
        try:
            import onnxruntime
        except ImportError:
            raise MultiposeError(
                "the onnxruntime backend needs: pip install onnxruntime onnx"
            ) from None
        self.spec, self.model, self._ort = spec, model, onnxruntime
        self.options = onnxruntime.SessionOptions()
        if threads:
            self.options.intra_op_num_threads = threads
        self.sessions: dict[tuple[int, ...] | None, object] = {}

    def __call__(self, x: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        from multipose.models.export import export_onnx

        key = None if self.spec.dynamic_size else tuple(x.shape[2:])
        if key not in self.sessions:
            with tempfile.TemporaryDirectory() as folder:
                path = export_onnx(
                    self.spec, self.model, Path(folder) / "model.onnx", (x.shape[3], x.shape[2])
                )
                self.sessions[key] = self._ort.InferenceSession(
                    str(path), self.options, providers=["CPUExecutionProvider"]
                )
        outputs = self.sessions[key].run(None, {"image": x.cpu().numpy()})
        return [tuple(torch.from_numpy(o) for o in outputs)]


class Estimator:
    """Callable on an RGB uint8 image (H, W, 3) (and, for ground-truth or detection-file boxes,
    its dataset id); returns the people in image pixels. After each call, `timing` holds the
    milliseconds spent in the network and in decoding. Top-down models need `boxes` and may
    average each crop's heatmaps with its mirror image's (`flip`). The network runs in PyTorch
    or, with backend "onnxruntime", as its ONNX export."""

    def __init__(
        self,
        spec: ModelSpec,
        model: torch.nn.Module,
        device: str = "cpu",
        scales: Sequence[float] = (1.0,),
        codec: object | None = None,
        boxes: BoxSource | None = None,
        backend: str = "torch",
        flip: bool = False,
    ) -> None:
        if flip and spec.method != "topdown":
            raise MultiposeError("the flip test is built for top-down models only so far")
        if backend not in ("torch", "onnxruntime"):
            raise MultiposeError(f"backend must be torch or onnxruntime, not {backend!r}")
        if not scales or any(s <= 0 for s in scales):
            raise MultiposeError(f"scales must be positive, not {list(scales)}")
        if spec.method == "topdown" and boxes is None:
            raise MultiposeError(f"{spec.name} is top-down: it needs a source of person boxes")
        self.spec, self.device, self.scales = spec, torch.device(device), tuple(scales)
        self.model = model.to(self.device).eval()
        if backend == "onnxruntime":
            self.model = OnnxNetwork(spec, self.model.cpu())
        self.codec = codec or spec.codec()
        self.boxes, self.flip = boxes, flip
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}

    def _input(self, image: np.ndarray, scale: float) -> torch.Tensor:
        h, w = image.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        tensor = normalise(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), self.spec)
        pad = self.spec.pad_to
        extra = (-size[1] % pad, -size[0] % pad)
        if any(extra):
            tensor = torch.nn.functional.pad(tensor, (0, extra[1], 0, extra[0]))
        return tensor[None]

    @torch.inference_mode()
    def maps(
        self, image: np.ndarray, input_height: int | None = None
    ) -> tuple[list[np.ndarray], float]:
        """A bottom-up network's last maps (each (C, h, w), at the first scale's size, averaged
        over the scales) and the factor from the image to the first scale's input, for inputs
        of `input_height` (the spec's by default) times each scale."""
        _check(image)
        base = (input_height or self.spec.input_height) / image.shape[0]
        total: list[np.ndarray] = []
        for scale in self.scales:
            outputs = self.model(self._input(image, base * scale).to(self.device))[-1]
            maps = [m[0].float().cpu().numpy() for m in outputs]
            if not total:
                total = maps
                continue
            for acc, m in zip(total, maps, strict=True):
                size = acc.shape[:0:-1]
                acc += np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in m])
        return [m / len(self.scales) for m in total], base

    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        if self.spec.method == "topdown":
            return self._top_down(image, image_id)
        start = time.perf_counter()
        maps, base = self.maps(image)
        middle = time.perf_counter()
        if self.spec.method == "openpose":
            people = self.codec.decode(maps[0], maps[1], self.spec.layout)
        else:
            people = self.codec.decode(maps[0], maps[1], self.spec.stride)
        people = people.resized(1 / base)
        self.timing = {
            "network_ms": 1000 * (middle - start),
            "decode_ms": 1000 * (time.perf_counter() - middle),
        }
        return people

    @torch.inference_mode()
    def _top_down(self, image: np.ndarray, image_id: int | None) -> Poses:
        _check(image)
        found = self.boxes(image, image_id)
        boxes, problems = check_boxes(found.boxes, image.shape[1::-1])
        usable = np.array([p is None for p in problems], bool)
        if not usable.any():
            return Poses.empty(self.spec.layout)
        boxes, scores = boxes[usable], found.scores[usable]
        width, height = self.codec.input_size
        transforms = crop_transforms(*box_regions(boxes, width / height), (width, height))
        start = time.perf_counter()
        crops = warp_crops(image, transforms, (width, height))
        batch = torch.stack([normalise(crop, self.spec) for crop in crops]).to(self.device)
        heatmaps = self.model(batch)[-1][0].float().cpu().numpy()
        if self.flip:  # the mirrored crops' heatmaps, mirrored back with sides swapped
            mirrored = self.model(torch.flip(batch, dims=[3]))[-1][0].float().cpu().numpy()
            flip_index = get_layout(self.spec.layout).flip_index
            heatmaps = (heatmaps + self.codec.flip_back(mirrored, flip_index)) / 2
        middle = time.perf_counter()
        people = people_from_heatmaps(
            heatmaps, transforms, self.codec, self.spec.layout, scores, boxes
        )
        self.timing = {
            "network_ms": 1000 * (middle - start),
            "decode_ms": 1000 * (time.perf_counter() - middle),
        }
        return people


def _check(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise MultiposeError(
            f"expected an RGB uint8 image (H, W, 3), not {image.dtype} {image.shape}"
        )


def load(
    name: str = DEFAULT_MODEL,
    weights: str | Path | None = None,
    device: str = "cpu",
    scales: Sequence[float] = (1.0,),
    boxes: BoxSource | None = None,
    backend: str = "torch",
    flip: bool = False,
) -> Estimator:
    """An estimator for the model `name` with its weights from `weights` (a file, a folder
    holding the published file, or an http(s) address), else from the user cache directory, else
    downloaded from the address the spec names. BlazePose takes the folder of its TFLite files
    (by default the one `multipose weights fetch blazepose` fills)."""
    spec = get_spec(name)
    if spec.method == "blazepose":
        return _blazepose(spec, weights, device, scales, boxes, backend, flip)
    cached = cache_dir() / spec.weights_file if spec.weights_file else None
    if weights is None and cached is not None and cached.is_file():
        path = cached
    elif weights is None:
        if not spec.weights_url:
            raise MultiposeError(
                f"{name} names no download address and {cached} is absent: give its weights"
            )
        path = fetch(spec.weights_url, spec.weights_sha256 or None, spec.weights_file or None)
    else:
        path = resolve(weights, spec.weights_file)
    return Estimator(spec, spec.load(path), device, scales, boxes=boxes, backend=backend, flip=flip)


def _blazepose(spec, weights, device, scales, boxes, backend, flip):
    from multipose.blazepose import BlazePoseEstimator
    from multipose.weights.mediapipe import default_dir

    if backend != "torch" or flip or tuple(scales) != (1.0,):
        raise MultiposeError(f"{spec.name} runs on the torch backend, one scale, no flip test")
    folder = Path(weights) if weights is not None else default_dir()
    return BlazePoseEstimator(spec, spec.load(folder), device, boxes=boxes)
