"""TensorFlow's conventions that its models' weights assume, for our executors and modules:
SAME padding (the odd extra pixel after) and TF1's legacy bilinear resize."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """SAME padding of one axis: (before, after), the odd pixel after. (`size` is made an
    int: traced for ONNX, a tensor's size is a tensor, and the export keeps fixed pads.)"""
    size = int(size)
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def same_pads(
    x: torch.Tensor,
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int] = (1, 1),
) -> tuple[int, int, int, int]:
    """SAME padding of an NCHW tensor's height and width, in `F.pad`'s order (left, right,
    top, bottom)."""
    (top, bottom), (left, right) = (
        same_padding(size, k, s, d)
        for size, k, s, d in zip(x.shape[2:], kernel, stride, dilation, strict=True)
    )
    return left, right, top, bottom


def legacy_resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """TF1's bilinear resize without aligned corners or half-pixel centres: destination pixel
    d reads source position d * in / out."""
    out = x
    for axis, target in ((2, size[0]), (3, size[1])):
        source = out.shape[axis]
        position = torch.arange(target, dtype=x.dtype, device=x.device) * (source / target)
        low = position.floor().long().clamp(max=source - 1)
        high = (low + 1).clamp(max=source - 1)
        frac = (position - low).view([-1 if d == axis else 1 for d in range(4)])
        out = out.index_select(axis, low) * (1 - frac) + out.index_select(axis, high) * frac
    return out
