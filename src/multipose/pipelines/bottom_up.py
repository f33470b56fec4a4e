"""Bottom-up inference (OpenPose, Associative Embedding): every person of an image from one
pass of the network over the whole image.

The image is resized so that its height is the spec's input height (aspect kept) times each
scale, padded and normalised as the spec says, and run through the network; the last stage's
maps of every scale are brought to the size of the first scale's and averaged, decoded by the
codec, and the people scaled back to the original image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from multipose.pipelines.base import MapPipeline, check_image
from multipose.poses import Poses
from multipose.preprocess import describe_height, resized_input


class BottomUpPipeline(MapPipeline):
    """Callable on an RGB uint8 image (H, W, 3); returns the people in image pixels. `batch`
    takes several images at once: images of one size share a forward pass. Person boxes, if
    given, are not used."""

    describe_input = staticmethod(describe_height)

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        for image in images:
            check_image(image)
        start = time.perf_counter()
        maps, bases = self._image_maps(images, self.spec.input.height)
        middle = time.perf_counter()
        people = [self.codec.decode(m).resized(1 / b) for m, b in zip(maps, bases, strict=True)]
        self._timed(start, middle)
        return people

    def maps(
        self, image: np.ndarray, input_height: int | None = None
    ) -> tuple[list[np.ndarray], float]:
        """The network's last maps for one image (each (C, h, w) or, for merged tags,
        (C, h, w, D), at the first scale's size, merged over the scales and the flip) and the
        factor from the image to the first scale's input, for inputs of `input_height` (the
        spec's by default) times each scale."""
        check_image(image)
        maps, bases = self._image_maps([image], input_height or self.spec.input.height)
        return maps[0], bases[0]

    @torch.inference_mode()
    def _image_maps(
        self, images: Sequence[np.ndarray], input_height: int
    ) -> tuple[list[list[np.ndarray]], list[float]]:
        bases = [input_height / image.shape[0] for image in images]
        maps: list[list[np.ndarray]] = [[] for _ in images]
        for scale in self.scales:
            inputs = [
                resized_input(im, b * scale, self.spec.input)
                for im, b in zip(images, bases, strict=True)
            ]
            for group in _same_shape(inputs):
                outputs = self._maps(torch.cat([inputs[i] for i in group]))
                for n, i in enumerate(group):
                    _accumulate(maps[i], [m[n] for m in outputs])
        first = [b * self.scales[0] for b in bases]  # the maps are at the first scale's size
        return [[m / len(self.scales) for m in total] for total in maps], first


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
