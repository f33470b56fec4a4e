import numpy as np
import pytest

from multipose.codecs.associative import AssociativeCodec, scale_merge
from multipose.codecs.gaussian import image_to_map
from multipose.data.synthetic import make_dataset, make_scene
from multipose.errors import MultiposeError
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.oracle import Noise, oracle_tags, run_oracle
from multipose.poses import Poses
from multipose.skeleton import COCO17

from conftest import DATASETS

CODEC = AssociativeCodec()
SIZE = (256, 192)


def ideal_maps(poses, codec=CODEC, size=SIZE, tags=None):
    tags = np.arange(len(poses)) * 2.0 + 1 if tags is None else np.asarray(tags)
    return codec.encode(poses, size).heatmaps[0], codec.render_tags(poses, size, tags)


def scene(n=5, seed=0):
    return make_scene(n, *SIZE, seed=seed, p_missing=0.0).poses


def test_targets_at_two_strides_and_joint_indices():
    poses = scene(3)
    codec = AssociativeCodec(strides=(4, 2), max_people=8)
    targets = codec.encode(poses, SIZE)
    assert [h.shape for h in targets.heatmaps] == [(17, 48, 64), (17, 96, 128)]
    assert [m.shape for m in targets.masks] == [(48, 64), (96, 128)]
    assert targets.joints.shape == (8, 17) and targets.valid.shape == (8, 17)
    assert not targets.valid[3:].any()
    labelled = poses.keypoints[..., 2] > 0
    np.testing.assert_array_equal(targets.valid[:3], labelled)
    cells = np.rint(image_to_map(poses.keypoints[..., :2], 4)).astype(int)
    rows, cols = np.divmod(targets.joints[:3], 64)
    np.testing.assert_array_equal(cols[labelled], cells[labelled][:, 0])
    np.testing.assert_array_equal(rows[labelled], cells[labelled][:, 1])
    # Each labelled joint's cell is (within a cell of) its heatmap peak.
    heat = targets.heatmaps[0]
    for n, k in zip(*np.nonzero(labelled), strict=True):
        assert heat[k].ravel()[targets.joints[n, k]] > 0.85


def test_too_many_people_and_ignore_masks():
    with pytest.raises(MultiposeError, match="at most 2"):
        AssociativeCodec(max_people=2).encode(scene(3), SIZE)
    ignore = np.zeros((192, 256), bool)
    ignore[:96] = True
    targets = CODEC.encode(scene(1), SIZE, ignore=ignore)
    assert not targets.masks[0][:24].any() and targets.masks[0][24:].all()


def test_ideal_tag_maps_carry_each_persons_tag_near_its_joints():
    poses = scene(4)
    tags = CODEC.render_tags(poses, SIZE, [10, 20, 30, 40])
    cells = np.rint(image_to_map(poses.keypoints[..., :2], 4)).astype(int)
    for n in range(4):
        for k in np.flatnonzero(poses.keypoints[n, :, 2] > 0):
            value = tags[k, cells[n, k, 1], cells[n, k, 0]]
            assert value in (10, 20, 30, 40)  # its own, or a nearer person's joint of that type
    assert set(np.unique(tags)) <= {0, 10, 20, 30, 40} and (tags == 0).mean() > 0.5


def test_people_round_trip_to_subpixel_accuracy():
    poses = scene(5, seed=3)
    decoded = CODEC.decode(ideal_maps(poses))
    assert len(decoded) == 5
    for truth in poses.keypoints:
        distance = np.linalg.norm(decoded.keypoints[:, :, :2] - truth[None, :, :2], axis=2)
        labelled = truth[:, 2] > 0
        best = distance[:, labelled].sum(axis=1).argmin()
        assert distance[best, labelled].max() < 0.05


def test_crowds_of_fifty_round_trip():
    data, scenes = make_dataset(3, 50, 512, 512, seed=7, p_missing=0.0)
    results = []
    for image_id, s in enumerate(scenes, start=1):
        heat, tags = ideal_maps(
            s.poses, size=(512, 512), tags=oracle_tags(50, np.random.default_rng(0))
        )
        results += CODEC.decode([heat, tags]).to_coco(image_id)
    assert evaluate(CocoDataset("synthetic", data=data), results, max_detections=500)["AP"] > 0.97
    assert 147 <= len(results) <= 165  # a few single-joint strays where Gaussians overlap


def test_people_whose_tags_are_closer_than_the_threshold_stay_apart():
    # 0.7 apart, under the tag threshold of 1: the Hungarian cost (rounded distance) still
    # tells them apart, as long as each has a person to go to.
    poses = scene(2, seed=5)
    decoded = CODEC.decode(ideal_maps(poses, tags=[1.0, 1.7]))
    assert len(decoded) == 2
    for truth in poses.keypoints:
        labelled = truth[:, 2] > 0
        distance = np.linalg.norm(decoded.keypoints[:, labelled, :2] - truth[labelled, :2], axis=2)
        assert distance.max(axis=1).min() < 1.0  # overlapping Gaussians bias a little


def test_per_joint_cap():
    poses = scene(8, seed=2)
    heat, tags = ideal_maps(poses)
    capped = AssociativeCodec(max_per_joint=5, refine=False).decode([heat, tags])
    assert ((capped.keypoints[..., 2] > 0).sum(axis=0) <= 5).all()
    assert len(AssociativeCodec(refine=False).decode([heat, tags])) == 8


def test_refinement_recovers_joints_under_the_detection_threshold():
    poses = scene(1, seed=4)
    heights = np.ones((1, 17))
    heights[0, 9] = 0.05  # the left wrist peak is too faint to be detected
    heat = CODEC.encode(poses, SIZE, peak_heights=heights).heatmaps[0]
    tags = CODEC.render_tags(poses, SIZE, [3.0])
    plain = AssociativeCodec(refine=False).decode([heat, tags])
    refined = CODEC.decode([heat, tags])
    assert plain.keypoints[0, 9, 2] == 0
    assert np.linalg.norm(refined.keypoints[0, 9, :2] - poses.keypoints[0, 9, :2]) < 2


def test_flip_merge_swaps_left_and_right():
    poses = scene(3, seed=6)
    width = SIZE[0]
    mirrored = poses.keypoints[:, COCO17.flip_index].copy()  # a mirror swaps left and right
    mirrored[..., 0] = np.where(mirrored[..., 2] > 0, width - 1 - mirrored[..., 0], 0)
    heat, tags = ideal_maps(poses)
    flipped_heat, flipped_tags = ideal_maps(Poses(mirrored))
    merged = CODEC.flip_merge([heat[None], tags[None]], [flipped_heat[None], flipped_tags[None]])
    merged_heat, merged_tags = merged[0][0], merged[1][0]
    assert merged_tags.shape == (17, 48, 64, 2)
    np.testing.assert_allclose(merged_heat, heat, atol=1e-5)
    np.testing.assert_allclose(merged_tags[..., 1], tags, atol=1e-5)
    decoded = CODEC.decode([merged_heat, merged_tags])
    single = CODEC.decode([heat, tags])
    np.testing.assert_allclose(
        np.sort(decoded.keypoints.reshape(-1)), np.sort(single.keypoints.reshape(-1)), atol=1e-4
    )


def test_scale_merge_averages_heatmaps_and_stacks_tags():
    poses = scene(3, seed=8)
    full = ideal_maps(poses)
    half = ideal_maps(poses.transform(0.5), size=(128, 96))
    heat, tags = scale_merge([full, half], (64, 48))
    assert heat.shape == (17, 48, 64) and tags.shape == (17, 48, 64, 2)
    assert len(CODEC.decode([heat, tags])) == 3


def test_bad_and_empty_maps():
    heat, tags = np.zeros((17, 48, 64)), np.zeros((17, 48, 64))
    assert len(CODEC.decode([heat, tags])) == 0
    assert len(CODEC.decode([np.full((17, 48, 64), 0.5), tags])) == 0  # every pixel equal
    with pytest.raises(MultiposeError, match="NaN"):
        CODEC.decode([np.full((17, 48, 64), np.nan), tags])
    with pytest.raises(MultiposeError, match="tag maps .* do not match"):
        CODEC.decode([heat, np.zeros((17, 24, 32))])
    with pytest.raises(MultiposeError, match="NaN"):
        CODEC.decode([heat, np.full((17, 48, 64), np.inf)])
    with pytest.raises(MultiposeError, match="17 channels"):
        CODEC.decode([np.zeros((18, 48, 64)), tags])


def test_oracle_on_real_annotations(data_dir):
    dataset = CocoDataset(DATASETS["coco-mini-val2017"])
    metrics, _ = run_oracle(dataset, "hourglass-ae")
    assert metrics["AP"] > 0.9
    noisy, _ = run_oracle(dataset, "hourglass-ae", Noise(0.2, 0.6, 0.03, 0.15))
    assert noisy["AP"] < metrics["AP"]


def test_oracle_command_for_ae(data_dir):
    from click.testing import CliRunner

    from multipose.cli import main

    args = ["oracle", "--method", "ae", str(DATASETS["mmpose-coco"]), "--field-noise", "0.1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert float(result.output.splitlines()[1].split()[0]) > 0.9
