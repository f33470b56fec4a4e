"""`load`: a model's pipeline, ready to run, from its name and where its weights are."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from multipose import DEFAULT_MODEL
from multipose.box_sources import BoxSource
from multipose.devices import torch_device
from multipose.pipelines import Pipeline
from multipose.pipelines.network import shared_networks
from multipose.specs import ModelSpec, get_spec
from multipose.threads import use_threads


def load(
    name: str | ModelSpec = DEFAULT_MODEL,
    weights: str | Path | None = None,
    device: str = "cpu",
    scales: Sequence[float] = (1.0,),
    boxes: BoxSource | None = None,
    backend: str = "auto",
    flip: bool = False,
    threads: int | None = None,
) -> Pipeline:
    """The pipeline of the model `name` (a spec's name, or a ModelSpec) with its weights from
    `weights` (a file, a folder holding the published file, or an http(s) address), else from
    the user cache directory, else downloaded from the address the spec names. BlazePose takes
    the folder of its TFLite files (by default the one `multipose weights fetch blazepose`
    fills). `boxes`: person boxes (top-down models need them; BlazePose takes them as extra
    seeds); `flip`: also run the mirrored input and merge the maps; `backend`: "onnxruntime"
    runs the network's ONNX export, "torch" the module, "auto" the first on the CPU and the
    second on a GPU; "openvino" the export in OpenVINO (bfloat16 on CPUs with AMX: faster, not
    exact; runtime/openvino.py). `threads`: the CPU threads its networks and image
    operations run on, process-wide (see multipose.threads; default: OMP_NUM_THREADS where
    set, else the CPUs this process may use that other programs leave idle)."""
    return load_copies(1, name, weights, device, scales, boxes, backend, flip, threads)[0]


def load_copies(
    count: int,
    name: str | ModelSpec = DEFAULT_MODEL,
    weights: str | Path | None = None,
    device: str = "cpu",
    scales: Sequence[float] = (1.0,),
    boxes: BoxSource | None = None,
    backend: str = "auto",
    flip: bool = False,
    threads: int | None = None,
) -> list[Pipeline]:
    """`count` pipelines of one model, each as `load` makes it, sharing its weights and its
    networks (`shared_networks`: each export made once): one per thread, for images estimated
    at once (runner/local.py). A pipeline keeps per-call state, so one runs on one thread at a
    time."""
    use_threads(threads)
    spec = get_spec(name)
    torch_device(device)  # a bad device is reported before any weights are read
    network = spec.load(spec.find_weights(spec, weights))
    with shared_networks():
        return [
            spec.pipeline(spec, network, device, scales, boxes=boxes, backend=backend, flip=flip)
            for _ in range(count)
        ]
