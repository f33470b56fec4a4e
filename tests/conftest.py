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
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def pipeline_of(spec, network, **options):
    """The spec's pipeline around a network, as `multipose.load` builds it."""
    return spec.pipeline(spec, network, **options)
