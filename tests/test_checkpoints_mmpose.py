"""mmpose's published checkpoints of hrnet-w32, simplebaseline-r50 and higherhrnet-w32, as
mmpose 0.x and mmcv 0.6/1.0 lay them out (worked out from their source; the files themselves
cannot be fetched here): {"meta": {...}, "state_dict": OrderedDict}, the network under
`backbone.` and its head under `keypoint_head.`, written by the torch of 2020 (before 1.6's zip
format)."""

import time
from collections import OrderedDict

import numpy as np
import pytest
import torch

from multipose.errors import MultiposeError
from multipose.specs import get_spec
from multipose.weights.checkpoints import read_state_dict

# Our top-level modules that mmpose's heads hold (TopDownSimpleHead,
# BottomUpHigherResolutionHead); everything else is the backbone's.
HEAD = {
    "hrnet-w32": {"final_layer"},
    "simplebaseline-r50": {"deconv_layers", "final_layer"},
    "higherhrnet-w32": {"final_layers", "deconv_layers"},
}
# A few of mmpose's key names spelt out (mmcv's build_norm_layer: bn1, bn2...; Sequential
# indices of the heads' layers).
SAMPLE_KEYS = {
    "hrnet-w32": (
        "backbone.bn2.num_batches_tracked",
        "backbone.layer1.0.downsample.1.running_var",
        "backbone.transition3.3.0.0.weight",
        "backbone.stage4.1.fuse_layers.3.0.2.1.running_mean",  # three strided convs down
        "backbone.stage4.2.fuse_layers.0.3.1.running_var",  # 1x1 conv, BN, upsample
        "keypoint_head.final_layer.bias",
    ),
    "simplebaseline-r50": (
        "backbone.layer4.0.downsample.0.weight",
        "backbone.layer3.5.bn3.weight",
        "keypoint_head.deconv_layers.0.weight",
        "keypoint_head.deconv_layers.7.running_var",
        "keypoint_head.final_layer.weight",
    ),
    "higherhrnet-w32": (
        "backbone.stage3.3.fuse_layers.2.0.1.0.weight",
        "keypoint_head.final_layers.0.weight",
        "keypoint_head.final_layers.1.bias",
        "keypoint_head.deconv_layers.0.0.0.weight",
        "keypoint_head.deconv_layers.0.0.1.running_mean",
        "keypoint_head.deconv_layers.0.4.0.bn2.weight",
    ),
}
INPUT = {"hrnet-w32": (64, 48), "simplebaseline-r50": (64, 48), "higherhrnet-w32": (64, 64)}


def mmpose_key(name, key):
    return ("keypoint_head." if key.split(".")[0] in HEAD[name] else "backbone.") + key


def mmcv_meta(config):
    """What mmpose's tools/train.py (checkpoint_config.meta), mmcv's EpochBasedRunner and
    mmcv.runner.save_checkpoint put in "meta" in mid-2020: strings and integers only."""
    return {
        "mmpose_version": "0.1.0",
        "config": config,
        "epoch": 210,
        "iter": 366_660,
        "mmcv_version": "1.0.0",
        "time": time.asctime(),
    }


@pytest.fixture(scope="module")
def networks():
    """Each network with random weights and random batch-norm statistics, in eval mode."""
    torch.manual_seed(0)
    built = {}
    for name in HEAD:
        network = get_spec(name).build()
        with torch.no_grad():
            for module in network.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.running_mean.normal_()
                    module.running_var.uniform_(0.5, 2.0)
                    module.weight.normal_()
                    module.num_batches_tracked.fill_(1234)
        built[name] = network.eval()
    return built


def save_mmpose(path, name, network, extra=None, optimizer=False):
    state = OrderedDict((mmpose_key(name, k), v) for k, v in network.state_dict().items())
    state.update(extra or {})
    checkpoint = {"meta": mmcv_meta(f"model = dict(type='{name}')\n"), "state_dict": state}
    if optimizer:  # what a checkpoint not yet stripped by publish_model.py holds as well
        checkpoint["optimizer"] = {
            "state": {0: {"step": 3, "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}},
            "param_groups": [
                {"lr": 5e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                 "amsgrad": False, "initial_lr": 5e-4, "params": [0]}
            ],
        }  # fmt: skip
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    return state


@pytest.mark.parametrize("name", list(HEAD))
def test_mmpose_checkpoint_gives_the_network_outputs(tmp_path, networks, name):
    network = networks[name]
    path = tmp_path / get_spec(name).weights_file
    state = save_mmpose(path, name, network, optimizer=name == "simplebaseline-r50")
    assert set(SAMPLE_KEYS[name]) <= set(state)
    loaded = get_spec(name).load(path)
    x = torch.randn(1, 3, *INPUT[name])
    with torch.inference_mode():
        expected, ours = network(x)[-1], loaded(x)[-1]
    assert all(torch.equal(a, b) for a, b in zip(expected, ours, strict=True))
    theirs = loaded.state_dict()
    assert all(torch.equal(theirs[k], v) for k, v in network.state_dict().items())


def test_a_key_the_mapping_does_not_know_is_named(tmp_path, networks):
    path = tmp_path / "hrnet.pth"
    save_mmpose(
        path,
        "hrnet-w32",
        networks["hrnet-w32"],
        extra={"keypoint_head.conv_layers.0.weight": torch.zeros(32, 32, 1, 1)},
    )
    with pytest.raises(MultiposeError) as info:
        get_spec("hrnet-w32").load(path)
    message = str(info.value)
    assert "weights do not fit HRNet: 1 unexpected: keypoint_head.conv_layers.0.weight" in message
    assert "missing" not in message and str(path) in message


def test_a_head_key_under_the_backbone_is_not_taken(tmp_path):
    state = {"backbone.final_layer.weight": torch.zeros(17, 32, 1, 1)}
    torch.save({"meta": mmcv_meta(""), "state_dict": state}, tmp_path / "moved.pth")
    with pytest.raises(MultiposeError, match="unexpected: backbone.final_layer.weight"):
        get_spec("hrnet-w32").load(tmp_path / "moved.pth")


def test_meta_beyond_plain_values_is_refused(tmp_path):
    # mmcv's 2020 meta holds none, but later OpenMMLab files (hook messages, dataset_meta) hold
    # numpy objects: refused as anything else that is not a plain value or a tensor.
    meta = {"hook_msgs": {"best_score": np.float64(0.746)}}
    path = tmp_path / "later.pth"
    torch.save({"meta": meta, "state_dict": {"backbone.conv1.weight": torch.zeros(1)}}, path)
    with pytest.raises(
        MultiposeError, match="refused: besides tensors it holds a pickled .*could run code$"
    ):
        read_state_dict(path)


@pytest.mark.parametrize("name", list(HEAD))
def test_spec_names_the_mmpose_file(name):
    spec = get_spec(name)
    assert spec.weights_url.startswith("https://download.openmmlab.com/mmpose/")
    assert spec.weights_url.endswith("/" + spec.weights_file)
    assert f"-{spec.weights_sha256}_2020" in spec.weights_file
