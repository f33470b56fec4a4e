"""Running an estimator over many inputs, as `multipose estimate` does: a `Job` (job.py) holds
the inputs, outputs (outputs.py), options and model (model.py), and runs its images with the
local executor (local.py: threads reading ahead and writing behind) or on a Ray cluster
(ray.py), both booking each image the same way (images.py) under the id and output name the
folder gives it (register.py), then its videos (video.py)."""

from multipose.runner.images import Summary
from multipose.runner.job import Cluster, Events, Job, Options
from multipose.runner.local import estimate_images
from multipose.runner.model import ModelChoice
from multipose.runner.outputs import Outputs
from multipose.runner.register import Entry, coco_id

__all__ = [
    "Cluster",
    "Entry",
    "Events",
    "Job",
    "ModelChoice",
    "Options",
    "Outputs",
    "Summary",
    "coco_id",
    "estimate_images",
]
