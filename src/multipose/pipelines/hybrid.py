"""Bottom-up people as top-down seeds: a bottom-up model (or YOLO-pose: any spec whose
pipeline finds everyone in one pass) finds everyone, and BlazePose's landmark network refines
each of them.

Per image: the bottom-up pipeline's people (COCO keypoints), with those of a second pass at
input height LARGE_HEIGHT that the first missed (people too large for it), are rescored by the
mean score of their found keypoints times sqrt(found / 17); boxes around those with three or
more keypoints seed BlazePose, turned as their skeleton is (or, with `skeleton_rois`, ROIs
aligned on their skeleton as mediapipe aligns its own), beside BlazePose's own detector on the
whole image and the faces its face detector finds, which bring in close-ups the bottom-up pass
misses; one refine pass. A BlazePose person that matches a bottom-up one (OKS on the COCO
keypoints above MATCH_OKS) lends it its other landmarks (hands, feet) and its confident COCO
keypoints, averaged with the bottom-up ones where both have them and filling those the bottom-up
person lacks. Bottom-up people keep their score; BlazePose people that match none are kept at
`unmatched_weight` times their own. People come out in the BlazePose-33 layout. Seeded by
YOLO-pose (`YoloHybridPipeline`), YOLO's people are kept as they are, BlazePose adding its feet
and hands.

Tuned on coco-mini-train2017 (bench/hybrid_tuning.py, bench/hybrid.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from multipose.box_sources import BoxSource
from multipose.codecs.blazepose import COCO_LANDMARKS
from multipose.geometry import pose_boxes
from multipose.pipelines.base import one_by_one
from multipose.pipelines.blazepose import STEPS as BLAZEPOSE_STEPS
from multipose.pipelines.blazepose import BlazePosePipeline, Settings
from multipose.pipelines.blazepose_regions import box_rois, hip_aligned_rois
from multipose.poses import Poses
from multipose.preprocess import describe_parts
from multipose.similarity import oks
from multipose.skeleton import BLAZEPOSE33, COCO17

if TYPE_CHECKING:
    from multipose.specs import ModelSpec

MATCH_OKS = 0.3  # a BlazePose person this alike to a bottom-up one is that person
CONFIDENT = 0.5  # BlazePose keypoints of at least this visibility are used
UNMATCHED_WEIGHT = 0.3  # score factor of BlazePose people that match no bottom-up one
MIN_SEED_KEYPOINTS = 3
# Skeleton-aligned seeds' circle, in farthest keypoints from the hip centre (the head's top and
# the feet lie beyond the nose and ankles). On coco-mini-train2017: AP 0.297 at 1.0, 0.305 at
# 1.1, 0.294 at 1.25; box seeds 0.290 (bench/results/hybrid_tuning_train2017.md).
REACH = 1.1
# BlazePose's steps beside the seeds. On coco-mini-train2017 (AP): detect+refine 0.292, with
# faces 0.295 for 11% more BlazePose time; tiles and re-detection added 0.003 for twice it.
STEPS = ("detect", "faces", "refine")
# A second bottom-up pass at this input height finds people too large for the first
# (close-ups, bodies cut off by the frame: the thin network at its height of 496 sees no one in
# some); its people that are none of the first's join them, their keypoint scores times
# LARGE_WEIGHT. Chosen on coco-mini-train2017 (recall of large people / AP; without: 13/17,
# 0.295): height 200 14/17, 0.282 at full weight, 0.294 at 0.3, 0.295 at 0.6; at 0.6, heights
# 184 / 192 / 208 / 216 / 224 / 248: 13 / 14 / 13 / 13 / 13 / 13 of 17, AP 0.293-0.298. Then
# on coco-mini-val2017 (bench/results/hybrid.md; without: 18/23, 0.342): 20/23, 0.353, and at
# 184-216 18-19/23, AP 0.350-0.358.
LARGE_HEIGHT = 200
LARGE_WEIGHT = 0.6


class HybridNetworks(nn.Module):
    """The bottom-up network and BlazePose's networks."""

    def __init__(self, bottom_up: nn.Module, blazepose: nn.Module) -> None:
        super().__init__()
        self.bottom_up, self.blazepose = bottom_up, blazepose


class HybridPipeline:
    """Callable on an RGB uint8 image (and its dataset id, for box sources that need one);
    returns people in the BlazePose-33 layout, in image pixels. The spec's `parts` are the
    bottom-up spec and BlazePose's; `scales`, `flip` and `backend` go to the bottom-up pass,
    `boxes` (if any) are extra BlazePose seeds. `timing` adds up both passes."""

    needs_boxes: ClassVar[bool] = False
    rescore: ClassVar[bool] = True  # first-part people scored by their keypoints
    average: ClassVar[bool] = True  # COCO keypoints of both averaged where both have them
    unmatched_weight: ClassVar[float] = UNMATCHED_WEIGHT
    steps: ClassVar[tuple[str, ...]] = STEPS  # BlazePose's, beside the seeds
    # Seeds aligned on the skeleton (`skeleton_rois`), else boxes: +0.015 AP on train, but
    # -0.001 on val and -0.10 on mmpose-tests/coco (leaning skiers), so not the default
    # (bench/results/hybrid_tuning_train2017.md, hybrid.md).
    skeleton_rois: ClassVar[bool] = False
    reach: ClassVar[float] = REACH
    # Box seeds turned as the skeleton is (hip centre to shoulders), their centre and size kept
    # (BlazePose's landmark network expects the body upright in its crop): AP on
    # coco-mini-train2017 0.290 -> 0.295 (bench/results/hybrid_tuning_train2017.md).
    turned_boxes: ClassVar[bool] = True
    large_height: ClassVar[int | None] = LARGE_HEIGHT  # the second bottom-up pass (None: none)

    def __init__(
        self,
        spec: ModelSpec,
        network: HybridNetworks,
        device: str = "cpu",
        scales: Sequence[float] = (1.0,),
        codec: object | None = None,
        boxes: BoxSource | None = None,
        backend: str = "auto",
        flip: bool = False,
    ) -> None:
        bottom_up_spec, blazepose_spec = spec.parts
        self.spec, self.boxes = spec, boxes
        self.bottom_up = bottom_up_spec.pipeline(
            bottom_up_spec, network.bottom_up, device, scales, backend=backend, flip=flip
        )
        self.blazepose = BlazePosePipeline(
            blazepose_spec,
            network.blazepose,
            device,
            boxes=boxes,
            backend=backend,
            steps=self.steps,
            settings=Settings(min_score=0.0),
            rois=self._seeds,
        )
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}
        self._found: Poses = Poses.empty(COCO17)

    describe_input = staticmethod(describe_parts)

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        """The people of each image, one after the other; `timing` adds up over them."""
        return one_by_one(self, images, image_ids)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        found = self.bottom_up(image).convert(COCO17)
        first = dict(self.bottom_up.timing)
        if self.large_height:
            start = time.perf_counter()
            maps, base = self.bottom_up.maps(image, self.large_height)
            middle = time.perf_counter()
            found = Poses.concatenate([found, self._large_people(maps, base, found)])
            first["network_ms"] += 1000 * (middle - start)
            first["decode_ms"] += 1000 * (time.perf_counter() - middle)
        self._found = rescored(found) if self.rescore else found
        refined = self.blazepose(image, image_id)
        self.timing = {key: first[key] + self.blazepose.timing[key] for key in first}
        return fuse(self._found, refined, self.average, self.unmatched_weight)

    def _large_people(self, maps: list[np.ndarray], base: float, found: Poses) -> Poses:
        """The people of the bottom-up pass at input height `large_height` (its `maps`, and
        `base` the factor from the image to its input) that are none of those `found` at its
        own (OKS at the new person's scale at most MATCH_OKS), their keypoint scores times
        LARGE_WEIGHT (COCO-17)."""
        people = self.bottom_up.codec.decode(maps).resized(1 / base).convert(COCO17)
        if len(found) and len(people):
            similar = oks(
                found.keypoints[..., :2], people.keypoints[..., :2], _areas(people), COCO17.sigmas
            )
            people = people[similar.max(axis=0) <= MATCH_OKS]
        keypoints = people.keypoints.copy()
        keypoints[..., 2] *= LARGE_WEIGHT
        return Poses(keypoints, people.scores * LARGE_WEIGHT, COCO17)

    def _seeds(self, image: np.ndarray, image_id: int | None = None) -> np.ndarray:
        """BlazePose ROIs from the bottom-up people of this image."""
        people = self._found.filter(min_keypoints=MIN_SEED_KEYPOINTS)
        if self.skeleton_rois:
            return skeleton_rois(people, self.reach)
        rois = box_rois(pose_boxes(people).boxes)
        if self.turned_boxes and len(rois):
            rois[:, 3] = skeleton_rois(people, self.reach)[:, 3]
        return rois


def skeleton_rois(people: Poses, reach: float = REACH) -> np.ndarray:
    """BlazePose ROIs (N, 4) from COCO-17 people, aligned as mediapipe aligns its own: about
    the hip centre, turned so that the shoulders' centre is straight above it, the alignment
    circle `reach` times the farthest keypoint's distance from the hip centre. People without
    both hips and a shoulder get the upright square around their keypoints (`box_rois`)."""
    rois = box_rois(pose_boxes(people).boxes)
    found = people.keypoints[..., 2] > 0
    use = found[:, 11] & found[:, 12] & found[:, 5:7].any(axis=1)
    if use.any():
        rois[use] = hip_aligned_rois(people.keypoints[use], (11, 12), (5, 6), reach)
    return rois


def rescored(people: Poses) -> Poses:
    """People scored by the mean score of their found keypoints times sqrt(found / K)."""
    scores = people.keypoints[..., 2]
    found = (scores > 0).sum(axis=1)
    mean = scores.sum(axis=1) / np.maximum(found, 1)
    return Poses(people.keypoints, mean * np.sqrt(found / scores.shape[1]), people.layout)


class ThoroughHybridPipeline(HybridPipeline):
    """The hybrid with all of BlazePose's seeding steps (tiles and masked re-detection too):
    more people found for about 30% more time (bench/results/hybrid.md)."""

    steps = BLAZEPOSE_STEPS


class YoloHybridPipeline(HybridPipeline):
    """The hybrid seeded by YOLO-pose, whose people are kept as they are (their score and
    COCO keypoints: BlazePose's are less accurate, and averaging or rescoring them cost AP on
    coco-mini-train2017, 0.463 and 0.318 against 0.481 for YOLO's alone; per-keypoint
    errors in bench/results/yolo_pose.md); BlazePose adds its other landmarks (feet, hands) to
    them, and the people YOLO missed at 0.1 of their score."""

    rescore = False
    average = False
    unmatched_weight = 0.1
    turned_boxes = False  # as it was tuned (turned seeds measured for the thin hybrid only)
    large_height = None  # YOLO-pose finds large people itself


def fuse(
    bottom_up: Poses,
    blazepose: Poses,
    average: bool = True,
    unmatched_weight: float = UNMATCHED_WEIGHT,
) -> Poses:
    """Bottom-up people (COCO-17) and BlazePose people (BlazePose-33) as one set of people in
    the BlazePose-33 layout (see the module docstring; with `average` False the bottom-up
    keypoints are kept where they are found)."""
    people = bottom_up.convert(BLAZEPOSE33)
    keypoints = people.keypoints.copy()
    unmatched = np.ones(len(blazepose), bool)
    if len(bottom_up) and len(blazepose):
        coco = blazepose.keypoints[:, COCO_LANDMARKS]
        similar = oks(coco[..., :2], bottom_up.keypoints[..., :2], _areas(bottom_up), COCO17.sigmas)
        unmatched = similar.max(axis=1) <= MATCH_OKS
        for person in range(len(bottom_up)):
            best = int(similar[:, person].argmax())
            if similar[best, person] > MATCH_OKS:
                keypoints[person] = _merged(keypoints[person], blazepose.keypoints[best], average)
    extra = blazepose[unmatched]
    return Poses.concatenate(
        [
            Poses(keypoints, people.scores, BLAZEPOSE33),
            Poses(extra.keypoints, extra.scores * unmatched_weight, BLAZEPOSE33),
        ]
    )


def _areas(people: Poses) -> np.ndarray:
    """Areas of people for OKS, as COCO's segmentation areas: 0.53 of their keypoint box's."""
    tight = people.keypoint_boxes()
    return np.maximum(np.prod(tight[:, 2:] - tight[:, :2], axis=1), 1.0) * 0.53


def _merged(ours: np.ndarray, theirs: np.ndarray, average: bool = True) -> np.ndarray:
    """One person's keypoints (33, 3): BlazePose's where it is confident and ours has none,
    the two averaged where both have them (with `average`; else ours)."""
    confident = theirs[:, 2] >= CONFIDENT
    have = ours[:, 2] > 0
    out = ours.copy()
    if average:
        both = confident & have
        out[both, :2] = (ours[both, :2] + theirs[both, :2]) / 2
    out[confident & ~have] = theirs[confident & ~have]
    return out
