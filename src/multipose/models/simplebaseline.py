"""SimpleBaseline (Xiao et al., ECCV 2018): a ResNet backbone to stride 32, three 4x4
transposed convolutions (256 channels, each doubling the size) and a 1x1 convolution to one
heatmap per keypoint: 64x48 heatmaps for a 256x192 crop. Module names are torchvision's ResNet
names plus `deconv_layers` and `final_layer`, as in the released checkpoints.

Input: (N, 3, 256, 192) RGB, ImageNet-normalised. Output: [(heatmaps (N, K, H/4, W/4),)].
"""

from __future__ import annotations

import torch
from torch import nn

RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class SimpleBaseline(nn.Module):
    def __init__(self, depth: int = 50, keypoints: int = 17, deconv_channels: int = 256) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (count, planes) in enumerate(
            zip(RESNET_BLOCKS[depth], (64, 128, 256, 512), strict=True)
        ):
            blocks = [Bottleneck(cin, planes, 1 if i == 0 else 2)]
            cin = planes * Bottleneck.expansion
            blocks += [Bottleneck(cin, planes) for _ in range(count - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += [
                nn.ConvTranspose2d(cin, deconv_channels, 4, 2, 1, bias=False),
                nn.BatchNorm2d(deconv_channels),
                nn.ReLU(inplace=True),
            ]
            cin = deconv_channels
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(cin, keypoints, 1)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor]]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return [(self.final_layer(self.deconv_layers(x)),)]
