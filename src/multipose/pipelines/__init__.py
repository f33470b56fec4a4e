"""Pipelines: from an image to its people with a model spec's parts (preprocessing, network,
codec). One module per kind: bottom-up, top-down, BlazePose's multi-person top-down, and
the hybrid of a bottom-up model and BlazePose, YOLO-pose."""

from multipose.pipelines.base import Pipeline
from multipose.pipelines.blazepose import BlazePosePipeline
from multipose.pipelines.bottom_up import BottomUpPipeline
from multipose.pipelines.hybrid import (
    HybridPipeline,
    ThoroughHybridPipeline,
    YoloHybridPipeline,
)
from multipose.pipelines.top_down import TopDownPipeline
from multipose.pipelines.yolo_pose import YoloPosePipeline

__all__ = [
    "BlazePosePipeline",
    "BottomUpPipeline",
    "HybridPipeline",
    "Pipeline",
    "ThoroughHybridPipeline",
    "TopDownPipeline",
    "YoloHybridPipeline",
    "YoloPosePipeline",
]
