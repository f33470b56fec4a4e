"""BlazePose, multi-person: mediapipe's person detector and full-body landmark network run
top-down by our TFLite executor, with seeding steps that find more than the main subject.

Per image: person seeds (rotated square regions, ROIs) come from the detector on the whole
image (`detect`) and on overlapping tiles (`tiles`), from the multi-face detector (`faces`), and
from any box source (`boxes`). Each ROI is cropped to 256 x 256 and run through the landmark
network in one batch; people whose pose-presence score passes are kept. `refine` runs the
landmark network again on the ROI each person's own landmarks give (mediapipe's tracking ROI),
and `redetect` masks the people found (their segmentation) and runs the detector again, for as
many rounds as it finds someone new. Duplicates (alike by OKS, or one's segmentation mostly
inside another's) are merged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import cv2
import numpy as np
import torch

from multipose.box_sources import BoxSource
from multipose.codecs.blazepose import (
    COCO_LANDMARKS,
    FACE_DETECTOR,
    POSE_DETECTOR,
    BlazePoseCodec,
    decode_detections,
    roi_transforms,
    rois_from_alignment,
    ssd_anchors,
)
from multipose.codecs.numba_start import start_numba
from multipose.errors import MultiposeError
from multipose.geometry import apply, invert
from multipose.models.blazepose import BlazePoseNetworks
from multipose.pipelines.base import one_by_one
from multipose.pipelines.blazepose_regions import (
    box_rois,
    distinct_rois,
    mask_shape,
    mask_to_image,
    masked,
    new_rois,
    tiles,
    to_image,
    warp,
    whole,
)
from multipose.pipelines.network import network_of
from multipose.poses import Poses
from multipose.preprocess import describe_crops
from multipose.similarity import oks as keypoint_similarity
from multipose.skeleton import COCO17
from multipose.threads import network_threads

if TYPE_CHECKING:
    from multipose.specs import ModelSpec

STEPS = ("detect", "tiles", "faces", "refine", "redetect")
# Crops per forward pass: in PyTorch 4 (larger batches ran slower per crop on a 2-core CPU); in
# onnxruntime one per thread, at most 4 (the landmark network on one thread: 14.9 ms per crop one
# at a time, 17.2 in fours; on two: 11.5 one at a time, 9.4 in pairs, 9.5 in fours); in OpenVINO
# OPENVINO_BATCH (bfloat16 on two threads: 5.9 ms per crop one at a time, 4.9 in fours, 4.8 in
# sixteens; and each call starts with the weights out of the cache: in the pipeline 9.0 ms).
BATCH = 4
OPENVINO_BATCH = 16
# The auxiliary alignment landmarks: hip centre, full-body size/rotation point.
ALIGNMENT_LANDMARKS = (33, 34)


class Landmarks(NamedTuple):
    """The landmark network's findings in N crops: `points` (N, 39, 5: x, y in image pixels,
    visibility, presence, heatmap peak; 33 and 34 the alignment points), pose `presence` (N,)
    and segmentation `masks` of the image at 1/MASK_STRIDE (N, h, w)."""

    points: np.ndarray
    presence: np.ndarray
    masks: np.ndarray

    @classmethod
    def none(cls, mask_shape: tuple[int, int]) -> Landmarks:
        """No crops' findings (masks of `mask_shape`)."""
        return cls(np.zeros((0, 39, 5), np.float32), np.zeros(0), np.zeros((0, *mask_shape), bool))

    def select(self, index: np.ndarray) -> Landmarks:
        """Those of the crops `index` picks (a mask or indices)."""
        return Landmarks(self.points[index], self.presence[index], self.masks[index])

    def joined(self, other: Landmarks) -> Landmarks:
        """These, then `other`'s."""
        return Landmarks(*(np.concatenate(pair) for pair in zip(self, other, strict=True)))

    def rois(self) -> np.ndarray:
        """The ROIs (N, 4) of their alignment landmarks, where to look for them next."""
        return rois_from_alignment(*(self.points[:, i, :2] for i in ALIGNMENT_LANDMARKS))

    def where(self, use: np.ndarray, other: Landmarks) -> Landmarks:
        """`other`'s for the crops `use` marks, these for the rest."""
        pick = [
            np.where(use.reshape(-1, *[1] * (a.ndim - 1)), b, a)
            for a, b in zip(self, other, strict=True)
        ]
        return Landmarks(*pick)


@dataclass(frozen=True)
class Settings:
    """detection_score: the person detector's threshold; face_score: the face detector's;
    presence: the landmark network's pose-presence threshold (seed_presence: before the refine
    step); duplicate_oks: people more alike than this are one, as is a person whose
    segmentation lies more than `duplicate_mask` inside a better one's; redetect_rounds: the
    most rounds of masked re-detection; tile_fractions: the sides of the tiles, as fractions
    of the image's longer side; min_score: people scoring less (pose presence x mean heatmap
    peak) are dropped at the end (on coco-mini-train, 0.2 to 0.4 keep AP 0.177 and AR while
    dropping 17-44% of the people found, none matching a labelled one: 0.3)."""

    detection_score: float = 0.5
    face_score: float = 0.5
    presence: float = 0.5
    seed_presence: float = 0.1
    duplicate_oks: float = 0.5
    duplicate_mask: float = 0.5
    redetect_rounds: int = 3
    tile_fractions: tuple[float, ...] = (0.45,)
    min_score: float = 0.3


class BlazePosePipeline:
    """Callable on an RGB uint8 image (and its dataset id, for box sources that need one);
    returns people in the BlazePose-33 layout, in image pixels. `steps` picks the seeding and
    refinement steps (see the module docstring); `timing` holds the last call's milliseconds in
    the networks and in decoding. The networks run in PyTorch or, with backend "onnxruntime",
    as their ONNX exports on the CPU (exported here, once). Person boxes and `rois` (a callable
    giving (N, 4) ROIs: centre x, y, side, rotation), if given, are extra seeds. It runs at one
    scale, without the flip test."""

    needs_boxes: ClassVar[bool] = False

    def __init__(
        self,
        spec: ModelSpec,
        networks: BlazePoseNetworks,
        device: str = "cpu",
        scales: Sequence[float] = (1.0,),
        codec: BlazePoseCodec | None = None,
        boxes: BoxSource | None = None,
        backend: str = "auto",
        flip: bool = False,
        steps: Iterable[str] = STEPS,
        settings: Settings | None = None,
        rois: Callable[[np.ndarray, int | None], np.ndarray] | None = None,
    ) -> None:
        steps = tuple(steps)
        unknown = set(steps) - set(STEPS)
        if unknown:
            raise MultiposeError(f"unknown BlazePose steps {sorted(unknown)}; known: {STEPS}")
        if flip or tuple(scales) != (1.0,):
            raise MultiposeError(f"{spec.name} runs at one scale, without the flip test")
        self.spec, self.steps, self.boxes, self.rois = spec, steps, boxes, rois
        self.codec = codec or spec.codec()
        self.networks = {
            name: network_of(getattr(networks, name), device, backend, dynamic_size=False)
            for name in BlazePoseNetworks.FILES
        }
        self.settings = settings or Settings()
        self.pose_anchors = ssd_anchors(POSE_DETECTOR["input"], POSE_DETECTOR["strides"])
        self.face_anchors = ssd_anchors(FACE_DETECTOR["input"], FACE_DETECTOR["strides"], 1)
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}
        self._network_s = 0.0
        self.found = Landmarks.none((0, 0))  # the landmarks of the last call's people
        start_numba()  # for the crops' kernel (`warp`), not in the first call

    describe_input = staticmethod(describe_crops)

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        """The people of each image, one after the other (crops are batched within an image);
        `timing` adds up over the images."""
        return one_by_one(self, images, image_ids)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        start, self._network_s = time.perf_counter(), 0.0
        height, width = image.shape[:2]
        regions = [whole(image)] if "detect" in self.steps else []
        if "tiles" in self.steps:
            for fraction in self.settings.tile_fractions:
                regions += tiles(width, height, fraction)
        seeds = [self._detect(image, regions) if regions else np.zeros((0, 4))]
        if "faces" in self.steps:
            seeds.append(self._face_seeds(image))
        if self.boxes is not None:
            seeds.append(box_rois(self.boxes(image, image_id).boxes))
        if self.rois is not None:
            seeds.append(self.rois(image, image_id))
        found = self._people(image, np.concatenate(seeds))
        for _ in range(self.settings.redetect_rounds if "redetect" in self.steps else 0):
            people = self._poses(found)
            rois = new_rois(self._detect(masked(image, found.masks), [whole(image)]), people)
            if not len(rois):
                break
            more = self._people(image, rois)
            if not len(more.presence):
                break
            found = found.joined(more)
            found = found.select(_distinct_people(self._poses(found), found.masks, self.settings))
        people = self._poses(found)
        kept = people.scores >= self.settings.min_score
        self.found = found.select(kept)
        self.timing = {
            "network_ms": 1000 * self._network_s,
            "decode_ms": 1000 * (time.perf_counter() - start - self._network_s),
        }
        return people[kept]

    # -- networks -------------------------------------------------------------------------

    def _run(self, name: str, crops: np.ndarray) -> tuple[np.ndarray, ...]:
        """The outputs (NumPy) of the network `name` on (N, h, w, 3) float32 crops, in batches
        (see BATCH; channels-last: a third faster for these depthwise networks on a CPU)."""
        start, network = time.perf_counter(), self.networks[name]
        step = {"torch": BATCH, "openvino": OPENVINO_BATCH}.get(
            network.backend, min(BATCH, network_threads())
        )
        parts = []
        for first in range(0, len(crops), step):
            batch = torch.from_numpy(crops[first : first + step]).permute(0, 3, 1, 2)
            parts.append(network(batch.contiguous(memory_format=torch.channels_last)))
        outputs = tuple(np.concatenate(o) for o in zip(*parts, strict=True))
        self._network_s += time.perf_counter() - start
        return outputs

    def _detect(self, image: np.ndarray, regions: list[tuple[float, float, float]]) -> np.ndarray:
        """Person ROIs from the detector on square regions (centre x, centre y, side) of the
        image, black outside it."""
        size = POSE_DETECTOR["input"]
        rois = np.array([(x, y, s, 0.0) for x, y, s in regions])
        transforms = roi_transforms(rois, size)
        crops = warp(image, transforms, size, cv2.BORDER_CONSTANT) * 2 - 1
        raw, logits = self._run("detector", crops)
        found = []
        for one_raw, one_logits, transform in zip(raw, logits, transforms, strict=True):
            _, points, _ = decode_detections(
                one_raw, one_logits, self.pose_anchors, size, self.settings.detection_score
            )
            if len(points):
                points = to_image(points[:, :2] * size - 0.5, transform)
                found.append(rois_from_alignment(points[:, 0], points[:, 1]))
        return np.concatenate(found) if found else np.zeros((0, 4))

    def _face_seeds(self, image: np.ndarray) -> np.ndarray:
        """Person ROIs guessed from faces: the body below each face, upright along the face's
        eye-to-mouth axis, sized by the face; the refine step corrects them."""
        size = FACE_DETECTOR["input"]
        transform = roi_transforms(np.array([(*whole(image), 0.0)]), size)
        crops = warp(image, transform, size, cv2.BORDER_CONSTANT) * 2 - 1
        raw, logits = self._run("faces", crops)
        boxes, points, _ = decode_detections(
            raw[0], logits[0], self.face_anchors, size, self.settings.face_score
        )
        if not len(boxes):
            return np.zeros((0, 4))
        points = to_image(points * size - 0.5, transform[0])
        face_size = (boxes[:, 3] - boxes[:, 1]) * size / transform[0, 0, 0]
        eyes, mouth = (points[:, 0] + points[:, 1]) / 2, points[:, 3]
        down = mouth - eyes
        down /= np.maximum(np.linalg.norm(down, axis=1, keepdims=True), 1e-6)
        hips = eyes + down * (FACE_TO_HIP * face_size)[:, None]
        top = hips - down * (HIP_TO_ALIGNMENT * face_size)[:, None]
        return rois_from_alignment(hips, top)

    def _people(self, image: np.ndarray, rois: np.ndarray) -> Landmarks:
        """The landmarks of the people found in the ROIs (refined, duplicates merged)."""
        rois = distinct_rois(rois)
        if not len(rois):
            return Landmarks.none(mask_shape(image))
        found = self._landmarks(image, rois)
        if "refine" in self.steps:
            found = found.select(found.presence >= self.settings.seed_presence)
            found = found.select(_distinct_people(self._poses(found), found.masks, self.settings))
            if len(found.presence):
                better = self._landmarks(image, found.rois())
                found = found.where(better.presence >= found.presence, better)
        found = found.select(found.presence >= self.settings.presence)
        return found.select(_distinct_people(self._poses(found), found.masks, self.settings))

    def _poses(self, found: Landmarks) -> Poses:
        """The people of `found` landmarks."""
        return self.codec.poses(found.points, found.presence)

    def _landmarks(self, image: np.ndarray, rois: np.ndarray) -> Landmarks:
        """The landmark network's findings in the ROIs."""
        side = self.codec.input_size[0]
        transforms = roi_transforms(rois, side)
        crops = warp(image, transforms, side, cv2.BORDER_REPLICATE)
        outputs = self._run("landmarks", crops)
        landmarks, presence = self.codec.landmarks(outputs)
        landmarks[..., :2] = apply(invert(transforms), landmarks[..., :2])
        segmentation = outputs[2]
        shape = mask_shape(image)
        masks = np.array(
            [
                mask_to_image(mask[0], transform, shape)
                for mask, transform in zip(segmentation, transforms, strict=True)
            ]
        )
        return Landmarks(landmarks, presence, masks.reshape(len(rois), *shape))


# Face seeds, in face-box heights: eyes to hip centre, and hip centre to the full-body
# alignment point (medians over 18 people of coco-mini train and val whose refined landmarks
# put the nose in a detected face; quartiles 3.2-4.6 and 4.2-5.5).
FACE_TO_HIP = 4.0
HIP_TO_ALIGNMENT = 5.0


def oks(a: Poses, b: Poses) -> np.ndarray:
    """(len(a), len(b)) object keypoint similarity on the COCO keypoints, scaled by the
    area of the second people's keypoint boxes."""
    boxes = b.keypoint_boxes()
    area = np.maximum(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), 1.0)
    return keypoint_similarity(
        a.keypoints[:, COCO_LANDMARKS, :2], b.keypoints[:, COCO_LANDMARKS, :2], area, COCO17.sigmas
    )


def _distinct_people(people: Poses, masks: np.ndarray, settings: Settings) -> np.ndarray:
    """Indices of the people, best first, without any that is too alike to a better one: OKS
    above `duplicate_oks` either way, or a segmentation lying mostly (`duplicate_mask`) inside
    the better one's."""
    if not len(people):
        return np.zeros(0, int)
    order = np.argsort(-people.scores, kind="stable")
    similar = oks(people, people)
    flat = masks.reshape(len(masks), -1).astype(np.float32)
    areas = np.maximum(flat.sum(1), 1.0)
    overlap = (flat @ flat.T) / areas[:, None]  # share of row i's mask inside column j's
    kept: list[int] = []
    for i in order:
        if all(
            max(similar[i, j], similar[j, i]) <= settings.duplicate_oks
            and overlap[i, j] <= settings.duplicate_mask
            for j in kept
        ):
            kept.append(i)
    return np.array(kept, int)
