"""Pipelines: from an image to its people with a model spec's parts (preprocessing, network,
codec). One module per kind: bottom-up, top-down and BlazePose's multi-person top-down."""

from multipose.pipelines.base import Pipeline
from multipose.pipelines.blazepose import BlazePosePipeline
from multipose.pipelines.bottom_up import BottomUpPipeline
from multipose.pipelines.top_down import TopDownPipeline

__all__ = ["BlazePosePipeline", "BottomUpPipeline", "Pipeline", "TopDownPipeline"]
