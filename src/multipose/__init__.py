"""multipose: multi-person 2D human pose estimation (top-down, OpenPose, Associative Embedding)."""

from multipose.errors import MultiposeError
from multipose.pipelines import Estimator, load
from multipose.poses import Poses
from multipose.render import draw
from multipose.skeleton import BODY25, COCO17, COCO18, CROWDPOSE14, Layout, get_layout

__version__ = "0.1.0"

__all__ = [
    "BODY25",
    "COCO17",
    "COCO18",
    "CROWDPOSE14",
    "Estimator",
    "Layout",
    "MultiposeError",
    "Poses",
    "__version__",
    "draw",
    "get_layout",
    "load",
]
