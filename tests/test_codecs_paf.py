import json

import numpy as np
import pytest

from multipose.codecs.gaussian import image_to_map
from multipose.codecs.paf import LIMBS, PAF_CHANNELS, PafCodec, _greedy_match
from multipose.data.synthetic import make_dataset, make_scene
from multipose.errors import MultiposeError
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.oracle import Noise, run_oracle
from multipose.poses import Poses

from conftest import DATASETS

CODEC = PafCodec()


def person(points: dict[int, tuple[float, float]]) -> np.ndarray:
    """One COCO-17 person from {keypoint index: (x, y)}."""
    kp = np.zeros((17, 3), np.float32)
    for j, (x, y) in points.items():
        kp[j] = [x, y, 2]
    return kp


STANDING = {
    0: (100, 40),
    1: (104, 36),
    2: (96, 36),
    3: (110, 38),
    4: (90, 38),
    5: (120, 60),
    6: (80, 60),
    7: (126, 90),
    8: (74, 90),
    9: (130, 118),
    10: (70, 118),
    11: (112, 124),
    12: (88, 124),
    13: (114, 164),
    14: (86, 164),
    15: (116, 200),
    16: (84, 200),
}


def naive_pafs(points, present, shape, width):
    h, w = shape
    sums = np.zeros((len(LIMBS), 2, h, w))
    counts = np.zeros((len(LIMBS), h, w))
    for limb, (a, b) in enumerate(LIMBS):
        for n in range(len(points)):
            if not (present[n, a] and present[n, b]):
                continue
            p, q = points[n, a].astype(float), points[n, b].astype(float)
            length = np.linalg.norm(q - p)
            u = (q - p) / length
            for row in range(h):
                for col in range(w):
                    t = np.clip(np.dot([col, row] - p, u), 0, length)
                    if np.linalg.norm([col, row] - (p + t * u)) <= width:
                        sums[limb, :, row, col] += u
                        counts[limb, row, col] += 1
    out = np.zeros((38, h, w))
    for limb, (cx, cy) in enumerate(PAF_CHANNELS):
        out[cx] = sums[limb, 0] / np.maximum(counts[limb], 1)
        out[cy] = sums[limb, 1] / np.maximum(counts[limb], 1)
    return out


def test_encoded_pafs_match_a_per_pixel_reference():
    scene = make_scene(4, 160, 120, seed=3, max_iou=0.6)
    targets = CODEC.encode(scene.poses, (160, 120))
    kp = scene.poses.convert("coco18").keypoints
    reference = naive_pafs(image_to_map(kp[..., :2], 8), kp[..., 2] > 0, (15, 20), 1.0)
    np.testing.assert_allclose(targets.pafs, reference, atol=1e-5)
    assert (np.abs(targets.pafs) > 0).any()


def test_overlapping_limbs_are_averaged():
    a = person({5: (40, 40), 7: (40, 120)})  # left upper arm pointing down
    b = person({5: (0, 80), 7: (80, 80)})  # and one pointing right, crossing it
    targets = CODEC.encode(Poses(np.stack([a, b])), (96, 160))
    limb = [tuple(x) for x in LIMBS.tolist()].index((5, 6))
    cx, cy = PAF_CHANNELS[limb]
    cell = image_to_map(np.array([40.0, 80.0]), 8).round().astype(int)
    assert targets.pafs[cx][cell[1], cell[0]] == pytest.approx(0.5)
    assert targets.pafs[cy][cell[1], cell[0]] == pytest.approx(0.5)
    below = image_to_map(np.array([40.0, 112.0]), 8).round().astype(int)
    assert targets.pafs[cy][below[1], below[0]] == pytest.approx(1.0)


def test_heatmaps_neck_and_background():
    kp = person(STANDING)
    targets = CODEC.encode(Poses(kp[None]), (208, 240))
    heat = targets.heatmaps
    assert heat.shape == (19, 30, 26) and targets.pafs.shape == (38, 30, 26)
    np.testing.assert_allclose(heat[18], 1 - heat[:18].max(axis=0))
    neck = image_to_map(np.array([100.0, 60.0]), 8)  # the shoulders' midpoint
    row, col = np.unravel_index(heat[1].argmax(), heat[1].shape)
    assert abs(col - neck[0]) <= 0.5 and abs(row - neck[1]) <= 0.5
    no_shoulder = kp.copy()
    no_shoulder[6] = 0
    assert not CODEC.encode(Poses(no_shoulder[None]), (208, 240)).heatmaps[1].any()


def test_loss_mask_zeroes_ignored_regions():
    ignore = np.zeros((240, 208), bool)
    ignore[:80, :80] = True
    targets = CODEC.encode(Poses.empty(), (208, 240), ignore=ignore)
    assert targets.mask[:10, :10].sum() == 0 and targets.mask[10:, 10:].all()
    assert targets.mask.mean() == pytest.approx(1 - 100 / (30 * 26))
    with pytest.raises(MultiposeError, match="does not match the input"):
        CODEC.encode(Poses.empty(), (208, 240), ignore=np.zeros((10, 10), bool))


def test_one_person_round_trips_exactly():
    kp = person(STANDING)
    targets = CODEC.encode(Poses(kp[None]), (208, 240))
    decoded = CODEC.decode([targets.heatmaps, targets.pafs]).convert("coco17")
    assert len(decoded) == 1
    np.testing.assert_allclose(decoded.keypoints[0, :, :2], kp[:, :2], atol=0.05)
    # Scores are the heatmap values at the peak cells, within half a cell of the keypoint.
    assert (decoded.keypoints[0, :, 2] > 0.85).all() and 0.85 < decoded.scores[0] <= 1
    assert CODEC.decode([targets.heatmaps, targets.pafs]).layout.name == "coco18"


def test_a_missing_limb_end_drops_what_hangs_from_it():
    kp = person(STANDING)
    kp[8] = 0  # right elbow unlabelled: the right wrist can no longer be reached
    targets = CODEC.encode(Poses(kp[None]), (208, 240))
    decoded = CODEC.decode([targets.heatmaps, targets.pafs]).convert("coco17")
    assert len(decoded) == 1
    found = decoded.keypoints[0, :, 2] > 0
    assert not found[8] and not found[10] and found.sum() == 15


def test_people_at_the_image_border():
    kp = person({j: (x - 70, y) for j, (x, y) in STANDING.items()})
    kp[kp[:, 0] < 0] = 0  # cut by the left edge; the rest touches x = 0..60
    targets = CODEC.encode(Poses(kp[None]), (208, 240))
    decoded = CODEC.decode([targets.heatmaps, targets.pafs]).convert("coco17")
    assert len(decoded) == 1
    found = kp[:, 2] > 0
    np.testing.assert_allclose(decoded.keypoints[0, found, :2], kp[found, :2], atol=0.05)


def test_crowds_of_synthetic_people_round_trip():
    data, scenes = make_dataset(4, 20, 656, 368, seed=4, p_missing=0.0)
    results = []
    for image_id, scene in enumerate(scenes, start=1):
        targets = CODEC.encode(scene.poses, (656, 368))
        results += (
            CODEC.decode([targets.heatmaps, targets.pafs]).convert("coco17").to_coco(image_id)
        )
    ap = evaluate(CocoDataset("synthetic", data=data), results, max_detections=100)["AP"]
    assert ap > 0.93
    assert len(results) == pytest.approx(80, abs=3)


def test_noisy_maps_do_not_flood_false_people():
    scene = make_scene(20, 656, 368, seed=2, p_missing=0.0)
    rng = np.random.default_rng(0)
    noise = Noise(jitter=0.2, peak_min=0.6, heatmap=0.03, field=0.05)
    targets = CODEC.encode(
        noise.jittered(scene.poses, 8, rng),
        (656, 368),
        peak_heights=noise.peak_heights((20, 18), rng),
    )
    heat = noise.added(targets.heatmaps, noise.heatmap, rng)
    pafs = noise.added(targets.pafs, noise.field, rng)
    assert 18 <= len(CODEC.decode([heat, pafs])) < 24


def test_greedy_matching_is_the_sequential_greedy(rng):
    for _ in range(20):
        na, nb = rng.integers(1, 8, 2)
        pa, pb = np.nonzero(rng.uniform(size=(na, nb)) < 0.6)
        score = rng.choice([0.2, 0.5, 0.9], size=len(pa))  # many ties
        taken = _greedy_match(pa, pb, score, na, nb)
        expected, used_a, used_b = [], set(), set()
        for k in sorted(range(len(pa)), key=lambda k: (-score[k], k)):
            if pa[k] not in used_a and pb[k] not in used_b:
                expected.append(k)
                used_a.add(pa[k])
                used_b.add(pb[k])
        assert taken.tolist() == expected


def test_empty_constant_and_bad_maps():
    heat, pafs = np.zeros((19, 20, 30)), np.zeros((38, 20, 30))
    assert len(CODEC.decode([heat, pafs])) == 0
    assert len(CODEC.decode([np.full((18, 20, 30), 0.5), pafs])) == 0  # every pixel equal
    with pytest.raises(MultiposeError, match="NaN"):
        CODEC.decode([np.full((19, 20, 30), np.inf), pafs])
    with pytest.raises(MultiposeError, match="18 or 19 channels"):
        CODEC.decode([np.zeros((17, 20, 30)), pafs])
    with pytest.raises(MultiposeError, match="38 channels"):
        CODEC.decode([heat, np.zeros((36, 20, 30))])
    with pytest.raises(MultiposeError, match="differ in size"):
        CODEC.decode([heat, np.zeros((38, 10, 30))])


def test_oracle_on_real_annotations(data_dir):
    dataset = CocoDataset(DATASETS["coco-mini-val2017"])
    metrics, results = run_oracle(dataset, "openpose-vgg19")
    assert 0.78 < metrics["AP"] < 1.0  # people missing a shoulder have no neck and fall apart
    assert {r["image_id"] for r in results} <= set(dataset.image_ids)
    noisy, _ = run_oracle(dataset, "openpose-vgg19", Noise(0.2, 0.6, 0.03, 0.05))
    assert noisy["AP"] < metrics["AP"]


def test_oracle_command(data_dir, tmp_path):
    from click.testing import CliRunner

    from multipose.cli import main

    ann = DATASETS["mmpose-coco"]
    out = tmp_path / "decoded.json"
    args = ["oracle", "--method", "openpose", str(ann), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert float(result.output.splitlines()[1].split()[0]) > 0.95
    assert len(json.loads(out.read_text())) == 12


def test_a_part_shared_by_two_people_goes_to_both():
    a = person(STANDING)
    b = person({j: (x + 70, y) for j, (x, y) in STANDING.items()})
    b[7, :2] = a[7, :2] + [3, 2]  # b's left elbow 3.6 px from a's: one heatmap peak for both
    b[9, :2] = [100, 132]  # b's left forearm reaches back down-left
    targets = CODEC.encode(Poses(np.stack([a, b])), (224, 240))
    assert np.isclose(targets.heatmaps[6], targets.heatmaps[6].max()).sum() == 1  # one peak
    decoded = CODEC.decode([targets.heatmaps, targets.pafs]).convert("coco17")
    assert len(decoded) == 2
    order = np.argsort(decoded.keypoints[:, 0, 0])  # a's nose is left of b's
    for truth, found in zip((a, b), decoded.keypoints[order], strict=True):
        assert np.linalg.norm(found[7, :2] - truth[7, :2]) < 4  # the shared elbow
        np.testing.assert_allclose(found[9, :2], truth[9, :2], atol=0.5)  # own wrist
        np.testing.assert_allclose(found[5, :2], truth[5, :2], atol=0.5)


def test_flip_back_maps_a_mirror_scenes_targets_onto_the_scenes():
    from multipose.skeleton import COCO17

    poses = make_scene(4, 256, 192, seed=3).poses
    mirror = poses.keypoints[:, COCO17.flip_index].copy()
    mirror[..., 0] = np.where(mirror[..., 2] > 0, 255 - mirror[..., 0], 0)
    targets = CODEC.encode(poses, (256, 192))
    mirrored = CODEC.encode(Poses(mirror), (256, 192))
    heatmaps, pafs = PafCodec.flip_back(mirrored.heatmaps, mirrored.pafs)
    np.testing.assert_allclose(heatmaps, targets.heatmaps, atol=1e-5)
    np.testing.assert_allclose(pafs, targets.pafs, atol=1e-5)
    assert np.abs(targets.pafs).max() > 0.9  # the scene has limbs
