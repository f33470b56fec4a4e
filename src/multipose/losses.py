"""Training losses of the three methods.

- `masked_l2`: OpenPose's loss: for every stage, the squared error to the targets where the
  mask is 1 (crowds and unlabelled people masked out), summed over stages, channels and pixels
  and divided by 2 x batch size (Caffe's EuclideanLoss, as CMU and Lightweight OpenPose train).
- `grouping_loss`: Associative Embedding's (Newell et al., 2017). Per image: pull, the mean
  over people of the mean squared distance of a person's joint tags to that person's mean tag;
  push, the mean over ordered pairs of different people of exp(-|m_p - m_q|^2 / (2 sigma^2)).
  Both are averaged over the images of the batch. People are padded (joint indices with a
  validity mask, as `AssociativeCodec.encode` gives them).
- `weighted_mse`: top-down's: half the mean over batch, joints and pixels of
  (weight x (prediction - target))^2, weights 0 for unlabelled joints (as mmpose's JointsMSE).

`PafLoss`, `AssociativeLoss` and `HeatmapLoss` apply them to a network's stages and a batch of
targets: the loss a model spec names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


def masked_l2(
    stages: Sequence[torch.Tensor], target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Sum over `stages` (each (N, C, H, W)) of the masked squared error to `target`
    (N, C, H, W); `mask` (N, 1 or C, H, W); divided by 2 N."""
    batch = target.shape[0]
    return sum(((stage - target) ** 2 * mask).sum() for stage in stages) / (2 * batch)


def grouping_loss(
    tags: torch.Tensor, joints: torch.Tensor, valid: torch.Tensor, sigma: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(pull, push) for tag maps `tags` (N, K, H, W) or (N, K, H, W, D), the flat index into
    H x W of each person's joints `joints` (N, P, K) and their validity `valid` (N, P, K)."""
    if tags.dim() == 4:
        tags = tags[..., None]
    n, k, h, w, d = tags.shape
    flat = tags.reshape(n, k, h * w, d)
    index = joints.long().clamp(0, h * w - 1).permute(0, 2, 1)  # N, K, P
    picked = torch.gather(flat, 2, index[..., None].expand(-1, -1, -1, d))  # N, K, P, D
    picked = picked.permute(0, 2, 1, 3)  # N, P, K, D
    weight = valid.to(tags.dtype)[..., None]  # N, P, K, 1
    count = weight.sum(dim=2)  # N, P, 1
    present = (count[..., 0] > 0).to(tags.dtype)  # N, P
    means = (picked * weight).sum(dim=2) / count.clamp(min=1)  # N, P, D

    spread = (((picked - means[:, :, None]) ** 2).sum(-1, keepdim=True) * weight).sum(dim=2)
    per_person = spread[..., 0] / count[..., 0].clamp(min=1)  # N, P
    people = present.sum(dim=1)  # N
    pull = (per_person * present).sum(dim=1) / people.clamp(min=1)

    gaps = ((means[:, :, None] - means[:, None]) ** 2).sum(-1)  # N, P, P
    eye = torch.eye(means.shape[1], dtype=tags.dtype, device=tags.device)
    pairs = present[:, :, None] * present[:, None] * (1 - eye)
    repulsion = torch.exp(-gaps / (2 * sigma**2)) * pairs
    push = repulsion.sum(dim=(1, 2)) / (people * (people - 1)).clamp(min=1)
    return pull.mean(), push.mean()


def weighted_mse(
    prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Half the mean of (weight (N, K) x (prediction - target))^2 over heatmaps (N, K, H, W)."""
    return 0.5 * ((prediction - target) * weight[..., None, None]).pow(2).mean()


# -- each method's loss on a network's stages, as a spec names it ---------------------------


class PafLoss:
    """OpenPose: `masked_l2` of every stage's heatmaps and PAFs."""

    def __call__(self, outputs: list[tuple[torch.Tensor, ...]], batch: dict) -> dict:
        mask = batch["mask"][:, None]
        return {
            "heatmaps": masked_l2([o[0] for o in outputs], batch["heatmaps"], mask),
            "pafs": masked_l2([o[1] for o in outputs], batch["pafs"], mask),
        }


@dataclass(frozen=True)
class AssociativeLoss:
    """Associative Embedding: `masked_l2` of every stage's heatmaps, the grouping loss of its
    tags (pull and push, times `tag_weight`) and, for HigherHRNet's third output, of its
    stride-2 heatmaps."""

    tag_weight: float = 1e-3

    def __call__(self, outputs: list[tuple[torch.Tensor, ...]], batch: dict) -> dict:
        mask, pull, push = batch["masks"][0][:, None], 0.0, 0.0
        terms = {"heatmaps": masked_l2([o[0] for o in outputs], batch["heatmaps"][0], mask)}
        for output in outputs:
            stage_pull, stage_push = grouping_loss(output[1], batch["joints"], batch["valid"])
            pull, push = pull + stage_pull, push + stage_push
        terms["pull"] = self.tag_weight * pull
        terms["push"] = self.tag_weight * push
        if len(outputs[-1]) > 2:
            terms["heatmaps_stride2"] = masked_l2(
                [outputs[-1][2]], batch["heatmaps"][1], batch["masks"][1][:, None]
            )
        return terms


class HeatmapLoss:
    """Top-down: `weighted_mse` of the last stage's heatmaps."""

    def __call__(self, outputs: list[tuple[torch.Tensor, ...]], batch: dict) -> dict:
        return {"heatmaps": weighted_mse(outputs[-1][0], batch["heatmaps"], batch["weights"])}
