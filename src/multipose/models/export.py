"""ONNX export of a spec's network: the last stage's maps, with dynamic height and width where
the architecture allows (the MobileNetV2 OpenPose's TF-style padding fixes its input size)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from multipose.models.specs import ModelSpec


class LastStage(nn.Module):
    """The network's last stage outputs, as a tuple of tensors."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.network(image)[-1])


OUTPUTS = {"openpose": ["heatmaps", "pafs"], "ae": ["heatmaps", "tags"], "topdown": ["heatmaps"]}


def export_onnx(
    spec: ModelSpec, network: nn.Module, path: str | Path, size: tuple[int, int] = (256, 256)
) -> Path:
    """Write the network to `path` as ONNX, traced on a (1, 3, height, width) input of `size`
    = (width, height); batch, height and width stay free where `spec.dynamic_size`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    names = list(spec.outputs or OUTPUTS[spec.method])
    axes = {0: "batch", 2: "height", 3: "width"} if spec.dynamic_size else {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter chatter
        torch.onnx.export(
            LastStage(network).eval(),
            (torch.rand(1, 3, height, width) * 255,),
            str(path),
            input_names=["image"],
            output_names=names,
            dynamic_axes={"image": axes, **{n: axes for n in names}},
            opset_version=17,
            dynamo=False,
        )
    return path
