"""OpenPose on a MobileNetV2 (width 0.5) backbone, as tf-pose-estimation's `mobilenet_v2_small`.

The backbone is cut after its 13th block (stride 16); that output is resized to the stride-8
feature of block 6 and concatenated with it (64 channels). Six OpenPose stages follow, each of
two branches (PAFs, 38 channels, and heatmaps, 19) of five depthwise-separable convolutions;
stage n > 1 reads concat(previous PAFs, previous heatmaps, features).

Three details reproduce the TensorFlow original exactly:
- convolutions pad like TF's SAME (the odd extra pixel of a strided convolution goes to the
  bottom and right);
- the upsampling is TF1's legacy bilinear resize (source = destination * in / out);
- the backbone's batch norms were frozen in training mode, so they normalise with the
  statistics of the input itself. TensorFlow takes them over the whole batch, which makes an
  image's output depend on the rest of its batch; `norm_over="image"` (the default) takes them
  per image, as the reference ran them one image at a time; `norm_over="batch"` is TF's way.

Input: float (N, 3, H, W), BGR, 0..255. Output: per stage, (heatmaps (N, 19, H/8, W/8),
PAFs (N, 38, H/8, W/8)), sizes rounded up.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multipose.models.cpm import two_branch_stages
from multipose.runtime.tf_conventions import legacy_resize, same_pads

# (expanded channels or 0 for none, output channels, stride) of the 13 backbone blocks.
BLOCKS = (
    (0, 8, 1),
    (48, 16, 2),
    (96, 16, 1),
    (96, 16, 2),
    (96, 16, 1),
    (96, 16, 1),
    (96, 32, 2),
    (192, 32, 1),
    (192, 32, 1),
    (192, 32, 1),
    (192, 48, 1),
    (288, 48, 1),
    (288, 48, 1),
)
STEM_CHANNELS = 16
FEATURE_BLOCK = 5  # the stride-8 feature: output of block 6 (index 5)
STAGES = 6
HEATMAPS, PAFS = 19, 38


class SamePadConv(nn.Conv2d):
    """A convolution padded like TensorFlow's SAME: symmetric for stride 1, and for a strided
    one the odd extra pixel at the bottom and right."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False
    ) -> None:
        padding = kernel // 2 if stride == 1 else 0
        super().__init__(cin, cout, kernel, stride, padding, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):
            return super().forward(x)
        return super().forward(F.pad(x, same_pads(x, self.kernel_size, self.stride)))


class InputNorm(nn.Module):
    """Batch norm frozen in training mode: normalised by the statistics of the input itself
    (per image, or over the batch), then scaled and shifted."""

    def __init__(self, channels: int, over: str = "image", eps: float = 1e-3) -> None:
        super().__init__()
        if over not in ("image", "batch"):
            raise ValueError(f"norm_over must be 'image' or 'batch', not {over!r}")
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.per_image = over == "image"
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_image:
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        return F.batch_norm(x, None, None, self.weight, self.bias, training=True, eps=self.eps)


class ConvNorm(nn.Sequential):
    """SAME convolution (depthwise when `groups` = channels) + input-statistics norm + ReLU6."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int, groups: int, relu: bool, over: str
    ) -> None:
        layers = [SamePadConv(cin, cout, kernel, stride, groups=groups), InputNorm(cout, over)]
        super().__init__(*layers, *([nn.ReLU6()] if relu else []))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, expanded: int, cout: int, stride: int, over: str) -> None:
        super().__init__()
        hidden = expanded or cin
        self.expand = ConvNorm(cin, hidden, 1, 1, 1, True, over) if expanded else nn.Identity()
        self.depthwise = ConvNorm(hidden, hidden, 3, stride, hidden, True, over)
        self.project = ConvNorm(hidden, cout, 1, 1, 1, False, over)
        self.residual = stride == 1 and cin == cout and expanded > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class Backbone(nn.Module):
    """MobileNetV2 (width 0.5) to stride 16, returning concat(stride-8 feature, the stride-16
    output resized to it)."""

    def __init__(self, over: str = "image") -> None:
        super().__init__()
        self.stem = ConvNorm(3, STEM_CHANNELS, 3, 2, 1, True, over)
        blocks, cin = [], STEM_CHANNELS
        for expanded, cout, stride in BLOCKS:
            blocks.append(InvertedResidual(cin, expanded, cout, stride, over))
            cin = cout
        self.blocks = nn.ModuleList(blocks)

    @property
    def out_channels(self) -> int:
        return BLOCKS[FEATURE_BLOCK][1] + BLOCKS[-1][1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == FEATURE_BLOCK:
                feature = x
        return torch.cat([feature, legacy_resize(x, feature.shape[2:])], dim=1)


class Separable(nn.Sequential):
    """Depthwise convolution, then a pointwise one with a bias (its batch norm folded in),
    then ReLU unless last."""

    def __init__(self, cin: int, cout: int, kernel: int, relu: bool) -> None:
        layers = [SamePadConv(cin, cin, kernel, groups=cin), nn.Conv2d(cin, cout, 1)]
        super().__init__(*layers, *([nn.ReLU()] if relu else []))


def branch(cin: int, cout: int, first_stage: bool) -> nn.Sequential:
    widths = [cin, 64, 64, 64, 256 if first_stage else 64, cout]
    kernels = [3, 3, 3, 1, 1]
    return nn.Sequential(
        *(Separable(widths[i], widths[i + 1], kernels[i], relu=i < 4) for i in range(5))
    )


class OpenPoseMobileNetV2(nn.Module):
    def __init__(self, norm_over: str = "image") -> None:
        super().__init__()
        self.backbone = Backbone(norm_over)
        features = self.backbone.out_channels
        self.paf_branches = nn.ModuleList()
        self.heatmap_branches = nn.ModuleList()
        for stage in range(STAGES):
            cin = features if stage == 0 else features + PAFS + HEATMAPS
            self.paf_branches.append(branch(cin, PAFS, stage == 0))
            self.heatmap_branches.append(branch(cin, HEATMAPS, stage == 0))

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return two_branch_stages(self.backbone(x), self.paf_branches, self.heatmap_branches)
