"""Our importers against the authors' own models, numerically.

scripts/make_importer_references.py built each public model from its authors' repository,
filled it with seeded random weights (batch-norm statistics included), saved them in the
authors' checkpoint format and ran the model on a photo; tests/fixtures/importers/ holds the
photo and the last stage's outputs (every `step`-th cell). Here the same weights are made again
from the public key list and the seed (no code of the authors'), written in the same format,
loaded by our importer and run on the photo prepared as the model's spec describes it."""

import importlib.util
import sys
from collections import Counter, OrderedDict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from multipose.preprocess import normalise
from multipose.specs import MMPOSE_HEADS, get_spec

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "tests" / "fixtures" / "importers"


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_importer_references", ROOT / "scripts" / "make_importer_references.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()


def mmcv_checkpoint(spec: str):
    """mmcv 1.x's save_checkpoint: meta (plain values) and the network under `backbone.` and
    `keypoint_head.` (the modules that MMPOSE_HEADS names; the script checked them against
    mmpose's own model)."""

    def save(state):
        head = MMPOSE_HEADS[spec]
        return {
            "meta": {"mmcv_version": "1.7.2", "time": "Sat Dec  5 20:00:00 2026", "config": ""},
            "state_dict": OrderedDict(
                (("keypoint_head." if k.split(".")[0] in head else "backbone.") + k, v)
                for k, v in state.items()
            ),
        }

    return save


# Each public file as its authors' training code writes it.
PUBLIC_FORMAT = {
    "openpose-vgg19": lambda state: state,  # flat Caffe layer names
    "lightweight-openpose": lambda state: {
        "state_dict": state,
        "optimizer": {"state": {}, "param_groups": [{"lr": 4e-5, "params": [0, 1]}]},
        "scheduler": {"milestones": Counter({100: 1, 200: 1, 260: 1}), "gamma": 0.333},
        "iter": 370000,
        "current_epoch": 10,
    },
    "hourglass-ae": lambda state: {"state_dict": state, "optimizer": {}, "epoch": 100},
    "hrnet-w32": lambda state: state,
    "higherhrnet-w32": lambda state: state,
    "simplebaseline-r50": lambda state: state,
    "mmpose-hrnet-w32": mmcv_checkpoint("hrnet-w32"),
    "mmpose-simplebaseline-r50": mmcv_checkpoint("simplebaseline-r50"),
    "mmpose-higherhrnet-w32": mmcv_checkpoint("higherhrnet-w32"),
}


# What the authors' code does beyond the published network: pytorch-openpose keeps a ReLU after
# the last heatmap layer (its `no_relu_layers` names Mconv7_stage6_L1 twice, not ..._L2; a
# typo its author confirmed in Hzzone/pytorch-openpose#62). CMU's model, which ours follows,
# has none there; the two agree wherever the heatmaps are not negative.
AUTHORS_QUIRKS = {("openpose-vgg19", "heatmaps"): lambda maps: np.maximum(maps, 0)}


def photo() -> np.ndarray:
    return cv2.imread(str(REFERENCES / "photo.png"))[..., ::-1]


def run_ours(network: torch.nn.Module, name: str, step: int) -> dict[str, np.ndarray]:
    reference = SCRIPT.REFERENCES[name]
    spec = get_spec(reference.model)
    top, left, height, width = reference.crop
    seen = photo()[top : top + height, left : left + width]
    with torch.inference_mode():
        last = network(normalise(seen, spec.input)[None])[-1]
    return {k: v[..., ::step, ::step].numpy() for k, v in zip(spec.outputs, last, strict=True)}


def max_differences(name: str, network: torch.nn.Module) -> dict[str, float]:
    """Per output, the largest difference between ours and the authors' reference."""
    reference = np.load(REFERENCES / f"{name}.npz")
    ours = run_ours(network, name, int(reference["step"]))
    for key, value in ours.items():
        ours[key] = AUTHORS_QUIRKS.get((name, key), lambda maps: maps)(value)
    return {k: float(np.abs(ours[k] - reference[k]).max()) for k in ours}


def public_state(name: str) -> OrderedDict:
    reference = SCRIPT.REFERENCES[name]
    shapes = SCRIPT.public_shapes(reference.fixture)
    return OrderedDict(SCRIPT.random_state(shapes, reference.seed, reference.gain))


def test_the_fixtures_hold_what_the_script_made():
    for name, reference in SCRIPT.REFERENCES.items():
        saved = np.load(REFERENCES / f"{name}.npz")
        assert (int(saved["seed"]), float(saved["gain"])) == (reference.seed, reference.gain)
        assert tuple(saved["crop"]) == reference.crop
        assert set(get_spec(reference.model).outputs) <= set(saved.files)
    assert set(PUBLIC_FORMAT) == set(SCRIPT.REFERENCES)


@pytest.mark.parametrize("name", list(PUBLIC_FORMAT))
def test_importer_matches_the_authors_model(tmp_path, name):
    path = tmp_path / f"{name}.pth"
    torch.save(PUBLIC_FORMAT[name](public_state(name)), path)
    network = get_spec(SCRIPT.REFERENCES[name].model).load(path)
    path.unlink()  # up to 555 MB (the hourglass): not left in pytest's temporary folders
    differences = max_differences(name, network)
    assert max(differences.values()) < 1e-4, differences
