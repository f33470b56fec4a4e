import numpy as np
import pytest

from multipose.codecs.gaussian import image_to_map, map_to_image, render_gaussians
from multipose.codecs.peaks import Peaks, check_maps, find_peaks
from multipose.errors import MultiposeError


def naive_gaussians(points, present, shape, sigma, heights=None):
    n, k = present.shape
    out = np.zeros((k, *shape))
    for j in range(k):
        for i in range(n):
            if not present[i, j]:
                continue
            for row in range(shape[0]):
                for col in range(shape[1]):
                    d2 = (col - points[i, j, 0]) ** 2 + (row - points[i, j, 1]) ** 2
                    value = np.exp(-d2 / (2 * sigma**2)) * (1 if heights is None else heights[i, j])
                    out[j, row, col] = max(out[j, row, col], value)
    out[out < 0.01] = 0
    return out


def test_gaussians_match_a_per_pixel_reference(rng):
    points = rng.uniform(-2, 14, (3, 2, 2))
    present = np.array([[True, True], [True, False], [False, True]])
    heights = rng.uniform(0.5, 1, (3, 2))
    fast = render_gaussians(points.astype(np.float32), present, (10, 12), 1.5, heights)
    np.testing.assert_allclose(
        fast, naive_gaussians(points, present, (10, 12), 1.5, heights), atol=1e-5
    )


def test_map_coordinates_round_trip():
    xy = np.array([[0.0, 0.0], [3.5, 7.25], [367, 655]])
    np.testing.assert_allclose(map_to_image(image_to_map(xy, 8), 8), xy, atol=1e-4)
    # The centre of cell (0, 0) of a stride-8 map is image pixel (3.5, 3.5).
    np.testing.assert_allclose(image_to_map([[3.5, 3.5]], 8), [[0, 0]])


@pytest.mark.parametrize("x, y", [(5.0, 4.0), (5.3, 4.45), (6.49, 3.51), (2.2, 7.8)])
def test_subpixel_position_of_a_gaussian_is_exact(x, y):
    maps = render_gaussians(
        np.array([[[x, y]]], np.float32), np.ones((1, 1), bool), (10, 12), 0.9, cutoff=0
    )
    peaks = find_peaks(maps, 0.1)
    assert len(peaks) == 1
    assert abs(peaks.x[0] - x) < 1e-3 and abs(peaks.y[0] - y) < 1e-3


def test_plateaus_give_one_peak_first_in_raster_order():
    maps = np.zeros((1, 6, 6), np.float32)
    maps[0, 2:4, 2:4] = 0.8  # a 2x2 plateau
    maps[0, 0, 5] = 0.5  # a peak in a corner
    peaks = find_peaks(maps, 0.1)
    assert [(r, c) for r, c in zip(peaks.row, peaks.col, strict=True)] == [(2, 2), (0, 5)]
    assert peaks.x[1] == 5 and peaks.y[1] == 0  # no neighbour beyond the border: no offset


def test_threshold_order_and_cap():
    maps = np.zeros((2, 8, 8), np.float32)
    for (c, r, col), v in zip(
        [(0, 1, 1), (0, 5, 5), (0, 1, 6), (1, 4, 4)], [0.3, 0.9, 0.05, 0.6], strict=True
    ):
        maps[c, r, col] = v
    peaks = find_peaks(maps, 0.1)
    assert peaks.channel.tolist() == [0, 0, 1]
    assert peaks.score.tolist() == pytest.approx([0.9, 0.3, 0.6])
    assert peaks.bounds(2).tolist() == [0, 2, 3]
    capped = find_peaks(maps, 0.1, max_per_channel=1)
    assert capped.score.tolist() == pytest.approx([0.9, 0.6])


def test_concatenate_keeps_channel_then_score_order():
    a = Peaks(*(np.array(v) for v in ([0, 1], [1.0, 2.0], [1.0, 2.0], [0.5, 0.7], [1, 2], [1, 2])))
    b = Peaks(*(np.array(v) for v in ([0], [3.0], [3.0], [0.9], [3], [3])))
    joined = Peaks.concatenate([a, b])
    assert joined.channel.tolist() == [0, 0, 1] and joined.score.tolist() == [0.9, 0.5, 0.7]


def test_bad_maps_are_refused():
    with pytest.raises(MultiposeError, match="NaN or infinite"):
        check_maps(np.full((2, 3, 3), np.nan), "heatmaps")
    with pytest.raises(MultiposeError, match=r"must be \(channels, height, width\)"):
        check_maps(np.zeros((3, 3)), "heatmaps")
    with pytest.raises(MultiposeError, match="must have 38 channels, not 4"):
        check_maps(np.zeros((4, 3, 3)), "PAFs", 38)
    with pytest.raises(MultiposeError, match="empty"):
        check_maps(np.zeros((4, 0, 3)), "heatmaps")
