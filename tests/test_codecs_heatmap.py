import numpy as np
import pytest

from multipose.codecs.heatmap import HeatmapCodec
from multipose.errors import MultiposeError
from multipose.skeleton import COCO17


def random_keypoints(rng, people=6, k=17):
    kp = np.zeros((people, k, 3), np.float32)
    kp[..., 0] = rng.uniform(12, 180, (people, k))
    kp[..., 1] = rng.uniform(12, 244, (people, k))
    kp[..., 2] = 1
    return kp


@pytest.mark.parametrize(("refine", "tolerance"), [("dark", 0.02), ("quarter", 1.5), ("none", 2.9)])
def test_round_trip_accuracy_by_refinement(rng, refine, tolerance):
    codec = HeatmapCodec(refine=refine)
    kp = random_keypoints(rng)
    heatmaps, weights = codec.encode_keypoints(kp)
    assert heatmaps.shape == (6, 17, 64, 48) and (weights == 1).all()
    decoded = codec.decode_keypoints(heatmaps)
    error = np.linalg.norm(decoded[..., :2] - kp[..., :2], axis=-1)
    assert error.max() < tolerance
    assert (decoded[..., 2] > 0.8).all()


def test_dark_beats_quarter_beats_argmax(rng):
    kp = random_keypoints(rng, 20)
    errors = []
    for refine in ("dark", "quarter", "none"):
        codec = HeatmapCodec(refine=refine)
        decoded = codec.decode_keypoints(codec.encode_keypoints(kp)[0])
        errors.append(np.linalg.norm(decoded[..., :2] - kp[..., :2], axis=-1).mean())
    assert errors[0] < errors[1] < errors[2]


def test_batched_decode_equals_one_by_one(rng):
    codec = HeatmapCodec()
    heatmaps = codec.encode_keypoints(random_keypoints(rng, 5))[0] + rng.normal(
        0, 0.02, (5, 17, 64, 48)
    )
    batched = codec.decode_keypoints(heatmaps)
    single = np.concatenate([codec.decode_keypoints(heatmaps[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_weights_for_unlabelled_and_outside_keypoints():
    codec = HeatmapCodec()
    kp = np.zeros((1, 3, 3), np.float32)
    kp[0] = [[50, 60, 1], [50, 60, 0], [-40, 60, 1]]  # labelled, unlabelled, off the crop
    heatmaps, weights = codec.encode_keypoints(kp)
    assert weights.tolist() == [[1, 0, 0]]
    assert heatmaps[0, 0].max() == pytest.approx(1, abs=0.05)
    assert not heatmaps[0, 1].any() and heatmaps[0, 2].max() < 1e-6
    decoded = codec.decode_keypoints(heatmaps)
    assert decoded[0, 1].tolist() == [0, 0, 0]  # nothing found: not found


def test_flip_back_is_exact_with_centred_cells(rng):
    codec = HeatmapCodec()
    kp = random_keypoints(rng, 4)
    flipped = kp[:, COCO17.flip_index].copy()
    flipped[..., 0] = codec.input_size[0] - 1 - flipped[..., 0]  # the crop mirrored
    heatmaps = codec.encode_keypoints(kp)[0]
    back = codec.flip_back(codec.encode_keypoints(flipped)[0], COCO17.flip_index)
    np.testing.assert_allclose(back, heatmaps, atol=1e-5)
    averaged = codec.decode_keypoints((heatmaps + back) / 2)
    np.testing.assert_allclose(averaged[..., :2], kp[..., :2], atol=0.02)
    shifted = HeatmapCodec(flip_shift=1).flip_back(heatmaps, np.arange(17))
    np.testing.assert_array_equal(shifted[..., 1:], heatmaps[..., ::-1][..., :-1])
    assert not shifted[..., 0].any()


def test_bad_heatmaps_and_settings():
    codec = HeatmapCodec()
    with pytest.raises(MultiposeError, match="NaN"):
        codec.decode_keypoints(np.full((1, 17, 64, 48), np.nan))
    with pytest.raises(MultiposeError, match=r"\(people, keypoints, h, w\)"):
        codec.decode_keypoints(np.zeros((17, 64, 48)))
    with pytest.raises(MultiposeError, match="refine"):
        HeatmapCodec(refine="magic")
    with pytest.raises(MultiposeError, match="one stride"):
        HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 32))
    flat = codec.decode_keypoints(np.full((1, 2, 64, 48), 0.3))  # every pixel equal: no crash
    assert flat.shape == (1, 2, 3) and np.isfinite(flat).all()
