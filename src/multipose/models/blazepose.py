"""BlazePose's three networks, as mediapipe 0.10.21 ships them in TFLite files, run by our
TFLite executor."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from multipose.runtime.tflite_network import load_tflite


class BlazePoseNetworks(nn.Module):
    """The three TFLite networks: person detector, landmark network, multi-face detector.
    Called on person crops (N, 3, 256, 256) in [0, 1], it runs the landmark network (the
    single-person network of this top-down model) and returns its outputs as one stage."""

    FILES: ClassVar[dict[str, str]] = {
        "detector": "pose_detection.tflite",
        "landmarks": "pose_landmark_full.tflite",
        "faces": "face_detection_full_range_sparse.tflite",
    }

    def __init__(self, files: dict[str, Path]) -> None:
        super().__init__()
        self.detector = load_tflite(files[self.FILES["detector"]])
        self.landmarks = load_tflite(files[self.FILES["landmarks"]])
        self.faces = load_tflite(files[self.FILES["faces"]])

    def forward(self, crops: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        return [self.landmarks(crops)]
