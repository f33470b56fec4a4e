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
from multipose.skeleton import COCO17

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


class BrightestPixel(nn.Module):
    """A stand-in network that mirrors as a trained one should: keypoints peak 3 cells right of
    the crop's brightest pixel if on the person's left, 3 cells left of it if on the right, on
    it if in the middle."""

    def forward(self, x):
        n, _, h, w = x.shape
        grey = x.mean(dim=1)
        index = grey.reshape(n, -1).argmax(dim=1)
        row, col = (index // w).float() / 4, (index % w).float() / 4
        yy, xx = torch.meshgrid(torch.arange(h // 4.0), torch.arange(w // 4.0), indexing="ij")
        maps = []
        for name in COCO17.keypoints:
            side = 3 if name.startswith("left_") else -3 if name.startswith("right_") else 0
            c = col + side
            maps.append(
                torch.exp(-((xx - c[:, None, None]) ** 2 + (yy - row[:, None, None]) ** 2) / 2)
            )
        return [(torch.stack(maps, dim=1),)]


def test_flip_test_agrees_for_a_mirror_consistent_network():
    spec = get_spec("simplebaseline-r50")
    image = np.zeros((240, 320, 3), np.uint8)
    image[100:104, 140:144] = 255
    source = lambda image, image_id=None: Boxes(np.array([[100, 40, 220, 200]]), [1.0])  # noqa: E731
    plain = Estimator(spec, BrightestPixel(), boxes=source)(image)
    flipped = Estimator(spec, BrightestPixel(), boxes=source, flip=True)(image)
    np.testing.assert_allclose(flipped.keypoints[..., :2], plain.keypoints[..., :2], atol=0.5)
    left, right = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    assert abs(plain.keypoints[0, left, 0] - plain.keypoints[0, right, 0]) > 10
    with pytest.raises(MultiposeError, match="top-down models only"):
        Estimator(get_spec("hourglass-ae"), HourglassAE(stacks=1, channels=16), flip=True)
