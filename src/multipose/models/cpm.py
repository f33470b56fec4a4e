"""OpenPose's cascade of two-branch stages, shared by its networks."""

from __future__ import annotations

import torch
from torch import nn


def two_branch_stages(
    features: torch.Tensor, paf_branches: nn.ModuleList, heatmap_branches: nn.ModuleList
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per stage (heatmaps, PAFs): the first stage reads the features, each later one
    concat(previous PAFs, previous heatmaps, features)."""
    stage_input, outputs = features, []
    for pafs_of, heat_of in zip(paf_branches, heatmap_branches, strict=True):
        pafs, heatmaps = pafs_of(stage_input), heat_of(stage_input)
        outputs.append((heatmaps, pafs))
        stage_input = torch.cat([pafs, heatmaps, features], dim=1)
    return outputs
