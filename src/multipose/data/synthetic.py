"""Synthetic scenes: crowds of COCO-17 people in plausible, varied poses, reproducible by seed.

Each person is a 2D projection of a simple articulated body: a leaning torso, a head turned
through a random yaw (a profile narrows the shoulders, a back view hides the face), arms and
legs at random joint angles within human ranges, a small whole-body tilt and a height drawn
around what the crowd's density allows. People are placed by rejection sampling so that no two
boxes overlap by more than `max_iou`. Keypoints carry COCO visibility flags: 2 visible,
1 occluded (at random, or inside the box of someone nearer the camera), 0 not labelled (at
random, outside the image, or a face turned away).

Scenes are the workload of decoder tests and benchmarks; `render` draws a simple picture of one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from multipose.poses import Poses
from multipose.skeleton import COCO17

# Indices of COCO-17 keypoints used below.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16
FACE = [NOSE, L_EYE, R_EYE]

# Body proportions as fractions of the person's height.
TORSO, SHOULDER_HALF, HIP_HALF, NECK_TO_NOSE = 0.30, 0.11, 0.07, 0.09
UPPER_ARM, FOREARM, THIGH, SHIN = 0.17, 0.15, 0.25, 0.25
HEAD_TOP, HEAD_RADIUS = 0.08, 0.06  # above the nose; drawn head size


@dataclass
class Scene:
    """People in an image of `width` x `height`: COCO-17 `keypoints` (N, 17, 3) as x, y, v
    with COCO visibility flags (x = y = 0 where v = 0), the true positions of all keypoints
    `points` (N, 17, 2), boxes (N, 4) as x0, y0, x1, y1, and the draw order (back to front)."""

    width: int
    height: int
    keypoints: np.ndarray
    points: np.ndarray
    boxes: np.ndarray
    depth_order: np.ndarray
    colors: np.ndarray

    def __len__(self) -> int:
        return len(self.keypoints)

    @property
    def poses(self) -> Poses:
        """The labelled keypoints as ground-truth `Poses` (score 1 where labelled)."""
        kp = self.keypoints.copy()
        kp[..., 2] = kp[..., 2] > 0
        return Poses(kp, np.ones(len(kp), np.float32), COCO17, self.boxes.copy())

    def coco_annotations(self, image_id: int, first_id: int = 1) -> list[dict]:
        """The people as COCO person annotations (area = half the box, as a silhouette)."""
        anns = []
        for i, (kp, box) in enumerate(zip(self.keypoints, self.boxes, strict=True)):
            x0, y0, x1, y1 = (float(v) for v in box)
            kp = kp.copy()
            kp[kp[:, 2] == 0] = 0
            anns.append(
                {
                    "id": first_id + i,
                    "image_id": image_id,
                    "category_id": 1,
                    "iscrowd": 0,
                    "keypoints": [round(float(v), 2) for v in kp.ravel()],
                    "num_keypoints": int((kp[:, 2] > 0).sum()),
                    "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                    "area": round(0.5 * (x1 - x0) * (y1 - y0), 2),
                    "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]],
                }
            )
        return anns

    def render(self, seed: int = 0) -> np.ndarray:
        """An RGB picture of the scene: people as filled stick figures, back to front, on a
        textured background. Every keypoint is drawn, labelled or not."""
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        base = rng.uniform(60, 200, size=3)
        slope = rng.uniform(-40, 40, size=3)
        image = base + slope * (xx / self.width)[..., None] + 20 * np.sin(yy / 23.0)[..., None]
        image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
        for n in self.depth_order:
            kp = self.points[n]
            h = self.boxes[n, 3] - self.boxes[n, 1]
            color = tuple(int(c) for c in self.colors[n])
            skin = (224, 172, 140)
            width = max(2, int(0.06 * h))
            torso = kp[[L_SHO, R_SHO, R_HIP, L_HIP]].astype(np.int32)
            cv2.fillConvexPoly(image, torso, color, cv2.LINE_AA)
            for a, b in COCO17.limbs:
                if a in FACE or b in FACE or (a, b) in ((L_EAR, L_SHO), (R_EAR, R_SHO)):
                    continue
                pa, pb = kp[a].astype(int), kp[b].astype(int)
                cv2.line(image, tuple(pa), tuple(pb), color, width, cv2.LINE_AA)
            centre = tuple(((kp[L_EAR] + kp[R_EAR]) / 2).astype(int))
            cv2.circle(image, centre, max(2, int(HEAD_RADIUS * h)), skin, -1, cv2.LINE_AA)
        return image


def make_scene(
    num_people: int,
    width: int = 512,
    height: int = 512,
    seed: int | np.random.Generator = 0,
    height_range: tuple[float, float] | None = None,
    max_iou: float = 0.3,
    p_occluded: float = 0.1,
    p_missing: float = 0.05,
) -> Scene:
    """A scene of `num_people` people.

    height_range: people's heights in pixels; by default around what the crowd's density
        allows (sqrt(image area / people)), within the image.
    max_iou: the most that any two people's boxes may overlap; people that cannot be placed
        after many tries are shrunk until they fit.
    p_occluded, p_missing: per-keypoint probabilities of the flags 1 and 0.
    """
    rng = np.random.default_rng(seed)
    if height_range is None:
        typical = float(np.clip(1.1 * np.sqrt(width * height / max(num_people, 1)), 24, None))
        limit = 0.9 * min(width, height)
        height_range = (min(0.7 * typical, 0.6 * limit), min(1.3 * typical, limit))
    heights = rng.uniform(*height_range, size=num_people)
    unit = _body_poses(num_people, rng)
    keypoints = np.zeros((num_people, 17, 3), np.float32)
    boxes = np.zeros((num_people, 4), np.float32)
    for n in range(num_people):
        keypoints[n, :, :2], boxes[n] = _place(
            unit[n], heights[n], boxes[:n], width, height, max_iou, rng
        )
    flags = _visibility(unit, keypoints, boxes, width, height, p_occluded, p_missing, rng)
    points = keypoints[..., :2].copy()
    keypoints[..., 2] = flags
    keypoints[flags == 0, :2] = 0
    depth_order = np.argsort(boxes[:, 3], kind="stable")  # lower in the image = nearer
    colors = rng.integers(30, 230, size=(num_people, 3))
    return Scene(width, height, keypoints, points, boxes, depth_order, colors)


def _body_poses(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 17, 3) keypoints of people 1 unit tall with mid-hips at the origin (x, y, and the
    body's yaw in the last column, kept for the visibility rules; yaw 0 faces the camera)."""
    u = rng.uniform
    yaw = u(0, 2 * np.pi, n)
    c, s = np.cos(yaw), np.sin(yaw)
    kp = np.zeros((n, 17, 2))

    def direction(angle: np.ndarray) -> np.ndarray:  # angle 0 points down (+y)
        return np.stack([np.sin(angle), np.cos(angle)], axis=-1)

    torso_angle = np.pi + rng.normal(0, 0.12, n)
    neck = TORSO * direction(torso_angle)
    head_angle = torso_angle + rng.normal(0, 0.15, n)
    nose = neck + NECK_TO_NOSE * direction(head_angle)
    for side, (sho, elb, wri, hip, kne, ank, eye, ear) in (
        (1, (L_SHO, L_ELB, L_WRI, L_HIP, L_KNE, L_ANK, L_EYE, L_EAR)),
        (-1, (R_SHO, R_ELB, R_WRI, R_HIP, R_KNE, R_ANK, R_EYE, R_EAR)),
    ):
        kp[:, sho] = neck + np.array([side * SHOULDER_HALF, 0.02])
        upper = u(-0.3, 2.8, n)
        kp[:, elb] = kp[:, sho] + UPPER_ARM * direction(side * upper)
        kp[:, wri] = kp[:, elb] + FOREARM * direction(side * (upper + u(-1.2, 2.2, n)))
        kp[:, hip] = [side * HIP_HALF, 0.0]
        thigh = u(-0.3, 0.8, n)
        kp[:, kne] = kp[:, hip] + THIGH * direction(side * thigh)
        kp[:, ank] = kp[:, kne] + SHIN * direction(side * (thigh + u(-1.2, 0.3, n)))
        kp[:, eye] = nose + np.array([side * 0.025, -0.025])
        kp[:, ear] = nose + np.array([side * 0.055, -0.01])
    kp[:, NOSE] = nose
    # Project the lateral axis through the yaw; the face sticks out towards the camera side.
    kp[..., 0] *= c[:, None]
    kp[:, [NOSE, L_EYE, R_EYE], 0] += 0.04 * s[:, None]
    tilt = rng.normal(0, 0.12, n)
    rot = np.stack([np.cos(tilt), -np.sin(tilt), np.sin(tilt), np.cos(tilt)], -1).reshape(n, 2, 2)
    kp = np.einsum("nij,nkj->nki", rot, kp)
    return np.concatenate([kp, np.broadcast_to(yaw[:, None, None], (n, 17, 1))], axis=-1)


def _box(points: np.ndarray, person_height: float) -> np.ndarray:
    """The person's box: the keypoints' extent, with room for the head and the limbs' width."""
    pad = 0.04 * person_height
    x0, y0 = points.min(axis=0) - [pad, HEAD_TOP * person_height]
    x1, y1 = points.max(axis=0) + pad
    return np.array([x0, y0, x1, y1])


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (area + areas - inter)


def _place(
    unit: np.ndarray,
    person_height: float,
    placed: np.ndarray,
    width: int,
    height: int,
    max_iou: float,
    rng: np.random.Generator,
    tries: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale a unit pose and move it inside the image where it overlaps no placed box by
    more than `max_iou`, shrinking it when no such place is found."""
    while True:
        points = unit[:, :2] * person_height
        box = _box(points, person_height)
        size = box[2:] - box[:2]
        room = np.array([width, height]) - size
        if (room > 0).all():
            offsets = rng.uniform(0, 1, size=(tries, 2)) * room - box[:2]
            for offset in offsets:
                moved = box + np.tile(offset, 2)
                if not len(placed) or _iou(moved, placed).max() <= max_iou:
                    return points + offset, moved
        person_height *= 0.9


def _visibility(
    unit: np.ndarray,
    keypoints: np.ndarray,
    boxes: np.ndarray,
    width: int,
    height: int,
    p_occluded: float,
    p_missing: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """COCO visibility flags (N, 17): 2 visible, 1 occluded, 0 not labelled."""
    n = len(keypoints)
    flags = np.full((n, 17), 2, dtype=np.float32)
    # Keypoints inside the box of someone nearer the camera (lower box bottom) are occluded.
    x, y = keypoints[..., 0], keypoints[..., 1]
    inside = (
        (x[:, :, None] >= boxes[None, None, :, 0])
        & (x[:, :, None] <= boxes[None, None, :, 2])
        & (y[:, :, None] >= boxes[None, None, :, 1])
        & (y[:, :, None] <= boxes[None, None, :, 3])
    )  # (person, joint, other)
    nearer = boxes[None, :, 3] > boxes[:, None, 3]  # (person, other)
    flags[(inside & nearer[:, None, :]).any(axis=2)] = 1
    flags[rng.uniform(size=(n, 17)) < p_occluded] = 1
    # A face turned away from the camera is not labelled; nor are far ears in profile.
    yaw = unit[:, 0, 2]
    cos_yaw, sin_yaw = np.cos(yaw), np.sin(yaw)
    flags[cos_yaw < -0.3, :3] = 0
    profile = np.abs(cos_yaw) < 0.3
    flags[profile & (sin_yaw > 0), L_EAR] = 0
    flags[profile & (sin_yaw < 0), R_EAR] = 0
    flags[rng.uniform(size=(n, 17)) < p_missing] = 0
    outside = (x < 0) | (y < 0) | (x > width - 1) | (y > height - 1)
    flags[outside] = 0
    return flags


def make_dataset(
    num_images: int,
    num_people: int | tuple[int, int] = (1, 10),
    width: int = 512,
    height: int = 512,
    seed: int = 0,
    **scene_options: float,
) -> tuple[dict, list[Scene]]:
    """A COCO keypoint dataset of synthetic scenes (images named `synthetic_%06d.png`) and
    the scenes themselves. `num_people` is a count or an inclusive range per image."""
    rng = np.random.default_rng(seed)
    lo, hi = (num_people, num_people) if isinstance(num_people, int) else num_people
    images, annotations, scenes = [], [], []
    for image_id in range(1, num_images + 1):
        scene = make_scene(int(rng.integers(lo, hi + 1)), width, height, rng, **scene_options)
        scenes.append(scene)
        images.append(
            {
                "id": image_id,
                "file_name": f"synthetic_{image_id:06d}.png",
                "width": width,
                "height": height,
            }
        )
        annotations.extend(scene.coco_annotations(image_id, first_id=len(annotations) + 1))
    categories = [
        {
            "id": 1,
            "name": "person",
            "supercategory": "person",
            "keypoints": list(COCO17.keypoints),
            "skeleton": [[a + 1, b + 1] for a, b in COCO17.limbs],
        }
    ]
    data = {"images": images, "annotations": annotations, "categories": categories}
    return data, scenes
