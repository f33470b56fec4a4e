"""YOLO-pose inference: every person of an image from one pass over its letterboxed copy.

The image is resized (bilinear) so that its longer side is the input size (640), aspect kept,
and padded with grey (114) on both sides to the next multiple of 32 (as Ultralytics'
predictor does for PyTorch models: fewer pixels than a square, the same people); RGB 0..1.
The network's output is decoded by the codec (threshold, NMS) and the people mapped back to
the image, their keypoints and boxes clamped to it (as Ultralytics does).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch

from multipose.errors import MultiposeError
from multipose.pipelines.base import MapPipeline, check_image
from multipose.poses import Poses
from multipose.preprocess import describe_longer_side

if TYPE_CHECKING:
    from multipose.specs import ModelSpec

GREY = 114


class YoloPosePipeline(MapPipeline):
    """Callable on an RGB uint8 image (H, W, 3); returns the people (COCO-17, with boxes) in
    image pixels. `batch` runs the images one network pass each (their padded sizes may
    differ). Person boxes, if given, are not used; one scale, no flip test."""

    def __init__(
        self, spec: ModelSpec, network: torch.nn.Module, *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(spec, network, *args, **kwargs)
        if self.flip or self.scales != (1.0,):
            raise MultiposeError(f"{spec.name} runs at one scale, without the flip test")

    describe_input = staticmethod(describe_longer_side)

    @torch.inference_mode()
    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        for image in images:
            check_image(image)
        network_s, people = 0.0, []
        start = time.perf_counter()
        for image in images:
            tensor, scale, offset = letterbox(image, self.spec.input.height, self.spec.input.pad_to)
            before = time.perf_counter()
            (raw,) = self.network(tensor)
            network_s += time.perf_counter() - before
            found = self.codec.decode([raw[0]])
            found = found.transform(1 / scale, (-offset[0] / scale, -offset[1] / scale))
            people.append(clipped(found, image.shape[1], image.shape[0]))
        total = time.perf_counter() - start
        self.timing = {"network_ms": 1000 * network_s, "decode_ms": 1000 * (total - network_s)}
        return people


def clipped(people: Poses, width: int, height: int) -> Poses:
    """People with their keypoints and boxes clamped to the image (as Ultralytics does)."""
    keypoints, boxes = people.keypoints.copy(), people.boxes.copy()
    keypoints[..., :2] = np.clip(keypoints[..., :2], 0, (width, height))
    boxes[:] = np.clip(boxes, 0, (width, height, width, height))
    return Poses(keypoints, people.scores, people.layout, boxes)


def letterbox(
    image: np.ndarray, size: int, pad_to: int
) -> tuple[torch.Tensor, float, tuple[int, int]]:
    """The network's input (1, 3, H, W), RGB 0..1, for an RGB uint8 image: resized by `scale`
    so that its longer side is `size`, padded with grey on all sides (left and top by
    `offset`) to multiples of `pad_to` (`size` itself: a square). Input pixels are image
    pixels times `scale` plus `offset`."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    new_w, new_h = round(w * scale), round(h * scale)
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_w, pad_h = -new_w % pad_to, -new_h % pad_to
    left, top = round(pad_w / 2 - 0.1), round(pad_h / 2 - 0.1)
    right, bottom = pad_w - left, pad_h - top
    padded = cv2.copyMakeBorder(
        image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(GREY,) * 3
    )
    # (H, W, 3) viewed as (1, 3, H, W): channels last, as the network's weights
    tensor = torch.from_numpy(padded).permute(2, 0, 1)[None].float().div_(255.0)
    return tensor, scale, (left, top)
