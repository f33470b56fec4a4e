"""HRNet-W32 (Sun et al., CVPR 2019) and HigherHRNet-W32 (Cheng et al., CVPR 2020).

The backbone keeps a stride-4 branch from start to end and adds branches at strides 8, 16 and
32 in three stages; modules exchange information between branches at every step (fuse layers:
1x1 convolution + upsampling from coarser branches, strided 3x3 convolutions from finer ones).
Module names follow the released checkpoints (`conv1`, `layer1`, `transition1`, `stage2`...).

- `HRNet`: top-down; a 1x1 `final_layer` on the stride-4 branch: K heatmaps (64x48 for a
  256x192 crop). Input RGB, ImageNet-normalised. Output: [(heatmaps,)].
- `HigherHRNet`: bottom-up Associative Embedding; `final_layers.0` gives K heatmaps + K tags at
  stride 4; a transposed convolution over concat(features, those maps) and four residual
  blocks go to stride 2, where `final_layers.1` gives K heatmaps. Output: [(heatmaps, tags at
  stride 4, heatmaps at stride 2)].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multipose.models.simplebaseline import Bottleneck

# (modules, channels per branch) of stages 2, 3 and 4 of the W32 network.
STAGES = ((1, (32, 64)), (4, (32, 64, 128)), (3, (32, 64, 128, 256)))
BLOCKS_PER_BRANCH = 4


class BasicBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(x + self.bn2(self.conv2(y)))


def conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU(inplace=True)] if relu else []))


class Fuse(nn.Sequential):
    """From branch j to branch i: upsample coarser (1x1 conv + BN, then nearest to the size),
    or downsample finer by i - j strided 3x3 convolutions (ReLU between them)."""

    def __init__(self, channels: tuple[int, ...], i: int, j: int) -> None:
        if j > i:
            layers = list(conv_bn(channels[j], channels[i], 1, 1, relu=False))
        else:
            layers = [conv_bn(channels[j], channels[j], 3, 2, relu=True) for _ in range(i - j - 1)]
            layers.append(conv_bn(channels[j], channels[i], 3, 2, relu=False))
        super().__init__(*layers)
        self.upsample = j > i

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        y = super().forward(x)
        return F.interpolate(y, size=size, mode="nearest") if self.upsample else y


class HighResolutionModule(nn.Module):
    def __init__(self, channels: tuple[int, ...], outputs: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(BLOCKS_PER_BRANCH))) for c in channels
        )
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(None if i == j else Fuse(channels, i, j) for j in range(len(channels)))
            for i in range(outputs)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            total = xs[i]
            for j, fuse in enumerate(row):
                if fuse is not None:
                    total = total + fuse(xs[j], xs[i].shape[2:])
            out.append(self.relu(total))
        return out


class Backbone(nn.Module):
    """The W32 backbone; `features` gives the stride-4 features (32 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(Bottleneck(64, 64), *(Bottleneck(256, 64) for _ in range(3)))
        previous = (256,)
        for s, (modules, channels) in enumerate(STAGES, start=2):
            setattr(self, f"transition{s - 1}", self._transition(previous, channels))
            last = s == len(STAGES) + 1
            setattr(
                self,
                f"stage{s}",
                nn.ModuleList(
                    HighResolutionModule(
                        channels, 1 if last and m == modules - 1 else len(channels)
                    )
                    for m in range(modules)
                ),
            )
            previous = channels

    @staticmethod
    def _transition(before: tuple[int, ...], after: tuple[int, ...]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i, cout in enumerate(after):
            if i < len(before):
                layers.append(None if before[i] == cout else conv_bn(before[i], cout, 3, 1, True))
            else:  # a new, coarser branch from the last one
                layers.append(nn.Sequential(conv_bn(before[-1], cout, 3, 2, True)))
        return nn.ModuleList(layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        xs = [self.layer1(x)]
        for s in range(2, len(STAGES) + 2):
            transition = getattr(self, f"transition{s - 1}")
            xs = [
                (xs[min(i, len(xs) - 1)] if t is None else t(xs[min(i, len(xs) - 1)]))
                for i, t in enumerate(transition)
            ]
            for module in getattr(self, f"stage{s}"):
                xs = module(xs)
        return xs[0]


class HRNet(Backbone):
    def __init__(self, keypoints: int = 17) -> None:
        super().__init__()
        self.final_layer = nn.Conv2d(32, keypoints, 1)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor]]:
        return [(self.final_layer(self.features(x)),)]


class HigherHRNet(Backbone):
    def __init__(self, keypoints: int = 17) -> None:
        super().__init__()
        self.keypoints = keypoints
        self.final_layers = nn.ModuleList(
            [nn.Conv2d(32, 2 * keypoints, 1), nn.Conv2d(32, keypoints, 1)]
        )
        self.deconv_layers = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Sequential(
                        nn.ConvTranspose2d(32 + 2 * keypoints, 32, 4, 2, 1, bias=False),
                        nn.BatchNorm2d(32),
                        nn.ReLU(inplace=True),
                    ),
                    *(nn.Sequential(BasicBlock(32)) for _ in range(4)),
                )
            ]
        )

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        features = self.features(x)
        low = self.final_layers[0](features)
        high = self.final_layers[1](self.deconv_layers[0](torch.cat([features, low], dim=1)))
        k = self.keypoints
        return [(low[:, :k], low[:, k:], high)]
