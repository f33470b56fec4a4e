"""Top-down inference (SimpleBaseline, HRNet): person boxes from a box source, one affine crop
per person, one batch of crops through the network, each crop's person decoded by the codec
and mapped back to the image through the crop's inverse transform."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from multipose.codecs import Codec
from multipose.geometry import apply, box_regions, check_boxes, crop_transforms, invert, warp_crops
from multipose.pipelines.base import MapPipeline, check_image
from multipose.poses import Poses
from multipose.preprocess import describe_crops, normalise


class TopDownPipeline(MapPipeline):
    """Callable on an RGB uint8 image (H, W, 3) and its dataset id (for ground-truth or
    detection-file boxes); returns the people in image pixels, one per usable box. `batch`
    sends the crops of all its images through the network at once."""

    needs_boxes: ClassVar[bool] = True

    describe_input = staticmethod(describe_crops)

    @torch.inference_mode()
    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        for image in images:
            check_image(image)
        image_ids = list(image_ids) if image_ids is not None else [None] * len(images)
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
            return [Poses.empty(self.codec.layout) for _ in images]
        batch = torch.stack([normalise(crop, self.spec.input) for crop in crops])
        heatmaps = self._maps(batch)[0]
        middle = time.perf_counter()
        ends = np.cumsum([len(b) for b in boxes])
        people = [
            people_from_crops(self.codec, [maps], t, s, b)
            if len(b)
            else Poses.empty(self.codec.layout)
            for maps, t, s, b in zip(
                np.split(heatmaps, ends[:-1]), transforms, scores, boxes, strict=True
            )
        ]
        self._timed(start, middle)
        return people


def people_from_crops(
    codec: Codec,
    maps: Sequence[np.ndarray],
    transforms: np.ndarray,
    box_scores: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
) -> Poses:
    """People in image pixels from the maps of their crops (one person each) and the crops'
    transforms. A person's score is the codec's times its box score."""
    people = codec.decode(maps)
    keypoints = people.keypoints.copy()
    keypoints[..., :2] = apply(invert(transforms), keypoints[..., :2])
    scores = people.scores if box_scores is None else people.scores * box_scores
    return Poses(keypoints, scores, people.layout, boxes)
