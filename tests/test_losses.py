import itertools
import math

import numpy as np
import pytest
import torch

from multipose.codecs.associative import AssociativeCodec
from multipose.data.synthetic import make_scene
from multipose.losses import grouping_loss, masked_l2, weighted_mse


def naive_grouping(tags, joints, valid, sigma=1.0):
    """The loss written out person by person and pair by pair."""
    pulls, pushes = [], []
    n, k = tags.shape[:2]
    for b in range(n):
        means, spreads = [], []
        for p in range(joints.shape[1]):
            values = [tags[b, j].reshape(-1, tags.shape[-1])[joints[b, p, j]]
                      for j in range(k) if valid[b, p, j]]  # fmt: skip
            if not values:
                continue
            mean = np.mean(values, axis=0)
            means.append(mean)
            spreads.append(np.mean([np.sum((v - mean) ** 2) for v in values]))
        pulls.append(np.mean(spreads) if spreads else 0.0)
        pairs = [math.exp(-np.sum((a - c) ** 2) / (2 * sigma**2))
                 for a, c in itertools.permutations(means, 2)]  # fmt: skip
        pushes.append(np.mean(pairs) if pairs else 0.0)
    return np.mean(pulls), np.mean(pushes)


def test_grouping_loss_by_hand():
    tags = torch.zeros(1, 2, 1, 4, 1)  # one image, 2 joints, a 1x4 map, 1-D tags
    tags[0, 0, 0, :, 0] = torch.tensor([1.0, 2.0, 5.0, 0.0])
    tags[0, 1, 0, :, 0] = torch.tensor([3.0, 0.0, 0.0, 7.0])
    joints = torch.tensor([[[0, 0], [2, 3], [1, 1]]])  # person 3 is padding
    valid = torch.tensor([[[True, True], [True, True], [False, False]]])
    pull, push = grouping_loss(tags, joints, valid)
    # Person 1: tags 1 and 3, mean 2, pull 1; person 2: tags 5 and 7, mean 6, pull 1.
    assert pull.item() == pytest.approx(1.0)
    assert push.item() == pytest.approx(math.exp(-16 / 2))


@pytest.mark.parametrize("dims", [1, 2])
def test_grouping_loss_agrees_with_the_loop(rng, dims):
    torch.manual_seed(0)
    tags = torch.randn(3, 17, 12, 10, dims, dtype=torch.float64)
    joints = torch.from_numpy(rng.integers(0, 120, (3, 6, 17)))
    valid = torch.from_numpy(rng.uniform(size=(3, 6, 17)) < 0.6)
    valid[1] = False  # an image without people
    valid[2, 1:] = False  # an image of one person: nothing to push
    pull, push = grouping_loss(tags, joints, valid, sigma=0.7)
    expected = naive_grouping(tags.numpy(), joints.numpy(), valid.numpy(), sigma=0.7)
    assert pull.item() == pytest.approx(expected[0], abs=1e-6)
    assert push.item() == pytest.approx(expected[1], abs=1e-6)


def test_grouping_loss_takes_the_codec_targets_and_has_gradients():
    codec = AssociativeCodec(max_people=8)
    scene = make_scene(3, 128, 128, seed=1)
    targets = codec.encode(scene.poses, (128, 128))
    perfect = torch.from_numpy(codec.render_tags(scene.poses, (128, 128), [1.0, 5.0, 9.0]))
    joints, valid = torch.from_numpy(targets.joints)[None], torch.from_numpy(targets.valid)[None]
    pull, push = grouping_loss(perfect[None], joints, valid)
    assert pull.item() < 1e-6 and push.item() < 1e-3  # one tag per person, far apart
    noisy = (perfect[None] + torch.randn_like(perfect[None])).requires_grad_()
    pull, push = grouping_loss(noisy, joints, valid)
    (pull + push).backward()
    assert pull.item() > 0.1 and noisy.grad.abs().sum() > 0


def test_masked_l2_over_stages():
    target = torch.zeros(2, 3, 4, 4)
    mask = torch.ones(2, 1, 4, 4)
    mask[1] = 0  # the second image is all crowd
    stage = torch.ones(2, 3, 4, 4)
    # Each stage: 3 x 16 unmasked squared errors of 1 in image 0, none in image 1; / (2 x 2).
    assert masked_l2([stage, 2 * stage], target, mask).item() == pytest.approx((48 + 192) / 4)


def test_weighted_mse_ignores_unlabelled_joints():
    prediction = torch.ones(1, 2, 3, 3)
    target = torch.zeros(1, 2, 3, 3)
    weight = torch.tensor([[1.0, 0.0]])
    assert weighted_mse(prediction, target, weight).item() == pytest.approx(0.5 * 9 / 18)
