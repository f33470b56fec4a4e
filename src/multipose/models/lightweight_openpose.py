"""Lightweight OpenPose (Osokin, 2018): MobileNet-v1 to stride 8 (its last blocks dilated), a
light CPM of depthwise convolutions, an initial stage and refinement stage(s) of residual
blocks with a dilated convolution, each with heatmap (19) and PAF (38) heads. Module names
follow the released checkpoint's.

Input: (N, 3, H, W) BGR, (pixel - 128) / 256. Output: per stage (heatmaps, PAFs) at stride 8.
"""

from __future__ import annotations

import torch
from torch import nn

HEATMAPS, PAFS = 19, 38


def conv(
    cin: int,
    cout: int,
    kernel: int = 3,
    padding: int = 1,
    bn: bool = True,
    dilation: int = 1,
    stride: int = 1,
    relu: bool = True,
    bias: bool = True,
) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=bias)]
    layers += [nn.BatchNorm2d(cout)] if bn else []
    layers += [nn.ReLU(inplace=True)] if relu else []
    return nn.Sequential(*layers)


def depthwise_separable(
    cin: int, cout: int, stride: int = 1, dilation: int = 1, norm: bool = True
) -> nn.Sequential:
    """3x3 depthwise + 1x1 pointwise, each followed by batch norm and ReLU (or, without norm,
    by ELU, as in the CPM)."""
    act = nn.ReLU if norm else nn.ELU
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, dilation, dilation=dilation, groups=cin, bias=False),
        *([nn.BatchNorm2d(cin)] if norm else []),
        act(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False),
        *([nn.BatchNorm2d(cout)] if norm else []),
        act(inplace=True),
    )


class Cpm(nn.Module):
    def __init__(self, cin: int, channels: int) -> None:
        super().__init__()
        self.align = conv(cin, channels, 1, 0, bn=False)
        self.trunk = nn.Sequential(
            *(depthwise_separable(channels, channels, norm=False) for _ in range(3))
        )
        self.conv = conv(channels, channels, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.align(x)
        return self.conv(x + self.trunk(x))


def heads(cin: int, hidden: int) -> tuple[nn.Sequential, nn.Sequential]:
    return tuple(
        nn.Sequential(
            conv(cin, hidden, 1, 0, bn=False), conv(hidden, out, 1, 0, bn=False, relu=False)
        )
        for out in (HEATMAPS, PAFS)
    )


class InitialStage(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*(conv(channels, channels, bn=False) for _ in range(3)))
        self.heatmaps, self.pafs = heads(channels, 512)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return self.heatmaps(features), self.pafs(features)


class RefinementBlock(nn.Module):
    def __init__(self, cin: int, channels: int) -> None:
        super().__init__()
        self.initial = conv(cin, channels, 1, 0, bn=False)
        self.trunk = nn.Sequential(
            conv(channels, channels), conv(channels, channels, dilation=2, padding=2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.initial(x)
        return x + self.trunk(x)


class RefinementStage(nn.Module):
    def __init__(self, cin: int, channels: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            RefinementBlock(cin, channels), *(RefinementBlock(channels, channels) for _ in range(4))
        )
        self.heatmaps, self.pafs = heads(channels, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return self.heatmaps(features), self.pafs(features)


class LightweightOpenPose(nn.Module):
    def __init__(self, refinement_stages: int = 1, channels: int = 128) -> None:
        super().__init__()
        self.model = nn.Sequential(
            conv(3, 32, stride=2, bias=False),
            depthwise_separable(32, 64),
            depthwise_separable(64, 128, stride=2),
            depthwise_separable(128, 128),
            depthwise_separable(128, 256, stride=2),
            depthwise_separable(256, 256),
            depthwise_separable(256, 512),
            depthwise_separable(512, 512, dilation=2),
            *(depthwise_separable(512, 512) for _ in range(4)),
        )
        self.cpm = Cpm(512, channels)
        self.initial_stage = InitialStage(channels)
        self.refinement_stages = nn.ModuleList(
            RefinementStage(channels + HEATMAPS + PAFS, channels) for _ in range(refinement_stages)
        )

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        features = self.cpm(self.model(x))
        outputs = [self.initial_stage(features)]
        for stage in self.refinement_stages:
            heatmaps, pafs = outputs[-1]
            outputs.append(stage(torch.cat([features, heatmaps, pafs], dim=1)))
        return outputs
