"""Keypoint layouts (COCO-17, OpenPose COCO-18, BODY_25, CrowdPose-14, BlazePose-33) and
conversions between them.

Layouts share one vocabulary of keypoint names, so converting is a matter of names: a keypoint
present in both layouts is copied, `neck` and `mid_hip` are derived as the midpoint of their two
parents when both are found, and anything else is zero (not found).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from multipose.errors import MultiposeError

# Keypoints that a layout may derive from two others when it does not have them itself.
DERIVED = {
    "neck": ("left_shoulder", "right_shoulder"),
    "mid_hip": ("left_hip", "right_hip"),
}


# Drawing colours (RGB) by side of the body: the person's left, right, and the midline.
LEFT_COLOR, RIGHT_COLOR, MIDDLE_COLOR = (255, 140, 0), (30, 144, 255), (50, 205, 50)


def _side_color(*names: str) -> tuple[int, int, int]:
    """Left colour if every named keypoint is on the left, right likewise, else the midline's."""
    if all(n.startswith("left_") for n in names):
        return LEFT_COLOR
    if all(n.startswith("right_") for n in names):
        return RIGHT_COLOR
    return MIDDLE_COLOR


@dataclass(frozen=True)
class Layout:
    """A set of named keypoints with the limbs that join them and their left/right pairs."""

    name: str
    keypoints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] | None = None  # OKS sigmas where the layout has a standard
    limb_colors: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)
    keypoint_colors: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.limb_colors:
            colors = tuple(_side_color(self.keypoints[a], self.keypoints[b]) for a, b in self.limbs)
            object.__setattr__(self, "limb_colors", colors)
        if not self.keypoint_colors:
            colors = tuple(_side_color(name) for name in self.keypoints)
            object.__setattr__(self, "keypoint_colors", colors)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def index(self, name: str) -> int:
        return self.keypoints.index(name)

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation that maps each keypoint to its mirror image (itself on the midline)."""
        perm = np.arange(self.num_keypoints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


# fmt: off
COCO17 = Layout(
    name="coco17",
    keypoints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    limbs=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
        (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
        0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
    ),
)

COCO18 = Layout(
    name="coco18",
    keypoints=(
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
        "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle",
        "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
    ),
    # OpenPose's drawing order; the redundant shoulder-ear links are not drawn.
    limbs=(
        (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
        (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
    ),
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
)

BODY25 = Layout(
    name="body25",
    keypoints=(
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
        "left_shoulder", "left_elbow", "left_wrist", "mid_hip",
        "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "right_eye", "left_eye", "right_ear", "left_ear",
        "left_big_toe", "left_small_toe", "left_heel",
        "right_big_toe", "right_small_toe", "right_heel",
    ),
    limbs=(
        (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
        (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
        (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
    ),
    flip_pairs=(
        (2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18),
        (19, 22), (20, 23), (21, 24),
    ),
)

CROWDPOSE14 = Layout(
    name="crowdpose14",
    keypoints=(
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle", "head_top", "neck",
    ),
    limbs=(
        (12, 13), (13, 0), (13, 1), (0, 2), (2, 4), (1, 3), (3, 5),
        (0, 6), (1, 7), (6, 7), (6, 8), (8, 10), (7, 9), (9, 11),
    ),
    flip_pairs=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)),
    sigmas=(
        0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
        0.087, 0.087, 0.089, 0.089, 0.079, 0.079,
    ),
)

BLAZEPOSE33 = Layout(
    name="blazepose33",
    keypoints=(
        "nose", "left_eye_inner", "left_eye", "left_eye_outer",
        "right_eye_inner", "right_eye", "right_eye_outer", "left_ear", "right_ear",
        "left_mouth", "right_mouth", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
        "left_heel", "right_heel", "left_foot_index", "right_foot_index",
    ),
    limbs=(
        (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
        (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
        (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
        (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
        (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
    ),
    flip_pairs=(
        (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18),
        (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
    ),
)

# fmt: on

LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (COCO17, COCO18, BODY25, CROWDPOSE14, BLAZEPOSE33)
}


def get_layout(layout: str | Layout) -> Layout:
    """The layout named (`coco17`, `coco18`, `body25`, `crowdpose14`, `blazepose33`), or the
    one given."""
    if isinstance(layout, Layout):
        return layout
    key = layout.lower().replace("-", "").replace("_", "")
    if key not in LAYOUTS:
        raise MultiposeError(f"unknown keypoint layout {layout!r}; known: {', '.join(LAYOUTS)}")
    return LAYOUTS[key]


def layout_for_count(num_keypoints: int) -> Layout:
    """The layout with that many keypoints (17, 18, 25, 14 or 33)."""
    for layout in LAYOUTS.values():
        if layout.num_keypoints == num_keypoints:
            return layout
    counts = ", ".join(str(lay.num_keypoints) for lay in LAYOUTS.values())
    raise MultiposeError(f"no keypoint layout has {num_keypoints} keypoints (known: {counts})")


def convert_keypoints(
    keypoints: np.ndarray, source: str | Layout, target: str | Layout
) -> np.ndarray:
    """Convert `(..., K, 3)` keypoints (x, y, score; score 0 = not found) between layouts."""
    source, target = get_layout(source), get_layout(target)
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.shape[-2:] != (source.num_keypoints, 3):
        raise MultiposeError(
            f"keypoints of shape {keypoints.shape} do not fit layout {source.name} "
            f"(expected (..., {source.num_keypoints}, 3))"
        )
    if source is target:
        return keypoints.copy()
    out = np.zeros((*keypoints.shape[:-2], target.num_keypoints, 3), dtype=np.float32)
    for j, name in enumerate(target.keypoints):
        if name in source.keypoints:
            out[..., j, :] = keypoints[..., source.index(name), :]
        elif name in DERIVED and all(p in source.keypoints for p in DERIVED[name]):
            a, b = (keypoints[..., source.index(p), :] for p in DERIVED[name])
            found = (a[..., 2] > 0) & (b[..., 2] > 0)
            out[..., j, :2] = np.where(found[..., None], (a[..., :2] + b[..., :2]) / 2, 0)
            out[..., j, 2] = np.where(found, np.minimum(a[..., 2], b[..., 2]), 0)
    return out
