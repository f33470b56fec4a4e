"""Inference pipelines: from an image to `Poses` with a model spec and its network.

Bottom-up (OpenPose, Associative Embedding): the image is resized so that its height is the
spec's input height (aspect kept) times each scale, padded and normalised as the spec says, run
through the network; the last output's maps of every scale are brought to the size of the first
scale's and averaged, decoded, and the people scaled back to the original image.

Top-down: person boxes from a box source, one affine crop per person, one batch through the
network, heatmaps decoded and mapped back through each crop's inverse transform.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from multipose import DEFAULT_MODEL
from multipose.boxes import BoxSource
from multipose.codecs.associative import flip_merge
from multipose.codecs.paf import PafCodec
from multipose.data.datasets import normalise
from multipose.devices import full_precision, torch_device
from multipose.errors import MultiposeError
from multipose.models.export import LastStage
from multipose.models.onnx_runtime import OnnxModule, require_onnxruntime
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
    """The network's last stage exported to ONNX and run by onnxruntime, called like the torch
    module on an input batch (returning its last output). Networks of fixed input size are
    exported once per size met."""

    def __init__(self, spec: ModelSpec, model: torch.nn.Module, threads: int | None = None):
        require_onnxruntime()
        self.spec, self.model, self.threads = spec, model, threads
        self.sessions: dict[tuple[int, ...] | None, OnnxModule] = {}

    def __call__(self, x: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        key = None if self.spec.dynamic_size else tuple(x.shape[2:])
        if key not in self.sessions:
            free = (0, 2, 3) if self.spec.dynamic_size else (0,)
            self.sessions[key] = OnnxModule(LastStage(self.model), x.shape, free, self.threads)
        return [self.sessions[key](x)]


class Estimator:
    """Callable on an RGB uint8 image (H, W, 3) (and, for ground-truth or detection-file boxes,
    its dataset id); returns the people in image pixels. `batch` takes several images at once:
    bottom-up, images of one size share a forward pass; top-down, the crops of all the images
    do. After each call, `timing` holds the milliseconds spent in the network and in decoding.
    Top-down models need `boxes`. With `flip`, the maps of the mirrored input are mapped back
    and merged with the image's (averaged; Associative Embedding's tags concatenated). The
    network runs in PyTorch or, with backend "onnxruntime", as its ONNX export."""

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
        if backend not in ("torch", "onnxruntime"):
            raise MultiposeError(f"backend must be torch or onnxruntime, not {backend!r}")
        if not scales or any(s <= 0 for s in scales):
            raise MultiposeError(f"scales must be positive, not {list(scales)}")
        if spec.method == "topdown" and boxes is None:
            raise MultiposeError(f"{spec.name} is top-down: it needs a source of person boxes")
        self.spec, self.device, self.scales = spec, torch_device(device), tuple(scales)
        if backend == "onnxruntime" and self.device.type != "cpu":
            raise MultiposeError("the onnxruntime backend runs on the CPU: use --device cpu")
        self.model = model.to(self.device).eval()
        if backend == "onnxruntime":
            self.model = OnnxNetwork(spec, self.model.cpu())
        self.codec = codec or spec.codec()
        self.boxes, self.flip = boxes, flip
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}

    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        return self.batch([image], [image_id])[0]

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        """The people of each image (ids as for a single call, None by default)."""
        for image in images:
            _check(image)
        image_ids = list(image_ids) if image_ids is not None else [None] * len(images)
        if self.spec.method == "topdown":
            return self._top_down(images, image_ids)
        start = time.perf_counter()
        maps, bases = self._maps(images, self.spec.input_height)
        middle = time.perf_counter()
        people = []
        for (first, second), base in zip(maps, bases, strict=True):
            if self.spec.method == "openpose":
                found = self.codec.decode(first, second, self.spec.layout)
            else:
                found = self.codec.decode(first, second, self.codec.strides[-1])
            people.append(found.resized(1 / base))
        self._timed(start, middle)
        return people

    def maps(
        self, image: np.ndarray, input_height: int | None = None
    ) -> tuple[list[np.ndarray], float]:
        """A bottom-up network's last maps (each (C, h, w) or, for merged tags, (C, h, w, D), at
        the first scale's size, merged over the scales and the flip) and the factor from the
        image to the first scale's input, for inputs of `input_height` (the spec's by default)
        times each scale."""
        _check(image)
        maps, bases = self._maps([image], input_height or self.spec.input_height)
        return maps[0], bases[0]

    @torch.inference_mode()
    def _maps(
        self, images: Sequence[np.ndarray], input_height: int
    ) -> tuple[list[list[np.ndarray]], list[float]]:
        bases = [input_height / image.shape[0] for image in images]
        maps: list[list[np.ndarray]] = [[] for _ in images]
        for scale in self.scales:
            inputs = [self._input(im, b * scale) for im, b in zip(images, bases, strict=True)]
            for group in _same_shape(inputs):
                outputs = self._forward(torch.cat([inputs[i] for i in group]))
                for n, i in enumerate(group):
                    _accumulate(maps[i], [m[n] for m in outputs])
        return [[m / len(self.scales) for m in total] for total in maps], bases

    def _forward(self, batch: torch.Tensor) -> list[np.ndarray]:
        """The last stage's maps of a batch, (N, C, h, w) each; with the flip test merged with
        those of the mirrored batch (exact: the padded input is mirrored whole, and map cells
        are centred on their pixels)."""
        outputs = self._network_maps(batch)
        if not self.flip:
            return outputs
        mirrored = self._network_maps(torch.flip(batch, dims=[3]))
        if self.spec.method == "openpose":
            heatmaps, pafs = PafCodec.flip_back(*mirrored)
            return [(outputs[0] + heatmaps) / 2, (outputs[1] + pafs) / 2]
        pairs = zip(outputs[0], outputs[1], mirrored[0], mirrored[1], strict=True)
        heatmaps, tags = zip(*(flip_merge(*maps) for maps in pairs), strict=True)
        return [np.stack(heatmaps), np.stack(tags)]

    def _network_maps(self, batch: torch.Tensor) -> list[np.ndarray]:
        """The network's last two maps (heatmaps, and PAFs or tags) as NumPy. HigherHRNet's
        third, stride-2 heatmaps are averaged with its stride-4 ones upsampled (bilinear, cells
        centred), and its tags upsampled to match: decoding runs at stride 2."""
        with full_precision():
            outputs = self.model(batch.to(self.device))[-1]
        if len(outputs) == 3:
            low, tags, high = (m.float() for m in outputs)
            size = high.shape[-2:]
            low = F.interpolate(low, size=size, mode="bilinear", align_corners=False)
            tags = F.interpolate(tags, size=size, mode="bilinear", align_corners=False)
            outputs = ((low + high) / 2, tags)
        return [m.float().cpu().numpy() for m in outputs]

    def _input(self, image: np.ndarray, scale: float) -> torch.Tensor:
        h, w = image.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        tensor = normalise(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), self.spec)
        pad = self.spec.pad_to
        extra = (-size[1] % pad, -size[0] % pad)
        if any(extra):
            tensor = F.pad(tensor, (0, extra[1], 0, extra[0]))
        return tensor[None]

    @torch.inference_mode()
    def _top_down(self, images: Sequence[np.ndarray], image_ids: list[int | None]) -> list[Poses]:
        size = self.codec.input_size
        boxes, scores, transforms = [], [], []
        for image, image_id in zip(images, image_ids, strict=True):
            found = self.boxes(image, image_id)
            clipped, problems = check_boxes(found.boxes, image.shape[1::-1])
            usable = np.array([p is None for p in problems], bool)
            boxes.append(clipped[usable])
            scores.append(found.scores[usable])
            transforms.append(crop_transforms(*box_regions(boxes[-1], size[0] / size[1]), size))
        start = time.perf_counter()
        crops = np.concatenate(
            [warp_crops(*pair, size) for pair in zip(images, transforms, strict=True)]
        )
        if not len(crops):
            return [Poses.empty(self.spec.layout) for _ in images]
        batch = torch.stack([normalise(crop, self.spec) for crop in crops]).to(self.device)
        with full_precision():
            heatmaps = self.model(batch)[-1][0].float().cpu().numpy()
            if self.flip:  # the mirrored crops' heatmaps, mirrored back with sides swapped
                mirrored = self.model(torch.flip(batch, dims=[3]))[-1][0].float().cpu().numpy()
                flip_index = get_layout(self.spec.layout).flip_index
                heatmaps = (heatmaps + self.codec.flip_back(mirrored, flip_index)) / 2
        middle = time.perf_counter()
        ends = np.cumsum([len(b) for b in boxes])
        people = [
            people_from_heatmaps(maps, t, self.codec, self.spec.layout, s, b)
            if len(b)
            else Poses.empty(self.spec.layout)
            for maps, t, s, b in zip(
                np.split(heatmaps, ends[:-1]), transforms, scores, boxes, strict=True
            )
        ]
        self._timed(start, middle)
        return people

    def _timed(self, start: float, middle: float) -> None:
        self.timing = {
            "network_ms": 1000 * (middle - start),
            "decode_ms": 1000 * (time.perf_counter() - middle),
        }


def _same_shape(tensors: Sequence[torch.Tensor]) -> list[list[int]]:
    """Indices of the tensors grouped by shape, in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, tensor in enumerate(tensors):
        groups.setdefault(tuple(tensor.shape), []).append(i)
    return list(groups.values())


def _accumulate(total: list[np.ndarray], maps: list[np.ndarray]) -> None:
    """Adds one scale's maps of an image to `total`, resized to the first scale's maps."""
    if not total:
        total.extend(m.copy() for m in maps)
        return
    for acc, m in zip(total, maps, strict=True):
        size = acc.shape[2:0:-1]
        acc += np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in m])


def _check(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise MultiposeError(
            f"expected an RGB uint8 image (H, W, 3), not {image.dtype} {image.shape}"
        )


def load(
    name: str | ModelSpec = DEFAULT_MODEL,
    weights: str | Path | None = None,
    device: str = "cpu",
    scales: Sequence[float] = (1.0,),
    boxes: BoxSource | None = None,
    backend: str = "torch",
    flip: bool = False,
) -> Estimator:
    """An estimator for the model `name` (a spec's name, or a ModelSpec) with its weights from
    `weights` (a file, a folder holding the published file, or an http(s) address), else from
    the user cache directory, else downloaded from the address the spec names. BlazePose takes
    the folder of its TFLite files (by default the one `multipose weights fetch blazepose`
    fills)."""
    spec = get_spec(name)
    torch_device(device)  # a bad device is reported before any weights are read
    if spec.method == "blazepose":
        return _blazepose(spec, weights, device, scales, boxes, backend, flip)
    cached = cache_dir() / spec.weights_file if spec.weights_file else None
    if weights is None and cached is not None and cached.is_file():
        path = cached
    elif weights is None:
        if not spec.weights_url:
            raise MultiposeError(
                f"{spec.name} names no download address and {cached} is absent: give its weights"
            )
        try:
            path = fetch(spec.weights_url, spec.weights_sha256 or None, spec.weights_file)
        except MultiposeError as exc:
            raise MultiposeError(
                f"{exc}; or give {spec.weights_file} yourself (--weights FILE or its folder)"
            ) from None
    else:
        path = resolve(weights, spec.weights_file)
    return Estimator(spec, spec.load(path), device, scales, boxes=boxes, backend=backend, flip=flip)


def _blazepose(spec, weights, device, scales, boxes, backend, flip):
    from multipose.blazepose import BlazePoseEstimator
    from multipose.weights.mediapipe import default_dir

    if flip or tuple(scales) != (1.0,):
        raise MultiposeError(f"{spec.name} runs at one scale, without the flip test")
    folder = Path(weights) if weights is not None else default_dir()
    return BlazePoseEstimator(spec, spec.load(folder), device, boxes=boxes, backend=backend)
