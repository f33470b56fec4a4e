"""Inference pipelines: from an image to `Poses` with a model spec and its network.

Bottom-up (OpenPose): the image is resized so that its height is the spec's input height
(aspect kept) times each scale, normalised as the spec says, run through the network; the last
stage's maps of every scale are brought to the size of the first scale's maps and averaged,
decoded, and the people scaled back to the original image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from multipose.errors import MultiposeError
from multipose.models.specs import ModelSpec, get_spec
from multipose.poses import Poses


class Estimator:
    """Callable on an RGB uint8 image (H, W, 3); returns the people in image pixels. After each
    call, `timing` holds the milliseconds spent in the network and in decoding."""

    def __init__(
        self,
        spec: ModelSpec,
        model: torch.nn.Module,
        device: str = "cpu",
        scales: Sequence[float] = (1.0,),
        codec: object | None = None,
    ) -> None:
        if spec.method != "openpose":
            raise MultiposeError(f"no pipeline yet for {spec.method} models ({spec.name})")
        if not scales or any(s <= 0 for s in scales):
            raise MultiposeError(f"scales must be positive, not {list(scales)}")
        self.spec, self.device, self.scales = spec, torch.device(device), tuple(scales)
        self.model = model.to(self.device).eval()
        self.codec = codec or spec.codec()
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}

    def _input(self, image: np.ndarray, scale: float) -> torch.Tensor:
        h, w = image.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        resized = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
        if self.spec.channels == "bgr":
            resized = resized[..., ::-1]
        resized = (resized - np.float32(self.spec.mean)) / np.float32(self.spec.std)
        pad = self.spec.pad_to
        extra = (-size[1] % pad, -size[0] % pad)
        if any(extra):
            resized = np.pad(resized, ((0, extra[0]), (0, extra[1]), (0, 0)))
        return torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1)))[None]

    @torch.inference_mode()
    def maps(
        self, image: np.ndarray, input_height: int | None = None
    ) -> tuple[list[np.ndarray], float]:
        """The network's last-stage maps (each (C, h, w), at the first scale's size, averaged
        over the scales) and the factor from the image to the first scale's input, for inputs
        of `input_height` (the spec's by default) times each scale."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise MultiposeError(
                f"expected an RGB uint8 image (H, W, 3), not {image.dtype} {image.shape}"
            )
        base = (input_height or self.spec.input_height) / image.shape[0]
        total: list[np.ndarray] = []
        for scale in self.scales:
            outputs = self.model(self._input(image, base * scale).to(self.device))[-1]
            maps = [m[0].float().cpu().numpy() for m in outputs]
            if not total:
                total = maps
                continue
            size = total[0].shape[:0:-1]
            for acc, m in zip(total, maps, strict=True):
                acc += np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in m])
        return [m / len(self.scales) for m in total], base

    def __call__(self, image: np.ndarray) -> Poses:
        start = time.perf_counter()
        (heatmaps, pafs), base = self.maps(image)
        middle = time.perf_counter()
        people = self.codec.decode(heatmaps, pafs, "coco18").resized(1 / base)
        end = time.perf_counter()
        self.timing = {"network_ms": 1000 * (middle - start), "decode_ms": 1000 * (end - middle)}
        return people


def load(
    name: str,
    weights: str | Path,
    device: str = "cpu",
    scales: Sequence[float] = (1.0,),
) -> Estimator:
    """An estimator for the model `name` with the weights in `weights`."""
    spec = get_spec(name)
    return Estimator(spec, spec.load(Path(weights)), device, scales)
