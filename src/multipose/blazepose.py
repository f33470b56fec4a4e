"""BlazePose, multi-person: mediapipe's person detector and full-body landmark network run
top-down by our TFLite executor, with seeding steps that find more than the main subject.

Per image: person seeds (rotated square regions, ROIs) come from the detector on the whole
image, optionally on overlapping tiles (`tiles`), from the multi-face detector (`faces`), and
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
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import torch
from torch import nn

from multipose.boxes import BoxSource, suppress
from multipose.codecs.blazepose import (
    FACE_DETECTOR,
    LANDMARK_INPUT,
    POSE_DETECTOR,
    decode_detections,
    decode_landmarks,
    roi_transforms,
    rois_from_alignment,
    ssd_anchors,
)
from multipose.devices import full_precision, torch_device
from multipose.errors import MultiposeError
from multipose.models.onnx_runtime import OnnxModule
from multipose.models.tflite_network import TfliteNetwork, load_tflite
from multipose.poses import Poses
from multipose.skeleton import COCO17, get_layout
from multipose.topdown import apply, invert, warp_crops

STEPS = ("tiles", "faces", "refine", "redetect")
MASK_STRIDE = 4
BATCH = 4  # crops per forward pass; larger batches ran slower per crop on a 2-core CPU
LAYOUT = get_layout("blazepose33")
Network = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]
# BlazePose landmarks that are COCO-17 keypoints, in COCO-17 order; 33 and 34 are the
# auxiliary alignment points (hip centre, full-body size/rotation point).
COCO_LANDMARKS = np.array([LAYOUT.index(name) for name in COCO17.keypoints])
ALIGNMENT_LANDMARKS = (33, 34)


class BlazePoseNetworks(nn.Module):
    """The three TFLite networks: person detector, landmark network, multi-face detector.
    Called on person crops (N, 3, 256, 256) in [0, 1], it runs the landmark network (the
    single-person network of this top-down model) and returns its outputs as one stage."""

    FILES: ClassVar[dict[str, str]] = {
        "detector": "pose_detection.tflite",
        "landmarks": "pose_landmark_full.tflite",
        "faces": "face_detection_full_range_sparse.tflite",
    }

    def __init__(self, files: dict[str, Path]) -> None:
        super().__init__()
        self.detector = load_tflite(files[self.FILES["detector"]])
        self.landmarks = load_tflite(files[self.FILES["landmarks"]])
        self.faces = load_tflite(files[self.FILES["faces"]])

    def forward(self, crops: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        return [self.landmarks(crops)]


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


class BlazePoseEstimator:
    """Callable on an RGB uint8 image (and its dataset id, for box sources that need one);
    returns people in the BlazePose-33 layout, in image pixels. `steps` picks the seeding and
    refinement steps (see the module docstring); `timing` holds the last call's milliseconds in
    the networks and in decoding. The networks run in PyTorch or, with backend "onnxruntime",
    as their ONNX exports on the CPU (exported here, once)."""

    def __init__(
        self,
        spec,
        networks: BlazePoseNetworks,
        device: str = "cpu",
        steps: Iterable[str] = STEPS,
        boxes: BoxSource | None = None,
        settings: Settings | None = None,
        backend: str = "torch",
    ) -> None:
        steps = tuple(steps)
        unknown = set(steps) - set(STEPS)
        if unknown:
            raise MultiposeError(f"unknown BlazePose steps {sorted(unknown)}; known: {STEPS}")
        if backend not in ("torch", "onnxruntime"):
            raise MultiposeError(f"backend must be torch or onnxruntime, not {backend!r}")
        self.spec, self.steps, self.boxes = spec, steps, boxes
        self.device = torch_device(device)
        if backend == "onnxruntime" and self.device.type != "cpu":
            raise MultiposeError("the onnxruntime backend runs on the CPU: use --device cpu")
        networks = networks.to(self.device).eval()
        self.networks: dict[str, Network] = {
            name: getattr(networks, name) for name in BlazePoseNetworks.FILES
        }
        if backend == "onnxruntime":
            self.networks = {name: _exported(n) for name, n in self.networks.items()}
        self.settings = settings or Settings()
        self.pose_anchors = ssd_anchors(POSE_DETECTOR["input"], POSE_DETECTOR["strides"])
        self.face_anchors = ssd_anchors(FACE_DETECTOR["input"], FACE_DETECTOR["strides"], 1)
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}
        self._network_s = 0.0

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        """The people of each image, one after the other (crops are batched within an image);
        `timing` adds up over the images."""
        image_ids = list(image_ids) if image_ids is not None else [None] * len(images)
        people, total = [], {"network_ms": 0.0, "decode_ms": 0.0}
        for image, image_id in zip(images, image_ids, strict=True):
            people.append(self(image, image_id))
            total = {key: total[key] + self.timing[key] for key in total}
        self.timing = total
        return people

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        start, self._network_s = time.perf_counter(), 0.0
        height, width = image.shape[:2]
        regions = [_whole(image)]
        if "tiles" in self.steps:
            for fraction in self.settings.tile_fractions:
                regions += _tiles(width, height, fraction)
        seeds = [self._detect(image, regions)]
        if "faces" in self.steps:
            seeds.append(self._face_seeds(image))
        if self.boxes is not None:
            seeds.append(_box_rois(self.boxes(image, image_id).boxes))
        people, masks = self._people(image, np.concatenate(seeds))
        for _ in range(self.settings.redetect_rounds if "redetect" in self.steps else 0):
            masked = _masked(image, masks)
            rois = _new_rois(self._detect(masked, regions[:1]), people)
            if not len(rois):
                break
            found, new_masks = self._people(image, rois)
            if not len(found):
                break
            people = Poses.concatenate([people, found])
            masks = np.concatenate([masks, new_masks])
            keep = _distinct_people(people, masks, self.settings)
            people, masks = people[keep], masks[keep]
        self.timing = {
            "network_ms": 1000 * self._network_s,
            "decode_ms": 1000 * (time.perf_counter() - start - self._network_s),
        }
        return people.filter(min_score=self.settings.min_score)

    # -- networks -------------------------------------------------------------------------

    def _run(self, name: str, crops: np.ndarray) -> tuple[np.ndarray, ...]:
        """The outputs (NumPy) of the network `name` on (N, h, w, 3) float32 crops, in batches
        of at most BATCH (channels-last: a third faster for these depthwise networks on a CPU)."""
        start, network = time.perf_counter(), self.networks[name]
        parts = []
        for first in range(0, len(crops), BATCH):
            batch = torch.from_numpy(crops[first : first + BATCH]).permute(0, 3, 1, 2)
            batch = batch.to(self.device, memory_format=torch.channels_last)
            with full_precision():
                parts.append([o.float().cpu().numpy() for o in network(batch)])
        outputs = tuple(np.concatenate(o) for o in zip(*parts, strict=True))
        self._network_s += time.perf_counter() - start
        return outputs

    def _detect(self, image: np.ndarray, regions: list[tuple[float, float, float]]) -> np.ndarray:
        """Person ROIs from the detector on square regions (centre x, centre y, side) of the
        image, black outside it."""
        size = POSE_DETECTOR["input"]
        rois = np.array([(x, y, s, 0.0) for x, y, s in regions])
        transforms = roi_transforms(rois, size)
        crops = _warp(image, transforms, size, cv2.BORDER_CONSTANT) * 2 - 1
        raw, logits = self._run("detector", crops)
        found = []
        for one_raw, one_logits, transform in zip(raw, logits, transforms, strict=True):
            _, points, _ = decode_detections(
                one_raw, one_logits, self.pose_anchors, size, self.settings.detection_score
            )
            if len(points):
                points = _to_image(points[:, :2] * size - 0.5, transform)
                found.append(rois_from_alignment(points[:, 0], points[:, 1]))
        return np.concatenate(found) if found else np.zeros((0, 4))

    def _face_seeds(self, image: np.ndarray) -> np.ndarray:
        """Person ROIs guessed from faces: the body below each face, upright along the face's
        eye-to-mouth axis, sized by the face; the refine step corrects them."""
        size = FACE_DETECTOR["input"]
        transform = roi_transforms(np.array([(*_whole(image), 0.0)]), size)
        crops = _warp(image, transform, size, cv2.BORDER_CONSTANT) * 2 - 1
        raw, logits = self._run("faces", crops)
        boxes, points, _ = decode_detections(
            raw[0], logits[0], self.face_anchors, size, self.settings.face_score
        )
        if not len(boxes):
            return np.zeros((0, 4))
        points = _to_image(points * size - 0.5, transform[0])
        face_size = (boxes[:, 3] - boxes[:, 1]) * size / transform[0, 0, 0]
        eyes, mouth = (points[:, 0] + points[:, 1]) / 2, points[:, 3]
        down = mouth - eyes
        down /= np.maximum(np.linalg.norm(down, axis=1, keepdims=True), 1e-6)
        hips = eyes + down * (FACE_TO_HIP * face_size)[:, None]
        top = hips - down * (HIP_TO_ALIGNMENT * face_size)[:, None]
        return rois_from_alignment(hips, top)

    def _people(self, image: np.ndarray, rois: np.ndarray) -> tuple[Poses, np.ndarray]:
        """People found in the ROIs (refined, duplicates merged) and their masks."""
        rois = _distinct(rois)
        if not len(rois):
            return Poses.empty(LAYOUT), np.zeros((0, *_mask_shape(image)), bool)
        landmarks, presence, masks = self._landmarks(image, rois)
        if "refine" in self.steps:
            keep = presence >= self.settings.seed_presence
            landmarks, presence, masks = landmarks[keep], presence[keep], masks[keep]
            keep = _distinct_people(_poses(landmarks, presence), masks, self.settings)
            landmarks, presence, masks = landmarks[keep], presence[keep], masks[keep]
            if len(landmarks):
                again = rois_from_alignment(*(landmarks[:, i, :2] for i in ALIGNMENT_LANDMARKS))
                better, better_presence, better_masks = self._landmarks(image, again)
                use = better_presence >= presence
                landmarks[use], presence[use], masks[use] = (
                    better[use],
                    better_presence[use],
                    better_masks[use],
                )
        keep = presence >= self.settings.presence
        landmarks, presence, masks = landmarks[keep], presence[keep], masks[keep]
        people = _poses(landmarks, presence)
        keep = _distinct_people(people, masks, self.settings)
        return people[keep], masks[keep]

    def _landmarks(
        self, image: np.ndarray, rois: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Landmarks (N, 39, 5: x, y in image pixels, visibility, presence, heatmap peak),
        pose presence (N,) and segmentation masks of the image at 1/MASK_STRIDE (N, h, w) for
        the ROIs."""
        transforms = roi_transforms(rois, LANDMARK_INPUT)
        crops = _warp(image, transforms, LANDMARK_INPUT, cv2.BORDER_REPLICATE)
        raw, presence, segmentation, heatmaps, _ = self._run("landmarks", crops)
        landmarks = decode_landmarks(raw, heatmaps)
        peaks = _heatmap_peaks(landmarks[..., :2], heatmaps)
        landmarks = np.concatenate([landmarks, peaks[..., None]], axis=2)
        landmarks[..., :2] = apply(invert(transforms), landmarks[..., :2])
        shape = _mask_shape(image)
        masks = np.array(
            [
                _mask_to_image(mask[0], transform, shape)
                for mask, transform in zip(segmentation, transforms, strict=True)
            ]
        )
        return landmarks, presence.reshape(-1), masks.reshape(len(rois), *shape)


# Face seeds, in face-box heights: eyes to hip centre, and hip centre to the full-body
# alignment point (medians over 18 people of coco-mini train and val whose refined landmarks
# put the nose in a detected face; quartiles 3.2-4.6 and 4.2-5.5).
FACE_TO_HIP = 4.0
HIP_TO_ALIGNMENT = 5.0


def _exported(network: TfliteNetwork) -> OnnxModule:
    """The network exported to ONNX at its fixed input size (any batch), for onnxruntime."""
    _, height, width, channels = network.model.tensors[network.model.inputs[0]].shape
    return OnnxModule(network, (1, channels, height, width))


def _whole(image: np.ndarray) -> tuple[float, float, float]:
    """The square region (centre x, centre y, side) holding the whole image, centred."""
    height, width = image.shape[:2]
    return (width / 2 - 0.5, height / 2 - 0.5, max(width, height))


def _tiles(width: int, height: int, fraction: float) -> list[tuple[float, float, float]]:
    """Overlapping square tiles of side `fraction` of the image's longer side, covering it."""
    side = fraction * max(width, height)
    tiles = []
    for_x = _positions(width, side)
    for y in _positions(height, side):
        tiles += [(x, y, side) for x in for_x]
    return tiles


def _positions(length: int, side: float) -> list[float]:
    """Centres of tiles of `side` covering [0, length) with at least a third overlap."""
    if side >= length:
        return [length / 2 - 0.5]
    count = int(np.ceil((length - side) / (side * 2 / 3))) + 1
    return list(np.linspace(side / 2, length - side / 2, count) - 0.5)


def _warp(image: np.ndarray, transforms: np.ndarray, side: int, border: int) -> np.ndarray:
    """(N, side, side, 3) float32 crops in [0, 1]."""
    return warp_crops(image, transforms, (side, side), border) / np.float32(255)


def _to_image(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(N, K, 2) points of one crop back to the image."""
    inverse = invert(transform[None])[0]
    return points @ inverse[:, :2].T + inverse[:, 2]


def _mask_shape(image: np.ndarray) -> tuple[int, int]:
    """People's masks are kept at 1/MASK_STRIDE of the image's size."""
    return (-(-image.shape[0] // MASK_STRIDE), -(-image.shape[1] // MASK_STRIDE))


def _mask_to_image(logits: np.ndarray, transform: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A crop's segmentation as a boolean mask of the image at 1/MASK_STRIDE."""
    height, width = shape
    inside = (logits > 0).astype(np.uint8)
    to_mask = invert(transform[None])[0] / MASK_STRIDE
    to_mask[:, 2] += (1 / MASK_STRIDE - 1) / 2  # pixel centres stay pixel centres
    back = cv2.warpAffine(inside, to_mask, (width, height), flags=cv2.INTER_NEAREST)
    return back.astype(bool)


def _masked(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The image with the people found painted over in its mean colour."""
    if not len(masks):
        return image
    union = cv2.dilate(masks.any(axis=0).astype(np.uint8), np.ones((5, 5), np.uint8))
    size = (image.shape[1], image.shape[0])
    union = cv2.resize(union, size, interpolation=cv2.INTER_NEAREST).astype(bool)
    out = image.copy()
    out[union] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return out


def _box_rois(boxes: np.ndarray) -> np.ndarray:
    """Upright ROIs around person boxes: a square about the box centre, the alignment circle
    through its longer side."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = np.max(boxes[:, 2:] - boxes[:, :2], axis=1) / 2
    return rois_from_alignment(centre, centre - np.stack([np.zeros_like(half), half], 1))


def _roi_boxes(rois: np.ndarray) -> np.ndarray:
    half = rois[:, 2:3] / 2
    return np.concatenate([rois[:, :2] - half, rois[:, :2] + half], axis=1)


def _distinct(rois: np.ndarray, overlap: float = 0.6) -> np.ndarray:
    """The ROIs, without those overlapping an earlier one by more than `overlap` IoU."""
    if not len(rois):
        return rois
    return rois[np.sort(suppress(_roi_boxes(rois), np.zeros(len(rois)), overlap))]


def _new_rois(rois: np.ndarray, people: Poses) -> np.ndarray:
    """ROIs whose centre lies outside every person's keypoint box."""
    if not len(rois) or not len(people):
        return rois
    boxes = people.keypoint_boxes()
    x, y = rois[:, 0, None], rois[:, 1, None]
    inside = (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])
    return rois[~inside.any(axis=1)]


def _heatmap_peaks(xy: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """(N, L) confidence of the landmark heatmaps (N, L, h, w; logits) at the landmarks (N, L,
    2; crop pixels): the sigmoid of the highest logit in the 3 x 3 cells about each landmark's
    cell (landmarks outside the crop take its nearest border cell)."""
    n, joints, h, w = heatmaps.shape
    cells = np.floor((xy + 0.5) / LANDMARK_INPUT * [w, h]).astype(int)  # (N, L, 2)
    best = np.full((n, joints), -np.inf, np.float32)
    people, landmarks = np.arange(n)[:, None], np.arange(joints)[None]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            col = np.clip(cells[..., 0] + dx, 0, w - 1)
            row = np.clip(cells[..., 1] + dy, 0, h - 1)
            best = np.maximum(best, heatmaps[people, landmarks, row, col])
    return 1 / (1 + np.exp(-best.astype(np.float64)))


def _poses(landmarks: np.ndarray, presence: np.ndarray) -> Poses:
    """Poses of the 33 landmarks: keypoint score = visibility; person score = pose presence
    times the mean heatmap peak of the COCO keypoints. (The heatmap ranks people: on coco-mini
    train it tells true people, OKS >= 0.5, from false ones with an AUC of 0.94, presence alone
    0.90, presence times mean visibility 0.85; confident false people have flat heatmaps.)"""
    keypoints = landmarks[:, : LAYOUT.num_keypoints, :3].astype(np.float32)
    scores = presence * landmarks[:, COCO_LANDMARKS, 4].mean(axis=1) if len(keypoints) else []
    return Poses(keypoints, scores, LAYOUT)


def oks(a: Poses, b: Poses) -> np.ndarray:
    """(len(a), len(b)) object keypoint similarity on the COCO keypoints, scaled by the
    area of the second people's keypoint boxes."""
    pa = a.keypoints[:, COCO_LANDMARKS, :2].astype(np.float64)
    pb = b.keypoints[:, COCO_LANDMARKS, :2].astype(np.float64)
    boxes = b.keypoint_boxes()
    area = np.maximum(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), 1.0)
    k2 = (2 * np.array(COCO17.sigmas)) ** 2
    d2 = ((pa[:, None] - pb[None]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * area[None, :, None] * k2)).mean(-1)


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
