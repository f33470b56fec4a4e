import numpy as np
import pytest
import torch
from torch import nn

from multipose.box_sources import GroundTruthBoxes
from multipose.data.synthetic import make_scene
from multipose.errors import MultiposeError
from multipose.geometry import Boxes
from multipose.io.coco import CocoDataset
from multipose.models.hourglass import HourglassAE
from multipose.poses import Poses
from multipose.skeleton import COCO17
from multipose.specs import get_spec

from conftest import DATASETS, pipeline_of


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
    estimator = pipeline_of(spec, CentrePeaks(), boxes=source)
    people = estimator(np.zeros((240, 320, 3), np.uint8))
    assert len(people) == 2  # the third box lies outside the image
    centres = (boxes[:2, :2] + boxes[:2, 2:]) / 2
    np.testing.assert_allclose(people.keypoints[:, 0, :2], centres, atol=0.5)
    assert people.scores[1] / people.scores[0] == pytest.approx(0.5 / 0.9, rel=1e-3)  # box scores
    with pytest.raises(MultiposeError, match="needs a source of person boxes"):
        pipeline_of(spec, CentrePeaks())


def test_top_down_with_ground_truth_boxes(data_dir):
    dataset = CocoDataset(DATASETS["mmpose-coco"])
    estimator = pipeline_of(get_spec("hrnet-w32"), CentrePeaks(), boxes=GroundTruthBoxes(dataset))
    people = estimator(dataset.read_image(785), 785)
    assert len(people) == len(dataset.people(785))


def test_associative_embedding_pipeline_runs():
    torch.manual_seed(0)
    model = HourglassAE(stacks=1, channels=16, increase=8)
    estimator = pipeline_of(get_spec("hourglass-ae"), model)
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
    plain = pipeline_of(spec, BrightestPixel(), boxes=source)(image)
    flipped = pipeline_of(spec, BrightestPixel(), boxes=source, flip=True)(image)
    np.testing.assert_allclose(flipped.keypoints[..., :2], plain.keypoints[..., :2], atol=0.5)
    left, right = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    assert abs(plain.keypoints[0, left, 0] - plain.keypoints[0, right, 0]) > 10


class SceneOracle(nn.Module):
    """A stand-in bottom-up network that predicts the ideal maps of known people (in input
    pixels), or of their mirror image when its input is mirrored, which it tells by a marker
    pixel near the top-left corner of the unmirrored input. For HigherHRNet (two strides) the
    stride-2 heatmaps come third, as its network gives them."""

    def __init__(self, spec, poses: Poses):
        super().__init__()
        self.spec, self.poses, self.codec = spec, poses, spec.codec()

    def forward(self, x):
        outputs = [[], [], []]
        for item in x:
            width = item.shape[2]
            poses = self.poses
            if item[:, 0, width - 3].sum() > item[:, 0, 2].sum():  # mirrored
                kp = poses.keypoints[:, COCO17.flip_index].copy()
                kp[..., 0] = np.where(kp[..., 2] > 0, width - 1 - kp[..., 0], 0)
                poses = Poses(kp)
            size = (width, item.shape[1])
            if self.spec.codec().method == "openpose":
                targets = self.codec.encode(poses, size)
                maps = (targets.heatmaps, targets.pafs)
            else:
                tags = 3.0 * np.arange(1, len(poses) + 1)  # far apart
                heatmaps = self.codec.encode(poses, size).heatmaps
                maps = (heatmaps[0], self.codec.render_tags(poses, size, tags), *heatmaps[1:])
            for out, m in zip(outputs, maps, strict=False):
                out.append(torch.from_numpy(np.asarray(m, np.float32)))
        return [tuple(torch.stack(o) for o in outputs if o)]


@pytest.mark.parametrize("name", ["openpose-vgg19", "hourglass-ae", "higherhrnet-w32"])
def test_bottom_up_flip_test_maps_the_mirror_back_exactly(name):
    """On a 250-pixel-wide input padded on the right, the mirrored input's maps, mapped back,
    agree with the input's own: the flip test finds the same people as the plain run."""
    spec = get_spec(name).with_input(height=192)
    people = make_scene(3, 250, 192, seed=5, max_iou=0.0, p_missing=0).poses
    network = SceneOracle(spec, people)
    image = np.zeros((192, 250, 3), np.uint8)
    image[0, 2] = 255
    codec = spec.codec()
    if spec.codec().method == "ae":
        codec.refine = False  # its search for missing joints treats 1-D and 2-D tags apart
    plain = pipeline_of(spec, network, codec=codec)(image)
    flipped_estimator = pipeline_of(spec, network, codec=codec, flip=True)
    flipped = flipped_estimator(image)
    assert len(plain) == len(flipped) == 3
    order = np.argsort(plain.keypoints[:, 0, 0]), np.argsort(flipped.keypoints[:, 0, 0])
    np.testing.assert_allclose(
        flipped.keypoints[order[1]][..., :2], plain.keypoints[order[0]][..., :2], atol=0.5
    )
    maps, _ = flipped_estimator.maps(image)
    assert maps[1].shape[-1] == (2 if spec.codec().method == "ae" else maps[1].shape[-1])


def test_higher_hrnet_decodes_its_stride_2_heatmaps():
    """HigherHRNet's three outputs (stride-4 heatmaps and tags, stride-2 heatmaps) merged and
    decoded at stride 2: ideal maps give the people back where they are (measured: 0.02 px)."""
    spec = get_spec("higherhrnet-w32").with_input(height=192)
    people = make_scene(3, 256, 192, seed=5, max_iou=0.0, p_missing=0).poses
    found = pipeline_of(spec, SceneOracle(spec, people))(np.zeros((192, 256, 3), np.uint8))
    assert len(found) == 3
    truth = people.keypoints[np.argsort(people.keypoints[:, 0, 0])]
    found = found.keypoints[np.argsort(found.keypoints[:, 0, 0])]
    labelled = truth[..., 2] > 0
    error = np.linalg.norm(found[..., :2] - truth[..., :2], axis=-1)[labelled]
    assert np.median(error) < 0.25 and error.max() < 1.0


def test_a_batch_gives_each_image_its_own_people(data_dir):
    torch.manual_seed(0)
    estimator = pipeline_of(get_spec("hourglass-ae"), HourglassAE(stacks=1, channels=16))
    estimator.codec.detection_threshold = estimator.codec.min_score = -10.0
    rng = np.random.default_rng(1)
    images = [
        rng.integers(0, 255, shape, np.uint8)
        for shape in [(100, 150, 3), (120, 90, 3), (100, 150, 3)]
    ]
    together = estimator.batch(images)
    for image, people in zip(images, together, strict=True):
        alone = estimator(image)
        assert len(alone) == len(people) > 0
        np.testing.assert_allclose(people.keypoints, alone.keypoints, atol=1e-3)

    def boxes(image, image_id=None):
        count = 1 + image_id % 2
        return Boxes(np.array([[10, 10, 60, 90], [70, 5, 140, 95]][:count]), [1.0, 0.5][:count])

    top_down = pipeline_of(get_spec("simplebaseline-r50"), CentrePeaks(), boxes=boxes)
    found = top_down.batch(images, [1, 2, 3])
    assert [len(p) for p in found] == [2, 1, 2]
    for image, image_id, people in zip(images, [1, 2, 3], found, strict=True):
        np.testing.assert_allclose(people.keypoints, top_down(image, image_id).keypoints)
