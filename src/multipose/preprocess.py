"""What a network sees: the input description of a model (`Input`) and the preprocessing that
inference and training share (resize, pad, normalise)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Input:
    """height: the height bottom-up images are resized to (aspect kept; None where the codec's
    crop size sets the input); channel order ("bgr" or "rgb"), pixel mean and std (per
    channel, in that order, on 0..255); pad_to: inputs are padded (bottom and right, with
    zeros) to a multiple of this; dynamic_size: whether an ONNX export may keep height and
    width free."""

    height: int | None = None
    channels: str = "rgb"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pad_to: int = 1
    dynamic_size: bool = True


def normalise(image: np.ndarray, input: Input) -> torch.Tensor:
    """An RGB uint8 image as the network takes it: (3, H, W) float."""
    pixels = image.astype(np.float32)
    if input.channels == "bgr":
        pixels = pixels[..., ::-1]
    pixels = (pixels - np.float32(input.mean)) / np.float32(input.std)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def resized_input(image: np.ndarray, scale: float, input: Input) -> torch.Tensor:
    """The image scaled by `scale` (bicubic), normalised and padded to a multiple of
    `input.pad_to`: a (1, 3, H, W) batch."""
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    tensor = normalise(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), input)
    extra = (-size[1] % input.pad_to, -size[0] % input.pad_to)
    if any(extra):
        tensor = F.pad(tensor, (0, extra[1], 0, extra[0]))
    return tensor[None]
