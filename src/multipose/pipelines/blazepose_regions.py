"""BlazePose's regions: the square regions the detector looks at (the whole image, tiles),
person ROIs from boxes, crops, people's segmentation masks at 1/MASK_STRIDE of the image, and
the image with the people found painted over (for re-detection)."""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit

from multipose.codecs.blazepose import rois_from_alignment
from multipose.geometry import invert, suppress
from multipose.poses import Poses

MASK_STRIDE = 4


def whole(image: np.ndarray) -> tuple[float, float, float]:
    """The square region (centre x, centre y, side) holding the whole image, centred."""
    height, width = image.shape[:2]
    return (width / 2 - 0.5, height / 2 - 0.5, max(width, height))


def tiles(width: int, height: int, fraction: float) -> list[tuple[float, float, float]]:
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


def warp(image: np.ndarray, transforms: np.ndarray, side: int, border: int) -> np.ndarray:
    """(N, side, side, 3) float32 crops in [0, 1], black outside the image (`border`
    cv2.BORDER_CONSTANT) or its edge pixels repeated (cv2.BORDER_REPLICATE), sampled
    bilinearly at the exact positions: OpenCV's warp rounds them to 1/32 pixel and its output
    to uint8, so that a ROI moved by float noise (another thread count) could move the crop by
    a step, and the landmarks by pixels."""
    crops = np.empty((len(transforms), side, side, 3), np.float32)
    replicate = border == cv2.BORDER_REPLICATE
    _bilinear_crops(np.ascontiguousarray(image), invert(transforms), replicate, crops)
    return crops


@njit(cache=True, nogil=True)
def _bilinear_crops(
    image: np.ndarray, sampling: np.ndarray, replicate: bool, crops: np.ndarray
) -> None:
    """Fill `crops` (N, side, side, 3) with the uint8 RGB `image` sampled bilinearly at each
    crop pixel's position in it (`sampling`: (N, 2, 3) crop pixels -> image pixels), / 255;
    outside the image black, or (`replicate`) the position clamped to its edge."""
    height, width = image.shape[0], image.shape[1]
    side, scale = crops.shape[1], 1 / 255
    for n in range(crops.shape[0]):
        (a, b, c), (d, e, f) = sampling[n]
        for row in range(side):
            out = crops[n, row]
            next_x, next_y = b * row + c, e * row + f
            for col in range(side):
                x, y = next_x, next_y
                next_x, next_y = x + a, y + d
                if replicate:
                    x = min(max(x, 0.0), width - 1.0)
                    y = min(max(y, 0.0), height - 1.0)
                left, top = np.floor(x), np.floor(y)
                fx, fy = x - left, y - top
                x0, y0 = int(left), int(top)
                if 0 <= x0 < width - 1 and 0 <= y0 < height - 1:  # all four pixels inside
                    w00, w01 = (1 - fx) * (1 - fy) * scale, fx * (1 - fy) * scale
                    w10, w11 = (1 - fx) * fy * scale, fx * fy * scale
                    for ch in range(3):
                        out[col, ch] = (w00 * image[y0, x0, ch] + w01 * image[y0, x0 + 1, ch]) + (
                            w10 * image[y0 + 1, x0, ch] + w11 * image[y0 + 1, x0 + 1, ch]
                        )
                    continue
                out[col] = 0.0
                for dy in range(2):
                    for dx in range(2):
                        xx, yy = x0 + dx, y0 + dy
                        if 0 <= xx < width and 0 <= yy < height:
                            weight = (fy if dy else 1 - fy) * (fx if dx else 1 - fx) * scale
                            for ch in range(3):
                                out[col, ch] += weight * image[yy, xx, ch]


def to_image(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(N, K, 2) points of one crop back to the image."""
    inverse = invert(transform[None])[0]
    return points @ inverse[:, :2].T + inverse[:, 2]


def mask_shape(image: np.ndarray) -> tuple[int, int]:
    """People's masks are kept at 1/MASK_STRIDE of the image's size."""
    return (-(-image.shape[0] // MASK_STRIDE), -(-image.shape[1] // MASK_STRIDE))


def mask_to_image(logits: np.ndarray, transform: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A crop's segmentation as a boolean mask of the image at 1/MASK_STRIDE."""
    height, width = shape
    inside = (logits > 0).astype(np.uint8)
    to_mask = invert(transform[None])[0] / MASK_STRIDE
    to_mask[:, 2] += (1 / MASK_STRIDE - 1) / 2  # pixel centres stay pixel centres
    back = cv2.warpAffine(inside, to_mask, (width, height), flags=cv2.INTER_NEAREST)
    return back.astype(bool)


def masked(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The image with the people found painted over in its mean colour."""
    if not len(masks):
        return image
    union = cv2.dilate(masks.any(axis=0).astype(np.uint8), np.ones((5, 5), np.uint8))
    size = (image.shape[1], image.shape[0])
    union = cv2.resize(union, size, interpolation=cv2.INTER_NEAREST).astype(bool)
    out = image.copy()
    out[union] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return out


def box_rois(boxes: np.ndarray) -> np.ndarray:
    """Upright ROIs around person boxes: a square about the box centre, the alignment circle
    through its longer side."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = np.max(boxes[:, 2:] - boxes[:, :2], axis=1) / 2
    return rois_from_alignment(centre, centre - np.stack([np.zeros_like(half), half], 1))


def hip_aligned_rois(
    keypoints: np.ndarray,
    hips: tuple[int, int],
    shoulders: tuple[int, int],
    reach: float = 1.0,
) -> np.ndarray:
    """ROIs (N, 4) of people (N, K, 3) with both hips and a shoulder found, aligned as
    mediapipe aligns its own: about the hips' midpoint, turned so that the found shoulders'
    midpoint is straight above it, the alignment circle `reach` times the distance from the
    hips' midpoint to the farthest keypoint found."""
    xy, found = keypoints[..., :2].astype(np.float64), keypoints[..., 2] > 0
    centre = xy[:, list(hips)].mean(axis=1)
    weights = found[:, list(shoulders), None].astype(np.float64)
    up = (xy[:, list(shoulders)] * weights).sum(axis=1) / weights.sum(axis=1) - centre
    up /= np.maximum(np.linalg.norm(up, axis=1, keepdims=True), 1e-6)
    farthest = np.where(found, np.linalg.norm(xy - centre[:, None], axis=2), 0).max(axis=1)
    return rois_from_alignment(centre, centre + up * reach * farthest[:, None])


def _roi_boxes(rois: np.ndarray) -> np.ndarray:
    half = rois[:, 2:3] / 2
    return np.concatenate([rois[:, :2] - half, rois[:, :2] + half], axis=1)


def distinct_rois(rois: np.ndarray, overlap: float = 0.6) -> np.ndarray:
    """The ROIs, without those overlapping an earlier one by more than `overlap` IoU."""
    if not len(rois):
        return rois
    return rois[np.sort(suppress(_roi_boxes(rois), np.zeros(len(rois)), overlap))]


def new_rois(rois: np.ndarray, people: Poses) -> np.ndarray:
    """ROIs whose centre lies outside every person's keypoint box."""
    if not len(rois) or not len(people):
        return rois
    boxes = people.keypoint_boxes()
    x, y = rois[:, 0, None], rois[:, 1, None]
    inside = (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])
    return rois[~inside.any(axis=1)]
