"""TensorFlow's conventions that its models' weights assume, for our executors and modules:
SAME padding (the odd extra pixel after), convolutions padded unevenly, and TF1's legacy
bilinear resize."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


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


def padded_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Sequence[int],
    pads: Sequence[int],
    dilation: Sequence[int] = (1, 1),
    groups: int = 1,
) -> torch.Tensor:
    """`F.conv2d` of `x` zero-padded by `pads` = (left, right, top, bottom), which may be
    uneven (SAME padding at stride 2). Exported to ONNX it is one Conv with those pads, not a
    Pad and a Conv: onnxruntime fuses neither, and converts the layout to and from its blocked
    one around every Pad."""
    left, right, top, bottom = pads
    if left == right and top == bottom:
        return F.conv2d(x, weight, bias, stride, (top, left), dilation, groups)
    if torch.onnx.is_in_onnx_export():
        return _PaddedConv.apply(
            x, weight, bias, tuple(stride), tuple(pads), tuple(dilation), groups
        )
    return F.conv2d(F.pad(x, tuple(pads)), weight, bias, stride, 0, dilation, groups)


class _PaddedConv(torch.autograd.Function):
    """The padded convolution as the ONNX exporter sees it (used only there)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, pads, dilation, groups):
        return F.conv2d(F.pad(x, pads), weight, bias, stride, 0, dilation, groups)

    @staticmethod
    def symbolic(g, x, weight, bias, stride, pads, dilation, groups):
        left, right, top, bottom = pads
        inputs = (x, weight) if bias is None else (x, weight, bias)
        return g.op(
            "Conv",
            *inputs,
            strides_i=list(stride),
            pads_i=[top, left, bottom, right],
            dilations_i=list(dilation),
            group_i=groups,
        )


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
