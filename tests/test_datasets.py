import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from multipose.data.datasets import BottomUpDataset, CocoSource, SceneSource, TopDownDataset
from multipose.data.synthetic import make_scene
from multipose.data.transforms import Augment, fit_matrix, warp_sample
from multipose.geometry import apply
from multipose.io.coco import CocoDataset
from multipose.poses import Poses
from multipose.skeleton import COCO17
from multipose.specs import get_spec

from conftest import DATASETS

STRONG = Augment(scale=(0.6, 1.4), rotation=45, translation=0.15, flip=0.5, colour=0.0)


def dotted_person(rng):
    """An image with a dot of a distinct colour under each of one person's 17 keypoints."""
    image = np.zeros((300, 240, 3), np.uint8)
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, :, 0] = rng.uniform(30, 210, 17)
    kp[0, :, 1] = rng.uniform(30, 270, 17)
    kp[0, :, 2] = 1
    colours = (np.arange(17)[:, None] * [13, 37, 59] % 200 + 55).astype(np.uint8)
    for (x, y), c in zip(kp[0, :, :2].round().astype(int), colours, strict=True):
        image[y - 3 : y + 4, x - 3 : x + 4] = c
    return image, Poses(kp), colours


@pytest.mark.parametrize("seed", range(6))
def test_augmented_keypoints_land_on_their_content(seed):
    rng = np.random.default_rng(seed)
    image, poses, colours = dotted_person(rng)
    matrix, flipped = fit_matrix(np.array([120.0, 150.0]), 300, (256, 256), rng, STRONG)
    warped, moved, _ = warp_sample(image, poses, None, matrix, flipped, (256, 256))
    source = COCO17.flip_index if flipped else np.arange(17)
    for j, (x, y) in enumerate(moved.keypoints[0, :, :2].round().astype(int)):
        if 0 <= x < 256 and 0 <= y < 256:
            # Keypoint j sits on the dot painted for the keypoint it came from (its mirror
            # image after a flip: a flipped left wrist is where the right wrist was drawn).
            assert np.abs(warped[y, x].astype(int) - colours[source[j]]).max() <= 2


def test_flips_happen_and_swap_sides():
    rng = np.random.default_rng(0)
    flips = [fit_matrix(np.zeros(2), 100, (64, 64), rng, STRONG)[1] for _ in range(200)]
    assert 0.35 < np.mean(flips) < 0.65
    _, poses, _ = dotted_person(rng)
    matrix = np.array([[-1.0, 0, 239], [0, 1, 0]])
    _, moved, _ = warp_sample(
        np.zeros((300, 240, 3), np.uint8), poses, None, matrix, True, (240, 300)
    )
    np.testing.assert_allclose(moved.keypoints[0, 9, 0], 239 - poses.keypoints[0, 10, 0])


def test_bottom_up_samples_for_openpose_and_ae(data_dir):
    source = CocoSource(CocoDataset(DATASETS["coco-mini-train2017"]))
    assert len(source) == 28
    paf = BottomUpDataset(source, get_spec("openpose-vgg19"), (368, 368), STRONG)
    sample = paf[3]
    assert sample["image"].shape == (3, 368, 368)
    assert sample["heatmaps"].shape == (19, 46, 46) and sample["pafs"].shape == (38, 46, 46)
    assert sample["mask"].shape == (46, 46)
    assert torch.equal(paf[3]["image"], sample["image"])  # reproducible per sample and epoch
    paf.epoch = 1
    assert not torch.equal(paf[3]["image"], sample["image"])
    ae = BottomUpDataset(source, get_spec("hourglass-ae"), (256, 256), STRONG)
    batch = next(iter(DataLoader(ae, batch_size=2, num_workers=2)))
    assert batch["image"].shape == (2, 3, 256, 256)
    assert batch["heatmaps"][0].shape == (2, 17, 64, 64)
    assert batch["joints"].shape == (2, 128, 17) and batch["valid"].dtype == torch.bool


def test_crowd_masks_reach_the_targets(data_dir):
    dataset = CocoDataset(DATASETS["coco-mini-val2017"])
    source = CocoSource(dataset)
    crowd = next(
        i
        for i, image_id in enumerate(source.ids)
        if any(a["iscrowd"] for a in dataset.annotations(image_id))
    )
    sample = BottomUpDataset(source, get_spec("openpose-vgg19"), (368, 368))[crowd]
    assert 0 < (sample["mask"] == 0).float().mean() < 0.5


def test_top_down_samples_heatmaps_where_the_keypoints_go(data_dir):
    source = SceneSource([make_scene(4, 320, 240, seed=s, p_missing=0.0) for s in range(3)])
    spec = get_spec("simplebaseline-r50")
    dataset = TopDownDataset(source, spec, augment=STRONG)
    assert len(dataset) == 12
    codec = spec.codec()
    for index in (0, 5, 11):
        sample = dataset[index]
        assert sample["image"].shape == (3, 256, 192)
        assert sample["heatmaps"].shape == (17, 64, 48)
        decoded = codec.decode_keypoints(sample["heatmaps"][None].numpy())[0]
        scene, person = dataset.people[index]
        truth = source.scenes[scene].poses.keypoints[person]
        matrix = sample["matrix"].numpy()[None]
        expected = apply(matrix, truth[None, :, :2].astype(np.float64))[0]
        flipped = matrix[0, 0, 0] < 0
        expected = expected[COCO17.flip_index if flipped else np.arange(17)]
        # Away from the crop's edge, where a Gaussian is cut and its peak shifts.
        inner = ((expected >= 12) & (expected <= [192 - 13, 256 - 13])).all(axis=1)
        seen = (sample["weights"].numpy() > 0) & inner
        assert seen.sum() >= 5
        np.testing.assert_allclose(decoded[seen, :2], expected[seen], atol=0.1)
