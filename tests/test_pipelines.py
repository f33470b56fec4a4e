import numpy as np
import pytest
import torch
from torch import nn

from multipose.boxes import Boxes, GroundTruthBoxes
from multipose.errors import MultiposeError
from multipose.io.coco import CocoDataset
from multipose.models.hourglass import HourglassAE
from multipose.models.specs import get_spec
from multipose.pipelines import Estimator

from conftest import DATASETS


class CentrePeaks(nn.Module):
    """A stand-in top-down network: every keypoint's heatmap peaks at the crop's centre."""

    def forward(self, x):
        n, _, h, w = x.shape
        yy, xx = torch.meshgrid(torch.arange(h // 4), torch.arange(w // 4), indexing="ij")
        cy, cx = ((h // 4) - 1) / 2, ((w // 4) - 1) / 2
        peak = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0)
        return [(peak.expand(n, 17, -1, -1).clone(),)]


def test_top_down_maps_crops_back_to_the_boxes():
    spec = get_spec("simplebaseline-r50")
    boxes = np.array([[10, 20, 110, 220], [200, 50, 260, 130], [-50, 0, -10, 40]], np.float32)
    source = lambda image, image_id=None: Boxes(boxes, [0.9, 0.5, 1.0])  # noqa: E731
    estimator = Estimator(spec, CentrePeaks(), boxes=source)
    people = estimator(np.zeros((240, 320, 3), np.uint8))
    assert len(people) == 2  # the third box lies outside the image
    centres = (boxes[:2, :2] + boxes[:2, 2:]) / 2
    np.testing.assert_allclose(people.keypoints[:, 0, :2], centres, atol=0.5)
    assert people.scores[1] / people.scores[0] == pytest.approx(0.5 / 0.9, rel=1e-3)  # box scores
    with pytest.raises(MultiposeError, match="needs a source of person boxes"):
        Estimator(spec, CentrePeaks())


def test_top_down_with_ground_truth_boxes(data_dir):
    dataset = CocoDataset(DATASETS["mmpose-coco"])
    estimator = Estimator(get_spec("hrnet-w32"), CentrePeaks(), boxes=GroundTruthBoxes(dataset))
    people = estimator(dataset.read_image(785), 785)
    assert len(people) == len(dataset.people(785))


def test_associative_embedding_pipeline_runs():
    torch.manual_seed(0)
    model = HourglassAE(stacks=1, channels=16, increase=8)
    estimator = Estimator(get_spec("hourglass-ae"), model)
    people = estimator(np.random.default_rng(0).integers(0, 255, (100, 150, 3), np.uint8))
    assert people.layout.name == "coco17"
    assert set(estimator.timing) == {"network_ms", "decode_ms"}
