"""Inference pipelines: from an image to `Poses` with a model spec and its network.

Bottom-up (OpenPose): the image is resized so that its height is the spec's input height
(aspect kept) times each scale, normalised as the spec says, run through the network; the last
stage's maps of every scale are brought to the size of the first scale's maps and averaged,
decoded, and the people scaled back to the original image.
"""

from __future__ import annotations

import time
import warnings
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
    call, `timing` holds the milliseconds spent in the network and in decoding.

    With `trace`, the network is traced and frozen with TorchScript once per input size (about
    2.5 s each) and runs about a quarter faster after: worth it for video or images of one
    size, not for a folder of many sizes."""

    def __init__(
        self,
        spec: ModelSpec,
        model: torch.nn.Module,
        device: str = "cpu",
        scales: Sequence[float] = (1.0,),
        codec: object | None = None,
        trace: bool = False,
    ) -> None:
        if spec.method != "openpose":
            raise MultiposeError(f"no pipeline yet for {spec.method} models ({spec.name})")
        if not scales or any(s <= 0 for s in scales):
            raise MultiposeError(f"scales must be positive, not {list(scales)}")
        self.spec, self.device, self.scales = spec, torch.device(device), tuple(scales)
        self.model = model.to(self.device).eval()
        self.codec = codec or spec.codec()
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}
        self.trace = trace
        self._traced: dict[tuple[int, ...], torch.jit.ScriptModule] = {}

    def _run(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The network's last stage on an input batch."""
        if not self.trace:
            return self.model(x)[-1]
        if x.shape not in self._traced:
            with torch.no_grad(), warnings.catch_warnings():
                # The pads and resize sizes become constants: right for this input size.
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                traced = torch.jit.trace(_LastStage(self.model).eval(), (x,), check_trace=False)
                self._traced[x.shape] = torch.jit.freeze(traced)
        return self._traced[x.shape](x)

    def _input(self, image: np.ndarray, scale: float) -> torch.Tensor:
        h, w = image.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        resized = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
        if self.spec.channels == "bgr":
            resized = resized[..., ::-1]
        resized = (resized - np.float32(self.spec.mean)) / np.float32(self.spec.std)
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
            outputs = self._run(self._input(image, base * scale).to(self.device))
            maps = [m[0].float().cpu().numpy() for m in outputs]
            if not total:
                total = maps
                continue
            size = total[0].shape[:0:-1]
            for acc, m in zip(total, maps, strict=True):
                acc += np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in m])
        return [m / len(self.scales) for m in total], base

    def to_image(self, people: Poses, base: float) -> Poses:
        """People found in the first scale's input back in the image (pixel centres kept),
        after the spec's output offset."""
        shifted = people.transform(offset=self.spec.output_offset)
        return shifted.transform(1 / base, (0.5 / base - 0.5, 0.5 / base - 0.5))

    def __call__(self, image: np.ndarray) -> Poses:
        start = time.perf_counter()
        (heatmaps, pafs), base = self.maps(image)
        middle = time.perf_counter()
        people = self.to_image(self.codec.decode(heatmaps, pafs, "coco18"), base)
        end = time.perf_counter()
        self.timing = {"network_ms": 1000 * (middle - start), "decode_ms": 1000 * (end - middle)}
        return people


class _LastStage(torch.nn.Module):
    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.network(x)[-1])


def load(
    name: str,
    weights: str | Path,
    device: str = "cpu",
    scales: Sequence[float] = (1.0,),
    trace: bool = False,
) -> Estimator:
    """An estimator for the model `name` with the weights in `weights`."""
    spec = get_spec(name)
    return Estimator(spec, spec.load(Path(weights)), device, scales, trace=trace)
