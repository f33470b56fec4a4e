"""Training augmentation: one affine matrix per sample (scale, rotation, translation, optional
horizontal flip) that takes the image, its ignore mask and its people into the network's input,
plus colour jitter. A flip also swaps left and right keypoints, so a flipped person's left wrist
is still called left wrist."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from multipose.poses import Poses


@dataclass(frozen=True)
class Augment:
    """Ranges of the random changes: scale factor, rotation in degrees (either way),
    translation as a share of the input size, flip probability, and colour jitter (brightness,
    contrast and saturation each scaled by a factor within 1 +- colour)."""

    scale: tuple[float, float] = (0.7, 1.3)
    rotation: float = 30.0
    translation: float = 0.1
    flip: float = 0.5
    colour: float = 0.2


NO_AUGMENT = Augment(scale=(1.0, 1.0), rotation=0.0, translation=0.0, flip=0.0, colour=0.0)


def fit_matrix(
    centre: np.ndarray,
    size: float,
    input_size: tuple[int, int],
    rng: np.random.Generator,
    augment: Augment = NO_AUGMENT,
) -> tuple[np.ndarray, bool]:
    """A 2x3 image-to-input matrix that puts a region of `size` pixels (its longer side)
    around `centre` into the input, randomly scaled, rotated, moved and mirrored, and whether it
    mirrors."""
    width, height = input_size
    scale = min(width, height) / size * rng.uniform(*augment.scale)
    angle = np.deg2rad(rng.uniform(-augment.rotation, augment.rotation))
    shift = rng.uniform(-augment.translation, augment.translation, 2) * [width, height]
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.array([[cos, sin], [-sin, cos]])
    target = np.array([(width - 1) / 2, (height - 1) / 2]) + shift
    matrix = np.concatenate([linear, (target - linear @ centre)[:, None]], axis=1)
    flipped = bool(rng.uniform() < augment.flip)
    if flipped:  # mirror the input: x -> width - 1 - x
        matrix = np.array([[-1.0, 0, width - 1], [0, 1, 0]]) @ np.vstack([matrix, [0, 0, 1]])
    return matrix, flipped


def warp_sample(
    image: np.ndarray,
    poses: Poses,
    ignore: np.ndarray | None,
    matrix: np.ndarray,
    flipped: bool,
    input_size: tuple[int, int],
) -> tuple[np.ndarray, Poses, np.ndarray | None]:
    """The image (bilinear, grey outside), the people (left and right swapped if `flipped`) and
    the ignore mask (nearest, not ignored outside) in the input."""
    warped = cv2.warpAffine(
        image, matrix, input_size, flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128)
    )
    people = poses.affine(matrix)
    if flipped:
        people = Poses(
            people.keypoints[:, people.layout.flip_index],
            people.scores,
            people.layout,
            people.boxes,
            people.track_ids,
        )
    if ignore is not None:
        ignore = cv2.warpAffine(
            ignore.astype(np.uint8), matrix, input_size, flags=cv2.INTER_NEAREST, borderValue=0
        ).astype(bool)
    return warped, people, ignore


def jitter_colour(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by a random factor in 1 +- amount."""
    if amount <= 0:
        return image
    out = image.astype(np.float32)
    brightness, contrast, saturation = rng.uniform(1 - amount, 1 + amount, 3)
    out *= brightness
    out = (out - out.mean()) * contrast + out.mean()
    grey = out.mean(axis=2, keepdims=True)
    out = (out - grey) * saturation + grey
    return np.clip(out, 0, 255).astype(np.uint8)
