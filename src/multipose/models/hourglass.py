"""Stacked hourglass network for Associative Embedding (Newell et al., NIPS 2017), laid out as
the released pose-ae-train model: a stride-4 stem, `stacks` hourglasses of depth 4 whose lower
levels widen by `increase` channels, and after each stack a 1x1 output of heatmaps and tags
(the released model has 68 output channels: 17 heatmaps, 17 tags, 34 unused) merged back into
the next stack's input (intermediate supervision).

Input: (N, 3, H, W) RGB, pixel / 255. Output: per stack (heatmaps (N, 17, H/4, W/4), tags).
"""

from __future__ import annotations

import torch
from torch import nn

JOINTS = 17


class Conv(nn.Module):
    """Convolution with "same" padding, then ReLU, then (optionally) batch norm."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        stride: int = 1,
        bn: bool = False,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2)
        self.relu = nn.ReLU() if relu else None
        self.bn = nn.BatchNorm2d(cout) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = self.relu(x) if self.relu is not None else x
        return self.bn(x) if self.bn is not None else x


class Hourglass(nn.Module):
    def __init__(self, depth: int, channels: int, bn: bool, increase: int) -> None:
        super().__init__()
        lower = channels + increase
        self.up1 = Conv(channels, channels, bn=bn)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.low1 = Conv(channels, lower, bn=bn)
        self.low2 = (
            Hourglass(depth - 1, lower, bn, increase) if depth > 1 else Conv(lower, lower, bn=bn)
        )
        self.low3 = Conv(lower, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(self.pool1(x))))
        return self.up1(x) + nn.functional.interpolate(low, size=x.shape[2:], mode="nearest")


class Merge(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = Conv(cin, cout, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class HourglassAE(nn.Module):
    def __init__(
        self,
        stacks: int = 4,
        channels: int = 256,
        outputs: int = 68,
        bn: bool = False,
        increase: int = 128,
    ) -> None:
        super().__init__()
        self.pre = nn.Sequential(
            Conv(3, 64, 7, 2, bn=bn),
            Conv(64, 128, bn=bn),
            nn.MaxPool2d(2, 2),
            Conv(128, 128, bn=bn),
            Conv(128, channels, bn=bn),
        )
        self.features = nn.ModuleList(
            nn.Sequential(
                Hourglass(4, channels, bn, increase),
                Conv(channels, channels),
                Conv(channels, channels),
            )
            for _ in range(stacks)
        )
        self.outs = nn.ModuleList(Conv(channels, outputs, 1, relu=False) for _ in range(stacks))
        self.merge_features = nn.ModuleList(Merge(channels, channels) for _ in range(stacks - 1))
        self.merge_preds = nn.ModuleList(Merge(outputs, channels) for _ in range(stacks - 1))

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x = self.pre(x)
        results = []
        for i, (features_of, out_of) in enumerate(zip(self.features, self.outs, strict=True)):
            features = features_of(x)
            out = out_of(features)
            results.append((out[:, :JOINTS], out[:, JOINTS : 2 * JOINTS]))
            if i < len(self.merge_preds):
                x = x + self.merge_preds[i](out) + self.merge_features[i](features)
        return results
