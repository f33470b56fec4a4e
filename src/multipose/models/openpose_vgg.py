"""CMU's OpenPose COCO body model (Cao et al., CVPR 2017): VGG-19's first ten convolutions, two
CPM convolutions down to 128 channels (stride 8), then six stages of two branches, PAFs (L1, 38
channels) and heatmaps (L2, 19); stage n > 1 reads concat(PAFs, heatmaps, features) and uses
7x7 convolutions. Layers carry the Caffe names of the released model.

Input: (N, 3, H, W) BGR, (pixel - 128) / 256. Output: per stage (heatmaps, PAFs) at stride 8.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from multipose.models.cpm import two_branch_stages

# (name, in, out, kernel) of the front; "pool" names are 2x2 max pools.
FRONT = (
    ("conv1_1", 3, 64, 3), ("conv1_2", 64, 64, 3), ("pool1", 0, 0, 2),
    ("conv2_1", 64, 128, 3), ("conv2_2", 128, 128, 3), ("pool2", 0, 0, 2),
    ("conv3_1", 128, 256, 3), ("conv3_2", 256, 256, 3), ("conv3_3", 256, 256, 3),
    ("conv3_4", 256, 256, 3), ("pool3", 0, 0, 2),
    ("conv4_1", 256, 512, 3), ("conv4_2", 512, 512, 3),
    ("conv4_3_CPM", 512, 256, 3), ("conv4_4_CPM", 256, 128, 3),
)  # fmt: skip
FEATURES, HEATMAPS, PAFS, STAGES = 128, 19, 38, 6


def _layers(spec: list[tuple[str, int, int, int]], last_linear: bool) -> nn.Sequential:
    layers: list[tuple[str, nn.Module]] = []
    for i, (name, cin, cout, k) in enumerate(spec):
        if name.startswith("pool"):
            layers.append((name, nn.MaxPool2d(2, 2)))
            continue
        layers.append((name, nn.Conv2d(cin, cout, k, padding=k // 2)))
        if not (last_linear and i == len(spec) - 1):
            layers.append((f"relu_{name}", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


def _branch(stage: int, branch: int, out: int) -> nn.Sequential:
    """Stage 1: conv5_{1..5}_CPM_L{b}; stages 2-6: Mconv{1..7}_stage{s}_L{b}."""
    if stage == 1:
        widths, kernels = [FEATURES, 128, 128, 128, 512, out], [3, 3, 3, 1, 1]
        names = [f"conv5_{i}_CPM_L{branch}" for i in range(1, 6)]
    else:
        widths = [FEATURES + HEATMAPS + PAFS, 128, 128, 128, 128, 128, 128, out]
        kernels = [7, 7, 7, 7, 7, 1, 1]
        names = [f"Mconv{i}_stage{stage}_L{branch}" for i in range(1, 8)]
    spec = [(n, widths[i], widths[i + 1], kernels[i]) for i, n in enumerate(names)]
    return _layers(spec, last_linear=True)


class OpenPoseVGG19(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.front = _layers(list(FRONT), last_linear=False)
        self.paf_branches = nn.ModuleList(_branch(s, 1, PAFS) for s in range(1, STAGES + 1))
        self.heatmap_branches = nn.ModuleList(_branch(s, 2, HEATMAPS) for s in range(1, STAGES + 1))

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return two_branch_stages(self.front(x), self.paf_branches, self.heatmap_branches)
